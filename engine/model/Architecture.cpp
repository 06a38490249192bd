#include "engine/model/Architecture.h"

#include "engine/core/Error.h"

namespace kme {
namespace {

using R = TensorRole;
using O = Orientation;
using N = Need;

// GPT-2 (HF GPT2LMHeadModel): Conv1D matrices [in, out], learned positions.
ArchitectureInfo gpt2Row() {
    return {Architecture::Gpt2,
            "gpt2",
            {"gpt2"},
            {"transformer."},
            {NormKind::LayerNorm, PositionKind::Learned, RopeStyle::None, ResidualKind::Sequential, MlpKind::Plain,
             QkvLayout::Fused},
            {
                {R::TokenEmbd, "wte.weight", false, N::Always, O::None},
                {R::PosEmbd, "wpe.weight", false, N::Always, O::None},
                {R::AttnNormW, "h.{}.ln_1.weight", true, N::Always, O::None},
                {R::AttnNormB, "h.{}.ln_1.bias", true, N::Always, O::None},
                {R::AttnQkvW, "h.{}.attn.c_attn.weight", true, N::Always, O::InOut},
                {R::AttnQkvB, "h.{}.attn.c_attn.bias", true, N::Always, O::None},
                {R::AttnOutW, "h.{}.attn.c_proj.weight", true, N::Always, O::InOut},
                {R::AttnOutB, "h.{}.attn.c_proj.bias", true, N::Always, O::None},
                {R::MlpNormW, "h.{}.ln_2.weight", true, N::Always, O::None},
                {R::MlpNormB, "h.{}.ln_2.bias", true, N::Always, O::None},
                {R::MlpUpW, "h.{}.mlp.c_fc.weight", true, N::Always, O::InOut},
                {R::MlpUpB, "h.{}.mlp.c_fc.bias", true, N::Always, O::None},
                {R::MlpDownW, "h.{}.mlp.c_proj.weight", true, N::Always, O::InOut},
                {R::MlpDownB, "h.{}.mlp.c_proj.bias", true, N::Always, O::None},
                {R::OutNormW, "ln_f.weight", false, N::Always, O::None},
                {R::OutNormB, "ln_f.bias", false, N::Always, O::None},
                {R::LmHead, "lm_head.weight", false, N::Optional, O::OutIn},
            }};
}

// GPT-J (HF GPTJForCausalLM, modeling_gptj.py): one LayerNorm feeds attention
// and MLP in parallel; separate q/k/v without bias; interleaved rotary on the
// first rotary_dim dims; lm_head with a bias.
ArchitectureInfo gptjRow() {
    return {Architecture::GptJ,
            "gptj",
            {"gptj"},
            {"transformer."},
            {NormKind::LayerNorm, PositionKind::Rope, RopeStyle::Interleaved, ResidualKind::ParallelShared,
             MlpKind::Plain, QkvLayout::Separate},
            {
                {R::TokenEmbd, "wte.weight", false, N::Always, O::None},
                {R::AttnNormW, "h.{}.ln_1.weight", true, N::Always, O::None},
                {R::AttnNormB, "h.{}.ln_1.bias", true, N::Always, O::None},
                {R::AttnQW, "h.{}.attn.q_proj.weight", true, N::Always, O::OutIn},
                {R::AttnKW, "h.{}.attn.k_proj.weight", true, N::Always, O::OutIn},
                {R::AttnVW, "h.{}.attn.v_proj.weight", true, N::Always, O::OutIn},
                {R::AttnOutW, "h.{}.attn.out_proj.weight", true, N::Always, O::OutIn},
                {R::MlpUpW, "h.{}.mlp.fc_in.weight", true, N::Always, O::OutIn},
                {R::MlpUpB, "h.{}.mlp.fc_in.bias", true, N::Always, O::None},
                {R::MlpDownW, "h.{}.mlp.fc_out.weight", true, N::Always, O::OutIn},
                {R::MlpDownB, "h.{}.mlp.fc_out.bias", true, N::Always, O::None},
                {R::OutNormW, "ln_f.weight", false, N::Always, O::None},
                {R::OutNormB, "ln_f.bias", false, N::Always, O::None},
                {R::LmHead, "lm_head.weight", false, N::Untied, O::OutIn},
                {R::LmHeadB, "lm_head.bias", false, N::Always, O::None},
            }};
}

// GPT-NeoX / Pythia (HF GPTNeoXForCausalLM, modeling_gpt_neox.py): fused QKV
// laid out per head, partial rotate-half rotary, two LayerNorms in parallel
// (use_parallel_residual) or in sequence, untied embed_out.
ArchitectureInfo neoxRow() {
    return {Architecture::GptNeoX,
            "gptneox",
            {"gpt_neox"},
            {"gpt_neox."},
            {NormKind::LayerNorm, PositionKind::Rope, RopeStyle::RotateHalf, ResidualKind::ParallelTwoNorms,
             MlpKind::Plain, QkvLayout::FusedPerHead},
            {
                {R::TokenEmbd, "embed_in.weight", false, N::Always, O::None},
                {R::AttnNormW, "layers.{}.input_layernorm.weight", true, N::Always, O::None},
                {R::AttnNormB, "layers.{}.input_layernorm.bias", true, N::Always, O::None},
                {R::AttnQkvW, "layers.{}.attention.query_key_value.weight", true, N::Always, O::OutIn},
                {R::AttnQkvB, "layers.{}.attention.query_key_value.bias", true, N::AttnBias, O::None},
                {R::AttnOutW, "layers.{}.attention.dense.weight", true, N::Always, O::OutIn},
                {R::AttnOutB, "layers.{}.attention.dense.bias", true, N::OutBias, O::None},
                {R::MlpNormW, "layers.{}.post_attention_layernorm.weight", true, N::Always, O::None},
                {R::MlpNormB, "layers.{}.post_attention_layernorm.bias", true, N::Always, O::None},
                {R::MlpUpW, "layers.{}.mlp.dense_h_to_4h.weight", true, N::Always, O::OutIn},
                {R::MlpUpB, "layers.{}.mlp.dense_h_to_4h.bias", true, N::Always, O::None},
                {R::MlpDownW, "layers.{}.mlp.dense_4h_to_h.weight", true, N::Always, O::OutIn},
                {R::MlpDownB, "layers.{}.mlp.dense_4h_to_h.bias", true, N::Always, O::None},
                {R::OutNormW, "final_layer_norm.weight", false, N::Always, O::None},
                {R::OutNormB, "final_layer_norm.bias", false, N::Always, O::None},
                {R::LmHead, "embed_out.weight", false, N::Untied, O::OutIn},
            }};
}

// LLaMA 1/2/3, Mistral, Qwen2 (modeling_llama.py and its copies): RMSNorm,
// rotate-half RoPE, grouped-query attention, SwiGLU. Which biases exist is
// the config's business (attention_bias / mlp_bias, Qwen2's q/k/v bias).
ArchitectureInfo llamaLikeRow(Architecture arch, const char* name, std::vector<std::string> modelTypes) {
    return {arch,
            name,
            std::move(modelTypes),
            {"model."},
            {NormKind::RmsNorm, PositionKind::Rope, RopeStyle::RotateHalf, ResidualKind::Sequential, MlpKind::Gated,
             QkvLayout::Separate},
            {
                {R::TokenEmbd, "embed_tokens.weight", false, N::Always, O::None},
                {R::AttnNormW, "layers.{}.input_layernorm.weight", true, N::Always, O::None},
                {R::AttnQW, "layers.{}.self_attn.q_proj.weight", true, N::Always, O::OutIn},
                {R::AttnQB, "layers.{}.self_attn.q_proj.bias", true, N::AttnBias, O::None},
                {R::AttnKW, "layers.{}.self_attn.k_proj.weight", true, N::Always, O::OutIn},
                {R::AttnKB, "layers.{}.self_attn.k_proj.bias", true, N::AttnBias, O::None},
                {R::AttnVW, "layers.{}.self_attn.v_proj.weight", true, N::Always, O::OutIn},
                {R::AttnVB, "layers.{}.self_attn.v_proj.bias", true, N::AttnBias, O::None},
                {R::AttnOutW, "layers.{}.self_attn.o_proj.weight", true, N::Always, O::OutIn},
                {R::AttnOutB, "layers.{}.self_attn.o_proj.bias", true, N::OutBias, O::None},
                {R::MlpNormW, "layers.{}.post_attention_layernorm.weight", true, N::Always, O::None},
                {R::MlpGateW, "layers.{}.mlp.gate_proj.weight", true, N::Always, O::OutIn},
                {R::MlpGateB, "layers.{}.mlp.gate_proj.bias", true, N::MlpBias, O::None},
                {R::MlpUpW, "layers.{}.mlp.up_proj.weight", true, N::Always, O::OutIn},
                {R::MlpUpB, "layers.{}.mlp.up_proj.bias", true, N::MlpBias, O::None},
                {R::MlpDownW, "layers.{}.mlp.down_proj.weight", true, N::Always, O::OutIn},
                {R::MlpDownB, "layers.{}.mlp.down_proj.bias", true, N::MlpBias, O::None},
                {R::OutNormW, "norm.weight", false, N::Always, O::None},
                {R::LmHead, "lm_head.weight", false, N::Untied, O::OutIn},
            }};
}

const std::vector<ArchitectureInfo>& table() {
    static const std::vector<ArchitectureInfo> rows = {
        gpt2Row(),
        gptjRow(),
        neoxRow(),
        llamaLikeRow(Architecture::Llama, "llama", {"llama"}),
        llamaLikeRow(Architecture::Mistral, "mistral", {"mistral"}),
        llamaLikeRow(Architecture::Qwen2, "qwen2", {"qwen2"}),
    };
    return rows;
}

}  // namespace

const ArchitectureInfo& architectureInfo(Architecture arch) {
    for (const auto& row : table())
        if (row.arch == arch) return row;
    fail(ErrorKind::Internal, "architecture missing from the table");
}

std::optional<Architecture> architectureForModelType(const std::string& modelType) {
    for (const auto& row : table())
        for (const auto& t : row.modelTypes)
            if (t == modelType) return row.arch;
    return std::nullopt;
}

std::string supportedModelTypes() {
    std::string out;
    for (const auto& row : table())
        for (const auto& t : row.modelTypes) out += (out.empty() ? "" : ", ") + t;
    return out;
}

bool hasRole(Architecture arch, TensorRole role) {
    for (const auto& spec : architectureInfo(arch).tensors)
        if (spec.role == role) return true;
    return false;
}

const TensorSpec& tensorSpec(Architecture arch, TensorRole role) {
    for (const auto& spec : architectureInfo(arch).tensors)
        if (spec.role == role) return spec;
    fail(ErrorKind::Internal, "tensor role missing from the architecture table");
}

std::string tensorName(Architecture arch, TensorRole role, int layer) {
    std::string name = tensorSpec(arch, role).nameTemplate;
    const auto at = name.find("{}");
    if (at != std::string::npos) name.replace(at, 2, std::to_string(layer));
    return name;
}

std::string architectureName(Architecture arch) { return architectureInfo(arch).name; }

std::string hfTensorName(Architecture arch, const std::string& canonical) {
    if (arch == Architecture::Gpt2) return canonical;
    const bool head = canonical.rfind("lm_head.", 0) == 0 || canonical.rfind("embed_out.", 0) == 0;
    return head ? canonical : architectureInfo(arch).namePrefixes.front() + canonical;
}

}  // namespace kme
