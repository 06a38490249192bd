#include "engine/trace/TraceBenchmark.h"

#include <chrono>
#include <cmath>

#include "engine/model/Model.h"

namespace kme {

namespace {

struct Timed {
    TraceResult result;
    double setupSeconds = 0;               // until the first row's work began
    std::map<std::string, double> rowSeconds;  // by kind name, or "all kinds"
};

// One trace, with the time of each token row attributed to its kind.
Timed timedTrace(Model& model, const TraceParams& p) {
    Timed out;
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    auto last = t0;
    bool started = false;
    std::map<TraceKind, int> rows;
    auto since = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    auto begin = [&] {
        if (started) return;
        started = true;
        last = Clock::now();
        out.setupSeconds = since(t0, last);
    };
    out.result = causalTrace(
        model, p,
        [&](double, double) {
            begin();  // the first progress call comes with the first row's work
            return true;
        },
        [&](const TraceResult& partial) {
            begin();
            const auto now = Clock::now();
            std::vector<TraceKind> changed;
            for (const auto& [kind, done] : partial.rowsDone)
                if (done != rows[kind]) {
                    rows[kind] = done;
                    changed.push_back(kind);
                }
            const std::string key = changed.size() == 1 ? traceKindName(changed.front()) : "all kinds";
            out.rowSeconds[key] += since(last, now);
            last = now;
        });
    return out;
}

}  // namespace

TraceBenchCase benchTrace(Model& model, const std::string& label, int samples) {
    std::vector<int> ids = model.tokenizer().encode("The Eiffel Tower is located in the city of Paris, France.");
    while (ids.size() < 11) ids.insert(ids.end(), ids.begin(), ids.end());
    ids.resize(11);
    TraceParams p;
    p.ids = ids;
    p.subjectBegin = 2;
    p.subjectEnd = 6;
    p.samples = samples;
    p.noise.factsPath = "none";
    TraceBenchCase c;
    c.model = label;
    c.tokens = 11;
    c.subjectTokens = 4;
    c.samples = samples;
    c.layers = model.config().nLayer;
    p.strategy = TraceStrategy::Fast;
    (void)causalTrace(model, p);  // warm-up (allocator, thread pool, caches)
    const Timed fast = timedTrace(model, p);
    p.strategy = TraceStrategy::Reference;
    const Timed ref = timedTrace(model, p);
    c.window = fast.result.window;
    c.fastSeconds = fast.result.seconds;
    c.referenceSeconds = ref.result.seconds;
    c.speedup = ref.result.seconds / fast.result.seconds;
    c.fastGflops = fast.result.flops / fast.result.seconds / 1e9;
    c.referenceGflops = ref.result.flops / ref.result.seconds / 1e9;
    c.fastTflop = fast.result.flops / 1e12;
    c.referenceTflop = ref.result.flops / 1e12;
    // Final logits: 2 x n_embd x vocab per scored row. The reference scores the
    // whole batch (clean row + samples) for every cell; the fast strategy
    // scores the samples of the cells at or after the subject's first token.
    const double perRow = 2.0 * model.config().nEmbd * double(model.config().vocabSize);
    const double cellsPerKind = double(c.layers), kinds = double(p.kinds.size());
    c.referenceLogitsTflop = perRow * (samples + 1) * kinds * c.tokens * cellsPerKind / 1e12;
    c.fastLogitsTflop = perRow * samples * kinds * (c.tokens - p.subjectBegin) * cellsPerKind / 1e12;
    c.fastSetupSeconds = fast.setupSeconds;
    c.referenceSetupSeconds = ref.setupSeconds;
    c.fastRowSeconds = fast.rowSeconds;
    c.referenceRowSeconds = ref.rowSeconds;
    for (const auto& [kind, rows] : ref.result.scores)
        for (size_t t = 0; t < rows.size(); ++t)
            for (size_t l = 0; l < rows[t].size(); ++l)
                c.maxDifference =
                    std::max(c.maxDifference, std::abs(rows[t][l] - fast.result.scores.at(kind)[t][l]));
    return c;
}

}  // namespace kme
