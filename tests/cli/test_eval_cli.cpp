// `kme eval` (shared/CLI.md) run as a process ($KME_CLI): the JSON keys of
// the contract and the additions, fresh / sequential / batched runs, zsRE
// files, the demo model, exit codes and one-line errors; --session (the run
// recorded as a metric run, on the session's weights) and its listing.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/eval/EvalJson.h"
#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"
#include "tests/KmeProcess.h"
#include "tests/TinyModel.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::fileBytes;
using kme::testing::Run;

Run kmeRun(const QStringList& args) { return kme::testing::kmeRun(args, 1200000); }

const char* kFacts = R"([
 {"case_id": 1, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "France",
   "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
  "paraphrase_prompts": ["France has its capital in"],
  "neighborhood_prompts": ["The capital of Japan is"], "neighborhood_answers": ["Tokyo"],
  "other_attributes": [{"relation_id": "P30", "prompt": "France is a country in", "target": "Europe"}],
  "generation_prompts": ["France is"]},
 {"case_id": 2, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "Japan",
   "target_new": {"str": "Paris"}, "target_true": {"str": "Tokyo"}},
  "paraphrase_prompts": ["Japan has its capital in"],
  "neighborhood_prompts": ["The capital of France is"], "neighborhood_answers": ["Paris"],
  "generation_prompts": ["Japan is"]},
 {"case_id": 3, "requested_rewrite": {"prompt": "{} is a country in", "relation_id": "P30", "subject": "France",
   "target_new": {"str": "Asia"}, "target_true": {"str": "Europe"}},
  "paraphrase_prompts": ["France is located in"],
  "neighborhood_prompts": ["Italy is a country in"], "neighborhood_answers": ["Europe"],
  "generation_prompts": []}
])";

const char* kZsre = R"([
 {"subject": "Danube", "src": "Which river is the Danube?", "rephrase": "What is the Danube?", "alt": "Rhine",
  "answers": ["Thames"], "loc": "nq question: where is the fox", "loc_ans": "over the dog"}
])";

// A random 3-layer GPT-2 folder; another `seed`, other weights.
void writeTinyModel(const QString& folder, uint64_t seed) { kme::testing::writeTinyModel(folder.toStdString(), seed); }

// A session's metric runs, read as a second program would.
std::vector<kme::MetricRunRecord> metricRuns(const QString& session) {
    kme::SessionOpenOptions o;
    o.readOnly = true;
    return kme::SessionStore(session.toStdString(), o).listMetricRuns();
}

const char* kContractKeys[] = {"efficacy_score",     "efficacy_magnitude",     "paraphrase_score", "paraphrase_magnitude",
                               "neighborhood_score", "neighborhood_magnitude", "score",            "fluency"};

}  // namespace

class TestEvalCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_;
    QString path(const QString& n) const { return tmp_.path() + "/" + n; }

private Q_SLOTS:
    void initTestCase() {
        if (qEnvironmentVariableIsEmpty("KME_CLI")) QSKIP("KME_CLI is not set (run through ctest)");
        QVERIFY(tmp_.isValid());
        model_ = path("model");
        writeTinyModel(model_, 5);
        std::ofstream(path("facts.json").toStdString()) << kFacts;
        std::ofstream(path("zsre.json").toStdString()) << kZsre;
    }

    void freshRunWritesTheContractKeys() {
        const Run r = kmeRun({"eval", model_, "--dataset", path("facts.json"), "--method", "ft-l", "--layer", "0",
                              "--limit", "2", "--steps", "5", "--gen-length", "16", "--threads", "1", "--json",
                              path("eval.json")});
        QVERIFY2(r.rc == 0, r.err.c_str());
        qInfo("%.1f s\n%s", r.seconds, r.out.c_str());
        QVERIFY(QString::fromStdString(r.out).contains("efficacy score"));
        std::ifstream in(path("eval.json").toStdString());
        const json j = json::parse(in);
        for (const char* key : {"records", "metrics", "baseline", "method", "layers", "mode", "seconds", "n_records"})
            QVERIFY2(j.contains(key), key);
        for (const char* key : kContractKeys) {
            QVERIFY2(j["metrics"].contains(key), key);
            QVERIFY2(j["baseline"].contains(key), key);
            QVERIFY2(j["metrics"][key].is_number(), key);  // all measured on this file
        }
        for (const char* key : {"other_attributes_score", "efficacy_accuracy", "neighborhood_accuracy"})
            QVERIFY2(j["metrics"].contains(key), key);
        QCOMPARE(j["method"].get<std::string>(), std::string("ft-l"));
        QCOMPARE(j["mode"].get<std::string>(), std::string("fresh"));
        QCOMPARE(j["layers"], json({0}));
        QCOMPARE(j["n_records"].get<int>(), 2);
        QCOMPARE(j["records"].size(), size_t(2));
        const json& rec = j["records"][0];
        QCOMPARE(rec["case_id"].get<int>(), 1);
        QCOMPARE(rec["target_new"].get<std::string>(), std::string(" Rome"));
        QVERIFY(rec["edited"]["prompts"]["efficacy"][0]["expected"]["p"].is_number());
        QCOMPARE(rec["edited"]["prompts"]["neighborhood"][0]["expected"]["target"].get<std::string>(), std::string(" Tokyo"));
        QCOMPARE(rec["edited"]["generations"].size(), size_t(1));
        QVERIFY(rec["baseline"]["efficacy_score"].is_number());
        // Scores are fractions; the summary mean is the records' mean.
        const double es = (rec["edited"]["efficacy_score"].get<double>() +
                           j["records"][1]["edited"]["efficacy_score"].get<double>()) / 2;
        QCOMPARE(j["metrics"]["efficacy_score"].get<double>(), es);
        QVERIFY(j["metrics"]["efficacy_score"].get<double>() >= 0 && j["metrics"]["efficacy_score"].get<double>() <= 1);
        QCOMPARE(j["metrics_count"]["other_attributes_score"].get<int>(), 1);
        QCOMPARE(j["model"]["weights_hash"].is_string(), true);
    }

    void sequentialBatchedMemit() {
        const Run r = kmeRun({"eval", model_, "--dataset", path("facts.json"), "--method", "memit", "--layers", "0-1",
                              "--no-mom2", "--steps", "3", "--sequential", "--batch", "2", "--no-generation",
                              "--threads", "1", "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(j["mode"].get<std::string>(), std::string("sequential"));
        QCOMPARE(j["batch_size"].get<int>(), 2);
        QCOMPARE(j["batches"].size(), size_t(2));
        QCOMPARE(j["batches"][0]["records"], json({0, 1}));
        QCOMPARE(j["records"].size(), size_t(3));
        QVERIFY(j["metrics"]["fluency"].is_null());
        QVERIFY(j["metrics"]["efficacy_at_edit_score"].is_number());
        QVERIFY(j["records"][0].contains("efficacy_at_edit"));
        // Records 0 and 1 are each other's neighbour prompt; record 0's other
        // attribute (France, P30) is record 2's edit: all left out.
        QCOMPARE(j["excluded"]["neighborhood_prompts"].get<int>(), 2);
        QCOMPARE(j["records"][0]["edited"]["neighborhood_excluded"].get<int>(), 1);
        QCOMPARE(j["records"][0]["baseline"]["neighborhood_excluded"].get<int>(), 0);
        QVERIFY(j["records"][0]["edited"]["neighborhood_score"].is_null());  // its only neighbour was left out
        QCOMPARE(j["excluded"]["other_attributes"].get<int>(), 1);
        QCOMPARE(j["mom2"].get<bool>(), false);
    }

    void zsreFile() {
        const Run r = kmeRun({"eval", model_, "--dataset", path("zsre.json"), "--method", "ft-l", "--layer", "1",
                              "--steps", "3", "--threads", "1", "--json", "-"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(j["schema"].get<std::string>(), std::string("zsre"));
        QCOMPARE(j["metric_set"].get<std::string>(), std::string("zsre"));
        QVERIFY(j["metrics"]["efficacy_accuracy"].is_number());
        QVERIFY(j["metrics"]["neighborhood_accuracy"].is_number());
        QVERIFY(j["metrics"]["fluency"].is_null());
        QCOMPARE(j["records"][0]["edited"]["prompts"]["neighborhood"][0]["prompt"].get<std::string>(),
                 std::string("nq question: where is the fox?"));
        const Run cf = kmeRun({"eval", model_, "--dataset", path("zsre.json"), "--method", "ft-l", "--layer", "1",
                               "--metrics", "counterfact"});
        QCOMPARE(cf.rc, 1);
        QVERIFY2(QString::fromStdString(cf.err).contains("zsRE"), cf.err.c_str());
    }

    void romeOnTheDemoModel() {
        const QString demo = QString(KME_SOURCE_DIR) + "/projects/demo";
        if (!fs::exists((demo + "/model/config.json").toStdString())) QSKIP("no demo model");
        // Two records of different relations, the demo's own defaults (layer,
        // statistics corpus; statistics cached under KME_CACHE_DIR).
        const Run r = kmeRun({"eval", demo + "/model", "--dataset", demo + "/facts.json", "--method", "rome", "--limit",
                              "2", "--select", "spread", "--threads", "1", "--json", path("demo.json")});
        QVERIFY2(r.rc == 0, r.err.c_str());
        qInfo("%.1f s\n%s", r.seconds, r.out.c_str());
        std::ifstream in(path("demo.json").toStdString());
        const json j = json::parse(in);
        QCOMPARE(j["selection"]["indices"], json({0, 254}));
        QCOMPARE(j["layers"], json({1}));
        // ROME writes both facts (the unedited model prefers the true objects).
        QCOMPARE(j["baseline"]["efficacy_score"].get<double>(), 0.0);
        QCOMPARE(j["metrics"]["efficacy_score"].get<double>(), 1.0);
        QVERIFY(j["metrics"]["paraphrase_score"].get<double>() > j["baseline"]["paraphrase_score"].get<double>());
        QVERIFY(j["metrics"]["fluency"].get<double>() > 0);
        QVERIFY(j["metrics"]["other_attributes_score"].is_number());
    }

    // A fast FT-L run of the first `limit` records, recorded in `session`.
    QStringList sessionEval(const QString& session, const QString& limit) const {
        return {"eval", model_, "--dataset", path("facts.json"), "--method", "ft-l", "--layer", "0", "--limit", limit,
                "--steps", "3", "--no-generation", "--threads", "1", "--session", session};
    }

    void sessionRecordsTheRun() {
        const QString session = path("eval.kmes");
        const Run r = kmeRun(sessionEval(session, "2") << "--json" << "-");
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(j["session"]["path"].get<std::string>(), session.toStdString());
        const int64_t id = j["session"]["metric_run_id"].get<int64_t>();

        const auto runs = metricRuns(session);
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].id, id);
        QCOMPARE(runs[0].method, std::string("ft-l"));
        QCOMPARE(runs[0].dataset, path("facts.json").toStdString());
        // What the Evaluate tab reads back: the same numbers as --json, exactly.
        const kme::EvalRunSummary s = kme::evalRunSummaryFromJson(runs[0].resultsJson);
        QCOMPARE(s.recordCount, 2);
        QCOMPARE(s.edited.find("efficacy_score")->mean, j["metrics"]["efficacy_score"].get<double>());
        QCOMPARE(s.edited.find("paraphrase_score")->mean, j["metrics"]["paraphrase_score"].get<double>());
        QCOMPARE(s.baseline.find("efficacy_score")->mean, j["baseline"]["efficacy_score"].get<double>());
        QCOMPARE(s.weightsHash, j["model"]["weights_hash"].get<std::string>());
        // The compact form: each record's values, no prompt details.
        const json results = json::parse(runs[0].resultsJson);
        QVERIFY(results.contains("baseline_count"));
        QVERIFY(!results["records"][0]["edited"].contains("prompts"));
        const json params = json::parse(runs[0].paramsJson);
        QCOMPARE(params["records"].get<int>(), 2);
        QCOMPARE(params["mode"].get<std::string>(), std::string("fresh"));
        QCOMPARE(params["selection"].get<std::string>(), std::string("first"));
        QCOMPARE(params["steps"].get<int>(), 3);
        QCOMPARE(params["fluency"].get<bool>(), false);
        QCOMPARE(params["edits_applied"].get<bool>(), false);
        QCOMPARE(params["weights_hash"].get<std::string>(), j["model"]["weights_hash"].get<std::string>());
        QCOMPARE(params["tool"].get<std::string>(), std::string("kme eval"));

        // Text output names the run; `session show` lists both runs with their values.
        const Run text = kmeRun(sessionEval(session, "1"));
        QVERIFY2(text.rc == 0, text.err.c_str());
        QVERIFY2(text.out.find("recorded as metric run " + std::to_string(id + 1) + " in " + session.toStdString()) !=
                     std::string::npos,
                 text.out.c_str());
        const Run show = kmeRun({"session", "show", session});
        QVERIFY2(show.rc == 0, show.err.c_str());
        qInfo("%s", show.out.c_str());
        QString efficacy;
        efficacy.setNum(100 * j["metrics"]["efficacy_score"].get<double>(), 'f', 1);
        const std::string line = "  metric run " + std::to_string(id) + " (" + runs[0].created + "): FT-L on " +
                                 path("facts.json").toStdString() + ", 2 records \u2014 efficacy " +
                                 efficacy.toStdString() + "%, paraphrase ";
        QVERIFY2(show.out.find(line) != std::string::npos, show.out.c_str());
        QVERIFY2(show.out.find("  metric run " + std::to_string(id + 1) + " (") != std::string::npos, show.out.c_str());
        QCOMPARE(metricRuns(session).size(), size_t(2));
    }

    void sessionEditsAreEvaluated() {
        // An edit recorded with `kme edit --session`, then an evaluation on top of it.
        const QString session = path("edited.kmes");
        std::ofstream(path("steps.json").toStdString()) << R"({"v_num_grad_steps": 3})";
        const Run edit = kmeRun({"edit", model_, "--method", "rome", "--layer", "0", "--no-mom2", "--hparams",
                                 path("steps.json"), "--prompt", "The capital of {} is", "--subject", "France",
                                 "--target", "Rome", "--threads", "1", "--session", session, "--json", "-"});
        QVERIFY2(edit.rc == 0, edit.err.c_str());
        const std::string edited = json::parse(edit.out)["weights_hash"].get<std::string>();
        QVERIFY(edited != json::parse(edit.out)["weights_hash_before"].get<std::string>());

        const Run r = kmeRun(sessionEval(session, "2") << "--json" << "-");
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(j["model"]["weights_hash"].get<std::string>(), edited);
        kme::SessionOpenOptions o;
        o.readOnly = true;
        const kme::SessionStore store(session.toStdString(), o);
        const auto edits = store.listEdits();
        QCOMPARE(edits.size(), size_t(1));
        const auto runs = store.listMetricRuns();
        QCOMPARE(runs.size(), size_t(1));
        const json params = json::parse(runs[0].paramsJson);
        QCOMPARE(params["weights_hash"].get<std::string>(), edits[0].weightsHashAfter);
        QCOMPARE(params["edits_applied"].get<bool>(), true);
        QCOMPARE(kme::evalRunSummaryFromJson(runs[0].resultsJson).weightsHash, edits[0].weightsHashAfter);
        QCOMPARE(store.listEdits().size(), size_t(1));  // evaluating adds no edit

        const Run show = kmeRun({"session", "show", session});
        QVERIFY2(show.out.find("FT-L on " + path("facts.json").toStdString() + ", 2 records, on edited weights") !=
                     std::string::npos,
                 show.out.c_str());
    }

    void sessionErrors() {
        // Not a session: refused before anything runs, the file untouched.
        const std::string notes = path("notes.txt").toStdString();
        std::ofstream(notes) << "my notes about the run\n";
        Run r = kmeRun(sessionEval(path("notes.txt"), "1"));
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains(path("notes.txt")), r.err.c_str());
        QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), 1L);
        QCOMPARE(fileBytes(notes), std::string("my notes about the run\n"));
        QVERIFY(!fs::exists(notes + "-wal") && !fs::exists(notes + "-journal"));

        // Another model's session: refused naming both weights hashes.
        const QString other = path("other-model");
        writeTinyModel(other, 6);
        const Run first = kmeRun(sessionEval(path("mine.kmes"), "1") << "--json" << "-");
        QVERIFY2(first.rc == 0, first.err.c_str());
        const std::string mine = json::parse(first.out)["model"]["weights_hash"].get<std::string>();
        const Run info = kmeRun({"info", other, "--json", "-"});
        QCOMPARE(info.rc, 0);
        const std::string theirs = json::parse(info.out)["weights_hash"].get<std::string>();
        QStringList args = sessionEval(path("mine.kmes"), "1");
        args[1] = other;
        r = kmeRun(args);
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(mine) != std::string::npos && r.err.find(theirs) != std::string::npos, r.err.c_str());
        QCOMPARE(metricRuns(path("mine.kmes")).size(), size_t(1));

        // A failed run creates no session file; a missing folder is named.
        QStringList badLayer = sessionEval(path("new.kmes"), "1");
        badLayer[badLayer.indexOf("--layer") + 1] = "9";
        r = kmeRun(badLayer);
        QCOMPARE(r.rc, 1);
        QVERIFY2(!fs::exists(path("new.kmes").toStdString()), r.err.c_str());
        r = kmeRun(sessionEval(path("no/such/dir/s.kmes"), "1"));
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("no/such/dir/s.kmes"), r.err.c_str());
    }

    void errorsAndUsage() {
        std::ofstream(path("notrue.json").toStdString())
            << R"([{"requested_rewrite": {"prompt": "{} is in", "subject": "Paris", "target_new": {"str": "Rome"},
                   "target_true": {"str": ""}}}])";
        std::ofstream(path("broken.json").toStdString()) << R"([{"requested_rewrite": )";
        struct Case {
            QStringList args;
            int rc;
            const char* fragment;
        };
        const QString f = path("facts.json");
        const std::vector<Case> cases = {
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--layer", "0", "--limit", "0"}, 2, "--limit"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--layer", "0", "--limit", "99"}, 1, "exceeds the 3 records"},
            {{"eval", model_, "--method", "ft-l"}, 2, "--dataset"},
            {{"eval", model_, "--dataset", path("missing.json"), "--method", "ft-l"}, 1, "missing.json"},
            {{"eval", model_, "--dataset", path("broken.json"), "--method", "ft-l"}, 1, "broken.json"},
            {{"eval", model_, "--dataset", f, "--method", "serac"}, 2, "--method"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--select", "best"}, 2, "--select"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--metrics", "bleu"}, 2, "--metrics"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--batch", "0"}, 2, "--batch"},
            {{"eval", model_, "--dataset", path("notrue.json"), "--method", "ft-l", "--layer", "0"}, 1, "target_true"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--layer", "9"}, 1, "layer 9 is out of range"},
            {{"eval", model_, "--dataset", f, "--method", "rome", "--layer", "0"}, 1, "corpus"},
            {{"eval", model_, "--dataset", f, "--method", "ft-l", "--layer", "0", "--limit", "1", "--no-generation",
              "--json", path("no/such/dir/out.json")}, 1, "out.json"},
        };
        for (const auto& c : cases) {
            const Run r = kmeRun(c.args);
            qInfo("rc %d: %s", r.rc, r.err.c_str());
            QCOMPARE(r.rc, c.rc);
            QVERIFY2(QString::fromStdString(r.err).contains(c.fragment), r.err.c_str());
            QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), 1L);  // one line
        }
        QVERIFY(!fs::exists(path("no/such/dir/out.json").toStdString()));
    }
};

QTEST_GUILESS_MAIN(TestEvalCli)
#include "test_eval_cli.moc"
