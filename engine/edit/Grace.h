#pragma once
// Engine-internal (includes ATen): GRACE's codebook acting in the forward
// pass (Hartvigsen et al., NeurIPS 2023; Thartvigsen/GRACE grace.py's
// GRACEAdapter). Only engine/edit .cpp files and engine tests include it.
#include <ATen/ATen.h>

#include <memory>

#include "engine/edit/Payload.h"
#include "engine/model/Transformer.h"

namespace kme::edit {

// The codebook of one layer as a resident hook: at every token of every
// call, the input of the layer's down projection (Site::MlpKey) is the query;
// when its Euclidean distance (float64) to the nearest key is within that
// key's radius, the layer's MLP output (Site::MlpOut) at that token is
// replaced by the key's value. Tokens outside every radius pass through
// untouched, bit for bit. (The original checks one token per call, the
// prompt's last; checking every token gives the same answer there and lets
// teacher-forced scoring and cached generation work.)
class GraceHook : public ResidentHook {
public:
    explicit GraceHook(GraceCodebook book);
    void attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const override;
    const GraceCodebook& codebook() const { return book_; }
    // Nearest entry of a query [width] float64: (index, distance); (-1, inf) when empty.
    std::pair<int64_t, double> nearest(const at::Tensor& query) const;

private:
    GraceCodebook book_;
    at::Tensor keys_;    // [n, n_inner] float64
    at::Tensor values_;  // [n, n_embd] float64
    at::Tensor eps_;     // [n] float64
};

// The codebook currently acting at `layer` of the model (empty when none).
GraceCodebook liveGraceCodebook(const Transformer& tf, int layer);

}  // namespace kme::edit
