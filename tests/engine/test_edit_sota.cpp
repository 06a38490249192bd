// EMMET, r-ROME and AlphaEdit (issue 14) against their closed forms computed
// another way, on the toy model of test_edit_support.h: EMMET for one request
// is ROME's rank-one update and meets every equality constraint of a batch;
// r-ROME maps its averaged key k* to v* where ROME does not; AlphaEdit's
// projector is the small-eigenvalue space, its change vanishes on the
// preserved keys, and it is MEMIT's solve when P = I. Every comparison prints
// its max difference and tolerance.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>

#include "engine/edit/EditMethod.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/edit/WeightDelta.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/KeyPreservation.h"
#include "test_edit_support.h"

using namespace kme;
using namespace edittest;

namespace {

at::Tensor tensorOf(const DeltaMatrix& m) {
    return at::from_blob(const_cast<double*>(m.data.data()), {m.rows, m.cols}, at::TensorOptions().dtype(at::kDouble))
        .clone();
}
// A part's change in storage orientation (the toy is GPT-2: Conv1D [n_inner, n_embd]).
at::Tensor dense(const TensorDelta& part) { return tensorOf(part.materialize()); }
double maxAbs(const at::Tensor& t) { return t.abs().max().item<double>(); }

// Reports `what` and checks |difference| <= tolerance.
void near(const char* what, double difference, double tolerance) {
    qDebug("%s: max difference %.3e (tolerance %.1e)", what, difference, tolerance);
    QVERIFY2(difference <= tolerance, what);
}

std::vector<std::string> flat(const std::vector<std::vector<std::string>>& groups) {
    std::vector<std::string> out;
    for (const auto& g : groups) out.insert(out.end(), g.begin(), g.end());
    return out;
}

}  // namespace

class TestEditSota final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

    EditParams params(EditMethod method, std::vector<EditRequest> requests, std::vector<int> layers, const Model& m) {
        EditParams p;
        p.method = method;
        p.requests = std::move(requests);
        p.hparams = defaultHparams(method, m.config());
        p.hparams.layers = std::move(layers);
        p.hparams.clampNormFactor = 4.0;  // the toy's (as test_edit_methods)
        p.statsTexts = toyCorpus(300, 5);
        return p;
    }
    // C of `layer` as computeEdit reads it (from the statistics cache).
    at::Tensor mom2(Model& m, const EditParams& p, int layer) {
        StatsParams s;
        s.texts = p.statsTexts;
        s.maxSamples = p.hparams.mom2Samples;
        s.maxTokens = p.hparams.mom2Tokens;
        return edit::keySecondMoment(m, layer, s, {}, nullptr);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(dir("cache")));
        initComputeRuntime(2);
        trainToyModel(dir("toy-scratch"), dir("toy"));
    }

    void rowsAsPublished() {
        const MethodInfo& rr = methodByName("r-rome");
        QCOMPARE(int(rr.method), int(EditMethod::RRome));
        QVERIFY(!rr.batched && rr.needsKeyStatistics && rr.layers == LayerShape::One);
        QCOMPARE(std::string(rr.paper.arxiv), std::string("2403.07175"));
        const MethodInfo& em = methodByName("emmet");
        QVERIFY(em.batched && em.needsKeyStatistics && em.layers == LayerShape::Range);
        QCOMPARE(std::string(em.paper.arxiv), std::string("2403.14236"));
        const MethodInfo& ae = methodByName("AlphaEdit");
        QCOMPARE(int(ae.method), int(EditMethod::AlphaEdit));
        QVERIFY(ae.batched && ae.needsKeyStatistics && ae.layers == LayerShape::Range);
        QCOMPARE(std::string(ae.paper.arxiv), std::string("2410.02355"));
        for (const MethodInfo* m : {&rr, &em, &ae}) QCOMPARE(int(m->family), int(MethodFamily::LocalModification));
        // The reference files' defaults (GPT-2 XL) and their keys.
        EditHparams h;
        em.defaults(h, "gpt2-xl");
        QCOMPARE(h.layers, std::vector<int>{17});
        QCOMPARE(h.emmetLambda, 0.1);
        QCOMPARE(h.mom2UpdateWeight, 1000.0);
        h = EditHparams{};
        ae.defaults(h, "gpt2-xl");
        QCOMPARE(h.layers, (std::vector<int>{13, 14, 15, 16, 17}));
        QCOMPARE(h.nullspaceThreshold, 2e-2);
        QCOMPARE(h.alphaEditL2, 10.0);
        applyHparamsJson(h, EditMethod::AlphaEdit, R"({"nullspace_threshold": 0.5, "L2": 3, "mom2_update_weight": 20000})",
                         "test");
        QCOMPARE(h.nullspaceThreshold, 0.5);
        QCOMPARE(h.alphaEditL2, 3.0);
        EditHparams back = defaultHparams(EditMethod::AlphaEdit, ModelConfig{});
        applyHparamsJson(back, EditMethod::AlphaEdit, hparamsToJson(h, EditMethod::AlphaEdit), "round trip");
        QVERIFY(back == h);
        expectError([] { EditHparams x; applyHparamsJson(x, EditMethod::Emmet, R"({"prob_cutoff": 0.5})", "t"); },
                    {"prob_cutoff"}, ErrorKind::Config);
    }

    // EMMET with one request at one layer: Delta = r k^T C^-1 / (k^T C^-1 k),
    // ROME's rank-one update (romeFactors, as computeRome) for the same key.
    void emmetOneRequestIsRome() {
        auto m = Model::load(dir("toy"));
        EditParams p = params(EditMethod::Emmet, {request("Tokyo", " Italy")}, {1}, *m);
        p.hparams.emmetLambda = 0;
        const EditResult r = computeEdit(*m, p);
        QCOMPARE(r.writes.size(), size_t(1));
        const at::Tensor k = tensorOf(r.writes[0].keys).select(1, 0), res = tensorOf(r.writes[0].residuals).select(1, 0);
        const at::Tensor c = mom2(*m, p, 1);
        const auto rome = edit::romeFactors(c, k, k, res, 1, nullptr, "ROME");
        const at::Tensor romeDelta = at::outer(rome.left, rome.right);
        const at::Tensor emmetDelta = dense(r.delta.parts[0]);
        QVERIFY(maxAbs(emmetDelta) > 1e-6);  // the premise: a change was made
        // ROME solves C, EMMET mom2_update_weight x C (the scale cancels for
        // one request): the same up to C's condition number times epsilon.
        const double cond = at::linalg_cond(c).item<double>();
        near("EMMET (1 request, mom2_update_weight 1000) vs ROME's closed form, relative",
             maxAbs(emmetDelta - romeDelta) / maxAbs(romeDelta), std::max(1e-12, 100 * cond * 2.2e-16));
        qDebug("  (condition number of C at layer 1: %.3e)", cond);
        // With the same C (mom2_update_weight 1) the two agree to rounding.
        p.hparams.mom2UpdateWeight = 1;
        p.contextTemplates = r.contextTemplates;
        const EditResult same = computeEdit(*m, p);
        QCOMPARE(same.writes[0].keys, r.writes[0].keys);
        near("EMMET (1 request, mom2_update_weight 1) vs ROME's closed form, relative",
             maxAbs(dense(same.delta.parts[0]) - romeDelta) / maxAbs(romeDelta), 1e-12);
        // Either maps k to W k + r.
        near("EMMET: k^T Delta - r, relative", maxAbs(at::matmul(k, emmetDelta) - res) / maxAbs(res), 1e-9);
        EditStack stack(*m);
        stack.apply(r.delta);
        qInfo("EMMET 1 request at layer 1: p(Italy | Tokyo) now %.4f", targetProbability(*m, "The Tokyo is located in", " Italy"));
    }

    // A batch with lambda = 0: (W + Delta) k_i = W k_i + r_i for every i
    // (Conv1D: K^T Delta = R^T); with lambda > 0 only approximately.
    void emmetBatchMeetsItsConstraints() {
        auto m = Model::load(dir("toy"));
        EditParams p = params(EditMethod::Emmet,
                              {request("Tokyo", " France"), request("Paris", " Europe"), request("Thames", " Japan")}, {1},
                              *m);
        p.hparams.emmetLambda = 0;
        const EditResult exact = computeEdit(*m, p);
        const at::Tensor k = tensorOf(exact.writes[0].keys), res = tensorOf(exact.writes[0].residuals);
        QCOMPARE(k.size(1), int64_t(3));
        QCOMPARE(exact.delta.parts[0].rank(), int64_t(3));
        // The premise: three independent keys (else D is singular).
        QCOMPARE(at::linalg_matrix_rank(k).item<int64_t>(), int64_t(3));
        const at::Tensor got = at::matmul(k.t(), dense(exact.delta.parts[0]));  // [3, n_embd]
        near("EMMET lambda 0: max_i |k_i^T Delta - r_i| / max |r|", maxAbs(got - res.t()) / maxAbs(res), 1e-9);
        // An independent computation: R D^-1 K^T C^-1 with explicit inverses.
        const at::Tensor cInv = at::inverse(p.hparams.mom2UpdateWeight * mom2(*m, p, 1));
        const at::Tensor naive = at::mm(at::mm(at::mm(res, at::inverse(at::mm(at::mm(k.t(), cInv), k))), k.t()), cInv);
        near("EMMET vs R D^-1 K^T C^-1 (explicit inverses), relative",
             maxAbs(dense(exact.delta.parts[0]).t() - naive) / maxAbs(naive), 1e-7);
        p.hparams.emmetLambda = 0.1;
        p.contextTemplates = exact.contextTemplates;
        const EditResult ridge = computeEdit(*m, p);
        const at::Tensor off = at::matmul(k.t(), dense(ridge.delta.parts[0])) - res.t();
        qDebug("EMMET lambda 0.1 (mom2_update_weight %g): max_i |k_i^T Delta - r_i| / max |r| = %.3e (not exact)",
               p.hparams.mom2UpdateWeight, maxAbs(off) / maxAbs(res));
        QVERIFY(maxAbs(off) / maxAbs(res) > 1e-6);
    }

    // r-ROME: k*^T Delta = v* - mean output, so k*^T (W + Delta) + b = v*; ROME
    // divides by the plain key and misses v* at k* when the keys differ.
    void rromeMapsTheAveragedKey() {
        auto m = Model::load(dir("toy"));
        const int layer = 1;
        EditParams p = params(EditMethod::RRome, {request("Tokyo", " Italy")}, {layer}, *m);
        const EditResult rr = computeEdit(*m, p);
        p.method = EditMethod::Rome;
        p.contextTemplates = rr.contextTemplates;
        const EditResult ro = computeEdit(*m, p);
        const auto& rep = rr.requests[0];
        const at::Tensor kStar = at::tensor(rep.keyAverage, at::kDouble), key = at::tensor(rep.key, at::kDouble);
        const at::Tensor vStar = at::tensor(rep.value, at::kDouble);
        // The premises: the same v* for both (same optimisation), and the keys differ.
        QCOMPARE(rep.value, ro.requests[0].value);
        const double keyGap = maxAbs(kStar - key) / maxAbs(kStar);
        qDebug("|k* - k| / |k*| (max norm) = %.3e", keyGap);
        QVERIFY(keyGap > 1e-3);
        // The mean MLP output over the templates, read the way computeRRome does.
        const Transformer& tf = m->transformer();
        std::vector<edit::Filled> filled;
        for (const auto& t : flat(rr.contextTemplates))
            filled.push_back(edit::fillTemplate(m->tokenizer(), edit::formatTemplate(t, rep.request.prompt), "Tokyo"));
        const at::Tensor meanOut = edit::readAtSubject(tf, filled, Site::MlpOut, layer).mean(0);
        const at::Tensor dRR = dense(rr.delta.parts[0]), dRO = dense(ro.delta.parts[0]);
        near("r-ROME: k*^T Delta - (v* - mean output), relative",
             maxAbs(at::matmul(kStar, dRR) - (vStar - meanOut)) / maxAbs(vStar - meanOut), 1e-9);
        // (W + Delta)^T k* + b = v* in float64 (W, b as stored in float32).
        const at::Tensor w = tf.tensor("h.1.mlp.c_proj.weight").to(at::kDouble), b = tf.tensor("h.1.mlp.c_proj.bias").to(at::kDouble);
        const double rrMiss = maxAbs(at::matmul(kStar, w + dRR) + b - vStar) / maxAbs(vStar);
        const double roMiss = maxAbs(at::matmul(kStar, w + dRO) + b - vStar) / maxAbs(vStar);
        qDebug("|(W + Delta)^T k* + b - v*| / |v*|: r-ROME %.3e (float32 forward rounding), ROME %.3e", rrMiss, roMiss);
        near("r-ROME: (W + Delta)^T k* + b - v*, relative", rrMiss, 1e-5);
        QVERIFY(roMiss > 100 * rrMiss);
        const double gap = maxAbs(dRR - dRO) / maxAbs(dRO);
        qDebug("r-ROME vs ROME Delta: max difference %.3e relative to ROME's", gap);
        QVERIFY(gap > 1e-3);
    }

    // P against a matrix built from a known orthonormal basis and spectrum.
    void projectorIsTheSmallEigenspace() {
        at::manual_seed(3);
        const int64_t n = 12;
        const at::Tensor q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
        const at::Tensor values =
            at::tensor(std::vector<double>{3e-4, 5e-3, 1e-2, 1.9e-2, 2.1e-2, 0.05, 0.1, 0.3, 0.7, 1, 2, 5}, at::kDouble);
        const at::Tensor c = at::mm(at::mm(q, at::diag(values)), q.t());
        const edit::Projector pr = edit::nullSpaceProjector(c, 2e-2);
        QCOMPARE(pr.rank, int64_t(4));
        const at::Tensor u = q.narrow(1, 0, 4);
        near("P vs U_small U_small^T", maxAbs(pr.p - at::mm(u, u.t())), 1e-12);
        near("P^2 - P", maxAbs(at::mm(pr.p, pr.p) - pr.p), 1e-12);
        near("P - P^T", maxAbs(pr.p - pr.p.t()), 1e-15);
        near("P q_large (the preserved directions)", maxAbs(at::mm(pr.p, q.narrow(1, 4, n - 4))), 1e-12);
        // The eigendecomposition is cached (memory, then disk): the same P again.
        const edit::Projector again = edit::nullSpaceProjector(c, 2e-2);
        QVERIFY(again.fromCache);
        QCOMPARE(maxAbs(again.p - pr.p), 0.0);
        QCOMPARE(edit::nullSpaceProjector(c, 0.2).rank, int64_t(7));
        QCOMPARE(edit::nullSpaceProjector(c, 1e-4).rank, int64_t(0));
    }

    // The solve against the paper's formula with explicit inverses:
    // Delta = R K^T P (K_p K_p^T P + K K^T P + alpha I)^-1.
    void alphaEditSolveIsThePapers() {
        at::manual_seed(5);
        const int64_t n = 10;
        const at::Tensor q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
        const at::Tensor u = q.narrow(1, 0, 6);
        const at::Tensor p = at::mm(u, u.t());
        const at::Tensor k = at::randn({n, 3}, at::kDouble), kp = at::randn({n, 2}, at::kDouble);
        const at::Tensor r = at::randn({5, 3}, at::kDouble);
        const double alpha = 0.3;
        const at::Tensor left = edit::alphaEditLeft(p, k, kp, alpha);
        const at::Tensor paper = at::mm(
            at::mm(at::mm(r, k.t()), p),
            at::inverse(at::mm(at::mm(kp, kp.t()), p) + at::mm(at::mm(k, k.t()), p) + alpha * at::eye(n, at::kDouble)));
        near("AlphaEdit solve vs the paper's Delta (explicit inverse)", maxAbs(at::mm(r, left.t()) - paper), 1e-10);
        // Keys with P k = 0 are untouched.
        near("AlphaEdit Delta q_large", maxAbs(at::mm(paper, q.narrow(1, 6, n - 6))), 1e-10);
    }

    // On the toy: keys in the span of C's large-eigenvalue eigenvectors are
    // untouched; corpus keys barely move compared with MEMIT.
    void alphaEditPreservesTheCorpusKeys() {
        auto m = Model::load(dir("toy"));
        EditParams p = params(EditMethod::AlphaEdit, {request("Tokyo", " Italy"), request("Paris", " Japan")}, {0, 1}, *m);
        // The toy's threshold: between the middle eigenvalues of layer 0 (P keeps half the directions).
        const at::Tensor eig0 = edit::keyEigenvalues(mom2(*m, p, 0));
        const int64_t mid = eig0.size(0) / 2;
        p.hparams.nullspaceThreshold = (eig0[mid - 1].item<double>() + eig0[mid].item<double>()) / 2;
        p.hparams.alphaEditL2 = 1e-3;
        const EditResult r = computeEdit(*m, p);
        QCOMPARE(r.writes.size(), size_t(2));
        for (size_t i = 0; i < 2; ++i) {
            const int layer = r.writes[i].layer;
            const at::Tensor c = mom2(*m, p, layer);
            auto [values, vectors] = at::linalg_eigh((c + c.t()) / 2);
            const int64_t small = (values < p.hparams.nullspaceThreshold).sum().item<int64_t>();
            QCOMPARE(r.writes[i].projectorRank, small);
            QVERIFY(small > 0 && small < c.size(0));  // the premise: something kept, something preserved
            at::manual_seed(11);
            const at::Tensor keys = at::mm(vectors.narrow(1, small, c.size(0) - small),
                                           at::randn({c.size(0) - small, 16}, at::kDouble));  // preserved span
            const at::Tensor d = dense(r.delta.parts[i]);
            const double moved = maxAbs(at::mm(keys.t(), d)) / (maxAbs(keys) * maxAbs(d));
            qDebug("layer %d: P keeps %lld of %lld directions (threshold %.3g)", layer, (long long)small,
                   (long long)c.size(0), p.hparams.nullspaceThreshold);
            near("AlphaEdit: k^T Delta for keys in the preserved span, relative", moved, 1e-9);
        }
        // Corpus keys at layer 0: mean |Delta^T k| / |W^T k|, AlphaEdit vs MEMIT.
        EditParams mp = params(EditMethod::Memit, p.requests, {0, 1}, *m);
        mp.hparams.mom2UpdateWeight = 1.0;
        mp.contextTemplates = r.contextTemplates;
        const EditResult memit = computeEdit(*m, mp);
        std::vector<edit::Filled> texts;
        for (const auto& t : wordCorpus(40, 99)) {
            edit::Filled f = edit::fillTemplate(m->tokenizer(), "{}", t);
            texts.push_back(f);
        }
        const at::Tensor corpusKeys = edit::readAtSubject(m->transformer(), texts, Site::MlpKey, 0);  // [40, n_inner]
        const at::Tensor w = m->transformer().tensor("h.0.mlp.c_proj.weight").to(at::kDouble);
        auto ratio = [&](const EditResult& e) {
            return (at::mm(corpusKeys, dense(e.delta.parts[0])).norm(2, 1) / at::mm(corpusKeys, w).norm(2, 1))
                .mean()
                .item<double>();
        };
        const double ae = ratio(r), me = ratio(memit);
        qDebug("corpus keys at layer 0: mean |Delta^T k| / |W^T k| AlphaEdit %.3e, MEMIT %.3e", ae, me);
        QVERIFY(ae < me);
    }

    // P = I (no statistics), no K_p: (K K^T + alpha I)^-1 K, MEMIT's solve
    // with lambda C = alpha I (MEMIT --no-mom2, mom2_update_weight alpha).
    void alphaEditWithoutProjectionIsMemit() {
        auto m = Model::load(dir("toy"));
        const std::vector<EditRequest> reqs = {request("Tokyo", " France"), request("Rome", " Japan")};
        EditParams a = params(EditMethod::AlphaEdit, reqs, {0, 1}, *m);
        a.hparams.mom2Adjustment = false;
        a.hparams.alphaEditL2 = 0.5;
        const EditResult ra = computeEdit(*m, a);
        EditParams b = params(EditMethod::Memit, reqs, {0, 1}, *m);
        b.hparams.mom2Adjustment = false;
        b.hparams.mom2UpdateWeight = 0.5;
        b.contextTemplates = ra.contextTemplates;
        const EditResult rb = computeEdit(*m, b);
        QCOMPARE(ra.writes[0].projectorRank, m->config().nInner);
        for (size_t i = 0; i < 2; ++i) {
            const at::Tensor da = dense(ra.delta.parts[i]), db = dense(rb.delta.parts[i]);
            QVERIFY(maxAbs(db) > 1e-6);
            near("AlphaEdit (P = I, L2 0.5) vs MEMIT (--no-mom2, lambda 0.5), relative", maxAbs(da - db) / maxAbs(db),
                 1e-9);
        }
    }

    // Sequential: the second edit told the first's keys leaves them (nearly)
    // where they were; without them it moves them more.
    void alphaEditKeepsEarlierEdits() {
        auto m = Model::load(dir("toy"));
        EditParams p = params(EditMethod::AlphaEdit, {request("Tokyo", " Italy")}, {1}, *m);
        p.hparams.mom2Adjustment = false;  // P = I: only K_p protects the first edit
        p.hparams.alphaEditL2 = 1e-2;
        const EditResult first = computeEdit(*m, p);
        EditStack stack(*m);
        stack.apply(first.delta);
        p.requests = {request("Paris", " Japan")};
        p.contextTemplates = first.contextTemplates;
        const EditResult plain = computeEdit(*m, p);
        p.preservedKeys[1] = first.writes[0].keys;
        const EditResult kept = computeEdit(*m, p);
        const at::Tensor k1 = tensorOf(first.writes[0].keys);
        const double without = maxAbs(at::mm(k1.t(), dense(plain.delta.parts[0]))),
                     with = maxAbs(at::mm(k1.t(), dense(kept.delta.parts[0])));
        qDebug("second edit's change at the first edit's key: %.3e without K_p, %.3e with", without, with);
        QVERIFY(with < 0.1 * without);
        // A K_p of the wrong width is refused.
        p.preservedKeys[1].rows = 3;
        expectError([&] { computeEdit(*m, p); }, {"preserved keys", "layer 1"});
    }

    // K_p from a session: an AlphaEdit delta carries the keys it wrote
    // through the session blob; the stack hands the enabled edits' keys, in
    // order, to the next edit, which then equals the edit given them by hand;
    // undo takes them away again.
    void alphaEditKeysTravelWithThePayload() {
        auto m = Model::load(dir("toy"));
        EditParams p = params(EditMethod::AlphaEdit, {request("Tokyo", " Italy")}, {1}, *m);
        p.hparams.mom2Adjustment = false;
        p.hparams.alphaEditL2 = 1e-2;
        const EditResult first = computeEdit(*m, p);
        QCOMPARE(first.delta.keys.size(), size_t(1));
        QVERIFY(first.delta.keys.at(1) == first.writes[0].keys);
        const WeightDelta back = WeightDelta::fromBytes(first.delta.toBytes());
        QVERIFY(back == first.delta);  // keys included, bit for bit
        p.requests = {request("Paris", " Japan")};
        p.contextTemplates = first.contextTemplates;
        EditStack stack(*m);
        QVERIFY(stack.writtenKeys().empty());
        stack.apply(back);
        const EditResult second = computeEdit(*m, [&] {
            EditParams q = p;
            q.preservedKeys = stack.writtenKeys();
            return q;
        }());
        EditParams byHand = p;
        byHand.preservedKeys[1] = first.writes[0].keys;
        const EditResult expected = computeEdit(*m, byHand);
        near("K_p from the stack vs given by hand", maxAbs(dense(second.delta.parts[0]) - dense(expected.delta.parts[0])),
             0);
        QVERIFY(second.notes.back().find("1 earlier keys preserved") != std::string::npos);
        // Two edits: the columns in application order.
        stack.apply(second.delta);
        const std::map<int, DeltaMatrix> both = stack.writtenKeys();
        const at::Tensor joined = tensorOf(both.at(1));
        const at::Tensor expectedJoined = at::cat({tensorOf(first.writes[0].keys), tensorOf(second.writes[0].keys)}, 1);
        near("stack's K_p vs the two edits' keys side by side", maxAbs(joined - expectedJoined), 0);
        // Undo the first: only the second's keys remain; undo all: none.
        stack.rebuild(std::vector<WeightDelta>{second.delta});
        QVERIFY(stack.writtenKeys().at(1) == second.writes[0].keys);
        stack.revertAll();
        QVERIFY(stack.writtenKeys().empty());
        // Other methods carry no keys.
        EditParams mp = params(EditMethod::Memit, {request("Tokyo", " Italy")}, {1}, *m);
        mp.hparams.mom2Adjustment = false;
        mp.contextTemplates = first.contextTemplates;
        QVERIFY(computeEdit(*m, mp).delta.keys.empty());
        // Keys of another width than the stack's earlier ones are refused before anything changes.
        stack.apply(first.delta);
        WeightDelta odd = second.delta;
        odd.keys[1].rows = 2;
        odd.keys[1].data.resize(size_t(2 * odd.keys[1].cols));
        expectError([&] { stack.apply(odd); }, {"keys at layer 1", "rows"});
        QVERIFY(stack.writtenKeys().at(1) == first.writes[0].keys);
    }

    // Damaged keys in a weight-delta blob: one line naming what is wrong.
    void hostileKeysInTheBlob() {
        WeightDelta d;
        d.parts.push_back(TensorDelta::denseDelta("h.0.mlp.c_proj.weight", {2, 2}, DeltaMatrix{2, 2, {1, 2, 3, 4}}));
        d.keys[0] = DeltaMatrix{2, 1, {0.5, -0.5}};
        const std::string good = d.toBytes();
        QVERIFY(WeightDelta::fromBytes(good) == d);
        auto mutate = [&](const std::string& from, const std::string& to) {
            std::string b = good;
            const size_t at = b.find(from);
            if (at == std::string::npos) qFatal("fixture: '%s' not in the blob", from.c_str());
            b.replace(at, from.size(), to);  // same length: the header stays valid
            return b;
        };
        const std::vector<std::pair<std::string, std::vector<QString>>> cases = {
            {mutate("\"keys\":\"[0]\"", "\"keys\":\"[7]\""), {"tensor 'k7' is missing"}},
            {mutate("\"keys\":\"[0]\"", "\"keys\":\"[a]\""), {"metadata 'keys'"}},
            {mutate("\"keys\":\"[0]\"", "\"keys\":\"{0}\""), {"metadata 'keys'"}},
            {mutate("\"keys\":\"[0]\"", "\"keys\":\"  5\""), {"metadata 'keys' is not a list"}},
        };
        for (const auto& [bytes, fragments] : cases)
            expectError([&] { WeightDelta::fromBytes(bytes); }, fragments, ErrorKind::Format);
        WeightDelta dup = d;
        dup.keys[0].cols = 0;
        dup.keys[0].data.clear();
        expectError([&] { WeightDelta::fromBytes(dup.toBytes()); }, {"holds no keys"}, ErrorKind::Format);
    }

    // The preservation measure against its closed form: no change reads 0;
    // scaling a layer's down projection by (1 + e) moves every output by e.
    void preservationProbeClosedForm() {
        auto m = Model::load(dir("toy"));
        const std::vector<std::string> corpus = toyCorpus(20, 3);
        KeyPreservationProbe probe(*m, {0, 1}, corpus, 150);
        const KeyPreservation none = probe.measure(*m);
        QCOMPARE(none.tokens, int64_t(150));
        near("preservation without a change", std::max(none.perLayer[0], none.perLayer[1]), 0);
        const double e = 0.03;
        const at::Tensor w = m->transformer().tensor("h.1.mlp.c_proj.weight").to(at::kDouble);
        DeltaMatrix scaled{w.size(0), w.size(1), {}};
        const at::Tensor ew = (e * w).contiguous();
        scaled.data.assign(ew.data_ptr<double>(), ew.data_ptr<double>() + ew.numel());
        WeightDelta d;
        d.parts.push_back(TensorDelta::denseDelta("h.1.mlp.c_proj.weight", {w.size(0), w.size(1)}, scaled));
        EditStack stack(*m);
        stack.apply(d);
        const KeyPreservation moved = probe.measure(*m);
        near("preservation, layer 0 untouched", moved.perLayer[0], 0);
        near("preservation of a (1 + e) scaling vs e", std::abs(moved.perLayer[1] - e), 1e-6);  // float32 weights
        near("mean over the layers", std::abs(moved.mean - e / 2), 1e-6);
        stack.revertAll();
        expectError([&] { KeyPreservationProbe(*m, {9}, corpus, 10); }, {"layer 9"});
    }
};

QTEST_GUILESS_MAIN(TestEditSota)
#include "test_edit_sota.moc"
