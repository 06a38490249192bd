// kme trace-dataset
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Sha256.h"
#include "engine/edit/WeightDelta.h"
#include "engine/session/SessionEdits.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/TraceDataset.h"
#include "engine/trace/TraceJson.h"

namespace kme::cli {

namespace {

using json = nlohmann::json;

TraceDatasetPngRenderer& traceDatasetPngRendererSlot() {
    static TraceDatasetPngRenderer renderer;
    return renderer;
}

std::string summary(const TraceDatasetResult& r) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(3);
    s << r.traced << " of " << r.considered << " records traced (clean top-1 = true target)";
    if (r.skipped) s << ", " << r.skipped << " skipped (prompt too long or subject not in prompt)";
    s << " in " << std::setprecision(1) << r.seconds << " s; mean p(clean) " << std::setprecision(3) << r.meanHigh
      << ", p(corrupted) " << r.meanLow << ", total effect " << r.meanHigh - r.meanLow << "\n";
    if (r.traced == 0) return s.str();
    s << "mean indirect effect by layer:\n";
    for (const auto& [kind, rows] : r.mean) {
        for (int b : {kLastSubjectBucket, kLastTokenBucket}) {
            s << "  " << std::setw(6) << traceKindName(kind) << " " << std::setw(20) << r.buckets[b] << ":";
            for (double v : rows[b]) s << " " << v;
            s << "\n";
        }
    }
    // ROME's two sites: the MLPs at the last subject token (the suggested
    // edit layer) and attention at the last token.
    const std::pair<TraceKind, int> sites[] = {{TraceKind::Mlp, kLastSubjectBucket}, {TraceKind::Attn, kLastTokenBucket}};
    for (const auto& [kind, bucket] : sites) {
        const int peak = r.peakLayer(kind, bucket);
        if (peak < 0) continue;
        s << traceKindName(kind) << " effect at the " << r.buckets[bucket] << " peaks at layer " << peak << " ("
          << r.mean.at(kind)[bucket][peak] << " +- " << r.ci95.at(kind)[bucket][peak] << ")"
          << (kind == TraceKind::Mlp ? ": the suggested edit layer" : "") << "\n";
    }
    return s.str();
}

int runTraceDataset(const Args& args, Context& ctx) {
    const std::string png = args.get("--png");
    if (args.has("--png") && !traceDatasetPngRenderer())
        throw UsageError("--png needs a build with the GUI (this kme was built without Qt widgets to draw plots)");
    if (args.has("--png") && png.empty()) throw UsageError("--png needs a file name");
    if (args.has("--png")) checkOutputFile(png, "PNG");  // before the work, and before Qt starts
    const std::string datasetPath = args.require("--dataset");
    TraceDatasetParams p;
    p.limit = args.getInt("--limit", 0, 0, 100000000);
    p.trace.samples = args.getInt("--samples", 10, 1, 100000);
    try {
        p.trace.noise = parseNoiseSpec(args.get("--noise", "3x"));
    } catch (const kme::Error& e) {
        throw UsageError(e.what());
    }
    p.trace.noise.factsPath = args.get("--facts", datasetPath);
    p.trace.window = args.getInt("--window", -1, 1, 100000);
    p.trace.seed = args.getSeed("--seed", 1);
    const bool toSession = args.has("--session");
    const std::string sessionPath = args.get("--session");
    if (toSession && sessionPath.empty()) throw UsageError("--session needs a session file");
    const std::optional<ShardSpec> shard = shardArg(args);
    if (shard && !toSession && !args.has("--json"))
        throw UsageError("--shard needs --session FILE (one file per shard, merged by kme session merge) or --json FILE");
    const Dataset dataset = loadDataset(datasetPath);
    if (shard) {
        // Record i of the first `limit` belongs to shard i mod N.
        const size_t n = p.limit > 0 ? std::min<size_t>(p.limit, dataset.records.size()) : dataset.records.size();
        for (size_t i = static_cast<size_t>(shard->index); i < n; i += static_cast<size_t>(shard->count))
            p.records.push_back(i);
        if (p.records.empty())
            fail(ErrorKind::Input, "--shard " + shardName(*shard) + ": the run looks at only " + std::to_string(n) +
                                       " records, so this shard has none; use fewer shards");
    }
    std::optional<SessionStore> session;
    if (toSession) session = openSessionForRun(sessionPath);
    auto model = loadModelArg(args, ctx);
    // The model traced: its weights, or the session's state of them.
    const std::string baseHash = model->stateHash();
    EditStack stack(*model);
    SessionModelState state;
    if (session) {
        attachModel(*session, *model, baseHash);
        state = applySessionState(*session, *model, baseHash, stack);
    }
    const std::string hash = state.applied > 0 ? state.weightsHash : baseHash;
    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const TraceDatasetResult r = traceDataset(*model, dataset, p, [&](double done, double total) {
        if (bar) ctx.err << "\rtrace-dataset: " << int(done) << "/" << int(total) << " records" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";
    if (args.has("--png")) {
        std::string error;
        if (!traceDatasetPngRenderer()(r, datasetPath, png, &error))
            fail(ErrorKind::Io, error.empty() ? png + ": cannot write the PNG" : error);
    }
    // The request as the Locate tab saves it: the trace settings without a
    // prompt of their own, type "dataset", the limit.
    json request = traceParamsToJson(p.trace);
    for (const char* key : {"prompt", "subject", "answer"}) request.erase(key);
    request["type"] = "dataset";
    request["limit"] = p.limit;
    json j = traceDatasetResultToJson(r);
    if (shard) {
        json run = request;
        run["tool"] = "kme trace-dataset";
        run["dataset"] = datasetPath;
        run["dataset_sha256"] = sha256Hex(readRegularFile(datasetPath, "dataset", 1ull << 34));
        run["state_hash"] = hash;
        run["shards"] = shard->count;
        request["shard"] = shardToJson(*shard);
        request["run"] = run;
        j["per_record"] = traceDatasetRecordsToJson(r);  // what kme session merge averages
        j["shard"] = request["shard"];
        j["run"] = run;
    }
    std::string extra;
    if (toSession) {
        if (!session) {
            session.emplace(sessionPath);
            attachModel(*session, *model, baseHash);
        }
        TraceRecord t;
        t.requestJson = request.dump(-1, ' ', false, json::error_handler_t::replace);
        t.resultJson = j.dump(-1, ' ', false, json::error_handler_t::replace);
        const int64_t id = session->addTrace(t);
        j["session"] = {{"path", session->path()}, {"trace_id", id}, {"edits_applied", state.applied}, {"weights_hash", hash}};
        extra = "recorded as trace " + std::to_string(id) + " in " + session->path() + "\n";
    }
    if (shard)
        extra += "shard " + shardName(*shard) + ": " + std::to_string(r.considered) +
                 " records looked at; merge the shards' sessions with kme session merge\n";
    if (state.applied > 0) extra += state.summaryLine();
    emit(args, ctx, j, summary(r) + extra);
    return 0;
}

}  // namespace

void setTraceDatasetPngRenderer(TraceDatasetPngRenderer renderer) {
    traceDatasetPngRendererSlot() = std::move(renderer);
}
const TraceDatasetPngRenderer& traceDatasetPngRenderer() { return traceDatasetPngRendererSlot(); }

void addTraceDatasetCommands(std::vector<Command>& commands) {
    commands.push_back({"trace-dataset",
                        "[MODEL] --dataset F [--limit N] [--samples 10] [--noise 3x] [--window W] [--png F] [--session DB] "
                        "[--shard K/N]",
                        "average indirect effects over a fact set, by token bucket and layer (ROME Figure 2)",
                        {{"--dataset", true, "CounterFact or zsRE JSON file"},
                         {"--limit", true, "look at the first N records (0 = all)"},
                         {"--samples", true, "corrupted copies per trace (10)"},
                         {"--noise", true, "absolute sigma or a multiple of the subject embedding std (3x)"},
                         {"--facts", true, "fact set for the embedding std (default: the dataset)"},
                         {"--window", true, "restored layers per mlp/attn cell"},
                         {"--seed", true, "noise seed (1)"},
                         {"--png", true, "the plot (lines per token bucket with 95% bands; needs a GUI build)"},
                         {"--session", true,
                          "session file DB (created if missing): trace the session's current weights and record the "
                          "dataset trace there, as Locate's Dataset average does"},
                         {"--shard", true,
                          "K/N: trace shard K (0..N-1) only - record i of the first --limit when i mod N = K - with "
                          "the run's noise and seed; needs --session (one file per shard) or --json; kme session "
                          "merge OUT SHARDS... gives the whole run's averages"}},
                        runTraceDataset});
}

}  // namespace kme::cli
