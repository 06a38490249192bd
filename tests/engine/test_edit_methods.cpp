// The edit methods on a toy model trained in the test: ROME flips its fact
// and leaves the others, MEMIT writes several facts over a layer range, FT-L
// stays inside its L-infinity ball; hyper-parameters and context templates.
#include <QtTest>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>

#include "engine/edit/EditMethod.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/WeightDelta.h"
#include "test_edit_support.h"

using namespace kme;
using namespace edittest;

namespace {

double seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

class TestEditMethods final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

    // Top-1 of every toy fact prompt.
    std::vector<std::string> answers(const Model& m) {
        std::vector<std::string> out;
        for (const auto& f : toyFacts()) out.push_back(top1(m, "The " + std::string(f.subject) + " is located in"));
        return out;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(dir("cache")));
        initComputeRuntime(2);
        const auto t0 = std::chrono::steady_clock::now();
        const double loss = trainToyModel(dir("toy-scratch"), dir("toy"));
        auto m = Model::load(dir("toy"));
        const auto a = answers(*m);
        qInfo("toy model trained in %.2f s, loss %.4f; answers %s|%s|%s|%s", seconds(t0), loss, a[0].c_str(),
              a[1].c_str(), a[2].c_str(), a[3].c_str());
        for (size_t i = 0; i < a.size(); ++i) QCOMPARE(a[i], std::string(toyFacts()[i].answer));
    }

    void romeFlipsItsFactOnly() {
        auto m = Model::load(dir("toy"));
        EditParams p;
        p.requests = {request("Tokyo", "Italy")};
        p.requests[0].targetTrue = " Japan";
        p.hparams = defaultHparams(EditMethod::Rome, m->config());
        p.hparams.layers = {0};
        p.statsTexts = toyCorpus(300, 5);
        const double before = targetProbability(*m, "The Tokyo is located in", " Italy");
        const auto t0 = std::chrono::steady_clock::now();
        const EditResult r = computeEdit(*m, p);
        const double took = seconds(t0);
        const auto& rep = r.requests[0];
        EditStack stack(*m);
        stack.apply(r.delta);
        const double after = targetProbability(*m, "The Tokyo is located in", " Italy");
        const auto a = answers(*m);
        qInfo("ROME (layer 0, %zu context templates) in %.2f s: v* loss %.4f -> %.4f in %zu passes (nll %.4f -> %.4f); "
              "p(Italy | Tokyo) %.4f -> %.4f; |delta| %.4f; answers now %s|%s|%s|%s",
              r.contextTemplates.size() == 2 ? r.contextTemplates[1].size() + 1 : 0, took, rep.losses.front(),
              rep.losses.back(), rep.losses.size(), rep.nllInit, rep.nllFinal, before, after,
              r.delta.parts[0].norm(), a[0].c_str(), a[1].c_str(), a[2].c_str(), a[3].c_str());
        QVERIFY(rep.losses.back() < rep.losses.front());  // the v* loss falls
        QVERIFY(rep.nllFinal < rep.nllInit);
        QCOMPARE(a[0], std::string(" Italy"));           // flipped
        QCOMPARE(a[1], std::string(" France"));          // the others keep theirs
        QCOMPARE(a[2], std::string(" Italy"));
        QCOMPARE(a[3], std::string(" Europe"));
        QCOMPARE(r.layers, std::vector<int>{0});
        QCOMPARE(r.delta.tensors(), std::vector<std::string>{"h.0.mlp.c_proj.weight"});
    }

    void memitWritesThreeFacts() {
        auto m = Model::load(dir("toy"));
        EditParams p;
        p.method = EditMethod::Memit;
        p.requests = {request("Tokyo", "France"), request("Paris", "Europe"), request("Thames", "Japan")};
        p.hparams = defaultHparams(EditMethod::Memit, m->config());
        p.hparams.layers = {0, 1};
        // The toy's own MEMIT hparams (as kmeng01/memit has one file per model):
        // lambda for its key scale (GPT-2 XL: 20000), ROME's clamp (XL: 0.75).
        p.hparams.mom2UpdateWeight = 1.0;
        p.hparams.clampNormFactor = 4.0;
        p.statsTexts = toyCorpus(300, 5);
        const auto t0 = std::chrono::steady_clock::now();
        const EditResult r = computeEdit(*m, p);
        const double took = seconds(t0);
        QCOMPARE(r.layers, (std::vector<int>{0, 1}));
        QCOMPARE(r.delta.tensors(), (std::vector<std::string>{"h.0.mlp.c_proj.weight", "h.1.mlp.c_proj.weight"}));
        for (const auto& part : r.delta.parts) QCOMPARE(part.rank(), int64_t(3));
        EditStack stack(*m);
        stack.apply(r.delta);
        const auto a = answers(*m);
        qInfo("MEMIT 3 requests, layers 0-1, lambda %g, clamp 4, in %.2f s: z losses %.3f->%.3f, %.3f->%.3f, %.3f->%.3f; "
              "|delta| %.4f, %.4f; answers now %s|%s|%s|%s",
              p.hparams.mom2UpdateWeight, took, r.requests[0].losses.front(), r.requests[0].losses.back(), r.requests[1].losses.front(),
              r.requests[1].losses.back(), r.requests[2].losses.front(), r.requests[2].losses.back(),
              r.delta.parts[0].norm(), r.delta.parts[1].norm(), a[0].c_str(), a[1].c_str(), a[2].c_str(), a[3].c_str());
        QCOMPARE(a[0], std::string(" France"));
        QCOMPARE(a[1], std::string(" Europe"));
        QCOMPARE(a[2], std::string(" Italy"));  // not edited
        QCOMPARE(a[3], std::string(" Japan"));
    }

    void ftlStaysInItsBall() {
        auto m = Model::load(dir("toy"));
        EditParams p;
        p.method = EditMethod::FtL;
        p.requests = {request("Tokyo", "Italy")};
        p.hparams = defaultHparams(EditMethod::FtL, m->config());
        p.hparams.layers = {1};
        const auto snap = snapshot(*m);
        const EditResult r = computeEdit(*m, p);
        QVERIFY(sameBytes(snapshot(*m), snap));  // computing leaves the model as it was
        QCOMPARE(r.delta.tensors(), (std::vector<std::string>{"h.1.mlp.c_proj.weight", "h.1.mlp.c_proj.bias"}));
        double stored = 0;
        for (const auto& part : r.delta.parts) {
            QVERIFY(part.kind == TensorDelta::Kind::Dense);
            for (double x : part.dense.data) stored = std::max(stored, std::abs(x));
        }
        EditStack stack(*m);
        stack.apply(r.delta);
        double live = 0;
        for (const auto& name : r.delta.tensors())
            live = std::max(live, (m->transformer().tensor(name).to(at::kDouble) - snap.at(name).to(at::kDouble))
                                      .abs().max().item<double>());
        const auto& rep = r.requests[0];
        qInfo("FT-L (25 steps, lr 5e-4, eps 5e-4): loss %.4f -> %.4f; max |delta| stored %.6g, live %.6g",
              rep.losses.front(), rep.losses.back(), stored, live);
        QVERIFY(stored <= 5e-4);
        QVERIFY(live <= 5e-4 + 1e-7);
        QVERIFY(stored > 4e-4);  // it moved up to the bound
        QVERIFY(rep.losses.back() < rep.losses.front());
        // A wider ball lets it flip the fact.
        p.hparams.ftNormConstraint = 5e-2;
        p.hparams.ftLr = 5e-3;
        stack.revertAll();
        stack.apply(computeEdit(*m, p).delta);
        qInfo("FT-L with eps 5e-2, lr 5e-3: Tokyo -> %s", top1(*m, "The Tokyo is located in").c_str());
    }

    void cancelLeavesTheModelAsItWas() {
        auto m = Model::load(dir("toy"));
        const auto snap = snapshot(*m);
        for (EditMethod method : {EditMethod::Rome, EditMethod::Memit, EditMethod::FtL}) {
            EditParams p;
            p.method = method;
            p.requests = {request("Tokyo", "France"), request("Paris", "Japan")};
            p.hparams = defaultHparams(method, m->config());
            p.hparams.layers = {0, 1};
            p.statsTexts = toyCorpus(100, 2);
            double last = -1, share = 0;
            int calls = 0;
            bool monotone = true;
            QVERIFY_EXCEPTION_THROWN(computeEdit(*m, p,
                                                 [&](double done, double total) -> bool {
                                                     monotone = monotone && done >= last && done <= total;
                                                     last = done;
                                                     share = done / total;
                                                     ++calls;
                                                     return share <= 0.97;  // stop late: temporary edits are in place
                                                 }),
                                     Cancelled);
            QVERIFY(sameBytes(snapshot(*m), snap));
            QVERIFY(monotone);
            qInfo("%s cancelled after %d progress calls (%.0f%%)", editMethodName(method), calls, 100 * share);
        }
    }

    void hparamsDefaultsAndOverrides() {
        ModelConfig xl;
        xl.nLayer = 48;
        xl.nEmbd = 1600;
        xl.vocabSize = 50257;
        QCOMPARE(knownModelName(xl), std::string("gpt2-xl"));
        QCOMPARE(defaultHparams(EditMethod::Rome, xl).layers, std::vector<int>{17});
        const EditHparams memit = defaultHparams(EditMethod::Memit, xl);
        QCOMPARE(memit.layers, (std::vector<int>{13, 14, 15, 16, 17}));
        QCOMPARE(memit.mom2UpdateWeight, 20000.0);
        QCOMPARE(memit.clampNormFactor, 0.75);
        ModelConfig medium = xl;
        medium.nLayer = 24;
        medium.nEmbd = 1024;
        QCOMPARE(defaultHparams(EditMethod::Rome, medium).layers, std::vector<int>{8});
        QCOMPARE(defaultHparams(EditMethod::Rome, medium).clampNormFactor, 3.0);
        medium.nLayer = 36;
        medium.nEmbd = 1280;
        QCOMPARE(defaultHparams(EditMethod::Rome, medium).layers, std::vector<int>{12});
        QVERIFY(defaultHparams(EditMethod::Rome, toyConfig()).layers.empty());
        const EditHparams rome = defaultHparams(EditMethod::Rome, xl);
        QCOMPARE(rome.vNumGradSteps, 20);
        QCOMPARE(rome.vLr, 0.5);
        QCOMPARE(rome.klFactor, 0.0625);
        QCOMPARE(rome.vWeightDecay, 0.5);
        QCOMPARE(rome.clampNormFactor, 4.0);
        const EditHparams ft = defaultHparams(EditMethod::FtL, xl);
        QCOMPARE(ft.ftSteps, 25);
        QCOMPARE(ft.ftLr, 5e-4);
        QCOMPARE(ft.ftNormConstraint, 5e-4);

        // kmeng01/rome's own hparams file is accepted as it is.
        EditHparams h = rome;
        applyHparamsJson(h, EditMethod::Rome, R"({"layers": [5], "fact_token": "subject_last", "v_num_grad_steps": 7, "v_lr": 0.1,
            "v_loss_layer": 47, "v_weight_decay": 0.25, "clamp_norm_factor": 2, "kl_factor": 0.5,
            "mom2_adjustment": false, "context_template_length_params": [[5, 10], [10, 10]],
            "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "mom2_dataset": "wikipedia",
            "mom2_n_samples": 500, "mom2_dtype": "float32"})", "rome.json");
        QCOMPARE(h.layers, std::vector<int>{5});
        QCOMPARE(h.vNumGradSteps, 7);
        QCOMPARE(h.vLr, 0.1);
        QCOMPARE(h.clampNormFactor, 2.0);
        QCOMPARE(h.mom2Adjustment, false);
        QCOMPARE(h.mom2Samples, 500);
        QCOMPARE(h.contextLengths.size(), size_t(2));
        applyHparamsJson(h, EditMethod::Rome, R"({"context_templates": "rome"})", "x.json");
        QCOMPARE(h.contextStarts, std::vector<std::string>{"<|endoftext|>"});
        expectError([&] { applyHparamsJson(h, EditMethod::Rome, R"({"v_lrr": 1})", "typo.json"); }, {"typo.json", "unknown", "v_lrr"}, ErrorKind::Config);
        expectError([&] { applyHparamsJson(h, EditMethod::Rome, R"({"v_lr": "fast"})", "t.json"); }, {"v_lr must be a number"}, ErrorKind::Config);
        expectError([&] { applyHparamsJson(h, EditMethod::Rome, R"({"layers": []})", "t.json"); }, {"layers"}, ErrorKind::Config);
        expectError([&] { applyHparamsJson(h, EditMethod::Rome, R"({"fact_token": "last"})", "t.json"); }, {"subject_last"}, ErrorKind::Config);
        expectError([&] { applyHparamsJson(h, EditMethod::Rome, "[1]", "t.json"); }, {"JSON object"}, ErrorKind::Config);
        EditHparams round = rome;
        applyHparamsJson(round, EditMethod::Rome, hparamsToJson(h, EditMethod::Rome), "round trip");
        QCOMPARE(round.vNumGradSteps, h.vNumGradSteps);
        QCOMPARE(round.contextStarts, h.contextStarts);
    }

    void contextTemplatesAreSeededAndCached() {
        auto m = Model::load(dir("toy"));
        const EditHparams h = defaultHparams(EditMethod::Rome, m->config());
        const auto a = contextTemplates(*m, h, 1);
        QCOMPARE(a.size(), size_t(2));
        QCOMPARE(a[0], std::vector<std::string>{"{}"});
        QCOMPARE(a[1].size(), size_t(5));  // 5 starts x (5 / 5)
        for (const auto& t : a[1]) {
            QVERIFY(t.size() > 4 && t.compare(t.size() - 4, 4, ". {}") == 0);
            QCOMPARE(t.find('{'), t.size() - 2);
        }
        QVERIFY(a[1][0].rfind("The", 0) == 0 && a[1][1].rfind("Therefore", 0) == 0);
        qInfo("context templates: '%s' | '%s'", a[1][0].c_str(), a[1][4].c_str());
        QCOMPARE(contextTemplates(*m, h, 1), a);                    // memory
        QCOMPARE(contextTemplates(*Model::load(dir("toy")), h, 1), a);  // same weights, same templates
        const auto b = contextTemplates(*m, h, 2);
        QVERIFY(b != a);  // another seed
        EditHparams rome = h;
        applyHparamsJson(rome, EditMethod::Rome, R"({"context_templates": "rome"})", "preset");
        const auto c = contextTemplates(*m, rome, 1);
        QCOMPARE(c.size(), size_t(3));
        QCOMPARE(c[1].size(), size_t(10));
        QCOMPARE(c[2].size(), size_t(10));
    }
};

QTEST_GUILESS_MAIN(TestEditMethods)
#include "test_edit_methods.moc"
