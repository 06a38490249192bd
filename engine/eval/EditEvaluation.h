#pragma once
// Runs an edit method over records of a fact set and measures every record
// with engine/eval/Metrics.h, before (the unedited model: the baseline) and
// after. Two modes (issue 5, item 6):
//  - Fresh: each batch of requests (one record per batch unless batchSize
//    says otherwise) is computed on the original model, measured, reverted.
//  - Sequential: the batches accumulate, each computed on the model with the
//    earlier edits applied; every record is measured once all are applied
//    (MEMIT's protocol). Locality keeps the *original* model's reference:
//    neighbours answer with their true objects, and the baseline is the
//    unedited model. A neighbour prompt that another applied edit rewrote
//    (same filled prompt, or the same subject and relation) is left out and
//    counted, since its answer changed on purpose.
// The model is unchanged on return (also after an error or a cancel).
// Torch-free.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/edit/EditMethod.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/KeyPreservation.h"
#include "engine/eval/Metrics.h"

namespace kme {

class Model;

// Which records a run takes.
enum class RecordSelection {
    First,   // the first N (ROME's dataset_size_limit)
    Spread,  // N evenly spaced over the file (index floor(i * size / N)): covers every relation of a sorted file
    Random   // N drawn without replacement with `seed`, in file order
};
const char* recordSelectionName(RecordSelection s);  // "first" | "spread" | "random"
std::optional<RecordSelection> parseRecordSelection(const std::string& name);

struct SelectionParams {
    int limit = 0;  // records taken (0 = all)
    RecordSelection how = RecordSelection::First;
    uint64_t seed = 0;  // Random only
};
// Indices into dataset.records, ascending. Throws ErrorKind::Input for a
// negative limit, a limit beyond the file's records (naming the file) or an
// empty file.
std::vector<size_t> selectRecords(const Dataset& dataset, const SelectionParams& params);

enum class EvalMode { Fresh, Sequential };
const char* evalModeName(EvalMode mode);  // "fresh" | "sequential"

struct EvalParams {
    EditParams edit;               // method, hparams (layers), statistics corpus, seed; requests come from the records
    EvalMode mode = EvalMode::Fresh;
    int batchSize = 1;             // requests per computeEdit call (MEMIT: one solve; ROME: one after another)
    MetricSet metrics = MetricSet::Auto;
    GenerationOptions generation;  // fluency (CounterFact only)
    bool baseline = true;          // also measure the unedited model
    // Sequential weight edits: keys of this many statistics-corpus tokens
    // measure how much the edited layers' outputs moved (KeyPreservation.h);
    // 0 = not measured (also without a corpus or layers).
    int64_t preservationTokens = 2000;
    // Sequential only: after the batch that brings the number of edited
    // records to (or past) each of these k, records 1..k are measured again
    // (no generation) -- the retention curve (EvalResult::retention,
    // engine/eval/EvalCurves.h). Ascending, each in 1..records; empty = none.
    std::vector<int> checkpoints;
};

// One statistic over records: mean and the 95% half-width of its normal
// interval (1.96 x sample sd / sqrt(n)); count 0 = not measured.
struct MetricStat {
    double mean = 0;
    double ci95 = 0;
    int count = 0;  // records contributing
};

// Metric name -> statistic, in a stable order. Names (fractions 0..1 unless
// said): efficacy_score, efficacy_magnitude, paraphrase_score,
// paraphrase_magnitude, neighborhood_score, neighborhood_magnitude, score
// (harmonic mean of the three scores' means; no interval), fluency (bits),
// other_attributes_score, other_attributes_accuracy, efficacy_accuracy,
// paraphrase_accuracy, neighborhood_accuracy (token accuracies, zsRE style);
// sequential runs add efficacy_at_edit_score (right after each record's own
// batch, before later edits). Records with two-hop prompts add portability
// (the new answer beats the old on them); a run measured on the unedited
// model too adds portability_unedited to its edited summary (the unedited
// model's two-hop accuracy: the old answer beats the new). A run whose
// records have no two-hop prompts has neither (not 0).
struct MetricSummary {
    std::vector<std::pair<std::string, MetricStat>> values;
    const MetricStat* find(const std::string& name) const;  // nullptr when absent
};
// The names every summary carries (some with count 0).
const std::vector<std::string>& metricNames();
MetricSummary summarizeMetrics(const std::vector<RecordMetrics>& records,
                               const std::vector<std::optional<double>>& efficacyAtEdit = {});
// One record's per-record metric values (every name of metricNames() but
// "score", then twoHopMetricNames()), in that order; nullopt = not measured for this record. What
// evalRunToJson writes per record, and what summarizeMetrics averages.
using MetricValues = std::vector<std::pair<std::string, std::optional<double>>>;
MetricValues metricValuesOf(const RecordMetrics& record);
// summarizeMetrics from per-record values (e.g. read back from saved runs:
// `kme session merge`): the same statistics, computed by the same code, so
// the same values in the same order give bit-identical means and intervals.
// Names missing from a record count as not measured.
MetricSummary summarizeMetricValues(const std::vector<MetricValues>& records,
                                    const std::vector<std::optional<double>>& efficacyAtEdit = {});
// The per-record two-hop values metricValuesOf appends after metricNames()'
// (not summary names: "portability" is summarized only where measured,
// "portability_old_answer" of the unedited records gives portability_unedited).
const std::vector<std::string>& twoHopMetricNames();
// Adds "portability_unedited" from the unedited model's per-record values
// (their portability_old_answer), when any record has two-hop prompts.
void addPortabilityUnedited(MetricSummary& summary, const std::vector<MetricValues>& unedited);

// One point of a retention curve: after the first `k` records of a
// sequential run were edited (and nothing after them), the mean scores of
// records 1..k on the model as it is then. Fractions 0..1.
struct RetentionPoint {
    int k = 0;                // records edited so far (a batch boundary)
    MetricStat efficacy;      // efficacy_score over records 1..k
    MetricStat paraphrase;    // paraphrase_score over records 1..k
    MetricStat neighborhood;  // neighborhood_score over records 1..k (neighbours rewritten by edits 1..k left out)
    double seconds = 0;       // run time when the point was measured
};

struct RecordEvaluation {
    size_t datasetIndex = 0;               // index into the dataset's records
    int batch = 0;                         // index into EvalResult::batches
    RecordMetrics baseline;                // unedited model (when EvalParams::baseline)
    RecordMetrics edited;                  // after the edit(s)
    std::optional<double> efficacyAtEdit;  // sequential: efficacy score right after its own batch
};

struct EditBatchReport {
    std::vector<size_t> datasetIndices;  // records whose requests this batch edited
    std::vector<int> layers;             // layers changed
    double seconds = 0;                  // computeEdit time
    double deltaNorm = 0;                // Frobenius norm of the batch's delta (all parts)
};

struct EvalResult {
    MetricSet metrics = MetricSet::CounterFact;  // resolved
    EvalMode mode = EvalMode::Fresh;
    EditMethod method = EditMethod::Rome;
    std::vector<int> layers;            // as used (first batch)
    EditHparams hparams;                // as used (first batch)
    int batchSize = 1;
    std::vector<RecordEvaluation> records;  // complete records (both measurements), in selection order
    std::vector<EditBatchReport> batches;
    MetricSummary edited, baseline;     // baseline empty when not measured
    bool cancelled = false;             // stopped by the progress callback: `records` holds what was finished
    double seconds = 0;                 // wall time of the whole run
    double editSeconds = 0;             // computing edits
    double metricSeconds = 0;           // measuring (baseline included)
    std::optional<KeyPreservation> preservation;  // sequential weight edits, after the last (EvalParams)
    std::vector<RetentionPoint> retention;  // EvalParams::checkpoints, in order (a cancelled run: those reached)
};

// `indices` from selectRecords. Progress is reported in work units (edits
// weigh more than measurements); returning false stops the run, which then
// returns the finished records with cancelled = true. Throws ErrorKind::Input
// for records the metrics or the method cannot use, before editing anything.
EvalResult evaluateEdits(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                         const EvalParams& params, const ProgressFn& progress = {});

}  // namespace kme
