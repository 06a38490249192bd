// kme trace
#include <cmath>
#include <fstream>
#include <iostream>
#include <iomanip>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceJson.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

std::string csvField(const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

void writeCsv(const std::string& path, const TraceResult& r) {
    std::ostringstream f;
    f << "kind,token_index,token,in_subject,layer,score\n";
    f << std::setprecision(10);
    for (const auto& [kind, rows] : r.scores)
        for (size_t t = 0; t < rows.size(); ++t)
            for (size_t l = 0; l < rows[t].size(); ++l)
                f << traceKindName(kind) << "," << t << "," << csvField(r.tokens[t]) << ","
                  << (int(t) >= r.subjectBegin && int(t) < r.subjectEnd ? 1 : 0) << "," << l << "," << rows[t][l]
                  << "\n";
    writeFileAtomically(path, f.str(), "CSV output");
}

// Human summary: for each kind the strongest cell and the subject's last
// token's best layer.
std::string summary(const TraceResult& r) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(4);
    s << "answer " << json(r.answerToken).dump() << ": p(clean) " << r.highScore << ", p(corrupted) " << r.lowScore
      << "  (sigma " << r.sigma << ", " << r.samples << " samples, window " << r.window << ", "
      << std::setprecision(2) << r.seconds << " s)\n" << std::setprecision(4);
    for (const auto& [kind, rows] : r.scores) {
        double best = -1;
        size_t bt = 0, bl = 0;
        for (size_t t = 0; t < rows.size(); ++t)
            for (size_t l = 0; l < rows[t].size(); ++l)
                if (rows[t][l] > best) best = rows[t][l], bt = t, bl = l;
        const auto& last = rows[r.subjectEnd - 1];
        size_t ll = 0;
        for (size_t l = 0; l < last.size(); ++l)
            if (last[l] > last[ll]) ll = l;
        s << "  " << std::setw(6) << traceKindName(kind) << ": strongest restore p=" << best << " at token " << bt << " "
          << json(r.tokens[bt]).dump() << ", layer " << bl << "; subject's last token peaks at layer " << ll
          << " (p=" << last[ll] << ")\n";
    }
    return s.str();
}

int runTrace(const Args& args, Context& ctx) {
    TraceParams p;
    p.prompt = args.require("--prompt");
    p.subject = args.require("--subject");
    p.answer = args.get("--answer");
    const std::string kind = args.get("--kind", "all");
    if (kind == "all") {
        p.kinds = {TraceKind::Hidden, TraceKind::Mlp, TraceKind::Attn};
    } else {
        const auto k = parseTraceKind(kind);
        if (!k) throw UsageError("--kind must be hidden, mlp, attn or all, got '" + kind + "'");
        p.kinds = {*k};
    }
    p.samples = args.getInt("--samples", 10, 1, 100000);
    try {
        p.noise = parseNoiseSpec(args.get("--noise", "3x"));
    } catch (const kme::Error& e) {
        throw UsageError(e.what());
    }
    p.noise.factsPath = args.get("--facts");
    p.window = args.getInt("--window", -1, 1, 100000);
    p.seed = args.getSeed("--seed", 1);
    const std::string strategy = args.get("--strategy", "fast");
    if (strategy != "fast" && strategy != "reference")
        throw UsageError("--strategy must be fast or reference, got '" + strategy + "'");
    p.strategy = strategy == "fast" ? TraceStrategy::Fast : TraceStrategy::Reference;
    p.noiseIn = args.get("--noise-in");
    p.noiseOut = args.get("--noise-out");
    const std::string png = args.get("--png");
    if (args.has("--png") && !tracePngRenderer())
        throw UsageError("--png needs a build with the GUI (this kme was built without Qt widgets to draw heatmaps)");
    // Every output path is checked before the work (and before Qt starts).
    for (const auto& [flag, what] : {std::pair<const char*, const char*>{"--csv", "CSV output"},
                                     {"--png", "PNG"},
                                     {"--noise-out", "noise file"}}) {
        if (!args.has(flag)) continue;
        if (args.get(flag).empty()) throw UsageError(std::string(flag) + " needs a file name");
        checkOutputFile(args.get(flag), what);
    }

    const SessionModelState state = loadModelOrSessionArg(args, ctx);
    const auto& model = state.model;
    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const TraceResult r = causalTrace(*model, p, [&](double done, double total) {
        if (bar) ctx.err << "\rtracing: " << int(done) << "/" << int(total) << " rows" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";

    json j = traceResultToJson(r);  // the same JSON the session stores
    if (!state.path.empty()) j["session"] = state.toJson();
    if (args.has("--csv")) writeCsv(args.get("--csv"), r);
    if (args.has("--png")) {
        std::string error;
        if (!tracePngRenderer()(r, png, &error)) fail(ErrorKind::Io, error.empty() ? png + ": cannot write the PNG" : error);
    }
    emit(args, ctx, j, summary(r) + (state.path.empty() ? std::string() : state.summaryLine()));
    return 0;
}

}  // namespace

void addTraceCommands(std::vector<Command>& commands) {
    commands.push_back({"trace",
                        "[MODEL] --prompt T --subject S [--answer A] [--kind all] [--samples 10] [--noise 3x] "
                        "[--window W] [--seed 1] [--strategy fast|reference] [--session DB]",
                        "causal tracing heatmaps (hidden / mlp / attn x token x layer), ROME's method",
                        {{"--prompt", true, "the prompt, subject included"},
                         {"--subject", true, "the subject (its first occurrence in the prompt is corrupted)"},
                         {"--answer", true, "the answer whose probability is traced (default: the clean top-1)"},
                         {"--kind", true, "hidden | mlp | attn | all (all)"},
                         {"--samples", true, "corrupted copies (10)"},
                         {"--noise", true, "absolute sigma (0.1) or a multiple of the subject embedding std (3x)"},
                         {"--facts", true, "fact set whose subjects give the embedding std ('none' = whole matrix)"},
                         {"--window", true, "restored layers per mlp/attn cell (10, or n_layer/4 for small models)"},
                         {"--seed", true, "seed of the noise draws (1)"},
                         {"--strategy", true, "fast (default) or reference (ROME's straightforward loop)"},
                         {"--noise-in", true, "safetensors file with tensor 'noise' [samples, subject_tokens, n_embd]"},
                         {"--noise-out", true, "write the noise draws used"},
                         {"--csv", true, "one row per (kind, token, layer)"},
                         {"--png", true, "the three heatmaps as a picture"},
                         {"--session", true, kSessionOptionHelp}},
                        runTrace});
}

}  // namespace kme::cli
