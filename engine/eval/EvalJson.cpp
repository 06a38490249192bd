#include "engine/eval/EvalJson.h"
#include "engine/edit/methods/MethodTable.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

namespace kme {

namespace {

using json = nlohmann::json;

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json scoreJson(const TargetScore& s) {
    return {{"target", s.target}, {"p", s.prob}, {"nll", s.nll}, {"tokens", s.tokens}, {"tokens_correct", s.tokensCorrect}};
}

json promptsJson(const std::vector<ComparedPrompt>& prompts) {
    json out = json::array();
    for (const auto& p : prompts)
        out.push_back({{"prompt", p.prompt},
                       {"expected", scoreJson(p.expected)},
                       {"other", scoreJson(p.other)},
                       {"success", p.success()},
                       {"magnitude", p.magnitude()}});
    return out;
}

json recordJson(const RecordMetrics& m, bool promptDetails) {
    json j = {{"efficacy_score", opt(m.efficacyScore())},
              {"efficacy_magnitude", opt(m.efficacyMagnitude())},
              {"paraphrase_score", opt(m.paraphraseScore())},
              {"paraphrase_magnitude", opt(m.paraphraseMagnitude())},
              {"neighborhood_score", opt(m.neighborhoodScore())},
              {"neighborhood_magnitude", opt(m.neighborhoodMagnitude())},
              {"fluency", opt(m.fluency())},
              {"other_attributes_score", opt(m.otherAttributesScore())},
              {"other_attributes_accuracy", opt(m.otherAttributesAccuracy())},
              {"efficacy_accuracy", opt(m.efficacyAccuracy())},
              {"paraphrase_accuracy", opt(m.paraphraseAccuracy())},
              {"neighborhood_accuracy", opt(m.neighborhoodAccuracy())},
              {"neighborhood_excluded", m.neighborhoodExcluded},
              {"other_attributes_excluded", m.otherAttributesExcluded}};
    // Only records with two-hop prompts carry portability (absent, not null, otherwise).
    if (!m.portability.empty() || m.portabilityExcluded > 0) {
        j["portability"] = opt(m.portabilityScore());
        j["portability_old_answer"] = opt(m.portabilityOldScore());
        j["portability_excluded"] = m.portabilityExcluded;
    }
    if (promptDetails) {
        j["prompts"] = {{"efficacy", promptsJson(m.efficacy)},
                        {"paraphrase", promptsJson(m.paraphrase)},
                        {"neighborhood", promptsJson(m.neighborhood)},
                        {"other_attributes", promptsJson(m.otherAttributes)}};
        if (!m.portability.empty()) j["prompts"]["portability"] = promptsJson(m.portability);
        j["generations"] = m.generations;
        j["generation_entropy"] = m.generationEntropy;
    }
    return j;
}

// ---------------------------------------------------------------- reading

[[noreturn]] void badRun(const std::string& what) { fail(ErrorKind::Input, "not an evaluation run: " + what); }

const json& member(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) badRun(std::string("\"") + key + "\" is missing");
    return *it;
}

// An integer that fits in int (never truncated: 4294967297 is not 1).
bool isInt(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max());
    if (v.is_number_integer())
        return v.get<int64_t>() >= std::numeric_limits<int>::min() && v.get<int64_t>() <= std::numeric_limits<int>::max();
    return false;
}

template <class T>
T value(const json& j, const char* key) {
    const json& v = member(j, key);
    auto wrong = [&](const char* expected) {
        badRun(std::string("\"") + key + "\" has the wrong type: expected " + expected + ", got " + jsonExcerpt(v, 40));
    };
    if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) wrong("a string");
        return v.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) wrong("true or false");
        return v.get<bool>();
    } else if constexpr (std::is_same_v<T, int>) {
        if (!isInt(v)) wrong("an integer that fits in 32 bits");
        return v.get<int>();
    } else if constexpr (std::is_same_v<T, double>) {
        if (!v.is_number()) wrong("a number");
        return v.get<double>();
    } else {
        static_assert(std::is_same_v<T, std::vector<int>>, "value<T>: unsupported type");
        if (!v.is_array() || !std::all_of(v.begin(), v.end(), isInt)) wrong("a list of integers");
        return v.get<std::vector<int>>();
    }
}

template <class T, class Parse>
T parsed(const json& j, const char* key, Parse parse) {
    const std::string name = value<std::string>(j, key);
    const auto v = parse(name);
    if (!v) badRun(std::string("\"") + key + "\" is " + quoteForMessage(name));
    return *v;
}

// A number or null (0) in an object of statistics.
double numberOr0(const json& object, const std::string& name, const char* key) {
    const auto it = object.find(name);
    if (it == object.end() || it->is_null()) return 0;
    if (!it->is_number()) badRun(std::string("\"") + key + "\"." + name + " is not a number: " + jsonExcerpt(*it, 40));
    return it->get<double>();
}

// The statistics of one summary. `counts` null: each measured value takes
// `fallback`'s count, or `records` where that has none.
MetricSummary summaryFrom(const json& means, const json& ci, const json* counts, const char* meansKey,
                          const char* ciKey, const MetricSummary* fallback, int records) {
    if (!means.is_object()) badRun(std::string("\"") + meansKey + "\" is not an object");
    if (!ci.is_null() && !ci.is_object()) badRun(std::string("\"") + ciKey + "\" is not an object");
    if (counts && !counts->is_object()) badRun("the counts of \"" + std::string(meansKey) + "\" are not an object");
    std::vector<std::string> names = metricNames();
    for (const auto& item : means.items())
        if (std::find(names.begin(), names.end(), item.key()) == names.end()) names.push_back(item.key());
    MetricSummary out;
    for (const std::string& name : names) {
        if (!means.contains(name)) continue;
        MetricStat s;
        const json& mean = means.at(name);
        if (!mean.is_null() && !mean.is_number())
            badRun(std::string("\"") + meansKey + "\"." + name + " is not a number: " + jsonExcerpt(mean, 40));
        if (counts) {
            const auto c = counts->find(name);
            if (c == counts->end() || !isInt(*c) || c->get<int>() < 0)
                badRun(std::string("the count of \"") + meansKey + "\"." + name + " is missing or not an integer");
            s.count = c->get<int>();
        } else if (!mean.is_null()) {
            const MetricStat* f = fallback ? fallback->find(name) : nullptr;
            s.count = f && f->count > 0 ? f->count : records;
        }
        if (s.count > 0) s.mean = mean.is_null() ? 0 : mean.get<double>();
        if (ci.is_object()) s.ci95 = numberOr0(ci, name, ciKey);
        out.values.emplace_back(name, s);
    }
    return out;
}

}  // namespace

// {name: mean | null}, {name: ci95 | null}, {name: count}.
void metricSummaryToJson(const MetricSummary& s, json& means, json& ci, json& counts) {
    means = json::object();
    ci = json::object();
    counts = json::object();
    for (const auto& [name, st] : s.values) {
        means[name] = st.count > 0 ? json(st.mean) : json(nullptr);
        ci[name] = st.count > 1 && name != "score" ? json(st.ci95) : json(nullptr);
        counts[name] = st.count;
    }
    // CLI.md names the two-hop metric `portability_score` (as efficacy_score, ...): the same
    // value under both names.
    if (means.contains("portability") && !means.contains("portability_score")) {
        means["portability_score"] = means["portability"];
        ci["portability_score"] = ci["portability"];
        counts["portability_score"] = counts["portability"];
    }
}

json evalRunToJson(const EvalResult& r, const Dataset& dataset, const EvalParams& p, const EvalRunContext& context,
                   const EvalJsonOptions& options) {
    json records = json::array();
    for (const auto& e : r.records) {
        const FactRecord& f = dataset.records.at(e.datasetIndex);
        json j = {{"index", e.datasetIndex},
                  {"case_id", f.caseId},
                  {"relation_id", f.relationId},
                  {"subject", f.subject},
                  {"prompt", f.prompt},
                  {"target_new", e.edited.targetNew},
                  {"target_true", e.edited.targetTrue},
                  {"batch", e.batch},
                  {"edited", recordJson(e.edited, options.promptDetails)}};
        if (p.baseline) j["baseline"] = recordJson(e.baseline, options.promptDetails);
        if (r.mode == EvalMode::Sequential) j["efficacy_at_edit"] = opt(e.efficacyAtEdit);
        records.push_back(std::move(j));
    }
    json metrics, metricsCi, metricsCount, baseline, baselineCi, baselineCount;
    metricSummaryToJson(r.edited, metrics, metricsCi, metricsCount);
    if (p.baseline) metricSummaryToJson(r.baseline, baseline, baselineCi, baselineCount);
    json batches = json::array();
    for (const auto& b : r.batches)
        batches.push_back({{"records", b.datasetIndices}, {"layers", b.layers}, {"seconds", b.seconds}, {"delta_norm", b.deltaNorm}});
    int excludedNeighbours = 0, excludedAttributes = 0, excludedPortability = 0;
    for (const auto& e : r.records) {
        excludedNeighbours += e.edited.neighborhoodExcluded;
        excludedAttributes += e.edited.otherAttributesExcluded;
        excludedPortability += e.edited.portabilityExcluded;
    }
    json excluded = {{"neighborhood_prompts", excludedNeighbours}, {"other_attributes", excludedAttributes}};
    if (excludedPortability > 0) excluded["portability_prompts"] = excludedPortability;
    const SelectionParams& sel = context.selection;
    json j = {{"dataset", context.dataset},
              {"schema", dataset.schema == DatasetSchema::Zsre ? "zsre" : "counterfact"},
              {"metric_set", metricSetName(r.metrics)},
              {"method", editMethodName(r.method)},
              {"layers", r.layers},
              {"mode", evalModeName(r.mode)},
              {"batch_size", r.batchSize},
              {"selection",
               {{"how", recordSelectionName(sel.how)}, {"limit", sel.limit}, {"seed", sel.seed}, {"indices", context.indices}}},
              {"n_records", r.records.size()},
              {"records", records},
              {"metrics", metrics},
              {"metrics_ci95", metricsCi},
              {"metrics_count", metricsCount},
              {"baseline", p.baseline ? baseline : json(nullptr)},
              {"baseline_ci95", p.baseline ? baselineCi : json(nullptr)},
              {"excluded", excluded},
              {"batches", batches},
              {"hparams", json::parse(hparamsToJson(r.hparams, r.method))},
              {"mom2", p.edit.hparams.mom2Adjustment && methodInfo(r.method).needsKeyStatistics},
              {"generation",
               {{"enabled", p.generation.enabled && r.metrics == MetricSet::CounterFact},
                {"max_length", std::min(p.generation.maxLength, context.modelContext)},
                {"top_k", p.generation.topK},
                {"seed", p.generation.seed}}},
              {"model", {{"path", context.modelPath}, {"weights_hash", context.weightsHash}}},
              {"cancelled", r.cancelled},
              {"seconds", r.seconds},
              {"edit_seconds", r.editSeconds},
              {"metric_seconds", r.metricSeconds}};
    if (!p.edit.statsLabel.empty()) j["stats_corpus"] = p.edit.statsLabel;
    if (r.preservation)
        j["key_preservation"] = {{"layers", r.preservation->layers},
                                 {"tokens", r.preservation->tokens},
                                 {"relative_change_per_layer", r.preservation->perLayer},
                                 {"relative_change", r.preservation->mean}};
    if (options.baselineCounts) j["baseline_count"] = p.baseline ? baselineCount : json(nullptr);
    return j;
}

EvalRunSummary evalRunSummaryFromJson(const json& j) {
    if (!j.is_object()) badRun("not a JSON object");
    EvalRunSummary s;
    s.dataset = value<std::string>(j, "dataset");
    s.method = parsed<EditMethod>(j, "method", parseEditMethod);
    s.mode = parsed<EvalMode>(j, "mode", [](const std::string& m) -> std::optional<EvalMode> {
        if (m == evalModeName(EvalMode::Fresh)) return EvalMode::Fresh;
        if (m == evalModeName(EvalMode::Sequential)) return EvalMode::Sequential;
        return std::nullopt;
    });
    s.batchSize = value<int>(j, "batch_size");
    s.metrics = parsed<MetricSet>(j, "metric_set", parseMetricSet);
    s.layers = value<std::vector<int>>(j, "layers");
    const json& sel = member(j, "selection");
    if (!sel.is_object()) badRun("\"selection\" is not an object");
    s.selection = parsed<RecordSelection>(sel, "how", parseRecordSelection);
    s.limit = value<int>(sel, "limit");
    s.recordCount = value<int>(j, "n_records");
    s.edited = summaryFrom(member(j, "metrics"), member(j, "metrics_ci95"), &member(j, "metrics_count"), "metrics",
                           "metrics_ci95", nullptr, s.recordCount);
    const json& baseline = member(j, "baseline");
    if (!baseline.is_null()) {
        const auto counts = j.find("baseline_count");
        const json* c = counts != j.end() && !counts->is_null() ? &*counts : nullptr;
        const auto ci = j.find("baseline_ci95");
        s.baseline = summaryFrom(baseline, ci != j.end() ? *ci : json(), c, "baseline", "baseline_ci95", &s.edited,
                                 s.recordCount);
    }
    const json& excluded = member(j, "excluded");
    if (!excluded.is_object()) badRun("\"excluded\" is not an object");
    s.neighborhoodExcluded = value<int>(excluded, "neighborhood_prompts");
    s.otherAttributesExcluded = value<int>(excluded, "other_attributes");
    const json& model = member(j, "model");
    if (!model.is_object()) badRun("\"model\" is not an object");
    s.weightsHash = value<std::string>(model, "weights_hash");
    if (j.contains("stats_corpus")) s.statsCorpus = value<std::string>(j, "stats_corpus");
    s.mom2 = value<bool>(j, "mom2");
    s.cancelled = value<bool>(j, "cancelled");
    s.seconds = value<double>(j, "seconds");
    s.editSeconds = value<double>(j, "edit_seconds");
    s.metricSeconds = value<double>(j, "metric_seconds");
    return s;
}

EvalRunSummary evalRunSummaryFromJson(const std::string& text) {
    json j;
    try {
        j = parseJson(text, "the run");
    } catch (const Error& e) {
        badRun(std::string("invalid JSON (") + e.what() + ")");
    }
    return evalRunSummaryFromJson(j);
}

}  // namespace kme
