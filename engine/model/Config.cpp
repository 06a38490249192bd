#include "engine/model/Config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

namespace kme {
namespace {

using json = nlohmann::json;

// Ranges of the config.json fields (parseModelConfig refuses anything outside
// them, naming the key): far beyond any model this program can run, small
// enough that shapes and parameter counts fit in int64.
constexpr int64_t kMaxConfigLayers = 1024;          // n_layer
constexpr int64_t kMaxConfigHeads = 4096;           // n_head
constexpr int64_t kMaxConfigEmbd = 65536;           // n_embd
constexpr int64_t kMaxConfigInner = 1 << 20;        // n_inner
constexpr int64_t kMaxConfigVocab = 1 << 24;        // vocab_size, bos/eos ids
constexpr int64_t kMaxConfigPositions = 1 << 20;    // n_positions / n_ctx
constexpr int64_t kMaxConfigParameters = 1ll << 40; // the parameter count they imply
constexpr uint64_t kMaxConfigFileBytes = 16 << 20;  // config.json itself

// A present, non-null key.
bool has(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && !it->is_null();
}

int requiredInt(const json& j, const char* key, int64_t max, const std::string& source) {
    if (!j.contains(key)) fail(ErrorKind::Config, source + ": missing required key '" + key + "'");
    return static_cast<int>(jsonInt(j, source, key, 1, max, ErrorKind::Config));
}

int optionalInt(const json& j, const char* key, int fallback, int64_t min, int64_t max, const std::string& source) {
    if (!has(j, key)) return fallback;
    return static_cast<int>(jsonInt(j, source, key, min, max, ErrorKind::Config));
}

// The parameter count a config implies (tied lm_head counted once).
int64_t modelParameterCount(const ModelConfig& c) {
    // Each factor is range-checked by parseModelConfig (<= 2^24 * 2^16 and
    // 2^10 layers of a few 2^16 * 2^20 matrices): the sum fits in int64.
    const int64_t D = c.nEmbd, I = c.nInner, V = c.vocabSize, P = c.nPositions, L = c.nLayer;
    const int64_t perLayer = 4 * D                 // two LayerNorms
                             + D * 3 * D + 3 * D   // qkv
                             + D * D + D           // attention output
                             + D * I + I           // MLP up
                             + I * D + D;          // MLP down
    return V * D + P * D + L * perLayer + 2 * D + (c.tieWordEmbeddings ? 0 : V * D);
}

}  // namespace

ModelConfig parseModelConfig(const std::string& jsonText, const std::string& source) {
    json j;
    try {
        j = parseJson(jsonText, source);
    } catch (const Error& e) {
        fail(ErrorKind::Config, e.what());
    }
    if (!j.is_object()) fail(ErrorKind::Config, source + ": expected a JSON object, got " + jsonTypeName(j));

    ModelConfig c;
    c.rawJson = jsonText;
    // Very old GPT-2 configs omit model_type; when present it must be a string.
    c.modelType = has(j, "model_type") ? jsonString(j, source, "model_type", 256, ErrorKind::Config) : "gpt2";
    const auto arch = architectureForModelType(c.modelType);
    if (!arch)
        fail(ErrorKind::Config, source + ": model_type " + quoteForMessage(c.modelType) +
                                    " is not supported (supported: gpt2)");
    c.arch = *arch;

    // Ranges: far beyond any model this program can run, small enough that
    // every product below (shapes, parameter count) fits in int64.
    c.nLayer = requiredInt(j, "n_layer", kMaxConfigLayers, source);
    c.nHead = requiredInt(j, "n_head", kMaxConfigHeads, source);
    c.nEmbd = requiredInt(j, "n_embd", kMaxConfigEmbd, source);
    c.vocabSize = requiredInt(j, "vocab_size", kMaxConfigVocab, source);
    if (j.contains("n_positions"))
        c.nPositions = requiredInt(j, "n_positions", kMaxConfigPositions, source);
    else if (j.contains("n_ctx"))
        c.nPositions = requiredInt(j, "n_ctx", kMaxConfigPositions, source);
    else
        fail(ErrorKind::Config, source + ": missing required key 'n_positions' (or 'n_ctx')");
    c.nInner = optionalInt(j, "n_inner", 4 * c.nEmbd, 1, kMaxConfigInner, source);
    if (c.nEmbd % c.nHead != 0)
        fail(ErrorKind::Config, source + ": n_embd (" + std::to_string(c.nEmbd) +
                                    ") is not a multiple of n_head (" + std::to_string(c.nHead) + ")");
    if (has(j, "layer_norm_epsilon")) {
        const json& v = j.at("layer_norm_epsilon");
        if (!v.is_number() || !(v.get<double>() > 0) || !(v.get<double>() <= 1))
            fail(ErrorKind::Config, source + ": layer_norm_epsilon must be a number in (0, 1], got " +
                                        (v.is_number() ? jsonExcerpt(v) : jsonTypeName(v)));
        c.layerNormEps = v.get<double>();
    }
    if (has(j, "activation_function"))
        c.activation = jsonString(j, source, "activation_function", 256, ErrorKind::Config);
    if (c.activation != "gelu_new" && c.activation != "gelu" && c.activation != "relu" &&
        c.activation != "gelu_pytorch_tanh")
        fail(ErrorKind::Config, source + ": activation_function " + quoteForMessage(c.activation) +
                                    " is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu)");
    if (c.activation == "gelu_pytorch_tanh") c.activation = "gelu_new";  // the same function
    if (has(j, "tie_word_embeddings")) c.tieWordEmbeddings = jsonBool(j, source, "tie_word_embeddings", ErrorKind::Config);
    c.bosTokenId = optionalInt(j, "bos_token_id", -1, -1, kMaxConfigVocab, source);
    c.eosTokenId = optionalInt(j, "eos_token_id", -1, -1, kMaxConfigVocab, source);
    const int64_t parameters = modelParameterCount(c);
    if (parameters > kMaxConfigParameters)
        fail(ErrorKind::Config, source + ": n_layer " + std::to_string(c.nLayer) + ", n_embd " +
                                    std::to_string(c.nEmbd) + ", n_inner " + std::to_string(c.nInner) +
                                    " and vocab_size " + std::to_string(c.vocabSize) + " imply " +
                                    std::to_string(parameters) + " parameters, more than the " +
                                    std::to_string(kMaxConfigParameters) + " this program can load");
    return c;
}

ModelConfig loadModelConfig(const std::string& folder) {
    const std::string path = folder + "/config.json";
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT)
        fail(ErrorKind::Io, path + ": cannot open the model config (no such file: is this a model folder?)");
    return parseModelConfig(readRegularFile(path, "model config", kMaxConfigFileBytes), path);
}

std::string modelConfigToJson(const ModelConfig& c) {
    json j = {
        {"architectures", {"GPT2LMHeadModel"}},
        {"model_type", "gpt2"},
        {"activation_function", c.activation},
        {"n_layer", c.nLayer},
        {"n_head", c.nHead},
        {"n_embd", c.nEmbd},
        {"n_inner", c.nInner == 4 * c.nEmbd ? json(nullptr) : json(c.nInner)},
        {"n_positions", c.nPositions},
        {"n_ctx", c.nPositions},
        {"vocab_size", c.vocabSize},
        {"layer_norm_epsilon", c.layerNormEps},
        {"tie_word_embeddings", c.tieWordEmbeddings},
        {"attn_pdrop", 0.0},
        {"embd_pdrop", 0.0},
        {"resid_pdrop", 0.0},
        {"initializer_range", 0.02},
        {"scale_attn_weights", true},
        {"torch_dtype", "float32"},
    };
    if (c.bosTokenId >= 0) j["bos_token_id"] = c.bosTokenId;
    if (c.eosTokenId >= 0) j["eos_token_id"] = c.eosTokenId;
    return j.dump(2) + "\n";
}

}  // namespace kme
