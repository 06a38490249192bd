// FT-L and FT-M: constrained fine-tuning of the down projection (weight and
// bias) of the chosen layers (kmeng01/rome baselines/ft/ft_main.py with
// hparams/FT/*_constr.json; zjunlp/EasyEdit easyeditor/models/ft/ft_main.py):
// Adam, after each step every weight is clamped to [original - eps,
// original + eps]. The two differ in the loss only (FineTuneLoss.h): FT-L
// scores every target token at the prompt's last position (EasyEdit's
// "prompt_last", ROME's baseline), FT-M is the teacher-forced NLL of the
// target tokens on prompt+target with the prompt masked ("target_new").
// For a one-token target the two are the same loss.
#include <map>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/FineTuneLoss.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::edit {

namespace {

// Puts the original tensors back when the fine-tuning ends, however it ends.
struct Restore {
    Transformer& tf;
    std::map<std::string, at::Tensor> originals;
    ~Restore() {
        for (const auto& [name, t] : originals) tf.setTensor(name, t);
    }
};

}  // namespace

at::Tensor promptLastLoss(const at::Tensor& lastLogits, const std::vector<std::vector<int64_t>>& targets) {
    const at::Tensor logp = at::log_softmax(lastLogits, -1);
    std::vector<at::Tensor> perRequest;
    for (size_t b = 0; b < targets.size(); ++b) {
        const at::Tensor ids = at::tensor(at::ArrayRef<int64_t>(targets[b]), at::TensorOptions().dtype(at::kLong));
        perRequest.push_back(-logp[int64_t(b)].index_select(0, ids).mean());
    }
    return at::stack(perRequest).mean();
}

at::Tensor targetNewLoss(const at::Tensor& logits, const at::Tensor& ids, const std::vector<int64_t>& promptLen,
                         const std::vector<int64_t>& totalLen) {
    const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
    // Shifted: position t predicts ids[:, t + 1] (EasyEdit's shift_logits / shift_labels).
    const at::Tensor shiftLogits = logits.narrow(1, 0, T - 1).reshape({B * (T - 1), V});
    const at::Tensor shiftLabels = ids.narrow(1, 1, T - 1).reshape({B * (T - 1)});
    const at::Tensor nll =
        -at::log_softmax(shiftLogits, -1).gather(1, shiftLabels.unsqueeze(1)).squeeze(1).view({B, T - 1});
    // label_mask[:, 1:]: shifted position t - 1 is on for P_b <= t < L_b.
    at::Tensor mask = at::zeros({B, T - 1}, nll.options());
    for (int64_t b = 0; b < B; ++b) mask[b].narrow(0, promptLen[size_t(b)] - 1, totalLen[size_t(b)] - promptLen[size_t(b)]).fill_(1.0);
    return ((nll * mask).sum(1) / mask.sum(1)).mean();
}

EditResult computeFineTune(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    Meter meter(progress, hp.ftSteps);
    EditResult result;
    result.layers = hp.layers;

    const FineTuneObjective objective =
        params.method == EditMethod::FtM ? FineTuneObjective::TargetNew : FineTuneObjective::PromptLast;
    const char* label = params.method == EditMethod::FtM ? "FT-M" : "FT-L";

    // Batch: prompt_last runs the prompts, target_new prompt + target.
    std::vector<std::vector<int64_t>> seqs, targets;
    std::vector<int64_t> promptLen, totalLen;
    for (const EditRequest& r : params.requests) {
        const std::vector<int> p = model.encodePrompt(r.filledPrompt()), t = tok.encodeContinuation(r.targetNew);
        std::vector<int64_t> seq(p.begin(), p.end());
        if (objective == FineTuneObjective::TargetNew) seq.insert(seq.end(), t.begin(), t.end());
        seqs.push_back(seq);
        targets.emplace_back(t.begin(), t.end());
        promptLen.push_back(int64_t(p.size()));
        totalLen.push_back(int64_t(p.size() + t.size()));
    }
    const at::Tensor ids = padBatch(seqs);
    const int64_t B = ids.size(0), T = ids.size(1), D = tf.config().nEmbd;
    std::vector<int64_t> lastRows;
    for (int64_t b = 0; b < B; ++b) lastRows.push_back(b * T + promptLen[size_t(b)] - 1);
    const at::Tensor lastRowsT = at::tensor(at::ArrayRef<int64_t>(lastRows), at::TensorOptions().dtype(at::kLong));

    // Trainable copies of the down projections; the originals come back at the end.
    Restore restore{tf, {}};
    std::vector<std::string> names;
    for (int layer : hp.layers)
        for (TensorRole role : {TensorRole::MlpDownW, TensorRole::MlpDownB}) {
            const std::string name = tensorName(tf.config().arch, role, layer);
            if (!tf.tensors().count(name)) continue;
            names.push_back(name);
        }
    std::map<std::string, at::Tensor> trained;
    std::map<std::string, Adam> optimizers;
    for (const auto& name : names) {
        const at::Tensor original = tf.tensor(name);
        restore.originals.emplace(name, original);
        // Trained in the compute dtype (a half checkpoint's weight too); the
        // delta is taken in float64 and rounded into the storage dtype when applied.
        at::Tensor p = original.detach().to(tf.dtype()).clone();
        p.set_requires_grad(true);
        trained.emplace(name, p);
        optimizers.emplace(name, Adam(hp.ftLr, hp.ftWeightDecay));
        tf.setTensor(name, p);
    }

    EditRequestReport report;
    for (int it = 0; it < hp.ftSteps; ++it) {
        ForwardRequest req;
        req.ids = ids;
        req.logits = LogitsMode::None;
        const at::Tensor hidden = tf.forward(req).hidden;
        const at::Tensor loss =
            objective == FineTuneObjective::TargetNew
                ? targetNewLoss(finalLogits(tf, hidden), ids, promptLen, totalLen)
                : promptLastLoss(finalLogits(tf, hidden.reshape({B * T, D}).index_select(0, lastRowsT)), targets);
        const double value = loss.item<double>();
        report.losses.push_back(value);
        if (it == 0) report.nllInit = value;
        report.nllFinal = value;
        if (value >= hp.ftStopLoss) {
            loss.backward();
            for (auto& [name, p] : trained) {
                optimizers.at(name).step(p, p.grad());
                p.mutable_grad() = at::Tensor();
            }
        }
        {
            at::NoGradGuard noGrad;
            const double eps = hp.ftNormConstraint;
            for (auto& [name, p] : trained) {
                const at::Tensor& w0 = restore.originals.at(name);
                p.copy_(at::max(at::min(p, w0 + eps), w0 - eps));
            }
        }
        meter.step();
        if (value < hp.ftStopLoss) break;
    }

    // Dense deltas in float64, inside the L-infinity ball exactly.
    at::NoGradGuard noGrad;
    for (const auto& name : names) {
        const at::Tensor& w0 = restore.originals.at(name);
        const at::Tensor d = (trained.at(name).detach().to(at::kDouble) - w0.to(at::kDouble))
                                 .clamp(-hp.ftNormConstraint, hp.ftNormConstraint);
        result.delta.parts.push_back(TensorDelta::denseDelta(name, w0.sizes().vec(), toMatrix(d)));
    }
    requireFiniteDelta(result.delta, label, "lr");
    for (size_t i = 0; i < params.requests.size(); ++i) {
        EditRequestReport r = report;
        r.request = params.requests[i];
        result.requests.push_back(std::move(r));
    }
    return result;
}

}  // namespace kme::edit
