#include "engine/model/Benchmark.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>

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

GemmBench benchHalfGemm(int rows, int in, int out, int repeats) {
    at::NoGradGuard g;
    GemmBench b;
    b.rows = rows;
    b.in = in;
    b.out = out;
    const at::Tensor x = at::randn({rows, in});
    const at::Tensor wHalf = (at::randn({out, in}) * 0.02).to(at::kBFloat16);  // [out, in], as stored
    const at::Tensor wFloat = wHalf.to(at::kFloat);
    at::Tensor scratch = at::empty({out, in});  // Transformer::matmulWeight's thread-lived buffer
    const double flops = 2.0 * rows * double(in) * out;
    auto best = [&](const std::function<at::Tensor()>& product) {
        (void)product();  // warm up
        double fastest = 1e30, spent = 0;
        for (int r = 0; r < 1000 && (r < repeats || spent < 0.3); ++r) {
            const double t0 = now();
            (void)product();
            const double t = now() - t0;
            fastest = std::min(fastest, t);
            spent += t;
        }
        return flops / fastest / 1e9;
    };
    b.float32Gflops = best([&] { return at::mm(x, wFloat.t()); });
    b.convertedGflops = best([&] {
        scratch.copy_(wHalf);
        return at::mm(x, scratch.t());
    });
    b.bf16Gflops = best([&] { return at::mm(x.to(at::kBFloat16), wHalf.t()).to(at::kFloat); });
    const at::Tensor ref = at::mm(x, wFloat.t());
    const at::Tensor half = at::mm(x.to(at::kBFloat16), wHalf.t()).to(at::kFloat);
    b.bf16MaxRelDiff = (half - ref).abs().max().item<double>() / std::max(1e-30, ref.abs().max().item<double>());
    return b;
}

PredictBench benchPredict(const Model& model, int promptTokens, int newTokens) {
    at::NoGradGuard g;
    const Transformer& tf = model.transformer();
    const int64_t vocab = std::min<int64_t>(model.tokenizer().vocabSize(), tf.config().vocabSize);
    promptTokens = std::max(1, std::min(promptTokens, tf.config().nPositions - newTokens));
    std::vector<int64_t> ids;
    for (int i = 0; i < promptTokens; ++i) ids.push_back((7 * i + 3) % vocab);
    PredictBench out;
    out.promptTokens = promptTokens;
    ForwardRequest req;
    req.ids = at::tensor(at::ArrayRef<int64_t>(ids), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
    req.keepCache = true;
    req.logits = LogitsMode::Last;
    double t0 = now();
    ForwardResult r = tf.forward(req);
    out.prefillSeconds = now() - t0;
    out.prefillTokensPerSecond = promptTokens / out.prefillSeconds;
    out.prefillGflops = r.flops / out.prefillSeconds / 1e9;
    const at::Tensor last = r.logits.reshape({-1}).to(at::kFloat).contiguous();
    out.prefillLogits.assign(last.data_ptr<float>(), last.data_ptr<float>() + last.numel());
    KVCache cache = std::move(r.cache);
    int64_t next = r.logits.squeeze(0).argmax().item<int64_t>();
    double flops = 0;
    t0 = now();
    for (int step = 0; step < newTokens; ++step) {
        ForwardRequest d;
        d.ids = at::full({1, 1}, next, at::TensorOptions().dtype(at::kLong));
        d.past = &cache;
        d.keepCache = true;
        d.logits = LogitsMode::Last;
        ForwardResult dr = tf.forward(d);
        flops += dr.flops;
        cache = std::move(dr.cache);
        next = dr.logits.squeeze(0).argmax().item<int64_t>();
    }
    out.newTokens = newTokens;
    out.decodeSeconds = now() - t0;
    if (newTokens > 0) {
        out.decodeTokensPerSecond = newTokens / out.decodeSeconds;
        out.decodeGflops = flops / out.decodeSeconds / 1e9;
    }
    return out;
}

namespace {
int64_t statusKb(const std::string& key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) return std::stoll(line.substr(key.size())) ;
    return 0;
}
}  // namespace

int64_t residentBytes() { return statusKb("VmRSS:") * 1024; }
int64_t peakResidentBytes() { return statusKb("VmHWM:") * 1024; }
bool resetPeakResident() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    f.flush();
    return bool(f);
}

}  // namespace kme
