// Edits as data: requests and their errors, weight deltas (serialisation,
// deterministic apply, bit-exact revert, rebuild), key statistics and their
// cache, and ROME's closed form checked in float64.
#include <QtTest>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/edit/EditInternal.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/EditProblem.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/edit/WeightDelta.h"
#include "engine/tokenizer/Tokenizer.h"
#include "test_edit_support.h"

using namespace kme;
using namespace edittest;
namespace fs = std::filesystem;

namespace {

DeltaMatrix randomMatrix(int64_t rows, int64_t cols, std::mt19937_64& rng, double scale = 1e-2) {
    std::normal_distribution<double> n(0.0, scale);
    DeltaMatrix m;
    m.rows = rows;
    m.cols = cols;
    for (int64_t i = 0; i < rows * cols; ++i) m.data.push_back(n(rng));
    return m;
}

// One low-rank part on a down projection and one dense part on its bias.
WeightDelta syntheticDelta(const Model& m, int layer, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const ModelConfig& c = m.config();
    WeightDelta d;
    d.parts.push_back(TensorDelta::lowRank(tensorName(c.arch, TensorRole::MlpDownW, layer), {c.nInner, c.nEmbd},
                                           randomMatrix(c.nInner, 2, rng), randomMatrix(c.nEmbd, 2, rng)));
    d.parts.push_back(TensorDelta::denseDelta(tensorName(c.arch, TensorRole::MlpDownB, layer), {c.nEmbd},
                                              randomMatrix(c.nEmbd, 1, rng)));
    return d;
}

// The problem of an EditSetupError thrown by `f` (-1 cast: none or another error).
template <class F>
EditProblem setupProblem(F f) {
    try {
        f();
    } catch (const EditSetupError& e) {
        return e.problem();
    } catch (...) {
    }
    return static_cast<EditProblem>(-1);
}

// The MLP keys [tokens, n_inner] at `layer` of the first 32 tokens of `text`
// (one forward pass of its own: the tests' independent statistics).
at::Tensor keysOf(Model& m, const std::string& text, int layer) {
    auto ids = m.tokenizer().encode(text);
    ids.resize(std::min<size_t>(ids.size(), 32));
    ForwardRequest req;
    req.ids = edit::padBatch({std::vector<int64_t>(ids.begin(), ids.end())});
    req.stopAfterLayer = layer;
    at::Tensor keys;
    req.interventions.push_back(Intervention::read(Site::MlpKey, layer, &keys));
    m.transformer().forward(req);
    return keys[0];
}

double seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

class TestEdit final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(dir("cache")));
        initComputeRuntime(2);
        auto t0 = std::chrono::steady_clock::now();
        writeRandomModelFolder(dir("rand"), toyConfig(), 11);
        const double written = seconds(t0);
        t0 = std::chrono::steady_clock::now();
        const double loss = trainToyModel(dir("toy-scratch"), dir("toy"));
        qInfo("random model folder written in %.2f s; toy model trained in %.2f s, final loss %.4f", written,
              seconds(t0), loss);
    }

    void requestsAreValidated() {
        auto m = Model::load(dir("rand"));
        EditRequest ok = request("Tokyo", "Italy");
        validateRequest(*m, ok);
        QCOMPARE(normalizedRequest(ok).targetNew, std::string(" Italy"));
        QCOMPARE(normalizedRequest(request("Tokyo", " Italy")).targetNew, std::string(" Italy"));
        QCOMPARE(ok.filledPrompt(), std::string("The Tokyo is located in"));
        expectError([&] { validateRequest(*m, request("Tokyo", "Italy", "The Tokyo is located in")); },
                    {"no '{}'", "write it as 'The {} is located in'"});
        expectError([&] { validateRequest(*m, request("Kyoto", "Italy", "The Tokyo is located in")); }, {"no '{}'"});
        expectError([&] { validateRequest(*m, request("Tokyo", "Italy", "{} and {} are in")); }, {"2 '{}'"});
        expectError([&] { validateRequest(*m, request("", "Italy")); }, {"subject is empty"});
        expectError([&] { validateRequest(*m, request("  ", "Italy")); }, {"subject is empty"});
        expectError([&] { validateRequest(*m, request("Tok\xff", "Italy")); }, {"subject", "UTF-8"});
        expectError([&] { validateRequest(*m, request("Tokyo", "")); }, {"target_new", "empty"});
        expectError([&] { validateRequest(*m, request("Tokyo", std::string(200, 'x'))); }, {"context holds 32"});
        expectError([&] { validateLayers(*m, {4}); }, {"layer 4 is out of range", "4 layers"});
        expectError([&] { validateLayers(*m, {-1}); }, {"layer -1 is out of range"});
        // computeEdit checks before any work.
        EditParams p;
        p.requests = {ok};
        p.hparams.layers = {7};
        p.hparams.mom2Adjustment = false;
        expectError([&] { computeEdit(*m, p); }, {"layer 7 is out of range"});
        p.hparams.layers = {};
        // Problems a user remedies name the problem, not a flag (each front end adds its remedy).
        expectError([&] { computeEdit(*m, p); }, {"no default rome layer"});
        QCOMPARE(int(setupProblem([&] { computeEdit(*m, p); })), int(EditProblem::NoLayer));
        p.hparams.layers = {1};
        p.hparams.mom2Adjustment = true;
        expectError([&] { computeEdit(*m, p); }, {"key statistics need a text corpus"});
        QCOMPARE(int(setupProblem([&] { computeEdit(*m, p); })), int(EditProblem::NoStatsCorpus));
        std::string noCorpus;
        try {
            computeEdit(*m, p);
        } catch (const std::exception& e) {
            noCorpus = e.what();
        }
        QVERIFY2(!noCorpus.empty() && noCorpus.find("--") == std::string::npos, noCorpus.c_str());
        p.requests = {request("Tokyo", "Italy", "Where is it")};
        expectError([&] { computeEdit(*m, p); }, {"no '{}'"});
        // The last layer (3 of 4): the subject's value cannot reach the target's
        // tokens there (zero gradient by construction): ROME and MEMIT refuse it.
        p.requests = {ok};
        p.hparams.mom2Adjustment = false;
        p.hparams.vNumGradSteps = 2;
        p.hparams.layers = {3};
        expectError([&] { computeEdit(*m, p); }, {"layer 3 is the model's last layer", "below 3"});
        p.method = EditMethod::Memit;
        p.hparams.layers = {2, 3};
        expectError([&] { computeEdit(*m, p); }, {"layer 3 is the model's last layer"});
        // ... unless the subject ends where the target's first token is predicted.
        p.method = EditMethod::Rome;
        p.hparams.layers = {3};
        p.requests = {request("Tokyo", "Italy", "The country of {}")};
        const EditResult atEnd = computeEdit(*m, p);
        QVERIFY(atEnd.delta.parts.front().norm() > 0);
    }

    void requestFilesInBothSchemas() {
        const auto simple = parseEditRequests(
            R"([{"prompt": "{} is in", "subject": "Rome", "target_new": "Paris"},
                {"prompt": "{} plays", "subject": "She", "target_new": {"str": " piano"}, "target_true": "violin"}])",
            "simple.json");
        QCOMPARE(simple.size(), size_t(2));
        QCOMPARE(simple[0].targetNew, std::string(" Paris"));
        QCOMPARE(simple[1].targetNew, std::string(" piano"));
        QCOMPARE(simple[1].targetTrue, std::string(" violin"));
        const auto cf = parseEditRequests(
            R"([{"case_id": 3, "requested_rewrite": {"prompt": "{} is located in", "subject": "Tokyo",
                 "target_new": {"str": "Italy"}, "target_true": {"str": "Japan"}}}])",
            "cf.json");
        QCOMPARE(cf.size(), size_t(1));
        QCOMPARE(cf[0].targetTrue, std::string(" Japan"));
        expectError([] { parseEditRequests("[{\"prompt\": \"x\"}]", "bad.json"); }, {"bad.json", "request 0", "subject"},
                    ErrorKind::Format);
        expectError([] { parseEditRequests("{", "bad.json"); }, {"bad.json", "not valid JSON"}, ErrorKind::Format);
        expectError([] { parseEditRequests("[{\"prompt\": \"no hole\", \"subject\": \"a\", \"target_new\": \"b\"}]", "h.json"); },
                    {"h.json", "no '{}'"}, ErrorKind::Format);
    }

    void deltaBytesRoundTrip() {
        auto m = Model::load(dir("rand"));
        const WeightDelta d = syntheticDelta(*m, 1, 5);
        const std::string bytes = d.toBytes();
        const WeightDelta back = WeightDelta::fromBytes(bytes);
        QVERIFY(back == d);
        QCOMPARE(back.parts[0].rank(), int64_t(2));
        QCOMPARE(back.parts[1].rank(), int64_t(1));
        QCOMPARE(back.tensors(), (std::vector<std::string>{"h.1.mlp.c_proj.weight", "h.1.mlp.c_proj.bias"}));
        QVERIFY(WeightDelta::fromBytes(WeightDelta().toBytes()).empty());
        qInfo("delta blob: %zu bytes for %zu parts", bytes.size(), d.parts.size());
        // Hostile blobs.
        expectError([&] { WeightDelta::fromBytes(bytes.substr(0, 5)); }, {"shorter"}, ErrorKind::Format);
        expectError([&] { WeightDelta::fromBytes(bytes.substr(0, 40)); }, {"runs past"}, ErrorKind::Format);
        expectError([&] { WeightDelta::fromBytes(bytes.substr(0, bytes.size() - 8)); }, {"offsets"}, ErrorKind::Format);
        std::string other = bytes;
        other.replace(other.find("kme_weight_delta"), 3, "xyz");
        expectError([&] { WeightDelta::fromBytes(other); }, {"not a kme_weight_delta"}, ErrorKind::Format);
        std::string garbage(64, '\x01');
        expectError([&] { WeightDelta::fromBytes(garbage); }, {"weight delta blob"}, ErrorKind::Format);
    }

    void stackIsCopyOnWriteAndExact() {
        auto m = Model::load(dir("rand"));
        const std::string hash0 = m->weightsHash();
        const auto snap0 = snapshot(*m);
        const std::string name = "h.1.mlp.c_proj.weight";
        const at::Tensor original = m->transformer().tensor(name);
        EditStack stack(*m);
        const WeightDelta d = syntheticDelta(*m, 1, 9);
        stack.apply(d);
        QVERIFY(stack.modified());
        QCOMPARE(stack.touchedTensors(), (std::vector<std::string>{"h.1.mlp.c_proj.bias", "h.1.mlp.c_proj.weight"}));
        // The original (a view of the read-only mapping) is untouched; the live tensor is new.
        QVERIFY(m->transformer().tensor(name).data_ptr() != original.data_ptr());
        QVERIFY(at::equal(original, snap0.at(name)));
        // Materialisation: float64 sum, one rounding.
        const at::Tensor expect = (original.to(at::kDouble) +
                                   at::mm(at::tensor(d.parts[0].u.data).view({128, 2}), at::tensor(d.parts[0].v.data).view({32, 2}).t()))
                                      .to(at::kFloat);
        const double err = (m->transformer().tensor(name) - expect).abs().max().item<double>();
        qInfo("apply vs float64 reference: max |diff| %.3g", err);
        QVERIFY(err <= 1e-7);
        QVERIFY(m->weightsHash() != hash0);
        // A delta for a tensor the model lacks changes nothing.
        WeightDelta wrong = d;
        wrong.parts.push_back(TensorDelta::denseDelta("h.9.mlp.c_proj.bias", {32}, d.parts[1].dense));
        const auto before = snapshot(*m);
        expectError([&] { stack.apply(wrong); }, {"h.9.mlp.c_proj.bias"});
        QVERIFY(sameBytes(snapshot(*m), before));
        stack.revertAll();
        QCOMPARE(m->weightsHash(), hash0);
        QVERIFY(sameBytes(snapshot(*m), snap0));
        QCOMPARE(m->transformer().tensor(name).data_ptr(), original.data_ptr());
    }

    void romeClosedFormInFloat64() {
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(dir("rand"), o);  // untrained: the closed form holds whatever v* is
        const int layer = 1;
        EditParams p;
        p.requests = {request("Eiffel Tower", "Rome", "The {} is located in the city of")};
        p.hparams = defaultHparams(EditMethod::Rome, m->config());
        p.hparams.layers = {layer};
        p.hparams.vNumGradSteps = 6;
        p.statsTexts = wordCorpus(300, 1);
        const EditResult r = computeEdit(*m, p);
        QCOMPARE(r.delta.parts.size(), size_t(1));
        const TensorDelta& part = r.delta.parts[0];
        QCOMPARE(part.tensor, std::string("h.1.mlp.c_proj.weight"));
        QVERIFY(part.kind == TensorDelta::Kind::LowRank);
        QCOMPARE(part.rank(), int64_t(1));
        QCOMPARE(r.stats.size(), size_t(1));
        qInfo("statistics: %lld texts, %lld tokens, %.3f s", (long long)r.stats[0].samples,
              (long long)r.stats[0].tokens, r.stats[0].seconds);

        Transformer& tf = m->transformer();
        const at::Tensor w0 = tf.tensor(part.tensor), bias = tf.tensor("h.1.mlp.c_proj.bias");
        EditStack stack(*m);
        stack.apply(r.delta);
        const at::Tensor w1 = tf.tensor(part.tensor);
        const auto& rep = r.requests[0];
        const at::Tensor k = at::tensor(rep.key), v = at::tensor(rep.value), kAvg = at::tensor(rep.keyAverage);
        // Conv1D: the MLP output is W^T k + b; ROME counts the bias inside v* and W k.
        const double closed = (at::mv(w1.t(), k) + bias - v).abs().max().item<double>();
        // The same through the forward pass at the subject's last token.
        const auto filled = edit::fillTemplate(m->tokenizer(), p.requests[0].prompt, "Eiffel Tower");
        const at::Tensor out = edit::readAtSubject(tf, {filled}, Site::MlpOut, layer)[0];
        const double forward = (out - v).abs().max().item<double>();
        // Rank one numerically.
        const at::Tensor s = at::linalg_svdvals(w1 - w0);
        const double ratio = (s[1] / s[0]).item<double>();
        // Keys C^-1-orthogonal to k* keep their outputs. C computed here, independently.
        at::Tensor c = at::zeros({128, 128}, at::kDouble);
        int64_t count = 0;
        for (const auto& text : p.statsTexts) {
            const at::Tensor k = keysOf(*m, text, layer);
            c += at::mm(k.t(), k);
            count += k.size(0);
        }
        c /= double(count);
        StatsParams sp;
        sp.texts = p.statsTexts;
        const at::Tensor engineC = edit::keySecondMoment(*m, layer, sp, {}, nullptr);
        const double cDiff = (engineC - c).abs().max().item<double>() / c.abs().max().item<double>();
        const at::Tensor a = at::linalg_solve(c, kAvg);
        at::Generator gen = at::detail::createCPUGenerator(3);
        double worst = 0;
        for (int i = 0; i < 20; ++i) {
            at::Tensor x = at::randn({128}, gen, at::kDouble);
            x = x - at::dot(x, a) / at::dot(a, a) * a;  // x^T C^-1 k* = 0
            const double change = (at::mv((w1 - w0).t(), x)).norm().item<double>();
            worst = std::max(worst, change / at::mv(w0.t(), x).norm().item<double>());
        }
        qInfo("float64: |W'^T k + b - v*| %.3g, forward %.3g; sigma2/sigma1 %.3g; C engine vs test %.3g (relative); "
              "cond(C) %.3g; C^-1-orthogonal keys: relative output change %.3g",
              closed, forward, ratio, cDiff, at::linalg_cond(c).item<double>(), worst);
        QVERIFY(closed <= 1e-5);
        QVERIFY(forward <= 1e-5);
        QVERIFY(ratio <= 1e-10);
        QVERIFY(cDiff <= 1e-10);
        QVERIFY(worst <= 1e-9);
        // Without statistics the left vector is k* itself (C = identity).
        p.hparams.mom2Adjustment = false;
        stack.revertAll();
        const EditResult id = computeEdit(*m, p);
        const at::Tensor u = at::tensor(id.delta.parts[0].u.data);
        const double cosine = (at::dot(u, kAvg) / (u.norm() * kAvg.norm())).item<double>();
        qInfo("--no-mom2: cos(u, k*) = %.12f", cosine);
        QVERIFY(std::abs(cosine) > 1 - 1e-9);
    }

    // A float32 model's statistics: one float32 GEMM per batch, summed in
    // float64 (issue 19), against a float64 sum of the same keys, key by key.
    void statisticsOfFloat32Keys() {
        auto m = Model::load(dir("rand"));
        const int layer = 2;
        StatsParams sp;
        sp.texts = wordCorpus(300, 5);
        sp.useCache = false;
        at::Tensor c = at::zeros({128, 128}, at::kDouble);
        int64_t count = 0;
        for (const auto& text : sp.texts) {
            const at::Tensor keys = keysOf(*m, text, layer);
            QCOMPARE(keys.scalar_type(), at::kFloat);  // premise: a float32 model's keys
            const at::Tensor k = keys.to(at::kDouble);
            for (int64_t t = 0; t < k.size(0); ++t) c += at::outer(k[t], k[t]);  // one key at a time
            count += k.size(0);
        }
        c /= double(count);
        const at::Tensor engineC = edit::keySecondMoment(*m, layer, sp, {}, nullptr);
        QCOMPARE(engineC.scalar_type(), at::kDouble);
        const double diff = (engineC - c).abs().max().item<double>() / c.abs().max().item<double>();
        qInfo("float32 keys: C engine (float32 GEMM per batch, float64 sum) vs float64 key-by-key sum: "
              "max relative difference %.3g (tolerance 1e-5), %lld tokens",
              diff, (long long)count);
        QVERIFY(diff <= 1e-5);
    }

    void statisticsCacheHitAndMiss() {
        auto m = Model::load(dir("rand"));
        StatsParams sp;
        sp.texts = wordCorpus(200, 3);
        sp.corpusLabel = "words";
        const int64_t n0 = keyStatisticsComputeCount();
        auto t0 = std::chrono::steady_clock::now();
        const StatsInfo a = ensureKeyStatistics(*m, 2, sp);
        const double first = seconds(t0);
        QVERIFY(!a.fromCache);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 1);
        QVERIFY(fs::exists(a.cacheFile));
        QCOMPARE(a.samples, int64_t(200));
        t0 = std::chrono::steady_clock::now();
        const StatsInfo b = ensureKeyStatistics(*m, 2, sp);  // memory
        const double second = seconds(t0);
        QVERIFY(b.fromCache);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 1);
        clearKeyStatisticsMemoryCache();
        t0 = std::chrono::steady_clock::now();
        const StatsInfo c = ensureKeyStatistics(*m, 2, sp);  // disk
        const double third = seconds(t0);
        QVERIFY(c.fromCache);
        QCOMPARE(c.tokens, a.tokens);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 1);
        qInfo("statistics of %lld tokens: computed %.4f s, memory hit %.5f s, disk hit %.4f s", (long long)a.tokens, first,
              second, third);
        // Misses: another layer, another corpus, another budget, other weights.
        QVERIFY(!ensureKeyStatistics(*m, 1, sp).fromCache);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 2);
        StatsParams other = sp;
        other.texts = wordCorpus(200, 4);
        QVERIFY(!ensureKeyStatistics(*m, 2, other).fromCache);
        other = sp;
        other.maxTokens = 500;
        const StatsInfo budget = ensureKeyStatistics(*m, 2, other);
        QVERIFY(!budget.fromCache);
        QCOMPARE(budget.tokens, int64_t(500));
        auto toy = Model::load(dir("toy"));
        QVERIFY(!ensureKeyStatistics(*toy, 2, sp).fromCache);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 5);
        // Cancel: nothing cached.
        other = sp;
        other.maxSamples = 150;
        QVERIFY_EXCEPTION_THROWN(ensureKeyStatistics(*m, 2, other, [](double, double) { return false; }), Cancelled);
        QVERIFY(!ensureKeyStatistics(*m, 2, other).fromCache);
        expectError([&] { ensureKeyStatistics(*m, 2, StatsParams{}); }, {"corpus", "empty"});
        expectError([&] { ensureKeyStatistics(*m, 5, sp); }, {"layer 5 is out of range"});
    }

    // MEMIT's layers share one pass over the corpus: the same C as one pass
    // per layer, bit for bit; cached layers are loaded, only the others computed.
    void severalLayersInOnePass() {
        auto m = Model::load(dir("rand"));
        StatsParams sp;
        sp.texts = wordCorpus(120, 11);
        sp.corpusLabel = "words-11";
        sp.useCache = false;
        edit::keySecondMoment(*m, 3, sp, {}, nullptr);  // warm-up, so that neither timing pays for first use
        auto t0 = std::chrono::steady_clock::now();
        std::map<int, at::Tensor> single;
        for (int layer : {0, 1, 2}) single[layer] = edit::keySecondMoment(*m, layer, sp, {}, nullptr);
        const double perLayer = seconds(t0);
        t0 = std::chrono::steady_clock::now();
        std::vector<StatsInfo> infos;
        const auto shared = edit::keySecondMoments(*m, {2, 0, 1, 2}, sp, {}, &infos);
        const double onePass = seconds(t0);
        qInfo("statistics of layers 0-2: one pass per layer %.4f s, one shared pass %.4f s (%.2fx)", perLayer, onePass,
              perLayer / onePass);
        QCOMPARE(int(shared.size()), 3);
        QCOMPARE(int(infos.size()), 3);  // duplicates once, first-seen order
        QCOMPARE(infos[0].layer, 2);
        QCOMPARE(infos[1].layer, 0);
        for (int layer : {0, 1, 2}) {
            const double diff = (shared.at(layer) - single.at(layer)).abs().max().item<double>();
            qInfo("layer %d: max |C_shared - C_own| = %.3g (tolerance 0: same keys, same order)", layer, diff);
            QVERIFY(at::equal(shared.at(layer), single.at(layer)));
        }
        // With the cache: layer 1 first, then 0-2 computes only 0 and 2.
        sp.useCache = true;
        sp.texts = wordCorpus(120, 12);
        const int64_t n0 = keyStatisticsComputeCount();
        QVERIFY(!ensureKeyStatistics(*m, 1, sp).fromCache);
        edit::keySecondMoments(*m, {0, 1, 2}, sp, {}, &infos);
        QCOMPARE(keyStatisticsComputeCount(), n0 + 3);
        QVERIFY(!infos[0].fromCache);
        QVERIFY(infos[1].fromCache);
        QVERIFY(!infos[2].fromCache);
        QVERIFY(fs::exists(infos[2].cacheFile));
        QVERIFY(ensureKeyStatistics(*m, 2, sp).fromCache);  // written where a single-layer run looks
        QCOMPARE(keyStatisticsComputeCount(), n0 + 3);
        // Cancel mid-pass: nothing cached for any layer.
        sp.maxSamples = 90;
        QVERIFY_EXCEPTION_THROWN(edit::keySecondMoments(*m, {0, 2}, sp, [](double, double) { return false; }, &infos),
                                 Cancelled);
        QVERIFY(!ensureKeyStatistics(*m, 0, sp).fromCache);
        expectError([&] { edit::keySecondMoments(*m, {0, 7}, sp, {}, &infos); }, {"layer 7 is out of range"});
    }

    void corpusFiles() {
        std::ofstream(dir("para.txt")) << "First paragraph\nstill first.\n\nSecond one.\n\n\n";
        std::ofstream(dir("lines.txt")) << "one\ntwo\n\nthree\n";
        std::ofstream(dir("plain.txt")) << "a\nb\nc\n";
        std::ofstream(dir("c.jsonl")) << "{\"text\": \"x y\"}\n\"z\"\n\n";
        std::ofstream(dir("c.json")) << "[\"p\", {\"text\": \"q\"}]";
        std::ofstream(dir("bad.jsonl")) << "{\"text\": 1}\n";
        QCOMPARE(loadTextCorpus(dir("para.txt")), (std::vector<std::string>{"First paragraph\nstill first.", "Second one."}));
        QCOMPARE(loadTextCorpus(dir("lines.txt")), (std::vector<std::string>{"one\ntwo", "three"}));
        QCOMPARE(loadTextCorpus(dir("plain.txt")), (std::vector<std::string>{"a", "b", "c"}));
        QCOMPARE(loadTextCorpus(dir("c.jsonl")), (std::vector<std::string>{"x y", "z"}));
        QCOMPARE(loadTextCorpus(dir("c.json")), (std::vector<std::string>{"p", "q"}));
        expectError([&] { loadTextCorpus(dir("bad.jsonl")); }, {"bad.jsonl: line 1"}, ErrorKind::Format);
        expectError([&] { loadTextCorpus(dir("missing.txt")); }, {"missing.txt"}, ErrorKind::Io);
    }

    void revertIsBitExactAfterTenEdits() {
        auto m = Model::load(dir("toy"));
        const std::string hash0 = m->weightsHash();
        const auto snap0 = snapshot(*m);
        const auto& facts = toyFacts();
        EditStack stack(*m);
        std::vector<WeightDelta> deltas;
        std::vector<std::string> hashes = {hash0};
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 10; ++i) {
            EditParams p;
            p.requests = {request(facts[size_t(i) % 4].subject, facts[size_t(i + 1 + i / 4) % 4].answer)};
            p.hparams.layers = {i % 3};
            p.hparams.vNumGradSteps = 4;
            p.hparams.mom2Adjustment = i % 2 == 0;
            p.statsTexts = wordCorpus(200, 1);
            p.statsModelKey = hash0;  // statistics of the unedited model, computed once per layer
            const EditResult r = computeEdit(*m, p);
            stack.apply(r.delta);
            deltas.push_back(r.delta);
            hashes.push_back(m->weightsHash());
            QVERIFY(hashes.back() != hashes[hashes.size() - 2]);
        }
        qInfo("10 sequential ROME edits on the toy model: %.2f s", seconds(t0));
        const auto edited = snapshot(*m);
        stack.revertAll();
        QCOMPARE(m->weightsHash(), hash0);
        QVERIFY(sameBytes(snapshot(*m), snap0));
        // Rebuild = restore, then apply in order: the same bytes, every time.
        stack.rebuild(deltas);
        QVERIFY(sameBytes(snapshot(*m), edited));
        QCOMPARE(m->weightsHash(), hashes.back());
        std::vector<WeightDelta> reread;
        for (const auto& d : deltas) reread.push_back(WeightDelta::fromBytes(d.toBytes()));
        stack.rebuild(reread);
        QVERIFY(sameBytes(snapshot(*m), edited));
        // A what-if: the history without edit 4 differs, and reverts exactly.
        std::vector<WeightDelta> without = deltas;
        without.erase(without.begin() + 4);
        stack.rebuild(without);
        QVERIFY(!sameBytes(snapshot(*m), edited));
        stack.revertAll();
        QCOMPARE(m->weightsHash(), hash0);
        QVERIFY(sameBytes(snapshot(*m), snap0));
    }
};

QTEST_GUILESS_MAIN(TestEdit)
#include "test_edit.moc"
