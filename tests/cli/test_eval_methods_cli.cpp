// `kme eval --methods A,B,... --curves retain,scale` (shared/CLI.md): the
// same records for every method, each method's run equal to a single-method
// `kme eval` run, the retention point k = N equal to `kme eval --sequential`,
// the scale point B equal to `kme eval --batch B`, the CSV equal to the JSON,
// usage errors. In-process on a tiny random model with a defaults file.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/session/SessionStore.h"
#include "tests/EvalRecords.h"
#include "tests/TinyModel.h"
#include "tests/cli/CliRun.h"

using json = nlohmann::json;
using kme::testing::runKme;

namespace {

const std::string kFacts = kme::testing::counterFactRecords(4);

// Small, fast defaults for the tiny model (its layers, no key statistics).
const char* kDefaults = R"({
 "note": "test defaults",
 "ft-l": {"layers": [1], "num_steps": 4, "lr": 0.05, "norm_constraint": 0.05},
 "memit": {"layers": [0, 1], "v_num_grad_steps": 2, "mom2_adjustment": false,
           "context_template_length_params": [[3, 1]]},
 "grace": {"layers": [1], "n_iter": 5}
})";

json readJson(const QString& path) {
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

double num(const json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

void expectClose(const char* what, double a, double b, double tol = 1e-9) {
    qInfo("  %s: %.6f vs %.6f (|diff| %.3g, tolerance %.0e)", what, a, b, std::abs(a - b), tol);
    QVERIFY2(std::abs(a - b) <= tol, what);
}

}  // namespace

class TestEvalMethodsCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_, facts_;
    QString path(const QString& n) const { return tmp_.path() + "/" + n; }

    json evalOne(const QStringList& extra, const QString& out) {
        std::vector<std::string> args = {"eval", model_.toStdString(), "--dataset", facts_.toStdString(), "--limit",
                                         "4",   "--no-generation",     "--threads", "2", "--json", out.toStdString()};
        for (const QString& a : extra) args.push_back(a.toStdString());
        const auto r = runKme(args);
        if (r.rc != 0) qWarning("%s", r.err.c_str());
        return r.rc == 0 ? readJson(out) : json();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", (tmp_.path() + "/cache").toUtf8());
        model_ = path("model");
        kme::testing::writeTinyModel(model_.toStdString(), 5);
        std::ofstream(path("model/kme_edit_defaults.json").toStdString()) << kDefaults;
        facts_ = path("facts.json");
        std::ofstream(facts_.toStdString()) << kFacts;
    }

    void severalMethodsAgreeWithSingleRuns() {
        const auto r = runKme({"eval", model_.toStdString(), "--dataset", facts_.toStdString(), "--limit", "4",
                               "--methods", "ft-l,memit,grace", "--curves", "retain,scale", "--no-generation",
                               "--threads", "2", "--json", path("methods.json").toStdString(), "--csv",
                               path("methods.csv").toStdString()});
        QVERIFY2(r.rc == 0, r.err.c_str());
        qInfo("%s", r.out.c_str());
        QVERIFY(QString::fromStdString(r.out).contains("accuracy"));
        QVERIFY(QString::fromStdString(r.out).contains("retain@N"));
        const json j = readJson(path("methods.json"));
        QCOMPARE(j["methods"], json({"ft-l", "memit", "grace"}));
        QCOMPARE(j["curves"], json({"retain", "scale"}));
        QCOMPARE(j["runs"].size(), size_t(3));
        // The same records, in the same order, for every method.
        for (const json& run : j["runs"]) {
            QCOMPARE(run["selection"]["indices"], json({0, 1, 2, 3}));
            std::vector<int> cases;
            for (const json& rec : run["records"]) cases.push_back(rec["case_id"].get<int>());
            QCOMPARE(cases, (std::vector<int>{10, 11, 12, 13}));
            QCOMPARE(run["retain"]["k"], json({1, 2, 4}));
            for (const char* key : {"accuracy", "generality", "locality", "portability", "retainability", "scalability"})
                QVERIFY2(run["six"].contains(key), key);
            expectClose("six accuracy = efficacy_score", num(run["six"]["accuracy"]), num(run["metrics"]["efficacy_score"]), 0);
        }
        QCOMPARE(j["runs"][0]["scale"]["batch"], json({1, 4}));
        QCOMPARE(j["runs"][1]["scale"]["batch"], json({1, 4}));
        QVERIFY(!j["runs"][2].contains("scale"));
        QVERIFY(QString::fromStdString(j["runs"][2]["scale_skipped"].get<std::string>()).contains("not a batch method"));

        // Each method's fresh run = `kme eval --method M` alone.
        const json ft = evalOne({"--method", "ft-l"}, path("ft.json"));
        QVERIFY(ft.is_object());
        for (const char* key : {"efficacy_score", "paraphrase_score", "neighborhood_score"})
            expectClose(key, num(j["runs"][0]["metrics"][key]), num(ft["metrics"][key]));
        // Premise: FT-L's edits hold on this model (else every number would be the unedited one).
        QVERIFY(num(ft["metrics"]["efficacy_score"]) > num(ft["baseline"]["efficacy_score"]));
        // Retention k = N = `kme eval --sequential`.
        const json seq = evalOne({"--method", "ft-l", "--sequential"}, path("seq.json"));
        QVERIFY(seq.is_object());
        expectClose("ft-l retain k=4 efficacy vs --sequential", num(j["runs"][0]["retain"]["efficacy"][2]),
                    num(seq["metrics"]["efficacy_score"]));
        expectClose("ft-l retain k=4 neighbourhood vs --sequential", num(j["runs"][0]["retain"]["neighborhood"][2]),
                    num(seq["metrics"]["neighborhood_score"]));
        // Scale B = 4 = `kme eval --batch 4`.
        const json memit4 = evalOne({"--method", "memit", "--batch", "4"}, path("memit4.json"));
        QVERIFY(memit4.is_object());
        expectClose("memit scale b=4 efficacy vs --batch 4", num(j["runs"][1]["scale"]["efficacy"][1]),
                    num(memit4["metrics"]["efficacy_score"]));
        expectClose("memit scale b=4 neighbourhood vs --batch 4", num(j["runs"][1]["scale"]["neighborhood"][1]),
                    num(memit4["metrics"]["neighborhood_score"]));

        // The CSV holds the JSON's numbers.
        std::ifstream csv(path("methods.csv").toStdString());
        std::string header, line;
        std::getline(csv, header);
        QCOMPARE(header, std::string("method,series,x,metric,value"));
        bool found = false;
        while (std::getline(csv, line))
            if (line.rfind("memit,scale,4,efficacy,", 0) == 0) {
                found = true;
                expectClose("CSV memit scale b=4", std::stod(line.substr(line.rfind(',') + 1)),
                            num(j["runs"][1]["scale"]["efficacy"][1]), 1e-9);
            }
        QVERIFY(found);
    }

    void sessionRecordsTheComparison() {
        const std::string db = path("cmp.kmes").toStdString();
        const auto r = runKme({"eval", model_.toStdString(), "--dataset", facts_.toStdString(), "--limit", "2",
                               "--methods", "ft-l,grace", "--curves", "retain", "--no-generation", "--threads", "2",
                               "--session", db});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(QString::fromStdString(r.out).contains("recorded as comparison"));
        kme::SessionOpenOptions o;
        o.readOnly = true;
        const std::vector<kme::MetricRunRecord> runs = kme::SessionStore(db, o).listMetricRuns();
        QCOMPARE(runs.size(), size_t(2));
        const std::string id = kme::comparisonIdOf(runs[0].paramsJson);
        QVERIFY(!id.empty());
        QCOMPARE(kme::comparisonIdOf(runs[1].paramsJson), id);
        QCOMPARE(runs[0].method, std::string("ft-l"));
        QCOMPARE(runs[1].method, std::string("grace"));
        const json params = json::parse(runs[1].paramsJson);
        QCOMPARE(params["comparison_methods"], json({"ft-l", "grace"}));
        QCOMPARE(params["comparison_index"].get<int>(), 1);
        const json results = json::parse(runs[0].resultsJson);
        QCOMPARE(results["retain"]["k"], json({1, 2}));
        QVERIFY(results.contains("six"));
        QCOMPARE(kme::evalRunSummaryFromJson(results).recordCount, 2);  // the one-method reader reads it too
    }

    void usageErrors() {
        const std::string m = model_.toStdString(), f = facts_.toStdString();
        struct Case {
            std::vector<std::string> args;
            int rc;
            const char* fragment;
        };
        const std::vector<Case> cases = {
            {{"--methods", "ft-l,ft-l"}, 2, "listed twice"},
            {{"--methods", "ft-l,bogus"}, 2, "unknown method 'bogus'"},
            {{"--methods", ""}, 2, "--methods"},
            {{"--methods", "ft-l", "--method", "rome"}, 2, "--method goes with a single"},
            {{"--methods", "ft-l", "--sequential"}, 2, "--sequential"},
            {{"--methods", "ft-l", "--curves", "speed"}, 2, "--curves must be"},
            {{"--method", "ft-l", "--curves", "retain"}, 2, "go with --methods"},
            {{"--methods", "ft-l", "--checkpoints", "1,2"}, 2, "--checkpoints goes with --curves retain"},
            {{"--methods", "ft-l", "--curves", "retain", "--checkpoints", "2,1"}, 2, "ascending"},
            {{"--methods", "ft-l", "--curves", "retain", "--checkpoints", "1,x"}, 2, "positive integers"},
            {{"--methods", "ft-l", "--curves", "retain", "--checkpoints", "1,9"}, 1, "beyond the 4 records"},
            {{"--methods", "ft-l", "--curves", "scale", "--batch-sizes", "1,5"}, 1, "beyond the 4 records"},
            {{"--methods", "ft-l,rome"}, 1, "no default rome layer"},
        };
        for (const Case& c : cases) {
            std::vector<std::string> args = {"eval", m, "--dataset", f, "--limit", "4", "--no-generation"};
            args.insert(args.end(), c.args.begin(), c.args.end());
            const auto r = runKme(args);
            qInfo("  rc %d: %s", r.rc, r.err.c_str());
            QCOMPARE(r.rc, c.rc);
            QVERIFY2(QString::fromStdString(r.err).contains(QString::fromUtf8(c.fragment)), r.err.c_str());
        }
        const auto help = runKme({"help", "eval"});
        QCOMPARE(help.rc, 0);
        for (const char* flag : {"--methods", "--curves", "--checkpoints", "--batch-sizes", "--csv"})
            QVERIFY2(QString::fromStdString(help.out).contains(flag), flag);
    }
};

QTEST_GUILESS_MAIN(TestEvalMethodsCli)
#include "test_eval_methods_cli.moc"
