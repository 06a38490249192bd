#pragma once
// The JSON and CSV forms of several methods' runs and their curves
// (engine/eval/EvalCurves.h): what `kme eval --methods ... --json/--csv`
// writes and what the Evaluate tab saves with each method's run in the
// session (keys "retain" and "scale" beside engine/eval/EvalJson.h's keys),
// and the curves read back from it. Fractions 0..1; null = not measured.
// Torch-free.
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

#include "engine/eval/EvalCurves.h"

namespace kme {

// {"k": [...], "efficacy": [...], "paraphrase": [...], "neighborhood": [...],
//  "count": [...] (records behind each efficacy value), "seconds": [...]}.
nlohmann::json retentionToJson(const std::vector<RetentionPoint>& points);
// {"batch": [...], "batches": [...], "efficacy": [...], "paraphrase": [...],
//  "neighborhood": [...], "seconds": [...]}.
nlohmann::json scaleToJson(const ScaleCurve& curve);
// The six properties as {"accuracy", "generality", "locality",
// "other_attributes", "portability", "portability_unedited",
// "retainability", "retained_locality", "scalability", "scale_batch"}.
nlohmann::json sixPropertiesToJson(const SixProperties& six);

// A curve read back: x (k or batch size) and the mean scores, NaN where not
// measured.
struct CurveData {
    std::vector<double> x;
    std::vector<double> efficacy, paraphrase, neighborhood;
    bool empty() const { return x.empty(); }
};
// From retentionToJson / scaleToJson output; ErrorKind::Input naming the key
// for JSON of another shape (lists of different lengths, non-numbers).
CurveData curveFromJson(const nlohmann::json& curve, const char* xKey);

// One CSV (long format) of method runs (a JSON list of addCurvesToJson'd
// runs, each with "method"): header "method,series,x,metric,value"; series
// "properties" (x empty; the six properties), "run" (x empty; every measured
// metric of the fresh run), "retain" (x = k), "scale" (x = batch size).
// Numbers with 10 significant digits; empty = not measured.
std::string methodRunsCsv(const nlohmann::json& runs);

// A method run as the session keeps it and `kme eval --methods` writes it:
// `runJson` is evalRunToJson(run.result, ...); this adds "retain", "scale",
// "scale_skipped" and "six".
void addCurvesToJson(const MethodRun& run, nlohmann::json& runJson);

// The parameters a session keeps with each method run of one comparison
// (MetricRunRecord::paramsJson): "comparison" (the id shared by the runs of
// one comparison), "comparison_methods" (all of its methods, in order),
// "comparison_index", "curves", "records", "selection", "dataset", "method",
// "mode" ("fresh"), "batch_size", "weights_hash", "tool".
struct ComparisonInfo {
    std::string id;                    // shared by the comparison's runs (its start time, ISO 8601)
    std::vector<std::string> methods;  // method names in run order
    bool retain = false, scale = false;
    std::string dataset;               // the fact file
    SelectionParams selection;
    int records = 0;                   // records evaluated
    std::string weightsHash;           // the weights evaluated
    std::string tool;                  // "kme eval --methods" | "Evaluate tab"
};
nlohmann::json comparisonParamsJson(const ComparisonInfo& info, size_t index);
// The comparison id of a run's parameters ("" when the run is not part of one).
std::string comparisonIdOf(const std::string& paramsJson);

}  // namespace kme
