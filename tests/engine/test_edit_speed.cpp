// The fast paths of the v* / z optimisation against the straightforward
// computation (engine/edit/EditSpeed.h): v* and z from cached states at the
// edit layer and cached keys/values of the positions before each subject
// (ValuePath::PositionPrefix), the blocks below the layer once
// (LayerPrefix), and the whole model from the token ids at every step (Full,
// kmeng01/rome compute_v.py); MEMIT's z of all requests in one batch against
// one request at a time; whole ROME / MEMIT edits both ways. Random models of
// GPT-2 (learned positions), LLaMA (RoPE, grouped-query attention), Mistral
// (sliding window) and GPT-NeoX (partial rotary, parallel residual), in
// float64 (differences at rounding level: tight tolerance) and float32 (the
// dtype edits run in). Prints every max difference.
#include <QtTest>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/edit/EditInternal.h"
#include "engine/edit/EditSpeed.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "tests/engine/FamilyTestSupport.h"

using namespace kme;
using namespace kme::edit;

namespace {

EditRequest makeRequest(const std::string& subject, const std::string& target, const std::string& prompt) {
    EditRequest r;
    r.subject = subject;
    r.targetNew = target;
    r.prompt = prompt;
    return r;
}

// Templates of different lengths, so that the subjects' positions differ
// across the batch (the prefix cache's right-aligned layout is exercised).
const std::vector<std::string>& templates() {
    static const std::vector<std::string> t = {"{}", "The river is long. {}", "I. {}",
                                               "Because the quick brown fox jumps over the lazy dog. {}"};
    return t;
}

EditHparams hparams() {
    EditHparams hp;
    hp.vNumGradSteps = 8;
    hp.vLr = 0.2;
    hp.vStopLoss = 0;  // every step runs (early stops are tested with the batch below)
    return hp;
}

// Largest |a - b| over the losses, the trajectory of delta (relative to
// |v_init|) and v*; fails the test when a trajectory's length differs.
struct Diff {
    double loss = 0, trajectory = 0, target = 0;
};
Diff compare(const ValueResult& a, const ValueResult& b) {
    Diff d;
    if (a.losses.size() != b.losses.size() || a.trajectory.size() != b.trajectory.size()) {
        qWarning("trajectories of different lengths: %zu / %zu losses", a.losses.size(), b.losses.size());
        d.loss = d.trajectory = d.target = INFINITY;
        return d;
    }
    const double scale = a.init.norm().item<double>();
    for (size_t i = 0; i < a.losses.size(); ++i)
        d.loss = std::max(d.loss, std::abs(a.losses[i] - b.losses[i]) / std::max(1.0, std::abs(a.losses[i])));
    for (size_t i = 0; i < a.trajectory.size(); ++i)
        d.trajectory = std::max(d.trajectory, (a.trajectory[i] - b.trajectory[i]).abs().max().item<double>() / scale);
    d.target = (a.target - b.target).abs().max().item<double>() / scale;
    return d;
}

ValueOptions withPath(ValuePath path) {
    ValueOptions o;
    o.path = path;
    o.recordTrajectory = true;
    return o;
}

}  // namespace

class TestEditSpeed final : public QObject {
    Q_OBJECT
    familytest::FamilyFolders folders_;

    std::shared_ptr<Model> model(const QString& name, bool float64) {
        const std::string n = name.toStdString();
        std::string dir;
        if (n == "gpt2") {
            ModelConfig c = tinyFamilyConfig(Architecture::Gpt2);
            c.nLayer = 4;
            dir = folders_.folder("gpt2-4", c);
        } else {
            dir = folders_.familyFolder(name);
        }
        auto m = Model::load(dir);
        if (float64) m->transformer().toDType(at::kDouble);
        return m;
    }

    // v* at the middle of the model (a layer below the last).
    static int editLayer(const Model& m) { return std::max(0, m.config().nLayer / 2 - 1); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(folders_.valid()); }

    void valuePaths_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("float64");
        QTest::addColumn<int>("site");
        QTest::addColumn<double>("tolerance");
        for (const char* n : {"gpt2", "llama", "mistral", "gpt_neox"}) {
            QTest::newRow((std::string(n) + " f64 mlp_out (v*)").c_str()) << n << true << int(Site::MlpOut) << 1e-9;
            QTest::newRow((std::string(n) + " f64 block_out (z)").c_str()) << n << true << int(Site::BlockOut) << 1e-9;
        }
        QTest::newRow("gpt2 f32 mlp_out (v*)") << "gpt2" << false << int(Site::MlpOut) << 2e-3;
        QTest::newRow("llama f32 block_out (z)") << "llama" << false << int(Site::BlockOut) << 2e-3;
    }

    // One request: the three paths give the same losses, the same delta after
    // every Adam step and the same v* / z.
    void valuePaths() {
        QFETCH(QString, name);
        QFETCH(bool, float64);
        QFETCH(int, site);
        QFETCH(double, tolerance);
        auto m = model(name, float64);
        const int layer = editLayer(*m);
        const EditRequest r = makeRequest("Danube river", " France and", "The {} is located in");
        std::map<ValuePath, ValueResult> runs;
        for (ValuePath p : {ValuePath::Full, ValuePath::LayerPrefix, ValuePath::PositionPrefix})
            runs[p] = optimizeValue(*m, r, Site(site), layer, templates(), hparams(), {}, withPath(p));
        const ValueResult& ref = runs[ValuePath::Full];
        // Premises: each path ran as asked (no fallback; layer 0 has no layers below),
        // and the optimisation moved: the loss changes and delta is not zero.
        QCOMPARE(int(runs[ValuePath::PositionPrefix].path), int(ValuePath::PositionPrefix));
        QCOMPARE(int(runs[ValuePath::LayerPrefix].path), int(layer > 0 ? ValuePath::LayerPrefix : ValuePath::Full));
        QCOMPARE(int(ref.losses.size()), hparams().vNumGradSteps);
        QString losses;
        for (double l : ref.losses) losses += QString::number(l, 'g', 5) + " ";
        qInfo("%s layer %d: losses (full path) %s", qPrintable(name), layer, qPrintable(losses));
        const auto [lo, hi] = std::minmax_element(ref.losses.begin(), ref.losses.end());
        QVERIFY2(*hi - *lo > 1e-3, "the loss does not move: nothing is compared");
        QVERIFY((ref.target - ref.init).norm().item<double>() > 1e-3 * ref.init.norm().item<double>());
        for (ValuePath p : {ValuePath::LayerPrefix, ValuePath::PositionPrefix}) {
            const Diff d = compare(ref, runs[p]);
            qInfo("%s layer %d, %s vs full: max diff loss %.3g, delta trajectory %.3g, v* %.3g (relative to |v_init|; "
                  "tolerance %.0e); loss %.4f -> %.4f",
                  qPrintable(name), layer, valuePathName(p), d.loss, d.trajectory, d.target, tolerance,
                  ref.losses.front(), ref.losses.back());
            QVERIFY(d.loss <= tolerance);
            QVERIFY(d.trajectory <= tolerance);
            QVERIFY(d.target <= tolerance);
        }
    }

    void batchedRequests_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("gpt2") << "gpt2";
        QTest::newRow("llama") << "llama";
    }

    // MEMIT's z: three requests in one batch against one at a time (the
    // straightforward path), with one request stopping early and leaving the batch.
    void batchedRequests() {
        QFETCH(QString, name);
        auto m = model(name, true);
        const int layer = editLayer(*m);
        const std::vector<EditRequest> requests = {makeRequest("Danube river", " France", "The {} is located in"),
                                                   makeRequest("Toyota", " violin and piano", "{} plays the"),
                                                   makeRequest("the old city of Rome", " Tokyo", "Where is {}? In")};
        EditHparams hp = hparams();
        hp.vNumGradSteps = 10;
        // A stop loss that one request reaches mid-way and another never: the
        // runs without one give each request's losses, and a run with one is
        // their prefix up to the first loss below it.
        std::vector<std::vector<double>> free;
        for (const auto& r : requests)
            free.push_back(optimizeValue(*m, r, Site::BlockOut, layer, templates(), hp, {}, withPath(ValuePath::Full)).losses);
        auto firstBelow = [](const std::vector<double>& losses, double t) {
            for (size_t i = 0; i < losses.size(); ++i)
                if (losses[i] < t) return i;
            return losses.size();
        };
        double stop = -1;
        for (size_t q = 0; q < free.size() && stop < 0; ++q)
            for (size_t k = 1; k + 2 < free[q].size() && stop < 0; ++k) {
                const double t = free[q][k] + 1e-9 * std::abs(free[q][k]);
                bool early = false, never = false;
                for (const auto& losses : free) {
                    const size_t at = firstBelow(losses, t);
                    early = early || (at >= 1 && at + 2 < losses.size());
                    never = never || at == losses.size();
                }
                if (early && never) stop = t;
            }
        QVERIFY2(stop > 0, "no stop loss lets one request stop early while another goes on");
        hp.vStopLoss = stop;

        std::vector<ValueResult> one;
        for (const auto& r : requests)
            one.push_back(optimizeValue(*m, r, Site::BlockOut, layer, templates(), hp, {}, withPath(ValuePath::Full)));
        // The batched paths: the whole model every step; the position prefix
        // in one batch padded to the widest row; the position prefix with rows
        // grouped by width (a group's fixed cost of one token forces splits
        // on these small models, whose shape alone would keep one batch).
        struct Variant {
            const char* label;
            ValuePath path;
            EditSpeed speed;
            bool split;  // premise: more than one forward group per step
        };
        const Variant variants[] = {
            {"full", ValuePath::Full, EditSpeed{}, false},
            {"position-prefix, one padded batch", ValuePath::PositionPrefix, EditSpeed{ValuePath::PositionPrefix, true, false}, false},
            {"position-prefix, rows grouped by width", ValuePath::PositionPrefix, EditSpeed{ValuePath::PositionPrefix, true, true, 1}, true},
        };
        for (const Variant& v : variants) {
            ScopedEditSpeed scope(v.speed);
            const ValuePath p = v.path;
            std::vector<size_t> steps(requests.size(), 0);
            const std::vector<ValueResult> batch =
                optimizeValues(*m, requests, Site::BlockOut, layer, templates(), hp, [&](size_t q) { ++steps[q]; }, withPath(p));
            QCOMPARE(batch.size(), requests.size());
            qInfo("%s z batched (%s): %d forward group(s) per step", qPrintable(name), v.label, batch.front().rowGroups);
            if (v.split) QVERIFY2(batch.front().rowGroups > 1, "the rows were not split into groups: nothing is compared");
            else QCOMPARE(batch.front().rowGroups, 1);
            size_t shortest = size_t(hp.vNumGradSteps), longest = 0;
            for (size_t q = 0; q < requests.size(); ++q) {
                QCOMPARE(steps[q], batch[q].losses.size());  // onStep once per scored pass of each request
                shortest = std::min(shortest, batch[q].losses.size());
                longest = std::max(longest, batch[q].losses.size());
                const Diff d = compare(one[q], batch[q]);
                qInfo("%s z request %zu (%zu passes), batched (%s) vs one at a time (full): max diff loss %.3g, delta "
                      "trajectory %.3g, z %.3g (tolerance 1e-9)",
                      qPrintable(name), q, batch[q].losses.size(), v.label, d.loss, d.trajectory, d.target);
                QVERIFY(d.loss <= 1e-9);
                QVERIFY(d.trajectory <= 1e-9);
                QVERIFY(d.target <= 1e-9);
            }
            // Premise: a request left the batch early while another went on.
            QVERIFY2(shortest < longest && shortest > 1, "no request stopped early: the shrinking batch is untested");
        }
    }

    // The row grouping's partition against every way of cutting the sorted
    // rows (brute force over 2^(n-1) cut sets): the same minimal cost, every
    // row exactly once, each group in batch order.
    void rowGroupsAgainstBruteForce() {
        std::mt19937 rng(3);
        int checked = 0;
        for (int trial = 0; trial < 200; ++trial) {
            const size_t n = 1 + rng() % 10;
            std::vector<int64_t> width(n);
            for (auto& w : width) w = 1 + int64_t(rng() % 30);
            const int cost = 1 + int(rng() % 40);
            auto costOf = [&](const std::vector<std::vector<size_t>>& groups) {
                double c = 0;
                for (const auto& g : groups) {
                    int64_t widest = 0;
                    for (size_t r : g) widest = std::max(widest, width[r]);
                    c += cost + double(g.size()) * double(widest);
                }
                return c;
            };
            const auto groups = groupRowsByWidth(width, 0, cost, true);
            std::vector<int> seen(n, 0);
            for (const auto& g : groups) {
                QVERIFY(!g.empty());
                QVERIFY(std::is_sorted(g.begin(), g.end()));
                for (size_t r : g) ++seen[r];
            }
            QVERIFY(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
            std::vector<size_t> order(n);
            for (size_t i = 0; i < n; ++i) order[i] = i;
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return width[a] < width[b]; });
            double best = 1e300;
            for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
                std::vector<std::vector<size_t>> part(1);
                for (size_t i = 0; i < n; ++i) {
                    if (i > 0 && (cuts >> (i - 1) & 1u)) part.emplace_back();
                    part.back().push_back(order[i]);
                }
                best = std::min(best, costOf(part));
            }
            QCOMPARE(costOf(groups), best);
            ++checked;
        }
        // Without grouping: one group, every row in order.
        const auto one = groupRowsByWidth({5, 1, 9}, 0, 1, false);
        QCOMPARE(one.size(), size_t(1));
        QCOMPARE(one.front(), (std::vector<size_t>{0, 1, 2}));
        qInfo("row groups: minimal cost on %d random width sets (1-10 rows) against brute force", checked);
    }

    void wholeEdits_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("method");
        QTest::newRow("gpt2 rome") << "gpt2" << "rome";
        QTest::newRow("gpt2 memit") << "gpt2" << "memit";
        QTest::newRow("llama r-rome") << "llama" << "r-rome";
        QTest::newRow("llama emmet") << "llama" << "emmet";
    }

    // computeEdit with the defaults (fast paths) against the straightforward
    // switches: the weight deltas agree (float32 model, as users run it).
    void wholeEdits() {
        QFETCH(QString, name);
        QFETCH(QString, method);
        auto m = model(name, false);
        EditParams p;
        p.method = *parseEditMethod(method.toStdString());
        p.hparams = defaultHparams(p.method, m->config());
        p.hparams.mom2Adjustment = false;
        p.hparams.vNumGradSteps = 6;
        p.hparams.vLr = 0.2;
        p.hparams.vStopLoss = 0;
        const int top = editLayer(*m);
        p.hparams.layers = p.method == EditMethod::Memit || p.method == EditMethod::Emmet ? std::vector<int>{0, top}
                                                                                          : std::vector<int>{top};
        p.contextTemplates = {{"{}"}, {"The river is long. {}", "I. {}"}};
        p.requests = {makeRequest("Danube river", " France", "The {} is located in"),
                      makeRequest("Toyota", " violin", "{} plays the")};
        EditResult fast, plain;
        EditProfile fastProfile, plainProfile;
        {
            ScopedEditSpeed s(EditSpeed{ValuePath::PositionPrefix, true});
            fast = computeEdit(*m, p);
            fastProfile = lastEditProfile();
        }
        {
            ScopedEditSpeed s(EditSpeed{ValuePath::Full, false});
            plain = computeEdit(*m, p);
            plainProfile = lastEditProfile();
        }
        // Premise of the FLOP report: both runs counted their passes, the fast one fewer.
        QVERIFY(plainProfile.valueForwardFlops > fastProfile.valueForwardFlops && fastProfile.valueForwardFlops > 0);
        QCOMPARE(int(editSpeed().valuePath), int(ValuePath::PositionPrefix));  // the scope restored the default
        QCOMPARE(fast.delta.parts.size(), plain.delta.parts.size());
        QVERIFY(!fast.delta.parts.empty());
        double worst = 0;
        for (size_t i = 0; i < fast.delta.parts.size(); ++i) {
            const at::Tensor a = materializedDelta(fast.delta.parts[i]), b = materializedDelta(plain.delta.parts[i]);
            const double scale = b.abs().max().item<double>();
            QVERIFY2(scale > 0, "an edit that changes nothing compares nothing");
            worst = std::max(worst, (a - b).abs().max().item<double>() / scale);
        }
        qInfo("%s %s: weight delta, fast paths vs straightforward: max diff %.3g relative to max |delta| (tolerance "
              "2e-3); v*/z forward FLOP %.3g vs %.3g",
              qPrintable(name), qPrintable(method), worst, fastProfile.valueForwardFlops, plainProfile.valueForwardFlops);
        QVERIFY(worst <= 2e-3);
    }

    // The weights hash of the unedited model is remembered by tensor identity
    // (an edit's revert puts the original tensors back), not recomputed; an
    // in-place write to a remembered tensor is not missed.
    void weightsHashAfterRevert() {
        auto m = model("gpt2", false);
        Transformer& tf = m->transformer();
        const std::string h0 = m->weightsHash();
        const std::string name = tensorName(m->config().arch, TensorRole::MlpDownW, 1);
        const std::string other = tensorName(m->config().arch, TensorRole::MlpDownW, 0);
        const at::Tensor original = tf.tensor(name);
        tf.setTensor(name, original + 1e-3);
        const std::string h1 = m->weightsHash();
        QVERIFY(h1 != h0);
        tf.setTensor(name, original);  // the revert
        QCOMPARE(m->weightsHash(), h0);
        tf.setTensor(name, original + 1e-3);  // new tensor objects, the same bytes as h1
        QCOMPARE(m->weightsHash(), h1);
        const at::Tensor copy = original.clone();
        tf.setTensor(name, copy);
        QCOMPARE(m->weightsHash(), h0);  // the same bytes as the original
        {
            at::NoGradGuard noGrad;
            copy.add_(1e-3);  // written in place (not allowed to callers, detected anyway)
        }
        tf.setTensor(other, tf.tensor(other));  // a new version of the model, the same tensors
        QCOMPARE(m->weightsHash(), h1);  // recomputed: the bytes are h1's again
        tf.setTensor(name, original);
        QCOMPARE(m->weightsHash(), h0);
    }
};

QTEST_GUILESS_MAIN(TestEditSpeed)
#include "test_edit_speed.moc"
