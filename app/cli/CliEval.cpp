// kme eval: an edit method over records of a CounterFact / zsRE file, each
// edit on a fresh model or all of them accumulated, measured with ROME's
// metrics (engine/eval/Metrics.h) against the unedited model. With
// --session the run measures the session's weights (its enabled edits
// applied) and is recorded there as a metric run, as the Evaluate tab saves.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliEditSetup.h"
#include "app/cli/CliEval.h"
#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalJson.h"
#include "engine/eval/Shard.h"
#include "engine/core/Sha256.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

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

// The run's settings as the session keeps them (MetricRunRecord::paramsJson;
// the keys the Evaluate tab writes, and "tool").
// `steps` <= 0: not given.
json paramsJson(const EvalParams& p, const EvalRunContext& run, int steps, bool editsApplied) {
    json j = {{"dataset", run.dataset},
              {"method", editMethodName(p.edit.method)},
              {"records", run.indices.size()},
              {"mode", evalModeName(p.mode)},
              {"batch_size", p.batchSize},
              {"selection", recordSelectionName(run.selection.how)},
              {"fluency", p.generation.enabled},
              {"baseline", p.baseline},
              {"weights_hash", run.weightsHash},
              {"edits_applied", editsApplied},
              {"tool", "kme eval"}};
    if (steps > 0) j["steps"] = steps;
    return j;
}

// Saves a finished run in the session: the compact JSON the Evaluate tab
// saves (per-record values, no prompt details), so the tab shows it.
int64_t recordMetricRun(SessionStore& session, const EvalResult& r, const Dataset& dataset, const EvalParams& p,
                        const EvalRunContext& run, const json& params, const std::optional<ShardSpec>& shard) {
    EvalJsonOptions compact;
    compact.promptDetails = false;
    compact.baselineCounts = true;
    MetricRunRecord m;
    m.method = editMethodName(r.method);
    m.dataset = run.dataset;
    m.paramsJson = params.dump();
    json results = evalRunToJson(r, dataset, p, run, compact);
    if (shard) results["shard"] = shardToJson(*shard);  // kme session merge checks each shard's share
    m.resultsJson = results.dump();
    return session.addMetricRun(m);
}

// Everything that shapes a run's results, as the shards of one run must
// agree on it (`kme session merge` groups shard rows by it): the fact file
// and its content, the selection, the method and its hyper-parameters, the
// seeds, the weights evaluated, the shard count.
json runSpecJson(const EvalParams& p, const EvalRunContext& run, const std::string& datasetSha256,
                 const std::string& metricsAsked, const ShardSpec& shard) {
    return {{"tool", "kme eval"},
            {"dataset", run.dataset},
            {"dataset_sha256", datasetSha256},
            {"selection",
             {{"how", recordSelectionName(run.selection.how)},
              {"limit", run.selection.limit},
              {"seed", run.selection.seed},
              {"records", run.indices.size()}}},
            {"method", editMethodName(p.edit.method)},
            {"hparams", json::parse(hparamsToJson(p.edit.hparams, p.edit.method))},
            {"seed", p.edit.seed},
            {"stats_corpus", p.edit.statsLabel},
            {"mode", evalModeName(p.mode)},
            {"batch_size", p.batchSize},
            {"metrics", metricsAsked},
            {"baseline", p.baseline},
            {"generation",
             {{"enabled", p.generation.enabled},
              {"max_length", p.generation.maxLength},
              {"top_k", p.generation.topK},
              {"seed", p.generation.seed}}},
            {"state_hash", run.weightsHash},
            {"shards", shard.count}};
}

}  // namespace

SelectionParams selectionArg(const Args& args) {
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
    return sel;
}

EvalParams evalRunArgs(const Args& args) {
    const auto metricSet = parseMetricSet(args.get("--metrics", "auto"));
    if (!metricSet) throw UsageError("--metrics must be auto, counterfact or zsre, got '" + args.get("--metrics") + "'");
    EvalParams p;
    p.mode = args.has("--sequential") ? EvalMode::Sequential : EvalMode::Fresh;
    p.batchSize = args.getInt("--batch", 1, 1, 1000000);
    p.metrics = *metricSet;
    p.baseline = !args.has("--no-baseline");
    p.preservationTokens = args.getInt("--preservation-tokens", 2000, 0, 10000000);
    p.generation.enabled = !args.has("--no-generation");
    p.generation.maxLength = args.getInt("--gen-length", 100, 2, 100000);
    p.generation.seed = args.getSeed("--gen-seed", 0);
    return p;
}

void applyEditArgs(const Args& args, const Model& model, const MethodInfo& info, EvalParams& p, bool stepsWhereKnown) {
    // The set-up every front end shares (engine/edit/EditSetup.h): defaults, then the flags, then the checks.
    p.edit = setUpEdit(model, info.method, editOverridesFromArgs(args, info, stepsWhereKnown)).params;
}

namespace {

int runEval(const Args& args, Context& ctx) {
    if (args.has("--methods")) return runEvalMethods(args, ctx);
    if (args.has("--curves") || args.has("--checkpoints") || args.has("--batch-sizes"))
        throw UsageError("--curves, --checkpoints and --batch-sizes go with --methods A,B,...");
    const std::string datasetPath = args.require("--dataset");
    const MethodInfo& info = methodArg(args);
    const SelectionParams sel = selectionArg(args);
    EvalParams p = evalRunArgs(args);
    const int steps = args.getInt("--steps", -1, 1, 100000);
    const bool toSession = args.has("--session");
    const std::string sessionPath = args.get("--session");
    if (toSession && sessionPath.empty()) throw UsageError("--session needs a session file");
    const std::optional<ShardSpec> shard = shardArg(args);
    if (shard && p.mode == EvalMode::Sequential)
        throw UsageError("--shard cannot split a --sequential run: each record is measured after every edit of the run");
    if (shard && !toSession && !args.has("--json"))
        throw UsageError("--shard needs --session FILE (one file per shard, merged by kme session merge) or --json FILE");

    const Dataset dataset = loadDataset(datasetPath);
    const std::vector<size_t> indices = selectRecords(dataset, sel);
    // A shard evaluates its share of the selection (whole batches).
    std::vector<size_t> evaluated = indices;
    std::string datasetSha256;
    if (shard) {
        evaluated.clear();
        for (size_t pos : shardPositions(indices.size(), static_cast<size_t>(p.batchSize), *shard))
            evaluated.push_back(indices[pos]);
        if (evaluated.empty())
            fail(ErrorKind::Input, "--shard " + shardName(*shard) + ": the run has only " +
                                       std::to_string((indices.size() + p.batchSize - 1) / p.batchSize) +
                                       (p.batchSize > 1 ? " batches" : " records") + ", so this shard has none; use fewer shards");
        datasetSha256 = sha256Hex(readRegularFile(datasetPath, "dataset", 1ull << 34));
    }
    std::optional<SessionStore> session;
    if (toSession) session = openSessionForRun(sessionPath);
    auto model = loadModelArg(args, ctx);

    applyEditArgs(args, *model, info, p, false);
    // The weights evaluated: the model's, or the session's state of them.
    const std::string baseHash = model->stateHash();
    EditStack stack(*model);
    SessionModelState state;
    if (session) {
        attachModel(*session, *model, baseHash);  // records the model (or its moved folder) in the session
        state = applySessionState(*session, *model, baseHash, stack);
    }
    const std::string hash = state.applied > 0 ? state.weightsHash : baseHash;

    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const EvalResult r = evaluateEdits(*model, dataset, evaluated, p, [&](double done, double total) {
        if (bar) ctx.err << "\reval: " << int(100 * done / std::max(total, 1e-9)) << "%" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";
    if (model->stateHash() != hash) fail(ErrorKind::Internal, "the model's weights differ after the evaluation");

    EvalRunContext run;
    run.dataset = datasetPath;
    run.selection = sel;
    run.indices = indices;
    run.modelPath = model->folder();
    run.modelContext = model->config().nPositions;
    run.weightsHash = hash;
    json j = evalRunToJson(r, dataset, p, run);
    json spec;
    if (shard) {
        spec = runSpecJson(p, run, datasetSha256, args.get("--metrics", "auto"), *shard);
        j["shard"] = shardToJson(*shard);
        j["run"] = spec;
    }
    int64_t metricRunId = 0;
    if (toSession && !r.cancelled) {
        if (!session) {
            session.emplace(sessionPath);
            attachModel(*session, *model, baseHash);
        }
        json params = paramsJson(p, run, steps, state.applied > 0);
        if (shard) {
            params["shard"] = shardToJson(*shard);
            params["run"] = spec;
        }
        metricRunId = recordMetricRun(*session, r, dataset, p, run, params, shard);
        j["session"] = {{"path", session->path()},
                        {"metric_run_id", metricRunId},
                        {"edits_applied", state.applied},
                        {"weights_hash", hash}};
    }
    const int excludedNeighbours = j["excluded"]["neighborhood_prompts"].get<int>();
    const int excludedAttributes = j["excluded"]["other_attributes"].get<int>();

    std::ostringstream s;
    s << editMethodName(r.method) << " on " << r.records.size() << " record" << (r.records.size() == 1 ? "" : "s")
      << " of " << datasetPath << " (" << recordSelectionName(sel.how) << "), " << evalModeName(r.mode)
      << (r.batchSize > 1 ? ", batches of " + std::to_string(r.batchSize) : std::string())
      << (r.layers.empty() ? "" : r.layers.size() > 1 ? ", layers " : ", layer ");
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
        {"portability", "portability (two-hop)"},
        {"portability_unedited", "two-hop accuracy, unedited"},
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
    if (r.preservation) {
        std::string layers;
        for (int l : r.preservation->layers) layers += (layers.empty() ? "" : ",") + std::to_string(l);
        s << "  preservation: the edited layers' outputs at " << r.preservation->tokens
          << " corpus tokens' keys moved by " << std::setprecision(3) << 100 * r.preservation->mean
          << "% on average (mean ||dW k|| / ||W k||, layers " << layers << ")\n";
    }
    if (excludedNeighbours + excludedAttributes > 0)
        s << "  left out as rewritten by another applied edit: " << excludedNeighbours << " neighbourhood prompts, "
          << excludedAttributes << " other attributes\n";
    if (r.cancelled) s << "  cancelled: " << r.records.size() << " records finished\n";
    if (shard)
        s << "  shard " << shardName(*shard) << ": " << r.records.size() << " of the run's " << indices.size()
          << " records; merge the shards' sessions with kme session merge\n";
    if (state.applied > 0) s << state.summaryLine();
    if (metricRunId > 0) s << "  recorded as metric run " << metricRunId << " in " << session->path() << "\n";
    emit(args, ctx, j, s.str());
    return 0;
}

}  // namespace

void addEvalCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"eval",
         "[MODEL] --dataset F --method " + methodNames("|", "|") + " [--limit N] [--select first|spread|random] [--sequential] "
         "[--batch B] [--layer L | --layers A-B] [--stats-corpus F | --no-mom2] [--hparams F] [--session DB] [--shard K/N]\n"
         "    or [MODEL] --dataset F --methods A,B,...|all [--curves retain,scale] [--checkpoints K,...] "
         "[--batch-sizes B,...] [--csv F] [--limit N] [--select ...]",
         "edit records of a CounterFact / zsRE file and report ROME's metrics against the unedited model (JSON: fractions 0..1)",
         {{"--dataset", true, "CounterFact or zsRE JSON file"},
          {"--method", true, methodChoicesHelp()},
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
          {"--editor", true, "MEND: the trained editor (default: the model folder's mend-editor.safetensors)"},
          {"--seed", true, "seed of the context-template generation (0)"},
          {"--no-baseline", false, "skip measuring the unedited model"},
          {"--preservation-tokens", true,
           "sequential weight edits: statistics-corpus tokens whose keys measure how far the edited layers' outputs "
           "moved (2000; 0 = off)"},
          {"--no-generation", false, "skip generation (no fluency)"},
          {"--gen-length", true, "tokens of prompt + generated text for fluency (100, capped by the context)"},
          {"--gen-seed", true, "seed of the sampled generations (0)"},
          {"--session", true,
           "session file DB (created if missing): evaluate the session's current weights (its enabled edits applied) "
           "and record the run there as a metric run"},
          {"--methods", true,
           "A,B,... or all: several methods on the same records (same selection, order and seeds), each with its "
           "defaults for the model; one table of the six properties (JSON: runs)"},
          {"--curves", true,
           "with --methods: retain (sequential editing: efficacy on edits 1..k after k edits) and/or scale (fresh "
           "batches of 1, 10, 50, 100 for batch methods)"},
          {"--checkpoints", true, "with --curves retain: the k measured (default 1,2,5,10,20,50,100,... and N)"},
          {"--batch-sizes", true, "with --curves scale: the batch sizes (default 1,10,50,100 capped by the records)"},
          {"--csv", true, "with --methods: the six properties, metrics and curves as CSV (method,series,x,metric,value)"},
          {"--shard", true,
           "K/N: evaluate shard K (0..N-1) of the run only - record i of the selection (batch i with --batch) when "
           "i mod N = K - with the run's selection and seeds; needs --session (one file per shard) or --json; "
           "kme session merge OUT SHARDS... gives the whole run (not with --sequential)"}},
         runEval,
         "Sharding (--shard K/N): record i of the selection (after --select; batch i with --batch B) belongs to shard\n"
         "i mod N, K = 0 ... N-1; every shard uses the run's selection and seeds and records the run's parameters and\n"
         "its shard id in its own --session file. kme session merge OUT SHARDS... gives the unsharded run's metric run\n"
         "(means and intervals recomputed from the per-record results). Slurm: scripts/slurm/eval.sbatch, merge.sh.\n"
         "  for k in 0 1 2; do kme eval --dataset F --method rome --shard $k/3 --session shard-$k.kmes & done; wait\n"
         "  kme session merge run.kmes shard-0.kmes shard-1.kmes shard-2.kmes\n"
         "Several methods (--methods rome,memit,grace) run on the same records in the same order; --curves retain adds\n"
         "each method's retention curve (one sequential run, records 1..k measured after k edits), --curves scale the\n"
         "scalability curve of each batch method (the point B is kme eval --batch B on the same records).\n"
         "  kme eval --dataset facts.json --limit 20 --methods rome,memit,grace,ft-m --curves retain,scale --json out.json"});
}

}  // namespace kme::cli
