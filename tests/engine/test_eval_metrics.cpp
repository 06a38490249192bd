// CounterFact / zsRE metrics (engine/eval/Metrics.h) and edit evaluation
// (engine/eval/EditEvaluation.h): hand-derived values, parity with
// targetProbability and greedy decoding on a random model, the evaluation
// loop checked against edits applied by hand, hostile inputs.
#include <QtTest>

#include <chrono>
#include <cmath>

#include "engine/core/Error.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/edit/WeightDelta.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/Metrics.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "tests/ExpectError.h"
#include "tests/TinyModel.h"

using namespace kme;

namespace {

TargetScore score(double prob, int tokens = 1, int correct = 0) {
    TargetScore s;
    s.prob = prob;
    s.nll = -std::log(prob);
    s.tokens = tokens;
    s.tokensCorrect = correct;
    return s;
}

ComparedPrompt compared(double pExpected, double pOther) { return {"p", score(pExpected), score(pOther)}; }

using kme::testing::expectError;

// A small CounterFact-schema file; record 1 has neighbourhood answers and
// other attributes (the demo fact set's extensions).
const char* kFacts = R"([
 {"case_id": 10, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "France",
   "target_new": {"str": "Rome"}, "target_true": {"str": "Paris"}},
  "paraphrase_prompts": ["France has its capital in", "The main city of France is"],
  "neighborhood_prompts": ["The capital of Japan is", "The capital of Italy is"],
  "generation_prompts": ["France is", "People in France"]},
 {"case_id": 11, "requested_rewrite": {"prompt": "The capital of {} is", "relation_id": "P36", "subject": "Japan",
   "target_new": {"str": "Paris"}, "target_true": {"str": "Tokyo"}},
  "paraphrase_prompts": ["Japan has its capital in"],
  "neighborhood_prompts": ["The capital of France is", "The capital of Italy is"],
  "neighborhood_answers": ["Paris", "Rome"],
  "other_attributes": [{"relation_id": "P30", "prompt": "Japan is a country in", "target": "Asia"},
                       {"relation_id": "P37", "prompt": "The language of Japan is", "target": "Japanese"}],
  "generation_prompts": ["Japan is"]},
 {"case_id": 12, "requested_rewrite": {"prompt": "{} is a country in", "relation_id": "P30", "subject": "Japan",
   "target_new": {"str": "Europe"}, "target_true": {"str": "Asia"}},
  "paraphrase_prompts": ["Japan is located in"],
  "neighborhood_prompts": ["Italy is a country in"],
  "neighborhood_answers": ["Europe"],
  "generation_prompts": []}
])";

const char* kZsre = R"([
 {"subject": "Danube", "src": "Which river is the Danube?", "rephrase": "What is the Danube?", "alt": "Rhine",
  "answers": ["Thames"], "loc": "nq question: where is the fox", "loc_ans": "over the dog"},
 {"subject": "Tokyo", "src": "Where is Tokyo?", "rephrase": "Tokyo is where?", "alt": "Italy",
  "answers": ["Japan"], "loc": "nq question: who plays the violin?", "loc_ans": "she"}
])";

}  // namespace

class TestEvalMetrics final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string modelDir_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(dir("cache")));
        initComputeRuntime(2);
        modelDir_ = dir("tiny");
        kme::testing::writeTinyModel(modelDir_, 11);
    }

    // ------------------------------------------------ hand-derived values

    void nGramEntropyOfKnownStrings() {
        // "a b a b": bigrams ab x2, ba x1 -> H2 = h(1/3) = 0.918296; trigrams
        // aba, bab -> H3 = 1; (2/3 H2 + 4/3 H3) / 2 = 0.972765.
        QVERIFY(std::abs(nGramEntropyOf(wordTokens("a b a b"), 2) - 0.9182958340544896) < 1e-12);
        QVERIFY(std::abs(nGramEntropyOf(wordTokens("a b a b"), 3) - 1.0) < 1e-12);
        QVERIFY(std::abs(nGramEntropy("a b a b") - 0.9727652780181632) < 1e-12);
        // "the cat sat on the mat": 5 distinct bigrams, 4 distinct trigrams:
        // (2/3 log2 5 + 4/3 * 2) / 2 = 2.107309.
        QVERIFY(std::abs(nGramEntropy("the cat sat on the mat") - (2.0 / 3 * std::log2(5.0) + 8.0 / 3) / 2) < 1e-12);
        QVERIFY(std::abs(nGramEntropy("the cat sat on the mat") - 2.1073093649624657) < 1e-12);
        // Punctuation is a word of its own: "Hello , world ." -> 3 bigrams, 2 trigrams.
        QVERIFY(std::abs(nGramEntropy("Hello, world.") - (2.0 / 3 * std::log2(3.0) + 4.0 / 3) / 2) < 1e-12);
        // Repetition has no entropy; too few words give 0.
        QCOMPARE(nGramEntropy("a a a a a a"), 0.0);
        QCOMPARE(nGramEntropy("hello"), 0.0);
        QCOMPARE(nGramEntropy(""), 0.0);
        // Two words: one bigram (H2 = 0), no trigram.
        QCOMPARE(nGramEntropy("hello world"), 0.0);
    }

    void wordTokensFollowTreebankRules() {
        const std::vector<std::string> a = wordTokens("Don't stop, it's fine.");
        QCOMPARE(a, (std::vector<std::string>{"Do", "n't", "stop", ",", "it", "'s", "fine", "."}));
        const std::vector<std::string> b = wordTokens("U.S. troops (mostly) arrived!  \"Yes\"...");
        QCOMPARE(b, (std::vector<std::string>{"U.S.", "troops", "(", "mostly", ")", "arrived", "!", "\"", "Yes", "\"",
                                              "..."}));
        QCOMPARE(wordTokens("1,000 people: $5"), (std::vector<std::string>{"1,000", "people", ":", "$", "5"}));
    }

    void harmonicMeanByHand() {
        QVERIFY(std::abs(*harmonicMean({1.0, 0.5}) - 2.0 / 3.0) < 1e-12);
        QVERIFY(std::abs(*harmonicMean({0.9, 0.8, 0.7}) - 3.0 / (1 / 0.9 + 1 / 0.8 + 1 / 0.7)) < 1e-12);
        QCOMPARE(*harmonicMean({0.9, 0.0, 0.7}), 0.0);
        QVERIFY(!harmonicMean({}).has_value());
    }

    void indicatorsAndMagnitudesOnConstructedProbabilities() {
        RecordMetrics a;
        a.efficacy = {compared(0.6, 0.3)};                                          // success, +0.3
        a.paraphrase = {compared(0.2, 0.5), compared(0.4, 0.1), compared(0.25, 0.25)};  // fail, success, tie = fail
        a.neighborhood = {compared(0.7, 0.1), compared(0.05, 0.5)};                // true answer beats new: 1 of 2
        a.otherAttributes = {compared(0.9, 0.01)};
        a.otherAttributes[0].expected.tokens = 2;
        a.otherAttributes[0].expected.tokensCorrect = 2;  // greedy yields it
        QCOMPARE(*a.efficacyScore(), 1.0);
        QVERIFY(std::abs(*a.efficacyMagnitude() - 0.3) < 1e-12);
        QVERIFY(std::abs(*a.paraphraseScore() - 1.0 / 3) < 1e-12);
        QVERIFY(std::abs(*a.paraphraseMagnitude() - 0.0) < 1e-12);  // (-0.3 + 0.3 + 0) / 3
        QCOMPARE(*a.neighborhoodScore(), 0.5);
        QVERIFY(std::abs(*a.neighborhoodMagnitude() - (0.6 - 0.45) / 2) < 1e-12);
        QCOMPARE(*a.otherAttributesScore(), 1.0);
        QCOMPARE(*a.otherAttributesAccuracy(), 1.0);
        QVERIFY(!a.fluency().has_value());

        RecordMetrics b;
        b.efficacy = {compared(0.1, 0.8)};  // fail, -0.7
        b.paraphrase = {compared(0.6, 0.2)};
        b.neighborhood = {compared(0.3, 0.2)};
        b.generationEntropy = {5.0, 6.0};
        QCOMPARE(*b.efficacyScore(), 0.0);
        QVERIFY(!b.otherAttributesScore().has_value());
        QCOMPARE(*b.fluency(), 5.5);

        // Over records: means, 1.96 sd / sqrt(n) intervals, hmean of the means.
        const MetricSummary s = summarizeMetrics({a, b});
        for (const auto& name : metricNames()) QVERIFY2(s.find(name), name.c_str());
        const MetricStat* es = s.find("efficacy_score");
        QCOMPARE(es->count, 2);
        QCOMPARE(es->mean, 0.5);
        QVERIFY(std::abs(es->ci95 - 1.96 * std::sqrt(0.5) / std::sqrt(2.0)) < 1e-12);
        QVERIFY(std::abs(s.find("efficacy_magnitude")->mean - (0.3 - 0.7) / 2) < 1e-12);
        const double ps = (1.0 / 3 + 1.0) / 2, ns = (0.5 + 1.0) / 2;
        QVERIFY(std::abs(s.find("paraphrase_score")->mean - ps) < 1e-12);
        QVERIFY(std::abs(s.find("neighborhood_score")->mean - ns) < 1e-12);
        QVERIFY(std::abs(s.find("score")->mean - 3.0 / (1 / 0.5 + 1 / ps + 1 / ns)) < 1e-12);
        QCOMPARE(s.find("other_attributes_score")->count, 1);  // b has none
        QCOMPARE(s.find("fluency")->count, 1);
        QCOMPARE(s.find("fluency")->mean, 5.5);
        QCOMPARE(s.find("fluency")->ci95, 0.0);  // one value: no spread known
        QVERIFY(!s.find("efficacy_at_edit_score"));
        const MetricSummary t = summarizeMetrics({a, b}, {1.0, 0.0});
        QCOMPARE(t.find("efficacy_at_edit_score")->mean, 0.5);
    }

    void zsreTokenAccuracyPoolsTokens() {
        RecordMetrics m;
        m.efficacy = {{"q", score(0.5, 3, 2), score(0.1)}};
        m.paraphrase = {{"q1", score(0.5, 3, 2), score(0.1)}, {"q2", score(0.5, 1, 1), score(0.1)}};
        m.neighborhood = {{"loc", score(0.5, 4, 0), score(0.1)}};
        QVERIFY(std::abs(*m.efficacyAccuracy() - 2.0 / 3) < 1e-12);
        QVERIFY(std::abs(*m.paraphraseAccuracy() - 3.0 / 4) < 1e-12);  // pooled, not the mean of 2/3 and 1
        QCOMPARE(*m.neighborhoodAccuracy(), 0.0);
        QVERIFY(!RecordMetrics().efficacyAccuracy().has_value());
        QCOMPARE(zsreLocalityPrompt("nq question: where is the fox"), std::string("nq question: where is the fox?"));
        QCOMPARE(zsreLocalityPrompt("who?"), std::string("who?"));
    }

    void selectionOfRecords() {
        Dataset d = parseDataset(kFacts, "facts.json");
        QCOMPARE(selectRecords(d, {}), (std::vector<size_t>{0, 1, 2}));
        QCOMPARE(selectRecords(d, {2, RecordSelection::First, 0}), (std::vector<size_t>{0, 1}));
        QCOMPARE(selectRecords(d, {2, RecordSelection::Spread, 0}), (std::vector<size_t>{0, 1}));
        // Spread over a larger file: evenly spaced, ascending.
        Dataset big;
        big.source = "big.json";
        big.records.resize(508);
        const auto spread = selectRecords(big, {50, RecordSelection::Spread, 0});
        QCOMPARE(spread.size(), size_t(50));
        QCOMPARE(spread.front(), size_t(0));
        QCOMPARE(spread[1], size_t(10));
        QCOMPARE(spread.back(), size_t(49 * 508 / 50));
        const auto r1 = selectRecords(big, {20, RecordSelection::Random, 5});
        const auto r2 = selectRecords(big, {20, RecordSelection::Random, 5});
        const auto r3 = selectRecords(big, {20, RecordSelection::Random, 6});
        QCOMPARE(r1, r2);
        QVERIFY(r1 != r3);
        QVERIFY(std::is_sorted(r1.begin(), r1.end()) && std::adjacent_find(r1.begin(), r1.end()) == r1.end());
        expectError([&] { selectRecords(d, {4, RecordSelection::First, 0}); }, {"limit 4", "3 records", "facts.json"});
        expectError([&] { selectRecords(d, {-1, RecordSelection::First, 0}); }, {"negative"});
        Dataset empty;
        empty.source = "empty.json";
        expectError([&] { selectRecords(empty, {}); }, {"empty.json", "no records"});
    }

    // ------------------------------------------------ parity on a model

    void scoresMatchTargetProbabilityAndGreedyDecoding() {
        LoadOptions o;
        o.float64 = true;  // parity to 1e-10, independent of batching
        auto m = Model::load(modelDir_, o);
        const std::vector<ScoreQuery> queries = {
            {"The capital of France is", {"Paris", "Rome", " quick brown fox"}},
            {"People in Japan often", {"Tokyo"}},
            {"Where", {"over the lazy dog", "Paris"}}};
        const auto t0 = std::chrono::steady_clock::now();
        const auto scores = scoreTargets(*m, queries);
        qInfo("scored 6 targets in %.4f s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        QCOMPARE(scores.size(), queries.size());
        double maxDiff = 0;
        for (size_t q = 0; q < queries.size(); ++q) {
            QCOMPARE(scores[q].size(), queries[q].targets.size());
            for (size_t t = 0; t < queries[q].targets.size(); ++t) {
                const TargetScore& s = scores[q][t];
                const std::string target = withTargetSpace(queries[q].targets[t]);
                QCOMPARE(s.target, target);
                const std::vector<int> ids = m->tokenizer().encode(target);
                QCOMPARE(s.tokens, int(ids.size()));
                // Another way: targetProbability (one sequence, unpadded) is the product.
                const double p = targetProbability(*m, queries[q].prompt, target);
                const double mine = std::exp(-s.nll * s.tokens);
                maxDiff = std::max(maxDiff, std::abs(std::log(p) - std::log(mine)));
                QVERIFY(std::abs(s.prob - std::pow(p, 1.0 / s.tokens)) < 1e-10);
                // Token accuracy by greedy steps with topNext.
                std::vector<int> ctx = m->encodePrompt(queries[q].prompt);
                int correct = 0;
                for (int id : ids) {
                    if (m->topNext(ctx, 1).front().id == id) ++correct;
                    ctx.push_back(id);
                }
                QCOMPARE(s.tokensCorrect, correct);
            }
        }
        qInfo("max |log p difference| vs targetProbability: %.3g", maxDiff);
        QVERIFY(maxDiff < 1e-10);
        // A target the model predicts greedily: all its tokens are correct.
        const std::vector<int> prompt = m->encodePrompt("The capital of France is");
        GenerateParams gp;
        gp.maxNewTokens = 3;
        const GenerateResult g = m->generate(prompt, gp);
        const auto greedy = scoreTargets(*m, {{"The capital of France is", {g.text}}});
        if (m->tokenizer().encode(g.text) == g.ids) QVERIFY(greedy[0][0].greedy());
        // Many prompts at once give the same numbers as one at a time (the batching).
        std::vector<ScoreQuery> many;
        for (int i = 0; i < 60; ++i) many.push_back({"The capital of France is" + std::string(size_t(i % 7), '!'), {"Paris", "Rome"}});
        const auto batched = scoreTargets(*m, many);
        for (int i = 0; i < 60; i += 13) {
            const auto single = scoreTargets(*m, {many[size_t(i)]});
            QVERIFY(std::abs(single[0][1].nll - batched[size_t(i)][1].nll) < 1e-10);
        }
    }

    void recordMetricsAgreeWithProbabilities() {
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(modelDir_, o);
        const Dataset d = parseDataset(kFacts, "facts.json");
        GenerationOptions gen;
        gen.maxLength = 24;
        auto gm = [&](const std::string& prompt, const std::string& target) {
            const std::string t = withTargetSpace(target);
            return std::pow(targetProbability(*m, prompt, t), 1.0 / double(m->tokenizer().encode(t).size()));
        };
        // Record 0: no neighbourhood answers -> neighbours compare target_true (CounterFact).
        const RecordMetrics r0 = computeRecordMetrics(*m, d.records[0], MetricSet::CounterFact, gen, 0);
        QCOMPARE(r0.efficacy.size(), size_t(1));
        QCOMPARE(r0.paraphrase.size(), size_t(2));
        QCOMPARE(r0.neighborhood.size(), size_t(2));
        const double pn = gm("The capital of France is", "Rome"), pt = gm("The capital of France is", "Paris");
        QCOMPARE(*r0.efficacyScore(), pn > pt ? 1.0 : 0.0);
        QVERIFY(std::abs(*r0.efficacyMagnitude() - (pn - pt)) < 1e-10);
        double mag = 0, sc = 0;
        for (const char* p : {"The capital of Japan is", "The capital of Italy is"}) {
            mag += gm(p, "Paris") - gm(p, "Rome");
            sc += gm(p, "Paris") > gm(p, "Rome") ? 1 : 0;
            }
        QVERIFY(std::abs(*r0.neighborhoodMagnitude() - mag / 2) < 1e-10);
        QCOMPARE(*r0.neighborhoodScore(), sc / 2);
        QCOMPARE(r0.neighborhood[0].expected.target, std::string(" Paris"));
        // Generations: one per prompt, deterministic, entropy of the text.
        QCOMPARE(r0.generations.size(), size_t(2));
        QVERIFY(r0.generations[0].rfind("France is", 0) == 0);
        QCOMPARE(r0.generationEntropy[1], nGramEntropy(r0.generations[1]));
        const RecordMetrics again = computeRecordMetrics(*m, d.records[0], MetricSet::CounterFact, gen, 0);
        QCOMPARE(again.generations, r0.generations);
        QVERIFY(*r0.fluency() >= 0);

        // Record 1: neighbours compare their own answers with target_new; other attributes.
        const RecordMetrics r1 = computeRecordMetrics(*m, d.records[1], MetricSet::CounterFact, gen, 1);
        QCOMPARE(r1.neighborhood[1].expected.target, std::string(" Rome"));
        QCOMPARE(r1.neighborhood[1].other.target, std::string(" Paris"));
        QVERIFY(std::abs(r1.neighborhood[1].magnitude() -
                         (gm("The capital of Italy is", "Rome") - gm("The capital of Italy is", "Paris"))) < 1e-10);
        QCOMPARE(r1.otherAttributes.size(), size_t(2));
        double oa = 0;
        for (const auto& [p, t] : std::vector<std::pair<std::string, std::string>>{
                 {"Japan is a country in", "Asia"}, {"The language of Japan is", "Japanese"}})
            oa += gm(p, t) > gm(p, "Paris") ? 1 : 0;
        QCOMPARE(*r1.otherAttributesScore(), oa / 2);

        // Co-edited: record 0 rewrites "The capital of France is" and record 2
        // Japan's continent: record 1 leaves those out.
        const CoEdited co{{"The capital of France is"}, {{"Japan", "P30"}}};
        const RecordMetrics r1x = computeRecordMetrics(*m, d.records[1], MetricSet::CounterFact, gen, 1, co);
        QCOMPARE(r1x.neighborhood.size(), size_t(1));
        QCOMPARE(r1x.neighborhoodExcluded, 1);
        QCOMPARE(r1x.otherAttributes.size(), size_t(1));
        QCOMPARE(r1x.otherAttributesExcluded, 1);
        QCOMPARE(r1x.otherAttributes[0].prompt, std::string("The language of Japan is"));

        // No generation when disabled.
        GenerationOptions off;
        off.enabled = false;
        QVERIFY(!computeRecordMetrics(*m, d.records[0], MetricSet::CounterFact, off, 0).fluency().has_value());
    }

    void zsreRecordsUseTheLocalityQuestion() {
        auto m = Model::load(modelDir_);
        const Dataset z = parseDataset(kZsre, "zsre.json");
        QCOMPARE(z.schema, DatasetSchema::Zsre);
        QCOMPARE(resolveMetricSet(MetricSet::Auto, z), MetricSet::Zsre);
        const RecordMetrics r = computeRecordMetrics(*m, z.records[0], MetricSet::Zsre, {}, 0);
        QCOMPARE(r.neighborhood.size(), size_t(1));
        QCOMPARE(r.neighborhood[0].prompt, std::string("nq question: where is the fox?"));
        QCOMPARE(r.neighborhood[0].expected.target, std::string(" over the dog"));
        QVERIFY(r.generations.empty());
        // Locality token accuracy by greedy steps.
        std::vector<int> ctx = m->encodePrompt("nq question: where is the fox?");
        const std::vector<int> ids = m->tokenizer().encode(" over the dog");
        int correct = 0;
        for (int id : ids) {
            if (m->topNext(ctx, 1).front().id == id) ++correct;
            ctx.push_back(id);
        }
        QCOMPARE(*r.neighborhoodAccuracy(), double(correct) / double(ids.size()));
        QVERIFY(r.efficacyAccuracy().has_value() && r.paraphraseAccuracy().has_value());
    }

    // ------------------------------------------------ the evaluation loop

    void freshEvaluationMatchesEditsAppliedByHand() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p;
        p.edit.method = EditMethod::FtL;
        p.edit.hparams = defaultHparams(EditMethod::FtL, m->config());
        p.edit.hparams.layers = {1};
        p.edit.hparams.ftSteps = 5;
        p.edit.hparams.ftNormConstraint = 5e-2;
        p.edit.hparams.ftLr = 5e-2;
        p.generation.maxLength = 16;
        std::vector<std::pair<double, double>> ticks;
        const EvalResult r = evaluateEdits(*m, d, {0, 1, 2}, p, [&](double done, double total) {
            ticks.emplace_back(done, total);
            return true;
        });
        QCOMPARE(m->weightsHash(), hash);  // unchanged
        QVERIFY(!r.cancelled);
        QCOMPARE(r.records.size(), size_t(3));
        QCOMPARE(r.batches.size(), size_t(3));
        QCOMPARE(r.layers, std::vector<int>{1});
        QVERIFY(!ticks.empty() && std::abs(ticks.back().first - ticks.back().second) < 1e-9);
        for (size_t i = 1; i < ticks.size(); ++i) QVERIFY(ticks[i].first >= ticks[i - 1].first - 1e-9);
        // Baseline = the unedited model's metrics.
        const RecordMetrics base1 = computeRecordMetrics(*m, d.records[1], MetricSet::CounterFact, p.generation, 1);
        QCOMPARE(r.records[1].baseline.efficacy[0].expected.nll, base1.efficacy[0].expected.nll);
        QCOMPARE(r.records[1].baseline.generations, base1.generations);
        // Edited = compute the edit, apply it, measure (another path).
        EditParams ep = p.edit;
        ep.requests = {requestFromFact(d.records[1])};
        const EditResult e = computeEdit(*m, ep);
        {
            EditStack stack(*m);
            stack.apply(e.delta);
            const RecordMetrics by = computeRecordMetrics(*m, d.records[1], MetricSet::CounterFact, p.generation, 1);
            QVERIFY(std::abs(r.records[1].edited.efficacy[0].expected.nll - by.efficacy[0].expected.nll) < 1e-6);
            QVERIFY(std::abs(*r.records[1].edited.neighborhoodMagnitude() - *by.neighborhoodMagnitude()) < 1e-6);
            QVERIFY(std::abs(*r.records[1].edited.otherAttributesScore() - *by.otherAttributesScore()) < 1e-12);
            stack.revertAll();
        }
        // The edit moved p(target_new) up on its prompt.
        QVERIFY(r.records[1].edited.efficacy[0].expected.nll < r.records[1].baseline.efficacy[0].expected.nll);
        // The summary is the mean of the records'.
        const double es = (*r.records[0].edited.efficacyScore() + *r.records[1].edited.efficacyScore() +
                           *r.records[2].edited.efficacyScore()) / 3;
        QCOMPARE(r.edited.find("efficacy_score")->mean, es);
        QCOMPARE(r.edited.find("efficacy_score")->count, 3);
        QCOMPARE(r.baseline.find("other_attributes_score")->count, 1);
        // Fresh, one record per batch: nothing excluded.
        for (const auto& rec : r.records) QCOMPARE(rec.edited.neighborhoodExcluded + rec.edited.otherAttributesExcluded, 0);
    }

    void sequentialAndBatchedRunsExcludeRewrittenNeighbours() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p;
        p.edit.method = EditMethod::Memit;
        p.edit.hparams = defaultHparams(EditMethod::Memit, m->config());
        p.edit.hparams.layers = {0, 1};
        p.edit.hparams.vNumGradSteps = 3;
        p.edit.hparams.mom2Adjustment = false;
        p.edit.contextTemplates = {{"{}"}};
        p.generation.enabled = false;
        p.mode = EvalMode::Sequential;
        const EvalResult s = evaluateEdits(*m, d, {0, 1, 2}, p);
        QCOMPARE(m->weightsHash(), hash);
        QCOMPARE(s.records.size(), size_t(3));
        QVERIFY(s.edited.find("efficacy_at_edit_score") && s.edited.find("efficacy_at_edit_score")->count == 3);
        QVERIFY(s.records[0].efficacyAtEdit.has_value());
        // Record 1's neighbour "The capital of France is" is record 0's prompt;
        // its other attribute P30 is record 2's edit.
        QCOMPARE(s.records[1].edited.neighborhoodExcluded, 1);
        QCOMPARE(s.records[1].edited.otherAttributesExcluded, 1);
        QCOMPARE(s.records[1].baseline.neighborhoodExcluded, 0);  // the baseline keeps them
        QVERIFY(!s.edited.find("fluency")->count);
        // The same three as one MEMIT batch on a fresh model.
        p.mode = EvalMode::Fresh;
        p.batchSize = 3;
        const EvalResult b = evaluateEdits(*m, d, {0, 1, 2}, p);
        QCOMPARE(b.batches.size(), size_t(1));
        QCOMPARE(b.batches[0].datasetIndices.size(), size_t(3));
        QCOMPARE(b.records[1].edited.neighborhoodExcluded, 1);
        QVERIFY(!b.edited.find("efficacy_at_edit_score"));
        QCOMPARE(m->weightsHash(), hash);
    }

    void sequentialRunsKeepTheUneditedModelsStatistics() {
        auto m = Model::load(modelDir_);
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p;
        p.edit.method = EditMethod::Rome;
        p.edit.hparams = defaultHparams(EditMethod::Rome, m->config());
        p.edit.hparams.layers = {1};
        p.edit.hparams.vNumGradSteps = 3;
        p.edit.hparams.contextLengths = {{4, 2}};
        for (int i = 0; i < 200; ++i)
            p.edit.statsTexts.push_back("The capital of France is Paris and Japan is a country in Asia " + std::to_string(i));
        p.generation.enabled = false;
        p.mode = EvalMode::Sequential;
        const int64_t before = keyStatisticsComputeCount();
        const EvalResult r = evaluateEdits(*m, d, {0, 1, 2}, p);
        QCOMPARE(r.records.size(), size_t(3));
        // Three edits on three different models, one statistics computation
        // (the unedited model's), one set of context templates.
        QCOMPARE(keyStatisticsComputeCount() - before, int64_t(1));
        QVERIFY(!r.hparams.layers.empty());
    }

    void cancelReturnsFinishedRecordsAndRestoresTheModel() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p;
        p.edit.method = EditMethod::FtL;
        p.edit.hparams = defaultHparams(EditMethod::FtL, m->config());
        p.edit.hparams.layers = {0};
        p.edit.hparams.ftSteps = 3;
        p.generation.enabled = false;
        // Stop once the first record is through (baseline 3 + edit 4 + measure 1 of 18 units).
        const EvalResult r = evaluateEdits(*m, d, {0, 1, 2}, p, [](double done, double) { return done < 8.5; });
        QVERIFY(r.cancelled);
        QCOMPARE(r.records.size(), size_t(1));
        QCOMPARE(r.records[0].datasetIndex, size_t(0));
        QCOMPARE(r.edited.find("efficacy_score")->count, 1);
        QCOMPARE(m->weightsHash(), hash);
    }

    // ------------------------------------------------ hostile input

    void hostileInputsGiveClearErrors() {
        auto m = Model::load(modelDir_);
        const std::string hash = m->weightsHash();
        // An empty target_new is refused when the file is read.
        expectError([] {
            parseDataset(R"([{"requested_rewrite": {"prompt": "{} is", "subject": "A", "target_new": {"str": ""},
                             "target_true": {"str": "B"}}}])", "bad.json");
        }, {"bad.json", "record 0", "empty target_new"}, ErrorKind::Format);
        // An empty target_true: the CounterFact scores need it; nothing is edited.
        const Dataset noTrue = parseDataset(R"([{"case_id": 7, "requested_rewrite": {"prompt": "{} is in", "subject": "Paris",
             "target_new": {"str": "Rome"}, "target_true": {"str": ""}}, "neighborhood_prompts": []}])", "notrue.json");
        EvalParams p;
        p.edit.method = EditMethod::FtL;
        p.edit.hparams = defaultHparams(EditMethod::FtL, m->config());
        p.edit.hparams.layers = {0};
        expectError([&] { evaluateEdits(*m, noTrue, {0}, p); }, {"notrue.json", "record 0", "case_id 7", "target_true"});
        expectError([&] { computeRecordMetrics(*m, noTrue.records[0], MetricSet::CounterFact, {}, 0); }, {"target_true"});
        // Neighbourhood answers that do not match the prompts, or are empty.
        const Dataset badAnswers = parseDataset(R"([{"requested_rewrite": {"prompt": "{} is in", "subject": "Paris",
             "target_new": {"str": "Rome"}, "target_true": {"str": "France"}},
             "neighborhood_prompts": ["Tokyo is in", "Rome is in"], "neighborhood_answers": ["Japan"]}])", "ans.json");
        expectError([&] { validateForMetrics(badAnswers.records, MetricSet::CounterFact, "ans.json"); },
                    {"ans.json", "1 neighborhood_answers for 2 neighborhood_prompts"});
        const Dataset emptyAttr = parseDataset(R"([{"requested_rewrite": {"prompt": "{} is in", "subject": "Paris",
             "target_new": {"str": "Rome"}, "target_true": {"str": "France"}},
             "other_attributes": [{"relation_id": "P1", "prompt": "Paris has", "target": ""}]}])", "attr.json");
        expectError([&] { validateForMetrics(emptyAttr.records, MetricSet::CounterFact, "attr.json"); },
                    {"attr.json", "other_attributes", "P1"});
        // A zsRE file given to the CounterFact metrics.
        const Dataset z = parseDataset(kZsre, "zsre.json");
        expectError([&] { resolveMetricSet(MetricSet::CounterFact, z); }, {"zsre.json", "zsRE", "CounterFact"});
        EvalParams pz = p;
        pz.metrics = MetricSet::CounterFact;
        expectError([&] { evaluateEdits(*m, z, {0}, pz); }, {"zsre.json", "zsRE"});
        // No records, a bad batch size, a record past the end, a missing layer.
        const Dataset d = parseDataset(kFacts, "facts.json");
        expectError([&] { evaluateEdits(*m, d, {}, p); }, {"no records"});
        EvalParams pb = p;
        pb.batchSize = 0;
        expectError([&] { evaluateEdits(*m, d, {0}, pb); }, {"batch size"});
        expectError([&] { evaluateEdits(*m, d, {5}, p); }, {"record index 5", "facts.json"});
        EvalParams pl = p;
        pl.edit.hparams.layers = {};
        expectError([&] { evaluateEdits(*m, d, {0}, pl); }, {"layer"});
        pl.edit.hparams.layers = {7};
        expectError([&] { evaluateEdits(*m, d, {0}, pl); }, {"7"});
        EvalParams pr = p;
        pr.edit.method = EditMethod::Rome;
        pr.edit.hparams = defaultHparams(EditMethod::Rome, m->config());
        pr.edit.hparams.layers = {0};
        expectError([&] { evaluateEdits(*m, d, {0}, pr); }, {"corpus"});
        // Scoring: an empty target, a prompt + target past the context.
        expectError([&] { scoreTargets(*m, {{"The capital of France is", {""}}}); }, {"empty target"});
        std::string longPrompt;
        for (int i = 0; i < 100; ++i) longPrompt += " word";
        expectError([&] { scoreTargets(*m, {{longPrompt, {"Paris"}}}); }, {"context"});
        QCOMPARE(m->weightsHash(), hash);
    }
};

QTEST_GUILESS_MAIN(TestEvalMetrics)
#include "test_eval_metrics.moc"
