#pragma once
// A session's edit history as a chain of state hashes, walked once. Each
// edit records the state it was computed on (computedOnHash) and the state
// after it there (weightsHashAfter); applying the enabled edits in position
// order on the unedited model follows the recorded chain as long as every
// enabled edit lands on the state it was computed on. Where one does not (an
// edit before it was disabled, the history was reordered, or the records are
// broken), that edit is a what-if: its delta is applied as computed on other
// weights, and from there on the session never recorded the states reached.
//
// EditHistory answers, from one walk: which edits are enabled, the state
// hash each lands on and leaves, the what-if notes, the hash the session
// recorded for "after #k" / "now" ("" for a what-if), and the undo / redo
// targets. The window (SessionController, the History dock, the Compare
// tab's state pickers), ModelState and the replay's notes all read it, so
// they agree. Qt-free and torch-free; it never touches weights.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"

namespace kme {

// One edit as the walk sees it.
struct HistoryEntry {
    int64_t id = 0;
    int position = 0;  // 1-based, as recorded
    std::string name;
    std::string method;
    bool enabled = false;
    std::string computedOnHash;  // recorded: the state it was computed on
    std::string hashAfter;       // recorded: the state after it, on that state
    // Enabled edits: the state it lands on when the enabled edits before it
    // are applied ("" = not known: the chain left the recorded hashes before it).
    std::string appliedOnHash;
    // The state after the enabled edits up to and including this one, as the
    // session recorded it ("" = never recorded: a what-if at or before it).
    std::string stateAfter;
    bool whatIf = false;  // enabled, and not applied on the state it was computed on
};

class EditHistory {
public:
    EditHistory() = default;
    // `edits` in position order (SessionStore::listEdits; deltas are not
    // read), `baseHash` the session's unedited model state.
    EditHistory(const std::vector<EditRecord>& edits, std::string baseHash);

    const std::string& baseHash() const { return baseHash_; }
    const std::vector<HistoryEntry>& entries() const { return entries_; }
    bool empty() const { return entries_.empty(); }
    // nullptr for an id the history does not have.
    const HistoryEntry* find(int64_t id) const;

    // The enabled edits applied on another state than they were computed on,
    // in position order (replaySession, which hashes, can be more precise).
    const std::vector<WhatIfNote>& whatIfNotes() const { return notes_; }
    const WhatIfNote* whatIfNote(int64_t id) const;  // nullptr: none for that edit (or no such edit)
    bool hasWhatIf() const { return !notes_.empty(); }

    // The state hash the session recorded for the enabled edits at positions
    // 1..position on the unedited model (position < 0: all of them, "now";
    // 0: the base); "" once the chain leaves the recorded hashes.
    std::string expectedHashAt(int position) const;
    // The enabled edits at positions 1..position (< 0: all), in order.
    std::vector<int64_t> enabledIds(int position = -1) const;

    // Undo turns off the last enabled edit; redo turns on the first disabled
    // edit after it (undo, undo, redo, redo walks back and forth). 0: none.
    int64_t undoTarget() const;
    int64_t redoTarget() const;

    // Records that cannot form one history (hostile or damaged data): a
    // repeated id, positions out of order. Each is one sentence; the walk
    // still runs over the edits as given.
    const std::vector<std::string>& problems() const { return problems_; }

private:
    std::string baseHash_;
    std::vector<HistoryEntry> entries_;
    std::vector<WhatIfNote> notes_;
    std::vector<std::string> problems_;
};

// The what-if note of enabled edit `e` applied on `appliedOn` ("" = not
// known) with the disabled edits before it (Replay.cpp and EditHistory).
WhatIfNote makeWhatIfNote(const EditRecord& e, const std::string& appliedOn,
                          const std::vector<const EditRecord*>& disabledBefore);

}  // namespace kme
