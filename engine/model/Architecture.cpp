#include "engine/model/Architecture.h"

#include "engine/core/Error.h"

namespace kme {
namespace {

using R = TensorRole;
using O = Orientation;

const std::vector<ArchitectureInfo>& table() {
    static const std::vector<ArchitectureInfo> rows = {
        {Architecture::Gpt2,
         "gpt2",
         {"gpt2"},
         {"transformer."},
         {
             {R::TokenEmbd, "wte.weight", false, false, O::None},
             {R::PosEmbd, "wpe.weight", false, false, O::None},
             {R::AttnNormW, "h.{}.ln_1.weight", true, false, O::None},
             {R::AttnNormB, "h.{}.ln_1.bias", true, false, O::None},
             {R::AttnQkvW, "h.{}.attn.c_attn.weight", true, false, O::InOut},
             {R::AttnQkvB, "h.{}.attn.c_attn.bias", true, false, O::None},
             {R::AttnOutW, "h.{}.attn.c_proj.weight", true, false, O::InOut},
             {R::AttnOutB, "h.{}.attn.c_proj.bias", true, false, O::None},
             {R::MlpNormW, "h.{}.ln_2.weight", true, false, O::None},
             {R::MlpNormB, "h.{}.ln_2.bias", true, false, O::None},
             {R::MlpUpW, "h.{}.mlp.c_fc.weight", true, false, O::InOut},
             {R::MlpUpB, "h.{}.mlp.c_fc.bias", true, false, O::None},
             {R::MlpDownW, "h.{}.mlp.c_proj.weight", true, false, O::InOut},
             {R::MlpDownB, "h.{}.mlp.c_proj.bias", true, false, O::None},
             {R::OutNormW, "ln_f.weight", false, false, O::None},
             {R::OutNormB, "ln_f.bias", false, false, O::None},
             {R::LmHead, "lm_head.weight", false, true, O::OutIn},
         }},
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

}  // namespace kme
