#include "engine/model/RandomModel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "engine/core/Error.h"

#include "engine/model/Transformer.h"

namespace kme {

namespace {

// The tensors the config needs (GPT-2's optional lm_head stays tied), in
// the one fixed order they are drawn in.
struct RandomItem {
    std::string name;            // canonical
    TensorRole role;
    std::vector<int64_t> shape;
};
std::vector<RandomItem> randomItems(const ModelConfig& c) {
    std::vector<RandomItem> items;
    for (const auto& spec : architectureInfo(c.arch).tensors) {
        if (!tensorRequired(c, spec)) continue;
        const std::vector<int64_t> shape = tensorShape(c, spec);
        for (int l = 0; l < (spec.perLayer ? c.nLayer : 1); ++l)
            items.push_back({tensorName(c.arch, spec.role, spec.perLayer ? l : -1), spec.role, shape});
    }
    return items;
}

// GPT-2's initialisation of one tensor: N(0, std) weights, output
// projections scaled by 1/sqrt(2 * n_layer), unit norms, zero biases.
at::Tensor drawRandom(const ModelConfig& c, const RandomItem& item, at::Generator& gen, double stdDev) {
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    auto normal = [&](double s) { return at::normal(0.0, s, item.shape, gen, opts); };
    switch (item.role) {
        case TensorRole::TokenEmbd:
        case TensorRole::AttnQkvW:
        case TensorRole::AttnQW:
        case TensorRole::AttnKW:
        case TensorRole::AttnVW:
        case TensorRole::MlpGateW:
        case TensorRole::MlpUpW:
        case TensorRole::LmHead: return normal(stdDev);
        case TensorRole::PosEmbd: return normal(stdDev / 2);
        case TensorRole::AttnOutW:
        case TensorRole::MlpDownW: return normal(stdDev / std::sqrt(2.0 * c.nLayer));
        case TensorRole::AttnNormW:
        case TensorRole::MlpNormW:
        case TensorRole::OutNormW: return at::ones(item.shape, opts);
        default: return at::zeros(item.shape, opts);  // biases
    }
}

}  // namespace

std::unique_ptr<Transformer> randomTransformer(const ModelConfig& c, uint64_t seed, double stdDev) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    std::map<std::string, at::Tensor> tensors;
    for (const RandomItem& item : randomItems(c)) tensors.emplace(item.name, drawRandom(c, item, gen, stdDev));
    return std::make_unique<Transformer>(c, std::move(tensors), "random model");
}

ModelConfig gpt2SmallConfig() {
    ModelConfig c;
    c.modelType = "gpt2";
    c.nLayer = 12;
    c.nHead = 12;
    c.nEmbd = 768;
    c.nInner = 3072;
    c.nPositions = 1024;
    c.vocabSize = 50257;
    return c;
}

ModelConfig tinyFamilyConfig(Architecture arch) {
    ModelConfig c;
    c.arch = arch;
    c.modelType = architectureInfo(arch).modelTypes.front();
    c.residual = architectureInfo(arch).traits.residual;
    c.rope.style = architectureInfo(arch).traits.rope;
    c.nLayer = 2;
    c.nHead = 4;
    c.nEmbd = 32;
    c.nInner = 72;
    c.nPositions = 64;
    c.vocabSize = 320;
    c.tieWordEmbeddings = false;
    c.slidingLayers.assign(c.nLayer, false);
    switch (arch) {
        case Architecture::Gpt2:
            c.nInner = 4 * c.nEmbd;
            c.tieWordEmbeddings = true;
            c.attnBias = c.attnOutBias = true;
            break;
        case Architecture::GptJ:
            c.activation = "gelu_new";
            c.rope.rotaryDim = 4;  // of head_dim 8
            break;
        case Architecture::GptNeoX:
            c.activation = "gelu";
            c.nInner = 80;
            c.rope.rotaryDim = 4;  // rotary_pct 0.5 of head_dim 8
            c.attnBias = c.attnOutBias = true;
            break;
        case Architecture::Llama:
        case Architecture::Mistral:
        case Architecture::Qwen2:
            c.activation = "silu";
            c.layerNormEps = 1e-6;
            c.nKvHead = 2;
            c.headDimension = 8;
            c.rope.rotaryDim = 8;
            if (arch == Architecture::Llama) {
                c.nLayer = 3;
                c.nEmbd = 48;
                c.nInner = 80;
                c.headDimension = 16;  // != 48 / 4
                c.rope.rotaryDim = 16;
                c.slidingLayers.assign(c.nLayer, false);
            } else if (arch == Architecture::Mistral) {
                c.slidingWindow = 4;
                c.slidingLayers.assign(c.nLayer, true);
            } else {
                c.attnBias = true;
                c.tieWordEmbeddings = true;
                c.slidingWindow = 5;
                c.slidingLayers = {false, true};  // max_window_layers 1
            }
            break;
    }
    return c;
}

ModelConfig llamaShapeConfig(const std::string& size) {
    ModelConfig c = tinyFamilyConfig(Architecture::Llama);
    c.layerNormEps = 1e-5;
    c.headDimension = 0;
    c.nHead = 32;
    c.vocabSize = 32000;
    if (size == "tiny") {  // tests: the same code paths in seconds
        c.nLayer = 2;
        c.nEmbd = 64;
        c.nInner = 160;
        c.nHead = 4;
        c.nKvHead = 2;
        c.vocabSize = 512;
        c.nPositions = 256;
    } else if (size == "1b") {
        c.nLayer = 22;
        c.nEmbd = 2048;
        c.nInner = 5632;
        c.nKvHead = 4;
        c.nPositions = 2048;
    } else if (size == "7b") {
        c.nLayer = 32;
        c.nEmbd = 4096;
        c.nInner = 11008;
        c.nKvHead = 32;
        c.nPositions = 4096;
    } else {
        fail(ErrorKind::Input, "unknown model size '" + size + "' (available: tiny, 1b, 7b)");
    }
    c.rope.rotaryDim = c.headDim();
    c.slidingLayers.assign(c.nLayer, false);
    return c;
}

}  // namespace kme

// ---------------------------------------------------------------- folders

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/io/Safetensors.h"
#include "engine/tokenizer/BpeTrainer.h"

namespace kme {
namespace {

std::vector<std::string> sampleTexts() {
    static const char* lines[] = {
        "The quick brown fox jumps over the lazy dog.",
        "The Eiffel Tower is located in the city of Paris.",
        "The capital of France is Paris, and the capital of Italy is Rome.",
        "Pack my box with five dozen liquor jugs!",
        "How vexingly quick daft zebras jump; 12345 and 67890.",
        "Danube, Rhine, Thames: rivers of Europe. Tokyo is in Japan.",
        "She plays the violin; he plays the piano and the guitar.",
    };
    std::vector<std::string> out;
    for (int r = 0; r < 20; ++r)
        for (const char* l : lines) out.emplace_back(l);
    return out;
}

}  // namespace

void writeRandomModelFolder(const std::string& folder, const ModelConfig& configIn, uint64_t seed,
                            const RandomFolderOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) fail(ErrorKind::Io, folder + ": cannot create folder (" + ec.message() + ")");
    ModelConfig config = configIn;

    // Tokenizer first: the vocabulary fixes vocab_size.
    BpeTrainParams bpe;
    bpe.vocabSize = std::max(257, std::min(config.vocabSize, 1000));
    bpe.minFrequency = 1;
    const std::string vocabPath = folder + "/vocab.json", mergesPath = folder + "/merges.txt";
    trainByteLevelBpe(sampleTexts(), bpe, vocabPath, mergesPath);
    if (options.tokenizerJson) {
        nlohmann::json vocab, merges = nlohmann::json::array();
        std::ifstream(vocabPath) >> vocab;
        std::ifstream m(mergesPath);
        std::string line;
        while (std::getline(m, line))
            if (!line.empty() && line[0] != '#') merges.push_back(line);
        nlohmann::json tj = {{"version", "1.0"},
                             {"added_tokens", nlohmann::json::array()},
                             {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false},
                                                {"trim_offsets", true}, {"use_regex", true}}},
                             {"decoder", {{"type", "ByteLevel"}}},
                             {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
        std::ofstream(folder + "/tokenizer.json") << tj.dump();
        fs::remove(vocabPath);
        fs::remove(mergesPath);
    }
    std::ofstream(folder + "/config.json") << modelConfigToJson(config);

    const at::ScalarType st = options.dtype == "F16" ? at::kHalf : options.dtype == "BF16" ? at::kBFloat16 : at::kFloat;
    const DType dt = *parseDType(options.dtype);
    auto fileName = [&](const std::string& name) {
        return config.arch == Architecture::Gpt2 ? options.namePrefix + name : hfTensorName(config.arch, name);
    };
    if (options.streamed) {
        if (options.shards > 1 || options.perturbVectors > 0)
            fail(ErrorKind::Internal, "random model folder: streamed writing takes one file and no perturbation");
        // The same draws as randomTransformer, each converted and written
        // when its bytes are due: memory holds one tensor, not the model.
        const std::vector<RandomItem> items = randomItems(config);
        std::vector<TensorData> specs;
        for (const RandomItem& item : items) {
            int64_t numel = 1;
            for (int64_t d : item.shape) numel *= d;
            specs.push_back(TensorData{fileName(item.name), dt, item.shape, nullptr, size_t(numel) * dtypeSize(dt)});
        }
        at::Generator gen = at::detail::createCPUGenerator(seed);
        writeSafetensorsStreamed(
            folder + "/model.safetensors", specs,
            [&](size_t i, void* dst) {
                at::Tensor out = at::from_blob(dst, items[i].shape, at::TensorOptions().dtype(st));
                if (!options.fastUniform) {
                    out.copy_(drawRandom(config, items[i], gen, options.stdDev));
                    return;
                }
                // The roles and scales of drawRandom, uniform draws of equal std.
                double sd = 0;
                switch (items[i].role) {
                    case TensorRole::AttnNormW:
                    case TensorRole::MlpNormW:
                    case TensorRole::OutNormW: out.fill_(1.0); return;
                    case TensorRole::TokenEmbd:
                    case TensorRole::AttnQkvW:
                    case TensorRole::AttnQW:
                    case TensorRole::AttnKW:
                    case TensorRole::AttnVW:
                    case TensorRole::MlpGateW:
                    case TensorRole::MlpUpW:
                    case TensorRole::LmHead: sd = options.stdDev; break;
                    case TensorRole::PosEmbd: sd = options.stdDev / 2; break;
                    case TensorRole::AttnOutW:
                    case TensorRole::MlpDownW: sd = options.stdDev / std::sqrt(2.0 * config.nLayer); break;
                    default: out.fill_(0.0); return;  // biases
                }
                at::Tensor f = at::empty({out.numel()}, at::TensorOptions().dtype(at::kFloat));
                float* p = f.data_ptr<float>();
                const double a = sd * std::sqrt(3.0);
                const uint64_t base = seed * 0x9e3779b97f4a7c15ull + uint64_t(i) * 0xbf58476d1ce4e5b9ull;
                at::parallel_for(0, f.numel(), 1 << 16, [&](int64_t b, int64_t e) {
                    for (int64_t k = b; k < e; ++k) {
                        uint64_t z = base + uint64_t(k) * 0x9e3779b97f4a7c15ull;  // splitmix64
                        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                        z ^= z >> 31;
                        p[k] = float(a * (2.0 * double(z >> 11) * 0x1.0p-53 - 1.0));
                    }
                });
                out.view({-1}).copy_(f);
            },
            {{"format", "pt"}});
        return;
    }

    auto model = randomTransformer(config, seed, options.stdDev);
    if (options.perturbVectors > 0) {
        // Norm weights and biases away from 1 and 0, so that every term matters.
        at::Generator g = at::detail::createCPUGenerator(seed + 1);
        for (const auto& [name, t] : std::map<std::string, at::Tensor>(model->tensors()))
            if (t.dim() == 1) model->setTensor(name, t + at::normal(0.0, options.perturbVectors, t.sizes(), g, t.options()));
    }
    std::vector<at::Tensor> keep;
    std::vector<TensorData> all;
    for (const auto& [name, t] : model->tensors()) {
        at::Tensor c = t.to(st).contiguous();
        keep.push_back(c);
        all.push_back(TensorData{fileName(name), dt, c.sizes().vec(), c.data_ptr(), c.nbytes()});
    }
    if (options.shards <= 1) {
        writeSafetensors(folder + "/model.safetensors", all, {{"format", "pt"}});
        return;
    }
    std::vector<std::pair<std::string, std::vector<TensorData>>> shards;
    for (int s = 0; s < options.shards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, options.shards);
        shards.push_back({name, {}});
    }
    for (size_t i = 0; i < all.size(); ++i) shards[i % options.shards].second.push_back(all[i]);
    writeShardedSafetensors(folder, shards, {{"format", "pt"}});
}

}  // namespace kme
