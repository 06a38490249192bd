// GRACE (Hartvigsen et al., NeurIPS 2023; Thartvigsen/GRACE): a codebook of
// (key, value, radius) at one layer beside the weights; a token whose
// down-projection input falls within an entry's radius gets the entry's value
// as its MLP output. The computation and the hook: engine/edit/Grace.cpp.
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// No published GRACE layer for GPT-2 medium / large; GPT-2 XL's (EasyEdit
// hparams/GRACE/gpt2-xl.yaml: transformer.h[35].mlp.c_proj).
void graceDefaults(EditHparams& h, const std::string& model) {
    if (model == "gpt2-xl") h.layers = {35};
}

// computeGrace: n_iter + 1 units a request.
void graceStage(const EditParams& p, double done, EditStage& st) {
    const double per = double(std::max(1, p.hparams.graceIters)) + 1;
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = size_t(std::clamp(std::floor(done / per + 1e-9) + 1, 1.0, double(std::max<size_t>(1, st.count))));
}

}  // namespace

const MethodInfo& graceMethod() {
    static const MethodInfo row = {
        EditMethod::Grace,
        "grace",
        {"GRACE"},
        "GRACE",
        "A codebook beside one layer: inputs near an edited key get the key's trained MLP output (weights untouched)",
        MethodFamily::ExternalMemorization,
        PayloadKind::Adapter,
        LayerShape::One,
        false,
        false,
        "n_iter",
        {"Thomas Hartvigsen, Swami Sankaranarayanan, Hamid Palangi, Yoon Kim, Marzyeh Ghassemi",
         "Aging with GRACE: Lifelong Model Editing with Discrete Key-Value Adaptors", "NeurIPS", 2023, "2211.11031",
         "https://arxiv.org/abs/2211.11031", "Thartvigsen/GRACE"},
        graceDefaults,
        graceStage,
        computeGrace,
    };
    return row;
}

}  // namespace kme::edit
