// Suppressing and amplifying knowledge neurons (kn-suppress, kn-amplify:
// adapter payloads). Checked another way: multiplying a neuron's activation
// by f is the same as multiplying its value vector (its row of GPT-2's
// Conv1D down projection, its column of LLaMA's nn.Linear one) by f, so the
// adapter's logits are compared with a second copy of the model whose weights
// were scaled by hand. Also: unscaled neurons pass bit for bit, undo returns
// the checkpoint's state hash, payload bytes and hostile ones.
#include <QtTest>

#include <ATen/ATen.h>

#include <QTemporaryDir>

#include <cmath>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "engine/trace/NeuronAttribution.h"
#include "tests/engine/FactEdits.h"

using namespace kme;

namespace {

using kme::testing::logitsOf;

double probOf(const at::Tensor& logits, int id) { return at::softmax(logits.to(at::kDouble), -1)[id].item<double>(); }

// The model's weights with the value vectors of `neurons` multiplied by their factors.
void scaleValueVectors(Model& m, const std::vector<NeuronScale>& neurons) {
    at::NoGradGuard g;
    Transformer& tf = m.transformer();
    const bool outIn = tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn;
    for (const auto& n : neurons) {
        const std::string name = tensorName(tf.config().arch, TensorRole::MlpDownW, n.layer);
        at::Tensor w = tf.tensor(name).clone();
        at::Tensor v = outIn ? w.select(1, n.index) : w.select(0, n.index);
        v.mul_(n.factor);
        tf.setTensor(name, w);
    }
}

EditPayload neuronPayload(std::vector<NeuronScale> neurons) {
    EditPayload p;
    p.kind = PayloadKind::Adapter;
    p.adapter.type = "neurons";
    p.adapter.neurons = std::move(neurons);
    int lowest = 1 << 30;
    for (const auto& n : p.adapter.neurons) lowest = std::min(lowest, n.layer);
    p.adapter.layer = lowest;
    return p;
}

const char* kPrompt = "The capital of Germany is";

}  // namespace

class TestKnScale final : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;

    // The demo model: the edit's neurons and p(" Berlin") before / after, and
    // the adapter's logits against value vectors scaled by hand.
    void checkOnDemo(EditMethod method, double factor) {
        const std::string folder = demoModelFolder();
        if (folder.empty()) QSKIP("no demo model");
        auto m = Model::load(folder);
        const int berlin = m->tokenizer().encode(" Berlin").front();
        const at::Tensor before = logitsOf(*m, kPrompt);
        QCOMPARE(int(before.argmax().item<int64_t>()), berlin);  // the premise: the model knows the fact
        const std::string checkpointState = m->stateHash(), weights = m->weightsHash();

        EditParams params = defaultEditParams(*m, method);
        params.requests = {EditRequest{"The capital of {} is", "Germany", " Paris", " Berlin"}};
        const EditResult r = computeEdit(*m, params);
        QCOMPARE(int(r.payloadKind), int(PayloadKind::Adapter));
        QCOMPARE(QString::fromStdString(r.adapter.type), QStringLiteral("neurons"));

        // The neurons are the attribution's (the same call the KN edit makes).
        NeuronParams np;
        np.prompt = kPrompt;
        np.answer = " Berlin";
        np.steps = params.hparams.knSteps;
        np.threshold = params.hparams.knThreshold;
        const NeuronResult nr = knowledgeNeurons(*m, np);
        std::set<std::pair<int, int64_t>> attributed, scaled;
        for (const auto& n : nr.neurons) attributed.insert({n.layer, int64_t(n.index)});
        for (const auto& n : r.adapter.neurons) {
            scaled.insert({n.layer, n.index});
            QCOMPARE(n.factor, factor);
        }
        QVERIFY(!scaled.empty());
        QVERIFY(scaled == attributed);

        EditStack stack(*m);
        stack.apply(r.payload());
        QCOMPARE(QString::fromStdString(m->weightsHash()), QString::fromStdString(weights));  // weights untouched
        QVERIFY(m->stateHash() != checkpointState);
        const at::Tensor adapted = logitsOf(*m, kPrompt);

        auto byHand = Model::load(folder);
        scaleValueVectors(*byHand, r.adapter.neurons);
        const at::Tensor expected = logitsOf(*byHand, kPrompt);
        const double diff = (adapted - expected).abs().max().item<double>();
        const double pBefore = probOf(before, berlin), pAfter = probOf(adapted, berlin);
        qInfo("%s: %zu neurons (%s); max |logits(adapter) - logits(value vectors x %g)| = %.3e (tolerance 1e-4); "
              "p(' Berlin') %.4f -> %.4f",
              editMethodName(method), r.adapter.neurons.size(), r.adapter.describe().c_str(), factor, diff, pBefore,
              pAfter);
        QVERIFY(diff < 1e-4);
        if (factor == 0) QVERIFY(pAfter < pBefore);  // Dai et al.: suppressing the fact's neurons lowers it
        else QVERIFY(pAfter > pBefore);              // ... amplifying them raises it

        stack.revertAll();
        QVERIFY(at::equal(logitsOf(*m, kPrompt), before));
        QCOMPARE(QString::fromStdString(m->stateHash()), QString::fromStdString(checkpointState));
    }

private Q_SLOTS:
    void suppressEqualsZeroedValueVectors() { checkOnDemo(EditMethod::KnSuppress, 0.0); }
    void amplifyEqualsDoubledValueVectors() { checkOnDemo(EditMethod::KnAmplify, 2.0); }

    void linearOrientationAndStacking() {
        // LLaMA (SwiGLU; nn.Linear down projection [n_embd, n_inner]): the
        // neuron is the input of down_proj, act(gate x) * up x; its value vector a column.
        const ModelConfig c = tinyFamilyConfig(Architecture::Llama);
        const std::string folder = tmp_.path().toStdString() + "/llama";
        writeRandomModelFolder(folder, c, 21);
        auto m = Model::load(folder);
        const at::Tensor before = logitsOf(*m, kPrompt);
        const std::vector<NeuronScale> a = {{0, 3, 0.0}, {1, 5, 2.0}, {1, 7, 0.0}};
        const std::vector<NeuronScale> b = {{1, 5, 2.0}};  // stacked on a: neuron 5 of layer 1 x 4
        EditStack stack(*m);
        stack.apply(neuronPayload(a));
        stack.apply(neuronPayload(b));
        const at::Tensor adapted = logitsOf(*m, kPrompt);
        auto byHand = Model::load(folder);
        scaleValueVectors(*byHand, a);
        scaleValueVectors(*byHand, b);
        const double diff = (adapted - logitsOf(*byHand, kPrompt)).abs().max().item<double>();
        const double moved = (adapted - before).abs().max().item<double>();
        qInfo("llama: max |logits(two adapters) - logits(columns scaled by hand)| = %.3e (tolerance 1e-4); "
              "the adapters moved the logits by up to %.3e",
              diff, moved);
        QVERIFY(moved > 1e-3);  // the premise: these neurons matter to this random model
        QVERIFY(diff < 1e-4);
        stack.revertAll();
        QVERIFY(at::equal(logitsOf(*m, kPrompt), before));
    }

    void unscaledNeuronsPassBitForBit() {
        const ModelConfig c = tinyFamilyConfig(Architecture::Gpt2);
        const std::string folder = tmp_.path().toStdString() + "/gpt2";
        writeRandomModelFolder(folder, c, 5);
        auto m = Model::load(folder);
        const at::Tensor before = logitsOf(*m, kPrompt);
        EditStack stack(*m);
        stack.apply(neuronPayload({{0, 1, 1.0}, {1, 2, 1.0}}));
        QVERIFY(at::equal(logitsOf(*m, kPrompt), before));
    }

    void payloadBytesAndHostileOnes() {
        const EditPayload p = neuronPayload({{2, 10, 0.0}, {0, 511, 2.0}});
        const AdapterPayload back = AdapterPayload::fromBytes(p.adapter.toBytes());
        QVERIFY(back == p.adapter);
        qInfo("%s", back.describe().c_str());
        QCOMPARE(QString::fromStdString(neuronPayload({{3, 1, 0.0}, {3, 2, 0.0}, {5, 9, 0.0}}).adapter.describe()),
                 QStringLiteral("3 knowledge neurons x 0 (suppressed): layers 3 (2), 5 (1)"));

        auto refused = [](const AdapterPayload& a, const char* word) {
            try {
                AdapterPayload::fromBytes(a.toBytes());
                QFAIL(qPrintable(QString("accepted a payload with a bad ") + word));
            } catch (const Error& e) {
                qInfo("%s", e.what());
                QVERIFY2(QString(e.what()).contains(word), e.what());
            }
        };
        AdapterPayload twice = p.adapter;
        twice.neurons.push_back(twice.neurons.front());
        refused(twice, "twice");
        AdapterPayload wrongLayer = p.adapter;
        wrongLayer.layer = 1;
        refused(wrongLayer, "lowest");
        AdapterPayload none = p.adapter;
        none.neurons.clear();
        refused(none, "neurons");
        AdapterPayload huge = p.adapter;
        huge.neurons[0].factor = 1e9;
        refused(huge, "factor");

        // Neurons the model does not have: refused before anything changes.
        const ModelConfig c = tinyFamilyConfig(Architecture::Gpt2);
        const std::string folder = tmp_.path().toStdString() + "/hostile";
        writeRandomModelFolder(folder, c, 6);
        auto m = Model::load(folder);
        const std::string state = m->stateHash();
        EditStack stack(*m);
        for (const NeuronScale& n : {NeuronScale{0, c.nInner, 0.0}, NeuronScale{c.nLayer, 0, 0.0}}) {
            try {
                stack.apply(neuronPayload({n}));
                QFAIL("a neuron outside the model was accepted");
            } catch (const Error& e) {
                qInfo("%s", e.what());
                QVERIFY(QString(e.what()).contains("neuron"));
            }
        }
        QCOMPARE(QString::fromStdString(m->stateHash()), QString::fromStdString(state));
    }
};

QTEST_GUILESS_MAIN(TestKnScale)
#include "test_kn_scale.moc"
