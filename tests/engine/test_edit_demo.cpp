// ROME on the committed demo model with its own defaults (layer and key
// statistics from projects/demo/model/kme_edit_defaults.json): the edited
// fact flips, its paraphrases follow, the record's neighbours keep their
// answers, the v* loss falls, and reverting restores the weights hash.
#include <QtTest>

#include "engine/core/Paths.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"

using namespace kme;

namespace {

std::string top1(const Model& m, const std::string& prompt) {
    return m.topNext(m.encodePrompt(prompt), 1).front().token;
}

const FactRecord& record(const Dataset& d, const std::string& subject) {
    for (const auto& r : d.records)
        if (r.subject == subject) return r;
    throw std::runtime_error("no record for " + subject);
}

}  // namespace

class TestEditDemo final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void romeOnTheDemoModel() {
        const std::string folder = demoModelFolder();
        if (folder.empty()) QSKIP("no demo project");
        auto model = Model::load(folder);
        const Dataset facts = loadDataset(demoProjectFolder() + "/facts.json");
        const FactRecord& fact = record(facts, "Colosseum");

        EditParams p = defaultEditParams(*model, EditMethod::Rome);
        QCOMPARE(p.hparams.layers, std::vector<int>{1});  // the demo's recorded layer
        QVERIFY(!p.statsTexts.empty());
        EditRequest r = requestFromFact(fact);
        r.targetNew = " Paris";  // a city the model knows (San Francisco's first token is shared)
        p.requests = {r};

        const std::string hash = model->weightsHash();
        QCOMPARE(top1(*model, fact.filledPrompt()), std::string(" Rome"));
        std::vector<std::string> neighboursBefore;
        for (const auto& n : fact.neighborhoodPrompts) neighboursBefore.push_back(top1(*model, n));

        const EditResult result = computeEdit(*model, p);
        QCOMPARE(model->weightsHash(), hash);  // computing leaves the weights alone
        const auto& losses = result.requests.front().losses;
        qInfo("v* loss %.4f -> %.4f in %zu steps; statistics: %lld tokens (%s)", losses.front(), losses.back(),
              losses.size(), (long long)result.stats.front().tokens, p.statsLabel.c_str());
        QVERIFY(losses.back() < 0.5 * losses.front());

        EditStack stack(*model);
        stack.apply(result.delta);
        QCOMPARE(top1(*model, fact.filledPrompt()), std::string(" Paris"));
        int paraphrases = 0;
        for (const auto& q : fact.paraphrasePrompts) paraphrases += top1(*model, q) == " Paris";
        qInfo("paraphrases answering Paris: %d of %zu", paraphrases, fact.paraphrasePrompts.size());
        QVERIFY(paraphrases >= 2);
        int kept = 0;
        for (size_t i = 0; i < fact.neighborhoodPrompts.size(); ++i) {
            const std::string now = top1(*model, fact.neighborhoodPrompts[i]);
            qInfo("neighbour %s: %s -> %s", fact.neighborhoodPrompts[i].c_str(), neighboursBefore[i].c_str(), now.c_str());
            kept += now == neighboursBefore[i];
        }
        QCOMPARE(kept, int(fact.neighborhoodPrompts.size()));

        stack.revertAll();
        QCOMPARE(model->weightsHash(), hash);
        QCOMPARE(top1(*model, fact.filledPrompt()), std::string(" Rome"));
    }
};

QTEST_GUILESS_MAIN(TestEditDemo)
#include "test_edit_demo.moc"
