// Replay of a session's edits (engine/session/Replay.h) with a fake applier
// whose "weights" are a string (applying a delta appends it; the hash is
// its sha256), what-if detection, hash verification, and finding the model
// folder (SessionStore::resolveModelPath).
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "engine/core/Error.h"
#include "engine/core/Sha256.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"
#include "test_session_support.h"

namespace fs = std::filesystem;
using kme::EditRecord;
using kme::ErrorKind;
using kme::SessionStore;
using namespace kme::testing;

namespace {

// The fake model: weights are a string; an edit appends "|delta".
struct FakeWeights {
    std::string original = "checkpoint";
    std::string live = "checkpoint";
    std::vector<std::string> appliedNames;
    int restores = 0;
    int hashes = 0;

    static std::string hashOf(const std::string& w) { return kme::sha256Hex(w); }
    std::string hash() const { return hashOf(live); }

    kme::EditApplier applier() {
        kme::EditApplier a;
        a.restoreOriginals = [this] {
            live = original;
            appliedNames.clear();
            ++restores;
        };
        a.applyEdit = [this](const EditRecord& e) {
            live += "|" + e.delta;
            appliedNames.push_back(e.name);
        };
        a.currentHash = [this] {
            ++hashes;
            return hash();
        };
        return a;
    }
};

// Records edits the way the edit engine does: each computed on the current
// weights, which it then changes.
int64_t recordEdit(SessionStore& s, FakeWeights& w, const std::string& name) {
    EditRecord e;
    e.name = name;
    e.method = "rome";
    e.requestJson = R"({"subject":")" + name + "\"}";
    e.delta = "delta-of-" + name;
    e.computedOnHash = w.hash();
    w.live += "|" + e.delta;
    e.weightsHashAfter = w.hash();
    return s.addEdit(e);
}

struct Fixture {
    std::string path;
    std::vector<int64_t> ids;
};

}  // namespace

class TestSessionReplay final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    int counter_ = 0;

    // A session on FakeWeights' checkpoint with edits a, b, c, d.
    Fixture makeSession(int n = 4) {
        Fixture f;
        f.path = tmp_.path().toStdString() + "/replay" + std::to_string(++counter_) + ".kmes";
        SessionStore s(f.path);
        FakeWeights w;
        s.setModel(tmp_.path().toStdString() + "/model", "{}", w.hash());
        for (int i = 0; i < n; ++i) f.ids.push_back(recordEdit(s, w, std::string(1, char('a' + i))));
        return f;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void replaysEnabledEditsInOrderAndVerifies() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        FakeWeights w;
        w.live = "left over from a previous replay";
        const auto r = kme::replaySession(s, w.applier());
        QCOMPARE(w.restores, 1);
        QCOMPARE(w.appliedNames, (std::vector<std::string>{"a", "b", "c", "d"}));
        QCOMPARE(w.live, std::string("checkpoint|delta-of-a|delta-of-b|delta-of-c|delta-of-d"));
        QCOMPARE(r.applied, 4);
        QVERIFY(r.verified);
        QCOMPARE(r.finalHash, s.getEdit(f.ids[3], false).weightsHashAfter);
        QVERIFY(r.whatIf.empty());
        QCOMPARE(r.steps.size(), size_t(4));
        // Records alone carry the chain: the weights were hashed after the
        // restore and at the end only.
        QCOMPARE(w.hashes, 2);
        qInfo("%s", r.summary.c_str());
    }

    void undoTheLastEditIsVerifiedToo() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        s.setEditEnabled(f.ids[3], false);
        FakeWeights w;
        const auto r = kme::replaySession(s, w.applier());
        QCOMPARE(r.applied, 3);
        QVERIFY(r.verified);
        QCOMPARE(r.finalHash, s.getEdit(f.ids[2], false).weightsHashAfter);
        QVERIFY(r.whatIf.empty());
    }

    void everyEditDisabledGivesTheCheckpoint() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        for (auto id : f.ids) s.setEditEnabled(id, false);
        FakeWeights w;
        auto r = kme::replaySession(s, w.applier());
        QCOMPARE(r.applied, 0);
        QVERIFY(r.verified);
        QCOMPARE(r.finalHash, FakeWeights::hashOf("checkpoint"));
        // Without an edit engine this still replays: nothing to apply.
        kme::EditApplier noEngine;
        noEngine.currentHash = [&] { return w.hash(); };
        r = kme::replaySession(s, noEngine);
        QVERIFY(r.verified);
    }

    void disablingAMiddleEditIsAWhatIf() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        s.setEditEnabled(f.ids[1], false);  // b
        FakeWeights w;
        const auto r = kme::replaySession(s, w.applier());
        QCOMPARE(w.appliedNames, (std::vector<std::string>{"a", "c", "d"}));
        QCOMPARE(w.live, std::string("checkpoint|delta-of-a|delta-of-c|delta-of-d"));  // deltas as computed
        QCOMPARE(r.whatIf.size(), size_t(2));  // c and d were computed with b applied
        QCOMPARE(r.whatIf[0].editId, f.ids[2]);
        QCOMPARE(r.whatIf[0].disabledBefore, std::vector<int>{2});
        QVERIFY2(r.whatIf[0].message.find("edit #2 'b'") != std::string::npos, r.whatIf[0].message.c_str());
        QVERIFY(r.steps[2].whatIf && r.steps[3].whatIf && !r.steps[0].whatIf && !r.steps[1].applied);
        QVERIFY(!r.verified);  // those weights were never recorded
        QVERIFY(r.expectedHash.empty());
        QCOMPARE(r.finalHash, w.hash());

        // The static analysis (for the history view) agrees.
        const auto notes = kme::whatIfNotes(s.listEdits(), s.model()->weightsHash);
        QCOMPARE(notes.size(), size_t(2));
        QCOMPARE(notes[0].editId, f.ids[2]);
        QCOMPARE(notes[1].editId, f.ids[3]);
        QVERIFY(kme::whatIfNotes(s.listEdits(), "another base").size() == 3);
    }

    void anEditComputedOnAWhatIfStateIsNotAWhatIf() {
        // b disabled, then e computed on a+c+d: replaying finds e's base by
        // hashing and verifies the final weights against e's record.
        const Fixture f = makeSession();
        SessionStore s(f.path);
        s.setEditEnabled(f.ids[1], false);
        FakeWeights w;
        kme::replaySession(s, w.applier());
        recordEdit(s, w, "e");
        FakeWeights again;
        const auto r = kme::replaySession(s, again.applier());
        QCOMPARE(r.whatIf.size(), size_t(2));  // c, d
        QVERIFY(!r.steps.back().whatIf);       // e
        QVERIFY(r.verified);
        QCOMPARE(r.finalHash, w.hash());
    }

    void reorderingIsAWhatIf() {
        const Fixture f = makeSession(2);
        SessionStore s(f.path);
        s.reorderEdits({f.ids[1], f.ids[0]});
        FakeWeights w;
        const auto r = kme::replaySession(s, w.applier());
        QCOMPARE(w.appliedNames, (std::vector<std::string>{"b", "a"}));
        QCOMPARE(r.whatIf.size(), size_t(2));
        QVERIFY2(r.whatIf[0].message.find("reordered") != std::string::npos, r.whatIf[0].message.c_str());
        QVERIFY(!r.verified);
    }

    void aDeltaThatNoLongerReproducesNamesTheEdit() {
        const Fixture f = makeSession();
        {
            RawDb raw(f.path);
            raw.exec("UPDATE edits SET state_hash_after = 'feed' WHERE id = " + std::to_string(f.ids[3]));
        }
        SessionStore s(f.path);
        FakeWeights w;
        try {
            kme::replaySession(s, w.applier());
            QFAIL("no error");
        } catch (const kme::Error& e) {
            const std::string m = e.what();
            QCOMPARE(e.kind(), ErrorKind::Database);
            QVERIFY2(m.find(f.path) != std::string::npos && m.find("edit #4 'd'") != std::string::npos &&
                         m.find("feed") != std::string::npos,
                     m.c_str());
        }
    }

    void aDivergenceInTheMiddleNamesTheFirstEdit() {
        // b's recorded result is wrong: c's base (recorded as b's true
        // result) no longer matches the chain, and hashing shows that b,
        // not a what-if, is at fault.
        const Fixture f = makeSession();
        {
            RawDb raw(f.path);
            raw.exec("UPDATE edits SET state_hash_after = 'bad' WHERE id = " + std::to_string(f.ids[1]));
        }
        SessionStore s(f.path);
        FakeWeights w;
        try {
            kme::replaySession(s, w.applier());
            QFAIL("no error");
        } catch (const kme::Error& e) {
            QVERIFY2(std::string(e.what()).find("edit #2 'b'") != std::string::npos, e.what());
        }
        // verifyEachStep finds it right after applying b.
        FakeWeights w2;
        kme::ReplayOptions o;
        o.verifyEachStep = true;
        try {
            kme::replaySession(s, w2.applier(), o);
            QFAIL("no error");
        } catch (const kme::Error& e) {
            QVERIFY2(std::string(e.what()).find("edit #2 'b'") != std::string::npos, e.what());
            QCOMPARE(w2.appliedNames, (std::vector<std::string>{"a", "b"}));
        }
    }

    void refusesWhenTheBaseIsNotTheSessionsModel() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        FakeWeights w;
        w.original = "another checkpoint";
        try {
            kme::replaySession(s, w.applier());
            QFAIL("no error");
        } catch (const kme::Error& e) {
            QVERIFY2(std::string(e.what()).find(s.model()->weightsHash) != std::string::npos, e.what());
        }
        QVERIFY(w.appliedNames.empty());
    }

    void withoutAnEditEngineEnabledEditsFail() {
        const Fixture f = makeSession();
        SessionStore s(f.path, [] {
            kme::SessionOpenOptions o;
            o.readOnly = true;
            return o;
        }());
        FakeWeights w;
        kme::EditApplier a = w.applier();
        a.applyEdit = nullptr;
        try {
            kme::replaySession(s, a);
            QFAIL("no error");
        } catch (const kme::Error& e) {
            const std::string m = e.what();
            QVERIFY2(
                m.find("this build cannot apply edits yet") != std::string::npos && m.find(f.path) != std::string::npos,
                e.what());
        }
        QCOMPARE(w.restores, 0);  // refused before touching the weights
    }

    void progressCanCancel() {
        const Fixture f = makeSession();
        SessionStore s(f.path);
        FakeWeights w;
        int calls = 0;
        bool cancelled = false;
        try {
            kme::replaySession(s, w.applier(), {}, [&](double done, double total) {
                ++calls;
                return done < 2;
            });
        } catch (const kme::Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        QCOMPARE(w.appliedNames.size(), size_t(2));
    }

    // ------------------------------------------------------------ model location

    void resolvesTheModelFolder() {
        const fs::path project = fs::path(tmp_.path().toStdString()) / "project";
        fs::create_directories(project / "models" / "gpt");
        auto writeModel = [](const fs::path& dir, const std::string& hash) {
            fs::create_directories(dir);
            std::ofstream(dir / "config.json") << "{}";
            std::ofstream(dir / "hash.txt") << hash;
        };
        const auto hashOf = [](const std::string& folder) {
            std::ifstream f(fs::path(folder) / "hash.txt");
            std::string h;
            f >> h;
            return h;
        };
        writeModel(project / "models" / "gpt", "H1");
        const std::string sessionPath = (project / "s.kmes").string();
        {
            SessionStore s(sessionPath);
            try {
                s.resolveModelPath();
                QFAIL("no model recorded yet");
            } catch (const kme::Error& e) {
                QCOMPARE(e.kind(), ErrorKind::Input);
            }
            s.setModel((project / "models" / "gpt").string(), "{}", "H1");
            QCOMPARE(s.model()->relativePath, std::string("models/gpt"));
            const auto r = s.resolveModelPath(hashOf);
            QVERIFY(!r.viaRelativePath);
            QCOMPARE(r.folder, (project / "models" / "gpt").string());
        }

        // The project folder moved: the absolute path is gone, the relative one works.
        const fs::path moved = fs::path(tmp_.path().toStdString()) / "moved-project";
        fs::rename(project, moved);
        {
            SessionStore s((moved / "s.kmes").string());
            const auto r = s.resolveModelPath(hashOf);
            QVERIFY(r.viaRelativePath);
            QCOMPARE(r.folder, (moved / "models" / "gpt").string());
            QVERIFY2(r.note.find("relative") != std::string::npos && r.note.find("missing") != std::string::npos,
                     r.note.c_str());
        }

        // Something else now lives at the old absolute path: the relative one wins.
        writeModel(project / "models" / "gpt", "OTHER");
        {
            SessionStore s((moved / "s.kmes").string());
            const auto r = s.resolveModelPath(hashOf);
            QVERIFY(r.viaRelativePath);
            QVERIFY2(r.note.find("OTHER") != std::string::npos, r.note.c_str());
        }

        // The checkpoint changed in place: an error naming both hashes.
        writeModel(moved / "models" / "gpt", "CHANGED");
        try {
            SessionStore s((moved / "s.kmes").string());
            s.resolveModelPath(hashOf);
            QFAIL("no error");
        } catch (const kme::Error& e) {
            const std::string m = e.what();
            QCOMPARE(e.kind(), ErrorKind::Database);
            QVERIFY2(m.find("CHANGED") != std::string::npos && m.find("H1") != std::string::npos &&
                         m.find("s.kmes") != std::string::npos,
                     m.c_str());
        }

        // Gone from both places: an error naming both paths.
        fs::remove_all(project);
        fs::remove_all(moved / "models");
        try {
            SessionStore s((moved / "s.kmes").string());
            s.resolveModelPath(hashOf);
            QFAIL("no error");
        } catch (const kme::Error& e) {
            const std::string m = e.what();
            QCOMPARE(e.kind(), ErrorKind::Io);
            QVERIFY2(m.find((project / "models" / "gpt").string()) != std::string::npos &&
                         m.find((moved / "models" / "gpt").string()) != std::string::npos,
                     m.c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestSessionReplay)
#include "test_session_replay.moc"
