#pragma once
// Shared pieces of the model-family tests: random folders of each family in
// its Hugging Face layout (written once per test run), config variants,
// comparisons and error expectations.
#include <QtTest>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/model/RandomModel.h"
#include "tests/engine/NaiveFamilies.h"

namespace familytest {

using namespace kme;
namespace fs = std::filesystem;
using json = nlohmann::json;

inline const std::vector<int> kIds = {3, 17, 5, 22, 0, 9, 9, 14, 1, 7, 11};

inline at::Tensor idsTensor(const std::vector<int>& ids) {
    std::vector<int64_t> v(ids.begin(), ids.end());
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
}

inline double maxDiff(const at::Tensor& engine, const std::vector<naivefam::Vec>& ref) {
    double d = 0;
    const at::Tensor e = engine.to(at::kDouble).contiguous();
    for (size_t t = 0; t < ref.size(); ++t)
        for (size_t i = 0; i < ref[t].size(); ++i)
            d = std::max(d, std::abs(e[int64_t(t)][int64_t(i)].item<double>() - ref[t][i]));
    return d;
}

inline json readJson(const std::string& path) {
    json j;
    std::ifstream(path) >> j;
    return j;
}

// LLaMA with grouped-query attention and head_dim 16 != 96 / 4, whose MLP
// matrices (96 x 704 = 67584 elements) are large enough for the forward
// pass's scratch-buffer conversion of half weights and whose others are not.
inline ModelConfig scratchSizedLlamaConfig() {
    ModelConfig c = tinyFamilyConfig(Architecture::Llama);
    c.nEmbd = 96;
    c.nInner = 704;
    return c;
}

inline void writeJson(const std::string& path, const json& j) { std::ofstream(path) << j.dump(2); }

inline void expectError(const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
        f();
    } catch (const Error& e) {
        const std::string msg = e.what();
        qInfo("error: %s", msg.c_str());
        for (const auto& p : parts)
            if (msg.find(p) == std::string::npos) QFAIL(("'" + p + "' not in: " + msg).c_str());
        return;
    }
    QFAIL("no error");
}

// Random family folders in a temporary directory: weights N(0, 0.3), norms
// and biases perturbed so that every term matters.
class FamilyFolders {
public:
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

    // A random folder of `arch` (weights N(0, 0.3), norms and biases
    // perturbed, so that every term matters), written once per name.
    std::string folder(const std::string& name, const ModelConfig& c, uint64_t seed = 5, const std::string& dtype = "F32",
                       int shards = 1) {
        const std::string d = dir(name);
        if (!fs::exists(d + "/config.json")) {
            RandomFolderOptions o;
            o.stdDev = 0.3;
            o.perturbVectors = 0.2;
            o.dtype = dtype;
            o.shards = shards;
            writeRandomModelFolder(d, c, seed, o);
        }
        return d;
    }
    std::string folder(Architecture a) { return folder(architectureName(a), tinyFamilyConfig(a)); }

    // A copy of a family folder with config.json changed by `edit`.
    std::string variant(const std::string& name, Architecture a, const std::function<void(json&)>& edit) {
        const std::string src = folder(a), d = dir(name);
        fs::create_directories(d);
        for (const auto& e : fs::directory_iterator(src)) fs::copy_file(e.path(), d + "/" + e.path().filename().string(), fs::copy_options::overwrite_existing);
        json j = readJson(d + "/config.json");
        edit(j);
        writeJson(d + "/config.json", j);
        return d;
    }

    static void addFamilyRows() {
        QTest::addColumn<QString>("name");
        QTest::newRow("gptj") << "gptj";
        QTest::newRow("gpt_neox") << "gpt_neox";
        QTest::newRow("gpt_neox sequential") << "gpt_neox-seq";
        QTest::newRow("llama") << "llama";
        QTest::newRow("llama linear rope scaling") << "llama-linear";
        QTest::newRow("mistral") << "mistral";
        QTest::newRow("qwen2") << "qwen2";
        QTest::newRow("llama bf16") << "llama-bf16";
        QTest::newRow("qwen2 3 shards") << "qwen2-shards";
    }

    std::string familyFolder(const QString& name) {
        const std::string n = name.toStdString();
        if (n == "gpt_neox-seq")
            return variant(n, Architecture::GptNeoX, [](json& j) { j["use_parallel_residual"] = false; });
        if (n == "llama-linear")
            return variant(n, Architecture::Llama, [](json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; });
        if (n == "llama-bf16") return folder(n, tinyFamilyConfig(Architecture::Llama), 6, "BF16");
        if (n == "qwen2-shards") return folder(n, tinyFamilyConfig(Architecture::Qwen2), 7, "F32", 3);
        const auto arch = architectureForModelType(n);
        if (!arch) qFatal("no family %s", n.c_str());
        return folder(*arch);
    }

    bool valid() const { return tmp_.isValid(); }

private:
    QTemporaryDir tmp_;
};

}  // namespace familytest
