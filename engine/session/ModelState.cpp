#include "engine/session/ModelState.h"

#include <algorithm>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"
#include "engine/session/EditHistory.h"

namespace kme {

namespace {

constexpr size_t kMaxIdDigits = 18;  // fits int64_t

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

bool allDigits(const std::string& s) {
    return !s.empty() && s.size() <= kMaxIdDigits && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string idList(const std::vector<EditRecord>& edits) {
    if (edits.empty()) return "the session has no edits";
    std::string s = "the session's edit ids are ";
    for (size_t i = 0; i < edits.size(); ++i) {
        if (i) s += ", ";
        if (i == 8 && edits.size() > 9) return s + "… (" + std::to_string(edits.size()) + " edits)";
        s += std::to_string(edits[i].id);
    }
    return s;
}

// "#1 ROME alone" for one edit, "#1 + #3" for several.
std::string labelOf(const std::vector<const EditRecord*>& members) {
    if (members.empty()) return "no edit";
    if (members.size() == 1) {
        const MethodInfo* m = findMethod(members[0]->method);
        return "#" + std::to_string(members[0]->position) + " " + (m ? m->displayName : members[0]->method) + " alone";
    }
    std::string s;
    for (size_t i = 0; i < members.size(); ++i) s += (i ? " + #" : "#") + std::to_string(members[i]->position);
    return s;
}

// The state of exactly the edits marked in `in`, `edits` in position order.
ModelState makeState(const std::vector<EditRecord>& edits, const std::vector<bool>& in, const std::string& baseHash,
                     std::string label) {
    ModelState s;
    std::vector<EditRecord> asEnabled;  // the session as if exactly these were enabled
    std::vector<const EditRecord*> members;
    for (size_t i = 0; i < edits.size(); ++i) {
        EditRecord e = edits[i];
        e.delta.clear();
        e.enabled = in[i];
        if (e.enabled) {
            s.editIds.push_back(e.id);
            s.positions.push_back(e.position);
            members.push_back(&edits[i]);
        }
        asEnabled.push_back(std::move(e));
    }
    const EditHistory history(asEnabled, baseHash);  // the recorded chain, while it holds
    s.expectedHash = history.expectedHashAt(-1);
    s.whatIf = history.whatIfNotes();
    s.label = label.empty() ? labelOf(members) : std::move(label);
    return s;
}

}  // namespace

StateSpec parseStateSpec(const std::string& given, const std::string& what) {
    StateSpec spec;
    spec.text = given;
    const std::string text = trimmed(given);
    const std::string syntax = " (a STATE is original, now, after:K or a comma list of edit ids such as 1,3)";
    if (text.empty()) fail(ErrorKind::Input, what + " is empty" + syntax);
    if (text == "original") {
        spec.kind = StateSpec::Kind::Original;
        return spec;
    }
    if (text == "now") {
        spec.kind = StateSpec::Kind::Now;
        return spec;
    }
    if (text.rfind("after:", 0) == 0) {
        const std::string k = trimmed(text.substr(6));
        if (!allDigits(k) || k.size() > 9)
            fail(ErrorKind::Input, what + " " + quoteForMessage(given) + ": after: needs a position K >= 0" + syntax);
        spec.kind = StateSpec::Kind::After;
        spec.after = std::stoi(k);
        return spec;
    }
    spec.kind = StateSpec::Kind::Edits;
    std::set<int64_t> seen;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string part = trimmed(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (part.empty())
            fail(ErrorKind::Input, what + " " + quoteForMessage(given) + " has an empty entry in its list of edit ids" +
                                       syntax);
        if (!allDigits(part))
            fail(ErrorKind::Input, what + " " + quoteForMessage(given) + ": " + quoteForMessage(part) +
                                       " is not an edit id" + syntax);
        const int64_t id = std::stoll(part);
        if (!seen.insert(id).second)
            fail(ErrorKind::Input, what + " " + quoteForMessage(given) + " lists edit " + part + " twice");
        spec.ids.push_back(id);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return spec;
}

ModelState resolveState(const StateSpec& spec, const std::vector<EditRecord>& edits, const std::string& baseHash,
                        const std::string& what) {
    switch (spec.kind) {
    case StateSpec::Kind::Original: return stateAtPosition(0, edits, baseHash);
    case StateSpec::Kind::Now: return stateAtPosition(-1, edits, baseHash);
    case StateSpec::Kind::After: {
        const int last = edits.empty() ? 0 : edits.back().position;
        if (spec.after > last)
            fail(ErrorKind::Input, what + " " + quoteForMessage(spec.text) + ": the session has " +
                                       (last == 0 ? std::string("no edits (after:0 is the original)")
                                                  : "edits at positions 1.." + std::to_string(last)));
        return stateAtPosition(spec.after, edits, baseHash);
    }
    case StateSpec::Kind::Edits:
        for (int64_t id : spec.ids)
            if (std::none_of(edits.begin(), edits.end(), [&](const EditRecord& e) { return e.id == id; }))
                fail(ErrorKind::Input, what + " " + quoteForMessage(spec.text) + ": no edit with id " +
                                           std::to_string(id) + " in the session (" + idList(edits) + ")");
        return stateOfEdits(spec.ids, edits, baseHash);
    }
    fail(ErrorKind::Internal, "unknown state kind");
}

ModelState stateOfEdits(const std::vector<int64_t>& ids, const std::vector<EditRecord>& edits,
                        const std::string& baseHash, const std::string& label) {
    std::vector<bool> in(edits.size(), false);
    for (int64_t id : ids) {
        bool found = false;
        for (size_t i = 0; i < edits.size(); ++i)
            if (edits[i].id == id) in[i] = found = true;
        if (!found)
            fail(ErrorKind::Input, "no edit with id " + std::to_string(id) + " in the session (" + idList(edits) + ")");
    }
    return makeState(edits, in, baseHash, label);
}

ModelState stateAtPosition(int position, const std::vector<EditRecord>& edits, const std::string& baseHash) {
    std::vector<bool> in(edits.size(), false);
    for (size_t i = 0; i < edits.size(); ++i) in[i] = edits[i].enabled && (position < 0 || edits[i].position <= position);
    const std::string label =
        position == 0 ? "original" : position < 0 ? "now" : "after #" + std::to_string(position);
    return makeState(edits, in, baseHash, label);
}

EditPayload payloadOfRecord(const EditRecord& record) {
    const std::string what = record.payloadKind == "weights" ? std::string("weight delta") : record.payloadKind;
    try {
        return EditPayload::fromBytes(parsePayloadKind(record.payloadKind), record.delta);
    } catch (const Error& e) {
        fail(ErrorKind::Database, "edit #" + std::to_string(record.position) + " (id " + std::to_string(record.id) +
                                      "): its stored " + what + " is unreadable: " + e.what());
    }
}

std::string buildState(EditStack& stack, const std::vector<std::shared_ptr<const EditPayload>>& payloads) {
    stack.revertAll();
    try {
        for (const auto& p : payloads) stack.apply(*p);
    } catch (...) {
        stack.revertAll();
        throw;
    }
    return stack.model().stateHash();
}

}  // namespace kme
