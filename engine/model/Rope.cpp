#include "engine/model/Rope.h"

#include <cmath>

#include "engine/core/Error.h"

namespace kme {

at::Tensor ropeInverseFrequencies(const ModelConfig& c, int64_t length) {
    const RopeConfig& r = c.rope;
    const int64_t d = r.rotaryDim;
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    double base = r.theta;
    if (r.scaling == "dynamic" && length > c.nPositions && d > 2) {
        // NTK-aware: the base grows with the sequence beyond the trained context.
        const double ratio = r.factor * double(length) / double(c.nPositions) - (r.factor - 1.0);
        base = base * std::pow(ratio, double(d) / double(d - 2));
    }
    // inv_freq[i] = base^(-2i/d), i = 0 .. d/2-1
    at::Tensor inv = at::pow(base, at::arange(0, d, 2, f64) / double(d)).reciprocal();
    if (r.scaling == "linear") return inv / r.factor;
    if (r.scaling == "llama3") {
        // Wavelengths longer than original/low_freq_factor are divided by
        // factor, shorter than original/high_freq_factor kept, and the band
        // between interpolated smoothly.
        const double orig = r.originalMaxPositions;
        const double lowWavelen = orig / r.lowFreqFactor, highWavelen = orig / r.highFreqFactor;
        const at::Tensor wavelen = 2.0 * M_PI / inv;
        const at::Tensor smooth = (orig / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
        const at::Tensor mid = (1.0 - smooth) * inv / r.factor + smooth * inv;
        at::Tensor out = at::where(wavelen > lowWavelen, inv / r.factor, inv);
        const at::Tensor isMid = (wavelen >= highWavelen) & (wavelen <= lowWavelen);
        return at::where(isMid, mid, out);
    }
    return inv;
}

RopeTables ropeTables(const ModelConfig& c, int64_t offset, int64_t T, at::ScalarType dtype) {
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    const at::Tensor inv = ropeInverseFrequencies(c, offset + T);
    const at::Tensor angles = at::outer(at::arange(offset, offset + T, f64), inv);  // [T, d/2]
    at::Tensor cos = angles.cos(), sin = angles.sin();
    if (c.rope.style == RopeStyle::Interleaved) {
        cos = cos.repeat_interleave(2, -1);
        sin = sin.repeat_interleave(2, -1);
    } else {
        cos = at::cat({cos, cos}, -1);
        sin = at::cat({sin, sin}, -1);
    }
    return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor applyRope(const at::Tensor& x, const RopeTables& t, RopeStyle style) {
    const int64_t d = t.cos.size(-1), hd = x.size(-1);
    const at::Tensor rot = x.narrow(-1, 0, d);
    at::Tensor turned;  // the partner of each dim, signed: y = x cos + turned sin
    if (style == RopeStyle::Interleaved) {
        // pairs (2i, 2i+1): (x0, x1) -> (-x1, x0)
        auto sizes = rot.sizes().vec();
        sizes.back() = d / 2;
        sizes.push_back(2);
        const at::Tensor pairs = rot.reshape(sizes);
        turned = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
    } else if (style == RopeStyle::RotateHalf) {
        // dim i pairs with dim i + d/2: (x1, x2) -> (-x2, x1)
        turned = at::cat({-rot.narrow(-1, d / 2, d / 2), rot.narrow(-1, 0, d / 2)}, -1);
    } else {
        fail(ErrorKind::Internal, "applyRope: no rotary style");
    }
    const at::Tensor rotated = rot * t.cos + turned * t.sin;
    if (d == hd) return rotated;
    return at::cat({rotated, x.narrow(-1, d, hd - d)}, -1);
}

}  // namespace kme
