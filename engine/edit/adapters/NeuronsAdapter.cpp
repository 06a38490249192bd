// The "neurons" adapter (Dai et al., ACL 2022, suppress / amplify): knowledge
// neurons whose activations are multiplied by a factor, in any layers. The
// blob holds one row (layer, index, factor) per neuron, F64 (exact for every
// index < 2^53); its "layer" is the lowest of its neurons' layers. The
// factors of all enabled edits multiply into one NeuronScaleHook a layer
// (engine/edit/NeuronScale.cpp).
#include <algorithm>
#include <cmath>
#include <set>

#include "engine/core/Error.h"
#include "engine/edit/NeuronScale.h"
#include "engine/edit/adapters/Adapters.h"
#include "engine/model/Config.h"
#include "engine/model/Transformer.h"

namespace kme {

std::map<int, std::vector<double>> neuronFactors(const std::vector<const AdapterPayload*>& enabled, int64_t nInner) {
    std::map<int, std::vector<double>> out;
    for (const AdapterPayload* p : enabled) {
        if (p->type != "neurons") continue;
        for (const auto& n : p->neurons) {
            if (n.index < 0 || n.index >= nInner)
                fail(ErrorKind::Input, "neuron " + std::to_string(n.index) + " is outside the layer's " +
                                           std::to_string(nInner) + " neurons");
            auto& f = out[n.layer];
            if (f.empty()) f.assign(size_t(nInner), 1.0);
            f[size_t(n.index)] *= n.factor;
        }
    }
    return out;
}

namespace edit {

namespace {

using json = nlohmann::json;

std::string toBytes(const AdapterPayload& a) {
    DeltaMatrix m;
    m.rows = int64_t(a.neurons.size());
    m.cols = 3;
    for (const auto& n : a.neurons) m.data.insert(m.data.end(), {double(n.layer), double(n.index), n.factor});
    return blob::pack("kme_adapter", json{{"type", "neurons"}, {"layer", a.layer}}, {{"neurons", m}});
}

void fromBytes(const blob::Unpacked& u, AdapterPayload& p) {
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob (neurons): " + why); };
    const auto it = u.tensors.find("neurons");
    if (it == u.tensors.end()) bad("tensor 'neurons' is missing");
    const DeltaMatrix& m = it->second;
    if (m.rows < 1 || m.cols != 3) bad("'neurons' is not a list of (layer, index, factor) rows");
    std::set<std::pair<int, int64_t>> seen;
    int lowest = 1 << 30;
    for (int64_t r = 0; r < m.rows; ++r) {
        const double l = m.at(r, 0), i = m.at(r, 1), f = m.at(r, 2);
        if (!(l >= 0 && l <= 1024 && l == std::floor(l))) bad("a layer is not an integer in [0, 1024]");
        if (!(i >= 0 && i < double(int64_t(1) << 40) && i == std::floor(i))) bad("a neuron index is not a non-negative integer");
        if (!std::isfinite(f) || std::fabs(f) > 1e6) bad("a factor is not finite or beyond 1e6 in size");
        NeuronScale n{int(l), int64_t(i), f};
        if (!seen.insert({n.layer, n.index}).second) bad("neuron " + std::to_string(n.index) + " of layer " +
                                                         std::to_string(n.layer) + " appears twice");
        lowest = std::min(lowest, n.layer);
        p.neurons.push_back(n);
    }
    if (lowest != p.layer) bad("'layer' is not the lowest layer of its neurons");
}

std::string describe(const AdapterPayload& a) {
    std::map<int, int> perLayer;
    std::set<double> factors;
    for (const auto& n : a.neurons) {
        ++perLayer[n.layer];
        factors.insert(n.factor);
    }
    std::string s = std::to_string(a.neurons.size()) + " knowledge " + (a.neurons.size() == 1 ? "neuron" : "neurons");
    if (factors.size() == 1) {
        const double f = *factors.begin();
        s += " x " + blob::number(f) + (f == 0 ? " (suppressed)" : f > 1 ? " (amplified)" : "");
    } else {
        s += " scaled";
    }
    std::string layers;
    for (const auto& [l, k] : perLayer)
        layers += (layers.empty() ? "" : ", ") + std::to_string(l) + " (" + std::to_string(k) + ")";
    return s + ": layers " + layers;
}

// Neurons may sit in any layer: each is checked, not the payload's layer.
void check(const AdapterPayload& a, const ModelConfig& c) {
    for (const auto& n : a.neurons)
        if (n.layer < 0 || n.layer >= c.nLayer || n.index < 0 || n.index >= c.nInner)
            fail(ErrorKind::Input, "the adapter scales neuron " + std::to_string(n.index) + " of layer " +
                                       std::to_string(n.layer) + "; this model has " + std::to_string(c.nLayer) +
                                       " layers of " + std::to_string(c.nInner) + " neurons");
}

void addHooks(const std::vector<const AdapterPayload*>& enabled, const ModelConfig& c, ResidentState& st) {
    for (const auto& [layer, factors] : neuronFactors(enabled, c.nInner))
        st.hooks.push_back(std::make_shared<NeuronScaleHook>(layer, factors));
}

}  // namespace

const AdapterKind& neuronsAdapter() {
    static const AdapterKind row = {"neurons", toBytes, fromBytes, describe, check, addHooks};
    return row;
}

}  // namespace edit

}  // namespace kme
