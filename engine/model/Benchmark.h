#pragma once
// `kme bench forward`: forward-pass throughput measured side by side with a
// plain matmul in the same run, so the ratio says how close the forward pass
// gets to the machine's BLAS speed.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/model/Config.h"

namespace kme {

struct ForwardBenchCase {
    int batch = 1;            // sequences
    int tokens = 0;           // tokens per sequence
    int repeats = 0;          // timed runs (best one kept)
    double seconds = 0;       // best wall time of one forward, s
    double tokensPerSecond = 0;
    double gflops = 0;        // achieved GFLOP/s (counted multiply-adds x 2)
    double ratioToMatmul = 0; // gflops / matmul GFLOP/s
};

struct ForwardBench {
    std::string shape;        // "12 x 768 (GPT-2 small)"
    int64_t parameters = 0;
    int threads = 0;
    std::string blas;         // library path in use
    double matmulGflops = 0;  // 1024^3 float32 matmul, same run
    std::vector<ForwardBenchCase> cases;
};

// Floating-point operations of one forward pass over batch x tokens with
// logits for every position.
double forwardFlops(const ModelConfig& c, int batch, int tokens);
// Measures the plain float32 matmul speed (n x n x n), GFLOP/s, best of `repeats`.
double measureMatmulGflops(int n, int repeats);
// `kme bench family`: what `predict` costs on a loaded model. A prompt of
// promptTokens ids (prefill, logits of the last position) then newTokens
// greedy steps with the KV cache (decode); GFLOP/s from the forward pass's
// own count of matrix-product operations.
struct PredictBench {
    int promptTokens = 0;
    double prefillSeconds = 0;
    double prefillTokensPerSecond = 0;
    double prefillGflops = 0;
    int newTokens = 0;
    double decodeSeconds = 0;          // all decode steps together
    double decodeTokensPerSecond = 0;
    double decodeGflops = 0;
    std::vector<float> prefillLogits;  // the prompt's last-position logits (to compare runs)
};
// `kme bench family`'s GEMM micro-benchmark at one product shape, rows x in
// times a weight stored [out, in] (LLaMA's layout), side by side: the weight
// float32 already; stored BF16 and converted into a float32 scratch buffer
// per product, then a float32 product (the Float32 half-product mode);
// stored BF16 and multiplied as bf16 (the Bf16 mode: activations rounded to
// bf16, result back to float32). Conversions count in the time. Best of at
// least `repeats` runs (more for small shapes, up to about 0.3 s each).
struct GemmBench {
    int rows = 0, in = 0, out = 0;
    double float32Gflops = 0;
    double convertedGflops = 0;  // BF16 -> float32 scratch, then float32
    double bf16Gflops = 0;       // bf16 x bf16
    double bf16MaxRelDiff = 0;   // max |bf16 product - float32 product| / max |float32 product|
};
GemmBench benchHalfGemm(int rows, int in, int out, int repeats);

class Model;
PredictBench benchPredict(const Model& model, int promptTokens, int newTokens);

// Resident memory of this process from /proc/self/status, bytes (0 when
// unreadable): VmRSS now and VmHWM, the peak. Mapped file pages that were
// read count (an mmap'd checkpoint counts once it is touched).
int64_t residentBytes();
int64_t peakResidentBytes();
// Resets the peak to the current resident size (/proc/self/clear_refs "5");
// false where the kernel does not allow it (the peak then counts from the start).
bool resetPeakResident();

ForwardBench benchForward(const ModelConfig& shape, const std::vector<std::pair<int, int>>& cases, int repeats,
                          const ProgressFn& progress = {});

}  // namespace kme
