#pragma once
// Hyper-parameters of a decoder-only transformer, parsed from a Hugging Face
// config.json. One flat struct, a comment on every field (llama.cpp habit).
#include <string>

#include "engine/model/Architecture.h"

namespace kme {

struct ModelConfig {
    Architecture arch = Architecture::Gpt2;  // family, selects the tensor-name table
    std::string modelType;                   // config.json "model_type" as written ("gpt2")
    int nLayer = 0;                          // number of transformer blocks            (required)
    int nHead = 0;                           // attention heads per block                (required)
    int nEmbd = 0;                           // residual width d_model                   (required)
    int nInner = 0;                          // MLP hidden width; config null -> 4 * nEmbd
    int nPositions = 0;                      // context length in tokens (n_positions / n_ctx)
    int vocabSize = 0;                       // rows of the token embedding               (required)
    double layerNormEps = 1e-5;              // epsilon inside LayerNorm
    std::string activation = "gelu_new";     // MLP activation: gelu_new | gelu | relu
    bool tieWordEmbeddings = true;           // lm_head shares wte when true
    int bosTokenId = -1;                     // -1 when absent
    int eosTokenId = -1;                     // -1 when absent
    std::string rawJson;                     // config.json as read, written back verbatim on export

    int headDim() const { return nEmbd / nHead; }
};

// Parses config.json text. `source` names the file in error messages.
ModelConfig parseModelConfig(const std::string& jsonText, const std::string& source);
// Reads and parses <folder>/config.json.
ModelConfig loadModelConfig(const std::string& folder);
// Serialises a config in GPT-2's config.json layout (used by train-demo).
std::string modelConfigToJson(const ModelConfig& config);

}  // namespace kme
