// The demo project: the fact file is well-formed, a micro train-demo run
// learns a handful of facts, and the committed demo model meets its bar.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/demo/DemoCorpus.h"
#include "engine/demo/DemoTrainer.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"

using namespace kme;
using json = nlohmann::json;
namespace fs = std::filesystem;

class TestDemoProject final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() { initComputeRuntime(2); }

    void factFileIsWellFormed() {
        const std::string project = demoProjectFolder();
        QVERIFY(!project.empty());
        const Dataset d = loadDataset(project + "/facts.json");
        QVERIFY(d.records.size() >= 300);
        std::set<std::string> relations;
        std::map<std::string, std::set<std::string>> objectsByRelation;
        for (const auto& r : d.records) {
            relations.insert(r.relationId);
            objectsByRelation[r.relationId].insert(r.targetTrue);
            QVERIFY2(r.prompt.find("{}") != std::string::npos, r.prompt.c_str());
            QVERIFY(r.targetNew != r.targetTrue);
            QVERIFY(r.paraphrasePrompts.size() >= 2);
            QVERIFY(r.neighborhoodPrompts.size() >= 3);
            QVERIFY(r.generationPrompts.size() >= 2);
            for (const auto& n : r.neighborhoodPrompts)
                QVERIFY2(n.find(r.subject) == std::string::npos, (r.subject + " in neighbour: " + n).c_str());
            for (size_t i = 0; i < r.neighborhoodAnswers.size(); ++i)
                QVERIFY(r.neighborhoodAnswers[i] != r.targetTrue);
        }
        QVERIFY(relations.size() >= 10);
        // Objects are shared across subjects: most relations have fewer objects than facts.
        int shared = 0;
        for (const auto& [rel, objects] : objectsByRelation) {
            int facts = 0;
            for (const auto& r : d.records) facts += r.relationId == rel;
            shared += int(objects.size()) < facts;
        }
        qInfo("%zu records, %zu relations, %d relations with shared objects", d.records.size(), relations.size(), shared);
        QVERIFY(shared >= 8);
        // The corpus description loads and mentions every fact's subject.
        const DemoCorpus corpus = DemoCorpus::load(project + "/corpus.json");
        std::set<std::string> names;
        for (const auto& s : corpus.subjects()) names.insert(s.name);
        for (const auto& r : d.records) QVERIFY2(names.count(r.subject), r.subject.c_str());
    }

    void heldOutParaphrasesNeverReachTraining() {
        const std::string project = demoProjectFolder();
        const Dataset d = loadDataset(project + "/facts.json");
        const DemoCorpus corpus = DemoCorpus::load(project + "/corpus.json");
        std::mt19937_64 rng(1);
        const CorpusRecipe recipe = corpus.defaultRecipe();
        std::string text;
        for (int i = 0; i < 20000; ++i) text += corpus.generate(rng, recipe).text + "\n";
        int leaked = 0;
        for (const auto& r : d.records)
            for (const auto& p : r.paraphrasePrompts) leaked += text.find(p) != std::string::npos;
        qInfo("held-out paraphrase prompts found in 20000 generated documents: %d", leaked);
        QCOMPARE(leaked, 0);
    }

    void microTrainingLearnsAHandfulOfFacts() {
        // A five-subject project, a 2-layer model, a few hundred steps.
        const std::string project = tmp_.path().toStdString() + "/project";
        fs::create_directories(project);
        json corpus = {
            {"relations",
             {{"C", {{"train", {"The capital of {subject} is {object}.", "{subject} has its capital in {object}."}}}},
              {"L", {{"train", {"The language of {subject} is {object}.", "In {subject} people speak {object}."}}}}}},
            {"subjects", json::array()},
            {"paragraph_openers", {{"country", {"Let us talk about {subject}."}}}},
            {"connectors", {"", "Also, "}},
            {"pronouns", {{"it", {"It", "it", "its"}}}},
            {"filler", {"The sun rises in the east.", "We read a book."}}};
        const std::vector<std::array<std::string, 3>> kb = {{"Zorland", "Pim", "Zorish"},
                                                            {"Quexia", "Tal", "Quexan"},
                                                            {"Morvia", "Drun", "Zorish"},
                                                            {"Velonia", "Pim", "Velan"},
                                                            {"Astrid", "Kol", "Quexan"}};
        json facts = json::array();
        for (size_t i = 0; i < kb.size(); ++i) {
            corpus["subjects"].push_back({{"name", kb[i][0]}, {"kind", "country"}, {"article", ""}, {"pronoun", "it"},
                                          {"attributes", {{"C", kb[i][1]}, {"L", kb[i][2]}}}});
            facts.push_back({{"case_id", i},
                             {"requested_rewrite",
                              {{"prompt", "The capital of {} is"}, {"relation_id", "C"}, {"subject", kb[i][0]},
                               {"target_new", {{"str", kb[(i + 1) % kb.size()][1]}}},
                               {"target_true", {{"str", kb[i][1]}}}}},
                             {"paraphrase_prompts", {kb[i][0] + " has its capital in"}}});
        }
        std::ofstream(project + "/corpus.json") << corpus.dump();
        std::ofstream(project + "/facts.json") << facts.dump();
        TrainDemoParams p;
        p.projectDir = project;
        p.outDir = tmp_.path().toStdString() + "/micro-model";
        p.nLayer = 2;
        p.nHead = 2;
        p.nEmbd = 64;
        p.context = 32;
        p.batch = 16;
        p.lr = 3e-3;
        p.steps = 300;
        p.warmup = 30;
        p.bpeMerges = 60;
        p.bpeDocs = 2000;
        p.corpusTokens = 40000;
        p.evalEvery = 1000;
        p.recipe = CorpusRecipe{};
        p.recipe->mix = {{"fact", 3}, {"bio", 2}, {"filler", 1}};
        p.maskFraction = 0.3;
        const TrainDemoResult r = trainDemo(p, {});
        qInfo("micro train-demo: %d steps in %.1f s, loss %.3f, facts %d/%d, paraphrases %d/%d", r.steps, r.seconds,
              r.finalLoss, r.quality.factsCorrect, r.quality.facts, r.quality.paraphrasesCorrect, r.quality.paraphrases);
        QVERIFY(r.quality.factsCorrect >= 4);
        // The result is an ordinary model folder.
        auto m = Model::load(p.outDir);
        QCOMPARE(m->config().nLayer, 2);
        QVERIFY(!fs::exists(p.outDir + "/checkpoint"));
    }

    void committedDemoModelMeetsItsBar() {
        const std::string folder = demoModelFolder();
        if (folder.empty()) QSKIP("no demo model committed yet (projects/demo/model)");
        auto m = Model::load(folder);
        const DemoQuality q = evaluateDemoQuality(*m, loadDataset(demoProjectFolder() + "/facts.json"));
        qInfo("demo model: facts %d/%d = %.1f%%, held-out paraphrases %d/%d = %.1f%%", q.factsCorrect, q.facts,
              100 * q.factAccuracy(), q.paraphrasesCorrect, q.paraphrases, 100 * q.paraphraseAccuracy());
        QVERIFY(q.factAccuracy() >= 0.95);
        QVERIFY(q.paraphraseAccuracy() >= 0.60);
    }

    void hostileCorpusFiles() {
        const std::string dir = tmp_.path().toStdString();
        auto expect = [&](const std::string& text, const QString& fragment) {
            const std::string path = dir + "/bad-corpus.json";
            std::ofstream(path) << text;
            try {
                DemoCorpus::load(path);
                QFAIL("no error");
            } catch (const kme::Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
                QVERIFY(QString(e.what()).contains("bad-corpus.json"));
            }
        };
        expect("{", "not valid JSON");
        expect("{}", "unexpected structure");
        expect(R"({"relations":{"C":{"train":["no placeholders"]}},"subjects":[]})", "lacks");
        expect(R"({"relations":{"C":{"train":["{subject} {object}"]}},"subjects":[{"name":"X","kind":"k","attributes":{"Q":"y"}}]})",
               "unknown relation");
    }
};

QTEST_GUILESS_MAIN(TestDemoProject)
#include "test_demo_project.moc"
