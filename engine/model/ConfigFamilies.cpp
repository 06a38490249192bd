// config.json keys of the RoPE families, in the spellings seen in the wild:
// GPT-J (configuration_gptj.py), GPT-NeoX (configuration_gpt_neox.py: v4
// rotary_pct / rotary_emb_base, v5 rope_parameters), LLaMA / Mistral / Qwen2
// (rope_theta + rope_scaling with "type" or "rope_type", v5 rope_parameters).
#include <cmath>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/model/ConfigKeys.h"

namespace kme {

using namespace config_keys;

namespace {

std::string num(int v) { return std::to_string(v); }

// The RoPE scaling object: v5 rope_parameters (type in rope_type, "default"
// allowed), else v4 rope_scaling (type in "type" or "rope_type"). Returns the
// key it came from, or "" when there is none.
std::string scalingKey(const json& j) {
    if (has(j, "rope_parameters")) return "rope_parameters";
    if (has(j, "rope_scaling")) return "rope_scaling";
    return "";
}

void parseRope(const json& j, ModelConfig& c, const std::string& source, double defaultTheta, double defaultPartial,
               const char* partialKey) {
    RopeConfig& r = c.rope;
    r.style = c.traits().rope;
    const std::string sk = scalingKey(j);
    const json params = sk.empty() ? json::object() : j.at(sk);
    if (!sk.empty() && !params.is_object())
        fail(ErrorKind::Config, source + ": " + sk + " must be an object, got " + jsonTypeName(params));
    const std::string where = source + ": " + sk;
    // Theta: rope_parameters.rope_theta, else rope_theta, else NeoX's rotary_emb_base.
    if (has(params, "rope_theta"))
        r.theta = optionalNumber(params, "rope_theta", defaultTheta, 1.0, 1e12, where);
    else if (has(j, "rope_theta"))
        r.theta = optionalNumber(j, "rope_theta", defaultTheta, 1.0, 1e12, source);
    else
        r.theta = optionalNumber(j, "rotary_emb_base", defaultTheta, 1.0, 1e12, source);
    // Rotated fraction of each head.
    double partial = defaultPartial;
    std::string partialName = partialKey ? partialKey : "head_dim";
    if (has(params, "partial_rotary_factor")) {
        partial = optionalNumber(params, "partial_rotary_factor", 1.0, 0.0, 1.0, where);
        partialName = sk + ".partial_rotary_factor";
    } else if (partialKey && has(j, partialKey)) {
        partial = optionalNumber(j, partialKey, 1.0, 0.0, 1.0, source);
    } else if (has(j, "partial_rotary_factor")) {
        partial = optionalNumber(j, "partial_rotary_factor", 1.0, 0.0, 1.0, source);
        partialName = "partial_rotary_factor";
    }
    if (c.arch != Architecture::GptJ) r.rotaryDim = static_cast<int>(c.headDim() * partial);
    if (r.rotaryDim <= 0 || r.rotaryDim % 2 != 0 || r.rotaryDim > c.headDim())
        fail(ErrorKind::Config, source + ": " + partialName + " gives " + num(r.rotaryDim) +
                                    " rotary dims per head (head_dim " + num(c.headDim()) +
                                    "); RoPE needs an even number in [2, head_dim]");
    // Scaling.
    if (sk.empty()) return;
    const char* typeKey = firstKey(params, {"rope_type", "type"});
    r.scaling = typeKey ? jsonString(params, where, typeKey, 64, ErrorKind::Config) : "default";
    if (r.scaling == "default") return;
    if (r.scaling != "linear" && r.scaling != "dynamic" && r.scaling != "llama3")
        fail(ErrorKind::Config, where + "." + (typeKey ? typeKey : "rope_type") + " " + quoteForMessage(r.scaling) +
                                    " is not supported (supported: default, linear, dynamic, llama3)");
    if (!has(params, "factor")) fail(ErrorKind::Config, where + ": missing required key 'factor' for " + r.scaling);
    r.factor = optionalNumber(params, "factor", 1.0, 0.0, 1e6, where);
    if (r.scaling == "llama3") {
        for (const char* k : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
            if (!has(params, k)) fail(ErrorKind::Config, where + ": missing required key '" + k + "' for llama3");
        r.lowFreqFactor = optionalNumber(params, "low_freq_factor", 1.0, 0.0, 1e6, where);
        r.highFreqFactor = optionalNumber(params, "high_freq_factor", 4.0, 0.0, 1e6, where);
        r.originalMaxPositions = optionalInt(params, "original_max_position_embeddings", 0, 1, kMaxPositions, where);
        if (!(r.highFreqFactor > r.lowFreqFactor))
            fail(ErrorKind::Config, where + ": high_freq_factor must be greater than low_freq_factor");
    }
}

void parseGptJ(const json& j, ModelConfig& c, const std::string& source) {
    c.nLayer = requiredInt(j, {"n_layer", "num_hidden_layers"}, kMaxLayers, source);
    c.nHead = requiredInt(j, {"n_head", "num_attention_heads"}, kMaxHeads, source);
    c.nEmbd = requiredInt(j, {"n_embd", "hidden_size"}, kMaxEmbd, source);
    c.vocabSize = requiredInt(j, {"vocab_size"}, kMaxVocab, source);
    c.nPositions = requiredInt(j, {"n_positions", "max_position_embeddings"}, kMaxPositions, source);
    c.nInner = optionalInt(j, "n_inner", 4 * c.nEmbd, 1, kMaxInner, source);
    if (c.nEmbd % c.nHead != 0)
        fail(ErrorKind::Config, source + ": n_embd (" + num(c.nEmbd) + ") is not a multiple of n_head (" +
                                    num(c.nHead) + ")");
    c.layerNormEps = optionalNumber(j, "layer_norm_epsilon", 1e-5, 0.0, 1.0, source);
    c.activation = activation(j, "activation_function", "gelu_new", source);
    c.tieWordEmbeddings = optionalBool(j, "tie_word_embeddings", false, source);
    c.rope.rotaryDim = optionalInt(j, "rotary_dim", c.headDim(), 1, kMaxEmbd, source);
    if (c.rope.rotaryDim % 2 != 0 || c.rope.rotaryDim > c.headDim())
        fail(ErrorKind::Config, source + ": rotary_dim (" + num(c.rope.rotaryDim) +
                                    ") must be even and at most the head width " + num(c.headDim()));
    parseRope(j, c, source, 10000.0, 1.0, nullptr);  // GPT-J's base is fixed at 10000 in HF's code
    c.rope.theta = 10000.0;
}

void parseNeoX(const json& j, ModelConfig& c, const std::string& source) {
    c.nLayer = requiredInt(j, {"num_hidden_layers"}, kMaxLayers, source);
    c.nHead = requiredInt(j, {"num_attention_heads"}, kMaxHeads, source);
    c.nEmbd = requiredInt(j, {"hidden_size"}, kMaxEmbd, source);
    c.vocabSize = requiredInt(j, {"vocab_size"}, kMaxVocab, source);
    c.nInner = requiredInt(j, {"intermediate_size"}, kMaxInner, source);
    c.nPositions = optionalInt(j, "max_position_embeddings", 2048, 1, kMaxPositions, source);
    if (c.nEmbd % c.nHead != 0)
        fail(ErrorKind::Config, source + ": hidden_size (" + num(c.nEmbd) +
                                    ") is not a multiple of num_attention_heads (" + num(c.nHead) + ")");
    c.layerNormEps = optionalNumber(j, "layer_norm_eps", 1e-5, 0.0, 1.0, source);
    c.activation = activation(j, "hidden_act", "gelu", source);
    c.tieWordEmbeddings = optionalBool(j, "tie_word_embeddings", false, source);
    c.residual = optionalBool(j, "use_parallel_residual", true, source) ? ResidualKind::ParallelTwoNorms
                                                                         : ResidualKind::Sequential;
    c.attnBias = c.attnOutBias = optionalBool(j, "attention_bias", true, source);
    parseRope(j, c, source, 10000.0, 0.25, "rotary_pct");
}

// LLaMA, Mistral, Qwen2.
void parseLlamaLike(const json& j, ModelConfig& c, const std::string& source) {
    c.nLayer = requiredInt(j, {"num_hidden_layers"}, kMaxLayers, source);
    c.nHead = requiredInt(j, {"num_attention_heads"}, kMaxHeads, source);
    c.nEmbd = requiredInt(j, {"hidden_size"}, kMaxEmbd, source);
    c.vocabSize = requiredInt(j, {"vocab_size"}, kMaxVocab, source);
    c.nInner = requiredInt(j, {"intermediate_size"}, kMaxInner, source);
    const int defaultPositions = c.arch == Architecture::Mistral ? 131072 : c.arch == Architecture::Qwen2 ? 32768 : 2048;
    c.nPositions = optionalInt(j, "max_position_embeddings", defaultPositions, 1, kMaxPositions, source);
    c.nKvHead = optionalInt(j, "num_key_value_heads", c.nHead, 1, kMaxHeads, source);
    if (c.nHead % c.nKvHead != 0)
        fail(ErrorKind::Config, source + ": num_key_value_heads (" + num(c.nKvHead) +
                                    ") does not divide num_attention_heads (" + num(c.nHead) + ")");
    c.headDimension = optionalInt(j, "head_dim", c.nEmbd / c.nHead, 1, kMaxEmbd, source);
    if (c.headDimension <= 0)
        fail(ErrorKind::Config, source + ": hidden_size (" + num(c.nEmbd) + ") / num_attention_heads (" +
                                    num(c.nHead) + ") gives no head width; set head_dim");
    c.layerNormEps = optionalNumber(j, "rms_norm_eps", 1e-6, 0.0, 1.0, source);
    c.activation = activation(j, "hidden_act", "silu", source);
    c.tieWordEmbeddings = optionalBool(j, "tie_word_embeddings", false, source);
    if (c.arch == Architecture::Llama) {
        c.attnBias = c.attnOutBias = optionalBool(j, "attention_bias", false, source);
        c.mlpBias = optionalBool(j, "mlp_bias", false, source);
    } else if (c.arch == Architecture::Qwen2) {
        c.attnBias = true;  // hard-coded in modeling_qwen2.py: q/k/v with bias, o_proj without
    }
    parseRope(j, c, source, 10000.0, 1.0, nullptr);

    // Sliding-window attention: Mistral on every layer when sliding_window is
    // set; Qwen2 only with use_sliding_window, on layers >= max_window_layers
    // (or as listed in layer_types).
    c.slidingLayers.assign(c.nLayer, false);
    if (c.arch == Architecture::Mistral && has(j, "sliding_window")) {
        c.slidingWindow = optionalInt(j, "sliding_window", 0, 1, kMaxPositions, source);
        c.slidingLayers.assign(c.nLayer, true);
    } else if (c.arch == Architecture::Qwen2 && optionalBool(j, "use_sliding_window", false, source) &&
               has(j, "sliding_window")) {
        c.slidingWindow = optionalInt(j, "sliding_window", 0, 1, kMaxPositions, source);
        if (has(j, "layer_types")) {
            const json& types = j.at("layer_types");
            if (!types.is_array() || types.size() != size_t(c.nLayer))
                fail(ErrorKind::Config, source + ": layer_types must be a list of " + num(c.nLayer) + " strings");
            for (int l = 0; l < c.nLayer; ++l) {
                const json& t = types[l];
                const std::string kind = t.is_string() ? t.get<std::string>() : "";
                if (kind != "sliding_attention" && kind != "full_attention")
                    fail(ErrorKind::Config, source + ": layer_types[" + num(l) + "] must be 'full_attention' or "
                                                     "'sliding_attention', got " + jsonExcerpt(t));
                c.slidingLayers[l] = kind == "sliding_attention";
            }
        } else {
            const int from = optionalInt(j, "max_window_layers", 28, 0, kMaxLayers, source);
            for (int l = from; l < c.nLayer; ++l) c.slidingLayers[l] = true;
        }
    }
}

}  // namespace

void parseFamilyConfig(const json& j, ModelConfig& c, const std::string& source) {
    switch (c.arch) {
        case Architecture::GptJ: parseGptJ(j, c, source); break;
        case Architecture::GptNeoX: parseNeoX(j, c, source); break;
        case Architecture::Llama:
        case Architecture::Mistral:
        case Architecture::Qwen2: parseLlamaLike(j, c, source); break;
        case Architecture::Gpt2: fail(ErrorKind::Internal, "parseFamilyConfig: gpt2");
    }
}

json familyConfigJson(const ModelConfig& c) {
    json j;
    const RopeConfig& r = c.rope;
    json scaling = nullptr;
    if (r.scaling != "default") {
        scaling = {{"rope_type", r.scaling}, {"factor", r.factor}};
        if (r.scaling == "llama3") {
            scaling["low_freq_factor"] = r.lowFreqFactor;
            scaling["high_freq_factor"] = r.highFreqFactor;
            scaling["original_max_position_embeddings"] = r.originalMaxPositions;
        }
    }
    switch (c.arch) {
        case Architecture::GptJ:
            j = {{"architectures", {"GPTJForCausalLM"}}, {"model_type", "gptj"},
                 {"n_layer", c.nLayer}, {"n_head", c.nHead}, {"n_embd", c.nEmbd},
                 {"n_inner", c.nInner == 4 * c.nEmbd ? json(nullptr) : json(c.nInner)},
                 {"n_positions", c.nPositions}, {"rotary_dim", r.rotaryDim}, {"vocab_size", c.vocabSize},
                 {"activation_function", c.activation}, {"layer_norm_epsilon", c.layerNormEps},
                 {"tie_word_embeddings", c.tieWordEmbeddings}, {"torch_dtype", "float32"}};
            break;
        case Architecture::GptNeoX:
            j = {{"architectures", {"GPTNeoXForCausalLM"}}, {"model_type", "gpt_neox"},
                 {"num_hidden_layers", c.nLayer}, {"num_attention_heads", c.nHead}, {"hidden_size", c.nEmbd},
                 {"intermediate_size", c.nInner}, {"max_position_embeddings", c.nPositions},
                 {"vocab_size", c.vocabSize}, {"hidden_act", c.activation}, {"layer_norm_eps", c.layerNormEps},
                 {"rotary_pct", double(r.rotaryDim) / c.headDim()}, {"rotary_emb_base", r.theta},
                 {"rope_scaling", scaling}, {"attention_bias", c.attnBias},
                 {"use_parallel_residual", c.residual == ResidualKind::ParallelTwoNorms},
                 {"tie_word_embeddings", c.tieWordEmbeddings}, {"torch_dtype", "float32"}};
            break;
        default: {
            const char* arch = c.arch == Architecture::Llama     ? "LlamaForCausalLM"
                               : c.arch == Architecture::Mistral ? "MistralForCausalLM"
                                                                 : "Qwen2ForCausalLM";
            j = {{"architectures", {arch}}, {"model_type", c.modelType.empty() ? architectureName(c.arch) : c.modelType},
                 {"num_hidden_layers", c.nLayer}, {"num_attention_heads", c.nHead},
                 {"num_key_value_heads", c.kvHeads()}, {"hidden_size", c.nEmbd},
                 {"intermediate_size", c.nInner}, {"max_position_embeddings", c.nPositions},
                 {"vocab_size", c.vocabSize}, {"hidden_act", c.activation}, {"rms_norm_eps", c.layerNormEps},
                 {"rope_theta", r.theta}, {"rope_scaling", scaling},
                 {"tie_word_embeddings", c.tieWordEmbeddings}, {"torch_dtype", "float32"}};
            if (c.headDimension > 0 && c.headDimension != c.nEmbd / c.nHead) j["head_dim"] = c.headDimension;
            if (c.arch == Architecture::Llama) {
                j["attention_bias"] = c.attnBias;
                j["mlp_bias"] = c.mlpBias;
            }
            if (c.arch == Architecture::Mistral) j["sliding_window"] = c.slidingWindow > 0 ? json(c.slidingWindow) : json(nullptr);
            if (c.arch == Architecture::Qwen2) {
                j["use_sliding_window"] = c.slidingWindow > 0;
                j["sliding_window"] = c.slidingWindow > 0 ? c.slidingWindow : 4096;
                int from = c.nLayer;
                for (int l = 0; l < c.nLayer; ++l)
                    if (c.slidingAt(l)) {
                        from = l;
                        break;
                    }
                j["max_window_layers"] = from;
            }
        }
    }
    return j;
}

}  // namespace kme
