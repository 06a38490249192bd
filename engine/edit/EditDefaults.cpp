#include "engine/edit/EditDefaults.h"

#include "engine/eval/Dataset.h"

#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/demo/DemoCorpus.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"

namespace kme {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The defaults file of a model folder, parsed (a regular file of bounded
// size, JSON of bounded nesting, known top-level keys); null when absent.
// A method's section name (its table name, not an alias).
bool findMethodSection(const std::string& key) {
    for (const MethodInfo& row : methodTable())
        if (key == row.name) return true;
    return false;
}

json readDefaultsFile(const Model& model, std::string* pathOut) {
    const fs::path path = fs::path(model.folder()) / kEditDefaultsFile;
    if (pathOut) *pathOut = path.string();
    std::error_code ec;
    if (model.folder().empty() || (!fs::exists(path, ec) && !fs::is_symlink(path, ec))) return nullptr;
    json j;
    try {
        j = readJsonFile(path.string(), "edit defaults", 16ull << 20);
    } catch (const Error& e) {
        fail(e.kind() == ErrorKind::Io ? ErrorKind::Io : ErrorKind::Config, e.what());
    }
    if (!j.is_object()) fail(ErrorKind::Config, path.string() + ": expected a JSON object, got " + jsonTypeName(j));
    // "note", one section per method of the table, "stats_corpus".
    for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != "note" && it.key() != "stats_corpus" && it.key() != "demonstrations" &&
            !findMethodSection(it.key()))
            fail(ErrorKind::Config, path.string() + ": unknown key " + quoteForMessage(it.key(), 60) +
                                        " (known: note, " + methodNames() + ", stats_corpus, demonstrations)");
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
    if (j.contains("note")) d.note = jsonString(j, path, "note", 64 << 10, ErrorKind::Config);
    // Every method's section is checked (a typo in another method's section is not left for later).
    for (const MethodInfo& row : methodTable()) {
        const EditMethod m = row.method;
        const std::string section = row.name;
        if (m == method || !j.contains(section)) continue;
        EditHparams scratch = defaultHparams(m, model.config());
        applyHparams(scratch, m, j[section], path + " (" + section + ")");
    }
    const std::string key = editMethodName(method);
    if (j.contains(key)) {
        const std::vector<int> before = d.hparams.layers;
        // Through the method's schema: a key of another method or out of range names the file and the key.
        applyHparams(d.hparams, method, j[key], path + " (" + key + ")");
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
    const std::string where = path + " (stats_corpus)";
    if (!s.is_object()) fail(ErrorKind::Config, path + ": stats_corpus must be an object, got " + jsonTypeName(s));
    for (auto it = s.begin(); it != s.end(); ++it)
        if (it.key() != "file" && it.key() != "demo_corpus" && it.key() != "documents" && it.key() != "seed")
            fail(ErrorKind::Config, where + ": unknown key " + quoteForMessage(it.key(), 60) +
                                        " (known: file, demo_corpus, documents, seed)");
    const fs::path folder = model.folder();
    if (s.contains("file")) {
        const fs::path file = (folder / jsonString(s, where, "file", 4096, ErrorKind::Config)).lexically_normal();
        out.texts = loadTextCorpus(file.string());
        out.label = file.string();
        return out;
    }
    if (!s.contains("demo_corpus"))
        fail(ErrorKind::Config, path + ": stats_corpus needs \"file\" or \"demo_corpus\" (a string)");
    const fs::path corpusJson = (folder / jsonString(s, where, "demo_corpus", 4096, ErrorKind::Config)).lexically_normal();
    int documents = 4000;
    uint64_t seed = 7;
    if (s.contains("documents")) documents = int(jsonInt(s, where, "documents", 1, 1000000, ErrorKind::Config));
    if (s.contains("seed")) {
        if (s["seed"].is_number_unsigned()) seed = s["seed"].get<uint64_t>();
        else seed = uint64_t(jsonInt(s, where, "seed", 0, std::numeric_limits<int64_t>::max(), ErrorKind::Config));
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

DemonstrationFacts defaultDemonstrations(const Model& model) {
    std::string path;
    const json j = readDefaultsFile(model, &path);
    DemonstrationFacts out;
    if (j.is_null() || !j.contains("demonstrations")) return out;
    const json& s = j["demonstrations"];
    const std::string where = path + " (demonstrations)";
    if (!s.is_object() || !s.contains("facts") || s.size() != 1)
        fail(ErrorKind::Config, where + ": expected {\"facts\": \"a CounterFact file, relative to the model folder\"}");
    const fs::path file = (fs::path(model.folder()) / jsonString(s, where, "facts", 4096, ErrorKind::Config)).lexically_normal();
    out.records = loadDataset(file.string()).records;
    out.label = file.string();
    return out;
}

EditParams defaultEditParams(const Model& model, EditMethod method) {
    EditParams p;
    p.method = method;
    p.hparams = editDefaults(model, method).hparams;
    if (methodInfo(method).needsKeyStatistics && p.hparams.mom2Adjustment) {
        StatsCorpus c = defaultStatsCorpus(model);
        p.statsTexts = std::move(c.texts);
        p.statsLabel = std::move(c.label);
    }
    if (methodInfo(method).needsDemonstrations) {
        DemonstrationFacts d = defaultDemonstrations(model);
        p.demonstrations = std::move(d.records);
        p.demonstrationsLabel = std::move(d.label);
    }
    return p;
}

}  // namespace kme
