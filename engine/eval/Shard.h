#pragma once
// Shards of one run (`kme eval --shard K/N`, `kme trace-dataset --shard K/N`):
// the run's records, in selection order, are dealt round-robin to N shards
// (record i to shard i mod N; with batches of B requests the unit is the
// batch: batch b to shard b mod N), so that N processes - on one machine or
// on the nodes of a cluster - together compute exactly what one process
// would, and `kme session merge` puts the pieces back together
// (engine/session/SessionMerge.h). Torch-free.
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace kme {

struct ShardSpec {
    int index = 0;  // K: 0 <= K < count (0-based, as SLURM_ARRAY_TASK_ID of --array=0-(N-1))
    int count = 1;  // N: the shards of the run, >= 1
};

// "K/N" with integers 0 <= K < N. nullopt (and *why, when given, says what
// is wrong: "the shard count must be at least 1") for anything else:
// "0/0", "3/2", "-1/2", "1", "a/b", "1/2/3", "+1/2", " 1/2".
std::optional<ShardSpec> parseShardSpec(const std::string& text, std::string* why = nullptr);
std::string shardName(const ShardSpec& shard);  // "2/4"

// Positions 0..n-1 (of a run's selected records) that belong to `shard`:
// unit u = position / unitSize goes to shard u mod count. Ascending.
std::vector<size_t> shardPositions(size_t n, size_t unitSize, const ShardSpec& shard);

// {"index": K, "count": N}
nlohmann::json shardToJson(const ShardSpec& shard);
// Reads shardToJson's object; nullopt for anything else (a hostile or
// damaged session: negative, K >= N, not integers).
std::optional<ShardSpec> shardFromJson(const nlohmann::json& j);

}  // namespace kme
