// Knowledge neurons (engine/trace/NeuronAttribution, the KN edit): the
// integrated-gradient completeness as the steps grow, one step against a hand
// computation (finite differences of tests/engine/NaiveGpt2.h's plain
// forward pass), every family of the architecture table, KN-D's selection
// rule, and the KN edit changing only the chosen value vectors. Every
// comparison prints its numbers.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "engine/trace/NeuronAttribution.h"
#include "tests/engine/NaiveGpt2.h"

using namespace kme;

namespace {

// A random model whose predictions are far from uniform (test_trace's
// habit: weights scaled up), in float64.
std::shared_ptr<Model> sharpModel(const std::string& folder, const ModelConfig& c, uint64_t seed) {
    writeRandomModelFolder(folder, c, seed);
    LoadOptions o;
    o.float64 = true;
    auto m = Model::load(folder, o);
    at::NoGradGuard g;
    for (const auto& [name, t] : std::map<std::string, at::Tensor>(m->transformer().tensors()))
        if (t.dim() == 2) m->transformer().setTensor(name, t * 6.0);
    const std::string lnf = tensorName(c.arch, TensorRole::OutNormW);
    m->transformer().setTensor(lnf, m->transformer().tensor(lnf) * 15.0);
    return m;
}

ModelConfig smallGpt2() {
    ModelConfig c;
    c.nLayer = 3;
    c.nHead = 2;
    c.nEmbd = 16;
    c.nInner = 48;
    c.nPositions = 48;
    c.vocabSize = 300;
    return c;
}

naive::Weights naiveWeights(const Transformer& m) {
    naive::Weights w;
    const auto& c = m.config();
    w.nLayer = c.nLayer;
    w.nHead = c.nHead;
    w.nEmbd = c.nEmbd;
    w.nInner = int(c.nInner);
    w.vocab = c.vocabSize;
    w.eps = c.layerNormEps;
    for (const auto& [name, t] : m.tensors()) {
        at::Tensor d = t.to(at::kDouble).contiguous();
        w.t[name] = naive::Vec(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
    }
    return w;
}

double softmaxAt(const naive::Vec& logits, int id) {
    double mx = -1e300, z = 0;
    for (double v : logits) mx = std::max(mx, v);
    for (double v : logits) z += std::exp(v - mx);
    return std::exp(logits[size_t(id)] - mx) / z;
}

const char* kPrompt = "The old man said that the river";

}  // namespace

class TestNeurons final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void initTestCase() { initComputeRuntime(1); }  // tiny models: threads only add overhead

    void completenessGapShrinksWithSteps() {
        // sum_i IG_i of a layer -> p(answer | a) - p(answer | 0) as m grows (a
        // Riemann sum of the path integral: the gap is O(1/m)).
        auto m = sharpModel(dir("complete"), smallGpt2(), 3);
        double worst20 = 0, worst200 = 0, largest = 0;
        for (int steps : {20, 200}) {
            NeuronParams p;
            p.prompt = kPrompt;
            p.steps = steps;
            const NeuronResult r = knowledgeNeurons(*m, p);
            for (const auto& la : r.prompts[0].layers) {
                qInfo("m=%3d layer %d: sum(IG) %+.6f  p(a)-p(0) %+.6f  gap %+.2e", steps, la.layer, la.sum,
                      la.pClean - la.pBaseline, la.gap());
                (steps == 20 ? worst20 : worst200) = std::max(steps == 20 ? worst20 : worst200, std::abs(la.gap()));
                largest = std::max(largest, std::abs(la.pClean - la.pBaseline));
            }
        }
        qInfo("largest |gap|: m=20 %.3e, m=200 %.3e (largest |p(a)-p(0)| %.4f)", worst20, worst200, largest);
        QVERIFY2(largest > 0.05, "the premise: some layer's key moves p(answer) visibly");
        QVERIFY(worst200 < worst20 / 5);
        QVERIFY(worst200 < 0.02 * largest);  // ~1% on this steep (scaled-up) model
    }

    void oneStepMatchesAHandComputation() {
        // steps = 1: left rule = a_i * dp/dx_i at x = 0 (KN-D's first point),
        // right rule = a_i * dp/dx_i at x = a; the gradient by central
        // differences of the plain forward pass with the layer's key replaced.
        auto m = sharpModel(dir("hand"), smallGpt2(), 5);
        const naive::Weights w = naiveWeights(m->transformer());
        for (NeuronRiemann rule : {NeuronRiemann::Left, NeuronRiemann::Right}) {
            NeuronParams p;
            p.prompt = kPrompt;
            p.steps = 1;
            p.riemann = rule;
            p.layers = {1};
            const NeuronResult r = knowledgeNeurons(*m, p);
            const std::vector<int>& ids = r.prompts[0].ids;
            const int T = int(ids.size()), L = 1, answer = r.answerId;
            naive::Vec a;
            naive::forward(w, ids, [&](const std::string& site, int l, int pos, naive::Vec& v) {
                if (site == "key" && l == L && pos == T - 1) a = v;
            });
            auto probWith = [&](const naive::Vec& x) {
                const naive::Mat logits = naive::forward(w, ids, [&](const std::string& site, int l, int pos, naive::Vec& v) {
                    if (site == "key" && l == L && pos == T - 1) v = x;
                });
                return softmaxAt(logits[size_t(T - 1)], answer);
            };
            const naive::Vec at0 = rule == NeuronRiemann::Left ? naive::Vec(a.size(), 0.0) : a;
            const double h = 1e-5;
            double diff = 0, scale = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                naive::Vec up = at0, down = at0;
                up[i] += h;
                down[i] -= h;
                const double hand = a[i] * (probWith(up) - probWith(down)) / (2 * h);
                diff = std::max(diff, std::abs(hand - r.prompts[0].scores[size_t(L)][i]));
                scale = std::max(scale, std::abs(hand));
            }
            qInfo("steps=1 %s rule, layer %d: max |engine - hand| %.3e (largest |score| %.3e)", neuronRiemannName(rule),
                  L, diff, scale);
            QVERIFY(scale > 1e-4);
            QVERIFY(diff <= 1e-6 * std::max(1.0, scale));
        }
    }

    void batchPiecesGiveTheSameScores() {
        auto m = sharpModel(dir("batch"), smallGpt2(), 3);
        NeuronParams p;
        p.prompt = kPrompt;
        p.steps = 7;
        const NeuronResult whole = knowledgeNeurons(*m, p);
        p.batch = 3;
        const NeuronResult pieces = knowledgeNeurons(*m, p);
        double diff = 0;
        for (size_t l = 0; l < whole.prompts[0].scores.size(); ++l)
            for (size_t i = 0; i < whole.prompts[0].scores[l].size(); ++i)
                diff = std::max(diff, std::abs(whole.prompts[0].scores[l][i] - pieces.prompts[0].scores[l][i]));
        qInfo("7 steps at once vs in pieces of 3: max |diff| %.3e", diff);
        QVERIFY(diff < 1e-12);
    }

    void everyFamilyIsComplete() {
        // The generic forward / intervention API: the same code on every row
        // of the architecture table (RoPE, RMSNorm, gated MLPs, parallel
        // residuals, grouped-query attention, sliding windows).
        for (Architecture arch : {Architecture::Gpt2, Architecture::GptJ, Architecture::GptNeoX, Architecture::Llama,
                                  Architecture::Mistral, Architecture::Qwen2}) {
            const ModelConfig c = tinyFamilyConfig(arch);
            auto m = sharpModel(dir("family" + std::to_string(int(arch))), c, 11);
            NeuronParams p;
            p.prompt = kPrompt;
            p.steps = 200;
            const NeuronResult r = knowledgeNeurons(*m, p);
            QCOMPARE(r.nInner, int(c.nInner));
            double gap = 0, largest = 0;
            for (const auto& la : r.prompts[0].layers) {
                gap = std::max(gap, std::abs(la.gap()));
                largest = std::max(largest, std::abs(la.pClean - la.pBaseline));
            }
            qInfo("%-8s n_inner %3lld: p(answer) %.4f, largest |p(a)-p(0)| %.4f, largest |gap| at m=200 %.2e, "
                  "%zu coarse neurons",
                  architectureName(arch).c_str(), (long long)c.nInner, r.prompts[0].prob, largest, gap,
                  r.prompts[0].coarse.size());
            QVERIFY(largest > 1e-3);
            QVERIFY(gap < 0.02 * largest);
            QVERIFY(!r.neurons.empty());
        }
    }

    void selectionFollowsKnD() {
        // Four prompts; neuron (0, 1) coarse in 4, (0, 2) in 3, (1, 5) in 2, (2, 7) in 1.
        NeuronResult r;
        r.nLayer = 3;
        r.nInner = 8;
        const std::vector<std::vector<std::pair<int, int>>> coarse = {
            {{0, 1}, {0, 2}, {1, 5}, {2, 7}}, {{0, 1}, {0, 2}, {1, 5}}, {{0, 1}, {0, 2}}, {{0, 1}}};
        for (const auto& set : coarse) {
            PromptAttribution pa;
            pa.scores.assign(3, std::vector<double>(8, 0.0));
            for (auto [l, i] : set) {
                pa.scores[size_t(l)][size_t(i)] = 1.0;
                pa.coarse.push_back({l, i, 1.0, 1});
            }
            r.prompts.push_back(pa);
        }
        selectNeurons(r, 0.5, 3);  // need max(2, 3) = 3
        QCOMPARE(int(r.neurons.size()), 2);
        QCOMPARE(r.neurons[0].prompts, 4);
        QCOMPARE(r.minCount, 3);
        selectNeurons(r, 0.5, 1);  // need max(2, 1) = 2
        QCOMPARE(int(r.neurons.size()), 3);
        QCOMPARE(r.neurons[2].score, 0.5);  // (1, 5): the mean over the 4 prompts
        selectNeurons(r, -1, 3);  // KN-D: from 0.7 -> need 3 -> 2 neurons, within 2-5 at once
        QVERIFY(r.shareAdaptive);
        QCOMPARE(r.shareUsed, 0.7);
        QCOMPARE(int(r.neurons.size()), 2);
        selectNeurons(r, 1.0, 3);
        QCOMPARE(int(r.neurons.size()), 1);
        r.prompts.resize(1);  // one prompt: its coarse neurons, no refinement
        selectNeurons(r, -1, 3);
        QCOMPARE(int(r.neurons.size()), 4);
        QCOMPARE(r.shareUsed, -1.0);
    }

    void badInputAndCancel() {
        auto m = sharpModel(dir("bad"), smallGpt2(), 3);
        NeuronParams p;
        p.prompt = kPrompt;
        p.steps = 0;
        QVERIFY_THROWS_EXCEPTION(Error, knowledgeNeurons(*m, p));
        p.steps = 2;
        p.layers = {3};
        QVERIFY_THROWS_EXCEPTION(Error, knowledgeNeurons(*m, p));
        p.layers = {};
        p.prompt = "";
        QVERIFY_THROWS_EXCEPTION(Error, knowledgeNeurons(*m, p));
        p.prompt = kPrompt;
        int calls = 0;
        QVERIFY_THROWS_EXCEPTION(Cancelled, knowledgeNeurons(*m, p, [&](double, double) { return ++calls < 2; }));
        QCOMPARE(calls, 2);
    }

    void knEditChangesOnlyTheChosenValueVectors() {
        // The demo model: " Berlin" is its answer (the premise), the edit moves
        // p toward " Paris"; only the rows of the attributed neurons change.
        const std::string folder = demoModelFolder();
        if (folder.empty()) QSKIP("no demo model");
        auto m = Model::load(folder);
        const std::string prompt = "The capital of Germany is";
        QCOMPARE(QString::fromStdString(m->topNext(m->encodePrompt(prompt), 1).front().token), QStringLiteral(" Berlin"));
        EditRequest req{"The capital of {} is", "Germany", " Paris", " Berlin"};
        EditParams params;
        params.method = EditMethod::Kn;
        params.requests = {req};
        params.hparams = defaultHparams(EditMethod::Kn, m->config());
        const double newBefore = targetProbability(*m, prompt, " Paris"), trueBefore = targetProbability(*m, prompt, " Berlin");
        const EditResult result = computeEdit(*m, params);

        NeuronParams np;
        np.prompt = prompt;
        np.answer = " Berlin";
        const NeuronResult nr = knowledgeNeurons(*m, np);
        std::map<int, std::set<int>> chosen;
        for (const auto& n : nr.neurons) chosen[n.layer].insert(n.index);
        qInfo("KN edit: %zu neurons in %zu layers, %zu delta parts", nr.neurons.size(), chosen.size(),
              result.delta.parts.size());
        QCOMPARE(result.delta.parts.size(), chosen.size());

        const Transformer& tf = m->transformer();
        std::map<std::string, at::Tensor> before;
        for (const auto& [name, t] : tf.tensors()) before[name] = t.clone();
        const at::Tensor wte = tf.weight(TensorRole::TokenEmbd).to(at::kDouble);
        const at::Tensor eOld = wte[m->tokenizer().encode(" Berlin").front()];
        const at::Tensor eNew = wte[m->tokenizer().encode(" Paris").front()];
        EditStack stack(*m);
        stack.apply(result.delta);
        int changedRows = 0;
        double formula = 0;
        for (const auto& [name, t] : tf.tensors()) {
            int layer = -1;
            for (const auto& [l, set] : chosen)
                if (name == tensorName(tf.config().arch, TensorRole::MlpDownW, l)) layer = l;
            if (layer < 0) {
                QVERIFY2(at::equal(t, before[name]), name.c_str());
                continue;
            }
            QCOMPARE(t.size(0), tf.config().nInner);  // GPT-2's Conv1D: a neuron's value vector is a row
            for (int64_t i = 0; i < t.size(0); ++i) {
                const bool isChosen = chosen[layer].count(int(i)) > 0;
                QCOMPARE(!at::equal(t[i], before[name][i]), isChosen);
                if (!isChosen) continue;
                ++changedRows;
                const at::Tensor v = before[name][i].to(at::kDouble);
                const at::Tensor expect = v - v.norm() / eOld.norm() * 1.0 * eOld + v.norm() / eNew.norm() * 8.0 * eNew;
                formula = std::max(formula, (t[i].to(at::kDouble) - expect).abs().max().item<double>());
            }
        }
        const double newAfter = targetProbability(*m, prompt, " Paris"), trueAfter = targetProbability(*m, prompt, " Berlin");
        qInfo("rows changed %d (= neurons %zu); max |row - (v - |v|/|e_old| e_old + 8 |v|/|e_new| e_new)| %.2e", changedRows,
              nr.neurons.size(), formula);
        qInfo("p(' Paris') %.3e -> %.3e, p(' Berlin') %.4f -> %.3e", newBefore, newAfter, trueBefore, trueAfter);
        QCOMPARE(changedRows, int(nr.neurons.size()));
        QVERIFY(formula < 1e-5);
        QVERIFY(newAfter > newBefore);
        QVERIFY(trueAfter < trueBefore);
        const std::string edited = m->weightsHash();
        stack.revertAll();
        QVERIFY(m->weightsHash() != edited);
        for (const auto& [name, t] : tf.tensors()) QVERIFY(at::equal(t, before[name]) || name.find("mlp") != std::string::npos);
    }

    void knEditMindsTheLinearOrientation() {
        // LLaMA keeps its down projection as nn.Linear [n_embd, n_inner]: a
        // neuron's value vector is a column there.
        const ModelConfig c = tinyFamilyConfig(Architecture::Llama);
        writeRandomModelFolder(dir("llama"), c, 13);
        auto m = Model::load(dir("llama"));
        EditParams params;
        params.method = EditMethod::Kn;
        params.requests = {EditRequest{"The old {} said that the", "man", " river", ""}};
        params.hparams = defaultHparams(EditMethod::Kn, m->config());
        const EditResult result = computeEdit(*m, params);
        QVERIFY(!result.delta.parts.empty());
        const Transformer& tf = m->transformer();
        for (const auto& part : result.delta.parts) {
            const DeltaMatrix d = part.materialize();
            QCOMPARE(d.rows, int64_t(c.nEmbd));
            QCOMPARE(d.cols, int64_t(c.nInner));
            int columns = 0;
            for (int64_t col = 0; col < d.cols; ++col) {
                bool any = false;
                for (int64_t row = 0; row < d.rows; ++row) any = any || d.at(row, col) != 0;
                columns += any;
            }
            qInfo("%s: %d columns changed of %lld, rank %lld", part.tensor.c_str(), columns, (long long)d.cols,
                  (long long)part.rank());
            QCOMPARE(int64_t(columns), part.rank());
            QCOMPARE(part.tensor.find("down_proj") != std::string::npos, true);
        }
        QVERIFY(tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn);
    }
};

QTEST_GUILESS_MAIN(TestNeurons)
#include "test_neurons.moc"
