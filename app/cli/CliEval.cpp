// kme eval: an edit method over records of a CounterFact / zsRE file, each
// edit on a fresh model or all of them accumulated, measured with ROME's
// metrics (engine/eval/Metrics.h) against the unedited model.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/model/Model.h"

namespace kme::cli {
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

json recordJson(const RecordMetrics& m) {
    return {{"efficacy_score", opt(m.efficacyScore())},
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
            {"other_attributes_excluded", m.otherAttributesExcluded},
            {"prompts",
             {{"efficacy", promptsJson(m.efficacy)},
              {"paraphrase", promptsJson(m.paraphrase)},
              {"neighborhood", promptsJson(m.neighborhood)},
              {"other_attributes", promptsJson(m.otherAttributes)}}},
            {"generations", m.generations},
            {"generation_entropy", m.generationEntropy}};
}

// {name: mean | null}, {name: ci95 | null}, {name: count}.
void summaryJson(const MetricSummary& s, json& means, json& ci, json& counts) {
    means = json::object();
    ci = json::object();
    counts = json::object();
    for (const auto& [name, st] : s.values) {
        means[name] = st.count > 0 ? json(st.mean) : json(nullptr);
        ci[name] = st.count > 1 && name != "score" ? json(st.ci95) : json(nullptr);
        counts[name] = st.count;
    }
}

// One table cell: "98.0 ± 2.7 %" for fractions, "5.61 ± 0.05" for fluency.
std::string cell(const MetricSummary& s, const std::string& name) {
    const MetricStat* st = s.find(name);
    if (!st || st->count == 0) return "-";
    std::ostringstream o;
    o << std::fixed;
    const bool percent = name != "fluency";
    const double k = percent ? 100 : 1;
    o << std::setprecision(percent ? 1 : 3) << st->mean * k;
    if (name != "score" && st->count > 1) o << " ± " << st->ci95 * k;
    if (percent) o << " %";
    return o.str();
}

int runEval(const Args& args, Context& ctx) {
    const std::string datasetPath = args.require("--dataset");
    const std::string methodName = args.get("--method", "rome");
    const auto method = parseEditMethod(methodName);
    if (!method) throw UsageError("--method must be rome, memit or ft-l, got '" + methodName + "'");
    SelectionParams sel;
    if (args.has("--limit")) {
        sel.limit = args.getInt("--limit", 0, 0, 100000000);
        if (sel.limit < 1) throw UsageError("--limit must be at least 1 (omit it to evaluate every record)");
    }
    if (args.has("--select")) {
        const auto how = parseRecordSelection(args.get("--select"));
        if (!how) throw UsageError("--select must be first, spread or random, got '" + args.get("--select") + "'");
        sel.how = *how;
    }
    sel.seed = args.getSeed("--select-seed", 0);
    const auto metricSet = parseMetricSet(args.get("--metrics", "auto"));
    if (!metricSet) throw UsageError("--metrics must be auto, counterfact or zsre, got '" + args.get("--metrics") + "'");
    if (args.has("--stats-corpus") && args.has("--no-mom2")) throw UsageError("--stats-corpus and --no-mom2 exclude each other");
    if (args.has("--layer") && args.has("--layers")) throw UsageError("give --layer or --layers, not both");
    EvalParams p;
    p.mode = args.has("--sequential") ? EvalMode::Sequential : EvalMode::Fresh;
    p.batchSize = args.getInt("--batch", 1, 1, 1000000);
    p.metrics = *metricSet;
    p.baseline = !args.has("--no-baseline");
    p.generation.enabled = !args.has("--no-generation");
    p.generation.maxLength = args.getInt("--gen-length", 100, 2, 100000);
    p.generation.seed = args.getSeed("--gen-seed", 0);
    const int statsSamples = args.getInt("--stats-samples", -1, 1, 100000000);
    const int statsTokens = args.getInt("--stats-tokens", -1, 0, 2000000000);
    const int steps = args.getInt("--steps", -1, 1, 100000);

    const Dataset dataset = loadDataset(datasetPath);
    const std::vector<size_t> indices = selectRecords(dataset, sel);
    auto model = loadModelArg(args, ctx);

    p.edit = defaultEditParams(*model, *method);
    p.edit.seed = args.getSeed("--seed", 0);
    if (args.has("--hparams")) {
        const std::string file = args.get("--hparams");
        applyHparamsJson(p.edit.hparams, readTextFile(file, "hyper-parameters"), file);
    }
    if (args.has("--layer")) p.edit.hparams.layers = parseLayerArg("--layer", args.get("--layer"));
    if (args.has("--layers")) p.edit.hparams.layers = parseLayerArg("--layers", args.get("--layers"));
    if (steps > 0) {
        if (*method == EditMethod::FtL) p.edit.hparams.ftSteps = steps;
        else p.edit.hparams.vNumGradSteps = steps;
    }
    if (args.has("--no-mom2")) {
        p.edit.hparams.mom2Adjustment = false;
        p.edit.statsTexts.clear();
        p.edit.statsLabel.clear();
    }
    if (statsSamples > 0) p.edit.hparams.mom2Samples = statsSamples;
    if (statsTokens >= 0) p.edit.hparams.mom2Tokens = statsTokens;
    if (args.has("--stats-corpus")) {
        p.edit.statsLabel = args.get("--stats-corpus");
        p.edit.statsTexts = loadTextCorpus(p.edit.statsLabel);
    }
    const std::string hash = model->weightsHash();

    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const EvalResult r = evaluateEdits(*model, dataset, indices, p, [&](double done, double total) {
        if (bar) ctx.err << "\reval: " << int(100 * done / std::max(total, 1e-9)) << "%" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";
    if (model->weightsHash() != hash) fail(ErrorKind::Internal, "the model's weights differ after the evaluation");

    json records = json::array();
    for (const auto& e : r.records) {
        const FactRecord& f = dataset.records[e.datasetIndex];
        json j = {{"index", e.datasetIndex},
                  {"case_id", f.caseId},
                  {"relation_id", f.relationId},
                  {"subject", f.subject},
                  {"prompt", f.prompt},
                  {"target_new", e.edited.targetNew},
                  {"target_true", e.edited.targetTrue},
                  {"batch", e.batch},
                  {"edited", recordJson(e.edited)}};
        if (p.baseline) j["baseline"] = recordJson(e.baseline);
        if (r.mode == EvalMode::Sequential) j["efficacy_at_edit"] = opt(e.efficacyAtEdit);
        records.push_back(std::move(j));
    }
    json metrics, metricsCi, metricsCount, baseline, baselineCi, baselineCount;
    summaryJson(r.edited, metrics, metricsCi, metricsCount);
    if (p.baseline) summaryJson(r.baseline, baseline, baselineCi, baselineCount);
    json batches = json::array();
    for (const auto& b : r.batches)
        batches.push_back({{"records", b.datasetIndices}, {"layers", b.layers}, {"seconds", b.seconds}, {"delta_norm", b.deltaNorm}});
    std::vector<int> excluded(2, 0);
    for (const auto& e : r.records) {
        excluded[0] += e.edited.neighborhoodExcluded;
        excluded[1] += e.edited.otherAttributesExcluded;
    }
    json j = {{"dataset", datasetPath},
              {"schema", dataset.schema == DatasetSchema::Zsre ? "zsre" : "counterfact"},
              {"metric_set", metricSetName(r.metrics)},
              {"method", editMethodName(r.method)},
              {"layers", r.layers},
              {"mode", evalModeName(r.mode)},
              {"batch_size", r.batchSize},
              {"selection",
               {{"how", recordSelectionName(sel.how)}, {"limit", sel.limit}, {"seed", sel.seed}, {"indices", indices}}},
              {"n_records", r.records.size()},
              {"records", records},
              {"metrics", metrics},
              {"metrics_ci95", metricsCi},
              {"metrics_count", metricsCount},
              {"baseline", p.baseline ? baseline : json(nullptr)},
              {"baseline_ci95", p.baseline ? baselineCi : json(nullptr)},
              {"excluded", {{"neighborhood_prompts", excluded[0]}, {"other_attributes", excluded[1]}}},
              {"batches", batches},
              {"hparams", json::parse(hparamsToJson(r.hparams, r.method))},
              {"mom2", p.edit.hparams.mom2Adjustment && r.method != EditMethod::FtL},
              {"generation",
               {{"enabled", p.generation.enabled && r.metrics == MetricSet::CounterFact},
                {"max_length", std::min(p.generation.maxLength, model->config().nPositions)},
                {"top_k", p.generation.topK},
                {"seed", p.generation.seed}}},
              {"model", {{"path", model->folder()}, {"weights_hash", hash}}},
              {"cancelled", r.cancelled},
              {"seconds", r.seconds},
              {"edit_seconds", r.editSeconds},
              {"metric_seconds", r.metricSeconds}};
    if (!p.edit.statsLabel.empty()) j["stats_corpus"] = p.edit.statsLabel;

    std::ostringstream s;
    s << editMethodName(r.method) << " on " << r.records.size() << " record" << (r.records.size() == 1 ? "" : "s")
      << " of " << datasetPath << " (" << recordSelectionName(sel.how) << "), " << evalModeName(r.mode)
      << (r.batchSize > 1 ? ", batches of " + std::to_string(r.batchSize) : std::string()) << ", layer"
      << (r.layers.size() > 1 ? "s " : " ");
    for (size_t i = 0; i < r.layers.size(); ++i) s << (i ? "," : "") << r.layers[i];
    s << std::fixed << std::setprecision(1) << ": " << r.seconds << " s (editing " << r.editSeconds << " s, measuring "
      << r.metricSeconds << " s)\n";
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"efficacy_score", "efficacy score"},
        {"efficacy_magnitude", "efficacy magnitude"},
        {"paraphrase_score", "paraphrase score"},
        {"paraphrase_magnitude", "paraphrase magnitude"},
        {"neighborhood_score", "neighbourhood score"},
        {"neighborhood_magnitude", "neighbourhood magnitude"},
        {"score", "score (harmonic mean)"},
        {"other_attributes_score", "other attributes kept"},
        {"other_attributes_accuracy", "other attributes top-1"},
        {"efficacy_accuracy", "efficacy token accuracy"},
        {"paraphrase_accuracy", "paraphrase token accuracy"},
        {"neighborhood_accuracy", "neighbourhood token acc."},
        {"fluency", "fluency (n-gram entropy, bits)"},
        {"efficacy_at_edit_score", "efficacy right after edit"}};
    s << "  " << std::left << std::setw(32) << "metric" << std::setw(20) << "edited" << (p.baseline ? "unedited" : "")
      << "\n";
    for (const auto& [key, label] : rows) {
        if (!r.edited.find(key)) continue;
        const std::string a = cell(r.edited, key), b = p.baseline ? cell(r.baseline, key) : "";
        if (a == "-" && (b == "-" || b.empty())) continue;
        s << "  " << std::setw(32) << label << std::setw(20) << a << b << "\n";
    }
    s << std::right;
    if (excluded[0] + excluded[1] > 0)
        s << "  left out as rewritten by another applied edit: " << excluded[0] << " neighbourhood prompts, "
          << excluded[1] << " other attributes\n";
    if (r.cancelled) s << "  cancelled: " << r.records.size() << " records finished\n";
    emit(args, ctx, j, s.str());
    return 0;
}

}  // namespace

void addEvalCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"eval",
         "[MODEL] --dataset F --method rome|memit|ft-l [--limit N] [--select first|spread|random] [--sequential] "
         "[--batch B] [--layer L | --layers A-B] [--stats-corpus F | --no-mom2] [--hparams F]",
         "edit records of a CounterFact / zsRE file and report ROME's metrics against the unedited model (JSON: fractions 0..1)",
         {{"--dataset", true, "CounterFact or zsRE JSON file"},
          {"--method", true, "rome (default) | memit | ft-l"},
          {"--limit", true, "records evaluated (default: all)"},
          {"--select", true, "which records: first (default) | spread (evenly over the file) | random"},
          {"--select-seed", true, "seed of --select random (0)"},
          {"--sequential", false, "accumulate the edits (default: each on a fresh model)"},
          {"--batch", true, "requests per edit computation (MEMIT: one solve for the batch; default 1)"},
          {"--metrics", true, "auto (from the file) | counterfact | zsre"},
          {"--layer", true, "layer to edit (default from the model table or kme_edit_defaults.json)"},
          {"--layers", true, "layer range A-B (MEMIT)"},
          {"--steps", true, "optimisation steps (v* / z for ROME and MEMIT, fine-tuning steps for FT-L)"},
          {"--stats-corpus", true, "text for the key statistics (default: the model folder's kme_edit_defaults.json)"},
          {"--no-mom2", false, "use the identity instead of key statistics"},
          {"--stats-samples", true, "corpus texts used at most (10000)"},
          {"--stats-tokens", true, "corpus tokens used at most (100000; 0 = no limit)"},
          {"--hparams", true, "JSON overriding hyper-parameters"},
          {"--seed", true, "seed of the context-template generation (0)"},
          {"--no-baseline", false, "skip measuring the unedited model"},
          {"--no-generation", false, "skip generation (no fluency)"},
          {"--gen-length", true, "tokens of prompt + generated text for fluency (100, capped by the context)"},
          {"--gen-seed", true, "seed of the sampled generations (0)"}},
         runEval});
}

}  // namespace kme::cli
