// Forward pass parity against an independent naive implementation, and the
// intervention / cache mechanics tracing and editing rely on.
#include <QtTest>

#include <ATen/ATen.h>

#include "engine/core/Error.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "tests/engine/NaiveGpt2.h"

using namespace kme;

namespace {

ModelConfig tinyConfig() {
    ModelConfig c;
    c.nLayer = 3;
    c.nHead = 2;
    c.nEmbd = 8;
    c.nInner = 20;
    c.nPositions = 16;
    c.vocabSize = 23;
    return c;
}

std::unique_ptr<Transformer> tinyModel(uint64_t seed) {
    auto m = randomTransformer(tinyConfig(), seed, 0.4);
    // Non-trivial norms and biases so that every term matters.
    at::Generator g = at::detail::createCPUGenerator(seed + 1);
    for (const auto& [name, t] : std::map<std::string, at::Tensor>(m->tensors())) {
        if (t.dim() == 1) m->setTensor(name, t + at::normal(0.0, 0.2, t.sizes(), g, t.options()));
    }
    m->toDType(at::kDouble);
    return m;
}

naive::Weights naiveWeights(const Transformer& m) {
    naive::Weights w;
    const auto& c = m.config();
    w.nLayer = c.nLayer;
    w.nHead = c.nHead;
    w.nEmbd = c.nEmbd;
    w.nInner = c.nInner;
    w.vocab = c.vocabSize;
    w.eps = c.layerNormEps;
    for (const auto& [name, t] : m.tensors()) {
        at::Tensor d = t.to(at::kDouble).contiguous();
        w.t[name] = naive::Vec(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
    }
    return w;
}

at::Tensor idsTensor(const std::vector<int>& ids) {
    std::vector<int64_t> v(ids.begin(), ids.end());
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
}

double maxDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

const std::vector<int> kIds = {3, 17, 5, 22, 0, 9, 9, 14, 1, 7, 11};

}  // namespace

class TestTransformer final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parityWithNaive() {
        at::NoGradGuard g;
        for (uint64_t seed : {1, 2, 3}) {
            auto m = tinyModel(seed);
            const auto naiveLogits = naive::forward(naiveWeights(*m), kIds);
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            const at::Tensor logits = m->forward(req).logits.squeeze(0);
            double diff = 0;
            for (size_t p = 0; p < kIds.size(); ++p)
                for (int t = 0; t < m->config().vocabSize; ++t)
                    diff = std::max(diff, std::abs(logits[p][t].item<double>() - naiveLogits[p][t]));
            qInfo("seed %d: float64 engine vs naive loops, max |diff| of logits = %.3g (tolerance 1e-5)", int(seed),
                  diff);
            QVERIFY(diff <= 1e-5);
            // Float32 too, against the same float64 reference.
            auto m32 = tinyModel(seed);
            m32->toDType(at::kFloat);
            const at::Tensor l32 = m32->forward(req).logits.squeeze(0).to(at::kDouble);
            double diff32 = 0;
            for (size_t p = 0; p < kIds.size(); ++p)
                for (int t = 0; t < m->config().vocabSize; ++t)
                    diff32 = std::max(diff32, std::abs(l32[p][t].item<double>() - naiveLogits[p][t]));
            qInfo("seed %d: float32 engine vs naive loops, max |diff| = %.3g (tolerance 1e-4)", int(seed), diff32);
            QVERIFY(diff32 <= 1e-4);
        }
    }

    void interventionsMatchNaiveHooks() {
        // Adding a vector to the MLP output of layer 1 at position 4, in the
        // engine and in the naive loops.
        at::NoGradGuard g;
        auto m = tinyModel(7);
        const at::Tensor delta = at::linspace(-1, 1, 8, at::TensorOptions().dtype(at::kDouble));
        auto naiveLogits = naive::forward(naiveWeights(*m), kIds, [&](const std::string& site, int l, int p, naive::Vec& v) {
            if (site == "mlp" && l == 1 && p == 4)
                for (int i = 0; i < 8; ++i) v[i] += delta[i].item<double>();
        });
        ForwardRequest req;
        req.ids = idsTensor(kIds);
        req.interventions.push_back(Intervention::add(Site::MlpOut, 1, {4}, delta));
        const at::Tensor logits = m->forward(req).logits.squeeze(0);
        double diff = 0;
        for (size_t p = 0; p < kIds.size(); ++p)
            for (int t = 0; t < 23; ++t) diff = std::max(diff, std::abs(logits[p][t].item<double>() - naiveLogits[p][t]));
        qInfo("add at mlp[1] pos 4: max |diff| vs naive = %.3g", diff);
        QVERIFY(diff <= 1e-9);
    }

    void replacingWithCleanValuesRestoresTheCleanRun() {
        at::NoGradGuard g;
        auto m = tinyModel(11);
        const int T = int(kIds.size());
        ForwardRequest clean;
        clean.ids = idsTensor(kIds);
        at::Tensor cleanHidden;
        clean.interventions.push_back(Intervention::read(Site::BlockOut, 1, &cleanHidden));
        const at::Tensor cleanLogits = m->forward(clean).logits;

        // Corrupt the embeddings of positions 1..3, then restore block 1's
        // output at every position: everything after it is clean again.
        const at::Tensor noise = at::randn({3, 8}, at::TensorOptions().dtype(at::kDouble));
        ForwardRequest corrupt;
        corrupt.ids = clean.ids;
        corrupt.interventions.push_back(Intervention::add(Site::Embed, -1, {1, 2, 3}, noise.view({3, 8})));
        const at::Tensor corruptLogits = m->forward(corrupt).logits;
        QVERIFY(maxDiff(corruptLogits, cleanLogits) > 1e-3);  // the noise matters

        std::vector<int64_t> all(T);
        for (int i = 0; i < T; ++i) all[i] = i;
        corrupt.interventions.push_back(Intervention::replace(Site::BlockOut, 1, all, cleanHidden.squeeze(0)));
        const double d = maxDiff(m->forward(corrupt).logits, cleanLogits);
        qInfo("restore block 1 output at every position: max |diff| to clean = %.3g", d);
        QVERIFY(d <= 1e-12);
    }

    void addingZeroChangesNothing() {
        at::NoGradGuard g;
        auto m = tinyModel(5);
        ForwardRequest req;
        req.ids = idsTensor(kIds);
        const at::Tensor base = m->forward(req).logits;
        for (Site s : {Site::Embed, Site::AttnOut, Site::MlpKey, Site::MlpOut, Site::BlockOut}) {
            ForwardRequest r = req;
            const int width = s == Site::MlpKey ? 20 : 8;
            r.interventions.push_back(Intervention::add(s, 1, {0, 5, 10}, at::zeros({width}, at::kDouble)));
            QCOMPARE(maxDiff(m->forward(r).logits, base), 0.0);
        }
    }

    void perRowCellsTouchOnlyTheirRows() {
        at::NoGradGuard g;
        auto m = tinyModel(9);
        ForwardRequest req;
        req.ids = idsTensor(kIds).repeat({3, 1});
        const at::Tensor base = m->forward(req).logits;
        // Row 1 gets a change at position 2 only.
        req.interventions.push_back(Intervention::atCells(Intervention::Op::Add, Site::BlockOut, 0,
                                                          at::tensor({int64_t(1)}), at::tensor({int64_t(2)}),
                                                          at::linspace(-1, 1, 8, at::kDouble).view({1, 8})));  // not uniform: LayerNorm ignores a constant shift
        const at::Tensor out = m->forward(req).logits;
        QCOMPARE(maxDiff(out[0], base[0]), 0.0);
        QCOMPARE(maxDiff(out[2], base[2]), 0.0);
        QCOMPARE(maxDiff(out[1].narrow(0, 0, 2), base[1].narrow(0, 0, 2)), 0.0);  // before position 2
        QVERIFY(maxDiff(out[1].narrow(0, 2, 9), base[1].narrow(0, 2, 9)) > 1e-6);
    }

    void cachedPrefixRestartEqualsFullRun() {
        at::NoGradGuard g;
        auto m = tinyModel(13);
        const int T = int(kIds.size());
        ForwardRequest full;
        full.ids = idsTensor(kIds);
        full.keepCache = true;
        std::vector<at::Tensor> hidden(3);
        for (int l = 0; l < 3; ++l) full.interventions.push_back(Intervention::read(Site::BlockOut, l, &hidden[l]));
        const ForwardResult ref = m->forward(full);
        QCOMPARE(ref.cache.length(), int64_t(T));

        for (int t : {1, 4, 10}) {
            // Restart at the embedding with a cached prefix of t positions.
            KVCache prefix = ref.cache.prefix(t);
            ForwardRequest tail;
            tail.ids = full.ids.narrow(1, t, T - t);
            tail.past = &prefix;
            const double d1 = maxDiff(m->forward(tail).logits, ref.logits.narrow(1, t, T - t));
            // Restart at block L from the residual stream after block L-1.
            for (int L = 1; L < 3; ++L) {
                ForwardRequest mid;
                mid.hidden = hidden[L - 1].narrow(1, t, T - t);
                mid.startLayer = L;
                mid.past = &prefix;
                const double d2 = maxDiff(m->forward(mid).logits, ref.logits.narrow(1, t, T - t));
                qInfo("restart at position %d, block %d: max |diff| = %.3g", t, L, d2);
                QVERIFY(d2 <= 1e-12);
            }
            qInfo("restart at position %d with cached keys/values: max |diff| = %.3g", t, d1);
            QVERIFY(d1 <= 1e-12);
        }
    }

    void batchOneCacheBroadcasts() {
        at::NoGradGuard g;
        auto m = tinyModel(17);
        ForwardRequest full;
        full.ids = idsTensor(kIds);
        full.keepCache = true;
        const ForwardResult ref = m->forward(full);
        KVCache prefix = ref.cache.prefix(5);
        ForwardRequest tail;
        tail.ids = full.ids.narrow(1, 5, 6).repeat({4, 1});
        tail.past = &prefix;
        const at::Tensor out = m->forward(tail).logits;
        for (int r = 0; r < 4; ++r) QVERIFY(maxDiff(out[r], ref.logits[0].narrow(0, 5, 6)) <= 1e-12);
    }

    void lastOnlyLogitsEqualFullRun() {
        at::NoGradGuard g;
        auto m = tinyModel(19);
        ForwardRequest req;
        req.ids = idsTensor(kIds).repeat({2, 1});
        const at::Tensor all = m->forward(req).logits;
        req.logits = LogitsMode::Last;
        const at::Tensor last = m->forward(req).logits;
        QCOMPARE(last.sizes().vec(), (std::vector<int64_t>{2, 23}));
        const double d = maxDiff(last, all.select(1, int64_t(kIds.size()) - 1));
        qInfo("last-position-only logits vs full run: max |diff| = %.3g", d);
        QVERIFY(d <= 1e-12);
    }

    void stopAfterLayerAndReadKeys() {
        at::NoGradGuard g;
        auto m = tinyModel(23);
        ForwardRequest req;
        req.ids = idsTensor(kIds);
        at::Tensor key;
        req.interventions.push_back(Intervention::read(Site::MlpKey, 1, &key));
        req.stopAfterLayer = 1;
        const ForwardResult r = m->forward(req);
        QVERIFY(!r.logits.defined());
        QCOMPARE(key.sizes().vec(), (std::vector<int64_t>{1, int64_t(kIds.size()), 20}));
    }

    void contextLimitIsAnInputError() {
        at::NoGradGuard g;
        auto m = tinyModel(1);
        ForwardRequest req;
        req.ids = at::zeros({1, 17}, at::TensorOptions().dtype(at::kLong));
        try {
            m->forward(req);
            QFAIL("no error for a prompt longer than the context");
        } catch (const kme::Error& e) {
            QCOMPARE(e.kind(), ErrorKind::Input);
            QVERIFY(QString(e.what()).contains("17 tokens"));
        }
    }

    void gradientsFlowThroughAddedValues() {
        // ROME optimises a vector added at the MLP output: the gradient must reach it.
        auto m = tinyModel(29);
        at::Tensor delta = at::zeros({8}, at::TensorOptions().dtype(at::kDouble)).set_requires_grad(true);
        ForwardRequest req;
        req.ids = idsTensor(kIds);
        req.logits = LogitsMode::Last;
        req.interventions.push_back(Intervention::add(Site::MlpOut, 1, {3}, delta));
        at::Tensor loss = -at::log_softmax(m->forward(req).logits, -1)[0][4];
        loss.backward();
        QVERIFY(delta.grad().defined());
        QVERIFY(delta.grad().abs().sum().item<double>() > 0);
    }
};

QTEST_GUILESS_MAIN(TestTransformer)
#include "test_transformer.moc"
