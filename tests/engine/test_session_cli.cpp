// `kme session list | show | replay | export` (CLI.md), run as a real
// process ($KME_CLI) on a session recorded on a tiny random model.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "engine/core/Sha256.h"
#include "engine/model/Config.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"
#include "tests/TinyModel.h"
#include "test_session_support.h"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace kme::testing;

namespace {

struct Run {
    int rc = -1;
    std::string out, err;
};

struct Project {
    std::string dir, model, session, hash;
    std::vector<int64_t> edits;
};

void writeSmallModel(const std::string& folder, uint64_t seed) {
    kme::writeRandomModelFolder(folder, smallModelConfig(32), seed);
}

}  // namespace

class TestSessionCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString exe_;
    int counter_ = 0;

    Run kme(const QStringList& args) {
        QProcess p;
        p.start(exe_, args);
        Run r;
        if (!p.waitForFinished(1200000)) return r;
        r.rc = p.exitCode();
        r.out = p.readAllStandardOutput().toStdString();
        r.err = p.readAllStandardError().toStdString();
        return r;
    }

    // project/model (tiny GPT-2) + project/s.kmes with two edits, a trace,
    // a preview and a metric run.
    Project makeProject() {
        Project p;
        p.dir = tmp_.path().toStdString() + "/project" + std::to_string(++counter_);
        p.model = p.dir + "/model";
        p.session = p.dir + "/s.kmes";
        writeSmallModel(p.model, 3);
        auto model = kme::Model::load(p.model);
        p.hash = model->weightsHash();
        kme::SessionStore s(p.session);
        s.setModel(p.model, model->config().rawJson, p.hash);
        auto a = sampleEdit(1);
        a.computedOnHash = p.hash;
        p.edits.push_back(s.addEdit(a));
        auto b = sampleEdit(2);
        b.computedOnHash = a.weightsHashAfter;
        p.edits.push_back(s.addEdit(b));
        s.addTrace(sampleTrace(1));
        kme::PreviewRecord pr;
        pr.editId = p.edits[0];
        pr.prompt = "The Eiffel Tower is in";
        pr.kind = "generation";
        pr.beforeText = " Paris";
        pr.afterText = " Rome";
        s.addPreview(pr);
        kme::MetricRunRecord m;
        m.method = "rome";
        m.dataset = "facts.json";
        s.addMetricRun(m);
        return p;
    }

    void disableAll(const Project& p) {
        kme::SessionStore s(p.session);
        for (auto id : p.edits) s.setEditEnabled(id, false);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        exe_ = qEnvironmentVariable("KME_CLI");
        if (exe_.isEmpty() || !QFile::exists(exe_)) QSKIP("KME_CLI not set (run through ctest)");
    }

    void listHasTheContractKeys() {
        const Project p = makeProject();
        const Run r = kme({"session", "list", QString::fromStdString(p.session), "--json", "-"});
        QCOMPARE(r.rc, 0);
        const json j = json::parse(r.out);
        QCOMPARE(j["edits"].size(), size_t(2));
        for (const auto& e : j["edits"])
            for (const char* key : {"order", "method", "request", "enabled", "weights_hash_after"})
                QVERIFY2(e.contains(key), key);
        QCOMPARE(j["edits"][0]["order"].get<int>(), 1);
        QCOMPARE(j["edits"][0]["request"]["subject"].get<std::string>(), std::string("S1"));
        QCOMPARE(j["traces"].size(), size_t(1));
        QCOMPARE(j["model"]["path"].get<std::string>(), p.model);
        QCOMPARE(j["model"]["weights_hash"].get<std::string>(), p.hash);
        QVERIFY(j["what_if"].empty());

        const Run human = kme({"session", "list", QString::fromStdString(p.session)});
        QCOMPARE(human.rc, 0);
        QVERIFY2(human.out.find("edits: 2") != std::string::npos, human.out.c_str());
    }

    void showAndExport() {
        const Project p = makeProject();
        Run r = kme({"session", "show", QString::fromStdString(p.session), "--json", "-"});
        QCOMPARE(r.rc, 0);
        json j = json::parse(r.out);
        QCOMPARE(j["previews"].size(), size_t(1));
        QCOMPARE(j["metric_runs"].size(), size_t(1));
        QVERIFY(j["edits"][0].contains("hparams"));

        // export: JSON on stdout, everything but the blobs.
        r = kme({"session", "export", QString::fromStdString(p.session)});
        QCOMPARE(r.rc, 0);
        j = json::parse(r.out);
        QCOMPARE(j["edits"][1]["delta_sha256"].get<std::string>(), kme::sha256Hex(sampleEdit(2).delta));
        QVERIFY(!j["edits"][1].contains("delta"));
        QCOMPARE(j["traces"][0]["result"]["scores"]["hidden"][1][1].get<int>(), 1);
        QCOMPARE(j["model"]["config"]["n_layer"].get<int>(), 2);
        QVERIFY(r.out.find(sampleEdit(2).delta.substr(0, 16)) == std::string::npos);

        const std::string file = p.dir + "/export.json";
        r = kme({"session", "export", QString::fromStdString(p.session), "--json", QString::fromStdString(file)});
        QCOMPARE(r.rc, 0);
        QVERIFY(fs::exists(file));
        QVERIFY2(r.out.find("2 edit(s)") != std::string::npos, r.out.c_str());
    }

    // The sample edits carry pattern bytes, not weight deltas: the replay
    // names the first edit it cannot read and writes nothing.
    void replayOfAnUnreadableDeltaFailsNamingTheEdit() {
        const Project p = makeProject();
        const std::string out = p.dir + "/replayed";
        const Run r =
            kme({"session", "replay", QString::fromStdString(p.session), "--out", QString::fromStdString(out)});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("edit #1 'edit 1': its stored weight delta is unreadable") != std::string::npos,
                 r.err.c_str());
        QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), long(1));
        QVERIFY(!fs::exists(out));
        // export --out needs the same replay.
        const Run e =
            kme({"session", "export", QString::fromStdString(p.session), "--out", QString::fromStdString(out)});
        QCOMPARE(e.rc, 1);
        QVERIFY(e.out.empty());
        QVERIFY(!fs::exists(out));
    }

    void replayOfTheUneditedModelWritesAVerifiedFolder() {
        const Project p = makeProject();
        disableAll(p);
        const std::string out = p.dir + "/replayed";
        Run r = kme({"session", "replay", QString::fromStdString(p.session), "--out", QString::fromStdString(out),
                     "--json", "-"});
        QCOMPARE(r.rc, 0);
        const json j = json::parse(r.out);
        QVERIFY(j["replay"]["verified"].get<bool>());
        QCOMPARE(j["replay"]["final_hash"].get<std::string>(), p.hash);
        QCOMPARE(j["replay"]["model_via"].get<std::string>(), std::string("absolute"));
        QCOMPARE(kme::Model::load(out)->weightsHash(), p.hash);
        // No half-written or leftover folders beside it.
        for (const auto& entry : fs::directory_iterator(p.dir))
            QVERIFY2(entry.path().filename().string().find("kme-tmp") == std::string::npos, entry.path().c_str());

        // An earlier replay --out is replaced; once it holds a file kme did not
        // write it is the user's, and refused (tests/cli/test_hostile_outputs.cpp).
        r = kme({"session", "replay", QString::fromStdString(p.session), "--out", QString::fromStdString(out)});
        QCOMPARE(r.rc, 0);
        std::ofstream(out + "/notes.txt") << "mine";
        r = kme({"session", "replay", QString::fromStdString(p.session), "--out", QString::fromStdString(out)});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("kme did not write") != std::string::npos, r.err.c_str());
    }

    void replayFindsAMovedProjectAndRefusesAChangedCheckpoint() {
        const Project p = makeProject();
        disableAll(p);
        const std::string moved = p.dir + "-moved";
        fs::rename(p.dir, moved);
        Run r = kme({"session", "replay", QString::fromStdString(moved + "/s.kmes"), "--json", "-"});
        QCOMPARE(r.rc, 0);
        json j = json::parse(r.out);
        QCOMPARE(j["replay"]["model_via"].get<std::string>(), std::string("relative"));
        QCOMPARE(j["model"]["resolved_path"].get<std::string>(), moved + "/model");

        // Other weights in the model folder: refused, naming both hashes.
        fs::remove_all(moved + "/model");
        writeSmallModel(moved + "/model", 4);
        r = kme({"session", "replay", QString::fromStdString(moved + "/s.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("checkpoint changed") != std::string::npos && r.err.find(p.hash) != std::string::npos,
                 r.err.c_str());

        fs::remove_all(moved + "/model");
        r = kme({"session", "replay", QString::fromStdString(moved + "/s.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("missing") != std::string::npos, r.err.c_str());
    }

    void badFilesAndUsage() {
        const std::string notSession = tmp_.path().toStdString() + "/notes.txt";
        writeFileBytes(notSession, "just some text\n");
        Run r = kme({"session", "list", QString::fromStdString(notSession)});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(notSession) != std::string::npos && r.err.find("not an SQLite") != std::string::npos,
                 r.err.c_str());
        QCOMPARE(readFileBytes(notSession), std::string("just some text\n"));

        r = kme({"session", "show", QString::fromStdString(notSession + ".missing")});
        QCOMPARE(r.rc, 1);
        QVERIFY(!fs::exists(notSession + ".missing"));  // never created by a read

        // Usage errors (each run of the binary costs ~2 s of torch start-up: a few).
        QCOMPARE(kme({"session", "frobnicate", "x.kmes"}).rc, 2);
        QCOMPARE(kme({"session", "list"}).rc, 2);
        QCOMPARE(kme({"session", "list", "a.kmes", "--out", "dir"}).rc, 2);
    }
};

QTEST_GUILESS_MAIN(TestSessionCli)
#include "test_session_cli.moc"
