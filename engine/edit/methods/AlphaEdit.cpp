// AlphaEdit (Fang et al., ICLR 2025; jianghoucheng/AlphaEdit): MEMIT's keys,
// z and residual spreading, the update projected onto the null space of the
// preserved knowledge (the small-eigenvalue directions of the key second
// moment) and kept from disturbing the keys of earlier AlphaEdit edits
// (EditParams::preservedKeys). The computation: engine/edit/AlphaEdit.cpp.
#include <algorithm>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// jianghoucheng/AlphaEdit hparams/AlphaEdit/gpt2-xl.json: layers 13-17,
// clamp 0.75, nullspace_threshold 2e-2, L2 10.
void alphaEditDefaults(EditHparams& h, const std::string& model) {
    h.clampNormFactor = 0.75;
    h.nullspaceThreshold = 2e-2;
    h.alphaEditL2 = 10;
    if (model == "gpt2-xl") h.layers = {13, 14, 15, 16, 17};
}

}  // namespace

const MethodInfo& alphaEditMethod() {
    static const MethodInfo row = {
        EditMethod::AlphaEdit,
        "alphaedit",
        {"AlphaEdit"},
        "AlphaEdit",
        "MEMIT projected onto the null space of preserved knowledge and of earlier edits' keys (sequential editing)",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::Range,
        true,
        true,
        "v_num_grad_steps",
        {"Junfeng Fang, Houcheng Jiang, Kun Wang, Yunshan Ma, Xiang Wang, Xiangnan He, Tat-Seng Chua",
         "AlphaEdit: Null-Space Constrained Knowledge Editing for Language Models", "ICLR", 2025, "2410.02355",
         "https://arxiv.org/abs/2410.02355", "jianghoucheng/AlphaEdit"},
        alphaEditDefaults,
        memitStage,  // MEMIT's progress layout (the same frame)
        computeAlphaEdit,
    };
    return row;
}

}  // namespace kme::edit
