#pragma once
// The architecture table: tensor roles -> Hugging Face names and storage
// orientation (llama.cpp's llama-arch habit). A new family is a new row in
// Architecture.cpp, not a new code path.
#include <optional>
#include <string>
#include <vector>

namespace kme {

enum class Architecture { Gpt2 };

enum class TensorRole {
    TokenEmbd,    // [vocab, n_embd]
    PosEmbd,      // [n_positions, n_embd]
    AttnNormW,    // [n_embd]
    AttnNormB,    // [n_embd]
    AttnQkvW,     // fused q,k,v projection
    AttnQkvB,     // [3 * n_embd]
    AttnOutW,     // attention output projection
    AttnOutB,     // [n_embd]
    MlpNormW,     // [n_embd]
    MlpNormB,     // [n_embd]
    MlpUpW,       // MLP input projection (n_embd -> n_inner)
    MlpUpB,       // [n_inner]
    MlpDownW,     // MLP output projection (n_inner -> n_embd): ROME's edited matrix
    MlpDownB,     // [n_embd]
    OutNormW,     // final LayerNorm [n_embd]
    OutNormB,     // [n_embd]
    LmHead        // [vocab, n_embd]; absent when tied to TokenEmbd
};

// How a matrix is stored. HF Conv1D (GPT-2) keeps [in, out] and computes
// y = x W + b; nn.Linear keeps [out, in] and computes y = x W^T + b.
enum class Orientation { None, InOut, OutIn };

struct TensorSpec {
    TensorRole role;
    const char* nameTemplate;  // "h.{}.mlp.c_proj.weight": {} is the layer index
    bool perLayer;             // one tensor per block
    bool optional;             // may be absent (e.g. tied lm_head)
    Orientation orientation;   // storage layout of matrices
};

struct ArchitectureInfo {
    Architecture arch;
    const char* name;                       // "gpt2"
    std::vector<std::string> modelTypes;    // config.json model_type values served
    std::vector<std::string> namePrefixes;  // prefixes stripped from checkpoint names ("transformer.")
    std::vector<TensorSpec> tensors;
};

const ArchitectureInfo& architectureInfo(Architecture arch);
std::optional<Architecture> architectureForModelType(const std::string& modelType);
const TensorSpec& tensorSpec(Architecture arch, TensorRole role);
// Canonical tensor name of a role (layer ignored for global tensors): tn(role, 3).
std::string tensorName(Architecture arch, TensorRole role, int layer = -1);
std::string architectureName(Architecture arch);

}  // namespace kme
