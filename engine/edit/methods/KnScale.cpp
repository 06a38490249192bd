// Suppressing and amplifying knowledge neurons (Dai et al., ACL 2022,
// section 4.2; Hunter-DDM/knowledge-neurons): the neurons attributed to the
// old answer have their activations multiplied by 0 or 2 at every token --
// the paper's test of whether they carry the fact, not an edit to a new
// target. Two rows sharing one computation (engine/edit/NeuronScale.cpp) and
// the attribution keys of the KN edit (steps, adaptive_threshold). The
// payload is an adapter: the weights stay, undo is exact.
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

void noDefaults(EditHparams&, const std::string&) {}

// One unit a request (the attribution).
void scaleStage(const EditParams& p, double done, EditStage& st) {
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = size_t(std::clamp(std::floor(done + 1e-9) + 1, 1.0, double(std::max<size_t>(1, st.count))));
}

const PaperRef kDai = {"Damai Dai, Li Dong, Yaru Hao, Zhifang Sui, Baobao Chang, Furu Wei",
                       "Knowledge Neurons in Pretrained Transformers",
                       "ACL",
                       2022,
                       "2104.08696",
                       "https://arxiv.org/abs/2104.08696",
                       "Hunter-DDM/knowledge-neurons"};

}  // namespace

const MethodInfo& knSuppressMethod() {
    static const MethodInfo row = {
        EditMethod::KnSuppress,
        "kn-suppress",
        {"KN-suppress"},
        "KN suppress",
        "Knowledge neurons switched off: the activations of the neurons attributed to the old answer x 0 at every "
        "token (an adapter; the new target is not used)",
        MethodFamily::LocalModification,
        PayloadKind::Adapter,
        LayerShape::None,
        false,
        false,
        "",
        kDai,
        noDefaults,
        scaleStage,
        computeKnSuppress,
    };
    return row;
}

const MethodInfo& knAmplifyMethod() {
    static const MethodInfo row = {
        EditMethod::KnAmplify,
        "kn-amplify",
        {"KN-amplify"},
        "KN amplify",
        "Knowledge neurons doubled: the activations of the neurons attributed to the old answer x 2 at every token "
        "(an adapter; the new target is not used)",
        MethodFamily::LocalModification,
        PayloadKind::Adapter,
        LayerShape::None,
        false,
        false,
        "",
        kDai,
        noDefaults,
        scaleStage,
        computeKnAmplify,
    };
    return row;
}

}  // namespace kme::edit
