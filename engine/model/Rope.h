#pragma once
// Engine-internal (ATen): rotary position embeddings of the RoPE families
// (modeling_rope_utils.py, modeling_llama.py, modeling_gptj.py).
#include <ATen/ATen.h>

#include "engine/model/Config.h"

namespace kme {

// Inverse frequencies [rotaryDim / 2] in float64 after the config's scaling,
// for a call whose sequence (cached positions included) is `length` long
// (dynamic NTK scaling depends on it: HF recomputes when the sequence
// outgrows max_position_embeddings).
at::Tensor ropeInverseFrequencies(const ModelConfig& config, int64_t length);

// cos / sin for absolute positions offset .. offset+T-1, [T, rotaryDim] in
// `dtype`, laid out for the config's style (halves repeated for rotate-half,
// each frequency twice in a row for interleaved).
struct RopeTables {
    at::Tensor cos, sin;
};
RopeTables ropeTables(const ModelConfig& config, int64_t offset, int64_t T, at::ScalarType dtype);

// Rotates the first rotaryDim dims of every head of x [B, heads, T, head_dim].
at::Tensor applyRope(const at::Tensor& x, const RopeTables& tables, RopeStyle style);

}  // namespace kme
