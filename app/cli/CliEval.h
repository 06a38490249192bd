#pragma once
// Pieces of `kme eval` shared by the single-method run (CliEval.cpp) and the
// several-methods run with curves (CliEvalMethods.cpp).
#include "app/cli/Args.h"
#include "app/cli/Cli.h"
#include "engine/eval/EditEvaluation.h"

namespace kme {
class Model;
struct MethodInfo;
}  // namespace kme

namespace kme::cli {

// --limit, --select, --select-seed.
SelectionParams selectionArg(const Args& args);
// The run's options that do not depend on the method or the model: --metrics,
// --sequential, --batch, --no-baseline, --preservation-tokens, generation.
EvalParams evalRunArgs(const Args& args);
// The method's edit parameters for `model`: its defaults, then --seed,
// --hparams, --layer(s), --editor, --steps, --no-mom2, --stats-*.
// `stepsWhereKnown`: --steps sets the methods that have optimisation steps
// and leaves the others (several methods); otherwise a method without steps
// is a usage error.
void applyEditArgs(const Args& args, const Model& model, const MethodInfo& info, EvalParams& p, bool stepsWhereKnown);
// kme eval --methods A,B,... [--curves retain,scale].
int runEvalMethods(const Args& args, Context& ctx);

}  // namespace kme::cli
