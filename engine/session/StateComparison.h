#pragma once
// Comparing two model states of a session on the same prompts, as a what-if
// (issue 16, item 3): each state is built on the live model's EditStack
// (originals + its payloads, in history order), every row is answered, and
// the stack goes back to the state it held before -- also after an error or
// a cancel -- with its state hash checked. The session's enabled flags are
// never touched. Used by the Compare tab (on the worker thread) and by
// `kme compare`. Torch-free.
#include <memory>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/eval/Comparison.h"
#include "engine/session/ModelState.h"

namespace kme {

class EditStack;
struct EditPayload;

// A state and the payloads of its edits (same order as state.editIds).
struct StateToBuild {
    ModelState state;
    std::vector<std::shared_ptr<const EditPayload>> payloads;
};

struct StateComparisonResult {
    std::string hashA, hashB;  // Model::stateHash() of each built state
    std::string restoredHash;  // the stack's state hash afterwards (equal to the one before)
};

// The edits whose prompts a comparison of `a` and `b` shows: those in
// exactly one of the two states, most recent first (kCompareMaxSourceEdits at
// most); when the states hold the same edits, the session's last edit.
// `edits` in position order; an edit whose request JSON does not parse gives
// no requests.
std::vector<ComparePromptSource> comparePromptSources(const ModelState& a, const ModelState& b,
                                                      const std::vector<EditRecord>& edits);

// Answers every row on `a` (row.before) and `b` (row.after), then rebuilds
// `current` -- the state the stack holds now -- unless the last state built
// is it. A side equal to `current` is computed without rebuilding where the
// order allows. `progress` gets (prompts answered, prompts to answer); false
// cancels (kme::Cancelled, the stack restored). After restoring, a state
// hash other than the one before is ErrorKind::Internal.
StateComparisonResult compareStates(EditStack& stack, const StateToBuild& a, const StateToBuild& b,
                                    const StateToBuild& current, std::vector<CompareRow>& rows,
                                    const ProgressFn& progress = {});

}  // namespace kme
