#include "engine/model/Benchmark.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>

#include "engine/core/Error.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"

namespace kme {
namespace {
double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double forwardFlops(const ModelConfig& c, int batch, int tokens) {
    const double D = c.nEmbd, I = c.nInner, V = c.vocabSize, T = tokens, L = c.nLayer;
    // Per token and block: q,k,v (3D^2), output projection (D^2), MLP (2DI)
    // multiply-adds, plus causal attention scores and mixing over T keys
    // (2TD, computed as full T x T products).
    const double perToken = L * (4 * D * D + 2 * D * I + 2 * T * D) + D * V;
    return 2.0 * perToken * batch * T;
}

double measureMatmulGflops(int n, int repeats) {
    at::NoGradGuard g;
    const at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
    (void)at::mm(a, b);  // warm up
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
        const double t0 = now();
        (void)at::mm(a, b);
        best = std::min(best, now() - t0);
    }
    return 2.0 * n * n * double(n) / best / 1e9;
}

ForwardBench benchForward(const ModelConfig& shape, const std::vector<std::pair<int, int>>& cases, int repeats,
                          const ProgressFn& progress) {
    at::NoGradGuard g;
    ForwardBench out;
    auto model = randomTransformer(shape, 1234);
    out.shape = std::to_string(shape.nLayer) + " x " + std::to_string(shape.nEmbd) + ", vocab " +
                std::to_string(shape.vocabSize);
    out.parameters = model->parameterCount();
    out.threads = at::get_num_threads();
    out.blas = blasLibraryInUse();
    out.matmulGflops = measureMatmulGflops(1024, std::max(3, repeats));
    double done = 0;
    for (auto [batch, tokens] : cases) {
        ForwardBenchCase bc;
        bc.batch = batch;
        bc.tokens = tokens;
        bc.repeats = repeats;
        ForwardRequest req;
        req.ids = at::randint(shape.vocabSize, {batch, tokens}, at::TensorOptions().dtype(at::kLong));
        req.logits = LogitsMode::All;
        (void)model->forward(req);  // warm up
        double best = 1e30;
        for (int r = 0; r < repeats; ++r) {
            const double t0 = now();
            (void)model->forward(req);
            best = std::min(best, now() - t0);
            if (!reportProgress(progress, ++done, double(cases.size()) * repeats)) throw Cancelled();
        }
        bc.seconds = best;
        bc.tokensPerSecond = batch * tokens / best;
        bc.gflops = forwardFlops(shape, batch, tokens) / best / 1e9;
        bc.ratioToMatmul = bc.gflops / out.matmulGflops;
        out.cases.push_back(bc);
    }
    return out;
}

}  // namespace kme
