#include "engine/session/EditHistory.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "engine/core/SafeInput.h"

namespace kme {

namespace {

std::string label(const EditRecord& e) {
    std::string s = "edit #" + std::to_string(e.position);
    if (!e.name.empty()) s += " " + quoteForMessage(e.name, 60);
    return s;
}

}  // namespace

WhatIfNote makeWhatIfNote(const EditRecord& e, const std::string& appliedOn,
                          const std::vector<const EditRecord*>& disabled) {
    WhatIfNote n;
    n.editId = e.id;
    n.position = e.position;
    n.name = e.name;
    n.computedOnHash = e.computedOnHash;
    n.appliedOnHash = appliedOn;
    for (const EditRecord* x : disabled) n.disabledBefore.push_back(x->position);
    n.message = label(e) + " was computed on other weights than it is applied on";
    if (!disabled.empty()) {
        n.message += " (disabled before it: ";
        for (size_t i = 0; i < disabled.size(); ++i) n.message += (i ? ", " : "") + label(*disabled[i]);
        n.message += ")";
    } else {
        n.message += " (the edits before it were reordered, or it was recorded as a what-if)";
    }
    n.message += ": a what-if, its delta is applied as computed";
    return n;
}

EditHistory::EditHistory(const std::vector<EditRecord>& edits, std::string baseHash) : baseHash_(std::move(baseHash)) {
    entries_.reserve(edits.size());
    // Two readings of the same walk:
    // - `chain`: the state the next enabled edit lands on, while it follows
    //   from the records (std::nullopt after the first what-if); an edit
    //   whose recorded base differs gets a what-if note.
    // - `recorded`: the state the session recorded for the edits so far; ""
    //   (never recorded) from the first edit that does not land on a known,
    //   non-empty state equal to its base.
    std::optional<std::string> chain = baseHash_;
    std::string recorded = baseHash_;
    std::vector<const EditRecord*> disabled;
    std::set<int64_t> ids;
    int lastPosition = 0;
    for (const EditRecord& e : edits) {
        if (!ids.insert(e.id).second)
            problems_.push_back("edit id " + std::to_string(e.id) + " appears more than once in the history");
        if (e.position <= lastPosition)
            problems_.push_back(label(e) + " comes after position " + std::to_string(lastPosition) +
                                ": the positions are not in increasing order");
        lastPosition = std::max(lastPosition, e.position);

        HistoryEntry h;
        h.id = e.id;
        h.position = e.position;
        h.name = e.name;
        h.method = e.method;
        h.enabled = e.enabled;
        h.computedOnHash = e.computedOnHash;
        h.hashAfter = e.weightsHashAfter;
        if (!e.enabled) {
            disabled.push_back(&e);
        } else {
            h.appliedOnHash = chain.value_or(std::string());
            if (chain && *chain == e.computedOnHash) {
                chain = e.weightsHashAfter;
            } else {
                h.whatIf = true;
                notes_.push_back(makeWhatIfNote(e, chain.value_or(std::string()), disabled));
                chain.reset();
            }
            recorded = !recorded.empty() && recorded == e.computedOnHash ? e.weightsHashAfter : std::string();
        }
        h.stateAfter = recorded;
        entries_.push_back(std::move(h));
    }
}

const HistoryEntry* EditHistory::find(int64_t id) const {
    for (const HistoryEntry& h : entries_)
        if (h.id == id) return &h;
    return nullptr;
}

const WhatIfNote* EditHistory::whatIfNote(int64_t id) const {
    for (const WhatIfNote& n : notes_)
        if (n.editId == id) return &n;
    return nullptr;
}

std::string EditHistory::expectedHashAt(int position) const {
    std::string hash = baseHash_;
    for (const HistoryEntry& h : entries_) {
        if (position >= 0 && h.position > position) break;
        hash = h.stateAfter;
    }
    return hash;
}

std::vector<int64_t> EditHistory::enabledIds(int position) const {
    std::vector<int64_t> out;
    for (const HistoryEntry& h : entries_) {
        if (position >= 0 && h.position > position) break;
        if (h.enabled) out.push_back(h.id);
    }
    return out;
}

int64_t EditHistory::undoTarget() const {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
        if (it->enabled) return it->id;
    return 0;
}

int64_t EditHistory::redoTarget() const {
    int64_t target = 0;
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
        if (it->enabled) break;
        target = it->id;
    }
    return target;
}

}  // namespace kme
