#pragma once
// The KME survey's last two properties as curves, and several methods run on
// the same records (issue 16, item 2). Everything goes through
// evaluateEdits() (engine/eval/EditEvaluation.h):
//  - Retainability: one sequential run of N records with checkpoints; at
//    checkpoint k (edits 1..k applied, none later) records 1..k are measured
//    again: efficacy on the edits made so far, and the neighbourhood of those
//    records, against k. The point k = N is the sequential run's final
//    measurement; the point k = 1 is the first edit alone, i.e. a fresh edit.
//  - Scalability (batched methods: MEMIT, AlphaEdit, EMMET, FT-L / FT-M ...):
//    for each batch size b, the same N records edited in fresh batches of b
//    (each batch on the unedited weights, measured, reverted): efficacy and
//    neighbourhood against b. The point b is exactly `kme eval --batch b`.
//  - evaluateMethods: a list of methods over one record selection, in one
//    order, each with its fresh run (accuracy, generality, locality,
//    portability) and optionally its two curves.
// The model is unchanged on return. Torch-free.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"

namespace kme {

class Model;

// Checkpoints for a retention curve over n sequential edits: 1, 2, 5, 10,
// 20, 50, 100, 200, 500, ... up to n, and n itself. Empty for n < 1.
std::vector<int> retentionCheckpoints(int n);
// The batch sizes of a scalability curve over n records: those of `asked`
// (default {1, 10, 50, 100}) that are at most n, in ascending order, plus n
// itself when a larger size was asked (the largest batch the selection allows).
std::vector<int> scaleBatchSizes(int n, const std::vector<int>& asked = {1, 10, 50, 100});

// The retention curve: evaluateEdits in sequential mode with
// EvalParams::checkpoints set (`params.mode` and `params.checkpoints` are
// overridden; baseline and fluency as `params` says). The points are in
// result.retention.
EvalResult retentionRun(Model& model, const Dataset& dataset, const std::vector<size_t>& indices, EvalParams params,
                        const std::vector<int>& checkpoints, const ProgressFn& progress = {});

struct ScalePoint {
    int batchSize = 1;        // requests per edit
    int batches = 0;          // edits computed (the last may be smaller)
    MetricStat efficacy;      // efficacy_score over the records, fractions 0..1
    MetricStat paraphrase;    // paraphrase_score
    MetricStat neighborhood;  // neighborhood_score (neighbours another request of the batch rewrote left out)
    double seconds = 0;       // wall time of this point's run
    double editSeconds = 0;   // computing its edits
};
struct ScaleCurve {
    std::vector<ScalePoint> points;  // ascending batch size
    bool cancelled = false;          // the points finished before the stop
};
// One fresh evaluateEdits per batch size (no baseline, no generation: the
// unedited model does not depend on b). Throws ErrorKind::Input for a batch
// size below 1 or above the records, or a method that is not batched (its
// requests would be applied one after another, not solved together).
ScaleCurve scaleCurve(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                      const EvalParams& params, const std::vector<int>& batchSizes, const ProgressFn& progress = {});
// The scale point a fresh run gives (its means), as scaleCurve computes it.
ScalePoint scalePointOf(const EvalResult& run);

// Several methods on the same records.
struct CurveOptions {
    bool retain = false;           // the retention curve of every method
    bool scale = false;            // the scalability curve of every batched method
    std::vector<int> checkpoints;  // empty: retentionCheckpoints(records)
    std::vector<int> batchSizes;   // empty: scaleBatchSizes(records)
};
struct MethodRun {
    EditMethod method = EditMethod::Rome;
    EvalResult result;                    // the fresh run: accuracy, generality, locality, portability
    std::optional<EvalResult> retention;  // CurveOptions::retain: the sequential run with its points
    std::optional<ScaleCurve> scale;      // CurveOptions::scale and a batched method
    std::string scaleSkipped;             // why there is no scale curve ("" when there is or none was asked)
    bool cancelled = false;               // stopped during this method (later methods did not run)
    double seconds = 0;                   // all of this method's runs
};
// Progress of method `index` (0-based) of `count`: done / total of that
// method's work (its runs and curves); false stops everything.
using MethodProgressFn = std::function<bool(size_t index, double done, double total)>;
// Runs each of `methods` (EvalParams with the method's edit parameters; the
// mode is fresh and the batch size `methods[i].batchSize`) over `indices` in
// that order, then its curves. Stops at a cancel: the runs finished so far
// are returned, the last one marked cancelled. Throws ErrorKind::Input for no
// methods or a method listed twice (before editing anything).
std::vector<MethodRun> evaluateMethods(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                                       const std::vector<EvalParams>& methods, const CurveOptions& curves,
                                       const MethodProgressFn& progress = {});

// The survey's six properties of one method run, as one row of a table
// (fractions 0..1; nullopt = not measured):
struct SixProperties {
    std::optional<double> accuracy;            // efficacy_score of the fresh run
    std::optional<double> generality;          // paraphrase_score
    std::optional<double> locality;            // neighborhood_score
    std::optional<double> otherAttributes;     // other_attributes_score (locality on the subject's other facts)
    std::optional<double> portability;         // portability (two-hop prompts follow the edit)
    std::optional<double> portabilityUnedited; // the unedited model's two-hop accuracy
    std::optional<double> retainability;       // efficacy on all N edits after the N-th sequential edit (last retention point)
    std::optional<double> retainedLocality;    // neighbourhood of the N records after N sequential edits
    std::optional<double> scalability;         // efficacy at the largest batch of the scale curve
    int scaleBatch = 0;                        // that batch size (0 = no scale curve)
};
SixProperties sixPropertiesOf(const MethodRun& run);

}  // namespace kme
