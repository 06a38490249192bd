#pragma once
// Causal traces as JSON: the keys of `kme trace --json` and `kme
// trace-dataset --json` (shared/CLI.md), for the command line, the session
// store (a trace's request + result) and the GUI. Torch-free.
#include <nlohmann/json.hpp>

#include <string>

#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceDataset.h"

namespace kme {

const char* traceStrategyName(TraceStrategy strategy);  // "fast" | "reference"
// "3x" for a multiple, "0.1" for an absolute sigma (shortest exact form).
std::string formatNoiseSpec(const NoiseSpec& noise);

// The request: prompt, subject, answer, kinds, samples, noise ("3x" | "0.1"),
// facts, window (-1 = default), seed, strategy; noise_in / noise_out and
// ids / subject_range only when set.
nlohmann::json traceParamsToJson(const TraceParams& params);
// Reads what traceParamsToJson wrote; absent keys keep TraceParams' defaults.
// Throws kme::Error (ErrorKind::Format) naming the key at fault.
TraceParams traceParamsFromJson(const nlohmann::json& j);

// `kme trace --json`: tokens, ids, subject_range, answer {id, token},
// high_score, low_score, sigma, sigma_source, samples, window, seed, strategy,
// seconds, n_layer, kinds, rows_done, flops and scores {kind: [n_tokens][n_layer]}
// (null where not computed).
nlohmann::json traceResultToJson(const TraceResult& result);
// Reads what traceResultToJson wrote (null cells back to NaN). Throws
// kme::Error (ErrorKind::Format) for missing keys or shapes that do not fit.
TraceResult traceResultFromJson(const nlohmann::json& j);

// `kme trace-dataset --json`: buckets, kinds {kind: [bucket][layer] mean},
// ci95, counts (same shape), n_layer, window, samples, sigma, sigma_source,
// records_limit, records_considered, records_traced, records_skipped,
// mean_high_score, mean_low_score, total_effect, seconds, complete.
nlohmann::json traceDatasetResultToJson(const TraceDatasetResult& result);
// Reads what traceDatasetResultToJson wrote, and "per_record" when present.
// Throws kme::Error (ErrorKind::Format).
TraceDatasetResult traceDatasetResultFromJson(const nlohmann::json& j);
// The per-record values (a shard's "per_record": what a merge averages):
// [{index, high_score, low_score, effects {kind: [bucket][layer] | null}}].
nlohmann::json traceDatasetRecordsToJson(const TraceDatasetResult& result);
// Reads that list into result.perRecord (buckets and nLayer set first).
void traceDatasetRecordsFromJson(const nlohmann::json& list, TraceDatasetResult& result);

}  // namespace kme
