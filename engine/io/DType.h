#pragma once
// Element types of safetensors files, with the names the format uses
// ("F32", "BF16", ...) and bit-exact conversions between 16-bit floats and
// float (the engine computes in F32; checkpoints may store F16 / BF16).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace kme {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// Bytes per element.
size_t dtypeSize(DType t);
// The safetensors name: "F64", "F32", "F16", "BF16", "I64", ..., "BOOL".
const char* dtypeName(DType t);
// Inverse of dtypeName; nullopt for names this engine does not support
// (e.g. "F8_E4M3", "U16"), so the caller can name the tensor in its error.
std::optional<DType> parseDType(const std::string& name);

// IEEE 754 binary16 bits -> float. Exact (every half is a float), including
// subnormals, infinities and NaN (payload kept).
float halfToFloat(uint16_t bits);
// bfloat16 bits -> float: the upper 16 bits of a float, so exact.
float bf16ToFloat(uint16_t bits);
// float -> binary16 bits, round to nearest, ties to even; overflow gives
// +-inf, values below the smallest subnormal round to +-0, NaN stays NaN.
uint16_t floatToHalf(float value);
// float -> bfloat16 bits, round to nearest, ties to even; NaN stays NaN.
uint16_t floatToBf16(float value);

// Converts `count` little-endian elements of type `srcType` at `src` (which
// need not be aligned) to float: exact for F16 / BF16 / F32, rounded for F64
// and wide integers, BOOL gives 0 / 1. Assumes a little-endian host, as the
// safetensors format itself does.
void toFloat(DType srcType, const void* src, float* dst, size_t count);

}  // namespace kme
