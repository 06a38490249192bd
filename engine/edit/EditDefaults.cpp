#include "engine/edit/EditDefaults.h"

#include <filesystem>
#include <fstream>
#include <mutex>
#include <map>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/demo/DemoCorpus.h"
#include "engine/model/Model.h"

namespace kme {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The defaults file of a model folder, parsed; null when absent.
json readDefaultsFile(const Model& model, std::string* pathOut) {
    const fs::path path = fs::path(model.folder()) / kEditDefaultsFile;
    if (pathOut) *pathOut = path.string();
    if (model.folder().empty() || !fs::exists(path)) return nullptr;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::Io, path.string() + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    json j;
    try {
        j = json::parse(ss.str());
    } catch (const json::parse_error& e) {
        fail(ErrorKind::Config, path.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) fail(ErrorKind::Config, path.string() + ": expected a JSON object");
    return j;
}

}  // namespace

EditDefaults editDefaults(const Model& model, EditMethod method) {
    EditDefaults d;
    d.hparams = defaultHparams(method, model.config());
    const std::string known = knownModelName(model.config());
    if (!d.hparams.layers.empty())
        d.layerSource = "the default for " + known + " (kmeng01/rome and kmeng01/memit hyper-parameters)";
    std::string path;
    const json j = readDefaultsFile(model, &path);
    if (j.is_null()) return d;
    if (j.contains("note")) {
        if (!j["note"].is_string()) fail(ErrorKind::Config, path + ": 'note' must be a string");
        d.note = j["note"].get<std::string>();
    }
    const std::string key = editMethodName(method);
    if (j.contains(key)) {
        if (!j[key].is_object()) fail(ErrorKind::Config, path + ": '" + key + "' must be an object of hyper-parameters");
        const std::vector<int> before = d.hparams.layers;
        try {
            applyHparamsJson(d.hparams, j[key].dump(), path + " (" + key + ")");
        } catch (const Error& e) {
            fail(ErrorKind::Config, e.what());
        }
        if (d.hparams.layers != before) d.layerSource = fs::path(path).filename().string() + " in the model folder";
    }
    return d;
}

StatsCorpus defaultStatsCorpus(const Model& model) {
    std::string path;
    const json j = readDefaultsFile(model, &path);
    StatsCorpus out;
    if (j.is_null() || !j.contains("stats_corpus")) return out;
    const json& s = j["stats_corpus"];
    if (!s.is_object()) fail(ErrorKind::Config, path + ": 'stats_corpus' must be an object");
    const fs::path folder = model.folder();
    if (s.contains("file")) {
        if (!s["file"].is_string()) fail(ErrorKind::Config, path + ": 'stats_corpus.file' must be a string");
        const fs::path file = (folder / s["file"].get<std::string>()).lexically_normal();
        out.texts = loadTextCorpus(file.string());
        out.label = file.string();
        return out;
    }
    if (!s.contains("demo_corpus") || !s["demo_corpus"].is_string())
        fail(ErrorKind::Config, path + ": 'stats_corpus' needs \"file\" or \"demo_corpus\" (a string)");
    const fs::path corpusJson = (folder / s["demo_corpus"].get<std::string>()).lexically_normal();
    int documents = 4000;
    uint64_t seed = 7;
    if (s.contains("documents")) {
        if (!s["documents"].is_number_integer() || s["documents"].get<int64_t>() < 1 ||
            s["documents"].get<int64_t>() > 1000000)
            fail(ErrorKind::Config, path + ": 'stats_corpus.documents' must be an integer in 1..1000000");
        documents = s["documents"].get<int>();
    }
    if (s.contains("seed")) {
        if (!s["seed"].is_number_unsigned()) fail(ErrorKind::Config, path + ": 'stats_corpus.seed' must be a non-negative integer");
        seed = s["seed"].get<uint64_t>();
    }
    // Generating is cheap but not free: keep the last corpus per key.
    static std::mutex mutex;
    static std::map<std::string, std::vector<std::string>> cache;
    const std::string cacheKey = corpusJson.string() + "|" + std::to_string(documents) + "|" + std::to_string(seed);
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = cache.find(cacheKey);
        if (it != cache.end()) out.texts = it->second;
    }
    if (out.texts.empty()) {
        const DemoCorpus corpus = DemoCorpus::load(corpusJson.string());
        std::mt19937_64 rng(seed);
        out.texts.reserve(size_t(documents));
        for (int i = 0; i < documents; ++i) out.texts.push_back(corpus.generate(rng, corpus.defaultRecipe()).text);
        std::lock_guard<std::mutex> lock(mutex);
        cache[cacheKey] = out.texts;
    }
    out.label = "demo corpus: " + std::to_string(documents) + " generated documents (" + corpusJson.string() +
                ", seed " + std::to_string(seed) + ")";
    return out;
}

EditParams defaultEditParams(const Model& model, EditMethod method) {
    EditParams p;
    p.method = method;
    p.hparams = editDefaults(model, method).hparams;
    if (method != EditMethod::FtL && p.hparams.mom2Adjustment) {
        StatsCorpus c = defaultStatsCorpus(model);
        p.statsTexts = std::move(c.texts);
        p.statsLabel = std::move(c.label);
    }
    return p;
}

}  // namespace kme
