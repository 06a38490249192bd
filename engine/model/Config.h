#pragma once
// Hyper-parameters of a decoder-only transformer, parsed from a Hugging Face
// config.json. One flat struct, a comment on every field (llama.cpp habit).
// Each family's key spellings are read in ConfigFamilies.cpp.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/Architecture.h"

namespace kme {

// Rotary position embedding of a RoPE family (modeling_rope_utils.py).
struct RopeConfig {
    RopeStyle style = RopeStyle::None;  // RotateHalf (NeoX, LLaMA) or Interleaved (GPT-J)
    int rotaryDim = 0;                  // dims of each head rotated (even; the rest pass through)
    double theta = 10000.0;             // base (rope_theta / rotary_emb_base; GPT-J: 10000)
    std::string scaling = "default";    // default | linear | dynamic | llama3
    double factor = 1.0;                // linear, dynamic, llama3
    double lowFreqFactor = 1.0;         // llama3
    double highFreqFactor = 4.0;        // llama3
    int originalMaxPositions = 0;       // llama3: original_max_position_embeddings
};

struct ModelConfig {
    Architecture arch = Architecture::Gpt2;  // family, selects the tensor-name table and traits
    std::string modelType;                   // config.json "model_type" as written ("gpt2")
    int nLayer = 0;                          // number of transformer blocks            (required)
    int nHead = 0;                           // attention (query) heads per block        (required)
    int nKvHead = 0;                         // key/value heads (GQA); 0 = nHead
    int headDimension = 0;                   // per-head width; 0 = nEmbd / nHead
    int nEmbd = 0;                           // residual width d_model                   (required)
    int nInner = 0;                          // MLP hidden width; config null -> 4 * nEmbd
    int nPositions = 0;                      // context length in tokens (n_positions / max_position_embeddings)
    int vocabSize = 0;                       // rows of the token embedding               (required)
    double layerNormEps = 1e-5;              // epsilon inside LayerNorm / RMSNorm
    std::string activation = "gelu_new";     // MLP activation: gelu_new | gelu | relu | silu
    bool tieWordEmbeddings = true;           // lm_head shares the token embedding when true
    ResidualKind residual = ResidualKind::Sequential;  // block layout (NeoX: use_parallel_residual)
    bool attnBias = false;                   // q/k/v projections carry biases
    bool attnOutBias = false;                // attention output projection carries a bias
    bool mlpBias = false;                    // gated MLP projections carry biases (LLaMA mlp_bias)
    RopeConfig rope;                         // RoPE families only
    int slidingWindow = 0;                   // > 0: layers marked in slidingLayers see the last W keys only
    std::vector<bool> slidingLayers;         // per layer: sliding-window attention (Mistral, Qwen2)
    int bosTokenId = -1;                     // -1 when absent
    int eosTokenId = -1;                     // -1 when absent (the first of a list)
    std::string rawJson;                     // config.json as read, written back verbatim on export

    int headDim() const { return headDimension > 0 ? headDimension : nEmbd / nHead; }
    int kvHeads() const { return nKvHead > 0 ? nKvHead : nHead; }
    bool slidingAt(int layer) const {
        return slidingWindow > 0 && layer >= 0 && layer < static_cast<int>(slidingLayers.size()) &&
               slidingLayers[layer];
    }
    const FamilyTraits& traits() const { return architectureInfo(arch).traits; }
};

// Parses config.json text. `source` names the file in error messages.
ModelConfig parseModelConfig(const std::string& jsonText, const std::string& source);
// Reads and parses <folder>/config.json.
ModelConfig loadModelConfig(const std::string& folder);
// Serialises a config in its family's config.json layout (GPT-2's keys for
// GPT-2; HF's keys for the others: random model folders, train-demo).
std::string modelConfigToJson(const ModelConfig& config);
// The parameter count a config implies (tied lm_head counted once).
int64_t modelParameterCount(const ModelConfig& config);
// The traits in words (kme info, the Model dock): "RMSNorm eps 1e-06",
// "RoPE rotate-half on 128 of 128 dims, theta 500000, llama3 scaling x8",
// "parallel (two norms)".
std::string describeNorm(const ModelConfig& config);
std::string describePositions(const ModelConfig& config);
std::string describeResidual(const ModelConfig& config);
// Whether the checkpoint must hold / may hold a tensor of the table under `config`.
bool tensorRequired(const ModelConfig& config, const TensorSpec& spec);
// The storage shape `config` implies for a tensor of the table.
std::vector<int64_t> tensorShape(const ModelConfig& config, const TensorSpec& spec);
bool tensorUsed(const ModelConfig& config, const TensorSpec& spec);

}  // namespace kme
