// Knowledge neurons (Dai et al., ACL 2022; Hunter-DDM/knowledge-neurons): the
// MLP neurons whose integrated-gradient attribution to the old answer is
// largest have their value vectors (their rows of the down projection) moved
// from the old answer's word embedding towards the new one's. The
// computation: engine/edit/KnEdit.cpp; the attribution:
// engine/trace/NeuronAttribution.
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

void knDefaults(EditHparams&, const std::string&) {}

// computeKn: one unit a request.
void knStage(const EditParams& p, double done, EditStage& st) {
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = size_t(std::clamp(std::floor(done + 1e-9) + 1, 1.0, double(std::max<size_t>(1, st.count))));
}

}  // namespace

const MethodInfo& knMethod() {
    static const MethodInfo row = {
        EditMethod::Kn,
        "kn",
        {"KN"},
        "KN",
        "Knowledge neurons: the value vectors of the neurons attributed to the old answer trade its word embedding "
        "for the new one's",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::None,
        false,
        false,
        "",
        {"Damai Dai, Li Dong, Yaru Hao, Zhifang Sui, Baobao Chang, Furu Wei", "Knowledge Neurons in Pretrained Transformers",
         "ACL", 2022, "2104.08696", "https://arxiv.org/abs/2104.08696", "Hunter-DDM/knowledge-neurons"},
        knDefaults,
        knStage,
        computeKn,
    };
    return row;
}

}  // namespace kme::edit
