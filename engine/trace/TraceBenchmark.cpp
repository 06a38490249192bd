#include "engine/trace/TraceBenchmark.h"

#include <cmath>

#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"

namespace kme {

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
    const TraceResult fast = causalTrace(model, p);
    p.strategy = TraceStrategy::Reference;
    const TraceResult ref = causalTrace(model, p);
    c.fastSeconds = fast.seconds;
    c.referenceSeconds = ref.seconds;
    c.speedup = ref.seconds / fast.seconds;
    c.fastGflops = fast.flops / fast.seconds / 1e9;
    c.referenceGflops = ref.flops / ref.seconds / 1e9;
    c.fastTflop = fast.flops / 1e12;
    c.referenceTflop = ref.flops / 1e12;
    for (const auto& [kind, rows] : ref.scores)
        for (size_t t = 0; t < rows.size(); ++t)
            for (size_t l = 0; l < rows[t].size(); ++l)
                c.maxDifference = std::max(c.maxDifference, std::abs(rows[t][l] - fast.scores.at(kind)[t][l]));
    return c;
}

}  // namespace kme
