// MEND: the editor network's forward against a hand loop, a fresh editor's
// edit against a plain gradient step of the learned size (closed form, also
// with normalization statistics), the gradient factors against autograd, the
// delta touching only the editor's matrices, the editor file (bit-for-bit
// reload, other weights refused, hostile files refused with one line), and a
// micro training run that lowers its edit loss.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/FineTuneLoss.h"
#include "engine/edit/Mend.h"
#include "engine/edit/MendEditor.h"
#include "engine/eval/Dataset.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "tests/engine/FactEdits.h"

using namespace kme;
using namespace kme::edit;

namespace {

using kme::testing::request;

std::string tmpPath(const std::string& name) {
    const char* dir = std::getenv("KME_TEST_TMP");
    const std::string d = dir ? dir : "/tmp";
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) return "/tmp/" + name;
    return d + "/mend-" + name;
}

double maxAbs(const at::Tensor& a) { return a.abs().max().item<double>(); }

// The network by plain loops in float64: per layer y = act((U (V x) + b) * s + h) + x.
std::vector<double> mlpByLoop(const GradientTransform& g, std::vector<double> x, int64_t mode) {
    for (const MendLayer& l : g.layers) {
        const at::Tensor U = l.U.to(at::kDouble), V = l.V.to(at::kDouble), b = l.b.to(at::kDouble);
        const at::Tensor s = l.scale.to(at::kDouble), h = l.shift.to(at::kDouble);
        const int64_t D = U.size(0), r = U.size(1);
        std::vector<double> vx(size_t(r), 0.0), y(size_t(D), 0.0);
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < D; ++j) vx[size_t(i)] += V[i][j].item<double>() * x[size_t(j)];
        for (int64_t i = 0; i < D; ++i) {
            double pre = b[i].item<double>();
            for (int64_t j = 0; j < r; ++j) pre += U[i][j].item<double>() * vx[size_t(j)];
            pre = pre * s[mode][i].item<double>() + h[mode][i].item<double>();
            y[size_t(i)] = (l.relu ? std::max(0.0, pre) : pre) + x[size_t(i)];
        }
        x = y;
    }
    return x;
}

std::vector<int> lastLayers(const Model& m, int k) {
    std::vector<int> out;
    for (int l = m.config().nLayer - k; l < m.config().nLayer; ++l) out.push_back(l);
    return out;
}

}  // namespace

class TestMend final : public QObject {
    Q_OBJECT

    std::shared_ptr<Model> model_;
    Model& demo() {
        if (!model_) model_ = Model::load(demoModelFolder());
        return *model_;
    }

private Q_SLOTS:
    void editorForwardByHand() {
        at::manual_seed(11);
        MendConfig cfg;
        cfg.rank = 3;
        cfg.nHidden = 1;
        GradientTransform g(4, 3, 2, cfg);  // D = 7, rank 3 < 7: low rank
        for (MendLayer& l : g.layers) {     // non-trivial values everywhere
            l.U = at::randn_like(l.U);
            l.b = at::randn_like(l.b) * 0.3;
            l.scale = at::rand_like(l.scale) + 0.5;
            l.shift = at::randn_like(l.shift) * 0.2;
        }
        const at::Tensor u = at::randn({5, 4}, at::TensorOptions().dtype(at::kDouble));
        const at::Tensor d = at::randn({5, 3}, at::TensorOptions().dtype(at::kDouble)) * 1e-3;
        g.updateStats(u, d);
        QCOMPARE(g.k, 5.0);
        // The statistics: the rows' mean and sample std (closed form).
        const double statDiff = std::max(maxAbs(g.uMean - u.mean(0)), maxAbs(g.uStd() - u.std(0)));
        QVERIFY(statDiff < 1e-12);
        const auto [ut, dt] = g.forward(u, d, 1);
        double diff = 0;
        for (int64_t row = 0; row < 5; ++row) {
            std::vector<double> x;
            for (int64_t j = 0; j < 4; ++j)
                x.push_back((u[row][j].item<double>() - g.uMean[j].item<double>()) / (g.uStd()[j].item<double>() + 1e-7));
            for (int64_t j = 0; j < 3; ++j)
                x.push_back((d[row][j].item<double>() - g.vMean[j].item<double>()) / (g.vStd()[j].item<double>() + 1e-7));
            const std::vector<double> y = mlpByLoop(g, x, 1);
            for (int64_t j = 0; j < 4; ++j) diff = std::max(diff, std::fabs(ut[row][j].item<double>() - y[size_t(j)]));
            for (int64_t j = 0; j < 3; ++j) diff = std::max(diff, std::fabs(dt[row][j].item<double>() - y[size_t(4 + j)]));
        }
        qInfo("editor forward vs loop: max |diff| %.3g (tolerance 1e-4, float32 network); statistics %.3g", diff, statDiff);
        QVERIFY(diff < 1e-4);
        // The premise of the loop: the ReLU was active and inactive somewhere.
        const at::Tensor pre = at::matmul(at::matmul(at::cat({(u - g.uMean) / (g.uStd() + 1e-7), (d - g.vMean) / (g.vStd() + 1e-7)}, -1).to(at::kFloat),
                                                     g.layers[0].V.t()), g.layers[0].U.t()) + g.layers[0].b;
        QVERIFY((pre > 0).any().item<bool>() && (pre < 0).any().item<bool>());
    }

    // The factors' outer products are the true gradient of the target NLL
    // (autograd through the weights), and a fresh editor -- identity
    // networks, no statistics -- steps by exactly -alpha * gradient.
    void freshEditorIsAPlainGradientStep() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        MendConfig cfg;
        cfg.layers = lastLayers(m, 3);
        cfg.editLr = 3e-4;
        MendEditor e = newMendEditor(m, cfg, 1);
        QCOMPARE(e.matrices.size(), size_t(6));
        QCOMPARE(e.nets.size(), size_t(2));  // up [128 x 512] and down [512 x 128] shapes
        const TargetBatch b = targetBatch(m, {{"The capital of Germany is", " Buenos Aires"}});
        const std::vector<GradFactors> f = gradientFactors(m.transformer(), e, b.ids, b.promptLen, b.totalLen);
        // Autograd's gradient of every matrix.
        Transformer& tf = m.transformer();
        std::map<std::string, at::Tensor> originals, leaves;
        for (const auto& mm : e.matrices) {
            originals[mm.tensor] = tf.tensor(mm.tensor);
            at::Tensor p = tf.tensor(mm.tensor).detach().clone().set_requires_grad(true);
            leaves[mm.tensor] = p;
            tf.setTensor(mm.tensor, p);
        }
        {
            ForwardRequest fr;
            fr.ids = b.ids;
            targetNewLoss(tf.forward(fr).logits, b.ids, b.promptLen, b.totalLen).backward();
        }
        for (const auto& [name, t] : originals) tf.setTensor(name, t);
        const std::vector<at::Tensor> deltas = mendDeltas(e, f, false);
        double worstFactor = 0, worstStep = 0;
        for (size_t i = 0; i < e.matrices.size(); ++i) {
            const at::Tensor grad = leaves.at(e.matrices[i].tensor).grad().to(at::kDouble);
            const at::Tensor outer = at::matmul(f[i].u.t().to(at::kDouble), f[i].delta.to(at::kDouble));
            const double scale = maxAbs(grad);
            QVERIFY2(scale > 0, "premise: the target NLL has a gradient at every edited matrix");
            worstFactor = std::max(worstFactor, maxAbs(outer - grad) / scale);
            worstStep = std::max(worstStep, maxAbs(deltas[i].to(at::kDouble) + 3e-4 * grad) / (3e-4 * scale));
        }
        qInfo("sum_t u_t delta_t^T vs autograd: max relative |diff| %.3g; fresh editor's delta vs -alpha grad: %.3g "
              "(tolerance 1e-4, float32)", worstFactor, worstStep);
        QVERIFY(worstFactor < 1e-4);
        QVERIFY(worstStep < 1e-4);
        // With statistics, the identity network steps by -alpha sum_t norm(u_t) norm(delta_t)^T (closed form).
        MendEditor s = e;
        for (size_t i = 0; i < f.size(); ++i) s.nets.at(s.matrices[i].shape).updateStats(f[i].u, f[i].delta);
        const std::vector<at::Tensor> normed = mendDeltas(s, f, false);
        double worstNorm = 0;
        for (size_t i = 0; i < f.size(); ++i) {
            const GradientTransform& g = s.nets.at(s.matrices[i].shape);
            const at::Tensor nu = (f[i].u.to(at::kDouble) - g.uMean) / (g.uStd() + 1e-7);
            const at::Tensor nd = (f[i].delta.to(at::kDouble) - g.vMean) / (g.vStd() + 1e-7);
            at::Tensor want = -3e-4 * at::matmul(nu.t(), nd);
            if (s.matrices[i].outIn) want = want.t();
            worstNorm = std::max(worstNorm, maxAbs(normed[i].to(at::kDouble) - want) / maxAbs(want));
        }
        qInfo("identity editor with statistics vs closed form: max relative |diff| %.3g (tolerance 1e-4)", worstNorm);
        QVERIFY(worstNorm < 1e-4);
    }

    void deltaTouchesOnlyTheEditorsMatrices() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        MendConfig cfg;
        cfg.layers = lastLayers(m, 3);
        const MendEditor e = newMendEditor(m, cfg, 2);
        const std::string path = tmpPath("touch.safetensors");
        saveMendEditor(e, path);
        const std::string before = m.weightsHash();
        EditParams p = defaultEditParams(m, EditMethod::Mend);
        p.method = EditMethod::Mend;
        p.hparams.mendEditor = path;
        p.requests = {request("The capital of {} is", "Germany", "Pyongyang")};
        const EditResult r = computeEdit(m, p);
        QCOMPARE(m.weightsHash(), before);  // computing leaves the model as it was
        std::vector<std::string> want;
        for (const auto& mm : e.matrices) want.push_back(mm.tensor);
        QCOMPARE(r.delta.tensors(), want);
        QCOMPARE(r.layers, cfg.layers);
        for (const auto& part : r.delta.parts) {
            double n = 0;
            for (double x : part.dense.data) n = std::max(n, std::fabs(x));
            QVERIFY2(n > 0, part.tensor.c_str());
        }
        std::remove(path.c_str());
    }

    void savedEditorReloadsBitForBit() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        MendConfig cfg;
        cfg.layers = lastLayers(m, 2);
        cfg.rank = 16;
        MendEditor e = newMendEditor(m, cfg, 3);
        for (at::Tensor& t : e.parameters()) t.add_(at::randn_like(t) * 0.01);
        for (auto& [key, g] : e.nets)
            g.updateStats(at::randn({7, g.xDim}, at::TensorOptions().dtype(at::kDouble)),
                          at::randn({7, g.deltaDim}, at::TensorOptions().dtype(at::kDouble)));
        e.split = {{"Germany", "France"}, {"Peru"}, {"Chile"}};
        e.steps = 42;
        const std::string path = tmpPath("reload.safetensors");
        saveMendEditor(e, path);
        const MendEditor r = loadMendEditor(path, &m);
        QCOMPARE(r.steps, int64_t(42));
        QCOMPARE(r.split.train, e.split.train);
        QCOMPARE(r.weightsHash, e.weightsHash);
        QCOMPARE(r.matrices.size(), e.matrices.size());
        const auto a = e.parameters(), b = r.parameters();
        QCOMPARE(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) QVERIFY(at::equal(a[i], b[i]));
        for (const auto& [key, g] : e.nets) {
            const GradientTransform& h = r.nets.at(key);
            QCOMPARE(h.k, g.k);
            QVERIFY(at::equal(h.uMean, g.uMean) && at::equal(h.uS, g.uS) && at::equal(h.vMean, g.vMean) && at::equal(h.vS, g.vS));
        }
        const MendEditorInfo info = readMendEditorInfo(path);
        QCOMPARE(info.steps, int64_t(42));
        QCOMPARE(info.config.layers, cfg.layers);
        std::remove(path.c_str());
    }

    void editorForOtherWeightsIsRefused() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        MendConfig cfg;
        cfg.layers = lastLayers(m, 1);
        cfg.rank = 4;
        MendEditor e = newMendEditor(m, cfg, 4);
        e.weightsHash = std::string(64, 'a');
        const std::string path = tmpPath("other.safetensors");
        saveMendEditor(e, path);
        try {
            loadMendEditor(path, &m);
            QFAIL("an editor for other weights was accepted");
        } catch (const Error& err) {
            qInfo("refused: %s", err.what());
            QCOMPARE(int(err.kind()), int(ErrorKind::Input));
            QVERIFY(std::string(err.what()).find("trained for other weights") != std::string::npos);
            QVERIFY(std::string(err.what()).find('\n') == std::string::npos);
        }
        // Without the model (the Edit tab's label) it reads.
        QCOMPARE(readMendEditorInfo(path).weightsHash, std::string(64, 'a'));
        std::remove(path.c_str());
    }

    void hostileEditorFiles() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        MendConfig cfg;
        cfg.layers = lastLayers(m, 1);
        cfg.rank = 4;
        const MendEditor good = newMendEditor(m, cfg, 5);
        const std::string goodPath = tmpPath("good.safetensors");
        saveMendEditor(good, goodPath);
        std::string bytes;
        {
            std::ifstream in(goodPath, std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), {});
        }
        struct Case {
            const char* name;
            std::function<void(std::string&)> mutate;  // on the file's bytes
            std::function<void(MendEditor&)> edit;     // or on the editor before saving
            const char* expect;
        };
        const std::vector<Case> cases = {
            {"truncated", [](std::string& b) { b.resize(b.size() / 2); }, nullptr, "MEND editor"},
            {"garbage", [](std::string& b) { b.assign(4096, '\x7f'); }, nullptr, "MEND editor"},
            {"empty", [](std::string& b) { b.clear(); }, nullptr, "MEND editor"},
            {"nan", nullptr, [](MendEditor& e) { e.nets.begin()->second.layers[0].V[0][0] = NAN; }, "non-finite"},
            {"negative variance", nullptr, [](MendEditor& e) { e.nets.begin()->second.uS[0] = -1.0; }, "negative"},
            {"bad hash", nullptr, [](MendEditor& e) { e.weightsHash = "xyz"; }, "weights_hash"},
            {"bad curve", nullptr, [](MendEditor& e) { e.curveJson = "{\"a\": 1}"; }, "curve"},
            {"shape", nullptr, [](MendEditor& e) { e.nets.begin()->second.layers[0].b = at::zeros({3}); }, "wrong shape"},
            {"extra tensor", nullptr, [](MendEditor& e) { e.config.nHidden = 0; }, "tensors, expected"},
        };
        for (const Case& c : cases) {
            const std::string path = tmpPath(std::string("hostile-") + c.name + ".safetensors");
            if (c.mutate) {
                std::string b = bytes;
                c.mutate(b);
                std::ofstream(path, std::ios::binary) << b;
            } else {
                MendEditor e = newMendEditor(m, cfg, 5);
                c.edit(e);
                saveMendEditor(e, path);
            }
            try {
                loadMendEditor(path, &m);
                QFAIL(c.name);
            } catch (const Error& err) {
                const std::string msg = err.what();
                qInfo("%s: %s", c.name, msg.c_str());
                QVERIFY2(msg.find(c.expect) != std::string::npos, c.name);
                QVERIFY2(msg.find(path) != std::string::npos, c.name);
                QVERIFY2(msg.find('\n') == std::string::npos, c.name);
            }
            std::remove(path.c_str());
        }
        // A directory and a missing file.
        for (const std::string& p : {std::string("/tmp"), tmpPath("missing.safetensors")}) {
            try {
                loadMendEditor(p, &m);
                QFAIL("accepted");
            } catch (const Error& err) {
                QVERIFY(std::string(err.what()).find('\n') == std::string::npos);
            }
        }
        std::remove(goodPath.c_str());
    }

    // A micro training run (40 steps, seconds) lowers the edit loss: the
    // mean over its last 20 steps is below the first 20's.
    void microTrainingLowersItsLoss() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        Model& m = demo();
        const Dataset facts = loadDataset(demoProjectFolder() + "/facts.json");
        MendTrainParams p;
        p.records.assign(facts.records.begin(), facts.records.begin() + 60);
        p.config.rank = 32;
        p.maxSteps = 40;
        p.evalEvery = 20;
        p.validationRecords = 3;
        p.finalRecords = 3;
        p.seed = 3;
        p.out = tmpPath("micro.safetensors");
        p.resume = false;
        const std::string before = m.weightsHash();
        const MendTrainResult r = trainMend(m, p, {});
        QCOMPARE(m.weightsHash(), before);  // training leaves the model as it was
        QCOMPARE(r.steps, int64_t(40));
        QCOMPARE(r.curve.size(), size_t(3));  // step 0, 20, 40
        qInfo("micro run: %.2f s; training edit loss (mean of steps 1-20) %.4f, (21-40) %.4f; validation target NLL "
              "after the edit: fresh editor %.4f, trained %.4f (%d records); efficacy %.2f -> %.2f",
              r.seconds, r.curve[1].editLoss, r.curve[2].editLoss, r.validationBefore.editNll, r.validationAfter.editNll,
              r.validationAfter.records, r.validationBefore.efficacy, r.validationAfter.efficacy);
        QCOMPARE(r.validationBefore.records, 3);  // the same three records before and after
        QCOMPARE(r.validationAfter.records, 3);
        // On held-out subjects the trained editor's edit leaves the new target far more likely.
        QVERIFY(r.validationAfter.editNll < r.validationBefore.editNll - 1.0);
        // Split by subject: no subject in two parts.
        for (const auto& s : r.split.test) {
            QVERIFY(std::find(r.split.train.begin(), r.split.train.end(), s) == r.split.train.end());
            QVERIFY(std::find(r.split.validation.begin(), r.split.validation.end(), s) == r.split.validation.end());
        }
        const MendEditor e = loadMendEditor(p.out, &m);
        QCOMPARE(e.steps, int64_t(40));
        QCOMPARE(e.split.test, r.split.test);
        std::remove(p.out.c_str());
    }
};

QTEST_GUILESS_MAIN(TestMend)
#include "test_mend.moc"
