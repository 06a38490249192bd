// `kme edit` (shared/CLI.md) run as a process ($KME_CLI): JSON keys, exit
// codes, one-line errors, --out writing a loadable model with the reported
// weights hash.
#include <QtTest>

#include "tests/KmeProcess.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"
#include "test_edit_support.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::kmeRun;
using kme::testing::Run;

}  // namespace

class TestEditCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_;
    QString path(const QString& n) const { return tmp_.path() + "/" + n; }

private Q_SLOTS:
    void initTestCase() {
        if (qEnvironmentVariableIsEmpty("KME_CLI")) QSKIP("KME_CLI is not set (run through ctest)");
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", path("cache").toUtf8());
        model_ = path("model");
        kme::writeRandomModelFolder(model_.toStdString(), edittest::toyConfig(), 3);
        std::ofstream corpus(path("corpus.txt").toStdString());
        for (const auto& t : edittest::wordCorpus(300, 2)) corpus << t << "\n";
    }

    void romeWithStatisticsWritesJsonAndModel() {
        const Run r = kmeRun({"edit", model_, "--method", "rome", "--prompt", "The {} is located in", "--subject",
                              "Tokyo", "--target", "Italy", "--target-true", "Japan", "--layer", "1", "--stats-corpus",
                              path("corpus.txt"), "--hparams", path("hp.json"), "--out", path("edited"), "--json",
                              path("edit.json")});
        // --hparams names a missing file: one clear line, exit 1, nothing written.
        QCOMPARE(r.rc, 1);
        QVERIFY(QString::fromStdString(r.err).contains("hp.json"));
        QVERIFY(!fs::exists(path("edited").toStdString()) && !fs::exists(path("edit.json").toStdString()));
        std::ofstream(path("hp.json").toStdString()) << R"({"v_num_grad_steps": 5})";
        const Run ok = kmeRun({"edit", model_, "--method", "rome", "--prompt", "The {} is located in", "--subject",
                               "Tokyo", "--target", "Italy", "--target-true", "Japan", "--layer", "1", "--stats-corpus",
                               path("corpus.txt"), "--hparams", path("hp.json"), "--out", path("edited"), "--json",
                               path("edit.json")});
        QVERIFY2(ok.rc == 0, ok.err.c_str());
        qInfo("%s", ok.out.c_str());
        std::ifstream in(path("edit.json").toStdString());
        const json j = json::parse(in);
        for (const char* key : {"method", "layer", "layers", "changed", "before", "after", "weights_hash", "seconds"})
            QVERIFY2(j.contains(key), key);
        QCOMPARE(j["method"].get<std::string>(), std::string("rome"));
        QCOMPARE(j["layer"].get<int>(), 1);
        QCOMPARE(j["changed"].size(), size_t(1));
        QCOMPARE(j["changed"][0]["tensor"].get<std::string>(), std::string("h.1.mlp.c_proj.weight"));
        QCOMPARE(j["changed"][0]["rank"].get<int>(), 1);
        QVERIFY(j["changed"][0]["norm"].get<double>() > 0);
        QVERIFY(j["before"]["p_new"].is_number() && j["before"]["p_true"].is_number());
        QCOMPARE(j["hparams"]["v_num_grad_steps"].get<int>(), 5);
        QCOMPARE(j["statistics"][0]["tokens"].get<int64_t>() > 0, true);
        QVERIFY(j["weights_hash"] != j["weights_hash_before"]);
        // The folder written loads, in the input's layout, with the reported hash.
        auto edited = kme::Model::load(path("edited").toStdString());
        QCOMPARE(edited->weightsHash(), j["weights_hash"].get<std::string>());
        QVERIFY(fs::exists(path("edited/vocab.json").toStdString()));
        // Second run: statistics come from the cache.
        const Run again = kmeRun({"edit", model_, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target",
                                  "Italy", "--layer", "1", "--stats-corpus", path("corpus.txt"), "--hparams",
                                  path("hp.json"), "--json", "-"});
        QVERIFY2(again.rc == 0, again.err.c_str());
        const json k = json::parse(again.out);
        QCOMPARE(k["statistics"][0]["cached"].get<bool>(), true);
        QCOMPARE(k["weights_hash"], j["weights_hash"]);  // same inputs, same bytes
    }

    void memitAndFtlFromARequestsFile() {
        std::ofstream(path("requests.json").toStdString())
            << R"([{"prompt": "The {} is located in", "subject": "Tokyo", "target_new": "Italy"},
                   {"prompt": "The {} is located in", "subject": "Paris", "target_new": {"str": "Japan"}}])";
        const Run m = kmeRun({"edit", model_, "--method", "memit", "--requests", path("requests.json"), "--layers", "1-2",
                              "--no-mom2", "--hparams", path("hp.json"), "--json", "-"});
        QVERIFY2(m.rc == 0, m.err.c_str());
        const json j = json::parse(m.out);
        QCOMPARE(j["layers"], json({1, 2}));
        QCOMPARE(j["changed"].size(), size_t(2));
        QCOMPARE(j["changed"][0]["rank"].get<int>(), 2);
        QCOMPARE(j["requests"].size(), size_t(2));
        QCOMPARE(j["mom2"].get<bool>(), false);
        const Run f = kmeRun({"edit", model_, "--method", "ft-l", "--requests", path("requests.json"), "--layer", "0",
                              "--json", "-"});
        QVERIFY2(f.rc == 0, f.err.c_str());
        const json g = json::parse(f.out);
        QCOMPARE(g["changed"].size(), size_t(2));
        QCOMPARE(g["changed"][0]["kind"].get<std::string>(), std::string("dense"));
    }

    // `kme edit --session` twice, each on top of the session's state; the
    // session replays to the second edit's weights; disabling the second
    // replays to the first's.
    void sessionRecordsEditsThatReplay() {
        const QString db = path("s.kmes");
        const QStringList common = {"--no-mom2", "--layer", "1", "--hparams", path("hp5.json"), "--session", db, "--json", "-"};
        std::ofstream(path("hp5.json").toStdString()) << R"({"v_num_grad_steps": 4})";
        const Run a = kmeRun(QStringList{"edit", model_, "--prompt", "The {} is located in", "--subject", "Tokyo",
                                         "--target", "Italy"} + common);
        QVERIFY2(a.rc == 0, a.err.c_str());
        const json ja = json::parse(a.out);
        const Run b = kmeRun(QStringList{"edit", model_, "--prompt", "{} speaks", "--subject", "Paris", "--target",
                                         "English"} + common);
        QVERIFY2(b.rc == 0, b.err.c_str());
        const json jb = json::parse(b.out);
        // The second edit started from the first's weights.
        QCOMPARE(jb["weights_hash_before"], ja["weights_hash"]);
        QCOMPARE(jb["session"]["edit_id"].get<int64_t>() > ja["session"]["edit_id"].get<int64_t>(), true);

        Run r = kmeRun({"session", "replay", db, "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        json j = json::parse(r.out);
        qInfo("replay: %s", j["replay"].dump().c_str());
        QCOMPARE(j["replay"]["final_hash"], jb["weights_hash"]);
        QCOMPARE(j["replay"]["verified"].get<bool>(), true);
        QCOMPARE(j["edits"].size(), size_t(2));
        QCOMPARE(j["edits"][0]["method"].get<std::string>(), std::string("rome"));

        // Undo the second edit in the file, replay: the first edit's weights.
        {
            kme::SessionStore store(db.toStdString());
            store.setEditEnabled(jb["session"]["edit_id"].get<int64_t>(), false);
        }
        r = kmeRun({"session", "replay", db, "--out", path("replayed"), "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        j = json::parse(r.out);
        QCOMPARE(j["replay"]["final_hash"], ja["weights_hash"]);
        QCOMPARE(kme::Model::load(path("replayed").toStdString())->weightsHash(), ja["weights_hash"].get<std::string>());

        // Another model cannot write into this session.
        const QString other = path("other-model");
        kme::writeRandomModelFolder(other.toStdString(), edittest::toyConfig(), 4);
        r = kmeRun(QStringList{"edit", other, "--prompt", "{} speaks", "--subject", "Paris", "--target", "English"} +
                   common);
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("Use a new session file") != std::string::npos, r.err.c_str());
    }

    // kme_edit_defaults.json in a model folder supplies the layer and the
    // statistics corpus; a malformed one is an error naming the file.
    void defaultsFileInTheModelFolder() {
        const QString m = path("model-with-defaults");
        kme::writeRandomModelFolder(m.toStdString(), edittest::toyConfig(), 3);
        fs::copy_file(path("corpus.txt").toStdString(), (m + "/stats.txt").toStdString());
        std::ofstream((m + "/kme_edit_defaults.json").toStdString())
            << R"({"rome": {"layers": [0], "v_num_grad_steps": 3}, "stats_corpus": {"file": "stats.txt"}})";
        Run r = kmeRun({"edit", m, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target", "Italy",
                        "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(j["layer"].get<int>(), 0);
        QCOMPARE(j["hparams"]["v_num_grad_steps"].get<int>(), 3);
        QVERIFY2(j["stats_corpus"].get<std::string>().find("stats.txt") != std::string::npos, j.dump().c_str());
        QCOMPARE(j["statistics"].size(), size_t(1));
        // --layer and --no-mom2 still override the file.
        r = kmeRun({"edit", m, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target", "Italy",
                    "--layer", "1", "--no-mom2", "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QCOMPARE(json::parse(r.out)["layer"].get<int>(), 1);
        QCOMPARE(json::parse(r.out)["statistics"].size(), size_t(0));

        const std::vector<std::pair<std::string, std::string>> bad = {
            {R"({"rome": {"layers": "one"}})", "kme_edit_defaults.json"},
            {R"([1, 2])", "kme_edit_defaults.json"},
            {R"({"rome": )", "kme_edit_defaults.json"},
            // (with a layer: a method without one is refused before any corpus is read)
            {R"({"rome": {"layers": [1]}, "stats_corpus": {"file": 3}})", "kme_edit_defaults.json"},
            {R"({"rome": {"layers": [1]}, "stats_corpus": {"file": "missing.txt"}})", "missing.txt"}};
        for (const auto& [text, fragment] : bad) {
            std::ofstream((m + "/kme_edit_defaults.json").toStdString(), std::ios::trunc) << text;
            r = kmeRun({"edit", m, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target", "Italy"});
            qInfo("%s -> rc %d: %s", text.c_str(), r.rc, r.err.c_str());
            QCOMPARE(r.rc, 1);
            QVERIFY2(r.err.find(fragment) != std::string::npos, r.err.c_str());
            QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), long(1));
        }
    }

    void errorsAndUsage() {
        struct Case {
            QStringList args;
            int rc;
            const char* fragment;
        };
        const std::vector<Case> cases = {
            {{"edit", model_, "--prompt", "Tokyo is in", "--subject", "Tokyo", "--target", "Italy", "--no-mom2", "--layer", "1"}, 1, "no '{}'"},
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "", "--no-mom2", "--layer", "1"}, 1, "empty"},
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--no-mom2", "--layer", "9"}, 1, "layer 9 is out of range"},
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--layer", "1"}, 1, "--stats-corpus"},
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--no-mom2"}, 1, "--layer"},
            // The engine names the problem, the command line adds the flag of the method's layer shape.
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--no-mom2"}, 1,
             "no default rome layer is known for this model: choose one with --layer L"},
            {{"edit", model_, "--method", "memit", "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--no-mom2"}, 1,
             "no default memit layer is known for this model: choose one with --layers A-B"},
            {{"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy", "--layer", "1"}, 1,
             "key statistics need a text corpus, and none is known for this model"},
            {{"edit", model_, "--editor", "e.safetensors", "--prompt", "{} is in", "--subject", "T", "--target", "I"}, 2, "--editor goes with"},
            {{"edit", model_, "--method", "serac", "--prompt", "{} is in", "--subject", "T", "--target", "I"}, 2, "--method"},
            {{"edit", model_, "--method", "grace", "--out", "x", "--prompt", "{} is in", "--subject", "T", "--target", "I"}, 2, "an adapter beside them"},
            {{"edit", model_, "--method", "rome", "--facts", "f.json", "--prompt", "{} is in", "--subject", "T", "--target", "I"}, 2, "--facts goes with"},
            {{"edit", model_, "--prompt", "{} is in"}, 2, "--subject"},
            {{"edit", model_, "--layers", "5-2", "--prompt", "{} is in", "--subject", "T", "--target", "I"}, 2, "empty"},
            {{"edit", model_, "--session", "x.kmes"}, 2, "missing the edit"},
        };
        for (const auto& c : cases) {
            const Run r = kmeRun(c.args);
            qInfo("rc %d: %s", r.rc, r.err.c_str());
            QCOMPARE(r.rc, c.rc);
            QVERIFY2(QString::fromStdString(r.err).contains(c.fragment), r.err.c_str());
        }
        // The benchmarking switch KME_VALUE_PATH: a bad value is a usage error naming it; a good one
        // runs the straightforward v* path to the same result (float tolerance).
        const QStringList edit = {"edit", model_, "--prompt", "{} is in", "--subject", "Tokyo", "--target", "Italy",
                                  "--no-mom2", "--layer", "1", "--json", "-"};
        qputenv("KME_VALUE_PATH", "bogus");
        const Run bad = kmeRun(edit);
        qputenv("KME_VALUE_PATH", "full");
        const Run full = kmeRun(edit);
        qunsetenv("KME_VALUE_PATH");
        const Run fast = kmeRun(edit);
        QCOMPARE(bad.rc, 2);
        QVERIFY2(QString::fromStdString(bad.err).contains("KME_VALUE_PATH must be full, layer-prefix or position-prefix"),
                 bad.err.c_str());
        QCOMPARE(full.rc, 0);
        QCOMPARE(fast.rc, 0);
        QVERIFY2(QString::fromStdString(full.err).contains("straightforward"), full.err.c_str());
        const double pFull = nlohmann::json::parse(full.out)["after"]["p_new"].get<double>();
        const double pFast = nlohmann::json::parse(fast.out)["after"]["p_new"].get<double>();
        qInfo("p(Italy) after: straightforward v* %.8f, fast v* %.8f (|diff| %.3g, tolerance 1e-3)", pFull, pFast,
              std::abs(pFull - pFast));
        QVERIFY(std::abs(pFull - pFast) <= 1e-3);
    }
};

QTEST_GUILESS_MAIN(TestEditCli)
#include "test_edit_cli.moc"
