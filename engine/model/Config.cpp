#include "engine/model/Config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <sstream>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/model/ConfigKeys.h"

namespace kme {

namespace config_keys {

bool has(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && !it->is_null();
}

const char* firstKey(const json& j, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
        if (has(j, k)) return k;
    return nullptr;
}

int requiredInt(const json& j, std::initializer_list<const char*> keys, int64_t max, const std::string& source) {
    const char* key = firstKey(j, keys);
    if (!key) {
        std::string names;
        for (const char* k : keys) names += std::string(names.empty() ? "'" : "' (or '") + k;
        names += "'";
        for (size_t i = 1; i < keys.size(); ++i) names += ")";
        fail(ErrorKind::Config, source + ": missing required key " + names);
    }
    return static_cast<int>(jsonInt(j, source, key, 1, max, ErrorKind::Config));
}

int optionalInt(const json& j, const char* key, int fallback, int64_t min, int64_t max, const std::string& source) {
    if (!has(j, key)) return fallback;
    return static_cast<int>(jsonInt(j, source, key, min, max, ErrorKind::Config));
}

double optionalNumber(const json& j, const char* key, double fallback, double minExclusive, double max,
                      const std::string& where) {
    if (!has(j, key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number() || !(v.get<double>() > minExclusive) || !(v.get<double>() <= max))
        fail(ErrorKind::Config, where + ": " + key + " must be a number in (" + jsonExcerpt(json(minExclusive)) + ", " +
                                    jsonExcerpt(json(max)) + "], got " +
                                    (v.is_number() ? jsonExcerpt(v) : jsonTypeName(v)));
    return v.get<double>();
}

bool optionalBool(const json& j, const char* key, bool fallback, const std::string& source) {
    if (!has(j, key)) return fallback;
    return jsonBool(j, source, key, ErrorKind::Config);
}

std::string activation(const json& j, const char* key, const std::string& fallback, const std::string& source) {
    std::string a = has(j, key) ? jsonString(j, source, key, 256, ErrorKind::Config) : fallback;
    // gelu_pytorch_tanh and gelu_fast are the tanh approximation, as gelu_new.
    if (a == "gelu_pytorch_tanh" || a == "gelu_fast") a = "gelu_new";
    if (a == "swish") a = "silu";
    if (a != "gelu_new" && a != "gelu" && a != "relu" && a != "silu")
        fail(ErrorKind::Config, source + ": " + key + " " + quoteForMessage(a) +
                                    " is not supported (gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu, silu)");
    return a;
}

int tokenId(const json& j, const char* key, const std::string& source) {
    if (!has(j, key)) return -1;
    const json& v = j.at(key);
    if (v.is_array()) {  // LLaMA-3 instruct: several end-of-turn ids
        if (v.empty()) return -1;
        json first = {{key, v.at(0)}};
        return static_cast<int>(jsonInt(first, source, key, -1, kMaxVocab, ErrorKind::Config));
    }
    return static_cast<int>(jsonInt(j, source, key, -1, kMaxVocab, ErrorKind::Config));
}

}  // namespace config_keys

using namespace config_keys;

namespace {

constexpr uint64_t kMaxConfigFileBytes = 16 << 20;  // config.json itself

// GPT-2's keys (HF GPT2Config).
void parseGpt2(const json& j, ModelConfig& c, const std::string& source) {
    c.nLayer = requiredInt(j, {"n_layer"}, kMaxLayers, source);
    c.nHead = requiredInt(j, {"n_head"}, kMaxHeads, source);
    c.nEmbd = requiredInt(j, {"n_embd"}, kMaxEmbd, source);
    c.vocabSize = requiredInt(j, {"vocab_size"}, kMaxVocab, source);
    if (j.contains("n_positions"))
        c.nPositions = requiredInt(j, {"n_positions"}, kMaxPositions, source);
    else if (j.contains("n_ctx"))
        c.nPositions = requiredInt(j, {"n_ctx"}, kMaxPositions, source);
    else
        fail(ErrorKind::Config, source + ": missing required key 'n_positions' (or 'n_ctx')");
    c.nInner = optionalInt(j, "n_inner", 4 * c.nEmbd, 1, kMaxInner, source);
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
    c.activation = activation(j, "activation_function", "gelu_new", source);
    if (c.activation == "silu")
        fail(ErrorKind::Config, source + ": activation_function 'silu' is not supported for gpt2 "
                                         "(gelu_new, gelu_pytorch_tanh, gelu, relu)");
    c.tieWordEmbeddings = optionalBool(j, "tie_word_embeddings", true, source);
    c.attnBias = c.attnOutBias = true;
}

}  // namespace

int64_t modelParameterCount(const ModelConfig& c) {
    // Each factor is range-checked by parseModelConfig (<= 2^24 * 2^16 and
    // 2^10 layers of a few 2^16 * 2^20 matrices): the sum fits in int64.
    const int64_t D = c.nEmbd, I = c.nInner, V = c.vocabSize, L = c.nLayer;
    const int64_t Q = int64_t(c.nHead) * c.headDim(), KV = int64_t(c.kvHeads()) * c.headDim();
    const bool learned = c.traits().positions == PositionKind::Learned;
    const bool gated = c.traits().mlp == MlpKind::Gated;
    const int64_t perLayer = 4 * D                        // two norms (weights and biases, at most)
                             + D * (Q + 2 * KV) + Q + 2 * KV  // q, k, v
                             + Q * D + D                  // attention output
                             + (gated ? 2 : 1) * (D * I + I)  // MLP up (and gate)
                             + I * D + D;                 // MLP down
    return V * D + (learned ? int64_t(c.nPositions) * D : 0) + L * perLayer + 2 * D +
           (c.tieWordEmbeddings ? 0 : V * D);
}

// Expected storage shape of a role's tensor under `config`.
std::vector<int64_t> tensorShape(const ModelConfig& c, const TensorSpec& spec) {
    const int64_t D = c.nEmbd, I = c.nInner, V = c.vocabSize, P = c.nPositions;
    const int64_t Q = int64_t(c.nHead) * c.headDim(), KV = int64_t(c.kvHeads()) * c.headDim();
    auto matrix = [&](int64_t in, int64_t out) {
        return spec.orientation == Orientation::OutIn ? std::vector<int64_t>{out, in}
                                                      : std::vector<int64_t>{in, out};
    };
    switch (spec.role) {
        case TensorRole::TokenEmbd: return {V, D};
        case TensorRole::PosEmbd: return {P, D};
        case TensorRole::AttnQkvW: return matrix(D, 3 * Q);
        case TensorRole::AttnQkvB: return {3 * Q};
        case TensorRole::AttnQW: return matrix(D, Q);
        case TensorRole::AttnQB: return {Q};
        case TensorRole::AttnKW:
        case TensorRole::AttnVW: return matrix(D, KV);
        case TensorRole::AttnKB:
        case TensorRole::AttnVB: return {KV};
        case TensorRole::AttnOutW: return matrix(Q, D);
        case TensorRole::MlpGateW:
        case TensorRole::MlpUpW: return matrix(D, I);
        case TensorRole::MlpGateB:
        case TensorRole::MlpUpB: return {I};
        case TensorRole::MlpDownW: return matrix(I, D);
        case TensorRole::LmHead: return matrix(D, V);
        case TensorRole::LmHeadB: return {V};
        default: return {D};  // norms and the remaining biases
    }
}

bool tensorRequired(const ModelConfig& c, const TensorSpec& spec) {
    switch (spec.need) {
        case Need::Always: return true;
        case Need::Optional: return false;
        case Need::Untied: return !c.tieWordEmbeddings;
        case Need::AttnBias: return c.attnBias;
        case Need::OutBias: return c.attnOutBias;
        case Need::MlpBias: return c.mlpBias;
    }
    return true;
}

bool tensorUsed(const ModelConfig& c, const TensorSpec& spec) {
    return spec.need == Need::Optional ? !c.tieWordEmbeddings || spec.role != TensorRole::LmHead
                                       : tensorRequired(c, spec);
}

std::string describeNorm(const ModelConfig& c) {
    std::ostringstream s;
    s << (c.traits().norm == NormKind::RmsNorm ? "RMSNorm" : "LayerNorm") << " eps " << c.layerNormEps;
    return s.str();
}

std::string describePositions(const ModelConfig& c) {
    if (c.traits().positions == PositionKind::Learned) return "learned position embeddings";
    std::ostringstream s;
    s << "RoPE " << (c.rope.style == RopeStyle::Interleaved ? "interleaved (rotate every two)" : "rotate-half") << " on "
      << c.rope.rotaryDim << " of " << c.headDim() << " dims, theta " << c.rope.theta;
    if (c.rope.scaling != "default") s << ", " << c.rope.scaling << " scaling x" << c.rope.factor;
    return s.str();
}

std::string describeResidual(const ModelConfig& c) {
    switch (c.residual) {
        case ResidualKind::Sequential: return "sequential";
        case ResidualKind::ParallelShared: return "parallel (one shared norm)";
        case ResidualKind::ParallelTwoNorms: return "parallel (two norms)";
    }
    return "?";
}

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
                                    " is not supported (supported: " + supportedModelTypes() + ")");
    c.arch = *arch;
    c.residual = c.traits().residual;
    if (c.arch == Architecture::Gpt2)
        parseGpt2(j, c, source);
    else
        parseFamilyConfig(j, c, source);
    c.bosTokenId = tokenId(j, "bos_token_id", source);
    c.eosTokenId = tokenId(j, "eos_token_id", source);
    const int64_t parameters = modelParameterCount(c);
    if (parameters > kMaxParameters)
        fail(ErrorKind::Config, source + ": n_layer " + std::to_string(c.nLayer) + ", n_embd " +
                                    std::to_string(c.nEmbd) + ", n_inner " + std::to_string(c.nInner) +
                                    " and vocab_size " + std::to_string(c.vocabSize) + " imply " +
                                    std::to_string(parameters) + " parameters, more than the " +
                                    std::to_string(kMaxParameters) + " this program can load");
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
    json j;
    if (c.arch != Architecture::Gpt2) {
        j = familyConfigJson(c);
    } else {
        j = {
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
    }
    if (c.bosTokenId >= 0) j["bos_token_id"] = c.bosTokenId;
    if (c.eosTokenId >= 0) j["eos_token_id"] = c.eosTokenId;
    return j.dump(2) + "\n";
}

}  // namespace kme
