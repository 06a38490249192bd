#pragma once
// Model states of a session (issue 16, item 3): a state is a *set* of the
// session's edits, applied in history order on the original weights -- not
// only a prefix of the history. "After the ROME edit alone" and "after the
// GRACE edit alone" are two states; so are "original" and "now" (the enabled
// edits). Building a state is a what-if: the session's enabled flags are
// never touched, and the live weights come back afterwards
// (engine/session/StateComparison.h). Torch-free.
//
// The command line names states as text (`kme compare --a STATE`):
//   original        no edit
//   now             the session's enabled edits
//   after:K         the enabled edits at positions 1..K (the Compare tab's "after #K")
//   ID[,ID...]      exactly these edits (ids as `kme session show` lists them),
//                   enabled in the session or not
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"

namespace kme {

class EditStack;
struct EditPayload;

struct StateSpec {
    enum class Kind { Original, Now, After, Edits };
    Kind kind = Kind::Now;
    int after = 0;              // Kind::After: the last position included (0 = original)
    std::vector<int64_t> ids;   // Kind::Edits: the edit ids, as given (no duplicates, never empty)
    std::string text;           // as given, for messages
};

// Parses a STATE (see above). ErrorKind::Input naming `what` (e.g. "--a")
// and the text for anything else: an empty text or list, a malformed or
// repeated id, "after:" without a number.
StateSpec parseStateSpec(const std::string& text, const std::string& what);

// A state resolved against a session's edits.
struct ModelState {
    std::string label;             // "original", "now", "after #2", "#1 ROME alone", "#1 + #3"
    std::vector<int64_t> editIds;  // its edits, in history (position) order
    std::vector<int> positions;    // their positions (1-based), same order
    // The state hash the session recorded for exactly these edits on the
    // weights each was computed on ("" = never recorded: a what-if).
    std::string expectedHash;
    std::vector<WhatIfNote> whatIf;  // its edits applied on other weights than they were computed on
};

// `edits` in position order (SessionStore::listEdits), `baseHash` the
// session's unedited model. Ids not in `edits`, or "after:K" past the last
// position, are ErrorKind::Input naming `what`, the culprit and the ids /
// positions the session has.
ModelState resolveState(const StateSpec& spec, const std::vector<EditRecord>& edits, const std::string& baseHash,
                        const std::string& what = "STATE");
// Exactly the edits `ids` (any order; put in history order). Unknown ids are
// ErrorKind::Input. `label` "" = made from the edits.
ModelState stateOfEdits(const std::vector<int64_t>& ids, const std::vector<EditRecord>& edits,
                        const std::string& baseHash, const std::string& label = "");
// The enabled edits up to `position` (< 0: all of them; 0: none).
ModelState stateAtPosition(int position, const std::vector<EditRecord>& edits, const std::string& baseHash);

// The payload stored in an edit record (`record.delta` must be loaded);
// ErrorKind::Database naming the edit when it cannot be read.
EditPayload payloadOfRecord(const EditRecord& record);

// Restores the originals on `stack` and applies `payloads` in order (those
// of a ModelState's edits). Returns the model's state hash afterwards.
// Throws ErrorKind::Input (from EditStack::apply) when a payload does not
// fit the model; the stack is then back on the originals.
std::string buildState(EditStack& stack, const std::vector<std::shared_ptr<const EditPayload>>& payloads);

}  // namespace kme
