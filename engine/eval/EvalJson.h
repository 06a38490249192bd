#pragma once
// The JSON form of an evaluation run (engine/eval/EditEvaluation.h): what
// `kme eval --json` writes, and what the Evaluate tab saves in a session
// (MetricRunRecord::resultsJson); and the run's summary read back from it,
// which is all a table or a chart of the run needs. Fractions 0..1; a value
// is null where nothing was measured (and an interval where fewer than two
// records were). Torch-free.
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "engine/edit/EditMethod.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/Metrics.h"

namespace kme {

// What the JSON says about a run that EvalResult does not hold.
struct EvalRunContext {
    std::string dataset;          // the fact file as given ("dataset")
    SelectionParams selection;    // how the records were chosen
    std::vector<size_t> indices;  // the records chosen (selectRecords), indices into the file
    std::string modelPath;        // the model folder
    int modelContext = 0;         // the model's context, tokens (caps the generation length)
    std::string weightsHash;      // the weights evaluated, as they were before the run
};

struct EvalJsonOptions {
    // Per record: every prompt's scores and the generated texts (kme eval
    // --json). false: the record's metric values only (a saved run stays
    // small: ~1 KB a record instead of ~10).
    bool promptDetails = true;
    // "baseline_count": the records behind each unedited value (saved runs).
    // kme eval --json leaves it out, as it always has.
    bool baselineCounts = false;
};

// The run as JSON: method, mode, batch size, layers, selection, every
// record, the summaries ("metrics", "metrics_ci95", "metrics_count",
// "baseline", "baseline_ci95"), excluded prompts, batches, hyper-parameters,
// generation settings, the model, timings. `params` is what the run was
// given, `dataset` the file `result` indexes.
nlohmann::json evalRunToJson(const EvalResult& result, const Dataset& dataset, const EvalParams& params,
                             const EvalRunContext& context, const EvalJsonOptions& options = {});

// A summary as evalRunToJson writes it: {name: mean | null},
// {name: ci95 | null (fewer than two records, and "score")}, {name: count}.
void metricSummaryToJson(const MetricSummary& summary, nlohmann::json& means, nlohmann::json& ci95,
                         nlohmann::json& counts);

// A run's summary, read back from its JSON.
struct EvalRunSummary {
    std::string dataset;  // the fact file as given
    EditMethod method = EditMethod::Rome;
    EvalMode mode = EvalMode::Fresh;
    int batchSize = 1;  // requests per edit computation
    MetricSet metrics = MetricSet::CounterFact;
    std::vector<int> layers;
    RecordSelection selection = RecordSelection::First;
    int limit = 0;       // records asked for (0 = all)
    int recordCount = 0; // records measured ("n_records")
    // Metric name -> statistic, in metricNames() order (then any other, e.g.
    // a sequential run's efficacy_at_edit_score), as summarizeMetrics().
    MetricSummary edited;
    MetricSummary baseline;  // empty when the unedited model was not measured
    // Left out as rewritten by another edit applied at the same time
    // (sequential and batched runs): neighbour prompts, other attributes.
    int neighborhoodExcluded = 0;
    int otherAttributesExcluded = 0;
    std::string weightsHash;  // the weights evaluated
    std::string statsCorpus;  // where the key statistics came from ("" none)
    bool mom2 = false;        // key statistics used (ROME / MEMIT)
    bool cancelled = false;
    double seconds = 0;        // wall time of the whole run
    double editSeconds = 0;    // computing edits
    double metricSeconds = 0;  // measuring
};

// Reads what evalRunToJson() wrote. JSON without "baseline_count" (kme eval
// --json) gives each measured unedited value the edited value's count.
// Throws ErrorKind::Input naming the key for JSON that is not such a run.
EvalRunSummary evalRunSummaryFromJson(const nlohmann::json& run);
// The same from text; invalid JSON throws ErrorKind::Input too.
EvalRunSummary evalRunSummaryFromJson(const std::string& text);

}  // namespace kme
