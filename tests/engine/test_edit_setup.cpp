// The edit set-up and steps every front end shares (engine/edit/EditSetup.h,
// EditWorkflow.h): defaults -> overrides -> checks in that order, problems
// named by kind (EditProblem) without a front end's flag, and the workflow's
// scores / apply / undo checked against the same steps done by hand.
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditProblem.h"
#include "engine/edit/EditSetup.h"
#include "engine/edit/EditWorkflow.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/WeightDelta.h"
#include "test_edit_support.h"

using namespace kme;
using namespace edittest;
namespace fs = std::filesystem;

namespace {

void writeText(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// The EditSetupError of `f`, or a failure.
template <class F>
EditSetupError setupError(F f) {
    try {
        f();
    } catch (const EditSetupError& e) {
        return e;
    } catch (const std::exception& e) {
        qWarning("another error: %s", e.what());
    }
    return EditSetupError(static_cast<EditProblem>(-1), "none thrown");
}

std::string errorText(const std::function<void()>& f, ErrorKind* kind = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (kind) *kind = e.kind();
        return e.what();
    }
    return {};
}

}  // namespace

class TestEditSetup final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string plain_;     // a toy model folder without kme_edit_defaults.json
    std::string withDefaults_;  // the same weights with a defaults file, a corpus and demonstrations

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        plain_ = tmp_.filePath("plain").toStdString();
        trainToyModel(tmp_.filePath("scratch").toStdString(), plain_);
        withDefaults_ = tmp_.filePath("defaults").toStdString();
        fs::copy(plain_, withDefaults_, fs::copy_options::recursive);
        std::string corpus;
        for (const auto& t : toyCorpus(200, 3)) corpus += t + "\n\n";
        writeText(withDefaults_ + "/corpus.txt", corpus);
        writeText(withDefaults_ + "/facts.json",
                  R"([{"case_id": 0, "requested_rewrite": {"prompt": "The {} is located in", "subject": "Paris",
                       "target_new": {"str": "Italy"}, "target_true": {"str": "France"}}}])");
        writeText(withDefaults_ + "/" + kEditDefaultsFile, R"({
            "note": "test defaults",
            "rome": {"layers": [1], "v_num_grad_steps": 7, "kl_factor": 0.5},
            "memit": {"layers": [0, 1]},
            "stats_corpus": {"file": "corpus.txt"},
            "demonstrations": {"facts": "facts.json"}})");
    }

    // defaults (table, then the folder's file) -> a whole set -> a JSON object -> single values.
    void overridesApplyInOrder() {
        auto m = Model::load(withDefaults_);
        EditSetup s = setUpEdit(*m, EditMethod::Rome);
        QCOMPARE(s.params.hparams.layers, std::vector<int>({1}));
        QCOMPARE(s.params.hparams.vNumGradSteps, 7);
        QVERIFY2(s.layerSource.find(kEditDefaultsFile) != std::string::npos, s.layerSource.c_str());
        QVERIFY(!s.params.statsTexts.empty());  // the folder's corpus, read
        QCOMPARE(s.params.statsLabel.find("corpus.txt") != std::string::npos, true);
        // The same as the defaults the window shows (editDefaults) and defaultEditParams.
        QVERIFY(s.params.hparams == editDefaults(*m, EditMethod::Rome).hparams);
        QVERIFY(s.params.hparams == defaultEditParams(*m, EditMethod::Rome).hparams);

        EditOverrides o;
        EditHparams whole = editDefaults(*m, EditMethod::Rome).hparams;
        whole.vNumGradSteps = 9;
        whole.klFactor = 0.25;
        o.hparams = whole;
        o.hparamsJson = R"({"v_num_grad_steps": 11})";  // after the whole set
        o.hparamsSource = "ft.json";
        o.layers = std::vector<int>{2};
        o.steps = 4;  // after the JSON: the method's steps key (v_num_grad_steps)
        o.statsTokens = 1234;
        o.seed = 42;
        s = setUpEdit(*m, EditMethod::Rome, o);
        QCOMPARE(s.params.hparams.vNumGradSteps, 4);
        QCOMPARE(s.params.hparams.klFactor, 0.25);
        QCOMPARE(s.params.hparams.layers, std::vector<int>({2}));
        QCOMPARE(s.params.hparams.mom2Tokens, int64_t(1234));
        QCOMPARE(s.params.seed, uint64_t(42));
        QVERIFY(s.layerSource.empty());  // overridden: no longer the file's
        o.steps.reset();
        s = setUpEdit(*m, EditMethod::Rome, o);
        QCOMPARE(s.params.hparams.vNumGradSteps, 11);

        // A key of another method in the JSON: refused naming the key and the source.
        o.hparamsJson = R"({"lr": 0.1})";
        ErrorKind kind = ErrorKind::Internal;
        const std::string msg = errorText([&] { setUpEdit(*m, EditMethod::Rome, o); }, &kind);
        QVERIFY2(msg.find("lr") != std::string::npos && msg.find("ft.json") != std::string::npos, msg.c_str());
        QCOMPARE(int(kind), int(ErrorKind::Config));
        // A value out of range through --steps is refused, naming the step count.
        o.hparamsJson.reset();
        o.steps = 0;
        const std::string steps0 = errorText([&] { setUpEdit(*m, EditMethod::Rome, o); });
        QVERIFY2(steps0.find("step count") != std::string::npos, steps0.c_str());
        // A layer out of range is refused here, before any work.
        o.steps.reset();
        o.layers = std::vector<int>{9};
        const std::string layer9 = errorText([&] { setUpEdit(*m, EditMethod::Rome, o); });
        QVERIFY2(layer9.find("layer 9 is out of range") != std::string::npos, layer9.c_str());
    }

    void statisticsAndDemonstrations() {
        auto m = Model::load(withDefaults_);
        EditOverrides o;
        o.identityStatistics = true;
        EditSetup s = setUpEdit(*m, EditMethod::Memit, o);
        QVERIFY(!s.params.hparams.mom2Adjustment);
        QVERIFY(s.params.statsTexts.empty());  // not read at all
        // A corpus given as texts (a benchmark reads it once) or as a file replaces the folder's.
        o = {};
        o.statsCorpus = StatsCorpus{{"one text", "two texts"}, "given"};
        s = setUpEdit(*m, EditMethod::Memit, o);
        QCOMPARE(int(s.params.statsTexts.size()), 2);
        QCOMPARE(s.params.statsLabel, std::string("given"));
        o = {};
        o.statsCorpusFile = withDefaults_ + "/missing.txt";
        QVERIFY(!errorText([&] { setUpEdit(*m, EditMethod::Memit, o); }).empty());
        // A method without key statistics reads no corpus.
        EditOverrides grace;
        grace.layers = std::vector<int>{1};
        QVERIFY(setUpEdit(*m, EditMethod::Grace, grace).params.statsTexts.empty());
        // IKE draws demonstrations from the folder's fact file.
        s = setUpEdit(*m, EditMethod::Ike);
        QCOMPARE(int(s.params.demonstrations.size()), 1);
        QVERIFY(s.params.demonstrationsLabel.find("facts.json") != std::string::npos);
        QVERIFY(setUpEdit(*m, EditMethod::Rome).params.demonstrations.empty());
        QVERIFY(!setUpEdit(*m, EditMethod::Rome).params.statsTexts.empty());
    }

    // Problems a user remedies: kind and method, no front end's flag in the message.
    void problemsAreNamedNotRemedied() {
        auto m = Model::load(plain_);
        EditSetupError e = setupError([&] { setUpEdit(*m, EditMethod::Rome); });
        QCOMPARE(int(e.problem()), int(EditProblem::NoLayer));
        QCOMPARE(e.method(), std::string("rome"));
        QVERIFY2(std::string(e.what()).find("no default rome layer") != std::string::npos, e.what());
        EditOverrides o;
        o.layers = std::vector<int>{1};
        e = setupError([&] { setUpEdit(*m, EditMethod::Rome, o); });
        QCOMPARE(int(e.problem()), int(EditProblem::NoStatsCorpus));
        QCOMPARE(e.method(), std::string("rome"));
        for (const auto& err : {setupError([&] { setUpEdit(*m, EditMethod::Rome); }), e})
            QVERIFY2(std::string(err.what()).find("--") == std::string::npos, err.what());
        // The window's choice: C = identity, said in the notes.
        o.missingCorpus = EditOverrides::MissingCorpus::Identity;
        EditSetup s = setUpEdit(*m, EditMethod::Rome, o);
        QVERIFY(!s.params.hparams.mom2Adjustment);
        QCOMPARE(int(s.notes.size()), 1);
        // Layers left to computeEdit (a caller choosing them later).
        o = {};
        o.requireLayers = false;
        o.identityStatistics = true;
        QVERIFY(setUpEdit(*m, EditMethod::Rome, o).params.hparams.layers.empty());
        // Steps for a method without steps: refused alone, ignored among several methods.
        o = {};
        o.steps = 3;
        e = setupError([&] { setUpEdit(*m, EditMethod::Ike, o); });
        QCOMPARE(int(e.problem()), int(EditProblem::NoSteps));
        o.stepsWhereKnown = true;
        QCOMPARE(setUpEdit(*m, EditMethod::Ike, o).params.hparams, setUpEdit(*m, EditMethod::Ike).params.hparams);
    }

    // compute -> apply -> undo against the same steps by hand.
    void workflowMatchesTheStepsByHand() {
        auto m = Model::load(withDefaults_);
        EditOverrides o;
        o.identityStatistics = true;
        o.steps = 5;
        EditParams p = setUpEdit(*m, EditMethod::Rome, o).params;
        EditRequest r = request("Tokyo", "Italy");
        r.targetTrue = "Japan";
        p.requests = {r};
        const std::string original = m->stateHash();
        const double pNewBefore = targetProbability(*m, "The Tokyo is located in", " Italy");
        const double pTrueBefore = targetProbability(*m, "The Tokyo is located in", " Japan");

        EditStack stack(*m);
        EditOutcome out = computeScoredEdit(*m, p, &stack);
        QCOMPARE(m->stateHash(), original);  // computing leaves the model as it was
        QCOMPARE(out.stateHashBefore, original);
        QCOMPARE(out.params.requests.front().targetNew, std::string(" Italy"));  // normalized
        QCOMPARE(int(out.before.size()), 1);
        qInfo("before: p(new) %.6g vs %.6g by hand, p(true) %.6g vs %.6g", out.before[0].pNew, pNewBefore,
              *out.before[0].pTrue, pTrueBefore);
        QCOMPARE(out.before[0].pNew, pNewBefore);
        QCOMPARE(*out.before[0].pTrue, pTrueBefore);
        // The same delta as computeEdit on the same parameters (deterministic on one model).
        EditParams byHand = p;
        byHand.requests = {normalizedRequest(r)};
        const EditResult direct = computeEdit(*m, byHand);
        QCOMPARE(direct.delta.parts.size(), out.result.delta.parts.size());
        double maxDiff = 0;
        for (size_t i = 0; i < direct.delta.parts.size(); ++i) {
            const DeltaMatrix a = direct.delta.parts[i].materialize(), b = out.result.delta.parts[i].materialize();
            QCOMPARE(a.data.size(), b.data.size());
            for (size_t k = 0; k < a.data.size(); ++k) maxDiff = std::max(maxDiff, std::abs(a.data[k] - b.data[k]));
        }
        qInfo("delta: max |workflow - computeEdit| = %g", maxDiff);
        QCOMPARE(maxDiff, 0.0);

        applyScoredEdit(stack, out);
        QVERIFY(out.applied);
        QVERIFY(out.stateHashAfter != original);
        QCOMPARE(out.stateHashAfter, m->stateHash());
        const double pNewAfter = targetProbability(*m, "The Tokyo is located in", " Italy");
        QCOMPARE(out.after[0].pNew, pNewAfter);
        qInfo("p(Italy) %.4g -> %.4g", pNewBefore, pNewAfter);
        QVERIFY2(pNewAfter > pNewBefore, "premise: the edit raises p(new)");
        // Applying twice is refused; undo gives back the original state.
        QVERIFY(!errorText([&] { applyScoredEdit(stack, out); }).empty());
        stack.revertAll();
        QCOMPARE(m->stateHash(), original);

        // A bad request is refused before any work, naming it.
        p.requests = {request("Tokyo", "Italy", "Where is it")};
        const std::string bad = errorText([&] { computeScoredEdit(*m, p, &stack); });
        QVERIFY2(bad.find("Where is it") != std::string::npos, bad.c_str());
        p.requests.clear();
        QVERIFY(!errorText([&] { computeScoredEdit(*m, p, nullptr); }).empty());
    }
};

QTEST_MAIN(TestEditSetup)
#include "test_edit_setup.moc"
