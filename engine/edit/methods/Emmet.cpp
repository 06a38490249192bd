// EMMET (Gupta, Sajnani, Anumanchipalli, Findings of EMNLP 2024, "A Unified
// Framework for Model Editing"; scalable-model-editing/unified-model-editing):
// batched ROME, every request's key mapped to its value exactly (equality
// constraints), Delta = R D^-1 K^T C^-1 with D = K^T C^-1 K + lambda I,
// spread over a range of layers as MEMIT. One request is ROME's update. The
// computation: engine/edit/Emmet.cpp (computeEmmet).
#include <algorithm>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// unified-model-editing hparams/EMMET/gpt2-xl.json: layer 17, clamp 0.75,
// mom2_update_weight 1000, emmet_lambda 0.1.
void emmetDefaults(EditHparams& h, const std::string& model) {
    h.clampNormFactor = 0.75;
    h.mom2UpdateWeight = 1000;
    h.emmetLambda = 0.1;
    if (model == "gpt2-xl") h.layers = {17};
}

}  // namespace

const MethodInfo& emmetMethod() {
    static const MethodInfo row = {
        EditMethod::Emmet,
        "emmet",
        {"EMMET"},
        "EMMET",
        "Batched ROME: every fact of a batch written exactly (equality constraints), spread over MLP layers",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::Range,
        true,
        true,
        "v_num_grad_steps",
        {"Akshat Gupta, Dev Sajnani, Gopala Anumanchipalli", "A Unified Framework for Model Editing",
         "Findings of EMNLP", 2024, "2403.14236", "https://arxiv.org/abs/2403.14236",
         "scalable-model-editing/unified-model-editing"},
        emmetDefaults,
        memitStage,  // MEMIT's progress layout (the same frame)
        computeEmmet,
    };
    return row;
}

}  // namespace kme::edit
