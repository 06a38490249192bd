#pragma once
// Average causal effects over a fact set, bucketed by token position as in
// ROME's Figure 2: which layers carry facts, on average, at the subject's
// last token versus the last token of the prompt.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/trace/CausalTrace.h"

namespace kme {

class Model;
struct Dataset;

// Bucket names, in order: first subject token, middle subject tokens, last
// subject token, first subsequent token, further tokens, last token.
const std::vector<std::string>& traceBuckets();
// Index of the "last subject token" bucket (where ROME finds the MLP effect).
constexpr int kLastSubjectBucket = 2;
// Index of the "last token" bucket.
constexpr int kLastTokenBucket = 5;

struct TraceDatasetParams {
    int limit = 0;      // records traced at most (0 = all)
    // Explicit dataset indices to look at, in this order (a shard of a run:
    // engine/eval/Shard.h); empty = the first `limit`. Overrides `limit`.
    std::vector<size_t> records;
    TraceParams trace;  // samples, noise, window, seed, kinds, strategy (prompt/subject/answer ignored)
};

// One traced record's values: what the averages are made of.
struct TraceDatasetRecord {
    size_t datasetIndex = 0;  // index into the dataset's records
    double high = 0, low = 0;  // p(clean), p(corrupted), 0..1
    // Per kind: [bucket][layer] the record's indirect effect averaged over the
    // bucket's tokens (restored - low, clipped at 0); NaN where the prompt has
    // no token in the bucket.
    std::map<TraceKind, std::vector<std::vector<double>>> effects;
};

struct TraceDatasetResult {
    std::vector<std::string> buckets;
    std::vector<TraceKind> kinds;  // the kinds traced, in the order asked
    // Per kind: [bucket][layer] mean indirect effect (restored - low, clipped
    // at 0; a probability difference, 0..1) and the 95% half-width
    // (1.96 x standard error). 0 where count is 0.
    std::map<TraceKind, std::vector<std::vector<double>>> mean, ci95;
    std::map<TraceKind, std::vector<std::vector<int>>> count;  // [bucket][layer] records contributing
    int nLayer = 0;
    int window = 0;      // restored layers per mlp/attn cell (the default resolved)
    int samples = 0;     // corrupted copies per trace
    double sigma = 0;         // the noise scale used (resolved on the first traced record)
    std::string sigmaSource;  // as TraceResult::sigmaSource
    int limit = 0;       // records to look at: min(limit, records) (the progress total)
    int considered = 0;  // records looked at so far
    int traced = 0;      // records whose clean top-1 is the true target (the ones averaged)
    int skipped = 0;     // records that could not be traced (prompt too long, subject not in prompt)
    double meanHigh = 0, meanLow = 0;  // mean p(clean), mean p(corrupted) over traced records, 0..1
    double seconds = 0;
    bool complete = false;  // false in the partial results passed to TraceDatasetRecordFn before the end
    std::vector<TraceDatasetRecord> perRecord;  // the traced records, in the order looked at

    // The layer where the mean of (kind, bucket) is largest; -1 when nothing was averaged.
    int peakLayer(TraceKind kind, int bucket) const;
};

// mean, ci95, count, meanHigh and meanLow recomputed from perRecord (in its
// order), for R.kinds, R.buckets and R.nLayer: what traceDataset does after
// each record, and what a merge of shards does with their records.
void aggregateTraceDataset(TraceDatasetResult& R);

// The shards of one dataset trace (`kme trace-dataset --shard K/N`), in any
// order, each with its perRecord values: the result the unsharded trace
// would have given - records in dataset order, averages recomputed from them
// (never averaged averages), counts and times summed, `limit` the run's.
// Throws ErrorKind::Input naming the shard (`names`) whose kinds, layers,
// window, samples or noise scale differ from the first's.
TraceDatasetResult mergeTraceDatasetShards(const std::vector<TraceDatasetResult>& shards,
                                           const std::vector<std::string>& names);

// Called after each traced record with the averages so far.
using TraceDatasetRecordFn = std::function<void(const TraceDatasetResult& partial)>;

// Traces the records whose clean top-1 is their true target (target_true, with
// ROME's leading space) and averages. `progress` gets (records done, records
// to do) with fractions inside a record; returning false throws kme::Cancelled
// within one layer's work of the running trace. Throws kme::Error for an
// empty kind list or samples < 1.
TraceDatasetResult traceDataset(Model& model, const Dataset& dataset, const TraceDatasetParams& params,
                                const ProgressFn& progress = {}, const TraceDatasetRecordFn& onRecord = {});

}  // namespace kme
