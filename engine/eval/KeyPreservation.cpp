#include "engine/eval/KeyPreservation.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme {

struct KeyPreservationProbe::Impl {
    std::vector<int> layers;
    std::vector<at::Tensor> keys;     // per layer [N, n_inner] float64
    std::vector<at::Tensor> before;   // per layer W k as [N, n_embd] float64
    std::vector<at::Tensor> weights;  // per layer the down projection then, float64
};

namespace {

// [N, n_inner] keys -> [N, n_embd] outputs of the down projection (no bias).
at::Tensor project(const Transformer& tf, const at::Tensor& w, const at::Tensor& keys) {
    return tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn ? at::mm(keys, w.t()) : at::mm(keys, w);
}

}  // namespace

KeyPreservationProbe::KeyPreservationProbe(Model& model, const std::vector<int>& layers,
                                           const std::vector<std::string>& texts, int64_t maxTokens)
    : d(std::make_unique<Impl>()) {
    const Transformer& tf = model.transformer();
    const ModelConfig& c = tf.config();
    for (int l : layers)
        if (l < 0 || l >= c.nLayer)
            fail(ErrorKind::Input, "preservation: layer " + std::to_string(l) + " is outside the model's " +
                                       std::to_string(c.nLayer) + " layers");
    d->layers = layers;
    if (layers.empty()) return;
    at::NoGradGuard noGrad;
    const int deepest = *std::max_element(layers.begin(), layers.end());
    std::vector<std::vector<at::Tensor>> parts(layers.size());
    int64_t tokens = 0;
    for (const std::string& text : texts) {
        if (tokens >= maxTokens) break;
        std::vector<int> ids = model.tokenizer().encodeForModel(text);
        const int64_t keep = std::min<int64_t>({int64_t(ids.size()), int64_t(c.nPositions), maxTokens - tokens});
        if (keep <= 0) continue;
        ForwardRequest req;
        req.ids = at::tensor(at::ArrayRef<int>(ids.data(), size_t(keep)), at::TensorOptions().dtype(at::kInt))
                      .to(at::kLong)
                      .unsqueeze(0);
        req.logits = LogitsMode::None;
        req.stopAfterLayer = deepest;
        std::vector<at::Tensor> read(layers.size());
        for (size_t i = 0; i < layers.size(); ++i)
            req.interventions.push_back(Intervention::read(Site::MlpKey, layers[i], &read[i]));
        tf.forward(req);
        for (size_t i = 0; i < layers.size(); ++i) parts[i].push_back(read[i][0].to(at::kDouble));
        tokens += keep;
    }
    if (tokens == 0) fail(ErrorKind::Input, "preservation: the corpus has no tokens");
    for (size_t i = 0; i < layers.size(); ++i) {
        d->keys.push_back(at::cat(parts[i], 0).contiguous());
        d->weights.push_back(tf.weight(TensorRole::MlpDownW, layers[i]).to(at::kDouble).clone());
        d->before.push_back(project(tf, d->weights.back(), d->keys.back()));
    }
}

KeyPreservationProbe::~KeyPreservationProbe() = default;

KeyPreservation KeyPreservationProbe::measure(const Model& model) const {
    const Transformer& tf = model.transformer();
    at::NoGradGuard noGrad;
    KeyPreservation out;
    out.layers = d->layers;
    for (size_t i = 0; i < d->layers.size(); ++i) {
        const at::Tensor delta = tf.weight(TensorRole::MlpDownW, d->layers[i]).to(at::kDouble) - d->weights[i];
        const at::Tensor change = project(tf, delta, d->keys[i]).norm(2, {1});
        const at::Tensor base = d->before[i].norm(2, {1}).clamp_min(1e-300);
        out.perLayer.push_back((change / base).mean().item<double>());
        out.tokens = d->keys[i].size(0);
    }
    for (double v : out.perLayer) out.mean += v / double(out.perLayer.size());
    return out;
}

}  // namespace kme
