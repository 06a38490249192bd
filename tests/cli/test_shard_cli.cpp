// Sharded runs (issue 18): `kme eval --shard K/N` and `kme trace-dataset
// --shard K/N` as separate processes, `kme session merge`. Three shards run
// side by side and merged equal the unsharded run exactly (per-record
// results, means, intervals, counts; dataset-trace averages); the means are
// also checked against a naive loop over the merged records. Merging refuses
// mismatched, incomplete and duplicated shard sets; a shard killed mid-run
// leaves its session sound and the merge reports it missing; bad --shard
// values are usage errors naming the flag.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/eval/Shard.h"
#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"
#include "engine/trace/TraceJson.h"
#include "tests/TinyModel.h"
#include "tests/cli/CliRun.h"

using json = nlohmann::json;
namespace fs = std::filesystem;
using kme::testing::kmeRun;
using kme::testing::Run;
using kme::testing::runKme;

namespace {

using kme::testing::writeTinyModel;  // a random 3-layer GPT-2 folder

const char* kSubjects[] = {"France", "Japan", "Italy", "Spain", "Norway", "Chile", "Peru", "Egypt"};
const char* kCities[] = {"Paris", "Tokyo", "Rome", "Madrid", "Oslo", "Santiago", "Lima", "Cairo"};

// A CounterFact record; `targetTrue` as given.
json record(int i, const std::string& targetTrue) {
    const std::string s = kSubjects[i];
    return {{"case_id", i + 1},
            {"requested_rewrite",
             {{"prompt", "The capital of {} is"},
              {"relation_id", "P36"},
              {"subject", s},
              {"target_new", {{"str", kCities[(i + 3) % 8]}}},
              {"target_true", {{"str", targetTrue}}}}},
            {"paraphrase_prompts", {s + " has its capital in"}},
            {"neighborhood_prompts", {std::string("The capital of ") + kSubjects[(i + 1) % 8] + " is"}},
            {"neighborhood_answers", {kCities[(i + 1) % 8]}},
            {"generation_prompts", {s + " is"}}};
}

std::vector<kme::MetricRunRecord> metricRuns(const std::string& session) {
    kme::SessionOpenOptions o;
    o.readOnly = true;
    return kme::SessionStore(session, o).listMetricRuns();
}

std::vector<kme::TraceRecord> traces(const std::string& session) {
    kme::SessionOpenOptions o;
    o.readOnly = true;
    return kme::SessionStore(session, o).listTraces(true);
}

// Runs the processes side by side and waits for all.
std::vector<Run> runTogether(const std::vector<QStringList>& argLists) {
    std::vector<std::unique_ptr<QProcess>> ps;
    for (const auto& args : argLists) {
        ps.push_back(std::make_unique<QProcess>());
        ps.back()->start(qEnvironmentVariable("KME_CLI"), args);
    }
    std::vector<Run> out;
    for (auto& p : ps) {
        Run r;
        if (p->waitForFinished(1200000)) {
            r.rc = p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -2;
            r.out = p->readAllStandardOutput().toStdString();
            r.err = p->readAllStandardError().toStdString();
        } else {
            p->kill();
            p->waitForFinished();
        }
        out.push_back(r);
    }
    return out;
}

double maxDifference(const json& a, const json& b) {
    double d = 0;
    if (a.is_number() && b.is_number()) return std::fabs(a.get<double>() - b.get<double>());
    if (a.is_structured() && b.is_structured() && a.size() == b.size()) {
        if (a.is_object())
            for (auto it = a.begin(); it != a.end(); ++it)
                d = std::max(d, b.contains(it.key()) ? maxDifference(*it, b.at(it.key())) : INFINITY);
        else
            for (size_t i = 0; i < a.size(); ++i) d = std::max(d, maxDifference(a[i], b[i]));
        return d;
    }
    return a == b ? 0 : INFINITY;
}

}  // namespace

class TestShardCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_, facts_, traceFacts_;
    std::string path(const std::string& n) const { return tmp_.path().toStdString() + "/" + n; }
    QString qpath(const std::string& n) const { return QString::fromStdString(path(n)); }

    // The run sharded in these tests: FT-L over 7 of the 8 records ("spread"),
    // with fluency, each edit on a fresh model.
    QStringList evalArgs() const {
        return {"eval", QString::fromStdString(model_), "--dataset", QString::fromStdString(facts_), "--method", "ft-l",
                "--layer", "0", "--limit", "7", "--select", "spread", "--steps", "4", "--gen-length", "12",
                "--threads", "1"};
    }
    QStringList traceArgs() const {
        return {"trace-dataset", QString::fromStdString(model_), "--dataset", QString::fromStdString(traceFacts_),
                "--samples", "3", "--threads", "1"};
    }
    static QStringList with(QStringList a, const QStringList& more) { return a << more; }

private Q_SLOTS:
    void initTestCase() {
        if (qEnvironmentVariableIsEmpty("KME_CLI")) QSKIP("KME_CLI is not set (run through ctest)");
        QVERIFY(tmp_.isValid());
        model_ = path("model");
        writeTinyModel(model_, 7);
        facts_ = path("facts.json");
        json facts = json::array();
        for (int i = 0; i < 8; ++i) facts.push_back(record(i, kCities[i]));
        std::ofstream(facts_) << facts.dump(1);
        // For the dataset trace, each record's true target is the random
        // model's own top-1 answer (only those are traced and averaged).
        traceFacts_ = path("trace-facts.json");
        json traced = json::array();
        for (int i = 0; i < 8; ++i) {
            const Run r = runKme({"predict", model_, "--prompt", std::string("The capital of ") + kSubjects[i] + " is",
                                  "--top-k", "1", "--json", "-"});
            QVERIFY2(r.rc == 0, r.err.c_str());
            traced.push_back(record(i, json::parse(r.out)["top"][0]["token"].get<std::string>()));
        }
        std::ofstream(traceFacts_) << traced.dump(1);
    }

    void badShardValuesAreUsageErrors_data() {
        QTest::addColumn<QString>("value");
        for (const char* v : {"0/0", "3/2", "-1/2", "text", "1", "1/2/3", "2/2", "+1/2", "1/-2", "/2", "1/"})
            QTest::newRow(v) << QString(v);
    }
    void badShardValuesAreUsageErrors() {
        QFETCH(QString, value);
        for (const std::string cmd : {"eval", "trace-dataset"}) {
            std::vector<std::string> args = {cmd, model_, "--dataset", facts_, "--shard", value.toStdString(),
                                             "--json", path("bad.json")};
            if (cmd == "eval") args.insert(args.end(), {"--method", "ft-l"});
            const Run r = runKme(args);
            QCOMPARE(r.rc, 2);
            QVERIFY2(QString::fromStdString(r.err).contains("--shard"), r.err.c_str());
            QVERIFY2(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err.c_str());  // one line
        }
        QVERIFY(!fs::exists(path("bad.json")));
    }

    void shardNeedsAnOutputAndAFreshRun() {
        Run r = runKme({"eval", model_, "--dataset", facts_, "--method", "ft-l", "--shard", "0/2", "--sequential",
                        "--json", path("x.json")});
        QCOMPARE(r.rc, 2);
        QVERIFY2(QString::fromStdString(r.err).contains("--sequential"), r.err.c_str());
        r = runKme({"eval", model_, "--dataset", facts_, "--method", "ft-l", "--shard", "0/2"});
        QCOMPARE(r.rc, 2);
        QVERIFY2(QString::fromStdString(r.err).contains("--session"), r.err.c_str());
        // More shards than records: that shard has nothing to do, and says so.
        r = runKme({"eval", model_, "--dataset", facts_, "--method", "ft-l", "--layer", "0", "--limit", "2",
                    "--shard", "2/3", "--json", path("x.json")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("fewer shards"), r.err.c_str());
        // The engine's parser and the round-robin deal.
        QCOMPARE(kme::shardPositions(7, 1, {1, 3}), (std::vector<size_t>{1, 4}));
        QCOMPARE(kme::shardPositions(7, 2, {1, 3}), (std::vector<size_t>{2, 3}));
        QCOMPARE(kme::parseShardSpec("2/3")->index, 2);
    }

    // The core promise: 3 shards as separate processes, merged, equal the
    // unsharded run: per-record results, means, intervals, counts; and the
    // dataset-trace averages. Both runs' shards share the shard files.
    void threeShardsMergedEqualTheUnshardedRun() {
        QElapsedTimer t;
        t.start();
        const std::string full = path("full.kmes");
        std::vector<QStringList> jobs = {with(evalArgs(), {"--session", qpath("full.kmes")})};
        for (int k = 0; k < 3; ++k)
            jobs.push_back(with(evalArgs(), {"--shard", QString("%1/3").arg(k), "--session",
                                             qpath("shard-" + std::to_string(k) + ".kmes")}));
        for (const Run& r : runTogether(jobs)) QVERIFY2(r.rc == 0, r.err.c_str());
        // The dataset trace: unsharded into full.kmes, shards into the same shard files.
        jobs = {with(traceArgs(), {"--session", qpath("full.kmes")})};
        for (int k = 0; k < 3; ++k)
            jobs.push_back(with(traceArgs(), {"--shard", QString("%1/3").arg(k), "--session",
                                              qpath("shard-" + std::to_string(k) + ".kmes")}));
        for (const Run& r : runTogether(jobs)) QVERIFY2(r.rc == 0, r.err.c_str());
        qInfo("8 runs (3 + 1 evaluations, 3 + 1 dataset traces), 4 at a time: %.1f s", t.elapsed() / 1000.0);

        const Run m = runKme({"session", "merge", path("merged.kmes"), path("shard-0.kmes"), path("shard-1.kmes"),
                              path("shard-2.kmes"), "--json", "-"});
        QVERIFY2(m.rc == 0, m.err.c_str());
        const json report = json::parse(m.out);
        QCOMPARE(report["runs"].size(), size_t(2));
        QCOMPARE(report["created"].get<bool>(), true);

        // Evaluation: the merged metric run against the unsharded one.
        const auto fullRuns = metricRuns(full);
        const auto mergedRuns = metricRuns(path("merged.kmes"));
        QCOMPARE(fullRuns.size(), size_t(1));
        QCOMPARE(mergedRuns.size(), size_t(1));  // the shard rows are gone, the merged run is there
        const json a = json::parse(fullRuns[0].resultsJson), b = json::parse(mergedRuns[0].resultsJson);
        // Premises: 7 records dealt 3/2/2, and records that differ (a merge
        // in the wrong order would show).
        QCOMPARE(a["records"].size(), size_t(7));
        QCOMPARE(json::parse(metricRuns(path("shard-1.kmes"))[0].resultsJson)["records"].size(), size_t(2));
        QVERIFY(a["records"][0]["edited"]["efficacy_magnitude"] != a["records"][1]["edited"]["efficacy_magnitude"]);
        for (const char* key : {"records", "metrics", "metrics_ci95", "metrics_count", "baseline", "baseline_ci95",
                                "baseline_count", "excluded", "selection", "n_records", "layers", "hparams", "batches"}) {
            const double d = maxDifference(a[key], b[key]);
            qInfo("%-15s max |merged - unsharded| = %g", key, d);
            if (std::string(key) == "batches") {  // the same batches; seconds differ
                QCOMPARE(b[key].size(), a[key].size());
                for (size_t i = 0; i < a[key].size(); ++i) QCOMPARE(b[key][i]["records"], a[key][i]["records"]);
                continue;
            }
            QVERIFY2(a[key] == b[key], key);  // exactly: the same doubles
        }
        QVERIFY(!b.contains("shard"));
        QCOMPARE(b["merged_shards"].get<int>(), 3);
        // The merged means and intervals against a naive loop over the merged records.
        double worst = 0;
        for (const char* metric : {"efficacy_score", "efficacy_magnitude", "paraphrase_magnitude",
                                   "neighborhood_magnitude", "fluency"}) {
            std::vector<double> v;
            for (const auto& r : b["records"]) v.push_back(r["edited"][metric].get<double>());
            double mean = 0, ss = 0;
            for (double x : v) mean += x / v.size();
            for (double x : v) ss += (x - mean) * (x - mean);
            const double ci = 1.96 * std::sqrt(ss / (v.size() - 1)) / std::sqrt(double(v.size()));
            worst = std::max({worst, std::fabs(mean - b["metrics"][metric].get<double>()),
                              std::fabs(ci - b["metrics_ci95"][metric].get<double>())});
        }
        qInfo("merged means / 95%% intervals vs a naive loop: max difference %g (tolerance 1e-12)", worst);
        QVERIFY(worst < 1e-12);

        // Dataset trace: the merged averages against the unsharded trace's.
        const auto fullTraces = traces(full), mergedTraces = traces(path("merged.kmes"));
        QCOMPARE(fullTraces.size(), size_t(1));
        QCOMPARE(mergedTraces.size(), size_t(1));
        const json ta = json::parse(fullTraces[0].resultJson), tb = json::parse(mergedTraces[0].resultJson);
        QVERIFY2(ta["records_traced"].get<int>() >= 3, ta.dump().c_str());  // premise: something was averaged
        QCOMPARE(ta["records_considered"].get<int>(), 8);
        for (const char* key : {"kinds", "ci95", "counts", "mean_high_score", "mean_low_score", "records_considered",
                                "records_traced", "records_skipped", "records_limit", "sigma", "window", "samples"}) {
            qInfo("trace %-18s max |merged - unsharded| = %g", key, maxDifference(ta[key], tb[key]));
            QVERIFY2(ta[key] == tb[key], key);
        }
        // The Locate tab reads the merged row as it reads its own.
        const json request = json::parse(mergedTraces[0].requestJson);
        QCOMPARE(request["type"].get<std::string>(), std::string("dataset"));
        QVERIFY(!request.contains("shard"));
        QCOMPARE(kme::traceParamsFromJson(request).samples, 3);
        QCOMPARE(kme::traceDatasetResultFromJson(tb).traced, ta["records_traced"].get<int>());

        // kme session show lists the merged runs like any other.
        const Run show = runKme({"session", "show", path("merged.kmes")});
        QVERIFY2(show.rc == 0, show.err.c_str());
        int64_t mergedId = 0;
        for (const auto& run : report["runs"])
            if (run["kind"] == "metric run") mergedId = run["id"].get<int64_t>();
        QVERIFY2(QString::fromStdString(show.out).contains(QString("metric run %1 (").arg(mergedId)), show.out.c_str());
        QVERIFY2(QString::fromStdString(show.out).contains("session 'merged'"), show.out.c_str());
        QVERIFY2(QString::fromStdString(show.out).contains("FT-L on"), show.out.c_str());
        QVERIFY2(QString::fromStdString(show.out).contains(", 7 records"), show.out.c_str());
        QVERIFY2(QString::fromStdString(show.out).contains("dataset " + QString::fromStdString(traceFacts_)),
                 show.out.c_str());
        const Run showFull = runKme({"session", "show", full});
        // The same metric line as the unsharded session's (after the date).
        auto metricLine = [](const std::string& out) {
            const auto at = out.find("): FT-L");
            return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
        };
        QVERIFY(!metricLine(show.out).empty());
        QCOMPARE(metricLine(show.out), metricLine(showFull.out));

        // Merging into an existing session of the same model adds the runs.
        fs::copy_file(full, path("base-copy.kmes"));
        const Run add = runKme({"session", "merge", path("base-copy.kmes"), path("shard-0.kmes"), path("shard-1.kmes"),
                                path("shard-2.kmes")});
        QVERIFY2(add.rc == 0, add.err.c_str());
        QCOMPARE(metricRuns(path("base-copy.kmes")).size(), size_t(2));
        QCOMPARE(json::parse(metricRuns(path("base-copy.kmes"))[1].resultsJson)["metrics"], a["metrics"]);
    }

    void mergeRefusesIncompleteDuplicatedAndMismatchedShards() {
        if (!fs::exists(path("shard-2.kmes"))) QSKIP("needs threeShardsMergedEqualTheUnshardedRun's shards");
        auto merge = [&](std::vector<std::string> ins) {
            std::vector<std::string> args = {"session", "merge", path("out.kmes")};
            args.insert(args.end(), ins.begin(), ins.end());
            const Run r = runKme(args);
            qInfo("%s", r.err.c_str());
            return r;
        };
        // Missing shard 2.
        Run r = merge({path("shard-0.kmes"), path("shard-1.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("shard 2 of 3 missing"), r.err.c_str());
        QVERIFY(!fs::exists(path("out.kmes")));
        // Shard 0 twice (a copy of its file).
        fs::copy_file(path("shard-0.kmes"), path("shard-0-copy.kmes"));
        r = merge({path("shard-0.kmes"), path("shard-1.kmes"), path("shard-2.kmes"), path("shard-0-copy.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("given more than once"), r.err.c_str());
        QVERIFY2(QString::fromStdString(r.err).contains("shard-0-copy.kmes"), r.err.c_str());
        // The same file twice.
        r = merge({path("shard-0.kmes"), path("shard-1.kmes"), path("shard-2.kmes"), path("shard-1.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("given twice"), r.err.c_str());
        // Shard 2 of another run (other steps): named as a different run, and what differs.
        QStringList other = evalArgs();
        other[other.indexOf("--steps") + 1] = "5";
        Run p = kmeRun(with(other, {"--shard", "2/3", "--session", qpath("other-2.kmes")}));
        QVERIFY2(p.rc == 0, p.err.c_str());
        r = merge({path("shard-0.kmes"), path("shard-1.kmes"), path("other-2.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("shards of different runs"), r.err.c_str());
        QVERIFY2(QString::fromStdString(r.err).contains("hparams.num_steps (4 vs 5)"), r.err.c_str());
        // Another N: shard 1/2 beside shards 0/3, 2/3.
        p = kmeRun(with(evalArgs(), {"--shard", "1/2", "--session", qpath("half-1.kmes")}));
        QVERIFY2(p.rc == 0, p.err.c_str());
        r = merge({path("shard-0.kmes"), path("half-1.kmes"), path("shard-2.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("shards (3 vs 2)") ||
                     QString::fromStdString(r.err).contains("shards (2 vs 3)"),
                 r.err.c_str());
        // Another model.
        writeTinyModel(path("model-b"), 8);
        QStringList otherModel = evalArgs();
        otherModel[1] = qpath("model-b");
        p = kmeRun(with(otherModel, {"--shard", "2/3", "--session", qpath("model-b-2.kmes")}));
        QVERIFY2(p.rc == 0, p.err.c_str());
        r = merge({path("shard-0.kmes"), path("shard-1.kmes"), path("model-b-2.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("another model"), r.err.c_str());
        // Not a session; a missing file; the output among the inputs.
        std::ofstream(path("junk.kmes")) << "not a database, 40 bytes of text .......";
        r = merge({path("shard-0.kmes"), path("junk.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("junk.kmes"), r.err.c_str());
        r = merge({path("shard-0.kmes"), path("nowhere.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("nowhere.kmes"), r.err.c_str());
        r = runKme({"session", "merge", path("shard-0.kmes"), path("shard-0.kmes"), path("shard-1.kmes")});
        QCOMPARE(r.rc, 1);
        QVERIFY(!fs::exists(path("out.kmes")));
        r = runKme({"session", "merge", path("out.kmes")});
        QCOMPARE(r.rc, 2);
        // Nothing was written to the inputs.
        QCOMPARE(metricRuns(path("shard-0.kmes")).size(), size_t(1));
    }

    // A shard killed mid-run: its session file (a copy of a base session,
    // as the Slurm script makes) stays sound and records nothing; the merge
    // names the file and the missing shard.
    void killedShardIsReportedMissing() {
        if (!fs::exists(path("shard-0.kmes"))) QSKIP("needs threeShardsMergedEqualTheUnshardedRun's shards");
        const Run base = runKme({"eval", model_, "--dataset", facts_, "--method", "ft-l", "--layer", "0", "--limit",
                                 "1", "--steps", "1", "--no-generation", "--threads", "1", "--session",
                                 path("base.kmes")});
        QVERIFY2(base.rc == 0, base.err.c_str());
        fs::copy_file(path("base.kmes"), path("killed-2.kmes"));
        // More work than the other shards (generation on), so it is still
        // running when the session is open; killed as soon as it opened it.
        QProcess p;
        p.start(qEnvironmentVariable("KME_CLI"), with(evalArgs(), {"--shard", "2/3", "--session", qpath("killed-2.kmes")}));
        QVERIFY(p.waitForStarted());
        const std::string wal = path("killed-2.kmes-wal");
        QElapsedTimer t;
        t.start();
        while (!fs::exists(wal) && p.state() == QProcess::Running && t.elapsed() < 120000) QThread::msleep(5);
        ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
        p.waitForFinished();
        QVERIFY2(p.exitStatus() == QProcess::CrashExit, "premise: the shard was still running when it was killed");
        kme::SessionOpenOptions o;
        o.readOnly = true;
        {
            const kme::SessionStore s(path("killed-2.kmes"), o);
            QCOMPARE(s.integrityCheck(), std::vector<std::string>{"ok"});
            QCOMPARE(s.listMetricRuns().size(), size_t(1));  // the base session's run, nothing half-written
        }
        const Run r = runKme({"session", "merge", path("out.kmes"), path("shard-0.kmes"), path("shard-1.kmes"),
                              path("killed-2.kmes")});
        qInfo("%s", r.err.c_str());
        QCOMPARE(r.rc, 1);
        QVERIFY2(QString::fromStdString(r.err).contains("killed-2.kmes holds no finished shard"), r.err.c_str());
        QVERIFY2(QString::fromStdString(r.err).contains("shard 2 of 3 missing"), r.err.c_str());
        QVERIFY(!fs::exists(path("out.kmes")));
    }
};

QTEST_GUILESS_MAIN(TestShardCli)
#include "test_shard_cli.moc"
