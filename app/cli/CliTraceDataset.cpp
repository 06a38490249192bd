// kme trace-dataset
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/TraceDataset.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

int runTraceDataset(const Args& args, Context& ctx) {
    const Dataset dataset = loadDataset(args.require("--dataset"));
    TraceDatasetParams p;
    p.limit = args.getInt("--limit", 0, 0, 100000000);
    p.trace.samples = args.getInt("--samples", 10, 1, 100000);
    try {
        p.trace.noise = parseNoiseSpec(args.get("--noise", "3x"));
    } catch (const kme::Error& e) {
        throw UsageError(e.what());
    }
    p.trace.noise.factsPath = args.get("--facts", args.require("--dataset"));
    p.trace.window = args.getInt("--window", -1, 1, 100000);
    p.trace.seed = args.getSeed("--seed", 1);
    if (args.has("--png")) throw UsageError("--png for trace-dataset is not available yet");
    auto model = loadModelArg(args, ctx);
    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const TraceDatasetResult r = traceDataset(*model, dataset, p, [&](double done, double total) {
        if (bar) ctx.err << "\rtrace-dataset: " << int(done) << "/" << int(total) << " records" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";
    json kinds = json::object(), ci = json::object(), counts = json::object();
    std::ostringstream s;
    s << std::fixed << std::setprecision(3);
    s << r.traced << " of " << r.considered << " records traced (clean top-1 = true target) in " << std::setprecision(1)
      << r.seconds << " s; mean p(clean) " << std::setprecision(3) << r.meanHigh << ", p(corrupted) " << r.meanLow
      << "\nmean indirect effect by layer:\n";
    for (const auto& [kind, rows] : r.mean) {
        kinds[traceKindName(kind)] = rows;
        ci[traceKindName(kind)] = r.ci95.at(kind);
        counts[traceKindName(kind)] = r.count.at(kind);
        for (size_t b = 0; b < rows.size(); ++b) {
            if (b != 2 && b != 5) continue;  // the two rows the summary shows
            s << "  " << std::setw(6) << traceKindName(kind) << " " << std::setw(20) << r.buckets[b] << ":";
            for (double v : rows[b]) s << " " << v;
            s << "\n";
        }
    }
    emit(args, ctx,
         {{"buckets", r.buckets},
          {"kinds", kinds},
          {"ci95", ci},
          {"counts", counts},
          {"n_layer", r.nLayer},
          {"records_considered", r.considered},
          {"records_traced", r.traced},
          {"mean_high_score", r.meanHigh},
          {"mean_low_score", r.meanLow},
          {"total_effect", r.meanHigh - r.meanLow},
          {"samples", p.trace.samples},
          {"seconds", r.seconds}},
         s.str());
    return 0;
}

}  // namespace

void addTraceDatasetCommands(std::vector<Command>& commands) {
    commands.push_back({"trace-dataset",
                        "[MODEL] --dataset F [--limit N] [--samples 10] [--noise 3x] [--window W]",
                        "average indirect effects over a fact set, by token bucket and layer (ROME Figure 2)",
                        {{"--dataset", true, "CounterFact or zsRE JSON file"},
                         {"--limit", true, "trace at most N records"},
                         {"--samples", true, "corrupted copies per trace (10)"},
                         {"--noise", true, "absolute sigma or a multiple of the subject embedding std (3x)"},
                         {"--facts", true, "fact set for the embedding std (default: the dataset)"},
                         {"--window", true, "restored layers per mlp/attn cell"},
                         {"--seed", true, "noise seed (1)"},
                         {"--png", true, "plot (not available yet)"}},
                        runTraceDataset});
}

}  // namespace kme::cli
