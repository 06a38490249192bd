#pragma once
// `kme session merge OUT IN1 ... INn`: the shards of sharded runs (`kme eval
// --shard K/N`, `kme trace-dataset --shard K/N --session`, engine/eval/
// Shard.h), one session file per shard, merged into one session that holds
// what the unsharded runs would have recorded: one metric run per evaluation
// (engine/eval/EvalMerge.h) and one dataset trace per trace
// (mergeTraceDatasetShards), averages recomputed from the per-record results.
//
// A shard's row carries "shard" {index, count} and "run": every parameter
// that shapes its results (dataset and its sha256, selection, method and
// hyper-parameters, seeds, the model state hash, N). Rows with equal "run"
// are shards of one run; a run needs each of its N shards exactly once.
//
// Refused, with one message naming the files and shards at fault, before
// anything is written: an input that is not a session, holds no finished
// shard (a shard killed before it finished records nothing), was recorded on
// another model or with other edits; a run with a missing or duplicated
// shard, or shards of different runs (the differing parameters are named).
//
// OUT missing: a copy of IN1 (model, edits, its other traces and runs)
// without its shard rows, plus the merged runs, written to a temporary file
// and renamed into place. OUT existing (e.g. the session the shards were
// copied from): it must record the same model and edits; the merged runs
// are added. OUT may not be one of the inputs.
#include <cstdint>
#include <string>
#include <vector>

namespace kme {

struct MergedRun {
    std::string kind;         // "metric run" | "dataset trace"
    std::string description;  // "rome on facts.json"
    int64_t id = 0;           // the row in OUT
    int shards = 0;           // N
    int records = 0;          // records of the merged run (evaluated / looked at)
};

struct SessionMergeReport {
    bool created = false;  // OUT was written new (false: runs added to an existing session)
    std::vector<MergedRun> runs;
};

SessionMergeReport mergeSessionShards(const std::string& out, const std::vector<std::string>& inputs);

}  // namespace kme
