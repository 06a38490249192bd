// FT-M (EasyEdit's "target_new" objective) against FT-L ("prompt_last"):
// both losses against a hand computation in float64, the target-only
// gradient of FT-M (prompt positions get exactly zero and changing their
// logits leaves the loss unchanged), the first loss of a real FT-M edit on
// the demo model against the model's own per-request logits, and the two
// objectives agreeing on a one-token target and not on a longer one.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>

#include "engine/core/Paths.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/FineTuneLoss.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "engine/tokenizer/Tokenizer.h"
#include "tests/engine/FactEdits.h"

using namespace kme;
using edit::promptLastLoss;
using edit::targetNewLoss;

namespace {

using kme::testing::request;

// -log softmax(row)[id] by a plain loop (log-sum-exp with the max taken out).
double nllByLoop(const at::Tensor& row, int64_t id) {
    const at::Tensor r = row.to(at::kDouble).contiguous();
    const double* x = r.data_ptr<double>();
    const int64_t V = r.size(0);
    double mx = x[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, x[v]);
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(x[v] - mx);
    return -(x[id] - mx - std::log(s));
}

}  // namespace

class TestFtM final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void rowsAreInTheTable() {
        const MethodInfo& m = methodByName("ft-m");
        QCOMPARE(int(m.method), int(EditMethod::FtM));
        QCOMPARE(int(m.family), int(MethodFamily::GlobalOptimization));
        QCOMPARE(std::string(editMethodName(EditMethod::FtM)), std::string("ft-m"));
        // The FT-L hyper-parameters, nothing else.
        std::vector<std::string> ftl, ftm;
        for (const HparamSpec* s : hparamSchema(EditMethod::FtL)) ftl.push_back(s->key);
        for (const HparamSpec* s : hparamSchema(EditMethod::FtM)) ftm.push_back(s->key);
        QCOMPARE(ftm, ftl);
    }

    void targetNewEqualsTheLoop() {
        at::manual_seed(3);
        const int64_t B = 3, T = 7, V = 11;
        const at::Tensor logits = at::randn({B, T, V}, at::TensorOptions().dtype(at::kDouble)) * 3.0;
        const at::Tensor ids = at::randint(0, V, {B, T}, at::TensorOptions().dtype(at::kLong));
        const std::vector<int64_t> P = {2, 4, 1}, L = {5, 7, 2};  // targets of 3, 3 and 1 tokens; row 0 padded
        const double got = targetNewLoss(logits, ids, P, L).item<double>();
        double want = 0;
        for (int64_t b = 0; b < B; ++b) {
            double sum = 0;
            for (int64_t t = P[size_t(b)]; t < L[size_t(b)]; ++t)
                sum += nllByLoop(logits[b][t - 1], ids[b][t].item<int64_t>());
            want += sum / double(L[size_t(b)] - P[size_t(b)]) / double(B);
        }
        qInfo("target_new loss %.12f, loop %.12f, |diff| %.3g (tolerance 1e-12)", got, want, std::fabs(got - want));
        QVERIFY(std::fabs(got - want) < 1e-12);
    }

    void targetNewGradientComesFromTargetPositionsOnly() {
        at::manual_seed(4);
        const int64_t B = 2, T = 8, V = 9;
        at::Tensor logits = at::randn({B, T, V}, at::TensorOptions().dtype(at::kDouble));
        const at::Tensor ids = at::randint(0, V, {B, T}, at::TensorOptions().dtype(at::kLong));
        const std::vector<int64_t> P = {3, 5}, L = {6, 8};
        logits.set_requires_grad(true);
        const at::Tensor loss = targetNewLoss(logits, ids, P, L);
        loss.backward();
        const at::Tensor g = logits.grad();
        double offTarget = 0, onTarget = 0;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = 0; t < T; ++t) {
                const double n = g[b][t].abs().max().item<double>();
                // Position t predicts token t + 1: scored when P <= t + 1 < L.
                const bool scored = t + 1 >= P[size_t(b)] && t + 1 < L[size_t(b)];
                if (scored) QVERIFY2(n > 1e-6, "a target position has no gradient");
                (scored ? onTarget : offTarget) = std::max(scored ? onTarget : offTarget, n);
            }
        qInfo("largest |dloss/dlogit| at scored positions %.4g, elsewhere %.3g (must be 0)", onTarget, offTarget);
        QCOMPARE(offTarget, 0.0);
        // Changing the logits of a prompt position (and of the padding) leaves the loss bit for bit.
        at::NoGradGuard noGrad;
        at::Tensor changed = logits.detach().clone();
        changed[0][0].add_(5.0);
        changed[1][2].mul_(-3.0);
        changed[0][7].add_(1.0);  // padding after row 0's target
        QCOMPARE(targetNewLoss(changed, ids, P, L).item<double>(), loss.item<double>());
        // ... while a target position's logits do change it.
        changed[0][3].add_(at::randn({V}, changed.options()));
        QVERIFY(targetNewLoss(changed, ids, P, L).item<double>() != loss.item<double>());
    }

    void promptLastEqualsTheLoop() {
        at::manual_seed(5);
        const at::Tensor last = at::randn({2, 13}, at::TensorOptions().dtype(at::kDouble)) * 2.0;
        const std::vector<std::vector<int64_t>> targets = {{3, 7, 1}, {12}};
        const double got = promptLastLoss(last, targets).item<double>();
        const double want = ((nllByLoop(last[0], 3) + nllByLoop(last[0], 7) + nllByLoop(last[0], 1)) / 3.0 +
                             nllByLoop(last[1], 12)) / 2.0;
        qInfo("prompt_last loss %.12f, loop %.12f, |diff| %.3g (tolerance 1e-12)", got, want, std::fabs(got - want));
        QVERIFY(std::fabs(got - want) < 1e-12);
    }

    // The first loss of a real FT-M edit is the model's own teacher-forced
    // target NLL (each request run alone, no padding); FT-L's is every
    // target token at the prompt's last position. One-token targets: equal.
    void firstLossOnTheDemoModel() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        auto m = Model::load(demoModelFolder());
        const Transformer& tf = m->transformer();
        const std::vector<EditRequest> reqs = {request("The capital of {} is", "Germany", " Buenos Aires"),
                                               request("{} is a citizen of", "Angela Merkel", " Pyongyang")};
        double wantM = 0, wantL = 0;
        std::vector<size_t> lengths;
        for (const auto& r : reqs) {
            const std::vector<int> p = m->encodePrompt(r.filledPrompt()), t = m->tokenizer().encodeContinuation(r.targetNew);
            lengths.push_back(t.size());
            std::vector<int64_t> seq(p.begin(), p.end());
            seq.insert(seq.end(), t.begin(), t.end());
            ForwardRequest fr;
            fr.ids = at::tensor(at::ArrayRef<int64_t>(seq), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
            const at::Tensor logits = tf.forward(fr).logits[0];
            double m1 = 0, l1 = 0;
            for (size_t j = 0; j < t.size(); ++j) {
                m1 += nllByLoop(logits[int64_t(p.size() - 1 + j)], t[j]);
                l1 += nllByLoop(logits[int64_t(p.size() - 1)], t[j]);
            }
            wantM += m1 / double(t.size()) / double(reqs.size());
            wantL += l1 / double(t.size()) / double(reqs.size());
        }
        QVERIFY2(lengths[0] > 1, "premise: ' Buenos Aires' is more than one token of the demo vocabulary");
        for (EditMethod method : {EditMethod::FtM, EditMethod::FtL}) {
            EditParams p = defaultEditParams(*m, method);
            p.method = method;
            p.requests = reqs;
            p.hparams.ftSteps = 2;
            p.hparams.layers = {1};
            const EditResult r = computeEdit(*m, p);
            const double want = method == EditMethod::FtM ? wantM : wantL;
            const double got = r.requests[0].nllInit;
            qInfo("%s first loss %.8f, by hand %.8f, |diff| %.3g (tolerance 1e-5, float32)", editMethodName(method),
                  got, want, std::fabs(got - want));
            QVERIFY(std::fabs(got - want) < 1e-5);
        }
        QVERIFY(std::fabs(wantM - wantL) > 1e-2);  // the objectives differ on a longer target
        // One-token targets: the same loss.
        const EditRequest one = request("The capital of {} is", "Germany", " Paris");
        QCOMPARE(m->tokenizer().encodeContinuation(one.targetNew).size(), size_t(1));
        double first[2];
        int i = 0;
        for (EditMethod method : {EditMethod::FtM, EditMethod::FtL}) {
            EditParams p = defaultEditParams(*m, method);
            p.method = method;
            p.requests = {one};
            p.hparams.ftSteps = 1;
            p.hparams.layers = {1};
            first[i++] = computeEdit(*m, p).requests[0].nllInit;
        }
        qInfo("one-token target: FT-M %.8f, FT-L %.8f, |diff| %.3g (tolerance 1e-5: float32 sums over other shapes)",
              first[0], first[1], std::fabs(first[0] - first[1]));
        QVERIFY(std::fabs(first[0] - first[1]) < 1e-5);
    }
};

QTEST_GUILESS_MAIN(TestFtM)
#include "test_ft_m.moc"
