#pragma once
// The edit flags every command that edits shares (kme edit, kme eval, kme
// eval --methods): --hparams, --layer(s), --editor, --steps, --no-mom2,
// --stats-corpus, --stats-samples, --stats-tokens, --facts, --seed, read
// into the engine's EditOverrides (engine/edit/EditSetup.h), and the
// command line's remedies for the engine's edit problems.
#include <string>

#include "app/cli/Args.h"
#include "engine/edit/EditSetup.h"

namespace kme {
struct MethodInfo;
}

namespace kme::cli {

// The flags above as overrides for `info`. Usage errors (exclusive flags, a
// flag of another method) are thrown here, before any work; --hparams is read.
// `severalMethods` (kme eval --methods): --steps, --editor and --facts reach
// the methods they apply to and leave the others.
EditOverrides editOverridesFromArgs(const Args& args, const MethodInfo& info, bool severalMethods = false);
// The flag(s) that remedy `problem` ("give --stats-corpus FILE, or --no-mom2 for the identity").
// `method`: the method's table name ("" = unknown), for the flag of its layer shape.
std::string editRemedy(EditProblem problem, const std::string& method = {});

}  // namespace kme::cli
