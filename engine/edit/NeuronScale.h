#pragma once
// Engine-internal (includes ATen): Dai et al.'s suppress / amplify of
// knowledge neurons as an adapter beside the weights (ACL 2022, section 4:
// the activation of the neurons attributed to a fact is set to 0 or doubled,
// and the probability of the correct answer falls or rises). Only
// engine/edit .cpp files and engine tests include it.
#include <ATen/ATen.h>

#include <vector>

#include "engine/model/Transformer.h"

namespace kme::edit {

// The neuron factors of one layer as a resident hook: at every token of
// every call the input of the layer's down projection (Site::MlpKey) is
// multiplied elementwise by the factors (1 where no neuron is scaled, which
// leaves those activations bit for bit). It runs before the caller's
// interventions at the same site: a trace's restore or an attribution's
// scaling acts on the scaled activation.
class NeuronScaleHook : public ResidentHook {
public:
    NeuronScaleHook(int layer, const std::vector<double>& factors);
    void attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const override;
    int layer() const { return layer_; }

private:
    int layer_;
    at::Tensor factors_;  // [n_inner] float64
};

}  // namespace kme::edit
