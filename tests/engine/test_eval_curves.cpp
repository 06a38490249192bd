// Retention and scalability curves and several methods on the same records
// (engine/eval/EvalCurves.h), each checked against the same numbers computed
// another way on a tiny random model: the retention point k = N is the
// sequential run's final measurement, k = 1 is the efficacy right after the
// first edit and a fresh edit of record 1, k = 3 is a separate sequential run
// of the first three records; the scale point b = 1 is edits applied and
// measured by hand, b = 2 a fresh run in batches of two (FT-L, a batched row).
#include <QtTest>

#include <cmath>

#include "engine/core/Error.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalCurves.h"
#include "engine/eval/Metrics.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "tests/EvalRecords.h"
#include "tests/ExpectError.h"
#include "tests/TinyModel.h"

using namespace kme;

namespace {

using kme::testing::expectError;

// Five CounterFact records; record 1's neighbour is record 0's prompt (left
// out once record 0 is edited too).
const std::string kFacts = kme::testing::counterFactRecords(5);

double meanOf(const EvalResult& r, const char* name) {
    const MetricStat* s = r.edited.find(name);
    return s && s->count > 0 ? s->mean : std::nan("");
}

void expectClose(const char* what, double a, double b, double tol = 1e-12) {
    qInfo("  %s: %.6f vs %.6f (|diff| %.3g, tolerance %.0e)", what, a, b, std::abs(a - b), tol);
    QVERIFY2(std::abs(a - b) <= tol, what);
}

}  // namespace

class TestEvalCurves final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string modelDir_;

    EvalParams ftParams(const Model& m) const {
        EvalParams p;
        p.edit.method = EditMethod::FtL;
        p.edit.hparams = defaultHparams(EditMethod::FtL, m.config());
        p.edit.hparams.layers = {1};
        p.edit.hparams.ftSteps = 4;
        p.edit.hparams.ftNormConstraint = 5e-2;
        p.edit.hparams.ftLr = 5e-2;
        p.generation.enabled = false;
        return p;
    }
private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", (tmp_.path() + "/cache").toUtf8());
        initComputeRuntime(2);
        modelDir_ = tmp_.path().toStdString() + "/tiny";
        kme::testing::writeTinyModel(modelDir_, 11);
    }

    void checkpointsAndBatchSizes() {
        QCOMPARE(retentionCheckpoints(0), std::vector<int>{});
        QCOMPARE(retentionCheckpoints(1), std::vector<int>{1});
        QCOMPARE(retentionCheckpoints(7), (std::vector<int>{1, 2, 5, 7}));
        QCOMPARE(retentionCheckpoints(100), (std::vector<int>{1, 2, 5, 10, 20, 50, 100}));
        QCOMPARE(retentionCheckpoints(120), (std::vector<int>{1, 2, 5, 10, 20, 50, 100, 120}));
        QCOMPARE(scaleBatchSizes(100), (std::vector<int>{1, 10, 50, 100}));
        QCOMPARE(scaleBatchSizes(150), (std::vector<int>{1, 10, 50, 100}));
        QCOMPARE(scaleBatchSizes(20), (std::vector<int>{1, 10, 20}));
        QCOMPARE(scaleBatchSizes(10), (std::vector<int>{1, 10}));
        QCOMPARE(scaleBatchSizes(3), (std::vector<int>{1, 3}));
        QCOMPARE(scaleBatchSizes(0), std::vector<int>{});
    }

    void retentionPointsAgreeWithOtherRuns() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        const std::vector<size_t> all = {0, 1, 2, 3, 4};
        const EvalParams p = ftParams(*m);
        const EvalResult r = retentionRun(*m, d, all, p, {1, 3, 5});
        QCOMPARE(m->weightsHash(), hash);
        QVERIFY(!r.cancelled);
        QCOMPARE(r.mode, EvalMode::Sequential);
        QCOMPARE(r.retention.size(), size_t(3));
        QCOMPARE(r.retention[0].k, 1);
        QCOMPARE(r.retention[1].k, 3);
        QCOMPARE(r.retention[2].k, 5);
        for (const RetentionPoint& pt : r.retention) {
            qInfo("  k=%d: efficacy %.3f (%d records), neighbourhood %.3f (%d)", pt.k, pt.efficacy.mean,
                  pt.efficacy.count, pt.neighborhood.mean, pt.neighborhood.count);
            QCOMPARE(pt.efficacy.count, pt.k);
        }
        // Premise: the edits do something (efficacy right after each edit
        // beats the unedited model's efficacy).
        const double baseEff = r.baseline.find("efficacy_score")->mean;
        const double atEdit = r.edited.find("efficacy_at_edit_score")->mean;
        qInfo("  premise: unedited efficacy %.2f, right after each edit %.2f", baseEff, atEdit);
        QVERIFY(atEdit > baseEff);
        // k = N: the sequential run's final measurement of all records.
        expectClose("k=N efficacy vs the final measurement", r.retention[2].efficacy.mean, meanOf(r, "efficacy_score"));
        expectClose("k=N neighbourhood vs the final measurement", r.retention[2].neighborhood.mean,
                    meanOf(r, "neighborhood_score"));
        QCOMPARE(r.retention[2].neighborhood.count, r.edited.find("neighborhood_score")->count);
        // k = 1: record 1's efficacy right after its own edit.
        QVERIFY(r.records[0].efficacyAtEdit.has_value());
        expectClose("k=1 efficacy vs efficacy_at_edit of record 1", r.retention[0].efficacy.mean,
                    *r.records[0].efficacyAtEdit);
        // k = 1 is a fresh edit of record 1 (the first sequential edit is on the unedited model).
        EvalParams fresh = p;
        const EvalResult one = evaluateEdits(*m, d, {0}, fresh);
        expectClose("k=1 efficacy vs a fresh edit", r.retention[0].efficacy.mean, meanOf(one, "efficacy_score"), 1e-9);
        expectClose("k=1 neighbourhood vs a fresh edit", r.retention[0].neighborhood.mean,
                    meanOf(one, "neighborhood_score"), 1e-9);
        // k = 3: a separate sequential run of the first three records.
        EvalParams seq = p;
        seq.mode = EvalMode::Sequential;
        const EvalResult three = evaluateEdits(*m, d, {0, 1, 2}, seq);
        expectClose("k=3 efficacy vs a sequential run of 3", r.retention[1].efficacy.mean,
                    meanOf(three, "efficacy_score"), 1e-9);
        expectClose("k=3 neighbourhood vs a sequential run of 3", r.retention[1].neighborhood.mean,
                    meanOf(three, "neighborhood_score"), 1e-9);
        // Record 1's neighbour "The capital of France is" is record 0's prompt: left out at k >= 2.
        QCOMPARE(three.records[1].edited.neighborhoodExcluded, 1);
        QCOMPARE(m->weightsHash(), hash);
    }

    void scalePointsAgreeWithOtherRuns() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        const std::vector<size_t> four = {0, 1, 2, 3};
        const EvalParams p = ftParams(*m);  // FT-L solves a batch's requests together (a batched row)
        const ScaleCurve c = scaleCurve(*m, d, four, p, {1, 2, 4});
        QCOMPARE(m->weightsHash(), hash);
        QVERIFY(!c.cancelled);
        QCOMPARE(c.points.size(), size_t(3));
        QCOMPARE(c.points[0].batches, 4);
        QCOMPARE(c.points[1].batches, 2);
        QCOMPARE(c.points[2].batches, 1);
        for (const ScalePoint& pt : c.points)
            qInfo("  b=%d: efficacy %.3f, neighbourhood %.3f, %.2f s", pt.batchSize, pt.efficacy.mean,
                  pt.neighborhood.mean, pt.seconds);
        // b = 1 by hand: each record's edit computed, applied, measured, reverted.
        double eff = 0, neigh = 0;
        int neighCount = 0;
        for (size_t i : four) {
            EditParams ep = p.edit;
            ep.requests = {requestFromFact(d.records[i])};
            const EditResult e = computeEdit(*m, ep);
            EditStack stack(*m);
            stack.apply(e.delta);
            GenerationOptions g;
            g.enabled = false;
            const RecordMetrics rm = computeRecordMetrics(*m, d.records[i], MetricSet::CounterFact, g, int(i));
            eff += *rm.efficacyScore();
            if (rm.neighborhoodScore()) neigh += *rm.neighborhoodScore(), ++neighCount;
            stack.revertAll();
        }
        QCOMPARE(m->weightsHash(), hash);
        expectClose("b=1 efficacy vs edits applied by hand", c.points[0].efficacy.mean, eff / 4, 1e-9);
        expectClose("b=1 neighbourhood vs edits applied by hand", c.points[0].neighborhood.mean, neigh / neighCount,
                    1e-9);
        // Premise: the edits hold on this model (else every point would be the unedited model's).
        QVERIFY(eff / 4 > 0.5);
        // b = 2: a fresh run in batches of two (kme eval --batch 2).
        EvalParams two = p;
        two.batchSize = 2;
        const EvalResult r2 = evaluateEdits(*m, d, four, two);
        expectClose("b=2 efficacy vs a fresh run in batches of 2", c.points[1].efficacy.mean,
                    meanOf(r2, "efficacy_score"), 1e-9);
        expectClose("b=2 neighbourhood vs a fresh run in batches of 2", c.points[1].neighborhood.mean,
                    meanOf(r2, "neighborhood_score"), 1e-9);
        // Hostile: sizes outside the records, a method that is not batched.
        expectError([&] { scaleCurve(*m, d, four, p, {0}); }, {"batch size 0", "1..4"});
        expectError([&] { scaleCurve(*m, d, four, p, {5}); }, {"batch size 5"});
        EvalParams rome = p;
        rome.edit.method = EditMethod::Rome;
        expectError([&] { scaleCurve(*m, d, four, rome, {1}); }, {"ROME", "not a batch method"});
        QCOMPARE(m->weightsHash(), hash);
    }

    void severalMethodsOnTheSameRecords() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        const std::vector<size_t> three = {1, 2, 4};
        EvalParams grace;
        grace.edit.method = EditMethod::Grace;
        grace.edit.hparams = defaultHparams(EditMethod::Grace, m->config());
        grace.edit.hparams.layers = {1};
        grace.edit.hparams.graceIters = 5;
        grace.generation.enabled = false;
        const std::vector<EvalParams> methods = {ftParams(*m), grace};
        CurveOptions curves;
        curves.retain = true;
        curves.scale = true;
        std::vector<std::pair<size_t, double>> ticks;
        const std::vector<MethodRun> runs = evaluateMethods(*m, d, three, methods, curves,
                                                            [&](size_t index, double done, double total) {
                                                                ticks.emplace_back(index, done / total);
                                                                return true;
                                                            });
        QCOMPARE(m->weightsHash(), hash);
        QCOMPARE(runs.size(), size_t(2));
        QCOMPARE(runs[0].method, EditMethod::FtL);
        QCOMPARE(runs[1].method, EditMethod::Grace);
        // The same records in the same order for every method, in each of its runs.
        for (const MethodRun& run : runs) {
            QVERIFY(!run.cancelled);
            QCOMPARE(run.result.records.size(), size_t(3));
            for (size_t k = 0; k < 3; ++k) QCOMPARE(run.result.records[k].datasetIndex, three[k]);
            QVERIFY(run.retention.has_value());
            for (size_t k = 0; k < 3; ++k) QCOMPARE(run.retention->records[k].datasetIndex, three[k]);
            QCOMPARE(run.retention->retention.size(), size_t(3));  // checkpoints 1, 2, 3
            const SixProperties six = sixPropertiesOf(run);
            QCOMPARE(*six.accuracy, meanOf(run.result, "efficacy_score"));
            QCOMPARE(*six.retainability, run.retention->retention.back().efficacy.mean);
        }
        // FT-L is batched: b = 1 (the fresh run) and b = 3; GRACE is not.
        QVERIFY(runs[0].scale.has_value());
        QCOMPARE(runs[0].scale->points.size(), size_t(2));
        QCOMPARE(runs[0].scale->points[0].batchSize, 1);
        QCOMPARE(runs[0].scale->points[1].batchSize, 3);
        QCOMPARE(runs[0].scale->points[0].efficacy.mean, meanOf(runs[0].result, "efficacy_score"));
        QCOMPARE(sixPropertiesOf(runs[0]).scaleBatch, 3);
        QVERIFY(!runs[1].scale.has_value());
        QVERIFY(QString::fromStdString(runs[1].scaleSkipped).contains("not a batch method"));
        // Progress: method 0 then method 1, each reaching its end.
        QVERIFY(!ticks.empty());
        QCOMPARE(ticks.front().first, size_t(0));
        QCOMPARE(ticks.back().first, size_t(1));
        QCOMPARE(ticks.back().second, 1.0);
        for (size_t i = 1; i < ticks.size(); ++i) {
            QVERIFY(ticks[i].first >= ticks[i - 1].first);
            if (ticks[i].first == ticks[i - 1].first) QVERIFY(ticks[i].second >= ticks[i - 1].second - 1e-9);
        }
        // A cancel during the second method keeps the first and stops.
        const std::vector<MethodRun> stopped = evaluateMethods(
            *m, d, three, methods, {}, [](size_t index, double done, double total) { return index == 0 || done < 0.2 * total; });
        QCOMPARE(stopped.size(), size_t(2));
        QVERIFY(!stopped[0].cancelled);
        QVERIFY(stopped[1].cancelled);
        QCOMPARE(m->weightsHash(), hash);
    }

    void hostileCurveInputs() {
        auto m = Model::load(modelDir_);
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p = ftParams(*m);
        p.checkpoints = {1};
        expectError([&] { evaluateEdits(*m, d, {0, 1}, p); }, {"sequential"});
        expectError([&] { retentionRun(*m, d, {0, 1}, p, {0}); }, {"checkpoint 0", "1..2"});
        expectError([&] { retentionRun(*m, d, {0, 1}, p, {3}); }, {"checkpoint 3"});
        expectError([&] { retentionRun(*m, d, {0, 1}, p, {2, 1}); }, {"ascending"});
        expectError([&] { evaluateMethods(*m, d, {0}, {}, {}); }, {"no methods"});
        expectError([&] { evaluateMethods(*m, d, {0}, {ftParams(*m), ftParams(*m)}, {}); }, {"ft-l", "twice"});
        CurveOptions bad;
        bad.scale = true;
        bad.batchSizes = {7};
        expectError([&] { evaluateMethods(*m, d, {0, 1}, {ftParams(*m)}, bad); }, {"batch size 7"});
    }
};

QTEST_GUILESS_MAIN(TestEvalCurves)
#include "test_eval_curves.moc"
