#include "engine/model/Model.h"

#include "engine/core/Sha256.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Transformer.h"

namespace fs = std::filesystem;

namespace kme {

namespace {

at::ScalarType scalarTypeOf(DType t) {
    switch (t) {
        case DType::F64: return at::kDouble;
        case DType::F32: return at::kFloat;
        case DType::F16: return at::kHalf;
        case DType::BF16: return at::kBFloat16;
        case DType::I64: return at::kLong;
        case DType::I32: return at::kInt;
        case DType::I16: return at::kShort;
        case DType::I8: return at::kChar;
        case DType::U8: return at::kByte;
        case DType::BOOL: return at::kBool;
    }
    return at::kFloat;
}

bool isFloat(DType t) { return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// One tensor as stored in the checkpoint: where it came from, in what dtype.
struct StoredTensor {
    std::string fileName;   // shard file name relative to the folder ("model.safetensors")
    std::string fullName;   // the name in the file (may carry "transformer.")
    DType dtype;            // storage dtype
};

// Index of the first NaN/Inf among `n` values of a float `dtype` at `data`
// (raw exponent bits: no conversion, no allocation), or -1. One parallel
// pass over the mapping, in memory-bandwidth time.
template <typename Bits, Bits kExponent>
int64_t firstNonFinite(const void* data, int64_t n) {
    const Bits* v = static_cast<const Bits*>(data);
    std::atomic<bool> found{false};
    at::parallel_for(0, n, 1 << 16, [&](int64_t begin, int64_t end) {
        Bits any = 0;
        for (int64_t i = begin; i < end; ++i) any |= Bits((v[i] & kExponent) == kExponent);
        if (any) found = true;
    });
    if (!found) return -1;
    for (int64_t i = 0; i < n; ++i)
        if ((v[i] & kExponent) == kExponent) return i;
    return -1;
}

int64_t firstNonFinite(DType dtype, const void* data, int64_t n) {
    switch (dtype) {
        case DType::F64: return firstNonFinite<uint64_t, 0x7ff0000000000000ull>(data, n);
        case DType::F32: return firstNonFinite<uint32_t, 0x7f800000u>(data, n);
        case DType::F16: return firstNonFinite<uint16_t, 0x7c00>(data, n);
        case DType::BF16: return firstNonFinite<uint16_t, 0x7f80>(data, n);
        default: return -1;
    }
}

std::string stripPrefix(const std::string& name, const std::vector<std::string>& prefixes) {
    for (const auto& p : prefixes)
        if (name.compare(0, p.size(), p) == 0) return name.substr(p.size());
    return name;
}

// Canonical names of the weights `config` uses (every one a float tensor).
std::set<std::string> weightNames(const ModelConfig& config) {
    std::set<std::string> names;
    for (const auto& spec : architectureInfo(config.arch).tensors) {
        const int layers = spec.perLayer ? config.nLayer : 1;
        for (int l = 0; l < layers; ++l) names.insert(tensorName(config.arch, spec.role, spec.perLayer ? l : -1));
    }
    return names;
}

}  // namespace

struct Model::Impl {
    std::string folder;
    ModelConfig config;
    std::optional<Tokenizer> tokenizer;
    std::unique_ptr<Transformer> transformer;
    std::optional<Checkpoint> checkpoint;               // keeps the mmap alive
    std::map<std::string, StoredTensor> stored;         // canonical name -> storage info
    bool sharded = false;
    mutable std::mutex hashMutex;
    mutable std::string hashCache;                      // weights hash of hashFor
    mutable const Transformer* hashTransformer = nullptr;  // the cache was computed on this transformer ...
    mutable uint64_t hashVersion = 0;                      // ... at this version
    // Hashes of recent weight sets by tensor identity: an edit's revert puts
    // the original tensor objects back (a new transformer version, the same
    // bytes), so the unedited model's hash is not recomputed after every
    // edit. The strong references keep the identities from being reused.
    struct KnownState {
        std::vector<at::Tensor> tensors;  // the live tensors, in `stored` order
        std::vector<int64_t> versions;    // their in-place write counters
        std::string hash;
    };
    mutable std::vector<KnownState> knownStates;  // most recent last, at most 2
    // Per tensor in name order (the order of `stored`): the hash state before
    // it, and the tensor version it was hashed at.
    struct HashStep {
        Sha256 before;
        uint64_t tensorVersion = 0;
    };
    mutable std::vector<HashStep> hashSteps;
    mutable int64_t hashedTensors = 0;  // tensors fed so far
    mutable std::string stepsHash;      // the hash of the weights hashSteps describe
};

Model::Model() : d(std::make_unique<Impl>()) {}
Model::~Model() = default;

std::shared_ptr<Model> Model::load(const std::string& folderIn, const LoadOptions& options) {
    if (!fs::is_directory(folderIn)) fail(ErrorKind::Io, folderIn + ": not a folder (expected a model folder)");
    std::shared_ptr<Model> m(new Model());
    Impl& d = *m->d;
    d.folder = fs::absolute(folderIn).lexically_normal().string();
    if (!d.folder.empty() && d.folder.back() == '/') d.folder.pop_back();
    d.config = loadModelConfig(d.folder);
    d.tokenizer = Tokenizer::fromFolder(d.folder);
    if (d.tokenizer->vocabSize() > d.config.vocabSize)
        fail(ErrorKind::Config, d.folder + "/config.json: vocab_size " + std::to_string(d.config.vocabSize) +
                                    " is smaller than the tokenizer's " + std::to_string(d.tokenizer->vocabSize()) +
                                    " tokens");
    d.checkpoint = Checkpoint::openFolder(d.folder);
    d.sharded = d.checkpoint->isSharded();

    const auto& prefixes = architectureInfo(d.config.arch).namePrefixes;
    const std::set<std::string> weights = weightNames(d.config);
    const at::ScalarType compute = options.float64 ? at::kDouble : at::kFloat;
    auto convert = [&](DType t) {
        if (t == DType::F32 || t == DType::F64) return true;
        return options.halfToCompute && (t == DType::F16 || t == DType::BF16);
    };
    std::map<std::string, at::Tensor> tensors;
    for (const TensorView& tv : d.checkpoint->tensors()) {
        const std::string canonical = stripPrefix(tv.name, prefixes);
        if (tensors.count(canonical))
            fail(ErrorKind::Format, tv.file + ": tensor '" + tv.name + "' appears twice (with and without prefix)");
        // A weight in an integer dtype would fail deep inside libtorch at the first forward.
        if (weights.count(canonical) && !isFloat(tv.dtype))
            fail(ErrorKind::Format, tv.file + ": tensor " + tv.name + " has dtype " + dtypeName(tv.dtype) +
                                        ", expected a float type (F32, F16, BF16 or F64)");
        const at::ScalarType st = scalarTypeOf(tv.dtype);
        const size_t align = dtypeSize(tv.dtype);
        at::Tensor t;
        if (tv.numel() == 0) {
            t = at::empty(tv.shape, at::TensorOptions().dtype(st));
        } else {
            // Zero-copy view of the read-only mapping; never written in place.
            t = at::from_blob(const_cast<uint8_t*>(tv.data), tv.shape, at::TensorOptions().dtype(st));
            if (reinterpret_cast<uintptr_t>(tv.data) % align != 0) t = t.clone();
        }
        if (isFloat(tv.dtype) && tv.numel() > 0) {
            const int64_t bad = firstNonFinite(tv.dtype, t.data_ptr(), t.numel());
            if (bad >= 0)
                fail(ErrorKind::Format, tv.file + ": tensor '" + tv.name + "' holds a non-finite value (NaN or Inf) at element " +
                                            std::to_string(bad) + "; the checkpoint is damaged");
        }
        // F16/BF16 stay half (mmap'd, converted where used); F32/F64 take the compute dtype.
        if (convert(tv.dtype) && st != compute) t = t.to(compute);
        tensors.emplace(canonical, t);
        d.stored[canonical] = StoredTensor{fs::path(tv.file).filename().string(), tv.name, tv.dtype};
    }
    d.transformer = std::make_unique<Transformer>(d.config, std::move(tensors), d.folder, compute);
    return m;
}

std::shared_ptr<Model> Model::fromParts(const std::string& folder, ModelConfig config, Tokenizer tokenizer,
                                        std::unique_ptr<Transformer> transformer) {
    std::shared_ptr<Model> m(new Model());
    Impl& d = *m->d;
    d.folder = folder;
    d.config = std::move(config);
    d.tokenizer = std::move(tokenizer);
    d.transformer = std::move(transformer);
    for (const auto& [name, t] : d.transformer->tensors())
        d.stored[name] = StoredTensor{"model.safetensors", name, DType::F32};
    return m;
}

const std::string& Model::folder() const { return d->folder; }
const ModelConfig& Model::config() const { return d->config; }
const Tokenizer& Model::tokenizer() const { return *d->tokenizer; }
Transformer& Model::transformer() { return *d->transformer; }
const Transformer& Model::transformer() const { return *d->transformer; }

std::string Model::storageDType() const {
    auto it = d->stored.find(tensorName(d->config.arch, TensorRole::TokenEmbd));
    return it == d->stored.end() ? "F32" : dtypeName(it->second.dtype);
}

int64_t Model::parameterCount() const { return d->transformer->parameterCount(); }

namespace {

// Live tensor in its storage dtype, contiguous on the CPU.
at::Tensor asStored(const at::Tensor& live, DType dtype) {
    at::Tensor t = live.detach().to(at::kCPU);
    if (isFloat(dtype)) t = t.to(scalarTypeOf(dtype));
    return t.contiguous();
}

}  // namespace

std::string Model::weightsHash() const {
    std::lock_guard<std::mutex> lock(d->hashMutex);
    const Transformer* now = d->transformer.get();
    if (!d->hashCache.empty() && now == d->hashTransformer && now->version() == d->hashVersion) return d->hashCache;
    std::vector<at::Tensor> live;
    for (const auto& [name, info] : d->stored) live.push_back(d->transformer->tensor(name));
    // A remembered set that differs in more tensors than edits change (a
    // conversion, another transformer) is dropped: it would keep a whole copy alive.
    constexpr size_t kEditLike = 16;
    for (auto it = d->knownStates.begin(); it != d->knownStates.end();) {
        size_t differ = it->tensors.size() == live.size() ? 0 : live.size();
        for (size_t i = 0; it->tensors.size() == live.size() && i < live.size(); ++i)
            differ += live[i].unsafeGetTensorImpl() != it->tensors[i].unsafeGetTensorImpl() ||
                      live[i]._version() != it->versions[i];
        if (differ > kEditLike) it = d->knownStates.erase(it);
        else ++it;
    }
    for (const auto& known : d->knownStates) {
        bool same = known.tensors.size() == live.size();
        for (size_t i = 0; same && i < live.size(); ++i)
            same = live[i].unsafeGetTensorImpl() == known.tensors[i].unsafeGetTensorImpl() &&
                   live[i]._version() == known.versions[i];
        if (!same) continue;
        d->hashCache = known.hash;
        d->hashTransformer = now;
        d->hashVersion = now->version();
        return d->hashCache;
    }
    // DESIGN.md's hash is one SHA-256 over the tensors in name order: resume
    // from the state before the first tensor that changed since the last time.
    const bool known = now == d->hashTransformer && d->hashSteps.size() == d->stored.size();
    if (!known) d->hashSteps.assign(d->stored.size(), Impl::HashStep{});
    size_t i = 0, first = known ? d->stored.size() : 0;
    for (const auto& [name, info] : d->stored) {
        if (known && first == d->stored.size() && d->hashSteps[i].tensorVersion != now->tensorVersion(name)) first = i;
        ++i;
    }
    if (first < d->stored.size()) {  // else no tensor changed since the steps were hashed
        Sha256 h = first > 0 ? d->hashSteps[first].before : Sha256();
        i = 0;
        for (const auto& [name, info] : d->stored) {
            if (i >= first) {
                d->hashSteps[i].before = h;
                d->hashSteps[i].tensorVersion = now->tensorVersion(name);
                // One tensor at a time in its storage dtype (a copy only when the live one differs).
                const at::Tensor t = asStored(now->tensor(name), info.dtype);
                feedWeightsHash(h, TensorData{name, info.dtype, t.sizes().vec(), t.data_ptr(), t.nbytes()});
                ++d->hashedTensors;
            }
            ++i;
        }
        d->stepsHash = h.hexDigest();
    }
    d->hashCache = d->stepsHash;  // hashCache may hold a remembered state's hash; the steps' is this state's
    d->hashTransformer = now;
    d->hashVersion = now->version();
    Impl::KnownState remembered{live, {}, d->hashCache};
    for (const at::Tensor& t : live) remembered.versions.push_back(t._version());
    d->knownStates.push_back(std::move(remembered));
    if (d->knownStates.size() > 2) d->knownStates.erase(d->knownStates.begin());
    return d->hashCache;
}

int64_t Model::hashedTensorCount() const {
    std::lock_guard<std::mutex> lock(d->hashMutex);
    return d->hashedTensors;
}

std::string Model::stateHash() const {
    const std::string weights = weightsHash();
    const ResidentState& r = d->transformer->residentState();
    if (r.empty()) return weights;
    return sha256Hex("kme-state-1\n" + weights + "\n" + r.digest);
}

bool Model::hasResidentState() const { return !d->transformer->residentState().empty(); }

std::vector<int> Model::encodePrompt(const std::string& text) const {
    if (text.empty()) fail(ErrorKind::Input, "the prompt is empty");
    std::vector<int> ids = d->tokenizer->encodeForModel(text);  // BOS where the post-processor adds it
    if (static_cast<int>(ids.size()) > d->config.nPositions)
        fail(ErrorKind::Input, "the prompt is " + std::to_string(ids.size()) + " tokens long; the model's context holds " +
                                   std::to_string(d->config.nPositions));
    return ids;
}

std::string Model::tokenText(int id) const {
    if (id >= 0 && id < d->tokenizer->vocabSize()) return d->tokenizer->tokenDisplay(id);
    return "<unused " + std::to_string(id) + ">";
}

std::vector<TokenProb> Model::topNext(const std::vector<int>& ids, int k) const {
    if (ids.empty()) fail(ErrorKind::Input, "the prompt is empty");
    at::NoGradGuard noGrad;
    std::vector<int64_t> ids64(ids.begin(), ids.end());
    const at::Tensor probs = at::softmax(d->transformer->lastLogits(ids64).to(at::kDouble), -1);
    k = std::max(1, std::min<int>(k, static_cast<int>(probs.size(0))));
    auto [values, indices] = probs.topk(k);
    std::vector<TokenProb> out;
    for (int i = 0; i < k; ++i) {
        const int id = static_cast<int>(indices[i].item<int64_t>());
        out.push_back({id, tokenText(id), values[i].item<double>()});
    }
    return out;
}

GenerateResult Model::generate(const std::vector<int>& prompt, const GenerateParams& params) const {
    if (prompt.empty()) fail(ErrorKind::Input, "the prompt is empty");
    at::NoGradGuard noGrad;
    std::mt19937_64 rng(params.seed);
    // "<|endoftext|>" when the vocabulary has it, else config.json's eos_token_id ("</s>" in LLaMA's).
    std::optional<int> eos = d->tokenizer->eosId();
    if (!eos && d->config.eosTokenId >= 0) eos = d->config.eosTokenId;
    GenerateResult result;
    KVCache cache;
    std::vector<int64_t> next(prompt.begin(), prompt.end());
    int64_t length = 0;
    for (int step = 0; step < params.maxNewTokens; ++step) {
        // The whole sequence stays within the context (as Hugging Face's max_length).
        if (static_cast<int64_t>(prompt.size() + result.ids.size()) >= d->config.nPositions) break;
        ForwardRequest req;
        req.ids = at::tensor(at::ArrayRef<int64_t>(next), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        req.past = length > 0 ? &cache : nullptr;
        req.keepCache = true;
        req.logits = LogitsMode::Last;
        ForwardResult out = d->transformer->forward(req);
        cache = std::move(out.cache);
        length += static_cast<int64_t>(next.size());
        const at::Tensor logits = out.logits.squeeze(0).to(at::kDouble);
        int64_t chosen;
        if (params.topK <= 1) {
            chosen = logits.argmax().item<int64_t>();
        } else {
            auto [vals, idx] = logits.topk(std::min<int64_t>(params.topK, logits.size(0)));
            const at::Tensor p = at::softmax(vals, -1).contiguous();
            const double* pp = p.data_ptr<double>();
            double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng), acc = 0;
            int64_t pick = p.size(0) - 1;
            for (int64_t i = 0; i < p.size(0); ++i) {
                acc += pp[i];
                if (u < acc) {
                    pick = i;
                    break;
                }
            }
            chosen = idx[pick].item<int64_t>();
        }
        result.ids.push_back(static_cast<int>(chosen));
        if (params.stopAtEos && eos && chosen == *eos) break;
        next = {chosen};
    }
    std::vector<int> textIds = result.ids;
    if (params.stopAtEos && eos && !textIds.empty() && textIds.back() == *eos) textIds.pop_back();
    // Decode runs of real tokens together (multi-byte characters span tokens);
    // ids past the tokenizer's vocabulary show as "<unused N>".
    std::vector<int> run;
    for (int id : textIds) {
        if (id < d->tokenizer->vocabSize()) {
            run.push_back(id);
            continue;
        }
        result.text += d->tokenizer->decode(run) + tokenText(id);
        run.clear();
    }
    result.text += d->tokenizer->decode(run);
    return result;
}

void Model::save(const std::string& outFolder) const {
    // The source folder (or one holding it) is never the output: its
    // checkpoint is still mapped and stays as it is.
    if (isSameOrInside(d->folder, outFolder))
        fail(ErrorKind::Io, outFolder + ": refusing to overwrite the source model folder");
    // Folder-atomic: everything goes into a temporary sibling, swapped into
    // place when complete; a missing or empty folder only, so that no stale
    // file (a model.safetensors beside new shards) can survive.
    OutputFolder out(outFolder, {}, false);
    out.write([&](const std::string& dir) {
        // Group tensors by the shard they came from, in their original names.
        std::map<std::string, std::vector<TensorData>> shards;
        std::vector<at::Tensor> keep;
        for (const auto& [name, info] : d->stored) {
            at::Tensor t = asStored(d->transformer->tensor(name), info.dtype);
            keep.push_back(t);
            shards[info.fileName].push_back(TensorData{info.fullName, info.dtype, t.sizes().vec(), t.data_ptr(), t.nbytes()});
        }
        const std::map<std::string, std::string> meta = {{"format", "pt"}};
        if (d->sharded) {
            std::vector<std::pair<std::string, std::vector<TensorData>>> list(shards.begin(), shards.end());
            writeShardedSafetensors(dir, list, meta);
        } else {
            writeSafetensors(dir + "/model.safetensors", shards.begin()->second, meta);
        }
        bool haveConfig = false;
        for (const char* f : {"config.json", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                              "special_tokens_map.json", "generation_config.json"}) {
            const fs::path src = fs::path(d->folder) / f;
            std::error_code ec;
            if (!fs::is_regular_file(src, ec)) continue;  // never a FIFO or a device
            const fs::path dst = fs::path(dir) / f;
            fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
            if (ec) fail(ErrorKind::Io, (fs::path(outFolder) / f).string() + ": cannot write (" + ec.message() + ")");
            haveConfig = haveConfig || std::string(f) == "config.json";
        }
        if (!haveConfig)
            writeFileAtomically(dir + "/config.json", modelConfigToJson(d->config), "model config");
    });
    out.commit();
}

// ---------------------------------------------------------------- runtime

std::string blasLibraryInUse() {
    std::ifstream maps("/proc/self/maps");
    std::string line, found;
    while (std::getline(maps, line)) {
        const auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        const std::string path = line.substr(slash);
        if (path.find("openblas") != std::string::npos || path.find("libblas") != std::string::npos ||
            path.find("libmkl") != std::string::npos || path.find("blis") != std::string::npos) {
            std::error_code ec;
            const std::string real = fs::canonical(path, ec).string();
            found = ec ? path : real;
            if (found.find("openblas") != std::string::npos || found.find("mkl") != std::string::npos) return found;
        }
    }
    return found;
}

std::string initComputeRuntime(int threads) {
    // More threads than cores only adds contention (1024 on 2 cores: predict 13-15 s instead of < 1 s).
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (threads <= 0 || threads > cores) threads = cores;
    at::set_num_threads(threads);
    // Force BLAS to load (a tiny matmul) before looking at which library it is.
    (void)at::mm(at::ones({2, 2}), at::ones({2, 2}));
    const std::string blas = blasLibraryInUse();
    if (blas.find("openblas") == std::string::npos && blas.find("mkl") == std::string::npos)
        return "warning: libtorch is using the reference BLAS (" + (blas.empty() ? std::string("unknown") : blas) +
               "), about 28x slower than OpenBLAS: install libopenblas0-openmp";
    return {};
}

int computeThreads() { return at::get_num_threads(); }

}  // namespace kme
