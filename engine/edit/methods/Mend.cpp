// MEND (Mitchell et al., ICLR 2022): a meta-trained editor turns the
// fine-tuning gradient of an edit into a weight change of the last layers'
// MLP matrices. The computation: engine/edit/Mend.cpp (computeMend); the
// editor is trained by `kme train-mend` (engine/edit/MendTrain.cpp).
#include <algorithm>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

void mendDefaults(EditHparams&, const std::string&) {}

// computeMend: one unit a request.
void mendStage(const EditParams& p, double done, EditStage& st) {
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = size_t(std::min(double(st.count), std::max(1.0, done + 1)));
}

}  // namespace

const MethodInfo& mendMethod() {
    static const MethodInfo row = {
        EditMethod::Mend,
        "mend",
        {"MEND"},
        "MEND",
        "A trained editor network turns the edit's gradient into a change of the last layers' MLP matrices",
        MethodFamily::GlobalOptimization,
        PayloadKind::Weights,
        LayerShape::None,
        false,
        false,
        "",
        {"Eric Mitchell, Charles Lin, Antoine Bosselut, Chelsea Finn, Christopher D. Manning",
         "Fast Model Editing at Scale", "ICLR", 2022, "2110.11309", "https://arxiv.org/abs/2110.11309",
         "eric-mitchell/mend, zjunlp/EasyEdit (trainer/algs/MEND.py)"},
        mendDefaults,
        mendStage,
        computeMend,
    };
    return row;
}

}  // namespace kme::edit
