// FT-L (Zhu et al., 2020, as ROME's constrained fine-tuning baseline,
// kmeng01/rome baselines/ft): Adam on one layer's MLP down projection, each
// weight kept within an L-infinity bound of its original. The computation:
// engine/edit/FineTune.cpp (computeFineTune).
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

}  // namespace

// kmeng01/rome hparams/FT/*_constr.json: layer 0 for every published model
// (and EasyEdit hparams/FT/gpt2-xl.yaml, which serves FT-M too).
void fineTuneDefaults(EditHparams& h, const std::string& model) {
    if (!model.empty()) h.layers = {0};
}

// computeFineTune: one unit a step.
void fineTuneStage(const EditParams& p, double done, EditStage& st) {
    st.kind = EditStage::Kind::FineTune;
    st.count = size_t(std::max(1, p.hparams.ftSteps));
    st.index = size_t(std::clamp(std::floor(done + 1e-9), 0.0, double(st.count)));
}

const MethodInfo& ftlMethod() {
    static const MethodInfo row = {
        EditMethod::FtL,
        "ft-l",
        {"FT-L", "ft"},
        "FT-L",
        "Constrained fine-tuning of one layer's MLP down projection (a baseline)",
        MethodFamily::GlobalOptimization,
        PayloadKind::Weights,
        LayerShape::One,
        true,
        false,
        "num_steps",
        {"Chen Zhu, Ankit Singh Rawat, Manzil Zaheer, Srinadh Bhojanapalli, Daliang Li, Felix Yu, Sanjiv Kumar",
         "Modifying Memories in Transformer Models", "arXiv preprint", 2020, "2012.00363",
         "https://arxiv.org/abs/2012.00363", "kmeng01/rome (baselines/ft)"},
        fineTuneDefaults,
        fineTuneStage,
        computeFineTune,
    };
    return row;
}

}  // namespace kme::edit
