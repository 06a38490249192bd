// Model-family configs: the spellings of config.json keys seen in the wild
// (v4 rope_theta / rope_scaling with "type" or "rope_type", transformers v5
// rope_parameters, NeoX rotary_pct / rotary_emb_base), RoPE scaling bands,
// and hostile configs and checkpoints, each refused with one error naming
// the culprit.
#include <QtTest>

#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/Rope.h"
#include "tests/engine/FamilyTestSupport.h"

using namespace kme;
using namespace familytest;

class TestFamilyConfigs final : public QObject {
    Q_OBJECT
    FamilyFolders f_;
    std::string dir(const std::string& n) { return f_.dir(n); }
    std::string folder(Architecture a) { return f_.folder(a); }
    std::string variant(const std::string& name, Architecture a, const std::function<void(json&)>& edit) {
        return f_.variant(name, a, edit);
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(f_.valid()); }

    void ropeScalingBands() {
        ModelConfig c = tinyFamilyConfig(Architecture::Llama);
        c.rope.theta = 500000;
        c.rope.scaling = "llama3";
        c.rope.factor = 8;
        c.rope.lowFreqFactor = 1;
        c.rope.highFreqFactor = 4;
        c.rope.originalMaxPositions = 8192;
        const at::Tensor inv = ropeInverseFrequencies(c, 10);
        int bands[3] = {0, 0, 0};
        double worst = 0;
        const int d = c.rope.rotaryDim;
        for (int i = 0; i < d / 2; ++i) {
            const double f = std::pow(500000.0, -2.0 * i / d), wl = 2 * M_PI / f;
            double want;
            if (wl < 8192.0 / 4) {
                want = f;
                ++bands[0];
            } else if (wl > 8192.0) {
                want = f / 8;
                ++bands[2];
            } else {
                const double s = (8192.0 / wl - 1) / (4 - 1);
                want = (1 - s) * f / 8 + s * f;
                ++bands[1];
            }
            worst = std::max(worst, std::abs(inv[i].item<double>() - want) / want);
        }
        qInfo("llama3 scaling: %d kept, %d interpolated, %d divided; max relative diff %.3g", bands[0], bands[1],
              bands[2], worst);
        QVERIFY(bands[0] > 0 && bands[1] > 0 && bands[2] > 0);
        QVERIFY(worst <= 1e-12);
        // Dynamic NTK: the default below the context, a larger base beyond it.
        c.rope.scaling = "dynamic";
        c.rope.factor = 2;
        c.rope.theta = 10000;
        const at::Tensor plain = ropeInverseFrequencies(c, c.nPositions);
        const at::Tensor longer = ropeInverseFrequencies(c, 2 * c.nPositions);
        const double base = 10000 * std::pow(2.0 * 2 - 1, double(d) / (d - 2));
        QVERIFY(std::abs(plain[1].item<double>() - std::pow(10000.0, -2.0 / d)) < 1e-15);
        QVERIFY(std::abs(longer[1].item<double>() - std::pow(base, -2.0 / d)) < 1e-15);
    }

    void configSpellings() {
        // The three spellings of theta / scaling / partial rotary give the same config.
        const std::string base = R"({"model_type":"llama","num_hidden_layers":2,"num_attention_heads":4,"hidden_size":32,
            "intermediate_size":64,"vocab_size":300,"max_position_embeddings":64,"eos_token_id":[7,8])";
        const ModelConfig a = parseModelConfig(base + R"(,"rope_theta":500000,"rope_scaling":{"type":"linear","factor":2}})", "a");
        const ModelConfig b = parseModelConfig(base + R"(,"rope_theta":500000,"rope_scaling":{"rope_type":"linear","factor":2}})", "b");
        const ModelConfig v5 = parseModelConfig(base + R"(,"rope_parameters":{"rope_type":"linear","rope_theta":500000,"factor":2}})", "c");
        for (const ModelConfig* c : {&a, &b, &v5}) {
            QCOMPARE(c->rope.theta, 500000.0);
            QCOMPARE(c->rope.scaling, std::string("linear"));
            QCOMPARE(c->rope.factor, 2.0);
            QCOMPARE(c->rope.rotaryDim, 8);
            QCOMPARE(c->eosTokenId, 7);
            QCOMPARE(c->kvHeads(), 4);
        }
        const std::string neox = R"({"model_type":"gpt_neox","num_hidden_layers":2,"num_attention_heads":4,"hidden_size":64,
            "intermediate_size":100,"vocab_size":300)";
        const ModelConfig n4 = parseModelConfig(neox + R"(,"rotary_pct":0.25,"rotary_emb_base":20000})", "n4");
        const ModelConfig n5 = parseModelConfig(neox + R"(,"rope_parameters":{"rope_type":"default","rope_theta":20000,"partial_rotary_factor":0.25}})", "n5");
        for (const ModelConfig* c : {&n4, &n5}) {
            QCOMPARE(c->rope.rotaryDim, 4);
            QCOMPARE(c->rope.theta, 20000.0);
            QVERIFY(c->residual == ResidualKind::ParallelTwoNorms);
            QVERIFY(c->attnBias);
        }
        const ModelConfig q = parseModelConfig(R"({"model_type":"qwen2","num_hidden_layers":4,"num_attention_heads":4,"hidden_size":32,
            "intermediate_size":64,"vocab_size":300,"use_sliding_window":true,"sliding_window":16,"max_window_layers":3})", "q");
        QVERIFY(!q.slidingAt(2) && q.slidingAt(3));
        QVERIFY(q.attnBias && !q.attnOutBias);
        const ModelConfig qOff = parseModelConfig(R"({"model_type":"qwen2","num_hidden_layers":4,"num_attention_heads":4,"hidden_size":32,
            "intermediate_size":64,"vocab_size":300,"use_sliding_window":false,"sliding_window":16})", "q");
        QVERIFY(!qOff.slidingAt(3));
    }

    void hostileConfigs() {
        using A = Architecture;
        expectError([&] { Model::load(variant("kv3", A::Llama, [](json& j) { j["num_key_value_heads"] = 3; })); },
                    {"config.json", "num_key_value_heads (3) does not divide num_attention_heads (4)"});
        expectError([&] {
            Model::load(variant("yarn", A::Llama, [](json& j) { j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2}}; }));
        }, {"config.json", "rope_scaling.type 'yarn' is not supported"});
        expectError([&] {
            Model::load(variant("longrope", A::Qwen2, [](json& j) { j["rope_parameters"] = {{"rope_type", "longrope"}}; }));
        }, {"rope_parameters.rope_type 'longrope' is not supported"});
        expectError([&] {
            Model::load(variant("llama3-keys", A::Llama, [](json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}}; }));
        }, {"rope_scaling", "low_freq_factor"});
        expectError([&] { Model::load(variant("odd-head", A::Mistral, [](json& j) { j["head_dim"] = 7; })); },
                    {"head_dim", "even"});
        expectError([&] { Model::load(variant("odd-rotary", A::GptNeoX, [](json& j) { j["rotary_pct"] = 0.375; })); },
                    {"rotary_pct", "3 rotary dims"});
        expectError([&] { Model::load(variant("gptj-rot", A::GptJ, [](json& j) { j["rotary_dim"] = 10; })); },
                    {"rotary_dim (10)"});
        expectError([&] { Model::load(variant("bad-act", A::Llama, [](json& j) { j["hidden_act"] = "quick_gelu"; })); },
                    {"hidden_act", "quick_gelu"});
        // A tensor missing from the file: named as the file names it.
        const std::string src = folder(A::Llama), d = dir("missing-k");
        fs::create_directories(d);
        for (const auto& e : fs::directory_iterator(src))
            if (e.path().filename() != "model.safetensors") fs::copy_file(e.path(), d + "/" + e.path().filename().string());
        {
            const Checkpoint ck = Checkpoint::openFolder(src);
            std::vector<TensorData> keep;
            for (const auto& t : ck.tensors())
                if (t.name != "model.layers.1.self_attn.k_proj.weight") keep.push_back(asTensorData(t));
            writeSafetensors(d + "/model.safetensors", keep);
        }
        expectError([&] { Model::load(d); }, {"'model.layers.1.self_attn.k_proj.weight' is missing"});
        // Untied without lm_head.
        const std::string d2 = dir("no-head");
        fs::create_directories(d2);
        for (const auto& e : fs::directory_iterator(src))
            if (e.path().filename() != "model.safetensors") fs::copy_file(e.path(), d2 + "/" + e.path().filename().string());
        {
            const Checkpoint ck = Checkpoint::openFolder(src);
            std::vector<TensorData> keep;
            for (const auto& t : ck.tensors())
                if (t.name != "lm_head.weight") keep.push_back(asTensorData(t));
            writeSafetensors(d2 + "/model.safetensors", keep);
        }
        expectError([&] { Model::load(d2); }, {"'lm_head.weight' is missing", "tie_word_embeddings is false"});
        // A kv projection of the wrong width (GQA read from the config, not guessed from shapes).
        expectError([&] { Model::load(variant("kv4", A::Llama, [](json& j) { j["num_key_value_heads"] = 4; })); },
                    {"model.layers.0.self_attn.k_proj.weight", "shape [32, 48]", "[64, 48]"});
    }

};

QTEST_GUILESS_MAIN(TestFamilyConfigs)
#include "test_family_configs.moc"
