#include "engine/eval/EvalMerge.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>

#include "engine/core/Error.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalJson.h"
#include "engine/eval/Shard.h"

namespace kme {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& name, const std::string& what) {
    fail(ErrorKind::Input, name + ": " + what);
}

const json& at(const json& j, const char* key, const std::string& name) {
    const auto it = j.is_object() ? j.find(key) : j.end();
    if (it == j.end()) bad(name, std::string("\"") + key + "\" is missing");
    return *it;
}

size_t sizeAt(const json& j, const char* key, const std::string& name) {
    const json& v = at(j, key, name);
    if (!v.is_number_unsigned()) bad(name, std::string("\"") + key + "\" is not a non-negative integer");
    return v.get<size_t>();
}

// A record's per-record values as recordJson wrote them ("edited" or "baseline").
MetricValues valuesOf(const json& record, const std::string& name) {
    if (!record.is_object()) bad(name, "a record's metrics are not an object");
    MetricValues out;
    std::vector<std::string> names = metricNames();
    names.insert(names.end(), twoHopMetricNames().begin(), twoHopMetricNames().end());
    for (const std::string& metric : names) {
        if (metric == "score") continue;
        const auto it = record.find(metric);
        if (it == record.end() || it->is_null()) {
            out.emplace_back(metric, std::nullopt);
        } else if (it->is_number()) {
            out.emplace_back(metric, it->get<double>());
        } else {
            bad(name, "a record's \"" + metric + "\" is not a number");
        }
    }
    return out;
}

int intOr0(const json& j, const char* key) {
    const auto it = j.is_object() ? j.find(key) : j.end();
    return it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
}

double numberOr0(const json& j, const char* key) {
    const auto it = j.is_object() ? j.find(key) : j.end();
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

json mergeEvalShardResults(const std::vector<json>& shards, const std::vector<std::string>& names) {
    if (shards.empty()) fail(ErrorKind::Input, "no shards to merge");
    if (names.size() != shards.size()) fail(ErrorKind::Internal, "mergeEvalShardResults: one name per shard");
    const int N = static_cast<int>(shards.size());
    const json& first = shards[0];
    const json& selection = at(first, "selection", names[0]);
    const json& indices = at(selection, "indices", names[0]);
    if (!indices.is_array() || indices.empty()) bad(names[0], "\"selection\".\"indices\" is not a list of records");
    const size_t B = sizeAt(first, "batch_size", names[0]);
    if (B < 1) bad(names[0], "\"batch_size\" is 0");
    const json mode = at(first, "mode", names[0]);
    if (mode != "fresh") bad(names[0], "a " + mode.dump() + " run cannot be merged from shards (only fresh runs are split)");
    std::map<size_t, size_t> positionOf;  // dataset index -> position in the selection
    for (size_t p = 0; p < indices.size(); ++p) {
        if (!indices[p].is_number_unsigned()) bad(names[0], "\"selection\".\"indices\" holds a non-index");
        if (!positionOf.emplace(indices[p].get<size_t>(), p).second)
            bad(names[0], "\"selection\".\"indices\" names record " + indices[p].dump() + " twice");
    }
    const bool withBaseline = !at(first, "baseline", names[0]).is_null();

    std::vector<std::pair<size_t, json>> records;  // (position, record)
    std::vector<std::pair<size_t, json>> batches;  // (position of its first record, batch)
    double seconds = 0, editSeconds = 0, metricSeconds = 0;
    int excludedNeighbours = 0, excludedAttributes = 0, excludedPortability = 0;
    for (int k = 0; k < N; ++k) {
        const json& s = shards[k];
        const std::string& name = names[k];
        const auto shard = shardFromJson(at(s, "shard", name));
        if (!shard || shard->index != k || shard->count != N)
            bad(name, "is not shard " + std::to_string(k) + "/" + std::to_string(N) + " (\"shard\" is " +
                          at(s, "shard", name).dump() + ")");
        if (at(s, "cancelled", name) != false) bad(name, "shard " + shardName(*shard) + " was cancelled before it finished");
        if (at(at(s, "selection", name), "indices", name) != indices)
            bad(name, "its run selected other records than " + names[0] + "'s");
        if (sizeAt(s, "batch_size", name) != B || at(s, "mode", name) != mode)
            bad(name, "its batch size or mode differs from " + names[0] + "'s");
        if (at(s, "baseline", name).is_null() == withBaseline)
            bad(name, "measured the unedited model where " + names[0] + " did not, or the other way round");
        const std::vector<size_t> expected = shardPositions(indices.size(), B, *shard);
        const json& recs = at(s, "records", name);
        if (!recs.is_array()) bad(name, "\"records\" is not a list");
        std::vector<size_t> got;
        for (const json& r : recs) {
            const size_t index = sizeAt(r, "index", name);
            const auto p = positionOf.find(index);
            if (p == positionOf.end()) bad(name, "record " + std::to_string(index) + " is not in the run's selection");
            got.push_back(p->second);
            records.emplace_back(p->second, r);
        }
        if (got != expected)
            bad(name, "holds " + std::to_string(got.size()) + " records that are not shard " + shardName(*shard) +
                          "'s share of the " + std::to_string(indices.size()) + " selected (expected " +
                          std::to_string(expected.size()) + ")");
        for (const json& b : at(s, "batches", name)) {
            const json& br = at(b, "records", name);
            if (!br.is_array() || br.empty() || !br[0].is_number_unsigned() || !positionOf.count(br[0].get<size_t>()))
                bad(name, "a batch names no record of the selection");
            batches.emplace_back(positionOf.at(br[0].get<size_t>()), b);
        }
        seconds += numberOr0(s, "seconds");
        editSeconds += numberOr0(s, "edit_seconds");
        metricSeconds += numberOr0(s, "metric_seconds");
        const json& ex = at(s, "excluded", name);
        excludedNeighbours += intOr0(ex, "neighborhood_prompts");
        excludedAttributes += intOr0(ex, "other_attributes");
        excludedPortability += intOr0(ex, "portability_prompts");
    }
    if (records.size() != indices.size())
        fail(ErrorKind::Input, "the shards hold " + std::to_string(records.size()) + " records, the run selected " +
                                   std::to_string(indices.size()));
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::stable_sort(batches.begin(), batches.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    json merged = first;
    merged.erase("shard");
    json recs = json::array();
    std::vector<MetricValues> edited, baseline;
    for (auto& [position, r] : records) {
        r["batch"] = position / B;
        edited.push_back(valuesOf(at(r, "edited", names[0]), names[0]));
        if (withBaseline) baseline.push_back(valuesOf(at(r, "baseline", names[0]), names[0]));
        recs.push_back(std::move(r));
    }
    json means, ci, counts;
    MetricSummary editedSummary = summarizeMetricValues(edited);
    if (withBaseline) addPortabilityUnedited(editedSummary, baseline);
    metricSummaryToJson(editedSummary, means, ci, counts);
    merged["records"] = std::move(recs);
    merged["n_records"] = indices.size();
    merged["metrics"] = means;
    merged["metrics_ci95"] = ci;
    merged["metrics_count"] = counts;
    if (withBaseline) {
        metricSummaryToJson(summarizeMetricValues(baseline), means, ci, counts);
        merged["baseline"] = means;
        merged["baseline_ci95"] = ci;
        if (merged.contains("baseline_count")) merged["baseline_count"] = counts;
    }
    json mergedBatches = json::array();
    for (auto& b : batches) mergedBatches.push_back(std::move(b.second));
    merged["batches"] = std::move(mergedBatches);
    merged["excluded"] = {{"neighborhood_prompts", excludedNeighbours}, {"other_attributes", excludedAttributes}};
    if (excludedPortability > 0) merged["excluded"]["portability_prompts"] = excludedPortability;
    merged["cancelled"] = false;
    merged["seconds"] = seconds;  // compute time of all shards together (not wall time)
    merged["edit_seconds"] = editSeconds;
    merged["metric_seconds"] = metricSeconds;
    merged["merged_shards"] = N;
    return merged;
}

}  // namespace kme
