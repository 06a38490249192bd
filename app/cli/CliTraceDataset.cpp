// kme trace-dataset
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
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
    const Dataset dataset = loadDataset(datasetPath);
    auto model = loadModelArg(args, ctx);
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
    emit(args, ctx, traceDatasetResultToJson(r), summary(r));
    return 0;
}

}  // namespace

void setTraceDatasetPngRenderer(TraceDatasetPngRenderer renderer) {
    traceDatasetPngRendererSlot() = std::move(renderer);
}
const TraceDatasetPngRenderer& traceDatasetPngRenderer() { return traceDatasetPngRendererSlot(); }

void addTraceDatasetCommands(std::vector<Command>& commands) {
    commands.push_back({"trace-dataset",
                        "[MODEL] --dataset F [--limit N] [--samples 10] [--noise 3x] [--window W] [--png F]",
                        "average indirect effects over a fact set, by token bucket and layer (ROME Figure 2)",
                        {{"--dataset", true, "CounterFact or zsRE JSON file"},
                         {"--limit", true, "look at the first N records (0 = all)"},
                         {"--samples", true, "corrupted copies per trace (10)"},
                         {"--noise", true, "absolute sigma or a multiple of the subject embedding std (3x)"},
                         {"--facts", true, "fact set for the embedding std (default: the dataset)"},
                         {"--window", true, "restored layers per mlp/attn cell"},
                         {"--seed", true, "noise seed (1)"},
                         {"--png", true, "the plot (lines per token bucket with 95% bands; needs a GUI build)"}},
                        runTraceDataset});
}

}  // namespace kme::cli
