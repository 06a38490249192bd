#include "engine/model/Config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"

namespace kme {
namespace {

using json = nlohmann::json;

int requiredInt(const json& j, const char* key, const std::string& source) {
    if (!j.contains(key)) fail(ErrorKind::Config, source + ": missing required key '" + key + "'");
    const auto& v = j.at(key);
    if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > (1LL << 31))
        fail(ErrorKind::Config, source + ": '" + key + "' must be a positive integer, got " + v.dump());
    return v.get<int>();
}

int optionalInt(const json& j, const char* key, int fallback, const std::string& source) {
    if (!j.contains(key) || j.at(key).is_null()) return fallback;
    const auto& v = j.at(key);
    if (!v.is_number_integer())
        fail(ErrorKind::Config, source + ": '" + key + "' must be an integer, got " + v.dump());
    return v.get<int>();
}

}  // namespace

ModelConfig parseModelConfig(const std::string& jsonText, const std::string& source) {
    json j;
    try {
        j = json::parse(jsonText);
    } catch (const json::parse_error& e) {
        fail(ErrorKind::Config, source + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) fail(ErrorKind::Config, source + ": expected a JSON object");

    ModelConfig c;
    c.rawJson = jsonText;
    c.modelType = j.value("model_type", std::string("gpt2"));
    if (!j.contains("model_type") || !j.at("model_type").is_string())
        c.modelType = "gpt2";  // very old GPT-2 configs omit it
    const auto arch = architectureForModelType(c.modelType);
    if (!arch)
        fail(ErrorKind::Config, source + ": model_type '" + c.modelType +
                                    "' is not supported (supported: gpt2)");
    c.arch = *arch;

    c.nLayer = requiredInt(j, "n_layer", source);
    c.nHead = requiredInt(j, "n_head", source);
    c.nEmbd = requiredInt(j, "n_embd", source);
    c.vocabSize = requiredInt(j, "vocab_size", source);
    if (j.contains("n_positions"))
        c.nPositions = requiredInt(j, "n_positions", source);
    else if (j.contains("n_ctx"))
        c.nPositions = requiredInt(j, "n_ctx", source);
    else
        fail(ErrorKind::Config, source + ": missing required key 'n_positions' (or 'n_ctx')");
    c.nInner = optionalInt(j, "n_inner", 4 * c.nEmbd, source);
    if (c.nInner <= 0) fail(ErrorKind::Config, source + ": 'n_inner' must be positive");
    if (c.nEmbd % c.nHead != 0)
        fail(ErrorKind::Config, source + ": n_embd (" + std::to_string(c.nEmbd) +
                                    ") is not a multiple of n_head (" + std::to_string(c.nHead) + ")");
    if (j.contains("layer_norm_epsilon")) {
        if (!j.at("layer_norm_epsilon").is_number() || j.at("layer_norm_epsilon").get<double>() <= 0)
            fail(ErrorKind::Config, source + ": 'layer_norm_epsilon' must be a positive number");
        c.layerNormEps = j.at("layer_norm_epsilon").get<double>();
    }
    if (j.contains("activation_function")) {
        if (!j.at("activation_function").is_string())
            fail(ErrorKind::Config, source + ": 'activation_function' must be a string");
        c.activation = j.at("activation_function").get<std::string>();
    }
    if (c.activation != "gelu_new" && c.activation != "gelu" && c.activation != "relu" &&
        c.activation != "gelu_pytorch_tanh")
        fail(ErrorKind::Config, source + ": activation_function '" + c.activation +
                                    "' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu)");
    if (c.activation == "gelu_pytorch_tanh") c.activation = "gelu_new";  // the same function
    if (j.contains("tie_word_embeddings") && j.at("tie_word_embeddings").is_boolean())
        c.tieWordEmbeddings = j.at("tie_word_embeddings").get<bool>();
    c.bosTokenId = optionalInt(j, "bos_token_id", -1, source);
    c.eosTokenId = optionalInt(j, "eos_token_id", -1, source);
    return c;
}

ModelConfig loadModelConfig(const std::string& folder) {
    const std::string path = folder + "/config.json";
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::Io, path + ": cannot open (is this a model folder?)");
    std::stringstream ss;
    ss << in.rdbuf();
    return parseModelConfig(ss.str(), path);
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
