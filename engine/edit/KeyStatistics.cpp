// Key second moments (kmeng01/rome rome/layer_stats.py, "mom2"): one GEMM per
// corpus batch in the keys' precision, accumulated in float64 over the
// corpus, cached on disk and in memory.
#include "engine/edit/KeyStatistics.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/core/SafeInput.h"
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

constexpr uint64_t kMaxCorpusBytes = 2ull << 30;      // 2 GiB of text: more than any CPU budget reads
constexpr uint64_t kMaxCacheHeaderBytes = 1ull << 20;  // a statistics cache header is a few hundred bytes
constexpr int kMaxCacheHeaderDepth = 8;                // {"__metadata__": {...}, "mom2": {"shape": [...]}}

std::string extractText(const nlohmann::json& j, const std::string& where) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("text") && j.at("text").is_string()) return j.at("text").get<std::string>();
    fail(ErrorKind::Format, where + ": expected a string or an object with a \"text\" string, got " + jsonTypeName(j));
}

// A whole decimal number of a cache header's metadata, or nullopt.
std::optional<int64_t> metaInt(const std::map<std::string, std::string>& meta, const std::string& key) {
    const auto it = meta.find(key);
    if (it == meta.end() || it->second.empty() || it->second.size() > 19) return std::nullopt;
    int64_t v = 0;
    for (const char c : it->second) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

// Why a cache file's header cannot be trusted ("" = it can be parsed): the
// header is read and checked here before the safetensors reader sees it, so
// that a hostile header (a huge length, nesting 100,000 deep) is refused
// without recursion.
std::string headerProblem(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "cannot be opened";
    unsigned char len[8];
    if (!in.read(reinterpret_cast<char*>(len), 8)) return "shorter than a safetensors header";
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n < 2 || n > kMaxCacheHeaderBytes) return "a header length of " + std::to_string(n) + " bytes";
    std::string header(size_t(n), '\0');
    if (!in.read(header.data(), std::streamsize(n))) return "a truncated header";
    if (jsonNestingDepth(header, kMaxCacheHeaderDepth) > kMaxCacheHeaderDepth) return "a header JSON nested too deep";
    try {
        const nlohmann::json j = parseJson(header, file.string(), kMaxCacheHeaderDepth);
        if (!j.is_object()) return "a header that is not a JSON object";
    } catch (const std::exception&) {
        return "a header that is not valid JSON";
    }
    return {};
}

// Loads a cached C. An empty tensor when the file is missing; also when it is
// damaged or for another key, with `why` saying what is wrong (the caller
// discards the file and recomputes). A C that is not finite, not symmetric or
// has a negative or all-zero diagonal cannot come from keys: damaged.
at::Tensor loadCached(const fs::path& file, const std::string& key, int64_t width, StatsInfo& info, std::string& why) {
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(file, ec);
    if (ec || !fs::exists(st)) return {};
    if (!fs::is_regular_file(fs::status(file, ec))) {
        why = "not a regular file";
        return {};
    }
    why = headerProblem(file);
    if (!why.empty()) return {};
    try {
        auto f = SafetensorsFile::open(file.string());
        const auto& meta = f->metadata();
        const TensorView* t = f->find("mom2");
        if (!t) {
            why = "no mom2 tensor";
            return {};
        }
        if (t->dtype != DType::F64 || t->shape != std::vector<int64_t>{width, width}) {
            std::string shape;
            for (int64_t d : t->shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
            why = "mom2 is " + std::string(dtypeName(t->dtype)) + " [" + shape + "], expected F64 [" +
                  std::to_string(width) + ", " + std::to_string(width) + "]";
            return {};
        }
        if (!meta.count("key") || meta.at("key") != key) {
            why = "written for other statistics (its key differs)";
            return {};
        }
        const auto samples = metaInt(meta, "samples"), tokens = metaInt(meta, "tokens");
        if (!samples || !tokens || *samples < 1 || *tokens < 1) {
            why = "bad samples / tokens counts in its header";
            return {};
        }
        double computeSeconds = 0;
        try {
            computeSeconds = std::stod(meta.count("seconds") ? meta.at("seconds") : std::string("x"));
        } catch (const std::exception&) {
            computeSeconds = -1;
        }
        if (!std::isfinite(computeSeconds) || computeSeconds < 0) {
            why = "a bad seconds value in its header";
            return {};
        }
        at::Tensor out = at::empty({width, width}, at::TensorOptions().dtype(at::kDouble));
        std::memcpy(out.data_ptr<double>(), t->data, t->nbytes);
        if (!out.isfinite().all().item<bool>()) {
            why = "non-finite values (NaN or infinity) in mom2";
            return {};
        }
        const double scale = out.abs().max().item<double>();
        const at::Tensor diagonal = out.diagonal();
        if (!(scale > 0) || diagonal.min().item<double>() < 0 || !(diagonal.sum().item<double>() > 0)) {
            why = "a negative or all-zero diagonal in mom2, which no second moment has";
            return {};
        }
        if ((out - out.t()).abs().max().item<double>() > 1e-9 * scale) {
            why = "an asymmetric mom2, which no second moment is";
            return {};
        }
        info.samples = *samples;
        info.tokens = *tokens;
        info.computeSeconds = computeSeconds;
        return out;
    } catch (const std::exception&) {
        why = "not a valid safetensors file";
        return {};
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
    const std::string text = readRegularFile(path, "statistics corpus", kMaxCorpusBytes);
    std::vector<std::string> out;
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".jsonl") {
        std::istringstream in(text);
        std::string line;
        for (size_t n = 1; std::getline(in, line); ++n) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            const std::string where = path + ": line " + std::to_string(n);
            out.push_back(extractText(parseJson(line, where), where));
        }
    } else if (ext == ".json") {
        const nlohmann::json j = parseJson(text, path);
        if (!j.is_array()) fail(ErrorKind::Format, path + ": expected a JSON list of texts, got " + jsonTypeName(j));
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

namespace {

// Where one layer's statistics live: the memory-cache key and the disk file.
struct StatsSlot {
    int layer = 0;
    std::string key;
    fs::path file;
    StatsInfo info;
    at::Tensor mom2;  // defined once found or computed
};

}  // namespace

std::map<int, at::Tensor> keySecondMoments(Model& model, const std::vector<int>& layers, const StatsParams& p,
                                           const ProgressFn& progress, std::vector<StatsInfo>* infosOut) {
    const auto t0 = Clock::now();
    validateLayers(model, layers);
    const std::string corpusName = "the statistics corpus" + (p.corpusLabel.empty() ? "" : " " + p.corpusLabel);
    if (p.texts.empty()) fail(ErrorKind::Input, corpusName + " is empty");
    if (p.maxSamples < 1)
        fail(ErrorKind::Config, "key statistics: mom2_n_samples must be at least 1, got " + std::to_string(p.maxSamples));
    if (p.maxTokens < 0)
        fail(ErrorKind::Config, "key statistics: mom2_n_tokens must be at least 0, got " + std::to_string(p.maxTokens));
    const ModelConfig& c = model.config();
    const int64_t width = c.nInner;
    const int maxText = p.maxTextTokens > 0 ? std::min(p.maxTextTokens, c.nPositions) : c.nPositions;
    const std::string hash = corpusHash(p.texts);
    const std::string modelKey = p.modelKey.empty() ? model.stateHash() : p.modelKey;
    const auto seconds = [&t0] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

    // Each layer from memory or disk when it was computed before; the rest in one pass.
    std::vector<StatsSlot> slots;
    std::vector<StatsSlot*> missing;
    for (int layer : layers) {
        if (std::any_of(slots.begin(), slots.end(), [layer](const StatsSlot& s) { return s.layer == layer; })) continue;
        StatsSlot& slot = slots.emplace_back();
        slot.layer = layer;
        slot.info.layer = layer;
        slot.info.corpusHash = hash;
        std::ostringstream k;
        k << "model " << modelKey << " layer " << layer << " corpus " << hash << " samples " << p.maxSamples << " tokens "
          << p.maxTokens << " per_text " << maxText;
        slot.key = k.str();
        std::ostringstream name;
        name << "L" << layer << "_" << hash.substr(0, 12) << "_s" << p.maxSamples << "_t" << p.maxTokens << "_m" << maxText
             << ".safetensors";
        slot.file = fs::path(cacheFolder()) / "stats" / modelKey.substr(0, 16) / name.str();
    }
    for (StatsSlot& slot : slots) {
        const int layer = slot.layer;
        if (p.useCache) {
            {
                std::lock_guard<std::mutex> lock(memoryMutex);
                if (auto it = memory.find(slot.key); it != memory.end()) {
                    slot.mom2 = it->second.mom2;
                    slot.info = it->second.info;
                }
            }
            if (!slot.mom2.defined()) {
                std::string why;
                slot.mom2 = loadCached(slot.file, slot.key, width, slot.info, why);
                if (slot.mom2.defined()) {
                    slot.info.cacheFile = slot.file.string();
                    remember(slot.key, slot.mom2, slot.info);
                } else if (!why.empty()) {
                    // Never used: removed (the recomputed statistics replace it).
                    std::error_code ec;
                    fs::remove(slot.file, ec);
                    slot.info.cacheNote = "the statistics cache " + slot.file.string() + " was discarded (" + why +
                                          "); layer " + std::to_string(layer) + "'s statistics were recomputed";
                }
            }
            if (slot.mom2.defined()) {
                slot.info.fromCache = true;
                slot.info.seconds = seconds();
                continue;
            }
        }
        missing.push_back(&slot);
    }

    if (!missing.empty()) {
        // Tokenize the texts in corpus order up to the sample and token budgets.
        const Tokenizer& tok = model.tokenizer();
        std::vector<std::vector<int64_t>> seqs;
        int64_t tokens = 0;
        for (size_t i = 0; i < p.texts.size() && int64_t(seqs.size()) < p.maxSamples; ++i) {
            if (p.maxTokens > 0 && tokens >= p.maxTokens) break;
            std::vector<int> ids;
            try {
                ids = tok.encodeForModel(p.texts[i]);
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
        if (tokens == 0) fail(ErrorKind::Input, corpusName + " has no tokens");

        // Batches of similar length (ROME's length_collation) of at most batchTokens padded tokens.
        // One forward pass per batch reads the keys of every missing layer (up to the deepest),
        // instead of one pass per layer; each layer's sum sees the same keys in the same order
        // as a pass of its own, so the result does not depend on which layers share the pass.
        std::vector<size_t> order(seqs.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seqs[a].size() > seqs[b].size(); });
        const int64_t batchTokens = p.batchTokens > 0 ? p.batchTokens : 3 * int64_t(c.nPositions);
        int deepest = 0;
        for (const StatsSlot* slot : missing) deepest = std::max(deepest, slot->layer);
        at::NoGradGuard noGrad;
        std::vector<at::Tensor> sums;
        for (size_t m = 0; m < missing.size(); ++m) sums.push_back(at::zeros({width, width}, at::TensorOptions().dtype(at::kDouble)));
        int64_t done = 0;
        double passFlops = 0, gemmFlops = 0;  // the shared forward passes; each layer's GEMMs
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
            req.stopAfterLayer = deepest;
            req.logits = LogitsMode::None;
            std::vector<at::Tensor> keys(missing.size());
            for (size_t m = 0; m < missing.size(); ++m)
                req.interventions.push_back(Intervention::read(Site::MlpKey, missing[m]->layer, &keys[m]));
            passFlops += model.transformer().forward(req).flops;
            const at::Tensor rows = at::tensor(at::ArrayRef<int64_t>(flat), at::TensorOptions().dtype(at::kLong));
            for (size_t m = 0; m < missing.size(); ++m) {
                // One GEMM per batch in the keys' own precision (float32 runs at twice float64's
                // rate; half-precision keys go to float32), summed over batches in float64: the
                // batch's products carry float32's rounding only (~1e-6 relative, see test_edit).
                at::Tensor k = keys[m].reshape({-1, width}).index_select(0, rows);
                if (k.scalar_type() != at::kDouble) k = k.to(at::kFloat);
                sums[m].add_(at::mm(k.t(), k).to(at::kDouble));
                gemmFlops += 2.0 * double(k.size(0)) * double(width) * double(width);
            }
            done += int64_t(flat.size());
            first = last;
            if (!reportProgress(progress, double(done), double(tokens))) throw Cancelled();
        }
        // Layers computed together share the pass's time evenly, so that the
        // seconds of a run's layers add up to the time it took.
        const double computeSeconds = seconds() / double(missing.size());
        editProfile().statsFlops += passFlops + gemmFlops;
        editProfile().statsSeconds += seconds();
        for (size_t m = 0; m < missing.size(); ++m) {
            StatsSlot& slot = *missing[m];
            // A float32 GEMM's blocking can round C[i][j] and C[j][i] differently: the mean of the
            // two is exactly symmetric (a second moment is; the cache check relies on it).
            slot.mom2 = (sums[m] + sums[m].t()) / (2.0 * double(done));
            ++computeCount;
            slot.info.samples = int64_t(seqs.size());
            slot.info.tokens = done;
            slot.info.computeSeconds = computeSeconds;
            slot.info.fromCache = false;
            slot.info.seconds = computeSeconds;
            if (!p.useCache) continue;
            try {
                fs::create_directories(slot.file.parent_path());
                const at::Tensor mc = slot.mom2.contiguous();
                writeSafetensors(slot.file.string(),
                                 {TensorData{"mom2", DType::F64, {width, width}, mc.data_ptr(), mc.nbytes()}},
                                 {{"key", slot.key},
                                  {"samples", std::to_string(slot.info.samples)},
                                  {"tokens", std::to_string(slot.info.tokens)},
                                  {"seconds", std::to_string(slot.info.computeSeconds)},
                                  {"layer", std::to_string(slot.layer)},
                                  {"corpus", p.corpusLabel}});
                slot.info.cacheFile = slot.file.string();
            } catch (const std::exception&) {
                slot.info.cacheFile.clear();  // best effort: an unwritable cache only costs time
            }
            remember(slot.key, slot.mom2, slot.info);
        }
    }
    std::map<int, at::Tensor> out;
    if (infosOut) infosOut->clear();
    for (const StatsSlot& slot : slots) {
        out[slot.layer] = slot.mom2;
        if (infosOut) infosOut->push_back(slot.info);
    }
    return out;
}

at::Tensor keySecondMoment(Model& model, int layer, const StatsParams& p, const ProgressFn& progress, StatsInfo* infoOut) {
    std::vector<StatsInfo> infos;
    at::Tensor mom2 = keySecondMoments(model, {layer}, p, progress, &infos)[layer];
    if (infoOut) *infoOut = infos.front();
    return mom2;
}

}  // namespace edit

StatsInfo ensureKeyStatistics(Model& model, int layer, const StatsParams& params, const ProgressFn& progress) {
    StatsInfo info;
    edit::keySecondMoment(model, layer, params, progress, &info);
    return info;
}

}  // namespace kme
