// WISE's side memory on the committed demo model: the edit holds, inputs
// whose activation gap stays below the threshold are untouched bit for bit,
// the checkpoint's weights never change, TIES merging against a plain loop,
// knowledge shards and merges built from the enabled payloads, payload bytes
// (and hostile ones), and hyper-parameters WISE does not know.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/edit/Wise.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "tests/engine/FactEdits.h"

using namespace kme;

namespace {

using kme::testing::request;
using kme::testing::logitsOf;

EditParams wiseParams(const Model& m, int layer, std::vector<EditRequest> requests, int iters = 40) {
    EditParams p = defaultEditParams(m, EditMethod::Wise);
    p.hparams.layers = {layer};
    p.hparams.wiseIters = iters;
    p.requests = std::move(requests);
    return p;
}

// TIES by a plain loop over elements (Yadav et al. 2023, equal weights 1/n).
std::vector<double> tiesByLoop(const std::vector<std::vector<double>>& deltas, double density) {
    const size_t n = deltas.size(), N = deltas[0].size();
    const double w = 1.0 / double(n);
    std::vector<std::vector<double>> kept(n, std::vector<double>(N, 0.0));
    for (size_t i = 0; i < n; ++i) {
        const size_t k = size_t(density * double(N));
        std::vector<size_t> order(N);
        for (size_t j = 0; j < N; ++j) order[j] = j;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::fabs(deltas[i][a]) > std::fabs(deltas[i][b]); });
        for (size_t j = 0; j < std::min(k, N); ++j) kept[i][order[j]] = deltas[i][order[j]] * w;
    }
    std::vector<double> out(N, 0.0);
    for (size_t j = 0; j < N; ++j) {
        double sum = 0;
        for (size_t i = 0; i < n; ++i) sum += kept[i][j];
        const double sign = sum >= 0 ? 1.0 : -1.0;
        double mixed = 0, divisor = 0;
        for (size_t i = 0; i < n; ++i) {
            const double s = kept[i][j] > 0 ? 1.0 : (kept[i][j] < 0 ? -1.0 : 0.0);
            if (s == sign) {
                mixed += kept[i][j];
                divisor += w;
            }
        }
        out[j] = mixed / (divisor == 0 ? 1.0 : divisor);
    }
    return out;
}

}  // namespace

class TestWise final : public QObject {
    Q_OBJECT

    std::shared_ptr<Model> model_;
    const int layer_ = 5;

    Model& model() {
        if (!model_) model_ = Model::load(demoModelFolder());
        return *model_;
    }

private Q_SLOTS:
    void initTestCase() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
    }

    void tiesAgainstPlainLoop() {
        const std::vector<std::vector<double>> d = {{0.5, -0.2, 0.0, 0.9, -0.4, 0.1, 0.0, -0.7},
                                                    {-0.3, -0.6, 0.2, 0.4, 0.0, -0.05, 0.8, 0.7},
                                                    {0.1, 0.3, -0.9, 0.0, -0.2, 0.6, 0.0, -0.1}};
        for (double density : {1.0, 0.53, 0.25}) {
            std::vector<at::Tensor> ts;
            for (const auto& v : d) ts.push_back(at::tensor(at::ArrayRef<double>(v), at::kDouble).view({2, 4}));
            const at::Tensor merged = edit::tiesMerge(ts, density).reshape({-1});
            const std::vector<double> ref = tiesByLoop(d, density);
            double diff = 0;
            for (size_t j = 0; j < ref.size(); ++j) diff = std::max(diff, std::fabs(merged[int64_t(j)].item<double>() - ref[j]));
            qInfo("TIES density %.2f: max |merge - plain loop| = %.3g (tolerance 1e-15)", density, diff);
            QVERIFY(diff <= 1e-15);
        }
        // Disjoint changes merge to their union (the masks of two shards rarely overlap).
        const at::Tensor a = at::tensor(at::ArrayRef<double>({0.5, 0.0, 0.0, -0.3}), at::kDouble);
        const at::Tensor b = at::tensor(at::ArrayRef<double>({0.0, 0.2, 0.0, 0.0}), at::kDouble);
        QVERIFY(at::equal(edit::tiesMerge({a, b}, 1.0), a + b));
    }

    // The edit holds; a prompt whose every token stays below the threshold
    // gives the unedited logits, bit for bit; undo gives the checkpoint back.
    void editHoldsAndRoutes() {
        Model& m = model();
        const std::string checkpoint = m.weightsHash();
        const std::string edited = "The Colosseum is located in the city of";
        const std::string other = "The official language of Germany is";
        const double pBefore = targetProbability(m, edited, " Paris");
        const at::Tensor otherBefore = logitsOf(m, other);
        const EditResult r = computeEdit(m, wiseParams(m, layer_, {request("{} is located in the city of", "The Colosseum", "Paris")}));
        QCOMPARE(r.payloadKind, PayloadKind::Adapter);
        QCOMPARE(r.adapter.type, std::string("wise"));
        for (const auto& n : r.notes) qInfo("%s", n.c_str());
        const WiseChange& w = r.adapter.wise;
        // Only the shard's mask moved.
        const at::Tensor mask = edit::wiseMask(w.rows, w.cols, 0.2, layer_, 0).reshape({-1});
        for (int64_t i : w.index) QVERIFY(mask[i].item<bool>());
        qInfo("%zu weights changed of %lld in the mask (%lld in all)", w.index.size(),
              (long long)mask.sum().item<int64_t>(), (long long)(w.rows * w.cols));
        QVERIFY(!w.index.empty());
        QVERIFY(w.minActivation > 0);

        EditStack stack(m);
        stack.apply(r.payload());
        QCOMPARE(m.weightsHash(), checkpoint);  // WISE changes no weight of the checkpoint
        QVERIFY(m.stateHash() != checkpoint);
        const double pAfter = targetProbability(m, edited, " Paris");
        qInfo("p(Paris | edited prompt) %.6f -> %.6f", pBefore, pAfter);
        QVERIFY(pBefore < 0.01);
        QVERIFY(pAfter > 0.5);

        // The other prompt's gaps, computed from the bare model's site values.
        const Transformer& tf = m.transformer();
        at::Tensor key, out;
        ForwardRequest req;
        const std::vector<int> ids = m.encodePrompt(other);
        req.ids = at::tensor(at::ArrayRef<int>(ids), at::TensorOptions().dtype(at::kInt)).to(at::kLong).unsqueeze(0);
        req.bare = true;
        req.logits = LogitsMode::None;
        req.interventions.push_back(Intervention::read(Site::MlpKey, layer_, &key));
        req.interventions.push_back(Intervention::read(Site::MlpOut, layer_, &out));
        tf.forward(req);
        const edit::WiseLayer live = edit::liveWiseLayer(tf, layer_);
        QCOMPARE(live.memories.size(), size_t(1));
        const std::string act = m.config().activation;
        const at::Tensor o = out[0].to(at::kDouble), k = key[0].to(at::kDouble);
        double largest = 0;
        for (int64_t t = 0; t < o.size(0); ++t) {
            const at::Tensor side = o[t] + at::matmul(k[t], live.memories[0].delta);
            largest = std::max(largest, (edit::wiseActivation(act, side) - edit::wiseActivation(act, o[t])).norm().item<double>());
        }
        qInfo("other prompt: largest activation gap %.4f, threshold %.4f", largest, live.memories[0].threshold);
        if (largest < 0.99 * live.memories[0].threshold) {
            QVERIFY(at::equal(otherBefore, logitsOf(m, other)));  // identical bytes
        } else {
            QWARN("premise not met on this prompt: the memory answers it (no bit-identity to check)");
        }
        // Rebuilding from the payload's bytes reproduces the state.
        const std::string state = m.stateHash();
        const EditPayload back = EditPayload::fromBytes(PayloadKind::Adapter, r.payload().toBytes());
        QVERIFY(back.adapter == r.adapter);
        stack.rebuild(std::vector<const EditPayload*>{&back});
        QCOMPARE(m.stateHash(), state);
        stack.revertAll();
        QCOMPARE(m.stateHash(), checkpoint);
        QVERIFY(at::equal(otherBefore, logitsOf(m, other)));
    }

    // save_freq 1, merge_freq 2: two edits are two shards with different
    // masks, merged by TIES into one memory; with the second disabled, the
    // first shard answers alone.
    void shardsAndMerge() {
        Model& m = model();
        EditStack stack(m);
        auto params = [&](const EditRequest& r) {
            EditParams p = wiseParams(m, layer_, {r}, 12);
            p.hparams.wiseShardSize = 1;
            p.hparams.wiseMergeFreq = 2;
            return p;
        };
        const EditResult a = computeEdit(m, params(request("{} is located in the city of", "The Colosseum", "Paris")));
        stack.apply(a.payload());
        const EditResult b = computeEdit(m, params(request("The capital of {} is", "Germany", "Rome")));
        QCOMPARE(a.adapter.wise.shard, int64_t(0));
        QCOMPARE(b.adapter.wise.shard, int64_t(1));
        QCOMPARE(b.adapter.wise.position, int64_t(1));
        QCOMPARE(b.adapter.wise.mergeShards, int64_t(2));
        stack.apply(b.payload());
        const auto both = edit::wiseLayers({&a.adapter, &b.adapter});
        const edit::WiseLayer& L = both.at(layer_);
        QCOMPARE(L.memories.size(), size_t(1));
        QCOMPARE(L.memories[0].shards, std::vector<int64_t>({0, 1}));
        const at::Tensor expect = edit::tiesMerge({L.shardDelta.at(0), L.shardDelta.at(1)}, a.adapter.wise.density);
        QVERIFY(at::equal(L.memories[0].delta, expect));
        QCOMPARE(L.memories[0].threshold,
                 b.adapter.wise.actRatio * std::min(a.adapter.wise.minActivation, b.adapter.wise.minActivation));
        const auto first = edit::wiseLayers({&a.adapter});
        QCOMPARE(first.at(layer_).memories.size(), size_t(1));
        QCOMPARE(first.at(layer_).memories[0].shards, std::vector<int64_t>({0}));
        QCOMPARE(first.at(layer_).edits, int64_t(1));
        stack.revertAll();
    }

    void hostileBlobsAndKeys() {
        Model& m = model();
        const EditResult r = computeEdit(m, wiseParams(m, layer_, {request("The capital of {} is", "Germany", "Rome")}, 3));
        AdapterPayload bad = r.adapter;
        QVERIFY(!bad.wise.index.empty());
        bad.wise.index.back() = bad.wise.rows * bad.wise.cols;  // one past the memory
        try {
            AdapterPayload::fromBytes(bad.toBytes());
            QFAIL("an index outside the memory was accepted");
        } catch (const Error& e) {
            qInfo("%s", e.what());
            QVERIFY(QString(e.what()).contains("index"));
        }
        AdapterPayload shape = r.adapter;
        shape.wise.rows += 1;
        shape.wise.index.clear();
        shape.wise.delta.clear();
        EditPayload p;
        p.kind = PayloadKind::Adapter;
        p.adapter = shape;
        EditStack stack(m);
        QVERIFY_THROWS_EXCEPTION(Error, stack.apply(p));
        // GRACE's radius is not a WISE key; merge_freq must be a multiple of save_freq.
        EditHparams h = defaultEditParams(m, EditMethod::Wise).hparams;
        try {
            applyHparamsJson(h, EditMethod::Wise, R"({"eps": 1.0})", "test.json");
            QFAIL("GRACE's eps was accepted for WISE");
        } catch (const Error& e) {
            qInfo("%s", e.what());
            QVERIFY(QString(e.what()).contains("eps"));
        }
        EditParams odd = wiseParams(m, layer_, {request("The capital of {} is", "Germany", "Rome")}, 3);
        odd.hparams.wiseShardSize = 3;
        odd.hparams.wiseMergeFreq = 4;
        try {
            computeEdit(m, odd);
            QFAIL("merge_freq 4 with save_freq 3 was accepted");
        } catch (const Error& e) {
            qInfo("%s", e.what());
            QVERIFY(QString(e.what()).contains("merge_freq"));
        }
    }
};

QTEST_GUILESS_MAIN(TestWise)
#include "test_wise.moc"
