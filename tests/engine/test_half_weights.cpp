// Half-precision checkpoints kept half: BF16 and F16 LLaMA-family models
// load with every weight in its storage dtype (never a float32 copy of the
// model), give the float32 reference's logits (NaiveFamilies.h, an
// independent plain loop in float64 that reads the same file), edit and
// undo bit for bit; the weights hash is cached per tensor and re-hashes only
// from the first tensor an edit touched, with the value of DESIGN.md's
// definition (a from-scratch hash of the same tensors, and a fresh load of
// the exported model).
#include <QtTest>

#include <ATen/ATen.h>

#include <set>

#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/io/Safetensors.h"
#include "engine/model/HalfWeights.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "tests/engine/FamilyTestSupport.h"

using namespace kme;
using namespace familytest;

namespace {


at::ScalarType scalarOf(const QString& dtype) { return dtype == "BF16" ? at::kBFloat16 : at::kHalf; }

// DESIGN.md's weights hash computed from scratch over the live tensors.
std::string scratchHash(const Model& m) {
    std::vector<TensorData> data;
    std::vector<at::Tensor> keep;
    for (const auto& [name, t] : m.transformer().tensors()) {
        const at::Tensor c = t.contiguous();
        keep.push_back(c);
        const DType dt = c.scalar_type() == at::kBFloat16 ? DType::BF16
                         : c.scalar_type() == at::kHalf   ? DType::F16
                                                          : DType::F32;
        data.push_back(TensorData{name, dt, c.sizes().vec(), c.data_ptr(), c.nbytes()});
    }
    return weightsHash(data);
}

at::Tensor logitsOf(const Model& m) {
    ForwardRequest req;
    req.ids = idsTensor(kIds);
    return m.transformer().forward(req).logits.squeeze(0).detach();
}

// Logits and d(logit of token 5 at the last position)/d(embeddings) with
// the embeddings requiring a gradient: every product after them is tracked
// by autograd (for half weights: the product that converts its weight again
// in the backward pass instead of keeping a float32 copy).
std::pair<at::Tensor, at::Tensor> logitsAndGradient(const Model& m) {
    const at::Tensor z = at::zeros({1, int64_t(kIds.size()), m.config().nEmbd}).set_requires_grad(true);
    ForwardRequest req;
    req.ids = idsTensor(kIds);
    req.interventions.push_back(Intervention::custom(Site::Embed, -1, [&](const at::Tensor& x, int64_t) { return x + z; }));
    const at::Tensor logits = m.transformer().forward(req).logits;
    logits[0][int64_t(kIds.size()) - 1][5].backward();
    return {logits.detach().squeeze(0), z.grad().clone()};
}

EditParams romeParams(const Model& m) {
    const ModelConfig& c = m.config();
    EditParams p;
    EditRequest r;
    r.prompt = "The capital of Italy is {}";
    r.subject = "Paris";
    r.targetNew = "Rome";
    p.requests = {r};
    p.hparams = defaultHparams(EditMethod::Rome, c);
    p.hparams.layers = {c.nLayer - 2};
    p.hparams.mom2Adjustment = false;
    p.hparams.vNumGradSteps = 8;
    p.hparams.contextTemplates = {{"{}"}, {"The quick brown fox. {}"}};
    return p;
}

}  // namespace

class TestHalfWeights final : public QObject {
    Q_OBJECT
    FamilyFolders f_;

    std::string folder(const QString& dtype) {
        return f_.folder("llama-" + dtype.toLower().toStdString(), scratchSizedLlamaConfig(), 11, dtype.toStdString());
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(f_.valid()); }

    void keptHalfMatchesReference_data() {
        QTest::addColumn<QString>("dtype");
        QTest::newRow("BF16") << "BF16";
        QTest::newRow("F16") << "F16";
    }
    void keptHalfMatchesReference() {
        QFETCH(QString, dtype);
        const std::string d = folder(dtype);
        const naivefam::Net net = naivefam::load(d);
        const naivefam::Result ref = naivefam::forward(net, kIds);
        auto m = Model::load(d);
        const Transformer& tf = m->transformer();
        QCOMPARE(m->storageDType(), dtype.toStdString());
        QVERIFY(tf.dtype() == at::kFloat);  // activations in float32
        int64_t bytes = 0, numel = 0;
        for (const auto& [name, t] : tf.tensors()) {
            if (t.scalar_type() != scalarOf(dtype)) QFAIL(("tensor " + name + " is not kept in " + dtype.toStdString()).c_str());
            bytes += int64_t(t.nbytes());
            numel += t.numel();
        }
        QCOMPARE(bytes, 2 * numel);  // two bytes a parameter in memory, not four

        at::Tensor logits;
        {
            at::NoGradGuard noGrad;  // the scratch-buffer path
            logits = logitsOf(*m);
        }
        const int64_t backwards = halfWeightBackwardCount();
        const auto [tracked, gradient] = logitsAndGradient(*m);
        // Premise: the backward pass went through the half-weight product (every projection of every layer and the head).
        QVERIFY(halfWeightBackwardCount() - backwards >= 7 * m->config().nLayer);
        LoadOptions o;
        o.halfToCompute = true;  // the whole model converted at load, as before
        auto converted = Model::load(d, o);
        QVERIFY(converted->transformer().tensor(tensorName(Architecture::Llama, TensorRole::MlpDownW, 0)).scalar_type() ==
                at::kFloat);
        at::Tensor convertedLogits;
        {
            at::NoGradGuard noGrad;
            convertedLogits = logitsOf(*converted);
        }
        const double scale = at::tensor(ref.logits.back()).abs().max().item<double>();
        const double dl = maxDiff(logits, ref.logits);
        const double dGrad = (logits - tracked).abs().max().item<double>();
        const double dConv = (logits - convertedLogits).abs().max().item<double>();
        const at::Tensor convertedGradient = logitsAndGradient(*converted).second;
        const double gScale = convertedGradient.abs().max().item<double>();
        const double dGradient = (gradient - convertedGradient).abs().max().item<double>();
        const double tol = 1e-4 * std::max(1.0, scale);
        qInfo("%s kept half, float32 compute: max |logits - reference| %.3g (|logits| up to %.3g; tolerance %.0e); "
              "vs autograd path %.3g, vs converted at load %.3g (tolerance 1e-6 x scale); gradient w.r.t. the "
              "embeddings vs converted at load %.3g (|gradient| up to %.3g, tolerance 1e-5 x that)",
              qPrintable(dtype), dl, scale, tol, dGrad, dConv, dGradient, gScale);
        QVERIFY(scale > 0.5);  // premise: logits far from zero
        QVERIFY(dl <= tol);
        QVERIFY(dGrad <= 1e-6 * scale);
        QVERIFY(dConv <= 1e-6 * scale);
        QVERIFY(gScale > 1e-3);  // premise: the gradient is not zero
        QVERIFY(dGradient <= 1e-5 * gScale);
        // The weights are still the mapped half tensors (nothing converted in place).
        QVERIFY(m->transformer().tensor(tensorName(Architecture::Llama, TensorRole::MlpDownW, 0)).scalar_type() ==
                scalarOf(dtype));
    }

    // An edit on a BF16 model stays BF16; undo restores the weights bit for
    // bit and the weights hash; the hash after each step equals a
    // from-scratch hash and re-hashes only from the first touched tensor on.
    void editUndoAndIncrementalHash() {
        auto m = Model::load(folder("BF16"));
        Transformer& tf = m->transformer();
        std::map<std::string, at::Tensor> before;
        for (const auto& [name, t] : tf.tensors()) before[name] = t.clone();
        const int64_t total = int64_t(tf.tensors().size());
        const std::string h0 = m->weightsHash();
        QCOMPARE(m->hashedTensorCount(), total);  // first hash: every tensor
        QCOMPARE(h0, scratchHash(*m));
        (void)m->weightsHash();
        QCOMPARE(m->hashedTensorCount(), total);  // cached: nothing re-hashed

        const EditResult res = computeEdit(*m, romeParams(*m));
        QCOMPARE(res.delta.parts.size(), size_t(1));
        const std::string edited = res.delta.parts[0].tensor;
        // Tensors from the edited one on, in name order (the hash's order).
        int64_t fromEdited = 0;
        for (const auto& [name, t] : tf.tensors()) fromEdited += name >= edited ? 1 : 0;
        QVERIFY(fromEdited < total);  // premise: the edited tensor is not the first
        EditStack stack(*m);
        stack.apply(res.delta);
        QVERIFY(tf.tensor(edited).scalar_type() == at::kBFloat16);  // copy-on-write, still half
        const double change = (tf.tensor(edited).to(at::kDouble) - before.at(edited).to(at::kDouble)).abs().max().item<double>();
        QVERIFY(change > 0);

        int64_t count = m->hashedTensorCount();
        const std::string h1 = m->weightsHash();
        const int64_t rehashed = m->hashedTensorCount() - count;
        qInfo("edit of %s: max |dW| %.3g; weights hash re-hashed %lld of %lld tensors (expected %lld)", edited.c_str(),
              change, (long long)rehashed, (long long)total, (long long)fromEdited);
        QCOMPARE(rehashed, fromEdited);
        QVERIFY(h1 != h0);
        QCOMPARE(h1, scratchHash(*m));
        // A fresh model of the exported edited weights: the same hash from scratch.
        const std::string out = f_.dir("llama-bf16-edited");
        m->save(out);
        auto back = Model::load(out);
        QCOMPARE(back->storageDType(), std::string("BF16"));
        QCOMPARE(back->weightsHash(), h1);

        count = m->hashedTensorCount();
        stack.revertAll();
        for (const auto& [name, t] : tf.tensors())
            if (!at::equal(t, before.at(name))) QFAIL(("undo left " + name + " changed").c_str());
        const std::string h2 = m->weightsHash();
        // Undo puts the original tensor objects back: their hash is remembered, nothing is re-hashed.
        QCOMPARE(m->hashedTensorCount() - count, int64_t(0));
        QCOMPARE(h2, h0);
        QCOMPARE(h2, scratchHash(*m));
    }

    // The same hash for an F32 model as the definition's one pass over all
    // tensors, also after an edit (the value sessions store is unchanged).
    void float32HashUnchanged() {
        auto m = Model::load(f_.folder(Architecture::Llama));
        QCOMPARE(m->storageDType(), std::string("F32"));
        const std::string h0 = m->weightsHash();
        QCOMPARE(h0, scratchHash(*m));
        const EditResult res = computeEdit(*m, romeParams(*m));
        EditStack stack(*m);
        stack.apply(res.delta);
        QCOMPARE(m->weightsHash(), scratchHash(*m));
        QVERIFY(m->weightsHash() != h0);
        stack.revertAll();
        QCOMPARE(m->weightsHash(), h0);
    }

    // The streamed writer (7B benchmarks) draws the same weights as the
    // in-memory one, tensor by tensor.
    void streamedRandomFolder() {
        const ModelConfig c = llamaShapeConfig("tiny");
        RandomFolderOptions o;
        o.dtype = "BF16";
        writeRandomModelFolder(f_.dir("plain"), c, 3, o);
        o.streamed = true;
        writeRandomModelFolder(f_.dir("streamed"), c, 3, o);
        auto a = Model::load(f_.dir("plain")), b = Model::load(f_.dir("streamed"));
        QCOMPARE(b->storageDType(), std::string("BF16"));
        QCOMPARE(a->weightsHash(), b->weightsHash());
        QVERIFY(a->transformer().tensor(tensorName(Architecture::Llama, TensorRole::MlpDownW, 1)).abs().max().item<double>() > 0);
        // The fast uniform fill: norms 1, weights of the asked std (uniform on
        // [-a, a] has std a / sqrt(3)), output projections scaled by 1/sqrt(2 L).
        o.fastUniform = true;
        writeRandomModelFolder(f_.dir("uniform"), c, 3, o);
        auto u = Model::load(f_.dir("uniform"));
        const Transformer& tf = u->transformer();
        const double sdUp = tf.weight(TensorRole::MlpUpW, 0).to(at::kDouble).std().item<double>();
        const double sdDown = tf.weight(TensorRole::MlpDownW, 1).to(at::kDouble).std().item<double>();
        const double maxDown = tf.weight(TensorRole::MlpDownW, 1).to(at::kDouble).abs().max().item<double>();
        const double wantDown = 0.02 / std::sqrt(2.0 * c.nLayer);
        qInfo("fast uniform: std up %.5f (want 0.02), down %.5f (want %.5f), max |down| %.5f (bound %.5f)", sdUp, sdDown,
              wantDown, maxDown, wantDown * std::sqrt(3.0));
        QVERIFY(std::abs(sdUp - 0.02) < 0.02 * 0.03);
        QVERIFY(std::abs(sdDown - wantDown) < wantDown * 0.03);
        QVERIFY(maxDown <= wantDown * std::sqrt(3.0) * 1.01);  // bf16 rounding
        QVERIFY(at::equal(tf.weight(TensorRole::OutNormW), at::ones({c.nEmbd}, at::kBFloat16)));
        QVERIFY(a->weightsHash() != u->weightsHash());
        expectError([] { llamaShapeConfig("13b"); }, {"13b", "tiny, 1b, 7b"});
    }
};

QTEST_GUILESS_MAIN(TestHalfWeights)
#include "test_half_weights.moc"
