#include "engine/eval/EditEvaluation.h"
#include "engine/edit/EditProblem.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>

#include "engine/core/Error.h"
#include "engine/edit/EditRequest.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"

namespace kme {

// ---------------------------------------------------------------- selection

const char* recordSelectionName(RecordSelection s) {
    switch (s) {
    case RecordSelection::First: return "first";
    case RecordSelection::Spread: return "spread";
    case RecordSelection::Random: return "random";
    }
    return "?";
}

std::optional<RecordSelection> parseRecordSelection(const std::string& name) {
    if (name == "first") return RecordSelection::First;
    if (name == "spread") return RecordSelection::Spread;
    if (name == "random") return RecordSelection::Random;
    return std::nullopt;
}

std::vector<size_t> selectRecords(const Dataset& dataset, const SelectionParams& params) {
    const size_t size = dataset.records.size();
    if (size == 0) fail(ErrorKind::Input, dataset.source + ": the fact set has no records");
    if (params.limit < 0) fail(ErrorKind::Input, "the record limit must not be negative");
    if (static_cast<size_t>(params.limit) > size)
        fail(ErrorKind::Input, "limit " + std::to_string(params.limit) + " exceeds the " + std::to_string(size) +
                                   " records of " + dataset.source);
    const size_t n = params.limit == 0 ? size : static_cast<size_t>(params.limit);
    std::vector<size_t> out;
    switch (params.how) {
    case RecordSelection::First:
        for (size_t i = 0; i < n; ++i) out.push_back(i);
        break;
    case RecordSelection::Spread:
        for (size_t i = 0; i < n; ++i) out.push_back(i * size / n);
        break;
    case RecordSelection::Random: {
        std::vector<size_t> all(size);
        std::iota(all.begin(), all.end(), size_t(0));
        std::mt19937_64 rng(params.seed);
        // Partial Fisher-Yates with our own index draw (std::shuffle's
        // distribution differs between standard libraries).
        for (size_t i = 0; i < n; ++i) {
            const size_t j = i + static_cast<size_t>(rng() % (size - i));
            std::swap(all[i], all[j]);
        }
        out.assign(all.begin(), all.begin() + static_cast<long>(n));
        std::sort(out.begin(), out.end());
        break;
    }
    }
    return out;
}

const char* evalModeName(EvalMode mode) { return mode == EvalMode::Fresh ? "fresh" : "sequential"; }

// ---------------------------------------------------------------- summaries

const MetricStat* MetricSummary::find(const std::string& name) const {
    for (const auto& [n, s] : values)
        if (n == name) return &s;
    return nullptr;
}

const std::vector<std::string>& metricNames() {
    static const std::vector<std::string> names = {
        "efficacy_score",         "efficacy_magnitude",        "paraphrase_score",  "paraphrase_magnitude",
        "neighborhood_score",     "neighborhood_magnitude",    "score",             "fluency",
        "other_attributes_score", "other_attributes_accuracy", "efficacy_accuracy", "paraphrase_accuracy",
        "neighborhood_accuracy"};
    return names;
}

namespace {

MetricStat statOf(const std::vector<double>& v) {
    MetricStat s;
    s.count = static_cast<int>(v.size());
    if (v.empty()) return s;
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    if (v.size() > 1) {
        double ss = 0;
        for (double x : v) ss += (x - s.mean) * (x - s.mean);
        const double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
        s.ci95 = 1.96 * sd / std::sqrt(static_cast<double>(v.size()));
    }
    return s;
}

using Getter = std::optional<double> (RecordMetrics::*)() const;

// The measured values of one metric over records (not-measured ones left out).
std::vector<double> measured(const std::vector<MetricValues>& records, const std::string& name) {
    std::vector<double> v;
    for (const auto& r : records)
        for (const auto& [n, x] : r)
            if (n == name) {
                if (x) v.push_back(*x);
                break;
            }
    return v;
}

}  // namespace

const std::vector<std::string>& twoHopMetricNames() {
    static const std::vector<std::string> names = {"portability", "portability_old_answer"};
    return names;
}

MetricValues metricValuesOf(const RecordMetrics& r) {
    const std::vector<std::pair<std::string, Getter>> getters = {
        {"efficacy_score", &RecordMetrics::efficacyScore},
        {"efficacy_magnitude", &RecordMetrics::efficacyMagnitude},
        {"paraphrase_score", &RecordMetrics::paraphraseScore},
        {"paraphrase_magnitude", &RecordMetrics::paraphraseMagnitude},
        {"neighborhood_score", &RecordMetrics::neighborhoodScore},
        {"neighborhood_magnitude", &RecordMetrics::neighborhoodMagnitude},
        {"fluency", &RecordMetrics::fluency},
        {"other_attributes_score", &RecordMetrics::otherAttributesScore},
        {"other_attributes_accuracy", &RecordMetrics::otherAttributesAccuracy},
        {"efficacy_accuracy", &RecordMetrics::efficacyAccuracy},
        {"paraphrase_accuracy", &RecordMetrics::paraphraseAccuracy},
        {"neighborhood_accuracy", &RecordMetrics::neighborhoodAccuracy}};
    MetricValues out;
    for (const auto& [name, get] : getters) out.emplace_back(name, (r.*get)());
    for (const std::string& name : twoHopMetricNames())
        out.emplace_back(name, name == "portability" ? r.portabilityScore() : r.portabilityOldScore());
    return out;
}

MetricSummary summarizeMetrics(const std::vector<RecordMetrics>& records,
                               const std::vector<std::optional<double>>& efficacyAtEdit) {
    std::vector<MetricValues> values;
    values.reserve(records.size());
    for (const auto& r : records) values.push_back(metricValuesOf(r));
    return summarizeMetricValues(values, efficacyAtEdit);
}

MetricSummary summarizeMetricValues(const std::vector<MetricValues>& records,
                                    const std::vector<std::optional<double>>& efficacyAtEdit) {
    MetricSummary out;
    for (const std::string& name : metricNames()) {
        if (name == "score") {
            out.values.emplace_back(name, MetricStat{});
            continue;
        }
        out.values.emplace_back(name, statOf(measured(records, name)));
    }
    // The score: the harmonic mean of the three mean scores, as kmeng01/memit's
    // experiments/summarize.py (a version of kmeng01/rome's used paraphrase and
    // neighbourhood only).
    std::vector<double> parts;
    int count = 0;
    for (const char* name : {"efficacy_score", "paraphrase_score", "neighborhood_score"}) {
        const MetricStat* s = out.find(name);
        if (s->count == 0) continue;
        parts.push_back(s->mean);
        count = count == 0 ? s->count : std::min(count, s->count);
    }
    for (auto& [name, s] : out.values)
        if (name == "score" && !parts.empty()) {
            s.mean = *harmonicMean(parts);
            s.count = count;
        }
    if (!efficacyAtEdit.empty()) {
        std::vector<double> v;
        for (const auto& x : efficacyAtEdit)
            if (x) v.push_back(*x);
        out.values.emplace_back("efficacy_at_edit_score", statOf(v));
    }
    // Portability only where records carry two-hop prompts (absent, not 0, otherwise).
    const std::vector<double> portability = measured(records, "portability");
    if (!portability.empty()) out.values.emplace_back("portability", statOf(portability));
    return out;
}

void addPortabilityUnedited(MetricSummary& summary, const std::vector<MetricValues>& unedited) {
    const std::vector<double> v = measured(unedited, "portability_old_answer");
    if (!v.empty()) summary.values.emplace_back("portability_unedited", statOf(v));
}

// ---------------------------------------------------------------- the run

namespace {

// Reverts every applied edit when the run ends, however it ends.
struct RevertOnExit {
    EditStack& stack;
    ~RevertOnExit() {
        try {
            stack.revertAll();
        } catch (...) {
        }
    }
};

// Work units for progress: an edit is worth several measurements.
constexpr double kEditUnits = 4;

class WorkMeter {
public:
    WorkMeter(const ProgressFn& fn, double total) : fn_(fn), total_(total) {}
    void step(double units) {
        done_ += units;
        if (!reportProgress(fn_, std::min(done_, total_), total_)) throw Cancelled();
    }
    // A callback for a sub-job worth `units`.
    ProgressFn sub(double units) {
        const double start = done_;
        return [this, start, units](double done, double total) {
            const double f = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
            return reportProgress(fn_, std::min(start + f * units, total_), total_);
        };
    }

private:
    const ProgressFn& fn_;
    double total_, done_ = 0;
};

double deltaNorm(const WeightDelta& d) {
    double ss = 0;
    for (const auto& p : d.parts) ss += p.norm() * p.norm();
    return std::sqrt(ss);
}

CoEdited coEditedOf(const Dataset& dataset, const std::vector<size_t>& indices) {
    CoEdited c;
    for (size_t i : indices) {
        const FactRecord& r = dataset.records[i];
        c.prompts.push_back(r.filledPrompt());
        c.prompts.insert(c.prompts.end(), r.paraphrasePrompts.begin(), r.paraphrasePrompts.end());
        if (!r.relationId.empty()) c.subjectRelations.emplace_back(r.subject, r.relationId);
    }
    return c;
}

}  // namespace

EvalResult evaluateEdits(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                         const EvalParams& params, const ProgressFn& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    EvalResult result;
    result.mode = params.mode;
    result.method = params.edit.method;
    result.batchSize = params.batchSize;
    result.metrics = resolveMetricSet(params.metrics, dataset);
    if (indices.empty()) fail(ErrorKind::Input, "no records to evaluate");
    if (params.batchSize < 1) fail(ErrorKind::Input, "the batch size must be at least 1");
    std::vector<FactRecord> selected;
    for (size_t i : indices) {
        if (i >= dataset.records.size())
            fail(ErrorKind::Input, "record index " + std::to_string(i) + " is past the end of " + dataset.source);
        selected.push_back(dataset.records[i]);
    }
    validateForMetrics(selected, result.metrics, dataset.source);
    // Everything the edits need, checked before any work.
    std::vector<EditRequest> requests;
    for (size_t k = 0; k < selected.size(); ++k) {
        requests.push_back(normalizedRequest(requestFromFact(selected[k])));
        try {
            validateRequest(model, requests.back());
        } catch (const Error& e) {
            fail(e.kind(), dataset.source + ": record " + std::to_string(indices[k]) + ": " + e.what());
        }
    }
    const bool takesLayers = methodInfo(params.edit.method).layers != LayerShape::None;
    if (takesLayers && params.edit.hparams.layers.empty())
        fail(ErrorKind::Input, std::string("no default ") + editMethodName(params.edit.method) +
                                   " layer for this model: choose the layer(s) to edit");
    if (takesLayers) validateLayers(model, params.edit.hparams.layers);
    if (!params.checkpoints.empty()) {
        if (params.mode != EvalMode::Sequential)
            fail(ErrorKind::Input, "retention checkpoints need a sequential run (each record measured after later edits)");
        for (size_t i = 0; i < params.checkpoints.size(); ++i) {
            const int k = params.checkpoints[i];
            if (k < 1 || static_cast<size_t>(k) > selected.size())
                fail(ErrorKind::Input, "retention checkpoint " + std::to_string(k) + " is outside 1.." +
                                           std::to_string(selected.size()) + " (the records evaluated)");
            if (i > 0 && k <= params.checkpoints[i - 1])
                fail(ErrorKind::Input, "retention checkpoints must be ascending, got " + std::to_string(k) + " after " +
                                           std::to_string(params.checkpoints[i - 1]));
        }
    }
    if (methodInfo(params.edit.method).needsKeyStatistics && params.edit.hparams.mom2Adjustment &&
        params.edit.statsTexts.empty())
        failEdit(EditProblem::NoStatsCorpus, std::string(methodInfo(params.edit.method).displayName) +
                                                 ": key statistics need a text corpus, and none was given",
                 methodInfo(params.edit.method).name);

    // Batches of consecutive selected records.
    std::vector<std::vector<size_t>> batches;  // positions in `selected`
    for (size_t k = 0; k < selected.size(); k += static_cast<size_t>(params.batchSize)) {
        std::vector<size_t> b;
        for (size_t j = k; j < std::min(selected.size(), k + static_cast<size_t>(params.batchSize)); ++j) b.push_back(j);
        batches.push_back(b);
    }
    // As kmeng01/rome: the context templates and the key statistics come from
    // the unedited model, also for sequential edits (computed once; without
    // this every edit of a sequential run would recompute both).
    EditParams editBase = params.edit;
    if (findHparam(editBase.method, "context_templates") && editBase.contextTemplates.empty())
        editBase.contextTemplates = contextTemplates(model, editBase.hparams, editBase.seed);
    if (editBase.statsModelKey.empty()) editBase.statsModelKey = model.weightsHash();

    const double n = static_cast<double>(selected.size());
    double checkpointUnits = 0;  // records measured at checkpoints (at most one measurement per batch end)
    {
        size_t next = 0;
        for (const auto& batch : batches) {
            const int edited = static_cast<int>(batch.back() + 1);
            bool hit = false;
            while (next < params.checkpoints.size() && params.checkpoints[next] <= edited) hit = true, ++next;
            if (hit) checkpointUnits += edited;
        }
    }
    WorkMeter meter(progress, (params.baseline ? n : 0) + n * kEditUnits + n + checkpointUnits);
    size_t nextCheckpoint = 0;

    std::vector<RecordEvaluation> evals(selected.size());
    std::vector<bool> done(selected.size(), false);
    std::unique_ptr<KeyPreservationProbe> probe;
    if (params.mode == EvalMode::Sequential && params.preservationTokens > 0 &&
        methodInfo(editBase.method).payload == PayloadKind::Weights && !editBase.statsTexts.empty() &&
        !editBase.hparams.layers.empty())
        probe = std::make_unique<KeyPreservationProbe>(model, editBase.hparams.layers, editBase.statsTexts,
                                                       params.preservationTokens);
    EditStack stack(model);
    RevertOnExit revert{stack};
    try {
        if (params.baseline) {
            const auto tm = std::chrono::steady_clock::now();
            for (size_t k = 0; k < selected.size(); ++k) {
                evals[k].baseline = computeRecordMetrics(model, selected[k], result.metrics, params.generation,
                                                         static_cast<int>(indices[k]));
                meter.step(1);
            }
            result.metricSeconds += since(tm);
        }
        for (size_t b = 0; b < batches.size(); ++b) {
            EditParams ep = editBase;
            ep.requests.clear();
            ep.preservedKeys = stack.writtenKeys();  // AlphaEdit in sequence: the earlier edits' keys
            EditBatchReport report;
            for (size_t k : batches[b]) {
                ep.requests.push_back(requests[k]);
                report.datasetIndices.push_back(indices[k]);
                evals[k].datasetIndex = indices[k];
                evals[k].batch = static_cast<int>(b);
            }
            const double units = kEditUnits * static_cast<double>(batches[b].size());
            const EditResult edit = computeEdit(model, ep, meter.sub(units));
            meter.step(units);
            report.layers = edit.layers;
            report.seconds = edit.seconds;
            report.deltaNorm = deltaNorm(edit.delta);  // 0 for adapter and context edits
            result.editSeconds += edit.seconds;
            if (b == 0) {
                result.layers = edit.layers;
                result.hparams = edit.hparams;
            }
            result.batches.push_back(report);
            stack.apply(edit.payload());
            const auto tm = std::chrono::steady_clock::now();
            if (params.mode == EvalMode::Fresh) {
                std::vector<size_t> batchIndices;
                for (size_t k : batches[b]) batchIndices.push_back(indices[k]);
                const CoEdited co = coEditedOf(dataset, batchIndices);
                for (size_t k : batches[b]) {
                    evals[k].edited = computeRecordMetrics(model, selected[k], result.metrics, params.generation,
                                                           static_cast<int>(indices[k]), co);
                    done[k] = true;
                    meter.step(1);
                }
                stack.revertAll();
            } else {
                // Efficacy right after the record's own batch (retention is the
                // difference to the final measurement).
                std::vector<ScoreQuery> queries;
                for (size_t k : batches[b])
                    queries.push_back({selected[k].filledPrompt(), {selected[k].targetNew, selected[k].targetTrue}});
                const auto scores = scoreTargets(model, queries);
                for (size_t q = 0; q < batches[b].size(); ++q)
                    evals[batches[b][q]].efficacyAtEdit = scores[q][0].nll < scores[q][1].nll ? 1.0 : 0.0;
                // Retention: records 1..k with edits 1..k applied, measured as
                // the final measurement measures (without generation).
                const size_t edited = batches[b].back() + 1;
                bool hit = false;
                while (nextCheckpoint < params.checkpoints.size() &&
                       static_cast<size_t>(params.checkpoints[nextCheckpoint]) <= edited)
                    hit = true, ++nextCheckpoint;
                if (hit) {
                    const std::vector<size_t> soFar(indices.begin(), indices.begin() + static_cast<long>(edited));
                    const CoEdited co = coEditedOf(dataset, soFar);
                    GenerationOptions noGeneration = params.generation;
                    noGeneration.enabled = false;
                    std::vector<double> eff, para, neigh;
                    for (size_t k = 0; k < edited; ++k) {
                        const RecordMetrics m = computeRecordMetrics(model, selected[k], result.metrics, noGeneration,
                                                                     static_cast<int>(indices[k]), co);
                        if (auto x = m.efficacyScore()) eff.push_back(*x);
                        if (auto x = m.paraphraseScore()) para.push_back(*x);
                        if (auto x = m.neighborhoodScore()) neigh.push_back(*x);
                        meter.step(1);
                    }
                    RetentionPoint point;
                    point.k = static_cast<int>(edited);
                    point.efficacy = statOf(eff);
                    point.paraphrase = statOf(para);
                    point.neighborhood = statOf(neigh);
                    point.seconds = since(t0);
                    result.retention.push_back(point);
                }
            }
            result.metricSeconds += since(tm);
        }
        if (params.mode == EvalMode::Sequential) {
            const auto tm = std::chrono::steady_clock::now();
            const CoEdited co = coEditedOf(dataset, indices);
            for (size_t k = 0; k < selected.size(); ++k) {
                evals[k].edited = computeRecordMetrics(model, selected[k], result.metrics, params.generation,
                                                       static_cast<int>(indices[k]), co);
                done[k] = true;
                meter.step(1);
            }
            result.metricSeconds += since(tm);
            if (probe) result.preservation = probe->measure(model);
        }
    } catch (const Cancelled&) {
        result.cancelled = true;
    }
    stack.revertAll();

    std::vector<RecordMetrics> edited, baseline;
    std::vector<std::optional<double>> atEdit;
    for (size_t k = 0; k < selected.size(); ++k) {
        if (!done[k]) continue;
        result.records.push_back(evals[k]);
        edited.push_back(evals[k].edited);
        if (params.baseline) baseline.push_back(evals[k].baseline);
        atEdit.push_back(evals[k].efficacyAtEdit);
    }
    result.edited = summarizeMetrics(edited, params.mode == EvalMode::Sequential ? atEdit
                                                                                 : std::vector<std::optional<double>>{});
    if (params.baseline) {
        result.baseline = summarizeMetrics(baseline);
        std::vector<MetricValues> values;
        for (const auto& r : baseline) values.push_back(metricValuesOf(r));
        addPortabilityUnedited(result.edited, values);
    }
    result.seconds = since(t0);
    return result;
}

}  // namespace kme
