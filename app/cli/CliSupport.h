#pragma once
// Helpers shared by the command implementations.
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/cli/Cli.h"

#include "engine/eval/Shard.h"
#include "engine/session/SessionStore.h"

namespace kme {
class EditStack;
class Model;
struct TraceResult;
struct TraceDatasetResult;
}

namespace kme::cli {

// Options every command accepts.
std::vector<OptionSpec> withCommonOptions(std::vector<OptionSpec> options);
// Sets compute threads from --threads and prints a BLAS warning if needed.
void initRuntime(const Args& args, Context& ctx);
// MODEL = first positional argument, or the demo model when absent.
std::shared_ptr<Model> loadModelArg(const Args& args, Context& ctx, size_t index = 0);
// Writes --json output: "-" = stdout (and no summary), a path = written
// through engine/core/OutputFile.h (unique temporary + rename; devices and
// FIFOs written in place) and `summary` printed to stdout.
void emit(const Args& args, Context& ctx, const nlohmann::json& j, const std::string& summary);
// Checks the --json target before any work (runCli does, for every command).
void checkJsonOutput(const Args& args);
// A model brought to a session's state (`--session DB`; CliSessionState.cpp).
struct SessionModelState {
    std::shared_ptr<Model> model;
    std::string path;         // the session file, as given
    int applied = 0;          // enabled edits applied
    int total = 0;            // edits in the session, disabled ones included
    std::string weightsHash;  // the weights run on (verified by the replay when edits were applied)
    std::string description;  // "1 of 2 edits applied, hash 0123456789ab…"
    nlohmann::json toJson() const;  // {path, edits_applied, weights_hash}
    std::string summaryLine() const;  // "  on the session's weights (DESCRIPTION)\n"
};
// Brings `model` (its unedited weights hash `baseHash`) to `store`'s state
// through `stack`: the session must record a model with those weights and
// the same config.json (ErrorKind::Input naming both otherwise; nothing is
// written), then the enabled edits are replayed and the final hash verified.
SessionModelState applySessionState(const SessionStore& store, Model& model, const std::string& baseHash,
                                    EditStack& stack);
// --session DB on predict / generate / trace: opens DB read-only (a missing
// or damaged file is an error, the file is never written), loads MODEL (must
// have the session's weights) or, without MODEL, the session's recorded
// model folder, and applies the session's state. Without --session: the
// model of loadModelArg and an empty `path`.
SessionModelState loadModelOrSessionArg(const Args& args, Context& ctx);
// --session DB of a command that records a run (eval, trace-dataset): an
// existing file is opened now, before anything is computed (a file that is
// not a session is refused, untouched); a missing one is only created when a
// finished run is recorded (nullopt here), so a failed or killed run leaves
// no file. A folder, or a missing parent folder, is an error naming it.
std::optional<SessionStore> openSessionForRun(const std::string& path);
// --shard K/N (engine/eval/Shard.h): nullopt when absent; a UsageError
// naming the flag for anything but integers 0 <= K < N.
std::optional<ShardSpec> shardArg(const Args& args);
// The help line of that --session option.
inline constexpr const char* kSessionOptionHelp =
    "session file DB (read only, must exist): run on its model state, its enabled edits applied and the weights "
    "hash verified; MODEL defaults to the session's model folder";

// "12" or "13-17" (inclusive) given to option `flag`; UsageError otherwise.
std::vector<int> parseLayerArg(const std::string& flag, const std::string& text);
// A whole file; ErrorKind::Io "PATH: cannot open the WHAT" when unreadable.
std::string readTextFile(const std::string& path, const std::string& what);
// Adds ROME's leading space to a target ("Rome" -> " Rome").
std::string withLeadingSpace(const std::string& target);

// `kme trace --png`: drawing needs Qt widgets, which kme_cli must not link.
// The `kme` executable of a GUI build registers kme_render's renderTracePng
// here; without one, --png is a usage error. Returns false and sets *error.
using TracePngRenderer = std::function<bool(const TraceResult&, const std::string& path, std::string* error)>;
void setTracePngRenderer(TracePngRenderer renderer);
const TracePngRenderer& tracePngRenderer();  // empty when none is registered

// `kme trace-dataset --png`, the same way: kme_render's renderTraceDatasetPng
// (result, fact-set path for the title, PNG path, error). Implemented in
// CliTraceDataset.cpp.
using TraceDatasetPngRenderer = std::function<bool(const TraceDatasetResult&, const std::string& source,
                                                   const std::string& path, std::string* error)>;
void setTraceDatasetPngRenderer(TraceDatasetPngRenderer renderer);
const TraceDatasetPngRenderer& traceDatasetPngRenderer();  // empty when none is registered

}  // namespace kme::cli
