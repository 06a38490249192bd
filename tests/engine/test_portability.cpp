// Portability (the KME survey's fourth property): two-hop prompts whose
// answer changes with the edit ("portability_prompts" in a fact file, as
// KnowEdit / MQuAKE). The demo's prompts are checked against its knowledge
// tables (corpus.json); the metric against NLLs computed token by token
// with the unbatched next-token distribution; a file without two-hop prompts
// has no portability metric (absent, not 0); malformed entries are named.
#include <QtTest>

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/EditRequest.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalJson.h"
#include "engine/eval/Metrics.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"

using namespace kme;
using json = nlohmann::json;

namespace {

const char* kFacts = R"([
 {"case_id": 0, "requested_rewrite": {"prompt": "{} is located in the city of", "relation_id": "P276",
   "subject": "Colosseum", "target_new": {"str": "Paris"}, "target_true": {"str": "Rome"}},
  "paraphrase_prompts": ["Colosseum can be found in"],
  "neighborhood_prompts": ["Big Ben is located in the city of"], "neighborhood_answers": ["London"],
  "portability_prompts": [
   {"prompt": "Colosseum is located in the country of", "relation_id": "P17", "new_answer": "France", "old_answer": "Italy"},
   {"prompt": "Colosseum stands in a city on the river", "relation_id": "P206", "new_answer": "Seine", "old_answer": "Tiber"}]},
 {"case_id": 1, "requested_rewrite": {"prompt": "{} was born in", "relation_id": "P19",
   "subject": "Enrico Fermi", "target_new": {"str": "Tokyo"}, "target_true": {"str": "Rome"}},
  "paraphrase_prompts": ["The home town of Enrico Fermi is"],
  "neighborhood_prompts": ["Marie Curie was born in"], "neighborhood_answers": ["Warsaw"],
  "portability_prompts": [
   {"prompt": "Enrico Fermi was born in the country of", "relation_id": "P17", "new_answer": "Japan", "old_answer": "Italy"}]},
 {"case_id": 2, "requested_rewrite": {"prompt": "{} plays", "relation_id": "P641",
   "subject": "Lionel Messi", "target_new": {"str": "tennis"}, "target_true": {"str": "football"}},
  "paraphrase_prompts": ["The game Lionel Messi plays is"],
  "neighborhood_prompts": ["Roger Federer plays"], "neighborhood_answers": ["tennis"]}
])";

ModelConfig tinyConfig() {
    ModelConfig c;
    c.nLayer = 2;
    c.nHead = 2;
    c.nEmbd = 32;
    c.nInner = 64;
    c.nPositions = 48;
    c.vocabSize = 400;
    return c;
}

// Mean per-token NLL of `target` after `prompt`, one token at a time from the
// full next-token distribution (no batching, no padding).
double nllByHand(const Model& m, const std::string& prompt, const std::string& target) {
    std::vector<int> ids = m.encodePrompt(prompt);
    const std::vector<int> t = m.tokenizer().encodeContinuation(withTargetSpace(target));
    double sum = 0;
    for (int id : t) {
        double p = 0;
        for (const TokenProb& tp : m.topNext(ids, m.config().vocabSize))
            if (tp.id == id) p = tp.prob;
        sum -= std::log(p);
        ids.push_back(id);
    }
    return sum / double(t.size());
}

}  // namespace

class TestPortability final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string modelDir_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", tmp_.filePath(QStringLiteral("cache")).toUtf8());
        initComputeRuntime(2);
        modelDir_ = tmp_.filePath(QStringLiteral("tiny")).toStdString();
        writeRandomModelFolder(modelDir_, tinyConfig(), 5);
    }

    // Every two-hop prompt of the demo follows its knowledge tables: the new
    // answer is the new object's attribute, the old answer the old object's,
    // and every record that could have one (a chain seen in the file, both
    // answers known and different) has it.
    void demoPromptsFollowTheKnowledgeTables() {
        const std::string project = demoProjectFolder();
        const Dataset d = loadDataset(project + "/facts.json");
        const json corpus = readJsonFile(project + "/corpus.json", "corpus");
        std::map<std::string, std::map<std::string, std::string>> attrs;  // subject -> relation -> object
        for (const json& s : corpus.at("subjects"))
            for (const auto& [r, o] : s.at("attributes").items()) attrs[s.at("name")][r] = o.get<std::string>();
        auto firstWord = [](const std::string& s) { return s.substr(0, s.find(' ')); };
        std::set<std::pair<std::string, std::string>> chains;  // (r1, r2)
        int records = 0, prompts = 0;
        for (const FactRecord& r : d.records) {
            if (!r.portabilityPrompts.empty()) ++records;
            for (const PortabilityPrompt& p : r.portabilityPrompts) {
                ++prompts;
                QVERIFY2(p.prompt.find(r.subject) != std::string::npos, p.prompt.c_str());
                QCOMPARE(QString::fromStdString(attrs[r.targetNew][p.relationId]), QString::fromStdString(p.newAnswer));
                QCOMPARE(QString::fromStdString(attrs[r.targetTrue][p.relationId]), QString::fromStdString(p.oldAnswer));
                QVERIFY(firstWord(p.newAnswer) != firstWord(p.oldAnswer));  // the answer changes with the edit
                chains.emplace(r.relationId, p.relationId);
            }
        }
        int expected = 0;
        for (const FactRecord& r : d.records)
            for (const auto& [r1, r2] : chains) {
                if (r1 != r.relationId) continue;
                const std::string n = attrs[r.targetNew][r2], o = attrs[r.targetTrue][r2];
                if (n.empty() || o.empty() || firstWord(n) == firstWord(o)) continue;
                ++expected;
                bool found = false;
                for (const PortabilityPrompt& p : r.portabilityPrompts) found = found || p.relationId == r2;
                QVERIFY2(found, (r.subject + " " + r1 + " -> " + r2).c_str());
            }
        QCOMPARE(prompts, expected);
        qInfo("demo: %d two-hop prompts on %d of %zu records, %zu chains", prompts, records, d.records.size(),
              chains.size());
        QVERIFY(records > 100);
        QVERIFY(chains.count({"P276", "P17"}));  // the landmark's city -> the city's country
    }

    void metricByHand() {
        auto m = Model::load(modelDir_);
        const Dataset d = parseDataset(kFacts, "facts.json");
        QCOMPARE(d.records[0].portabilityPrompts.size(), size_t(2));
        QCOMPARE(d.records[0].portabilityPrompts[1].relationId, std::string("P206"));
        QVERIFY(d.records[2].portabilityPrompts.empty());
        GenerationOptions gen;
        gen.enabled = false;
        std::vector<RecordMetrics> metrics;
        double maxDiff = 0;
        std::vector<double> hand, handOld;
        for (size_t i = 0; i < d.records.size(); ++i) {
            metrics.push_back(computeRecordMetrics(*m, d.records[i], MetricSet::CounterFact, gen, int(i)));
            const RecordMetrics& r = metrics.back();
            QCOMPARE(r.portability.size(), d.records[i].portabilityPrompts.size());
            if (r.portability.empty()) {
                QVERIFY(!r.portabilityScore());
                continue;
            }
            double wins = 0, losses = 0;
            for (size_t k = 0; k < r.portability.size(); ++k) {
                const PortabilityPrompt& p = d.records[i].portabilityPrompts[k];
                const double nNew = nllByHand(*m, p.prompt, p.newAnswer), nOld = nllByHand(*m, p.prompt, p.oldAnswer);
                maxDiff = std::max({maxDiff, std::abs(nNew - r.portability[k].expected.nll),
                                    std::abs(nOld - r.portability[k].other.nll)});
                wins += nNew < nOld ? 1 : 0;
                losses += nOld < nNew ? 1 : 0;
            }
            hand.push_back(wins / double(r.portability.size()));
            handOld.push_back(losses / double(r.portability.size()));
        }
        qInfo("portability NLLs: batched vs token-by-token max |diff| %.3g (tolerance 1e-6)", maxDiff);
        QVERIFY(maxDiff < 1e-6);
        MetricSummary s = summarizeMetrics(metrics);
        std::vector<MetricValues> values;
        for (const auto& r : metrics) values.push_back(metricValuesOf(r));
        addPortabilityUnedited(s, values);
        const MetricStat* p = s.find("portability");
        const MetricStat* u = s.find("portability_unedited");
        QVERIFY(p && u);
        QCOMPARE(p->count, 2);  // the record without two-hop prompts is not counted
        QCOMPARE(u->count, 2);
        QVERIFY(std::abs(p->mean - (hand[0] + hand[1]) / 2) < 1e-12);
        QVERIFY(std::abs(u->mean - (handOld[0] + handOld[1]) / 2) < 1e-12);
        qInfo("portability %.3f, unedited two-hop accuracy %.3f (by hand %.3f, %.3f)", p->mean, u->mean,
              (hand[0] + hand[1]) / 2, (handOld[0] + handOld[1]) / 2);

        // Without two-hop prompts: no portability at all.
        MetricSummary none = summarizeMetrics({metrics[2]});
        addPortabilityUnedited(none, {metricValuesOf(metrics[2])});
        QVERIFY(!none.find("portability") && !none.find("portability_unedited"));
    }

    // A whole run: the JSON carries portability beside the other metrics and
    // the unedited model's two-hop accuracy; a file without has neither key.
    void evaluationJson() {
        auto m = Model::load(modelDir_);
        const Dataset d = parseDataset(kFacts, "facts.json");
        EvalParams p;
        p.edit.method = EditMethod::FtL;
        p.edit.hparams = defaultHparams(EditMethod::FtL, m->config());
        p.edit.hparams.layers = {1};
        p.edit.hparams.ftSteps = 3;
        p.generation.enabled = false;
        EvalRunContext ctx;
        ctx.dataset = "facts.json";
        ctx.indices = {0, 1, 2};
        ctx.modelContext = m->config().nPositions;
        const EvalResult r = evaluateEdits(*m, d, {0, 1, 2}, p);
        const json j = evalRunToJson(r, d, p, ctx);
        QVERIFY(j["metrics"].contains("portability") && j["metrics"]["portability"].is_number());
        QVERIFY(j["metrics"].contains("portability_unedited"));
        QCOMPARE(j["metrics_count"]["portability"].get<int>(), 2);
        QVERIFY(j["baseline"].contains("portability"));
        QVERIFY(j["records"][0]["edited"].contains("portability"));
        QVERIFY(!j["records"][2]["edited"].contains("portability"));
        // The unedited two-hop accuracy is the baseline records' old-beats-new share.
        double sum = 0;
        for (int i : {0, 1}) sum += *r.records[size_t(i)].baseline.portabilityOldScore();
        QVERIFY(std::abs(j["metrics"]["portability_unedited"].get<double>() - sum / 2) < 1e-12);
        const EvalRunSummary back = evalRunSummaryFromJson(j);
        QVERIFY(back.edited.find("portability") && back.edited.find("portability")->count == 2);

        const EvalResult r2 = evaluateEdits(*m, d, {2}, p);
        ctx.indices = {2};
        const json j2 = evalRunToJson(r2, d, p, ctx);
        QVERIFY(!j2["metrics"].contains("portability") && !j2["metrics"].contains("portability_unedited"));
        QVERIFY(!j2["baseline"].contains("portability"));
    }

    void malformedEntriesAreNamed() {
        auto expect = [](const std::string& entry, const QString& fragment) {
            const std::string text = R"([{"requested_rewrite": {"prompt": "{} is", "subject": "A",
                "target_new": {"str": "B"}, "target_true": {"str": "C"}}, "portability_prompts": )" + entry + "}]";
            try {
                parseDataset(text, "bad.json");
            } catch (const Error& e) {
                const QString msg = QString::fromStdString(e.what());
                QVERIFY2(msg.contains(fragment) && msg.contains(QStringLiteral("bad.json")), qPrintable(msg));
                qInfo("  error as expected: %s", e.what());
                return;
            }
            QFAIL(qPrintable("accepted " + QString::fromStdString(entry)));
        };
        expect(R"("x")", QStringLiteral("'portability_prompts' must be a list"));
        expect(R"([3])", QStringLiteral("portability_prompts[0]' must be an object"));
        expect(R"([{"prompt": "A is in", "new_answer": "B"}])", QStringLiteral("portability_prompts[0]' has no 'old_answer'"));
        expect(R"([{"prompt": "A is in", "new_answer": "", "old_answer": "C"}])",
               QStringLiteral("portability_prompts[0].new_answer' must be a non-empty string"));
        expect(R"([{"prompt": "A", "new_answer": "B", "old_answer": "C", "relation_id": 5}])",
               QStringLiteral("portability_prompts[0].relation_id"));
    }
};

QTEST_MAIN(TestPortability)
#include "test_portability.moc"
