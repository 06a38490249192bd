#pragma once
// Replaying a session's edits: restore the original weights, apply the
// enabled deltas in order, verify the resulting weights hash.
//
// A replay goes through an EditApplier (restore / apply / hash);
// stackEditApplier / makeEditApplier wrap the edit engine's EditStack. Undo and redo
// are `SessionStore::setEditEnabled` followed by a replay.
//
// What-if: disabling (or reordering) an edit in the middle of the history
// leaves the later deltas as they were computed; they are then applied on
// weights other than the ones they were computed on. The replay still runs,
// reports each such edit, and cannot verify the final hash (the session
// never recorded those weights).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/session/SessionStore.h"

namespace kme {

class Model;

// How a replay touches the live weights (normally an EditStack; tests may
// supply their own).
struct EditApplier {
    // Restores the checkpoint's original weights bit for bit. Empty: the
    // weights already are the originals (a freshly loaded model).
    std::function<void()> restoreOriginals;
    // Applies `edit.delta` (EditRecord::delta, WeightDelta::serialize()
    // bytes) on the live weights, deterministically. Empty: this build cannot
    // apply edits, and a replay with enabled edits fails saying so.
    std::function<void(const EditRecord& edit)> applyEdit;
    // DESIGN.md weights hash of the live weights. Empty: no verification.
    std::function<std::string()> currentHash;
};

class EditStack;
// The applier of an EditStack on its model (restore = revertAll, apply =
// deserialize the delta and apply it, hash = the model's weights hash). The
// stack must outlive the applier. Use this where the caller already keeps a
// stack on the model (the app).
EditApplier stackEditApplier(EditStack& stack);
// An applier owning a fresh EditStack on `model` (the model must outlive it
// and must not be edited through another stack): the command line, tests.
EditApplier makeEditApplier(Model& model);

struct ReplayOptions {
    // Hash the weights after restoring the originals and require the
    // session's model hash.
    bool verifyBase = true;
    // Hash after every edit applied on its own base (slow on big models; the
    // error then names the first edit that diverged). Otherwise only the final
    // weights are hashed.
    bool verifyEachStep = false;
};

// An enabled edit applied on weights other than those its delta was
// computed on.
struct WhatIfNote {
    int64_t editId = 0;
    int position = 0;  // 1-based
    std::string name;
    std::string computedOnHash;       // the base its delta was computed on
    std::string appliedOnHash;        // the base it gets ("" = not known without hashing)
    std::vector<int> disabledBefore;  // positions of disabled edits before it
    std::string message;              // one sentence for the history view
};

struct ReplayStep {
    int64_t editId = 0;
    int position = 0;  // 1-based
    std::string name;
    std::string method;
    bool enabled = false;
    bool applied = false;  // enabled edits are applied
    bool whatIf = false;   // applied on another base than it was computed on
};

struct ReplayReport {
    std::string baseHash;            // the session's (unedited) model
    std::string finalHash;           // live weights after the replay ("" without currentHash)
    std::string expectedHash;        // what the session recorded for this state ("" for a what-if)
    bool verified = false;           // finalHash was compared with expectedHash and matched
    int applied = 0;                 // edits applied
    std::vector<ReplayStep> steps;   // every edit, in order
    std::vector<WhatIfNote> whatIf;  // enabled edits applied on another base
    std::string summary;             // one line: "3 of 4 edits applied, weights hash verified"
};

// What-if notes for an edit list (in position order) on the model hash
// `baseHash`, without touching any weights: an enabled edit whose recorded
// base differs from what the edits before it produce. Once the chain leaves
// the recorded hashes, later bases are unknown and every later enabled edit
// is reported (replaySession, which can hash, is more precise).
std::vector<WhatIfNote> whatIfNotes(const std::vector<EditRecord>& edits, const std::string& baseHash);

// Replays `store`'s enabled edits through `applier`. Throws kme::Error:
// - the session has no model, or enabled edits and applier.applyEdit is empty
//   ("this build cannot apply edits yet");
// - after restoring, the weights are not the session's model (verifyBase);
// - the final weights differ from the last enabled edit's weights_hash_after
//   (the message names that edit), when no what-if is involved.
// `progress` gets (edits applied, edits to apply); false cancels (kme::Cancelled).
ReplayReport replaySession(const SessionStore& store, const EditApplier& applier, const ReplayOptions& options = {},
                           const ProgressFn& progress = {});

}  // namespace kme
