// The RoPE families (GPT-J, GPT-NeoX/Pythia, LLaMA, Mistral, Qwen2): random
// models written in each family's exact Hugging Face layout, loaded by
// Model::load and compared with an independent plain reference
// (NaiveFamilies.h) on logits and on every intervention site; the KV cache;
// RoPE styles, GQA and NeoX's per-head QKV (premises: the wrong variant is
// told apart); the causal trace; checkpoint buffers; ROME on a LLaMA and a
// NeoX model (nn.Linear orientation). Configs: test_family_configs.cpp.
#include <QtTest>

#include <ATen/ATen.h>

#include <complex>

#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Rope.h"
#include "engine/model/Transformer.h"
#include "engine/trace/CausalTrace.h"
#include "tests/engine/FamilyTestSupport.h"

using namespace kme;
using namespace familytest;

class TestModelFamilies final : public QObject {
    Q_OBJECT
    FamilyFolders f_;
    std::string dir(const std::string& n) { return f_.dir(n); }
    std::string folder(Architecture a) { return f_.folder(a); }
    std::string familyFolder(const QString& name) { return f_.familyFolder(name); }
    static void addFamilyRows() { FamilyFolders::addFamilyRows(); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(f_.valid()); }

    void parityWithReference_data() { addFamilyRows(); }
    void parityWithReference() {
        QFETCH(QString, name);
        at::NoGradGuard noGrad;
        const std::string d = familyFolder(name);
        const naivefam::Net net = naivefam::load(d);
        const naivefam::Result ref = naivefam::forward(net, kIds);
        for (bool f64 : {true, false}) {
            LoadOptions o;
            o.float64 = f64;
            auto m = Model::load(d, o);
            const ModelConfig& c = m->config();
            QCOMPARE(architectureName(c.arch), architectureName(*architectureForModelType(net.type)));
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            at::Tensor embed;
            std::vector<at::Tensor> attn(c.nLayer), key(c.nLayer), mlp(c.nLayer), hidden(c.nLayer);
            req.interventions.push_back(Intervention::read(Site::Embed, -1, &embed));
            for (int l = 0; l < c.nLayer; ++l) {
                req.interventions.push_back(Intervention::read(Site::AttnOut, l, &attn[l]));
                req.interventions.push_back(Intervention::read(Site::MlpKey, l, &key[l]));
                req.interventions.push_back(Intervention::read(Site::MlpOut, l, &mlp[l]));
                req.interventions.push_back(Intervention::read(Site::BlockOut, l, &hidden[l]));
            }
            const at::Tensor logits = m->transformer().forward(req).logits.squeeze(0);
            const double dl = maxDiff(logits, ref.logits);
            double ds = maxDiff(embed.squeeze(0), ref.sites.at({"embed", -1}));
            for (int l = 0; l < c.nLayer; ++l) {
                ds = std::max(ds, maxDiff(attn[l].squeeze(0), ref.sites.at({"attn", l})));
                ds = std::max(ds, maxDiff(key[l].squeeze(0), ref.sites.at({"mlp_key", l})));
                ds = std::max(ds, maxDiff(mlp[l].squeeze(0), ref.sites.at({"mlp", l})));
                ds = std::max(ds, maxDiff(hidden[l].squeeze(0), ref.sites.at({"hidden", l})));
            }
            const double scale = at::tensor(ref.logits.back()).abs().max().item<double>();
            const double tol = f64 ? 1e-9 : 1e-4;
            qInfo("%s %s: engine vs naive reference, max |diff| logits %.3g, sites %.3g (|logits| up to %.3g; "
                  "tolerance %.0e)", qPrintable(name), f64 ? "float64" : "float32", dl, ds, scale, tol);
            QVERIFY(scale > 0.5);  // logits far from zero: the comparison means something
            QVERIFY(dl <= tol);
            QVERIFY(ds <= tol);
        }
    }

    void kvCacheContinuation_data() { addFamilyRows(); }
    void kvCacheContinuation() {
        QFETCH(QString, name);
        at::NoGradGuard noGrad;
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(familyFolder(name), o);
        const Transformer& tf = m->transformer();
        ForwardRequest full;
        full.ids = idsTensor(kIds);
        full.keepCache = true;
        std::vector<at::Tensor> hidden(m->config().nLayer);
        for (int l = 0; l < m->config().nLayer; ++l) full.interventions.push_back(Intervention::read(Site::BlockOut, l, &hidden[l]));
        const ForwardResult all = tf.forward(full);
        const int64_t split = 6, T = int64_t(kIds.size());
        // Continuation from ids after a cached prefix.
        ForwardRequest first;
        first.ids = full.ids.narrow(1, 0, split);
        first.keepCache = true;
        const ForwardResult a = tf.forward(first);
        ForwardRequest rest;
        rest.ids = full.ids.narrow(1, split, T - split);
        rest.past = &a.cache;
        const at::Tensor cont = tf.forward(rest).logits;
        const double d1 = (cont - all.logits.narrow(1, split, T - split)).abs().max().item<double>();
        // Restart at block 1 from the hidden state after block 0 (the causal trace's pattern).
        const KVCache prefix = all.cache.prefix(split);
        ForwardRequest restart;
        restart.hidden = hidden[0].narrow(1, split, T - split);
        restart.startLayer = 1;
        restart.past = &prefix;
        const at::Tensor again = tf.forward(restart).logits;
        const double d2 = (again - all.logits.narrow(1, split, T - split)).abs().max().item<double>();
        qInfo("%s: cached continuation vs full forward %.3g; restart at block 1 %.3g (tolerance 1e-10)",
              qPrintable(name), d1, d2);
        QVERIFY(d1 <= 1e-10);
        QVERIFY(d2 <= 1e-10);
        QCOMPARE(all.cache.keys[0].size(1), int64_t(m->config().kvHeads()));  // the cache keeps kv heads only
    }

    void contextPrefixKeepsAbsolutePositions() {
        // A resident context (IKE's payload) is a key/value prefix: with RoPE
        // the caller's tokens then sit at positions P.. and the result equals
        // one bare run over context + tokens.
        at::NoGradGuard noGrad;
        for (Architecture a : {Architecture::Llama, Architecture::GptJ, Architecture::Mistral}) {
            LoadOptions o;
            o.float64 = true;
            auto m = Model::load(folder(a), o);
            Transformer& tf = m->transformer();
            ResidentState state;
            state.contextIds = {5, 6, 7};
            state.digest = "test context";
            tf.setResidentState(state);
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            const at::Tensor withContext = tf.forward(req).logits;
            std::vector<int> joined = {5, 6, 7};
            joined.insert(joined.end(), kIds.begin(), kIds.end());
            ForwardRequest bare;
            bare.ids = idsTensor(joined);
            bare.bare = true;
            const at::Tensor one = tf.forward(bare).logits.narrow(1, 3, int64_t(kIds.size()));
            tf.setResidentState(ResidentState{});
            const double d = (withContext - one).abs().max().item<double>();
            qInfo("%s: context prefix vs one run over context + tokens, max |diff| %.3g (tolerance 1e-10)",
                  architectureName(a).c_str(), d);
            QVERIFY(d <= 1e-10);
        }
    }

    void ropeMatchesComplexRotation() {
        // Both styles against z * e^{i p theta_j}, z a pair of dims as a complex number.
        ModelConfig c = tinyFamilyConfig(Architecture::Llama);
        c.rope.rotaryDim = 12;  // of head_dim 16: the last 4 dims pass through
        at::Generator g = at::detail::createCPUGenerator(3);
        const int64_t T = 5, hd = 16, r = 12, offset = 7;
        const at::Tensor x = at::randn({1, 2, T, hd}, g, at::kDouble);
        at::Tensor out[2];
        for (int s = 0; s < 2; ++s) {
            c.rope.style = s == 0 ? RopeStyle::RotateHalf : RopeStyle::Interleaved;
            out[s] = applyRope(x, ropeTables(c, offset, T, at::kDouble), c.rope.style);
            double worst = 0;
            for (int64_t h = 0; h < 2; ++h)
                for (int64_t t = 0; t < T; ++t)
                    for (int64_t j = 0; j < r / 2; ++j) {
                        const int64_t a = s == 0 ? j : 2 * j, b = s == 0 ? j + r / 2 : 2 * j + 1;
                        const std::complex<double> z(x[0][h][t][a].item<double>(), x[0][h][t][b].item<double>());
                        const double angle = double(offset + t) * std::pow(c.rope.theta, -2.0 * double(j) / double(r));
                        const std::complex<double> w = z * std::polar(1.0, angle);
                        worst = std::max({worst, std::abs(out[s][0][h][t][a].item<double>() - w.real()),
                                          std::abs(out[s][0][h][t][b].item<double>() - w.imag())});
                    }
            const double pass = (out[s].narrow(-1, r, hd - r) - x.narrow(-1, r, hd - r)).abs().max().item<double>();
            qInfo("%s: max |diff| vs complex rotation %.3g, pass-through dims %.3g", s == 0 ? "rotate-half" : "interleaved",
                  worst, pass);
            QVERIFY(worst <= 1e-12);
            QCOMPARE(pass, 0.0);
        }
        const double apart = (out[0] - out[1]).abs().max().item<double>();
        qInfo("rotate-half vs interleaved on the same input: max |diff| %.3g (premise: > 0.1)", apart);
        QVERIFY(apart > 0.1);
    }

    void premisesTheReferenceTellsVariantsApart() {
        // The engine matches the reference (parityWithReference); these show
        // the wrong variant of each quirk would not.
        at::NoGradGuard noGrad;
        struct Case {
            Architecture arch;
            naivefam::Mistakes mistake;
            const char* what;
        };
        naivefam::Mistakes swap, modulo, stacked;
        swap.swapRopeStyle = true;
        modulo.moduloGqa = true;
        stacked.stackedNeoxQkv = true;
        for (const Case& k : {Case{Architecture::Llama, swap, "llama with interleaved RoPE"},
                              Case{Architecture::GptJ, swap, "gptj with rotate-half RoPE"},
                              Case{Architecture::Llama, modulo, "llama with kv head h % n_kv"},
                              Case{Architecture::GptNeoX, stacked, "gpt_neox with qkv read as [Q; K; V]"}}) {
            LoadOptions o;
            o.float64 = true;
            const std::string d = folder(k.arch);
            auto m = Model::load(d, o);
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            const at::Tensor logits = m->transformer().forward(req).logits.squeeze(0);
            const double wrong = maxDiff(logits, naivefam::forward(naivefam::load(d), kIds, k.mistake).logits);
            qInfo("%s: engine vs that reference, max |diff| %.3g (premise: > 1e-3)", k.what, wrong);
            QVERIFY(wrong > 1e-3);
        }
    }

    void gqaHeadMapping() {
        // Query heads 0,1 read kv head 0 and heads 2,3 kv head 1: zeroing kv
        // head 1's value rows changes exactly heads 2 and 3's attention output.
        at::NoGradGuard noGrad;
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(folder(Architecture::Llama), o);
        Transformer& tf = m->transformer();
        const int hd = m->config().headDim();
        QCOMPARE(m->config().nHead, 4);
        QCOMPARE(m->config().kvHeads(), 2);
        auto context = [&]() {
            // Attention output before o_proj, recovered by replacing o_proj with the identity-like read.
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            req.stopAfterLayer = 0;
            at::Tensor a;
            req.interventions.push_back(Intervention::read(Site::AttnOut, 0, &a));
            tf.forward(req);
            return a;
        };
        const std::string o_proj = "layers.0.self_attn.o_proj.weight", v_proj = "layers.0.self_attn.v_proj.weight";
        const at::Tensor o0 = tf.tensor(o_proj), v0 = tf.tensor(v_proj);
        // o_proj = [I 0]-like selection of each head in turn: the attention output shows that head's context.
        const int64_t D = m->config().nEmbd, Q = int64_t(m->config().nHead) * hd;
        at::Tensor vZero = v0.clone();
        vZero.narrow(0, hd, hd).zero_();  // kv head 1
        std::vector<double> changed;
        for (int h = 0; h < 4; ++h) {
            at::Tensor sel = at::zeros({D, Q}, at::kDouble);
            for (int e = 0; e < hd; ++e) sel[e][h * hd + e] = 1.0;
            tf.setTensor(o_proj, sel);
            tf.setTensor(v_proj, v0);
            const at::Tensor before = context();
            tf.setTensor(v_proj, vZero);
            const at::Tensor after = context();
            changed.push_back((after - before).abs().max().item<double>());
        }
        tf.setTensor(o_proj, o0);
        tf.setTensor(v_proj, v0);
        qInfo("zeroing kv head 1 changes query heads' outputs by %.3g %.3g %.3g %.3g", changed[0], changed[1],
              changed[2], changed[3]);
        QCOMPARE(changed[0], 0.0);
        QCOMPARE(changed[1], 0.0);
        QVERIFY(changed[2] > 1e-3);
        QVERIFY(changed[3] > 1e-3);
    }

    void traceFastEqualsReference_data() { addFamilyRows(); }
    void traceFastEqualsReference() {
        // The causal trace needs no family code: its fast strategy (restarts
        // from cached keys/values at absolute RoPE positions) equals ROME's
        // straightforward one.
        QFETCH(QString, name);
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(familyFolder(name), o);
        TraceParams p;
        p.prompt = "The city of Rome is";
        p.subject = "Rome";
        p.samples = 3;
        p.noise.value = 3;
        p.noise.factsPath = "none";
        p.window = 1;
        p.strategy = TraceStrategy::Reference;
        const TraceResult ref = causalTrace(*m, p);
        p.strategy = TraceStrategy::Fast;
        const TraceResult fast = causalTrace(*m, p);
        double d = 0;
        for (const auto& [kind, rows] : ref.scores)
            for (size_t t = 0; t < rows.size(); ++t)
                for (size_t l = 0; l < rows[t].size(); ++l)
                    d = std::max(d, std::abs(rows[t][l] - fast.scores.at(kind)[t][l]));
        qInfo("%s: trace fast vs reference max |diff| %.3g (tolerance 1e-10); high %.4g low %.4g", qPrintable(name), d,
              ref.highScore, ref.lowScore);
        QVERIFY(d <= 1e-10);
        QVERIFY(std::abs(ref.highScore - ref.lowScore) > 1e-6);  // the noise does something
        if (name == "mistral") {
            // Two layers with a window of 4: the last token sees at most 6
            // positions back, so noise on a subject further away changes nothing.
            p.prompt = "The Eiffel Tower is located in the city of";
            p.subject = "Eiffel Tower";
            const TraceResult far = causalTrace(*m, p);
            qInfo("mistral, subject %zu tokens before the end: high %.6g low %.6g", far.tokens.size() - far.subjectEnd,
                  far.highScore, far.lowScore);
            QVERIFY(far.tokens.size() - far.subjectEnd > 6);
            QCOMPARE(far.highScore, far.lowScore);
        }
    }

    void checkpointBuffersAreIgnored() {
        // Real checkpoints carry buffers (GPT-J attn.bias / masked_bias, NeoX
        // attention.bias / masked_bias / rotary_emb.inv_freq, old LLaMA
        // rotary_emb.inv_freq): they load, change nothing, and export as they were.
        at::NoGradGuard noGrad;
        for (Architecture a : {Architecture::GptJ, Architecture::GptNeoX, Architecture::Llama}) {
            const std::string src = folder(a), d = dir(architectureName(a) + "-buffers");
            fs::create_directories(d);
            for (const auto& e : fs::directory_iterator(src))
                if (e.path().filename() != "model.safetensors") fs::copy_file(e.path(), d + "/" + e.path().filename().string());
            const Checkpoint ck = Checkpoint::openFolder(src);
            std::vector<TensorData> all;
            for (const auto& t : ck.tensors()) all.push_back(asTensorData(t));
            const int P = 64;
            std::vector<uint8_t> mask(size_t(P) * P);
            for (int i = 0; i < P; ++i)
                for (int j = 0; j < P; ++j) mask[size_t(i) * P + j] = j <= i;
            const float masked = -1e9f;
            std::vector<float> inv(4, 0.5f);
            const std::string layer = a == Architecture::GptJ ? "transformer.h.0.attn." : a == Architecture::GptNeoX ? "gpt_neox.layers.0.attention." : "model.layers.0.self_attn.";
            if (a != Architecture::Llama) {
                all.push_back(TensorData{layer + "bias", DType::BOOL, {1, 1, P, P}, mask.data(), mask.size()});
                all.push_back(TensorData{layer + "masked_bias", DType::F32, {}, &masked, sizeof masked});
            }
            if (a != Architecture::GptJ)
                all.push_back(TensorData{layer + "rotary_emb.inv_freq", DType::F32, {4}, inv.data(), inv.size() * sizeof(float)});
            writeSafetensors(d + "/model.safetensors", all);
            auto plain = Model::load(src), buffered = Model::load(d);
            ForwardRequest req;
            req.ids = idsTensor(kIds);
            const double diff = (plain->transformer().forward(req).logits - buffered->transformer().forward(req).logits)
                                    .abs().max().item<double>();
            qInfo("%s with buffers: logits differ by %.3g", architectureName(a).c_str(), diff);
            QCOMPARE(diff, 0.0);
            const std::string out = dir(architectureName(a) + "-buffers-out");
            buffered->save(out);
            QVERIFY(Checkpoint::openFolder(out).find(layer + (a == Architecture::GptJ ? "bias" : "rotary_emb.inv_freq")));
        }
    }

    void romeEdit_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("llama") << "llama";
        QTest::newRow("gpt_neox") << "gpt_neox";
    }
    void romeEdit() {
        QFETCH(QString, name);
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(familyFolder(name), o);
        const ModelConfig& c = m->config();
        const int layer = c.nLayer - 2;  // not the last: later attention must carry the change
        EditParams p;
        EditRequest r;
        // The subject ends the prompt: in a random model the change then
        // reaches the prediction through the subject's own position.
        r.prompt = "The capital of Italy is {}";
        r.subject = "Paris";
        r.targetNew = "Rome";
        p.requests = {r};
        p.hparams = defaultHparams(EditMethod::Rome, c);
        p.hparams.layers = {layer};
        p.hparams.mom2Adjustment = false;
        p.hparams.vNumGradSteps = 12;
        p.hparams.contextTemplates = {{"{}"}, {"The quick brown fox. {}"}};
        const double before = targetProbability(*m, r.filledPrompt(), " Rome");
        const EditResult res = computeEdit(*m, p);
        QCOMPARE(res.delta.parts.size(), size_t(1));
        const TensorDelta& part = res.delta.parts[0];
        QCOMPARE(part.tensor, tensorName(c.arch, TensorRole::MlpDownW, layer));
        Transformer& tf = m->transformer();
        QVERIFY(tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn);
        const at::Tensor w0 = tf.tensor(part.tensor).clone();
        QCOMPARE(w0.size(0), int64_t(c.nEmbd));  // nn.Linear [out, in] = [n_embd, n_inner]
        QCOMPARE(w0.size(1), int64_t(c.nInner));
        EditStack stack(*m);
        stack.apply(res.delta);
        const at::Tensor w1 = tf.tensor(part.tensor);
        const auto& rep = res.requests[0];
        const at::Tensor k = at::tensor(rep.key), v = at::tensor(rep.value), vInit = at::tensor(rep.valueInit);
        const std::string biasName = tensorName(c.arch, TensorRole::MlpDownB, layer);
        const at::Tensor bias = tf.tensors().count(biasName) ? tf.tensor(biasName) : at::zeros({c.nEmbd}, at::kDouble);
        // nn.Linear: the MLP output is W k + b.
        const double closed = (at::mv(w1, k) + bias - v).abs().max().item<double>();
        const double moved = (v - vInit).abs().max().item<double>();
        const double change = (w1 - w0).abs().max().item<double>();
        const double after = targetProbability(*m, r.filledPrompt(), " Rome");
        qInfo("%s: layer %d; |W' k* + b - v*| %.3g (tolerance 1e-8); |v* - v_init| %.3g; max |dW| %.3g; "
              "v* loss %.4g -> %.4g (nll %.4g -> %.4g); p(' Rome') %.4g -> %.4g",
              qPrintable(name), layer, closed, moved, change, rep.losses.front(), rep.losses.back(), rep.nllInit,
              rep.nllFinal, before, after);
        QVERIFY(moved > 1e-3);   // premise: the edit has something to write
        QVERIFY(change > 1e-6);
        QVERIFY(closed <= 1e-8);
        QVERIFY(after > before);
        // Exported in the family's layout: reloads with the edited weight under its Hugging Face name.
        const std::string out = dir(name.toStdString() + "-edited");
        m->save(out);
        QVERIFY(Checkpoint::openFolder(out).find(hfTensorName(c.arch, part.tensor)));
        auto back = Model::load(out, o);
        const double saved = (back->transformer().tensor(part.tensor) - w1).abs().max().item<double>();
        qInfo("exported and reloaded: max |W_file - W'| %.3g (float32 storage)", saved);
        QVERIFY(saved <= 1e-6);
    }
};

QTEST_GUILESS_MAIN(TestModelFamilies)
#include "test_model_families.moc"
