// kme bench forward
#include <iomanip>
#include <sstream>

#include "app/cli/CliBenchEdit.h"
#include "app/cli/CliBenchFamily.h"
#include "app/cli/CliSupport.h"
#include "engine/model/Benchmark.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/trace/TraceBenchmark.h"

#include <filesystem>

namespace kme::cli {
namespace {

using json = nlohmann::json;

int runBenchForward(Context& ctx, const Args& args) {
    const int repeats = args.getInt("--repeats", 5, 1, 1000);
    const ModelConfig shape = gpt2SmallConfig();
    ctx.err << "bench forward: random model of GPT-2 small's shape, best of " << repeats << " runs...\n";
    const ForwardBench b = benchForward(shape, {{1, 64}, {11, 16}}, repeats);
    json cases = json::array();
    std::ostringstream s;
    s << std::fixed << std::setprecision(2);
    s << "forward pass, " << b.shape << " (" << b.parameters << " parameters), " << b.threads << " threads\n"
      << "BLAS: " << b.blas << "\nplain matmul 1024^3: " << b.matmulGflops << " GFLOP/s\n";
    for (const auto& c : b.cases) {
        cases.push_back({{"batch", c.batch},
                         {"tokens", c.tokens},
                         {"seconds", c.seconds},
                         {"tokens_per_second", c.tokensPerSecond},
                         {"gflops", c.gflops},
                         {"ratio_to_matmul", c.ratioToMatmul}});
        s << "  " << c.batch << " x " << c.tokens << " tokens: " << std::setprecision(4) << c.seconds << " s, "
          << std::setprecision(1) << c.tokensPerSecond << " tokens/s, " << c.gflops << " GFLOP/s = "
          << std::setprecision(2) << c.ratioToMatmul << " x matmul\n";
    }
    emit(args, ctx,
         {{"benchmark", "forward"},
          {"shape", b.shape},
          {"parameters", b.parameters},
          {"threads", b.threads},
          {"blas", b.blas},
          {"matmul_gflops", b.matmulGflops},
          {"cases", cases}},
         s.str());
    return 0;
}

json kindSecondsJson(const std::map<std::string, double>& seconds) {
    json j = json::object();
    for (const auto& [kind, v] : seconds) j[kind] = v;
    return j;
}

json traceCaseJson(const TraceBenchCase& c) {
    return {{"model", c.model},
            {"tokens", c.tokens},
            {"subject_tokens", c.subjectTokens},
            {"samples", c.samples},
            {"layers", c.layers},
            {"reference_seconds", c.referenceSeconds},
            {"fast_seconds", c.fastSeconds},
            {"speedup", c.speedup},
            {"reference_gflops", c.referenceGflops},
            {"fast_gflops", c.fastGflops},
            {"reference_tflop", c.referenceTflop},
            {"fast_tflop", c.fastTflop},
            {"max_difference", c.maxDifference},
            {"window", c.window},
            {"reference_logits_tflop", c.referenceLogitsTflop},
            {"fast_logits_tflop", c.fastLogitsTflop},
            {"reference_setup_seconds", c.referenceSetupSeconds},
            {"fast_setup_seconds", c.fastSetupSeconds},
            {"reference_row_seconds", kindSecondsJson(c.referenceRowSeconds)},
            {"fast_row_seconds", kindSecondsJson(c.fastRowSeconds)}};
}

// "hidden 1.2 s, mlp 3.4 s, attn 3.3 s"
std::string kindSecondsText(const std::map<std::string, double>& seconds) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2);
    for (const auto& [kind, v] : seconds) s << (s.tellp() > 0 ? ", " : "") << kind << " " << v << " s";
    return s.str();
}

int runBenchTrace(Context& ctx, const Args& args) {
    const int samples = args.getInt("--samples", 10, 1, 1000);
    const double matmul = measureMatmulGflops(1024, 5);
    std::vector<TraceBenchCase> cases;
    const std::string demo = demoModelFolder();
    if (!demo.empty()) {
        ctx.err << "bench trace: demo model...\n";
        auto m = Model::load(demo);
        cases.push_back(benchTrace(*m, "demo", samples));
    }
    if (!args.has("--skip-gpt2")) {
        ctx.err << "bench trace: writing a random model of GPT-2 small's shape (124M)...\n";
        const std::string dir = (std::filesystem::temp_directory_path() / "kme-bench-gpt2-small").string();
        std::filesystem::remove_all(dir);
        writeRandomModelFolder(dir, gpt2SmallConfig(), 1234);
        {
            auto m = Model::load(dir);
            ctx.err << "bench trace: GPT-2 small shape, both strategies (minutes)...\n";
            cases.push_back(benchTrace(*m, "gpt2-small-random", samples));
        }
        std::filesystem::remove_all(dir);
    }
    json list = json::array();
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << "plain matmul 1024^3: " << matmul << " GFLOP/s\n";
    for (const auto& c : cases) {
        list.push_back(traceCaseJson(c));
        s << c.model << " (" << c.layers << " layers), " << c.tokens << " tokens, " << c.subjectTokens
          << "-token subject, " << c.samples << " samples, hidden+mlp+attn:\n"
          << "  reference " << c.referenceSeconds << " s (" << c.referenceTflop << " TFLOP, " << c.referenceGflops
          << " GFLOP/s = " << c.referenceGflops / matmul << " x matmul)\n"
          << "  fast      " << c.fastSeconds << " s (" << c.fastTflop << " TFLOP, " << c.fastGflops
          << " GFLOP/s = " << c.fastGflops / matmul << " x matmul)\n"
          << "  speed-up " << c.speedup << "x, max |fast - reference| " << std::scientific << c.maxDifference
          << std::fixed << "\n"
          << "  where the time goes: reference setup " << c.referenceSetupSeconds << " s, rows "
          << kindSecondsText(c.referenceRowSeconds) << "; fast setup " << c.fastSetupSeconds << " s, rows "
          << kindSecondsText(c.fastRowSeconds) << "\n"
          << "  final logits: reference " << c.referenceLogitsTflop << " of " << c.referenceTflop << " TFLOP, fast "
          << c.fastLogitsTflop << " of " << c.fastTflop << " TFLOP (window " << c.window << ")\n";
    }
    emit(args, ctx, {{"benchmark", "trace"}, {"matmul_gflops", matmul}, {"cases", list}}, s.str());
    return 0;
}

int runBench(const Args& args, Context& ctx) {
    if (args.positional().empty()) throw UsageError("bench needs a target: forward, trace, edit or family");
    const std::string what = args.positional()[0];
    if (what == "forward") return runBenchForward(ctx, args);
    if (what == "trace") return runBenchTrace(ctx, args);
    if (what == "edit") return runBenchEdit(ctx, args);
    if (what == "family") return runBenchFamily(ctx, args);
    throw UsageError("unknown benchmark '" + what + "' (available: forward, trace, edit, family)");
}

}  // namespace

void addBenchCommands(std::vector<Command>& commands) {
    commands.push_back({"bench",
                        "forward [--repeats 5] | trace [--samples 10] [--skip-gpt2] | edit [--skip-gpt2] [--stats-tokens N] "
                        "[--skip-straightforward] | "
                        "family [--sizes 1b,7b] [--dir D] [--trace-edit tiny,1b] [--samples 5] [--compare-f32] [--bf16-trace-edit] [--keep]",
                        "measured benchmarks, each side by side with a plain matmul in the same run",
                        {{"--repeats", true, "timed runs per case, best kept (5)"},
                         {"--samples", true, "trace: corrupted copies (10); family: 5"},
                         {"--skip-gpt2", false, "trace, edit: only the demo model"},
                         {"--stats-tokens", true, "edit: key-statistics tokens per layer (100000)"},
                         {"--skip-straightforward", false,
                          "edit: time only the fast v* / z paths, not the straightforward ones beside them"},
                         {"--sizes", true, "family: LLaMA shapes to write, of tiny, 1b (TinyLlama-1.1B), 7b (Llama-2-7B) (1b,7b)"},
                         {"--dir", true, "family: scratch folder for the random models (the system's temporary folder)"},
                         {"--trace-edit", true, "family: sizes that also get a trace and a ROME edit (tiny,1b; none)"},
                         {"--prompt-tokens", true, "family: prompt length of the predict measurement (32)"},
                         {"--new-tokens", true, "family: greedy tokens decoded after it (8)"},
                         {"--compare-f32", false, "family: also load converting the weights to float32 (memory before half stayed half)"},
                         {"--bf16-trace-edit", false,
                          "family: also time the trace and the ROME edit with bf16 products (GEMM and predict are always "
                          "measured in both modes, whatever KME_HALF_PRODUCT says)"},
                         {"--keep", false, "family: keep the model folders"}},
                        runBench});
}

}  // namespace kme::cli
