// The knowledge-neuron edit (Dai et al., ACL 2022; Hunter-DDM/knowledge-neurons
// src/6_edit_knowledge_sampled.py), one request after another:
//  1. attribute the old answer (target_true's first token, else the model's
//     top-1) on the edit prompt with integrated gradients
//     (engine/trace/NeuronAttribution) and take the neurons with score >
//     adaptive_threshold x the largest score over all layers (EasyEdit's
//     setting for GPT models: the edit prompt alone, no refinement);
//  2. each such neuron's value vector v (its row of GPT-2's Conv1D down
//     projection [n_inner, n_embd], its column of an nn.Linear one
//     [n_embd, n_inner]) becomes
//       v - lambda1 |v| / |e_old| e_old + lambda2 |v| / |e_new| e_new,
//     e_old = the word embedding of the model's answer before the edit
//     (KN-D: the argmax prediction), e_new = that of target_new's first
//     token, |v| measured before the change (KN-D computes all lambdas first).
// The delta of a layer is low-rank with one-hot factors on the n_inner side:
// every other weight is unchanged, bit for bit.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/KnAttribution.h"
#include "engine/model/Model.h"
#include "engine/trace/NeuronAttribution.h"

namespace kme::edit {

NeuronResult requestNeurons(Model& model, const EditRequest& req, const EditHparams& hp, const ProgressFn& progress,
                            const std::string& use) {
    NeuronParams np;
    np.prompt = req.filledPrompt();
    np.answer = req.targetTrue;  // "" = the model's top-1
    np.steps = hp.knSteps;
    np.threshold = hp.knThreshold;
    NeuronResult nr = knowledgeNeurons(model, np, progress);
    if (nr.neurons.empty())
        fail(ErrorKind::Input, "KN found no neuron with a positive attribution to " + quoteForMessage(nr.answerToken) +
                                   " on " + quoteForMessage(np.prompt) + ": nothing to " + use);
    return nr;
}

std::string requestNeuronsNote(size_t r, const NeuronResult& nr) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "p(answer) %.4f, %d steps, threshold %.3g", nr.prompts[0].prob, nr.steps,
                  nr.threshold);
    return "request " + std::to_string(r + 1) + ": " + std::to_string(nr.neurons.size()) + " neurons attributed to " +
           quoteForMessage(nr.answerToken) + " (" + buf + "), layers ";
}

EditResult computeKn(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    const Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    const size_t n = params.requests.size();
    Meter meter(progress, double(n));
    EditResult result;
    TemporaryEdits temporary(model);  // later requests see the earlier ones; the model is unchanged on return
    std::set<int> touched;
    for (size_t r = 0; r < n; ++r) {
        const EditRequest& req = params.requests[r];
        const NeuronResult nr = requestNeurons(model, req, hp, meter.sub(1), "edit");
        const std::vector<int> ids = model.encodePrompt(req.filledPrompt());
        const int oldId = model.topNext(ids, 1).front().id;  // KN-D: the model's prediction
        const std::vector<int> target = tok.encode(withTargetSpace(req.targetNew));
        const int newId = target.front();  // validateRequest: not empty

        at::NoGradGuard noGrad;
        const at::Tensor wte = tf.weight(TensorRole::TokenEmbd).to(at::kDouble);
        const at::Tensor eOld = wte[oldId], eNew = wte[newId];
        const double eOldNorm = eOld.norm().item<double>(), eNewNorm = eNew.norm().item<double>();
        const bool outIn = tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn;
        std::map<int, std::vector<int>> byLayer;
        for (const auto& nn : nr.neurons) byLayer[nn.layer].push_back(nn.index);
        WeightDelta delta;
        for (const auto& [layer, indices] : byLayer) {
            const at::Tensor W = tf.weight(TensorRole::MlpDownW, layer).to(at::kDouble);
            const int64_t K = int64_t(indices.size()), I = tf.config().nInner, D = tf.config().nEmbd;
            at::Tensor left = at::zeros({I, K}, at::TensorOptions().dtype(at::kDouble));   // one-hot columns
            at::Tensor right = at::zeros({D, K}, at::TensorOptions().dtype(at::kDouble));  // the changes of v
            for (int64_t k = 0; k < K; ++k) {
                const int64_t i = indices[size_t(k)];
                const at::Tensor v = outIn ? W.select(1, i) : W.select(0, i);
                const double vNorm = v.norm().item<double>();
                right.select(1, k).copy_(-(hp.knLambda1 * vNorm / eOldNorm) * eOld +
                                         (hp.knLambda2 * vNorm / eNewNorm) * eNew);
                left[i][k] = 1.0;
            }
            delta.parts.push_back(downProjectionDelta(tf, layer, left, right));
            touched.insert(layer);
        }
        requireFiniteDelta(delta, "KN", "an answer whose word embedding is zero");
        temporary.apply(delta);
        for (auto& part : delta.parts) result.delta.parts.push_back(std::move(part));

        std::string layersText;
        for (const auto& [layer, indices] : byLayer)
            layersText += (layersText.empty() ? "" : ", ") + std::to_string(layer) + " (" +
                          std::to_string(indices.size()) + ")";
        result.notes.push_back(requestNeuronsNote(r, nr) + layersText + "; value vectors moved from " +
                               quoteForMessage(model.tokenText(oldId)) + " to " +
                               quoteForMessage(model.tokenText(newId)));
        EditRequestReport report;
        report.request = req;
        result.requests.push_back(std::move(report));
        meter.step(1);
    }
    result.layers.assign(touched.begin(), touched.end());
    result.contextTemplates = {};
    return result;
}

}  // namespace kme::edit
