// Key second moments (kmeng01/rome rome/layer_stats.py, "mom2"): computed in
// float64 over a corpus, cached on disk and in memory.
#include "engine/edit/KeyStatistics.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/core/Sha256.h"
#include "engine/edit/EditInternal.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"

namespace fs = std::filesystem;

namespace kme {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int64_t> computeCount{0};

struct MemoryEntry {
    at::Tensor mom2;  // [n_inner, n_inner] float64
    StatsInfo info;
};
std::mutex memoryMutex;
std::map<std::string, MemoryEntry> memory;
std::deque<std::string> memoryOrder;  // oldest first
constexpr size_t kMemoryEntries = 4;  // GPT-2 XL: 328 MB each

void remember(const std::string& key, const at::Tensor& mom2, const StatsInfo& info) {
    std::lock_guard<std::mutex> lock(memoryMutex);
    if (!memory.count(key)) memoryOrder.push_back(key);
    memory[key] = MemoryEntry{mom2, info};
    while (memoryOrder.size() > kMemoryEntries) {
        memory.erase(memoryOrder.front());
        memoryOrder.pop_front();
    }
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::Io, path + ": cannot open the corpus");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string extractText(const nlohmann::json& j, const std::string& where) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("text") && j.at("text").is_string()) return j.at("text").get<std::string>();
    fail(ErrorKind::Format, where + ": expected a string or an object with a \"text\" string");
}

// Loads a cached C; an empty tensor when the file is missing, damaged or for another key.
at::Tensor loadCached(const fs::path& file, const std::string& key, int64_t width, StatsInfo& info) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return {};
    try {
        auto f = SafetensorsFile::open(file.string());
        const auto& meta = f->metadata();
        const TensorView* t = f->find("mom2");
        if (!t || t->dtype != DType::F64 || t->shape != std::vector<int64_t>{width, width} || !meta.count("key") ||
            meta.at("key") != key)
            return {};
        at::Tensor out = at::empty({width, width}, at::TensorOptions().dtype(at::kDouble));
        std::memcpy(out.data_ptr<double>(), t->data, t->nbytes);
        info.samples = std::stoll(meta.at("samples"));
        info.tokens = std::stoll(meta.at("tokens"));
        info.computeSeconds = std::stod(meta.at("seconds"));
        return out;
    } catch (const std::exception&) {
        return {};  // recomputed and rewritten
    }
}

}  // namespace

std::string corpusHash(const std::vector<std::string>& texts) {
    Sha256 h;
    for (const auto& t : texts) {
        const uint64_t n = t.size();
        h.update(&n, sizeof n);
        h.update(t);
    }
    return h.hexDigest();
}

std::vector<std::string> loadTextCorpus(const std::string& path) {
    const std::string text = readFile(path);
    std::vector<std::string> out;
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".jsonl") {
        std::istringstream in(text);
        std::string line;
        for (size_t n = 1; std::getline(in, line); ++n) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            const std::string where = path + ": line " + std::to_string(n);
            try {
                out.push_back(extractText(nlohmann::json::parse(line), where));
            } catch (const nlohmann::json::parse_error& e) {
                fail(ErrorKind::Format, where + ": not valid JSON (" + e.what() + ")");
            }
        }
    } else if (ext == ".json") {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            fail(ErrorKind::Format, path + ": not valid JSON (" + e.what() + ")");
        }
        if (!j.is_array()) fail(ErrorKind::Format, path + ": expected a JSON list of texts");
        for (size_t i = 0; i < j.size(); ++i) out.push_back(extractText(j[i], path + ": item " + std::to_string(i)));
    } else {
        // Paragraphs when the file has blank lines, else lines.
        std::string t = text;
        t.erase(std::remove(t.begin(), t.end(), '\r'), t.end());
        const bool paragraphs = t.find("\n\n") != std::string::npos;
        std::string cur;
        std::istringstream in(t);
        std::string line;
        auto flush = [&] {
            if (cur.find_first_not_of(" \t\n") != std::string::npos) out.push_back(cur);
            cur.clear();
        };
        while (std::getline(in, line)) {
            if (!paragraphs) {
                cur = line;
                flush();
            } else if (line.find_first_not_of(" \t") == std::string::npos) {
                flush();
            } else {
                cur += (cur.empty() ? "" : "\n") + line;
            }
        }
        flush();
    }
    out.erase(std::remove_if(out.begin(), out.end(),
                             [](const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }),
              out.end());
    if (out.empty()) fail(ErrorKind::Input, path + ": the corpus holds no text");
    return out;
}

int64_t keyStatisticsComputeCount() { return computeCount.load(); }

void clearKeyStatisticsMemoryCache() {
    std::lock_guard<std::mutex> lock(memoryMutex);
    memory.clear();
    memoryOrder.clear();
}

namespace edit {

at::Tensor keySecondMoment(Model& model, int layer, const StatsParams& p, const ProgressFn& progress, StatsInfo* infoOut) {
    const auto t0 = Clock::now();
    validateLayers(model, {layer});
    if (p.texts.empty()) fail(ErrorKind::Input, "the statistics corpus" + (p.corpusLabel.empty() ? "" : " " + p.corpusLabel) + " is empty");
    const ModelConfig& c = model.config();
    const int64_t width = c.nInner;
    const int maxText = p.maxTextTokens > 0 ? std::min(p.maxTextTokens, c.nPositions) : c.nPositions;
    StatsInfo info;
    info.layer = layer;
    info.corpusHash = corpusHash(p.texts);
    const std::string modelKey = p.modelKey.empty() ? model.weightsHash() : p.modelKey;
    std::ostringstream k;
    k << "model " << modelKey << " layer " << layer << " corpus " << info.corpusHash << " samples " << p.maxSamples
      << " tokens " << p.maxTokens << " per_text " << maxText;
    const std::string key = k.str();
    std::ostringstream name;
    name << "L" << layer << "_" << info.corpusHash.substr(0, 12) << "_s" << p.maxSamples << "_t" << p.maxTokens << "_m"
         << maxText << ".safetensors";
    const fs::path file = fs::path(cacheFolder()) / "stats" / modelKey.substr(0, 16) / name.str();
    auto finish = [&](const at::Tensor& mom2, bool cached) {
        info.fromCache = cached;
        info.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        if (infoOut) *infoOut = info;
        return mom2;
    };

    if (p.useCache) {
        {
            std::lock_guard<std::mutex> lock(memoryMutex);
            if (auto it = memory.find(key); it != memory.end()) {
                const at::Tensor m = it->second.mom2;
                info = it->second.info;
                return finish(m, true);
            }
        }
        at::Tensor cached = loadCached(file, key, width, info);
        if (cached.defined()) {
            info.cacheFile = file.string();
            remember(key, cached, info);
            return finish(cached, true);
        }
    }

    // Tokenize the texts in corpus order up to the sample and token budgets.
    const Tokenizer& tok = model.tokenizer();
    std::vector<std::vector<int64_t>> seqs;
    int64_t tokens = 0;
    for (size_t i = 0; i < p.texts.size() && int64_t(seqs.size()) < p.maxSamples; ++i) {
        if (p.maxTokens > 0 && tokens >= p.maxTokens) break;
        std::vector<int> ids;
        try {
            ids = tok.encode(p.texts[i]);
        } catch (const Error& e) {
            fail(ErrorKind::Input, (p.corpusLabel.empty() ? std::string("corpus") : p.corpusLabel) + ": text " +
                                       std::to_string(i) + ": " + e.what());
        }
        int64_t keep = std::min<int64_t>(int64_t(ids.size()), maxText);
        if (p.maxTokens > 0) keep = std::min(keep, p.maxTokens - tokens);
        if (keep <= 0) continue;
        seqs.emplace_back(ids.begin(), ids.begin() + keep);
        tokens += keep;
    }
    if (tokens == 0) fail(ErrorKind::Input, "the statistics corpus has no tokens");

    // Batches of similar length (ROME's length_collation) of at most batchTokens padded tokens.
    std::vector<size_t> order(seqs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seqs[a].size() > seqs[b].size(); });
    const int64_t batchTokens = p.batchTokens > 0 ? p.batchTokens : 3 * int64_t(c.nPositions);
    at::NoGradGuard noGrad;
    at::Tensor sum = at::zeros({width, width}, at::TensorOptions().dtype(at::kDouble));
    int64_t done = 0;
    for (size_t first = 0; first < order.size();) {
        const int64_t T = int64_t(seqs[order[first]].size());
        size_t last = first + 1;
        while (last < order.size() && int64_t(last - first + 1) * T <= batchTokens) ++last;
        std::vector<std::vector<int64_t>> batch;
        std::vector<int64_t> flat;  // row * T + position of every real token
        for (size_t i = first; i < last; ++i) {
            const auto& s = seqs[order[i]];
            for (int64_t t = 0; t < int64_t(s.size()); ++t) flat.push_back(int64_t(i - first) * T + t);
            batch.push_back(s);
        }
        ForwardRequest req;
        req.ids = edit::padBatch(batch);
        req.stopAfterLayer = layer;
        req.logits = LogitsMode::None;
        at::Tensor keys;
        req.interventions.push_back(Intervention::read(Site::MlpKey, layer, &keys));
        model.transformer().forward(req);
        const at::Tensor k = keys.reshape({-1, width})
                                 .index_select(0, at::tensor(at::ArrayRef<int64_t>(flat), at::TensorOptions().dtype(at::kLong)))
                                 .to(at::kDouble);
        sum.addmm_(k.t(), k);
        done += k.size(0);
        first = last;
        if (!reportProgress(progress, double(done), double(tokens))) throw Cancelled();
    }
    const at::Tensor mom2 = sum / double(done);
    ++computeCount;
    info.samples = int64_t(seqs.size());
    info.tokens = done;
    info.computeSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (p.useCache) {
        try {
            fs::create_directories(file.parent_path());
            const at::Tensor m = mom2.contiguous();
            writeSafetensors(file.string(), {TensorData{"mom2", DType::F64, {width, width}, m.data_ptr(), m.nbytes()}},
                             {{"key", key},
                              {"samples", std::to_string(info.samples)},
                              {"tokens", std::to_string(info.tokens)},
                              {"seconds", std::to_string(info.computeSeconds)},
                              {"layer", std::to_string(layer)},
                              {"corpus", p.corpusLabel}});
            info.cacheFile = file.string();
        } catch (const std::exception&) {
            info.cacheFile.clear();  // best effort: an unwritable cache only costs time
        }
        remember(key, mom2, info);
    }
    return finish(mom2, false);
}

}  // namespace edit

StatsInfo ensureKeyStatistics(Model& model, int layer, const StatsParams& params, const ProgressFn& progress) {
    StatsInfo info;
    edit::keySecondMoment(model, layer, params, progress, &info);
    return info;
}

}  // namespace kme
