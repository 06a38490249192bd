// kme eval --methods A,B,... [--curves retain,scale]: several edit methods on
// the same records (one selection, one order, the same seeds), each measured
// as `kme eval` measures one, plus the retention curve (sequential editing,
// efficacy on the edits so far against their number) and the scalability
// curve (fresh batches of 1, 10, 50, 100) of engine/eval/EvalCurves.h; one
// table of the KME survey's six properties.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliEval.h"
#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EvalCurves.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/edit/WeightDelta.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"
#include "engine/model/Model.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(text);
    while (std::getline(in, item, ',')) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        out.push_back(item);
    }
    return out;
}

std::vector<const MethodInfo*> methodsArg(const Args& args) {
    const std::string text = args.get("--methods");
    std::vector<const MethodInfo*> out;
    if (text == "all") {
        for (const MethodInfo& m : methodTable()) out.push_back(&m);
        return out;
    }
    for (const std::string& name : splitList(text)) {
        const MethodInfo* row = findMethod(name);
        if (!row)
            throw UsageError("--methods: unknown method '" + name + "' (known: " + methodNames(", ", ", ") + ", or all)");
        if (std::find(out.begin(), out.end(), row) != out.end())
            throw UsageError(std::string("--methods: ") + row->name + " is listed twice");
        out.push_back(row);
    }
    if (out.empty()) throw UsageError("--methods needs a comma-separated list of methods (or all)");
    return out;
}

std::vector<int> intListArg(const Args& args, const char* flag) {
    std::vector<int> out;
    if (!args.has(flag)) return out;
    for (const std::string& item : splitList(args.get(flag))) {
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 1 || v > 100000000)
            throw UsageError(std::string(flag) + " must be a comma-separated list of positive integers, got '" +
                             args.get(flag) + "'");
        out.push_back(static_cast<int>(v));
    }
    for (size_t i = 1; i < out.size(); ++i)
        if (out[i] <= out[i - 1]) throw UsageError(std::string(flag) + " must be ascending, got '" + args.get(flag) + "'");
    return out;
}

std::string percent(const std::optional<double>& v) {
    if (!v) return "-";
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << 100 * *v;
    return o.str();
}

std::string percentOf(const MetricStat& s) {
    return s.count > 0 ? percent(s.mean) : std::string("-");
}

}  // namespace

int runEvalMethods(const Args& args, Context& ctx) {
    for (const char* flag : {"--method", "--sequential", "--shard", "--layer", "--layers", "--hparams", "--editor"})
        if (args.has(flag))
            throw UsageError(std::string(flag) + " goes with a single --method, not with --methods (each method takes "
                                                 "its defaults for the model; --curves retain gives the sequential run)");
    const std::string datasetPath = args.require("--dataset");
    const std::vector<const MethodInfo*> methods = methodsArg(args);
    CurveOptions curves;
    if (args.has("--curves"))
        for (const std::string& c : splitList(args.get("--curves"))) {
            if (c == "retain") curves.retain = true;
            else if (c == "scale") curves.scale = true;
            else throw UsageError("--curves must be retain, scale or retain,scale, got '" + args.get("--curves") + "'");
        }
    curves.checkpoints = intListArg(args, "--checkpoints");
    curves.batchSizes = intListArg(args, "--batch-sizes");
    if (!curves.checkpoints.empty() && !curves.retain) throw UsageError("--checkpoints goes with --curves retain");
    if (!curves.batchSizes.empty() && !curves.scale) throw UsageError("--batch-sizes goes with --curves scale");
    const std::string csvPath = args.get("--csv");
    if (args.has("--csv")) {
        if (csvPath.empty()) throw UsageError("--csv needs a file name");
        checkOutputFile(csvPath, "CSV output");
    }
    const SelectionParams sel = selectionArg(args);
    EvalParams base = evalRunArgs(args);
    const bool toSession = args.has("--session");
    const std::string sessionPath = args.get("--session");
    if (toSession && sessionPath.empty()) throw UsageError("--session needs a session file");

    const Dataset dataset = loadDataset(datasetPath);
    const std::vector<size_t> indices = selectRecords(dataset, sel);
    const int n = static_cast<int>(indices.size());
    if (curves.retain && !curves.checkpoints.empty() && curves.checkpoints.back() > n)
        fail(ErrorKind::Input, "--checkpoints: " + std::to_string(curves.checkpoints.back()) + " is beyond the " +
                                   std::to_string(n) + " records evaluated");
    if (curves.scale && !curves.batchSizes.empty() && curves.batchSizes.back() > n)
        fail(ErrorKind::Input, "--batch-sizes: " + std::to_string(curves.batchSizes.back()) + " is beyond the " +
                                   std::to_string(n) + " records evaluated");
    std::optional<SessionStore> session;
    if (toSession) session = openSessionForRun(sessionPath);
    auto model = loadModelArg(args, ctx);
    // The weights evaluated: the model's, or the session's state of them.
    const std::string baseHash = model->stateHash();
    EditStack stack(*model);
    SessionModelState state;
    if (session) {
        attachModel(*session, *model, baseHash);
        state = applySessionState(*session, *model, baseHash, stack);
    }
    const std::string hash = state.applied > 0 ? state.weightsHash : baseHash;
    std::vector<EvalParams> params;
    for (const MethodInfo* info : methods) {
        EvalParams p = base;
        applyEditArgs(args, *model, *info, p, true);  // every method's inputs are checked before the first edit
        params.push_back(std::move(p));
    }

    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const std::vector<MethodRun> runs =
        evaluateMethods(*model, dataset, indices, params, curves, [&](size_t index, double done, double total) {
            if (bar)
                ctx.err << "\reval " << methods[index]->name << " (" << index + 1 << "/" << methods.size()
                        << "): " << int(100 * done / std::max(total, 1e-9)) << "%   " << std::flush;
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
    json out = {{"dataset", datasetPath},
                {"selection",
                 {{"how", recordSelectionName(sel.how)}, {"limit", sel.limit}, {"seed", sel.seed}, {"indices", indices}}},
                {"methods", json::array()},
                {"curves", json::array()},
                {"runs", json::array()},
                {"model", {{"path", model->folder()}, {"weights_hash", hash}}}};
    for (const MethodInfo* info : methods) out["methods"].push_back(info->name);
    if (curves.retain) out["curves"].push_back("retain");
    if (curves.scale) out["curves"].push_back("scale");
    double seconds = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
        json j = evalRunToJson(runs[i].result, dataset, params[i], run);
        addCurvesToJson(runs[i], j);
        out["runs"].push_back(std::move(j));
        seconds += runs[i].seconds;
    }
    out["seconds"] = seconds;
    const bool cancelled = !runs.empty() && runs.back().cancelled;
    if (toSession && !cancelled) {
        if (!session) {
            session.emplace(sessionPath);
            attachModel(*session, *model, baseHash);
        }
        // Each method's run, as the Evaluate tab saves a comparison (it shows them again).
        ComparisonInfo info;
        info.id = isoTimeNow();
        for (const MethodInfo* m : methods) info.methods.push_back(m->name);
        info.retain = curves.retain;
        info.scale = curves.scale;
        info.dataset = datasetPath;
        info.selection = sel;
        info.records = n;
        info.weightsHash = hash;
        info.tool = "kme eval --methods";
        EvalJsonOptions compact;
        compact.promptDetails = false;
        compact.baselineCounts = true;
        json ids = json::array();
        for (size_t i = 0; i < runs.size(); ++i) {
            MetricRunRecord m;
            m.method = methods[i]->name;
            m.dataset = datasetPath;
            json saved = comparisonParamsJson(info, i);
            saved["edits_applied"] = state.applied > 0;
            m.paramsJson = saved.dump();
            json results = evalRunToJson(runs[i].result, dataset, params[i], run, compact);
            addCurvesToJson(runs[i], results);
            m.resultsJson = results.dump();
            ids.push_back(session->addMetricRun(m));
        }
        out["session"] = {{"path", session->path()},
                          {"comparison", info.id},
                          {"metric_run_ids", ids},
                          {"edits_applied", state.applied},
                          {"weights_hash", hash}};
    }
    if (args.has("--csv")) writeFileAtomically(csvPath, methodRunsCsv(out["runs"]), "CSV output");

    std::ostringstream s;
    s << runs.size() << " method" << (runs.size() == 1 ? "" : "s") << " on the same " << n << " record"
      << (n == 1 ? "" : "s") << " of " << datasetPath << " (" << recordSelectionName(sel.how) << "), "
      << std::fixed << std::setprecision(1) << seconds << " s; percent\n";
    const std::vector<std::string> heads = {"method", "accuracy", "generality", "locality", "other attr.",
                                            "portability", "2-hop before", "retain@N", "scale@B", "seconds"};
    const std::vector<int> widths = {12, 10, 12, 10, 13, 13, 14, 10, 12, 8};
    s << "  ";
    for (size_t c = 0; c < heads.size(); ++c) s << (c == 0 ? std::left : std::right) << std::setw(widths[c]) << heads[c];
    s << "\n";
    for (const MethodRun& r : runs) {
        const SixProperties six = sixPropertiesOf(r);
        std::string scale = percent(six.scalability);
        if (six.scaleBatch > 0) scale += " @" + std::to_string(six.scaleBatch);
        std::ostringstream secs;
        secs << std::fixed << std::setprecision(1) << r.seconds;
        const std::vector<std::string> cells = {methodInfo(r.method).name, percent(six.accuracy),
                                                percent(six.generality),    percent(six.locality),
                                                percent(six.otherAttributes), percent(six.portability),
                                                percent(six.portabilityUnedited), percent(six.retainability),
                                                scale,                      secs.str()};
        s << "  ";
        for (size_t c = 0; c < cells.size(); ++c) s << (c == 0 ? std::left : std::right) << std::setw(widths[c]) << cells[c];
        s << "\n";
    }
    s << std::right;
    s << "  accuracy = efficacy, generality = paraphrase, locality = neighbourhood, other attr. = the subject's other "
         "facts kept,\n  portability = two-hop prompts follow the edit (2-hop before: the unedited model's two-hop "
         "accuracy),\n  retain@N = efficacy on all N edits after N sequential edits, scale@B = efficacy with batches of B\n";
    for (const MethodRun& r : runs) {
        if (r.retention && !r.retention->retention.empty()) {
            s << "  " << methodInfo(r.method).name << " retention (k: efficacy / neighbourhood):";
            for (const RetentionPoint& p : r.retention->retention)
                s << " " << p.k << ": " << percentOf(p.efficacy) << "/" << percentOf(p.neighborhood);
            s << "\n";
        }
        if (r.scale && !r.scale->points.empty()) {
            s << "  " << methodInfo(r.method).name << " scale (batch: efficacy / neighbourhood):";
            for (const ScalePoint& p : r.scale->points)
                s << " " << p.batchSize << ": " << percentOf(p.efficacy) << "/" << percentOf(p.neighborhood);
            s << "\n";
        }
        if (!r.scaleSkipped.empty()) s << "  " << methodInfo(r.method).name << ": no scale curve: " << r.scaleSkipped << "\n";
    }
    if (cancelled) s << "  cancelled\n";
    if (state.applied > 0) s << state.summaryLine();
    if (out.contains("session"))
        s << "  recorded as comparison " << out["session"]["comparison"].get<std::string>() << " ("
          << runs.size() << " metric runs) in " << session->path() << "\n";
    if (args.has("--csv")) s << "  CSV: " << csvPath << "\n";
    emit(args, ctx, out, s.str());
    return 0;
}

}  // namespace kme::cli
