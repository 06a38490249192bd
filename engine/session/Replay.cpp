#include "engine/session/Replay.h"

#include <memory>
#include <optional>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/EditHistory.h"

namespace kme {

namespace {

std::string label(const EditRecord& e) {
    std::string s = "edit #" + std::to_string(e.position);
    if (!e.name.empty()) s += " " + quoteForMessage(e.name, 60);
    return s;
}

std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "…" : h; }

}  // namespace

EditApplier stackEditApplier(EditStack& stack) {
    EditApplier a;
    EditStack* st = &stack;
    a.restoreOriginals = [st] { st->revertAll(); };
    a.applyEdit = [st](const EditRecord& edit) {
        EditPayload payload;
        const std::string what = edit.payloadKind == "weights" ? std::string("weight delta") : edit.payloadKind;
        try {
            payload = EditPayload::fromBytes(parsePayloadKind(edit.payloadKind), edit.delta);
        } catch (const Error& e) {
            fail(ErrorKind::Database, label(edit) + ": its stored " + what + " is unreadable: " + e.what());
        }
        try {
            st->apply(payload);  // refuses a wrong tensor, shape, layer or a non-finite result before changing anything
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::Cancelled) throw;
            fail(ErrorKind::Database, label(edit) + ": its stored " + what + " cannot be applied: " + e.what());
        }
    };
    a.currentHash = [st] { return st->model().stateHash(); };
    return a;
}

EditApplier makeEditApplier(Model& model) {
    auto stack = std::make_shared<EditStack>(model);
    EditApplier a = stackEditApplier(*stack);
    // Keep the stack alive as long as any copy of the applier.
    a.restoreOriginals = [stack, f = a.restoreOriginals] { f(); };
    return a;
}

std::vector<WhatIfNote> whatIfNotes(const std::vector<EditRecord>& edits, const std::string& baseHash) {
    return EditHistory(edits, baseHash).whatIfNotes();
}

ReplayReport replaySession(const SessionStore& store, const EditApplier& applier, const ReplayOptions& options,
                           const ProgressFn& progress) {
    const std::string& path = store.path();
    ReplayReport report;
    const auto model = store.model();
    const std::vector<EditRecord> edits = store.listEdits(false);
    std::vector<const EditRecord*> enabled;
    for (const auto& e : edits)
        if (e.enabled) enabled.push_back(&e);

    if (!enabled.empty() && !model)
        fail(ErrorKind::Database, path + ": the session has enabled edits but records no model to apply them to");
    if (!enabled.empty() && !applier.applyEdit)
        fail(ErrorKind::Input, path + ": this build cannot apply edits yet: the session has " +
                                   std::to_string(enabled.size()) + " enabled edit(s), the first " +
                                   label(*enabled.front()) + " (" + enabled.front()->method +
                                   "); only a session whose edits are all disabled replays");
    if (model) report.baseHash = model->weightsHash;

    if (applier.restoreOriginals) applier.restoreOriginals();
    if (options.verifyBase && applier.currentHash && model) {
        const std::string h = applier.currentHash();
        if (h != model->weightsHash)
            fail(ErrorKind::Database, path + ": the weights to replay on have hash " + h +
                                          ", but the session's model has " + model->weightsHash +
                                          " (the checkpoint changed, or restoring the originals failed)");
    }

    // A hash mismatch seen after several edits: replay again hashing after
    // every edit, so that the error names the first edit that diverges (a
    // corrupt edit #1 is not blamed on edit #2); `message` when none does.
    auto blame = [&](const std::string& message) {
        if (!options.verifyEachStep && applier.restoreOriginals && applier.currentHash && report.applied > 1) {
            ReplayOptions each = options;
            each.verifyEachStep = true;
            replaySession(store, applier, each, {});
        }
        fail(ErrorKind::Database, message);
    };

    std::optional<std::string> known;  // hash of the live weights when it follows from the records
    if (model) known = model->weightsHash;
    std::vector<const EditRecord*> disabled;
    const EditRecord* last = nullptr;  // last enabled edit
    bool lastWhatIf = false;
    const double total = double(enabled.size());
    for (const EditRecord& e : edits) {
        ReplayStep step{e.id, e.position, e.name, e.method, e.enabled, false, false};
        if (!e.enabled) {
            disabled.push_back(&e);
            report.steps.push_back(step);
            continue;
        }
        if (!reportProgress(progress, report.applied, total)) throw Cancelled();
        // The base this delta lands on: from the records while they match;
        // else by hashing, which tells a what-if (the records' chain says one
        // thing, the delta was computed on another) from a previous edit that
        // did not reproduce its recorded hash, and finds a later edit
        // computed on exactly this what-if state.
        std::string appliedOn;
        if (known && *known == e.computedOnHash) {
            appliedOn = *known;
        } else if (applier.currentHash) {
            appliedOn = applier.currentHash();
            if (known && appliedOn != *known) {
                if (last)
                    blame(path + ": replay does not reproduce " + label(*last) + ": the weights hash after it is " +
                          appliedOn + ", the session recorded " + *known + " (a delta or the edit engine changed)");
                fail(ErrorKind::Database, path + ": the weights to replay on have hash " + appliedOn +
                                              ", but the session's model has " + *known);
            }
        } else if (known) {
            appliedOn = *known;
        }
        const bool whatIf = appliedOn.empty() || appliedOn != e.computedOnHash;
        if (whatIf) report.whatIf.push_back(makeWhatIfNote(e, appliedOn, disabled));

        try {
            applier.applyEdit(store.getEdit(e.id, true));
        } catch (const Error& err) {
            const std::string what = err.what();
            if (err.kind() == ErrorKind::Cancelled || what.rfind(path + ": ", 0) == 0) throw;
            throw Error(err.kind(), path + ": " + what);  // name the session file
        }
        ++report.applied;
        step.applied = true;
        step.whatIf = whatIf;
        report.steps.push_back(step);
        last = &e;
        lastWhatIf = whatIf;
        if (whatIf) {
            known.reset();
            continue;
        }
        known = e.weightsHashAfter;
        if (options.verifyEachStep && applier.currentHash) {
            const std::string h = applier.currentHash();
            if (h != e.weightsHashAfter)
                fail(ErrorKind::Database, path + ": replay does not reproduce " + label(e) +
                                              ": the weights hash after it is " + h + ", the session recorded " +
                                              e.weightsHashAfter + " (the delta or the edit engine changed)");
        }
    }
    reportProgress(progress, report.applied, total);

    if (applier.currentHash) report.finalHash = applier.currentHash();
    if (!last)
        report.expectedHash = report.baseHash;
    else if (!lastWhatIf)
        report.expectedHash = last->weightsHashAfter;
    if (!report.expectedHash.empty() && !report.finalHash.empty()) {
        if (report.finalHash != report.expectedHash) {
            if (last)
                blame(path + ": replay does not reproduce " + label(*last) + ": the weights hash after it is " +
                      report.finalHash + ", the session recorded " + report.expectedHash +
                      " (a delta or the edit engine changed)");
            fail(ErrorKind::Database, path + ": with every edit disabled the weights hash is " + report.finalHash +
                                          ", the session's model has " + report.expectedHash);
        }
        report.verified = true;
    }

    // The live weights now follow these edits: a later addEdit on this store
    // refuses if another writer changed them meanwhile (concurrent writers).
    store.expectEdits(edits);

    report.summary = std::to_string(report.applied) + " of " + std::to_string(edits.size()) + " edit(s) applied";
    if (!disabled.empty()) report.summary += " (" + std::to_string(disabled.size()) + " disabled)";
    if (report.verified)
        report.summary += "; weights hash " + shortHash(report.finalHash) + " verified";
    else if (!report.whatIf.empty())
        report.summary += "; what-if: " + std::to_string(report.whatIf.size()) +
                          " edit(s) applied on another base, the final weights were never recorded";
    else
        report.summary += "; weights hash not checked";
    return report;
}

}  // namespace kme
