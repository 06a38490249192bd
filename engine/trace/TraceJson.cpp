#include "engine/trace/TraceJson.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <vector>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

namespace kme {

using json = nlohmann::json;

namespace {

// The shortest decimal that reads back as exactly `v`.
std::string shortest(double v) {
    char buf[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

json matrixJson(const std::vector<std::vector<double>>& rows) {
    json out = json::array();
    for (const auto& row : rows) {
        json r = json::array();
        for (double v : row) r.push_back(std::isnan(v) ? json(nullptr) : json(v));
        out.push_back(std::move(r));
    }
    return out;
}

// j[key] as T, or an error naming the key.
// An integer that fits in int: never truncated (4294967297 is not 1).
bool fitsInt(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max());
    if (v.is_number_integer())
        return v.get<int64_t>() >= std::numeric_limits<int>::min() && v.get<int64_t>() <= std::numeric_limits<int>::max();
    return false;
}

template <class T>
T need(const json& j, const char* key, const std::string& what) {
    if (!j.is_object() || !j.contains(key)) fail(ErrorKind::Format, what + ": missing key '" + key + "'");
    const json& v = j.at(key);
    auto wrong = [&](const char* expected) {
        fail(ErrorKind::Format, what + ": key '" + std::string(key) + "' must be " + expected + ", got " +
                                    jsonExcerpt(v, 40));
    };
    if constexpr (std::is_same_v<T, int>) {
        if (!fitsInt(v)) wrong("an integer that fits in 32 bits");
    } else if constexpr (std::is_same_v<T, uint64_t>) {
        if (!v.is_number_unsigned()) wrong("a non-negative integer");
    } else if constexpr (std::is_same_v<T, std::vector<int>>) {
        if (!v.is_array() || !std::all_of(v.begin(), v.end(), fitsInt)) wrong("a list of 32-bit integers");
    }
    try {
        return v.get<T>();
    } catch (const json::exception&) {
        fail(ErrorKind::Format, what + ": key '" + std::string(key) + "' has the wrong type");
    }
}

template <class T>
T optional(const json& j, const char* key, const T& fallback, const std::string& what) {
    if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return fallback;
    return need<T>(j, key, what);
}

TraceKind kindNamed(const std::string& name, const std::string& what) {
    const auto k = parseTraceKind(name);
    if (!k) fail(ErrorKind::Format, what + ": unknown trace kind " + quoteForMessage(name));
    return *k;
}

// [rows][cols] numbers (null = NaN), checked against the expected shape.
std::vector<std::vector<double>> matrixFrom(const json& j, size_t rows, size_t cols, const std::string& what) {
    if (!j.is_array() || j.size() != rows)
        fail(ErrorKind::Format, what + ": expected " + std::to_string(rows) + " rows");
    std::vector<std::vector<double>> out;
    for (const json& row : j) {
        if (!row.is_array() || row.size() != cols)
            fail(ErrorKind::Format, what + ": expected " + std::to_string(cols) + " values per row");
        std::vector<double> r;
        for (const json& v : row) {
            if (v.is_null()) r.push_back(std::numeric_limits<double>::quiet_NaN());
            else if (v.is_number()) r.push_back(v.get<double>());
            else fail(ErrorKind::Format, what + ": values must be numbers or null");
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::vector<int>> intMatrixFrom(const json& j, size_t rows, size_t cols, const std::string& what) {
    std::vector<std::vector<int>> out;
    for (const auto& row : matrixFrom(j, rows, cols, what)) {
        std::vector<int> r;
        for (double v : row) {
            if (!(v >= 0) || v != std::floor(v)) fail(ErrorKind::Format, what + ": counts must be whole numbers");
            r.push_back(static_cast<int>(v));
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

const char* traceStrategyName(TraceStrategy strategy) {
    return strategy == TraceStrategy::Reference ? "reference" : "fast";
}

std::string formatNoiseSpec(const NoiseSpec& noise) { return shortest(noise.value) + (noise.multiple ? "x" : ""); }

json traceParamsToJson(const TraceParams& p) {
    json kinds = json::array();
    for (TraceKind k : p.kinds) kinds.push_back(traceKindName(k));
    json j = {{"prompt", p.prompt},
              {"subject", p.subject},
              {"answer", p.answer},
              {"kinds", kinds},
              {"samples", p.samples},
              {"noise", formatNoiseSpec(p.noise)},
              {"facts", p.noise.factsPath},
              {"window", p.window},
              {"seed", p.seed},
              {"strategy", traceStrategyName(p.strategy)}};
    if (!p.noiseIn.empty()) j["noise_in"] = p.noiseIn;
    if (!p.noiseOut.empty()) j["noise_out"] = p.noiseOut;
    if (!p.ids.empty()) {
        j["ids"] = p.ids;
        j["subject_range"] = {p.subjectBegin, p.subjectEnd};
    }
    return j;
}

TraceParams traceParamsFromJson(const json& j) {
    const std::string what = "trace request JSON";
    if (!j.is_object()) fail(ErrorKind::Format, what + ": expected an object");
    TraceParams p;
    p.prompt = optional<std::string>(j, "prompt", p.prompt, what);
    p.subject = optional<std::string>(j, "subject", p.subject, what);
    p.answer = optional<std::string>(j, "answer", p.answer, what);
    if (j.contains("kinds")) {
        p.kinds.clear();
        for (const auto& name : need<std::vector<std::string>>(j, "kinds", what)) p.kinds.push_back(kindNamed(name, what));
    }
    p.samples = optional<int>(j, "samples", p.samples, what);
    if (j.contains("noise")) {
        try {
            p.noise = parseNoiseSpec(need<std::string>(j, "noise", what));
        } catch (const Error& e) {
            fail(ErrorKind::Format, what + ": key 'noise': " + e.what());
        }
    }
    p.noise.factsPath = optional<std::string>(j, "facts", p.noise.factsPath, what);
    p.window = optional<int>(j, "window", p.window, what);
    p.seed = optional<uint64_t>(j, "seed", p.seed, what);
    const std::string strategy = optional<std::string>(j, "strategy", "fast", what);
    if (strategy != "fast" && strategy != "reference")
        fail(ErrorKind::Format, what + ": key 'strategy' must be fast or reference");
    p.strategy = strategy == "reference" ? TraceStrategy::Reference : TraceStrategy::Fast;
    p.noiseIn = optional<std::string>(j, "noise_in", p.noiseIn, what);
    p.noiseOut = optional<std::string>(j, "noise_out", p.noiseOut, what);
    p.ids = optional<std::vector<int>>(j, "ids", p.ids, what);
    if (j.contains("subject_range")) {
        const auto range = need<std::vector<int>>(j, "subject_range", what);
        if (range.size() != 2) fail(ErrorKind::Format, what + ": key 'subject_range' must be [begin, end]");
        p.subjectBegin = range[0];
        p.subjectEnd = range[1];
    }
    return p;
}

json traceResultToJson(const TraceResult& r) {
    json kinds = json::array(), scores = json::object(), rowsDone = json::object();
    for (TraceKind k : r.kinds) kinds.push_back(traceKindName(k));
    for (const auto& [kind, rows] : r.scores) scores[traceKindName(kind)] = matrixJson(rows);
    for (const auto& [kind, n] : r.rowsDone) rowsDone[traceKindName(kind)] = n;
    return {{"tokens", r.tokens},
            {"ids", r.ids},
            {"subject_range", {r.subjectBegin, r.subjectEnd}},
            {"answer", {{"id", r.answerId}, {"token", r.answerToken}}},
            {"high_score", r.highScore},
            {"low_score", r.lowScore},
            {"sigma", r.sigma},
            {"sigma_source", r.sigmaSource},
            {"samples", r.samples},
            {"window", r.window},
            {"seed", r.seed},
            {"strategy", traceStrategyName(r.strategy)},
            {"seconds", r.seconds},
            {"flops", r.flops},
            {"n_layer", r.nLayer},
            {"kinds", kinds},
            {"rows_done", rowsDone},
            {"scores", scores}};
}

TraceResult traceResultFromJson(const json& j) {
    const std::string what = "trace result JSON";
    if (!j.is_object()) fail(ErrorKind::Format, what + ": expected an object");
    TraceResult r;
    r.tokens = need<std::vector<std::string>>(j, "tokens", what);
    r.ids = need<std::vector<int>>(j, "ids", what);
    if (r.ids.size() != r.tokens.size()) fail(ErrorKind::Format, what + ": 'ids' and 'tokens' differ in length");
    const auto range = need<std::vector<int>>(j, "subject_range", what);
    if (range.size() != 2 || range[0] < 0 || range[1] <= range[0] || range[1] > static_cast<int>(r.tokens.size()))
        fail(ErrorKind::Format, what + ": 'subject_range' must be [begin, end) within the tokens");
    r.subjectBegin = range[0];
    r.subjectEnd = range[1];
    const json answer = need<json>(j, "answer", what);
    r.answerId = need<int>(answer, "id", what + " answer");
    r.answerToken = need<std::string>(answer, "token", what + " answer");
    r.highScore = need<double>(j, "high_score", what);
    r.lowScore = need<double>(j, "low_score", what);
    r.sigma = optional<double>(j, "sigma", 0.0, what);
    r.sigmaSource = optional<std::string>(j, "sigma_source", "", what);
    r.samples = optional<int>(j, "samples", 0, what);
    r.window = optional<int>(j, "window", 0, what);
    r.seed = optional<uint64_t>(j, "seed", 0, what);
    r.strategy = optional<std::string>(j, "strategy", "fast", what) == "reference" ? TraceStrategy::Reference
                                                                                   : TraceStrategy::Fast;
    r.seconds = optional<double>(j, "seconds", 0.0, what);
    r.flops = optional<double>(j, "flops", 0.0, what);
    const json scores = need<json>(j, "scores", what);
    if (!scores.is_object() || scores.empty()) fail(ErrorKind::Format, what + ": 'scores' must name at least one kind");
    // n_layer: written by traceResultToJson; `kme trace` output of older builds lacks it.
    r.nLayer = optional<int>(j, "n_layer", -1, what);
    if (r.nLayer < 0) {
        const json& first = scores.begin().value();
        r.nLayer = first.is_array() && !first.empty() && first[0].is_array() ? static_cast<int>(first[0].size()) : 0;
    }
    if (r.nLayer <= 0) fail(ErrorKind::Format, what + ": no layers");
    for (auto it = scores.begin(); it != scores.end(); ++it) {
        const TraceKind k = kindNamed(it.key(), what);
        r.scores[k] = matrixFrom(it.value(), r.tokens.size(), r.nLayer, what + " scores." + it.key());
    }
    if (j.contains("kinds")) {
        for (const auto& name : need<std::vector<std::string>>(j, "kinds", what)) r.kinds.push_back(kindNamed(name, what));
    } else {
        for (const auto& entry : r.scores) r.kinds.push_back(entry.first);
    }
    for (TraceKind k : r.kinds) {
        if (!r.scores.count(k)) fail(ErrorKind::Format, what + ": no scores for kind '" + traceKindName(k) + "'");
        int done = static_cast<int>(r.tokens.size());
        if (j.contains("rows_done")) done = optional<int>(need<json>(j, "rows_done", what), traceKindName(k), done, what);
        r.rowsDone[k] = done;
    }
    return r;
}

json traceDatasetRecordsToJson(const TraceDatasetResult& r) {
    json out = json::array();
    for (const auto& rec : r.perRecord) {
        json effects = json::object();
        for (const auto& [kind, rows] : rec.effects) effects[traceKindName(kind)] = matrixJson(rows);
        out.push_back({{"index", rec.datasetIndex}, {"high_score", rec.high}, {"low_score", rec.low}, {"effects", effects}});
    }
    return out;
}

void traceDatasetRecordsFromJson(const json& list, TraceDatasetResult& r) {
    const std::string what = "trace-dataset per_record";
    if (!list.is_array()) fail(ErrorKind::Format, what + ": expected a list");
    r.perRecord.clear();
    for (const json& item : list) {
        TraceDatasetRecord rec;
        rec.datasetIndex = static_cast<size_t>(need<uint64_t>(item, "index", what));
        rec.high = need<double>(item, "high_score", what);
        rec.low = need<double>(item, "low_score", what);
        const json effects = need<json>(item, "effects", what);
        if (!effects.is_object()) fail(ErrorKind::Format, what + ": 'effects' must be an object");
        for (auto it = effects.begin(); it != effects.end(); ++it)
            rec.effects[kindNamed(it.key(), what)] =
                matrixFrom(it.value(), r.buckets.size(), static_cast<size_t>(r.nLayer), what + " effects." + it.key());
        r.perRecord.push_back(std::move(rec));
    }
}

json traceDatasetResultToJson(const TraceDatasetResult& r) {
    json kinds = json::object(), ci = json::object(), counts = json::object(), order = json::array();
    for (const auto& [kind, rows] : r.mean) {
        kinds[traceKindName(kind)] = rows;
        if (r.ci95.count(kind)) ci[traceKindName(kind)] = r.ci95.at(kind);
        if (r.count.count(kind)) counts[traceKindName(kind)] = r.count.at(kind);
    }
    for (TraceKind k : r.kinds) order.push_back(traceKindName(k));
    return {{"buckets", r.buckets},
            {"kinds", kinds},
            {"ci95", ci},
            {"counts", counts},
            {"kind_order", order},
            {"n_layer", r.nLayer},
            {"window", r.window},
            {"samples", r.samples},
            {"sigma", r.sigma},
            {"sigma_source", r.sigmaSource},
            {"records_limit", r.limit},
            {"records_considered", r.considered},
            {"records_traced", r.traced},
            {"records_skipped", r.skipped},
            {"mean_high_score", r.meanHigh},
            {"mean_low_score", r.meanLow},
            {"total_effect", r.meanHigh - r.meanLow},
            {"seconds", r.seconds},
            {"complete", r.complete}};
}

TraceDatasetResult traceDatasetResultFromJson(const json& j) {
    const std::string what = "trace-dataset JSON";
    if (!j.is_object()) fail(ErrorKind::Format, what + ": expected an object");
    TraceDatasetResult r;
    r.buckets = need<std::vector<std::string>>(j, "buckets", what);
    r.nLayer = need<int>(j, "n_layer", what);
    if (r.buckets.empty() || r.nLayer <= 0) fail(ErrorKind::Format, what + ": no buckets or no layers");
    const json kinds = need<json>(j, "kinds", what);
    const json ci = need<json>(j, "ci95", what);
    const json counts = need<json>(j, "counts", what);
    if (!kinds.is_object()) fail(ErrorKind::Format, what + ": 'kinds' must be an object");
    for (auto it = kinds.begin(); it != kinds.end(); ++it) {
        const TraceKind k = kindNamed(it.key(), what);
        const size_t B = r.buckets.size(), L = static_cast<size_t>(r.nLayer);
        r.mean[k] = matrixFrom(it.value(), B, L, what + " kinds." + it.key());
        if (!ci.contains(it.key()) || !counts.contains(it.key()))
            fail(ErrorKind::Format, what + ": 'ci95' and 'counts' need kind '" + it.key() + "'");
        r.ci95[k] = matrixFrom(ci.at(it.key()), B, L, what + " ci95." + it.key());
        r.count[k] = intMatrixFrom(counts.at(it.key()), B, L, what + " counts." + it.key());
    }
    if (j.contains("kind_order")) {
        for (const auto& name : need<std::vector<std::string>>(j, "kind_order", what)) {
            const TraceKind k = kindNamed(name, what);
            if (!r.mean.count(k)) fail(ErrorKind::Format, what + ": 'kind_order' names a kind without values");
            r.kinds.push_back(k);
        }
    } else {
        for (const auto& entry : r.mean) r.kinds.push_back(entry.first);
    }
    r.window = optional<int>(j, "window", 0, what);
    r.samples = optional<int>(j, "samples", 0, what);
    r.sigma = optional<double>(j, "sigma", 0.0, what);
    r.sigmaSource = optional<std::string>(j, "sigma_source", "", what);
    r.limit = optional<int>(j, "records_limit", 0, what);
    r.considered = optional<int>(j, "records_considered", 0, what);
    r.traced = optional<int>(j, "records_traced", 0, what);
    r.skipped = optional<int>(j, "records_skipped", 0, what);
    r.meanHigh = optional<double>(j, "mean_high_score", 0.0, what);
    r.meanLow = optional<double>(j, "mean_low_score", 0.0, what);
    r.seconds = optional<double>(j, "seconds", 0.0, what);
    r.complete = optional<bool>(j, "complete", true, what);
    if (j.contains("per_record")) traceDatasetRecordsFromJson(j.at("per_record"), r);
    return r;
}

}  // namespace kme
