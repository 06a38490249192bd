// The session store (engine/session/SessionStore.h): schema and migrations,
// a round trip of every record, edit history operations, and the robustness
// cases of issue 6 — a writer killed with SIGKILL, hostile / truncated /
// newer files, read-only opens, a full disk, readers during writes.
//
// The kill test's child is tests/engine/session_writer_main.cpp: it saves
// records forever and prints "E|T <id> <index>" after each commit.
#include <QtTest>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "engine/core/Error.h"
#include "engine/session/SessionSchema.h"
#include "engine/session/SessionStore.h"
#include "test_session_support.h"

namespace fs = std::filesystem;
using kme::ErrorKind;
using kme::SessionOpenOptions;
using kme::SessionStore;
using namespace kme::testing;

namespace {

struct Caught {
    bool thrown = false;
    ErrorKind kind = ErrorKind::Internal;
    std::string message;
    bool has(const std::string& s) const { return message.find(s) != std::string::npos; }
};

Caught catchError(const std::function<void()>& f) {
    Caught c;
    try {
        f();
    } catch (const kme::Error& e) {
        c.thrown = true;
        c.kind = e.kind();
        c.message = e.what();
    }
    return c;
}

SessionOpenOptions readOnly() {
    SessionOpenOptions o;
    o.readOnly = true;
    return o;
}

// The kill test's child: tests/engine/session_writer_main.cpp, a torch-free
// executable that starts in milliseconds.
std::string writerExecutable() {
#ifdef KME_SESSION_WRITER
    return KME_SESSION_WRITER;
#else
    return {};
#endif
}

}  // namespace

class TestSession final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    int counter_ = 0;

    std::string newPath(const std::string& stem = "s") {
        return tmp_.path().toStdString() + "/" + stem + std::to_string(++counter_) + ".kmes";
    }

    // A session with two edits, a trace, previews and a metric run, closed.
    std::string makeSession(int edits = 2, size_t deltaSize = 1000) {
        const std::string p = newPath();
        SessionStore s(p);
        s.setModel(tmp_.path().toStdString() + "/model", R"({"n_layer":2})", "base-hash");
        for (int i = 0; i < edits; ++i) s.addEdit(sampleEdit(i, deltaSize));
        s.addTrace(sampleTrace(0));
        kme::PreviewRecord pr;
        pr.prompt = "The Eiffel Tower is in";
        pr.kind = "generation";
        pr.beforeText = " Paris";
        pr.afterText = " Rome";
        s.addPreview(pr);
        kme::MetricRunRecord m;
        m.method = "rome";
        m.dataset = "facts.json";
        m.resultsJson = R"({"efficacy_score":1.0})";
        s.addMetricRun(m);
        return p;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // ------------------------------------------------------------ schema

    void newFileHasSchemaWalAndApplicationId() {
        const std::string p = newPath();
        {
            SessionStore s(p);
            QCOMPARE(s.schemaVersion(), kme::kSchemaVersion);
            QCOMPARE(s.info().schemaVersion, kme::kSchemaVersion);
            QCOMPARE(s.info().name, fs::path(p).stem().string());
            QVERIFY(!s.info().created.empty());
            QCOMPARE(s.info().appVersion, std::string(kme::kmeVersion()));
            QCOMPARE(s.integrityCheck(), std::vector<std::string>{"ok"});
        }
        RawDb raw(p);
        QCOMPARE(raw.integer("PRAGMA user_version"), int64_t(kme::kSchemaVersion));
        QCOMPARE(raw.integer("PRAGMA application_id"), int64_t(kme::kSessionApplicationId));
        QCOMPARE(raw.text("PRAGMA journal_mode"), std::string("wal"));
        for (const char* t : {"session", "model", "traces", "edits", "previews", "metric_runs"})
            QCOMPARE(
                raw.integer(std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") + t + "'"),
                int64_t(1));
        // The migration list ends at the schema constant.
        QCOMPARE(kme::migrationSteps().back().toVersion, kme::kSchemaVersion);
    }

    void migratesAnEmptyFile() {
        // A zero-byte file is an SQLite database of version 0.
        const std::string p = newPath();
        writeFileBytes(p, "");
        SessionStore s(p);
        QCOMPARE(s.schemaVersion(), kme::kSchemaVersion);
        QVERIFY(s.addEdit(sampleEdit(1)) > 0);
    }

    void migratesAVersion0Database() {
        // An SQLite file with no tables and user_version 0 (e.g. created by a
        // crash before the first migration committed).
        const std::string p = newPath();
        {
            RawDb raw(p);
            raw.exec("PRAGMA page_size = 8192; VACUUM;");
            QCOMPARE(raw.integer("PRAGMA user_version"), int64_t(0));
        }
        {
            SessionStore s(p);
            QCOMPARE(s.schemaVersion(), kme::kSchemaVersion);
            s.addTrace(sampleTrace(3));
        }
        SessionStore again(p, readOnly());
        QCOMPARE(again.listTraces().size(), size_t(1));
    }

    void readOnlyOpenDoesNotMigrate() {
        const std::string p = newPath();
        writeFileBytes(p, "");
        const Caught c = catchError([&] { SessionStore s(p, readOnly()); });
        QVERIFY(c.thrown);
        QCOMPARE(c.kind, ErrorKind::Database);
        QVERIFY2(c.has(p) && c.has("read-only"), c.message.c_str());
        QCOMPARE(fs::file_size(p), uintmax_t(0));
    }

    void refusesANewerSchemaVersion() {
        const std::string p = makeSession();
        {
            RawDb raw(p);
            raw.exec("PRAGMA user_version = " + std::to_string(kme::kSchemaVersion + 1));
        }
        const std::string before = readFileBytes(p);
        for (bool ro : {false, true}) {
            SessionOpenOptions o;
            o.readOnly = ro;
            const Caught c = catchError([&] { SessionStore s(p, o); });
            QVERIFY(c.thrown);
            QCOMPARE(c.kind, ErrorKind::Database);
            QVERIFY2(c.has(p) && c.has("newer") && c.has("version " + std::to_string(kme::kSchemaVersion + 1)),
                     c.message.c_str());
            if (!ro) qInfo("%s", c.message.c_str());
        }
        QVERIFY(readFileBytes(p) == before);  // not even the journal mode was touched
    }

    // ------------------------------------------------------------ round trip

    void roundTripOfEverything() {
        const std::string p = newPath();
        fs::create_directories(tmp_.path().toStdString() + "/models/gpt");
        const std::string modelDir = tmp_.path().toStdString() + "/models/gpt";
        std::vector<kme::EditRecord> edits;
        std::vector<int64_t> editIds, traceIds;
        {
            SessionOpenOptions o;
            o.sessionName = "Eiffel experiments";
            o.appVersion = "9.9.9";
            SessionStore s(p, o);
            s.setInfo("Eiffel experiments", "notes with ünïcode and\nnew lines");
            s.setModel(modelDir, R"({"model_type":"gpt2","n_layer":6})", "abc123");
            for (int i = 0; i < 4; ++i) {
                auto e = sampleEdit(i, i == 3 ? 0 : 5000 + size_t(i));  // an empty delta too
                if (i == 2) e.enabled = false;
                e.created = "2024-01-0" + std::to_string(i + 1) + "T00:00:00Z";
                edits.push_back(e);
                editIds.push_back(s.addEdit(e));
            }
            for (int i = 0; i < 3; ++i) traceIds.push_back(s.addTrace(sampleTrace(i)));
            kme::PreviewRecord a;
            a.editId = editIds[0];
            a.prompt = "The Eiffel Tower is in";
            a.kind = "generation";
            a.beforeText = " Paris";
            a.afterText = " Rome";
            a.beforeProbsJson = R"({"p_new":0.01,"p_true":0.9})";
            a.afterProbsJson = R"({"p_new":0.95,"p_true":0.02})";
            s.addPreview(a);
            kme::PreviewRecord b;
            b.prompt = "Unrelated";
            b.kind = "probability";
            s.addPreview(b);
            kme::MetricRunRecord m;
            m.method = "rome";
            m.dataset = "projects/demo/facts.json";
            m.paramsJson = R"({"limit":10})";
            m.resultsJson = R"({"efficacy_score":0.9,"score":0.8})";
            s.addMetricRun(m);
        }
        SessionStore s(p, readOnly());
        const auto info = s.info();
        QCOMPARE(info.name, std::string("Eiffel experiments"));
        QCOMPARE(info.notes, std::string("notes with ünïcode and\nnew lines"));
        QCOMPARE(info.appVersion, std::string("9.9.9"));
        const auto m = s.model();
        QVERIFY(m.has_value());
        QCOMPARE(m->absolutePath, fs::absolute(modelDir).lexically_normal().string());
        QCOMPARE(m->relativePath, std::string("models/gpt"));
        QCOMPARE(m->configJson, std::string(R"({"model_type":"gpt2","n_layer":6})"));
        QCOMPARE(m->weightsHash, std::string("abc123"));

        const auto listed = s.listEdits(true);
        QCOMPARE(listed.size(), edits.size());
        for (size_t i = 0; i < edits.size(); ++i) {
            QCOMPARE(listed[i].id, editIds[i]);
            QCOMPARE(listed[i].position, int(i + 1));
            QCOMPARE(listed[i].name, edits[i].name);
            QCOMPARE(listed[i].method, edits[i].method);
            QCOMPARE(listed[i].requestJson, edits[i].requestJson);
            QCOMPARE(listed[i].hparamsJson, edits[i].hparamsJson);
            QVERIFY(listed[i].delta == edits[i].delta);
            QCOMPARE(listed[i].deltaBytes, int64_t(edits[i].delta.size()));
            QCOMPARE(listed[i].enabled, edits[i].enabled);
            QCOMPARE(listed[i].created, edits[i].created);
            QCOMPARE(listed[i].computedOnHash, edits[i].computedOnHash);
            QCOMPARE(listed[i].weightsHashAfter, edits[i].weightsHashAfter);
            QVERIFY(s.editDelta(editIds[i]) == edits[i].delta);
            QVERIFY(s.getEdit(editIds[i]).delta == edits[i].delta);
        }
        const auto light = s.listEdits(false);
        QVERIFY(light[0].delta.empty());
        QCOMPARE(light[0].deltaBytes, int64_t(5000));

        const auto traces = s.listTraces();
        QCOMPARE(traces.size(), size_t(3));
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(traces[i].id, traceIds[i]);
            QCOMPARE(traces[i].requestJson, sampleTrace(i).requestJson);
            QCOMPARE(traces[i].resultJson, sampleTrace(i).resultJson);
            QVERIFY(!traces[i].created.empty());
        }
        QVERIFY(s.listTraces(false)[0].resultJson.empty());
        QCOMPARE(s.getTrace(traceIds[1]).resultJson, sampleTrace(1).resultJson);

        const auto previews = s.listPreviews();
        QCOMPARE(previews.size(), size_t(2));
        QCOMPARE(previews[0].editId.value_or(-1), editIds[0]);
        QCOMPARE(previews[0].afterText, std::string(" Rome"));
        QCOMPARE(previews[0].beforeProbsJson, std::string(R"({"p_new":0.01,"p_true":0.9})"));
        QVERIFY(!previews[1].editId.has_value());
        QCOMPARE(previews[1].beforeProbsJson, std::string("{}"));
        QCOMPARE(s.listPreviews(editIds[0]).size(), size_t(1));
        QCOMPARE(s.listPreviews(0).size(), size_t(1));  // the unedited model's
        QCOMPARE(s.listPreviews(editIds[1]).size(), size_t(0));

        const auto runs = s.listMetricRuns();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].dataset, std::string("projects/demo/facts.json"));
        QCOMPARE(runs[0].paramsJson, std::string(R"({"limit":10})"));
        QCOMPARE(runs[0].resultsJson, std::string(R"({"efficacy_score":0.9,"score":0.8})"));
    }

    // ------------------------------------------------------------ edit history

    void editHistoryOperations() {
        const std::string p = newPath();
        SessionStore s(p);
        std::vector<int64_t> ids;
        for (int i = 0; i < 5; ++i) ids.push_back(s.addEdit(sampleEdit(i)));
        kme::PreviewRecord pr;
        pr.editId = ids[2];
        pr.prompt = "x";
        pr.kind = "generation";
        s.addPreview(pr);

        auto order = [&] {
            std::vector<int64_t> out;
            int expected = 1;
            for (const auto& e : s.listEdits()) {
                if (e.position != expected++) return std::vector<int64_t>{-1};
                out.push_back(e.id);
            }
            return out;
        };

        s.renameEdit(ids[1], "renamed");
        QCOMPARE(s.getEdit(ids[1], false).name, std::string("renamed"));
        s.setEditEnabled(ids[3], false);
        QVERIFY(!s.getEdit(ids[3], false).enabled);
        s.setEditEnabled(ids[3], true);
        QVERIFY(s.getEdit(ids[3], false).enabled);

        // Delete from the middle: later edits move up, its previews go (foreign key cascade).
        s.deleteEdit(ids[2]);
        QCOMPARE(order(), (std::vector<int64_t>{ids[0], ids[1], ids[3], ids[4]}));
        QCOMPARE(s.listPreviews().size(), size_t(0));

        s.reorderEdits({ids[4], ids[0], ids[3], ids[1]});
        QCOMPARE(order(), (std::vector<int64_t>{ids[4], ids[0], ids[3], ids[1]}));
        s.moveEdit(ids[1], 1);
        QCOMPARE(order(), (std::vector<int64_t>{ids[1], ids[4], ids[0], ids[3]}));
        s.moveEdit(ids[1], 4);
        QCOMPARE(order(), (std::vector<int64_t>{ids[4], ids[0], ids[3], ids[1]}));
        // Appends go after the last position.
        const int64_t added = s.addEdit(sampleEdit(9));
        QCOMPARE(s.getEdit(added, false).position, 5);

        // Bad arguments: a clear Input error, nothing changed.
        const auto before = order();
        for (const auto& f : std::vector<std::function<void()>>{
                 [&] { s.renameEdit(999, "x"); }, [&] { s.setEditEnabled(999, false); }, [&] { s.deleteEdit(999); },
                 [&] { s.getEdit(999); }, [&] { s.moveEdit(ids[0], 9); },
                 [&] {
                     s.reorderEdits({ids[0], ids[1]});
                 },
                 [&] {
                     s.reorderEdits({ids[0], ids[0], ids[3], ids[1], ids[4]});
                 }}) {
            const Caught c = catchError(f);
            QVERIFY(c.thrown);
            QCOMPARE(c.kind, ErrorKind::Input);
            QVERIFY2(c.has(p), c.message.c_str());
        }
        QCOMPARE(order(), before);
    }

    void rejectsInvalidRecords() {
        const std::string p = newPath();
        SessionStore s(p);
        auto bad = sampleEdit(1);
        bad.requestJson = "{not json";
        Caught c = catchError([&] { s.addEdit(bad); });
        QVERIFY(c.thrown && c.kind == ErrorKind::Input && c.has(p) && c.has("request"));
        bad = sampleEdit(1);
        bad.weightsHashAfter.clear();
        QVERIFY(catchError([&] { s.addEdit(bad); }).thrown);
        kme::PreviewRecord pr;
        pr.editId = 42;  // no such edit
        pr.prompt = "x";
        pr.kind = "generation";
        c = catchError([&] { s.addPreview(pr); });
        QVERIFY(c.thrown && c.kind == ErrorKind::Input && c.has("no edit with id 42"));
        QVERIFY(s.listEdits().empty());
        QVERIFY(s.listPreviews().empty());

        // Another model's weights are refused once edits exist.
        s.setModel("/m", "{}", "h1");
        s.setModel("/m2", "{}", "h2");  // no edits yet: fine
        s.addEdit(sampleEdit(1));
        s.setModel("/moved", "{}", "h2");  // same weights moved: fine
        c = catchError([&] { s.setModel("/other", "{}", "h3"); });
        QVERIFY(c.thrown && c.kind == ErrorKind::Input && c.has(p) && c.has("h2") && c.has("h3"));
        QCOMPARE(s.model()->absolutePath, std::string("/moved"));
    }

    // ------------------------------------------------------------ hostile files

    void refusesFilesThatAreNotSessions_data() {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expect");
        QTest::newRow("text") << QByteArray("hello, this is a text file\n") << "not an SQLite database";
        QTest::newRow("json") << QByteArray(R"({"edits": []})") << "not an SQLite database";
        QByteArray random(8192, '\0');
        for (int i = 0; i < random.size(); ++i) random[i] = char((i * 7919 + 13) & 0xff);
        QTest::newRow("random bytes") << random << "not an SQLite database";
        QTest::newRow("only the magic") << QByteArray("SQLite format 3\0", 16) << "truncated";
        QTest::newRow("half the magic") << QByteArray("SQLite f") << "truncated";
    }

    void refusesFilesThatAreNotSessions() {
        QFETCH(QByteArray, content);
        QFETCH(QString, expect);
        const std::string p = newPath("hostile");
        const std::string bytes(content.constData(), size_t(content.size()));
        writeFileBytes(p, bytes);
        for (bool ro : {false, true}) {
            SessionOpenOptions o;
            o.readOnly = ro;
            const Caught c = catchError([&] { SessionStore s(p, o); });
            QVERIFY(c.thrown);
            QCOMPARE(c.kind, ErrorKind::Database);
            QVERIFY2(c.has(p) && c.has(expect.toStdString()), c.message.c_str());
            if (!ro) qInfo("%s", c.message.c_str());
        }
        QVERIFY(readFileBytes(p) == bytes);
        QVERIFY(!fs::exists(p + "-wal"));
    }

    void refusesAnotherProgramsDatabase() {
        const std::string p = newPath("other");
        {
            RawDb raw(p);
            raw.exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada');");
        }
        const std::string before = readFileBytes(p);
        Caught c = catchError([&] { SessionStore s(p); });
        QVERIFY(c.thrown && c.kind == ErrorKind::Database);
        QVERIFY2(c.has(p) && c.has("not a KME session"), c.message.c_str());
        QVERIFY(readFileBytes(p) == before);

        const std::string q = newPath("appid");
        {
            RawDb raw(q);
            raw.exec("PRAGMA application_id = 1234; PRAGMA user_version = 1;");
        }
        c = catchError([&] { SessionStore s(q); });
        QVERIFY(c.thrown && c.kind == ErrorKind::Database);
        QVERIFY2(c.has(q) && c.has("another program"), c.message.c_str());
        qInfo("%s", c.message.c_str());
    }

    void refusesATruncatedFile_data() {
        QTest::addColumn<QString>("cut");  // how much of the file is kept
        QTest::newRow("50 bytes") << "50";
        QTest::newRow("header only") << "100";
        QTest::newRow("first page") << "page";
        QTest::newRow("half, on a page boundary") << "half-aligned";
        QTest::newRow("half, mid-page") << "half";
        QTest::newRow("one page short") << "minus-page";
    }

    void refusesATruncatedFile() {
        QFETCH(QString, cut);
        const std::string p = makeSession(6, 20000);  // ~30 pages
        const uintmax_t size = fs::file_size(p);
        const uintmax_t pageSize = uintmax_t(RawDb(p, SQLITE_OPEN_READONLY).integer("PRAGMA page_size"));
        QVERIFY(!fs::exists(p + "-wal") || fs::file_size(p + "-wal") == 0);  // closed: checkpointed
        uintmax_t keep = 0;
        if (cut == "50")
            keep = 50;
        else if (cut == "100")
            keep = 100;
        else if (cut == "page")
            keep = pageSize;
        else if (cut == "half-aligned")
            keep = (size / 2) / pageSize * pageSize;
        else if (cut == "half")
            keep = size / 2 + 123;
        else
            keep = size - pageSize;
        fs::resize_file(p, keep);
        const std::string before = readFileBytes(p);
        for (bool ro : {false, true}) {
            SessionOpenOptions o;
            o.readOnly = ro;
            const Caught c = catchError([&] { SessionStore s(p, o); });
            QVERIFY2(c.thrown, cut.toUtf8().constData());
            QCOMPARE(c.kind, ErrorKind::Database);
            QVERIFY2(c.has(p) && c.has("truncated"), c.message.c_str());
            if (!ro) qInfo("%s", c.message.c_str());
        }
        QVERIFY(readFileBytes(p) == before);
    }

    void reportsADamagedFile() {
        // Garbage over the pages after the schema page: opening may succeed
        // (the header is fine), but reading or the integrity check reports
        // the damage, naming the file; nothing crashes.
        const std::string p = makeSession(6, 20000);
        std::string bytes = readFileBytes(p);
        const size_t pageSize = size_t(RawDb(p, SQLITE_OPEN_READONLY).integer("PRAGMA page_size"));
        for (size_t i = pageSize; i < bytes.size(); ++i) bytes[i] = char((i * 31 + 7) & 0xff);
        writeFileBytes(p, bytes);
        bool reported = false;
        try {
            SessionStore s(p, readOnly());
            const auto check = s.integrityCheck();
            reported = check != std::vector<std::string>{"ok"};
            s.listEdits(true);
            s.listTraces();
        } catch (const kme::Error& e) {
            QCOMPARE(e.kind(), ErrorKind::Database);
            QVERIFY2(std::string(e.what()).find(p) != std::string::npos, e.what());
            qInfo("%s", e.what());
            reported = true;
        }
        QVERIFY(reported);
    }

    // ------------------------------------------------------------ read-only

    void readOnlyRefusesWrites() {
        const std::string p = makeSession();
        const std::string before = readFileBytes(p);
        SessionStore s(p, readOnly());
        QVERIFY(s.readOnly());
        QCOMPARE(s.listEdits().size(), size_t(2));
        const int64_t id = s.listEdits().front().id;
        const std::vector<std::function<void()>> writes = {
            [&] { s.addEdit(sampleEdit(5)); },
            [&] { s.addTrace(sampleTrace(5)); },
            [&] { s.addPreview(kme::PreviewRecord{}); },
            [&] { s.addMetricRun(kme::MetricRunRecord{}); },
            [&] { s.renameEdit(id, "x"); },
            [&] { s.setEditEnabled(id, false); },
            [&] { s.deleteEdit(id); },
            [&] { s.moveEdit(id, 2); },
            [&] { s.setInfo("n", "x"); },
            [&] { s.setModel("/x", "{}", "base-hash"); },
        };
        for (const auto& w : writes) {
            const Caught c = catchError(w);
            QVERIFY(c.thrown);
            QCOMPARE(c.kind, ErrorKind::Database);
            QVERIFY2(c.has(p) && c.has("read-only"), c.message.c_str());
            if (&w == &writes.front()) qInfo("%s", c.message.c_str());
        }
        QCOMPARE(s.listEdits().size(), size_t(2));
        QVERIFY(readFileBytes(p) == before);

        const Caught missing = catchError([&] { SessionStore m(p + ".missing", readOnly()); });
        QVERIFY(missing.thrown && missing.has(p + ".missing") && missing.has("no such session file"));
        QVERIFY(!fs::exists(p + ".missing"));
    }

    // ------------------------------------------------------------ full disk

    void fullDiskRollsBackAndKeepsEarlierData() {
        const std::string p = makeSession(3, 10000);
        const int64_t pages = RawDb(p, SQLITE_OPEN_READONLY).integer("PRAGMA page_count");
        SessionOpenOptions o;
        o.maxPageCount = pages + 6;  // room for a few small saves only
        int saved = 0;
        Caught c;
        {
            SessionStore s(p, o);
            for (int i = 0; i < 50 && !c.thrown; ++i) {
                c = catchError([&] { s.addEdit(sampleEdit(100 + i, 9000)); });
                if (!c.thrown) ++saved;
            }
            QVERIFY2(c.thrown, "the size limit was never reached");
            QCOMPARE(c.kind, ErrorKind::Database);
            QVERIFY2(c.has(p) && c.has("full") && c.has("rolled back"), c.message.c_str());
            qInfo("after %d saves: %s", saved, c.message.c_str());
            // The failed save left nothing behind; the store still reads and writes.
            const auto edits = s.listEdits(true);
            QCOMPARE(edits.size(), size_t(3 + saved));
            for (const auto& e : edits) QVERIFY(e.name != "edit " + std::to_string(100 + saved));
            QCOMPARE(s.integrityCheck(), std::vector<std::string>{"ok"});
            // A trace too big for the quota fails the same way.
            auto t = sampleTrace(1);
            t.resultJson = "\"" + std::string(200000, 'x') + "\"";
            const Caught ct = catchError([&] { s.addTrace(t); });
            QVERIFY2(ct.thrown && ct.has("full"), ct.message.c_str());
            QCOMPARE(s.listTraces().size(), size_t(1));
            s.renameEdit(edits[0].id, "still writable");  // needs no new page
        }
        SessionStore s(p);  // no quota: the disk has room again
        QCOMPARE(s.listEdits().size(), size_t(3 + saved));
        QCOMPARE(s.listEdits().front().name, std::string("still writable"));
        for (int i = 0; i < 3; ++i) QVERIFY(s.listEdits(true)[size_t(i)].delta == sampleEdit(i, 10000).delta);
        s.addEdit(sampleEdit(999, 9000));
        QCOMPARE(s.integrityCheck(), std::vector<std::string>{"ok"});
    }

    // ------------------------------------------------------------ concurrency

    void readerSeesAConsistentSnapshot() {
        const std::string p = makeSession(2);
        SessionStore writer(p);
        SessionStore reader(p, readOnly());
        size_t inside = 0, inside2 = 0;
        reader.readSnapshot([&] {
            inside = reader.listEdits().size();
            writer.addEdit(sampleEdit(7));  // commits while the reader holds its snapshot (WAL: no blocking)
            writer.reorderEdits({writer.listEdits().back().id, writer.listEdits()[0].id, writer.listEdits()[1].id});
            inside2 = reader.listEdits().size();
            QCOMPARE(reader.listEdits().front().name, std::string("edit 0"));
        });
        QCOMPARE(inside, size_t(2));
        QCOMPARE(inside2, size_t(2));
        QCOMPARE(reader.listEdits().size(), size_t(3));
        QCOMPARE(reader.listEdits().front().name, std::string("edit 7"));
    }

    void readersAndWritersOnThreads() {
        // One store per thread. The writer appends and reverses the order
        // (a multi-row transaction); readers must always see positions
        // 1..n exactly and never a shrinking history, and never fail busy.
        const std::string p = makeSession(0);
        std::atomic<bool> done{false};
        std::string writerError, readerError;
        int snapshots = 0;
        std::thread writer([&] {
            try {
                SessionStore s(p);
                for (int i = 0; i < 60; ++i) {
                    s.addEdit(sampleEdit(i, 3000));
                    if (i % 5 == 4) {
                        auto ids = std::vector<int64_t>();
                        for (const auto& e : s.listEdits()) ids.insert(ids.begin(), e.id);
                        s.reorderEdits(ids);
                    }
                }
            } catch (const std::exception& e) {
                writerError = e.what();
            }
            done = true;
        });
        std::thread reader([&] {
            try {
                SessionStore s(p, readOnly());
                size_t last = 0;
                while (!done) {
                    s.readSnapshot([&] {
                        const auto edits = s.listEdits(true);
                        if (edits.size() < last) throw std::runtime_error("history shrank");
                        last = edits.size();
                        for (size_t i = 0; i < edits.size(); ++i) {
                            if (edits[i].position != int(i + 1)) throw std::runtime_error("positions not 1..n");
                            const int n = std::stoi(edits[i].name.substr(5));
                            if (edits[i].delta != sampleEdit(n, 3000).delta) throw std::runtime_error("torn delta");
                        }
                    });
                    ++snapshots;
                }
            } catch (const std::exception& e) {
                readerError = e.what();
            }
        });
        writer.join();
        reader.join();
        QVERIFY2(writerError.empty(), writerError.c_str());
        QVERIFY2(readerError.empty(), readerError.c_str());
        QVERIFY(snapshots > 0);
        qInfo("reader took %d snapshots while the writer committed 72 transactions", snapshots);
        QCOMPARE(SessionStore(p, readOnly()).listEdits().size(), size_t(60));
    }

    void twoWritersWaitForEachOther() {
        const std::string p = makeSession(0);
        std::string errors[2];
        std::thread t[2];
        for (int w = 0; w < 2; ++w)
            t[w] = std::thread([&, w] {
                try {
                    SessionStore s(p);
                    for (int i = 0; i < 25; ++i) s.addEdit(sampleEdit(w * 1000 + i, 2000));
                } catch (const std::exception& e) {
                    errors[w] = e.what();
                }
            });
        for (auto& x : t) x.join();
        QVERIFY2(errors[0].empty(), errors[0].c_str());
        QVERIFY2(errors[1].empty(), errors[1].c_str());
        SessionStore s(p, readOnly());
        const auto edits = s.listEdits();
        QCOMPARE(edits.size(), size_t(50));
        for (size_t i = 0; i < edits.size(); ++i) QCOMPARE(edits[i].position, int(i + 1));
    }

    // ------------------------------------------------------------ crash

    void killedWriterLosesNothingCommitted() {
        const std::string exe = writerExecutable();
        QVERIFY2(!exe.empty() && fs::exists(exe), "the session_writer helper was not built");
        const std::string p = newPath("killed");
        std::mt19937 rng(12345);
        std::map<int64_t, int> editsReported, tracesReported;  // id -> index
        for (int round = 0; round < 4; ++round) {
            int fds[2];
            QVERIFY(::pipe(fds) == 0);
            const std::string first = std::to_string(round * 100000);
            const pid_t pid = ::fork();
            QVERIFY(pid >= 0);
            if (pid == 0) {
                ::dup2(fds[1], 1);
                ::close(fds[0]);
                ::close(fds[1]);
                ::execl(exe.c_str(), exe.c_str(), p.c_str(), first.c_str(), static_cast<char*>(nullptr));
                ::_exit(127);
            }
            ::close(fds[1]);
            // Let it commit a random number of saves, then kill it mid-run.
            const int target = 10 + int(rng() % 30);
            std::string buffer;
            int lines = 0;
            char chunk[4096];
            while (lines < target) {
                const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
                if (n <= 0) break;
                buffer.append(chunk, size_t(n));
                lines = int(std::count(buffer.begin(), buffer.end(), '\n'));
            }
            ::usleep(useconds_t(rng() % 20000));  // land anywhere inside the next save
            QCOMPARE(::kill(pid, SIGKILL), 0);
            int status = 0;
            ::waitpid(pid, &status, 0);
            QVERIFY2(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer died before it was killed");
            for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) buffer.append(chunk, size_t(n));
            ::close(fds[0]);
            // Killed with its write-ahead log open: reopening must recover it.
            QVERIFY(fs::exists(p + "-wal") && fs::file_size(p + "-wal") > 0);

            std::istringstream in(buffer);
            std::string line;
            int reportedThisRound = 0;
            while (std::getline(in, line)) {
                char kind = 0;
                long long id = 0;
                int index = 0;
                QVERIFY2(std::sscanf(line.c_str(), "%c %lld %d", &kind, &id, &index) == 3, line.c_str());
                (kind == 'E' ? editsReported : tracesReported)[id] = index;
                ++reportedThisRound;
            }
            QVERIFY(reportedThisRound >= target);

            // A read-only open (kme session list) sees every reported save
            // through the crashed writer's log, without changing the file.
            {
                SessionStore ro(p, readOnly());
                const auto edits = ro.listEdits();
                std::set<int64_t> ids;
                for (const auto& e : edits) ids.insert(e.id);
                for (const auto& [id, index] : editsReported)
                    QVERIFY2(ids.count(id), ("read-only: committed edit " + std::to_string(id) + " missing").c_str());
            }
            // The file opens for writing (recovering the WAL), is sound, and
            // holds every reported save with its exact content.
            SessionStore s(p);
            QCOMPARE(s.integrityCheck(), std::vector<std::string>{"ok"});
            const auto edits = s.listEdits(true);
            std::map<int64_t, const kme::EditRecord*> byId;
            for (const auto& e : edits) byId[e.id] = &e;
            for (const auto& [id, index] : editsReported) {
                QVERIFY2(byId.count(id), ("committed edit " + std::to_string(id) + " lost").c_str());
                const auto expected = writerEdit(index);
                QCOMPARE(byId[id]->name, expected.name);
                QVERIFY(byId[id]->delta == expected.delta);
            }
            // At most one save per round committed without a report (killed
            // between COMMIT and the print).
            QVERIFY(edits.size() <= editsReported.size() + size_t(round + 1));
            for (size_t i = 0; i < edits.size(); ++i) QCOMPARE(edits[i].position, int(i + 1));
            const auto traces = s.listTraces();
            std::map<int64_t, std::string> traceById;
            for (const auto& t : traces) traceById[t.id] = t.requestJson;
            for (const auto& [id, index] : tracesReported) {
                QVERIFY2(traceById.count(id), ("committed trace " + std::to_string(id) + " lost").c_str());
                QCOMPARE(traceById[id], sampleTrace(index).requestJson);
            }
            qInfo("round %d: killed after %d reported saves; %zu edits and %zu traces in the file", round,
                  reportedThisRound, edits.size(), traces.size());
        }
    }
};

QTEST_APPLESS_MAIN(TestSession)
#include "test_session.moc"
