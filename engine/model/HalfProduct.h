#pragma once
// How a matrix product with a half-precision weight runs when the model
// computes in float32 (issue 17, item 4). Opt-in: the default keeps today's
// results bit for bit. Process-wide. Torch-free.
//
//   Float32 (default): the half weight is converted into a float32 scratch
//     buffer (Transformer::matmulWeight) and the product runs in float32.
//   Bf16: a weight stored as BF16 multiplies as is: the activations are
//     rounded to bf16, the product runs in bf16 (a bf16 GEMM, float32
//     accumulation inside the BLAS), the result goes back to float32 and any
//     bias is added in float32. About 1e-3 relative difference from Float32
//     (the activations' rounding), so results depend on the mode. Only BF16
//     weights: F16 and float32 weights, and a model converted to float64,
//     are unaffected; a weight that requires a gradient is unaffected too.
//
// `kme bench family` measures both; `KME_HALF_PRODUCT=f32|bf16` sets it for
// a command line run (app/cli/Cli.cpp).
#include <cstdint>
#include <string>

namespace kme {

enum class HalfProduct { Float32, Bf16 };

HalfProduct halfProduct();
void setHalfProduct(HalfProduct mode);

// Sets the mode for a scope (bench, tests), then restores it.
class ScopedHalfProduct {
public:
    explicit ScopedHalfProduct(HalfProduct mode) : saved_(halfProduct()) { setHalfProduct(mode); }
    ~ScopedHalfProduct() { setHalfProduct(saved_); }
    ScopedHalfProduct(const ScopedHalfProduct&) = delete;
    ScopedHalfProduct& operator=(const ScopedHalfProduct&) = delete;

private:
    HalfProduct saved_;
};

const char* halfProductName(HalfProduct mode);  // "f32" | "bf16"
// "f32" | "bf16" -> the mode; false for anything else.
bool parseHalfProduct(const std::string& name, HalfProduct& mode);

// Matrix products that ran as bf16 x bf16 since the process started (forward
// and backward together): the tests' evidence that the mode took effect.
int64_t bf16ProductCount();
void countBf16Product();  // engine

}  // namespace kme
