#pragma once
// The architecture table: tensor roles -> Hugging Face names and storage
// orientation, plus each family's traits (llama.cpp's llama-arch habit). A new
// family is a new row in Architecture.cpp, not a new code path: the forward
// pass reads the traits.
#include <optional>
#include <string>
#include <vector>

namespace kme {

enum class Architecture { Gpt2, GptJ, GptNeoX, Llama, Mistral, Qwen2 };

enum class TensorRole {
    TokenEmbd,    // [vocab, n_embd]
    PosEmbd,      // [n_positions, n_embd] (learned positions only)
    AttnNormW,    // [n_embd]
    AttnNormB,    // [n_embd]
    AttnQkvW,     // fused q,k,v projection (QkvLayout::Fused / FusedPerHead)
    AttnQkvB,     // [3 * n_head * head_dim]
    AttnOutW,     // attention output projection (n_head * head_dim -> n_embd)
    AttnOutB,     // [n_embd]
    MlpNormW,     // [n_embd]
    MlpNormB,     // [n_embd]
    MlpUpW,       // MLP input projection (n_embd -> n_inner)
    MlpUpB,       // [n_inner]
    MlpDownW,     // MLP output projection (n_inner -> n_embd): ROME's edited matrix
    MlpDownB,     // [n_embd]
    OutNormW,     // final norm [n_embd]
    OutNormB,     // [n_embd]
    LmHead,       // [vocab, n_embd]; absent when tied to TokenEmbd
    // Roles of the other families (appended: the order above is GPT-2's).
    AttnQW,       // separate q projection [n_head * head_dim, n_embd]
    AttnQB,       // [n_head * head_dim]
    AttnKW,       // separate k projection [n_kv_head * head_dim, n_embd]
    AttnKB,       // [n_kv_head * head_dim]
    AttnVW,       // separate v projection [n_kv_head * head_dim, n_embd]
    AttnVB,       // [n_kv_head * head_dim]
    MlpGateW,     // gated MLP's gate projection (n_embd -> n_inner)
    MlpGateB,     // [n_inner]
    LmHeadB       // [vocab] (GPT-J's lm_head bias)
};

// How a matrix is stored. HF Conv1D (GPT-2) keeps [in, out] and computes
// y = x W + b; nn.Linear keeps [out, in] and computes y = x W^T + b.
enum class Orientation { None, InOut, OutIn };

// When a tensor of the table must be in the checkpoint.
enum class Need {
    Always,     // required
    Optional,   // used when present (GPT-2's lm_head: tied when absent)
    Untied,     // required unless tie_word_embeddings
    AttnBias,   // required when the config has q/k/v biases
    OutBias,    // required when the config has an attention-output bias
    MlpBias     // required when the config has MLP biases
};

struct TensorSpec {
    TensorRole role;
    const char* nameTemplate;  // "h.{}.mlp.c_proj.weight": {} is the layer index
    bool perLayer;             // one tensor per block
    Need need;                 // when the checkpoint must hold it
    Orientation orientation;   // storage layout of matrices
};

// The traits a forward pass reads (family-wide; the per-model values such as
// head counts, rotary width or biases are in ModelConfig).
enum class NormKind { LayerNorm, RmsNorm };
enum class PositionKind { Learned, Rope };
enum class RopeStyle { None, RotateHalf, Interleaved };  // NeoX/LLaMA halves vs GPT-J's pairs (2i, 2i+1)
enum class ResidualKind {
    Sequential,        // h += Attn(N1(h)); h += MLP(N2(h))
    ParallelShared,    // h += Attn(N1(h)) + MLP(N1(h))      (GPT-J)
    ParallelTwoNorms   // h += Attn(N1(h)) + MLP(N2(h))      (NeoX use_parallel_residual)
};
enum class MlpKind { Plain, Gated };  // down(act(up x)) vs down(act(gate x) * up x)
enum class QkvLayout {
    Fused,         // one matrix, output [q | k | v] (GPT-2 c_attn)
    FusedPerHead,  // one matrix, output per head [h: q | k | v] (NeoX query_key_value)
    Separate       // q_proj, k_proj, v_proj
};

struct FamilyTraits {
    NormKind norm;
    PositionKind positions;
    RopeStyle rope;
    ResidualKind residual;  // default; NeoX's use_parallel_residual may override
    MlpKind mlp;
    QkvLayout qkv;
};

struct ArchitectureInfo {
    Architecture arch;
    const char* name;                       // "gpt2"
    std::vector<std::string> modelTypes;    // config.json model_type values served
    std::vector<std::string> namePrefixes;  // prefixes stripped from checkpoint names ("transformer.")
    FamilyTraits traits;
    std::vector<TensorSpec> tensors;
};

const ArchitectureInfo& architectureInfo(Architecture arch);
std::optional<Architecture> architectureForModelType(const std::string& modelType);
// The model_type values of every row, "gpt2, gptj, ..." (error messages).
std::string supportedModelTypes();
const TensorSpec& tensorSpec(Architecture arch, TensorRole role);
bool hasRole(Architecture arch, TensorRole role);
// Canonical tensor name of a role (layer ignored for global tensors): tn(role, 3).
std::string tensorName(Architecture arch, TensorRole role, int layer = -1);
std::string architectureName(Architecture arch);
// The name a Hugging Face checkpoint of the family gives a canonical tensor:
// the family prefix on everything but the output head
// ("model.layers.0.mlp.down_proj.weight", "lm_head.weight"); GPT-2's
// canonical names as they are (most GPT-2 files carry no prefix).
std::string hfTensorName(Architecture arch, const std::string& canonical);

}  // namespace kme
