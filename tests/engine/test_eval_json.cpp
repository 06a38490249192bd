// The JSON form of an evaluation run (engine/eval/EvalJson.h): a run written
// and read back gives the very same statistics (bit for bit: a saved run
// redraws the same table), kme eval's form (prompt details, no baseline
// counts) reads too, and JSON that is not a run is an Input error naming
// what is wrong. Hand-made results: no model, milliseconds.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>

#include "engine/core/Error.h"
#include "engine/eval/EvalJson.h"

using namespace kme;
using json = nlohmann::json;

namespace {

TargetScore score(double prob) {
    TargetScore s;
    s.prob = prob;
    s.nll = -std::log(prob);
    s.tokens = 2;
    s.tokensCorrect = prob > 0.5 ? 2 : 1;
    return s;
}

ComparedPrompt compared(double expected, double other) { return {"a prompt", score(expected), score(other)}; }

// A record's metrics; `k` varies the probabilities so that means and
// intervals are not round numbers.
RecordMetrics recordMetrics(int k, bool edited) {
    RecordMetrics m;
    m.caseId = k;
    m.targetNew = " Paris";
    m.targetTrue = " Rome";
    const double up = edited ? 0.6 + 0.07 * k : 0.1 / (k + 3);
    m.efficacy = {compared(up, 1.0 / (k + 7))};
    m.paraphrase = {compared(up / 3, 0.2), compared(0.31, 0.3 / (k + 1))};
    m.neighborhood = {compared(0.7 / (k + 2), up / 7)};
    if (edited && k == 1) {
        m.neighborhood.clear();  // all of them rewritten by another edit
        m.neighborhoodExcluded = 2;
    }
    m.otherAttributes = {compared(0.55, 0.45 / (k + 1))};
    m.otherAttributesExcluded = edited ? k : 0;
    m.generations = {"The Colosseum is in Paris."};
    m.generationEntropy = {4.1 + k / 3.0};
    return m;
}

struct Run {
    Dataset dataset;
    EvalParams params;
    EvalResult result;
    EvalRunContext context;
};

Run sequentialRun() {
    Run r;
    r.dataset.source = "facts.json";
    for (int i = 0; i < 4; ++i) {
        FactRecord f;
        f.caseId = 100 + i;
        f.prompt = "{} is located in";
        f.subject = "subject " + std::to_string(i);
        f.relationId = "P131";
        r.dataset.records.push_back(f);
    }
    r.params.edit.method = EditMethod::Memit;
    r.params.edit.hparams.layers = {0, 1};
    r.params.edit.statsLabel = "corpus.txt";
    r.params.mode = EvalMode::Sequential;
    r.params.batchSize = 2;
    r.result.mode = EvalMode::Sequential;
    r.result.method = EditMethod::Memit;
    r.result.layers = {0, 1};
    r.result.hparams = r.params.edit.hparams;
    r.result.batchSize = 2;
    std::vector<RecordMetrics> edited, baseline;
    std::vector<std::optional<double>> atEdit;
    for (int k = 0; k < 3; ++k) {
        RecordEvaluation e;
        e.datasetIndex = size_t(k) + 1;
        e.batch = k / 2;
        e.edited = recordMetrics(k, true);
        e.baseline = recordMetrics(k, false);
        e.efficacyAtEdit = k == 2 ? 0.0 : 1.0;
        edited.push_back(e.edited);
        baseline.push_back(e.baseline);
        atEdit.push_back(e.efficacyAtEdit);
        r.result.records.push_back(e);
    }
    r.result.batches = {{{1, 2}, {0, 1}, 0.25, 1.5}, {{3}, {0, 1}, 0.125, 0.75}};
    r.result.edited = summarizeMetrics(edited, atEdit);
    r.result.baseline = summarizeMetrics(baseline);
    r.result.seconds = 1.0 / 3;
    r.result.editSeconds = 0.1;
    r.result.metricSeconds = 0.2;
    r.context.dataset = "projects/demo/facts.json";
    r.context.selection.limit = 3;
    r.context.selection.how = RecordSelection::Spread;
    r.context.indices = {1, 2, 3};
    r.context.modelPath = "/models/demo";
    r.context.modelContext = 64;
    r.context.weightsHash = "abc123";
    return r;
}

void compareSummaries(const MetricSummary& got, const MetricSummary& want) {
    QCOMPARE(got.values.size(), want.values.size());
    for (size_t i = 0; i < want.values.size(); ++i) {
        const auto& [name, w] = want.values[i];
        QCOMPARE(got.values[i].first, name);
        const MetricStat& g = got.values[i].second;
        QVERIFY2(g.count == w.count, qPrintable(QString::fromStdString(name)));
        // Exactly: the JSON keeps every digit a double needs.
        QVERIFY2(g.mean == w.mean, qPrintable(QStringLiteral("%1: %2 != %3").arg(QString::fromStdString(name)).arg(g.mean, 0, 'g', 17).arg(w.mean, 0, 'g', 17)));
        QVERIFY2(g.ci95 == w.ci95, qPrintable(QString::fromStdString(name)));
    }
}

template <class Fn>
void expectInputError(Fn fn, const QString& fragment) {
    try {
        fn();
    } catch (const Error& e) {
        const QString msg = QString::fromStdString(e.what());
        QVERIFY2(msg.contains(fragment), qPrintable("'" + msg + "' lacks '" + fragment + "'"));
        QCOMPARE(e.kind(), ErrorKind::Input);
        return;
    }
    QFAIL(qPrintable("no kme::Error for " + fragment));
}

}  // namespace

class TestEvalJson final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void savedRunReadsBackExactly() {
        const Run run = sequentialRun();
        EvalJsonOptions saved;
        saved.promptDetails = false;
        saved.baselineCounts = true;
        const std::string text = evalRunToJson(run.result, run.dataset, run.params, run.context, saved).dump();
        const json j = json::parse(text);
        QVERIFY(!j["records"][0]["edited"].contains("prompts"));  // small: the values only
        QVERIFY(j["records"][0].contains("efficacy_at_edit"));
        QCOMPARE(j["records"][0]["case_id"].get<int>(), 101);
        QVERIFY(j.contains("baseline_count"));

        const EvalRunSummary s = evalRunSummaryFromJson(text);
        compareSummaries(s.edited, run.result.edited);
        compareSummaries(s.baseline, run.result.baseline);
        QVERIFY(s.edited.find("efficacy_at_edit_score"));
        QCOMPARE(s.edited.find("neighborhood_score")->count, 2);  // one record's neighbours all left out
        QCOMPARE(s.baseline.find("neighborhood_score")->count, 3);
        QCOMPARE(s.dataset, std::string("projects/demo/facts.json"));
        QCOMPARE(s.method, EditMethod::Memit);
        QCOMPARE(s.mode, EvalMode::Sequential);
        QCOMPARE(s.batchSize, 2);
        QCOMPARE(s.metrics, MetricSet::CounterFact);
        QCOMPARE(s.layers, (std::vector<int>{0, 1}));
        QCOMPARE(s.selection, RecordSelection::Spread);
        QCOMPARE(s.limit, 3);
        QCOMPARE(s.recordCount, 3);
        QCOMPARE(s.neighborhoodExcluded, 2);
        QCOMPARE(s.otherAttributesExcluded, 0 + 1 + 2);
        QCOMPARE(s.weightsHash, std::string("abc123"));
        QCOMPARE(s.statsCorpus, std::string("corpus.txt"));
        QVERIFY(s.mom2);
        QVERIFY(!s.cancelled);
        QCOMPARE(s.seconds, 1.0 / 3);
        QCOMPARE(s.editSeconds, 0.1);
        QCOMPARE(s.metricSeconds, 0.2);
    }

    void cliFormReadsToo() {
        // kme eval --json: prompt details, no baseline counts, no baseline at all with --no-baseline.
        Run run = sequentialRun();
        const json j = evalRunToJson(run.result, run.dataset, run.params, run.context);
        QVERIFY(j["records"][0]["edited"].contains("prompts"));
        QVERIFY(j["records"][0]["edited"].contains("generations"));
        QVERIFY(!j.contains("baseline_count"));
        QCOMPARE(j["generation"]["max_length"].get<int>(), 64);  // capped by the model's context
        const EvalRunSummary s = evalRunSummaryFromJson(j);
        compareSummaries(s.edited, run.result.edited);
        // Unedited counts follow the edited ones (the records' count where those have none).
        QCOMPARE(s.baseline.find("efficacy_score")->count, 3);
        QCOMPARE(s.baseline.find("neighborhood_score")->count, 2);
        QCOMPARE(s.baseline.find("efficacy_score")->mean, run.result.baseline.find("efficacy_score")->mean);

        run.params.baseline = false;
        run.result.baseline = {};
        const EvalRunSummary none = evalRunSummaryFromJson(evalRunToJson(run.result, run.dataset, run.params, run.context));
        QVERIFY(none.baseline.values.empty());
    }

    void notARunIsAnInputError() {
        const Run run = sequentialRun();
        const json good = evalRunToJson(run.result, run.dataset, run.params, run.context);
        expectInputError([] { evalRunSummaryFromJson(std::string("{\"metrics\": [1, 2")); }, "invalid JSON");
        expectInputError([] { evalRunSummaryFromJson(json::array()); }, "not a JSON object");
        expectInputError([] { evalRunSummaryFromJson(std::string("{\"method\": \"rome\"}")); }, "\"dataset\" is missing");
        auto broken = [&](const char* key, json value, const QString& fragment) {
            json j = good;
            if (value.is_discarded()) j.erase(key);
            else j[key] = value;
            expectInputError([&] { evalRunSummaryFromJson(j); }, fragment);
        };
        broken("metrics", json(json::value_t::discarded), "\"metrics\" is missing");
        broken("mode", "sideways", "\"mode\" is 'sideways'");
        broken("method", "knn", "\"method\" is 'knn'");
        broken("n_records", "three", "\"n_records\" has the wrong type");
        broken("metrics", json{{"efficacy_score", "high"}}, "efficacy_score is not a number");
        broken("metrics_count", json::object(), "count of \"metrics\".efficacy_score");
        broken("selection", 5, "\"selection\" is not an object");
    }
};

QTEST_GUILESS_MAIN(TestEvalJson)
#include "test_eval_json.moc"
