// The edit history as a hash chain (engine/session/EditHistory.h), checked
// against hand-built chains: the full chain (every edit lands on the state it
// was computed on), a disabled middle edit (the later edits become what-ifs
// and "now" was never recorded), a disabled last edit (no what-if: undo),
// and hostile records (a broken chain, unknown ids, repeated ids, positions
// out of order, no base hash). The replay's notes and ModelState agree with
// it, and the same chain read back from a session file gives the same walk.
#include <QtTest>

#include <string>
#include <vector>

#include "engine/session/EditHistory.h"
#include "engine/session/ModelState.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"

using kme::EditHistory;
using kme::EditRecord;

namespace {

// Edit i (1-based) computed on state H(i-1), leaving H(i); ids 10 + i.
EditRecord chainEdit(int i, bool enabled = true) {
    EditRecord e;
    e.id = 10 + i;
    e.position = i;
    e.name = std::string(1, char('a' + i - 1));
    e.method = "rome";
    e.enabled = enabled;
    e.computedOnHash = "H" + std::to_string(i - 1);
    e.weightsHashAfter = "H" + std::to_string(i);
    return e;
}

// a, b, c, d on base H0: H0 -a-> H1 -b-> H2 -c-> H3 -d-> H4.
std::vector<EditRecord> chain(int n = 4) {
    std::vector<EditRecord> edits;
    for (int i = 1; i <= n; ++i) edits.push_back(chainEdit(i));
    return edits;
}

std::vector<int64_t> noteIds(const std::vector<kme::WhatIfNote>& notes) {
    std::vector<int64_t> ids;
    for (const auto& n : notes) ids.push_back(n.editId);
    return ids;
}

}  // namespace

class TestEditHistory final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void theFullChainIsRecorded() {
        const EditHistory h(chain(), "H0");
        QVERIFY(!h.hasWhatIf());
        QVERIFY(h.problems().empty());
        QCOMPARE(h.entries().size(), size_t(4));
        QCOMPARE(h.expectedHashAt(0), std::string("H0"));
        QCOMPARE(h.expectedHashAt(2), std::string("H2"));
        QCOMPARE(h.expectedHashAt(-1), std::string("H4"));
        QCOMPARE(h.expectedHashAt(99), std::string("H4"));  // past the last position: now
        for (int i = 0; i < 4; ++i) {
            const kme::HistoryEntry& e = h.entries()[size_t(i)];
            QCOMPARE(e.appliedOnHash, "H" + std::to_string(i));
            QCOMPARE(e.stateAfter, "H" + std::to_string(i + 1));
            QVERIFY(!e.whatIf);
        }
        QCOMPARE(h.enabledIds(), (std::vector<int64_t>{11, 12, 13, 14}));
        QCOMPARE(h.enabledIds(2), (std::vector<int64_t>{11, 12}));
        QCOMPARE(h.undoTarget(), int64_t(14));
        QCOMPARE(h.redoTarget(), int64_t(0));
    }

    void aDisabledMiddleEditRaisesTheWhatIf() {
        std::vector<EditRecord> edits = chain();
        edits[1].enabled = false;  // b
        const EditHistory h(edits, "H0");
        // c was computed on H2 (with b) but lands on H1; d's base is no longer known.
        QVERIFY(h.hasWhatIf());
        QCOMPARE(noteIds(h.whatIfNotes()), (std::vector<int64_t>{13, 14}));
        const kme::WhatIfNote* c = h.whatIfNote(13);
        QVERIFY(c);
        QCOMPARE(c->position, 3);
        QCOMPARE(c->computedOnHash, std::string("H2"));
        QCOMPARE(c->appliedOnHash, std::string("H1"));
        QCOMPARE(c->disabledBefore, std::vector<int>{2});
        QVERIFY2(c->message.find("edit #2 'b'") != std::string::npos, c->message.c_str());
        QCOMPARE(h.whatIfNote(14)->appliedOnHash, std::string());
        QVERIFY(!h.whatIfNote(11));  // a is on its own base
        QVERIFY(!h.whatIfNote(12));  // b is off: no note
        QVERIFY(h.entries()[2].whatIf && h.entries()[3].whatIf && !h.entries()[0].whatIf && !h.entries()[1].whatIf);
        // The recorded states: after #1 and #2 (b off) are H1; from c on, never recorded.
        QCOMPARE(h.expectedHashAt(1), std::string("H1"));
        QCOMPARE(h.expectedHashAt(2), std::string("H1"));
        QCOMPARE(h.expectedHashAt(3), std::string());
        QCOMPARE(h.expectedHashAt(-1), std::string());
        QCOMPARE(h.enabledIds(), (std::vector<int64_t>{11, 13, 14}));
        QCOMPARE(h.undoTarget(), int64_t(14));
        QCOMPARE(h.redoTarget(), int64_t(0));  // b is not after the last enabled edit

        // The replay's static notes and a state of the same edits say the same.
        QCOMPARE(noteIds(kme::whatIfNotes(edits, "H0")), (std::vector<int64_t>{13, 14}));
        const kme::ModelState now = kme::stateOfEdits({11, 13, 14}, chain(), "H0");
        QCOMPARE(noteIds(now.whatIf), (std::vector<int64_t>{13, 14}));
        QVERIFY(now.expectedHash.empty());
        QCOMPARE(kme::stateOfEdits({11, 12}, chain(), "H0").expectedHash, std::string("H2"));
    }

    void aDisabledLastEditIsAnUndoNotAWhatIf() {
        std::vector<EditRecord> edits = chain();
        edits[2].enabled = false;  // c
        edits[3].enabled = false;  // d
        const EditHistory h(edits, "H0");
        QVERIFY(!h.hasWhatIf());
        QCOMPARE(h.expectedHashAt(-1), std::string("H2"));
        QCOMPARE(h.undoTarget(), int64_t(12));
        QCOMPARE(h.redoTarget(), int64_t(13));  // the first disabled edit after the last enabled one
    }

    void aBrokenChainIsAWhatIfFromTheBreakOn() {
        std::vector<EditRecord> edits = chain();
        edits[2].computedOnHash = "X";  // c claims a base the chain never reaches (every edit enabled)
        const EditHistory h(edits, "H0");
        QCOMPARE(noteIds(h.whatIfNotes()), (std::vector<int64_t>{13, 14}));
        const kme::WhatIfNote* c = h.whatIfNote(13);
        QVERIFY(c->disabledBefore.empty());
        QCOMPARE(c->appliedOnHash, std::string("H2"));
        QVERIFY2(c->message.find("reordered") != std::string::npos, c->message.c_str());
        QCOMPARE(h.expectedHashAt(2), std::string("H2"));
        QCOMPARE(h.expectedHashAt(3), std::string());
        QCOMPARE(h.expectedHashAt(-1), std::string());

        // Another base than the edits were computed on: every enabled edit is a what-if.
        const EditHistory other(chain(), "another base");
        QCOMPARE(other.whatIfNotes().size(), size_t(4));
        QCOMPARE(other.expectedHashAt(-1), std::string());
        QCOMPARE(other.expectedHashAt(0), std::string("another base"));
    }

    void hostileRecordsDoNotBreakTheWalk() {
        // Unknown ids.
        const EditHistory h(chain(), "H0");
        QVERIFY(!h.find(999));
        QVERIFY(!h.whatIfNote(999));
        QVERIFY(!h.find(0));
        QCOMPARE(h.find(13)->name, std::string("c"));

        // A repeated id and positions out of order: said, and walked as given.
        std::vector<EditRecord> edits = chain();
        edits[3].id = edits[1].id;
        edits[3].position = 2;
        const EditHistory bad(edits, "H0");
        QCOMPARE(bad.problems().size(), size_t(2));
        QVERIFY2(bad.problems()[0].find("12") != std::string::npos, bad.problems()[0].c_str());
        QVERIFY2(bad.problems()[1].find("not in increasing order") != std::string::npos, bad.problems()[1].c_str());
        QCOMPARE(bad.entries().size(), size_t(4));
        QVERIFY(!bad.hasWhatIf());  // the hashes still chain

        // No base hash (a session that never recorded its model): nothing is
        // known to be recorded once an edit is enabled.
        const EditHistory unknown(chain(1), "");
        QCOMPARE(unknown.expectedHashAt(0), std::string());
        QCOMPARE(unknown.expectedHashAt(-1), std::string());
        QVERIFY(unknown.hasWhatIf());  // "" is not the H0 it was computed on

        // No edits at all.
        const EditHistory empty({}, "H0");
        QVERIFY(empty.empty());
        QCOMPARE(empty.expectedHashAt(-1), std::string("H0"));
        QCOMPARE(empty.undoTarget(), int64_t(0));
        QCOMPARE(empty.redoTarget(), int64_t(0));
        QVERIFY(empty.enabledIds().empty());

        // A default history (no session) answers like an empty one.
        const EditHistory none;
        QVERIFY(!none.hasWhatIf());
        QCOMPARE(none.expectedHashAt(-1), std::string());
    }

    void theSameChainReadBackFromASessionFile() {
        const std::string path = tmp_.filePath(QStringLiteral("history.kmes")).toStdString();
        std::vector<int64_t> ids;
        {
            kme::SessionStore s(path);
            s.setModel(tmp_.path().toStdString() + "/model", "{}", "H0");
            for (EditRecord e : chain()) {
                e.id = 0;
                e.position = 0;  // the store assigns both
                e.requestJson = "{\"subject\": \"" + e.name + "\"}";
                e.delta = "delta-of-" + e.name;
                ids.push_back(s.addEdit(e));
            }
            s.setEditEnabled(ids[1], false);
        }
        const kme::SessionStore s(path);
        const std::vector<EditRecord> edits = s.listEdits(false);
        const EditHistory h(edits, s.model()->weightsHash);
        QCOMPARE(noteIds(h.whatIfNotes()), (std::vector<int64_t>{ids[2], ids[3]}));
        QCOMPARE(h.whatIfNote(ids[2])->disabledBefore, std::vector<int>{2});
        QCOMPARE(h.expectedHashAt(2), std::string("H1"));
        QCOMPARE(h.expectedHashAt(-1), std::string());
        QCOMPARE(h.undoTarget(), ids[3]);
        QCOMPARE(noteIds(kme::whatIfNotes(edits, "H0")), noteIds(h.whatIfNotes()));
    }
};

QTEST_APPLESS_MAIN(TestEditHistory)
#include "test_edit_history.moc"
