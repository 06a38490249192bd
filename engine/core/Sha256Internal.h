#pragma once
// Between Sha256.cpp and Sha256Ni.cpp: the accelerated compression and its
// run-time check. Not for other callers.
#include <cstddef>
#include <cstdint>

namespace kme::sha256detail {

// The CPU has the SHA extensions (and SSSE3 / SSE4.1, which the code also uses).
bool cpuHasShaNi();
// `blocks` 64-byte blocks of `data` into `state` (a..h) with the SHA
// extensions; `k` the 64 round constants. Only where cpuHasShaNi().
void compressShaNi(uint32_t state[8], const uint8_t* data, size_t blocks, const uint32_t k[64]);

}  // namespace kme::sha256detail
