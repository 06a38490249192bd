#pragma once
// kme bench family: random LLaMA-shaped BF16 models (sizes tiny, 1b, 7b) in a
// scratch folder: load time, peak RSS against the file size, predict
// tokens/s against matmul, a causal trace and a ROME edit (--no-mom2).
#include "app/cli/Cli.h"

namespace kme::cli {
int runBenchFamily(Context& ctx, const Args& args);
}
