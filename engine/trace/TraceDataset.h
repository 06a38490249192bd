#pragma once
// Average causal effects over a fact set, bucketed by token position as in
// ROME's Figure 2: which layers carry facts, on average, at the subject's
// last token versus the last token of the prompt.
#include <map>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/trace/CausalTrace.h"

namespace kme {

class Model;
struct Dataset;

// Bucket names, in order.
const std::vector<std::string>& traceBuckets();  // first subject token, middle subject tokens, ...

struct TraceDatasetParams {
    int limit = 0;      // records traced at most (0 = all)
    TraceParams trace;  // samples, noise, window, seed, kinds, strategy (prompt/subject/answer ignored)
};

struct TraceDatasetResult {
    std::vector<std::string> buckets;
    // Per kind: [bucket][layer] mean indirect effect (restored - low, clipped at 0) and the 95% half-width.
    std::map<TraceKind, std::vector<std::vector<double>>> mean, ci95;
    std::map<TraceKind, std::vector<std::vector<int>>> count;  // [bucket][layer] records contributing
    int nLayer = 0;
    int considered = 0;  // records looked at
    int traced = 0;      // records whose clean top-1 is the true target (the ones averaged)
    double meanHigh = 0, meanLow = 0;  // mean p(clean), mean p(corrupted) over traced records
    double seconds = 0;
};

// Calls `progress` with (records done, records to do).
TraceDatasetResult traceDataset(Model& model, const Dataset& dataset, const TraceDatasetParams& params,
                                const ProgressFn& progress = {});

}  // namespace kme
