// kme bench forward
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/model/Benchmark.h"
#include "engine/model/RandomModel.h"

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

int runBench(const Args& args, Context& ctx) {
    if (args.positional().empty()) throw UsageError("bench needs a target: forward");
    const std::string what = args.positional()[0];
    if (what == "forward") return runBenchForward(ctx, args);
    throw UsageError("unknown benchmark '" + what + "' (available: forward)");
}

}  // namespace

void addBenchCommands(std::vector<Command>& commands) {
    commands.push_back({"bench",
                        "forward [--repeats 5]",
                        "measured benchmarks, each side by side with a plain matmul in the same run",
                        {{"--repeats", true, "timed runs per case, best kept (5)"}},
                        runBench});
}

}  // namespace kme::cli
