#pragma once
// The pieces of a sharded evaluation (`kme eval --shard K/N`, engine/eval/
// Shard.h) put back together: the run JSON (evalRunToJson's form) the
// unsharded run would have written. The metrics - means, 95% intervals,
// counts - are recomputed from the per-record values with the code the run
// itself uses (summarizeMetricValues), never averaged from the shards'
// averages, so the merged run equals the unsharded one exactly. Torch-free.
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace kme {

// `shards[k]` is the results JSON of shard k/N of one run (all N, in shard
// order; each with "shard" {index, count} and the run's whole selection in
// "selection"."indices"); `names[k]` names it in messages ("b.kmes, metric
// run 3"). Returns the merged run: every record in selection order (batch
// numbers of the whole run), the summaries recomputed, excluded prompts and
// times summed, batches in run order, no "shard" but "merged_shards": N.
// Throws ErrorKind::Input naming the shard when one is cancelled, holds
// records that are not its share, or disagrees with shard 0 on the
// selection, the batch size or the mode (a sequential run cannot be split).
nlohmann::json mergeEvalShardResults(const std::vector<nlohmann::json>& shards, const std::vector<std::string>& names);

}  // namespace kme
