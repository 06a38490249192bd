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
ForwardBench benchForward(const ModelConfig& shape, const std::vector<std::pair<int, int>>& cases, int repeats,
                          const ProgressFn& progress = {});

}  // namespace kme
