// Suppress / amplify knowledge neurons (Dai et al., ACL 2022; Hunter-DDM/
// knowledge-neurons src/4_suppress_or_amplify.py ... the activation of each
// chosen neuron at the prompt is multiplied by 0 or 2): the neurons are
// attributed to the old answer on each request's prompt exactly as the KN
// edit does (requestNeurons, engine/edit/KnAttribution.h), and
// the payload is an adapter -- the weights stay as they are, and the scaling
// acts at every token of every prompt while the edit is enabled.
#include "engine/edit/NeuronScale.h"

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

NeuronScaleHook::NeuronScaleHook(int layer, const std::vector<double>& factors)
    : layer_(layer),
      factors_(at::tensor(at::ArrayRef<double>(factors), at::TensorOptions().dtype(at::kDouble))) {}

void NeuronScaleHook::attach(std::vector<Intervention>& first, std::vector<Intervention>&) const {
    const at::Tensor factors = factors_;
    first.push_back(Intervention::custom(Site::MlpKey, layer_, [factors](const at::Tensor& x, int64_t) {
        return x * factors.to(x.scalar_type());  // x * 1 == x exactly: unscaled neurons pass bit for bit
    }));
}

namespace {

std::string factorText(double f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", f);
    return buf;
}

EditResult computeNeuronScale(Model& model, const EditParams& params, const ProgressFn& progress, double factor) {
    const EditHparams& hp = params.hparams;
    const size_t n = params.requests.size();
    Meter meter(progress, double(n));
    EditResult result;
    std::map<std::pair<int, int>, double> chosen;  // (layer, index) -> best score over the requests
    for (size_t r = 0; r < n; ++r) {
        const EditRequest& req = params.requests[r];
        const NeuronResult nr = requestNeurons(model, req, hp, meter.sub(1), "scale");
        std::set<int> layers;
        for (const auto& nn : nr.neurons) {
            double& s = chosen[{nn.layer, nn.index}];
            s = std::max(s, nn.score);
            layers.insert(nn.layer);
        }
        std::string layersText;
        for (int l : layers) layersText += (layersText.empty() ? "" : ", ") + std::to_string(l);
        result.notes.push_back(requestNeuronsNote(r, nr) + layersText + "; their activations x " + factorText(factor) +
                               " at every token (the new target is not used)");
        EditRequestReport report;
        report.request = req;
        result.requests.push_back(std::move(report));
        meter.step(1);
    }
    AdapterPayload& a = result.adapter;
    a.type = "neurons";
    std::set<int> layers;
    for (const auto& [key, score] : chosen) {
        a.neurons.push_back(NeuronScale{key.first, key.second, factor});
        layers.insert(key.first);
    }
    a.layer = *layers.begin();  // chosen is not empty: every request found a neuron
    result.layers.assign(layers.begin(), layers.end());
    result.contextTemplates = {};
    return result;
}

}  // namespace

EditResult computeKnSuppress(Model& model, const EditParams& params, const ProgressFn& progress) {
    return computeNeuronScale(model, params, progress, 0.0);
}

EditResult computeKnAmplify(Model& model, const EditParams& params, const ProgressFn& progress) {
    return computeNeuronScale(model, params, progress, 2.0);
}

}  // namespace kme::edit
