#pragma once
// How F16/BF16 weights are used (Transformer.h): they stay in their storage
// dtype and each matrix product converts its weight, in the forward pass and
// again in the backward pass, instead of autograd keeping a float32 copy.
#include <cstdint>

namespace kme {
// Backward passes through a product with a half weight so far (every model
// of the process): tests check that the path ran.
int64_t halfWeightBackwardCount();
}  // namespace kme
