// MEMIT (Meng et al., ICLR 2023; kmeng01/memit): many facts at once, the
// residual change z at the last layer of a range spread over the range's
// MLP down projections. The computation: engine/edit/Rome.cpp (computeMemit).
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// kmeng01/memit hparams/MEMIT: clamp 0.75 and lambda 20000 for every model;
// the layers where published (GPT-2 XL 13-17).
void memitDefaults(EditHparams& h, const std::string& model) {
    h.clampNormFactor = 0.75;
    h.mom2UpdateWeight = 20000;
    if (model == "gpt2-xl") {
        h.layers = {13, 14, 15, 16, 17};
        h.mom2UpdateWeight = 20000;
        h.clampNormFactor = 0.75;
    }
}

}  // namespace

// computeMemit: v_num_grad_steps units a request, then one a layer (writing).
void memitStage(const EditParams& p, double done, EditStage& st) {
    valueOptimizationStage(p, done, double(std::max(1, p.hparams.vNumGradSteps)), true, st);
}

const MethodInfo& memitMethod() {
    static const MethodInfo row = {
        EditMethod::Memit,
        "memit",
        {"MEMIT"},
        "MEMIT",
        "Mass-editing memory: many facts at once, spread over a range of MLP layers",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::Range,
        true,
        true,
        "v_num_grad_steps",
        {"Kevin Meng, Arnab Sen Sharma, Alex Andonian, Yonatan Belinkov, David Bau",
         "Mass-Editing Memory in a Transformer", "ICLR", 2023, "2210.07229", "https://arxiv.org/abs/2210.07229",
         "kmeng01/memit"},
        memitDefaults,
        memitStage,
        computeMemit,
    };
    return row;
}

}  // namespace kme::edit
