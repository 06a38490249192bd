// Dataset averages of causal traces (ROME's Figure 2) against averages
// computed here from single traces; progress, cancel and growing partial
// results; the trace JSON (request, result, dataset) and hostile JSON.
#include <QtTest>

#include <chrono>
#include <cmath>
#include <fstream>

#include "engine/core/Error.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceDataset.h"
#include "engine/trace/TraceJson.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme;
using json = nlohmann::json;

class TestTraceDataset final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::shared_ptr<Model> model_;
    std::string facts_;
    testing::TinyFactFile written_;

    TraceDatasetParams params() const {
        TraceDatasetParams p;
        p.trace.samples = 3;
        p.trace.noise.factsPath = facts_;
        return p;
    }

private Q_SLOTS:
    void initTestCase() {
        initComputeRuntime(1);  // tiny models: threads only add overhead
        QVERIFY(tmp_.isValid());
        const std::string dir = tmp_.path().toStdString() + "/tiny";
        QVERIFY(QDir().mkpath(QString::fromStdString(dir)));
        testing::writeTinyModelFolder(dir, 11);
        model_ = Model::load(dir);
        facts_ = tmp_.path().toStdString() + "/facts.json";
        written_ = testing::writeTinyFactFile(*model_, facts_, 5, 2);
        QVERIFY(written_.known >= 3);
    }

    void averagesMatchSingleTraces() {
        const Dataset data = loadDataset(facts_);
        const TraceDatasetResult r = traceDataset(*model_, data, params());
        QVERIFY(r.complete);
        QCOMPARE(r.considered, written_.records);
        QCOMPARE(r.traced, written_.known);
        QCOMPARE(r.skipped, 0);
        QCOMPARE(r.buckets, traceBuckets());
        QCOMPARE(r.nLayer, 2);
        QCOMPARE(r.window, defaultTraceWindow(2));
        QCOMPARE(r.samples, 3);
        QCOMPARE(r.mean.size(), size_t(3));

        // The same averages by hand: one trace per known fact (they come
        // first in the file), bucket means per fact, then mean and 1.96 SE.
        const int B = 6, L = 2;
        std::map<TraceKind, std::vector<std::vector<std::vector<double>>>> perFact;
        double high = 0, low = 0, sigma = 0;
        for (int i = 0; i < written_.known; ++i) {
            const FactRecord& f = data.records[i];
            TraceParams p = params().trace;
            p.prompt = f.filledPrompt();
            p.subject = f.subject;
            p.answer = f.targetTrue;
            const TraceResult t = causalTrace(*model_, p);
            high += t.highScore;
            low += t.lowScore;
            sigma = t.sigma;
            const int T = static_cast<int>(t.tokens.size()), s = t.subjectBegin, e = t.subjectEnd;
            for (const auto& [kind, rows] : t.scores) {
                auto& v = perFact[kind];
                v.resize(B, std::vector<std::vector<double>>(L));
                for (int l = 0; l < L; ++l) {
                    auto effect = [&](int tok) { return std::max(0.0, rows[tok][l] - t.lowScore); };
                    v[0][l].push_back(effect(s));
                    if (e - s > 2) {
                        double m = 0;
                        for (int tok = s + 1; tok < e - 1; ++tok) m += effect(tok);
                        v[1][l].push_back(m / (e - s - 2));
                    }
                    v[2][l].push_back(effect(e - 1));
                    if (e < T - 1) v[3][l].push_back(effect(e));
                    if (e + 1 < T - 1) {
                        double m = 0;
                        for (int tok = e + 1; tok < T - 1; ++tok) m += effect(tok);
                        v[4][l].push_back(m / (T - 1 - e - 1));
                    }
                    v[5][l].push_back(effect(T - 1));
                }
            }
        }
        QCOMPARE(r.sigma, sigma);
        QVERIFY(std::abs(r.meanHigh - high / written_.known) < 1e-12);
        QVERIFY(std::abs(r.meanLow - low / written_.known) < 1e-12);
        double maxDiff = 0;
        for (const auto& [kind, buckets] : perFact)
            for (int b = 0; b < B; ++b)
                for (int l = 0; l < L; ++l) {
                    const auto& v = buckets[b][l];
                    QCOMPARE(r.count.at(kind)[b][l], int(v.size()));
                    if (v.empty()) {
                        QCOMPARE(r.mean.at(kind)[b][l], 0.0);
                        continue;
                    }
                    double m = 0, var = 0;
                    for (double x : v) m += x;
                    m /= v.size();
                    for (double x : v) var += (x - m) * (x - m);
                    const double ci = v.size() > 1 ? 1.96 * std::sqrt(var / (v.size() - 1) / v.size()) : 0.0;
                    maxDiff = std::max({maxDiff, std::abs(r.mean.at(kind)[b][l] - m), std::abs(r.ci95.at(kind)[b][l] - ci)});
                }
        qInfo("max |dataset - by hand| = %.3g over %d facts", maxDiff, written_.known);
        QVERIFY(maxDiff < 1e-12);
        // The last subject and last token buckets always have every fact.
        QCOMPARE(r.count.at(TraceKind::Mlp)[kLastSubjectBucket][0], written_.known);
        QCOMPARE(r.count.at(TraceKind::Mlp)[kLastTokenBucket][1], written_.known);
        const int peak = r.peakLayer(TraceKind::Mlp, kLastSubjectBucket);
        QVERIFY(peak >= 0 && peak < 2);
        const auto& row = r.mean.at(TraceKind::Mlp)[kLastSubjectBucket];
        QCOMPARE(row[peak], *std::max_element(row.begin(), row.end()));
        QCOMPARE(r.peakLayer(TraceKind::Mlp, 99), -1);
    }

    void limitProgressAndPartialResults() {
        const Dataset data = loadDataset(facts_);
        TraceDatasetParams p = params();
        p.limit = 2;
        std::vector<std::pair<double, double>> calls;
        std::vector<int> partialTraced;
        const TraceDatasetResult r = traceDataset(
            *model_, data, p,
            [&](double done, double total) {
                calls.push_back({done, total});
                return true;
            },
            [&](const TraceDatasetResult& partial) {
                QVERIFY(!partial.complete);
                partialTraced.push_back(partial.traced);
                QCOMPARE(partial.mean.at(TraceKind::Hidden).size(), size_t(6));
            });
        QCOMPARE(r.considered, 2);
        QCOMPARE(r.limit, 2);
        QCOMPARE(partialTraced, (std::vector<int>{1, 2}));
        QVERIFY(calls.size() > 4);  // fractions inside each record, not only between them
        bool fraction = false;
        for (size_t i = 0; i < calls.size(); ++i) {
            QCOMPARE(calls[i].second, 2.0);
            if (i) QVERIFY(calls[i].first >= calls[i - 1].first);
            fraction |= calls[i].first != std::floor(calls[i].first);
        }
        QVERIFY(fraction);
        QCOMPARE(calls.back().first, 2.0);
    }

    void cancelInsideARecord() {
        const Dataset data = loadDataset(facts_);
        int partials = 0;
        const auto t0 = std::chrono::steady_clock::now();
        try {
            traceDataset(*model_, data, params(), [](double done, double) { return done < 1.3; },
                         [&](const TraceDatasetResult&) { ++partials; });
            QFAIL("not cancelled");
        } catch (const Cancelled&) {
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("cancelled inside the second record after %.3f s", s);
        QCOMPARE(partials, 1);  // the first record finished; the second was stopped inside its trace
    }

    void promptsTooLongAreSkipped() {
        const std::string path = tmp_.path().toStdString() + "/odd.json";
        json records = json::parse(std::ifstream(facts_));
        // A prompt too long for the tiny model's 32-token context (the loader
        // itself rejects records whose prompt has no "{}" for the subject).
        json tooLong = records[0];
        tooLong["requested_rewrite"]["prompt"] = std::string(200, 'a') + " {} is";
        records.insert(records.begin(), tooLong);
        std::ofstream(path) << records.dump();
        const TraceDatasetResult r = traceDataset(*model_, loadDataset(path), params());
        QCOMPARE(r.considered, written_.records + 1);
        QCOMPARE(r.traced, written_.known);
        QCOMPARE(r.skipped, 1);
        TraceDatasetParams none = params();
        none.trace.kinds.clear();
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceDataset(*model_, loadDataset(path), none));
    }

    void traceJsonRoundTrip() {
        TraceParams p;
        p.prompt = "The Eiffel Tower is located in";
        p.subject = "Eiffel Tower";
        p.kinds = {TraceKind::Mlp, TraceKind::Hidden};
        p.samples = 2;
        p.noise = parseNoiseSpec("0.1");
        p.window = 1;
        p.seed = 42;
        p.strategy = TraceStrategy::Reference;
        const json pj = traceParamsToJson(p);
        QCOMPARE(pj.at("noise").get<std::string>(), std::string("0.1"));
        QCOMPARE(pj.at("kinds"), json({"mlp", "hidden"}));
        const TraceParams back = traceParamsFromJson(json::parse(pj.dump()));
        QCOMPARE(back.prompt, p.prompt);
        QCOMPARE(back.kinds, p.kinds);
        QCOMPARE(back.noise.value, 0.1);
        QCOMPARE(back.noise.multiple, false);
        QCOMPARE(back.seed, uint64_t(42));
        QCOMPARE(back.strategy, TraceStrategy::Reference);
        QCOMPARE(formatNoiseSpec(parseNoiseSpec("3x")), std::string("3x"));

        const TraceResult r = causalTrace(*model_, p);
        const json rj = traceResultToJson(r);
        for (const char* key : {"tokens", "ids", "subject_range", "answer", "high_score", "low_score", "sigma",
                                "sigma_source", "samples", "window", "seed", "strategy", "scores"})
            QVERIFY2(rj.contains(key), key);
        QCOMPARE(rj.at("strategy").get<std::string>(), std::string("reference"));
        const TraceResult rb = traceResultFromJson(json::parse(rj.dump()));
        QCOMPARE(rb.tokens, r.tokens);
        QCOMPARE(rb.ids, r.ids);
        QCOMPARE(rb.kinds, r.kinds);
        QCOMPARE(rb.highScore, r.highScore);
        QCOMPARE(rb.answerToken, r.answerToken);
        for (const auto& [kind, rows] : r.scores) QVERIFY(rb.scores.at(kind) == rows);  // exact doubles
        // A partial result: cells not computed yet are null in JSON, NaN again after.
        TraceResult partial = r;
        partial.scores.at(TraceKind::Mlp).back().assign(r.nLayer, std::nan(""));
        partial.rowsDone[TraceKind::Mlp] = static_cast<int>(r.tokens.size()) - 1;
        const json partialJson = traceResultToJson(partial);
        QVERIFY(partialJson.at("scores").at("mlp").back().at(0).is_null());
        const TraceResult pb = traceResultFromJson(partialJson);
        QVERIFY(std::isnan(pb.scores.at(TraceKind::Mlp).back()[0]));
        QCOMPARE(pb.rowsDone.at(TraceKind::Mlp), static_cast<int>(r.tokens.size()) - 1);

        const TraceDatasetResult d = traceDataset(*model_, loadDataset(facts_), params());
        const json dj = traceDatasetResultToJson(d);
        for (const char* key : {"buckets", "kinds", "ci95", "counts", "n_layer", "records_traced", "total_effect"})
            QVERIFY2(dj.contains(key), key);
        const TraceDatasetResult db = traceDatasetResultFromJson(json::parse(dj.dump()));
        QCOMPARE(db.buckets, d.buckets);
        QCOMPARE(db.kinds, d.kinds);
        QVERIFY(db.mean == d.mean);
        QVERIFY(db.ci95 == d.ci95);
        QVERIFY(db.count == d.count);
        QCOMPARE(db.traced, d.traced);
        QCOMPARE(db.window, d.window);
    }

    void hostileJson_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("needle");
        QTest::newRow("not an object") << "[1, 2]" << "expected an object";
        QTest::newRow("no scores") << R"({"tokens": ["a"], "ids": [1], "subject_range": [0, 1],
            "answer": {"id": 1, "token": "a"}, "high_score": 0.5, "low_score": 0.1})" << "scores";
        QTest::newRow("ids and tokens differ") << R"({"tokens": ["a", "b"], "ids": [1], "subject_range": [0, 1],
            "answer": {"id": 1, "token": "a"}, "high_score": 0.5, "low_score": 0.1, "scores": {"mlp": [[0.1]]}})"
                                               << "differ in length";
        QTest::newRow("subject outside") << R"({"tokens": ["a"], "ids": [1], "subject_range": [0, 3],
            "answer": {"id": 1, "token": "a"}, "high_score": 0.5, "low_score": 0.1, "scores": {"mlp": [[0.1]]}})"
                                         << "subject_range";
        QTest::newRow("ragged scores") << R"({"tokens": ["a", "b"], "ids": [1, 2], "subject_range": [0, 1], "n_layer": 2,
            "answer": {"id": 1, "token": "a"}, "high_score": 0.5, "low_score": 0.1, "scores": {"mlp": [[0.1, 0.2], [0.3]]}})"
                                       << "values per row";
        QTest::newRow("unknown kind") << R"({"tokens": ["a"], "ids": [1], "subject_range": [0, 1],
            "answer": {"id": 1, "token": "a"}, "high_score": 0.5, "low_score": 0.1, "scores": {"neurons": [[0.1]]}})"
                                      << "unknown trace kind";
        QTest::newRow("string score") << R"({"tokens": ["a"], "ids": [1], "subject_range": [0, 1],
            "answer": {"id": 1, "token": "a"}, "high_score": "high", "low_score": 0.1, "scores": {"mlp": [[0.1]]}})"
                                      << "high_score";
    }

    void hostileJson() {
        QFETCH(QString, text);
        QFETCH(QString, needle);
        try {
            traceResultFromJson(json::parse(text.toStdString()));
            QFAIL("accepted");
        } catch (const kme::Error& e) {
            QCOMPARE(e.kind(), ErrorKind::Format);
            QVERIFY2(QString::fromUtf8(e.what()).contains(needle), e.what());
        }
    }

    void hostileDatasetAndRequestJson() {
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceDatasetResultFromJson(json::parse(R"({"buckets": []})")));
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceDatasetResultFromJson(json::parse(
            R"({"buckets": ["a"], "n_layer": 2, "kinds": {"mlp": [[0.1, 0.2]]}, "ci95": {"mlp": [[0.1, 0.2]]},
                "counts": {"mlp": [[1, 0.5]]}})")));  // a fractional count
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceDatasetResultFromJson(json::parse(
            R"({"buckets": ["a"], "n_layer": 2, "kinds": {"mlp": [[0.1, 0.2]]}, "ci95": {}, "counts": {}})")));
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceParamsFromJson(json::parse(R"({"noise": "loud"})")));
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceParamsFromJson(json::parse(R"({"strategy": "magic"})")));
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceParamsFromJson(json::parse(R"({"samples": "ten"})")));
        QVERIFY_THROWS_EXCEPTION(kme::Error, traceParamsFromJson(json::parse(R"({"subject_range": [1]})")));
    }
};

QTEST_GUILESS_MAIN(TestTraceDataset)
#include "test_trace_dataset.moc"
