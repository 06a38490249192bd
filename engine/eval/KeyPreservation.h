#pragma once
// Preservation of unrelated knowledge at the edited layers (AlphaEdit, Fang
// et al. ICLR 2025): keys k of ordinary text (the statistics corpus) stand
// for what a layer already knows; an edit that preserves it leaves W k
// unchanged. The probe reads the keys and the layers' down projections
// before editing; measure() reports the mean over those keys of
// ||(W_now - W_then) k|| / ||W_then k|| per layer. Torch-free.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kme {

class Model;

struct KeyPreservation {
    std::vector<int> layers;
    int64_t tokens = 0;               // keys per layer
    std::vector<double> perLayer;     // mean relative change of the layer's output at the keys
    double mean = 0;                  // over the layers
};

class KeyPreservationProbe {
public:
    // Reads up to `maxTokens` keys at `layers` (down-projection inputs of the
    // texts' tokens, in corpus order, each text cut to the model's context)
    // and the layers' down projections, from the model as it is now. Throws
    // ErrorKind::Input for a bad layer or a corpus without tokens.
    KeyPreservationProbe(Model& model, const std::vector<int>& layers, const std::vector<std::string>& texts,
                         int64_t maxTokens);
    ~KeyPreservationProbe();
    KeyPreservationProbe(const KeyPreservationProbe&) = delete;
    KeyPreservationProbe& operator=(const KeyPreservationProbe&) = delete;

    // Against the model's current down projections.
    KeyPreservation measure(const Model& model) const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

}  // namespace kme
