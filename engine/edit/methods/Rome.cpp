// ROME (Meng et al., NeurIPS 2022; kmeng01/rome): a rank-one change of one
// MLP down projection that maps the subject's key k* to the optimised value
// v*. The computation: engine/edit/Rome.cpp (computeRome).
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// kmeng01/rome hparams/ROME: the layer and clamp_norm_factor per model.
void romeDefaults(EditHparams& h, const std::string& model) {
    struct Row {
        const char* model;
        int layer;
        double clamp;
    };
    static const Row rows[] = {{"gpt2-medium", 8, 3}, {"gpt2-large", 12, 4}, {"gpt2-xl", 17, 4}};
    for (const Row& r : rows)
        if (model == r.model) {
            h.layers = {r.layer};
            h.clampNormFactor = r.clamp;
        }
}

// computeRome: layers x (v_num_grad_steps + 1) units a request.
void romeStage(const EditParams& p, double done, EditStage& st) {
    const double steps = double(std::max(1, p.hparams.vNumGradSteps));
    valueOptimizationStage(p, done, distinctLayers(p) * (steps + 1), false, st);
}

}  // namespace

const MethodInfo& romeMethod() {
    static const MethodInfo row = {
        EditMethod::Rome,
        "rome",
        {"ROME"},
        "ROME",
        "Rank-one model editing: one MLP layer's down projection, one fact at a time",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::One,
        false,
        true,
        "v_num_grad_steps",
        {"Kevin Meng, David Bau, Alex Andonian, Yonatan Belinkov", "Locating and Editing Factual Associations in GPT",
         "NeurIPS", 2022, "2202.05262", "https://arxiv.org/abs/2202.05262", "kmeng01/rome"},
        romeDefaults,
        romeStage,
        computeRome,
    };
    return row;
}

}  // namespace kme::edit
