#include "engine/io/DType.h"

#include <cstring>

namespace kme {
namespace {

struct DTypeInfo {
    DType type;
    const char* name;
    size_t size;  // bytes per element
};

constexpr DTypeInfo kTypes[] = {
    {DType::F64, "F64", 8},  {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},  {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1}};

const DTypeInfo& info(DType t) {
    for (const auto& i : kTypes)
        if (i.type == t) return i;
    return kTypes[0];  // unreachable: every enumerator has a row
}

uint32_t floatBits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float bitsFloat(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

}  // namespace

size_t dtypeSize(DType t) { return info(t).size; }
const char* dtypeName(DType t) { return info(t).name; }

std::optional<DType> parseDType(const std::string& name) {
    for (const auto& i : kTypes)
        if (name == i.name) return i.type;
    return std::nullopt;
}

float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    if (exponent == 0x1f)  // inf / NaN: all-ones exponent, mantissa kept
        return bitsFloat(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        if (mantissa == 0) return bitsFloat(sign);  // +-0
        // Subnormal: value = mantissa * 2^-24; normalise it for the float.
        int e = -1;
        do {
            mantissa <<= 1;
            ++e;
        } while ((mantissa & 0x400) == 0);
        const uint32_t floatExp = uint32_t(127 - 15 - e);
        return bitsFloat(sign | (floatExp << 23) | ((mantissa & 0x3ff) << 13));
    }
    return bitsFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

float bf16ToFloat(uint16_t bits) { return bitsFloat(uint32_t(bits) << 16); }

uint16_t floatToHalf(float value) {
    const uint32_t f = floatBits(value);
    const uint16_t sign = uint16_t((f >> 16) & 0x8000);
    const uint32_t absBits = f & 0x7fffffffu;
    if (absBits >= 0x7f800000u) {  // inf or NaN
        if (absBits == 0x7f800000u) return sign | 0x7c00;
        // Keep the top payload bits and force quiet so NaN never becomes inf.
        return uint16_t(sign | 0x7e00 | ((absBits >> 13) & 0x3ff));
    }
    const int exponent = int(absBits >> 23) - 127 + 15;  // re-biased for half
    if (exponent >= 0x1f) return sign | 0x7c00;         // too big even before rounding
    if (exponent <= 0) {
        // Result is subnormal (or zero): shift the full 24-bit significand
        // so the kept bits are units of 2^-24, then round to nearest even.
        if (exponent < -10) return sign;  // below half the smallest subnormal
        const uint32_t significand = (absBits & 0x7fffff) | 0x800000;
        const int shift = 14 - exponent;  // 14..24
        uint32_t kept = significand >> shift;
        const uint32_t rest = significand & ((1u << shift) - 1);
        const uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (kept & 1))) ++kept;  // may carry into the normal range: correct
        return uint16_t(sign | kept);
    }
    // Normal: drop 13 mantissa bits with round to nearest even; a carry out
    // of the mantissa correctly bumps the exponent (up to inf).
    uint32_t h = (uint32_t(exponent) << 10) | ((absBits >> 13) & 0x3ff);
    const uint32_t rest = absBits & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
    return uint16_t(sign | h);
}

uint16_t floatToBf16(float value) {
    const uint32_t f = floatBits(value);
    if ((f & 0x7fffffffu) > 0x7f800000u)  // NaN: truncating could make it inf
        return uint16_t((f >> 16) | 0x0040);
    // Round to nearest even on the dropped 16 bits; the carry may overflow
    // the exponent into inf, as it should.
    const uint32_t rounding = 0x7fff + ((f >> 16) & 1);
    return uint16_t((f + rounding) >> 16);
}

namespace {
template <typename T>
void castEach(const uint8_t* src, float* dst, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        T v;  // memcpy: tensor data in a file need not be aligned
        std::memcpy(&v, src + i * sizeof(T), sizeof(T));
        dst[i] = static_cast<float>(v);
    }
}
}  // namespace

void toFloat(DType srcType, const void* src, float* dst, size_t count) {
    const auto* bytes = static_cast<const uint8_t*>(src);
    switch (srcType) {
    case DType::F32: std::memcpy(dst, src, count * sizeof(float)); return;
    case DType::F64: castEach<double>(bytes, dst, count); return;
    case DType::I64: castEach<int64_t>(bytes, dst, count); return;
    case DType::I32: castEach<int32_t>(bytes, dst, count); return;
    case DType::I16: castEach<int16_t>(bytes, dst, count); return;
    case DType::I8: castEach<int8_t>(bytes, dst, count); return;
    case DType::U8: castEach<uint8_t>(bytes, dst, count); return;
    case DType::BOOL:
        for (size_t i = 0; i < count; ++i) dst[i] = bytes[i] ? 1.0f : 0.0f;
        return;
    case DType::F16:
    case DType::BF16:
        for (size_t i = 0; i < count; ++i) {
            uint16_t bits;
            std::memcpy(&bits, bytes + 2 * i, 2);
            dst[i] = srcType == DType::F16 ? halfToFloat(bits) : bf16ToFloat(bits);
        }
        return;
    }
}

}  // namespace kme
