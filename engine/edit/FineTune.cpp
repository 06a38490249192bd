// FT-L: constrained fine-tuning of the down projection (weight and bias) of
// the chosen layers, ROME's baseline (kmeng01/rome baselines/ft/ft_main.py
// with hparams/FT/*_constr.json): Adam, after each step every weight is
// clamped to [original - eps, original + eps].
//
// One difference: the loss is the teacher-forced mean NLL of all target_new
// tokens (ft_main.py scores every target token at the prompt's last
// position, which equals this only for one-token targets).
#include <map>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
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

EditResult computeFineTune(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    Meter meter(progress, hp.ftSteps);
    EditResult result;
    result.layers = hp.layers;

    // Batch: prompt + all target tokens but the last; the target positions.
    std::vector<std::vector<int64_t>> seqs;
    std::vector<int64_t> targetRows, targetIds, owner;
    std::vector<double> tokensOf;
    for (const EditRequest& r : params.requests) {
        const std::vector<int> p = model.encodePrompt(r.filledPrompt()), t = tok.encodeContinuation(r.targetNew);
        std::vector<int64_t> seq(p.begin(), p.end());
        seq.insert(seq.end(), t.begin(), t.end() - 1);
        seqs.push_back(seq);
        tokensOf.push_back(double(t.size()));
        for (size_t j = 0; j < t.size(); ++j) {
            targetRows.push_back(int64_t(p.size() - 1 + j));  // row offset added below
            targetIds.push_back(t[j]);
            owner.push_back(int64_t(seqs.size() - 1));
        }
    }
    const at::Tensor ids = padBatch(seqs);
    const int64_t B = ids.size(0), T = ids.size(1), D = tf.config().nEmbd;
    for (size_t i = 0; i < targetRows.size(); ++i) targetRows[i] += owner[i] * T;
    const auto longOpts = at::TensorOptions().dtype(at::kLong);
    const at::Tensor rowsT = at::tensor(at::ArrayRef<int64_t>(targetRows), longOpts);
    const at::Tensor idsT = at::tensor(at::ArrayRef<int64_t>(targetIds), longOpts).unsqueeze(1);
    const at::Tensor ownerT = at::tensor(at::ArrayRef<int64_t>(owner), longOpts);
    const at::Tensor countT = at::tensor(at::ArrayRef<double>(tokensOf), at::TensorOptions().dtype(at::kDouble));

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
        at::Tensor p = original.detach().clone();
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
        const at::Tensor hidden = tf.forward(req).hidden.reshape({B * T, D});
        const at::Tensor logp = at::log_softmax(finalLogits(tf, hidden.index_select(0, rowsT)), -1);
        const at::Tensor picked = logp.gather(1, idsT).squeeze(1);
        // Mean NLL per request over its target tokens, then over requests.
        const at::Tensor perRequest = at::zeros({B}, picked.options()).index_add(0, ownerT, -picked) /
                                      countT.to(picked.scalar_type());
        const at::Tensor loss = perRequest.mean();
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
    requireFiniteDelta(result.delta, "FT-L", "lr");
    for (size_t i = 0; i < params.requests.size(); ++i) {
        EditRequestReport r = report;
        r.request = params.requests[i];
        result.requests.push_back(std::move(r));
    }
    return result;
}

}  // namespace kme::edit
