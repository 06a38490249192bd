#pragma once
// kme bench edit: one ROME edit and one 10-request MEMIT batch, with key
// statistics computed (empty cache) and cached, on the demo model and a
// GPT-2-small-shaped random model.
#include "app/cli/Cli.h"

namespace kme::cli {
int runBenchEdit(Context& ctx, const Args& args);
}
