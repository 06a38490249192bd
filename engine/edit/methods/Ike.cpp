// IKE (Zheng et al., EMNLP 2023): in-context knowledge editing. Demonstrations
// and the new fact are placed before every prompt as a context payload (a
// cached key/value prefix); no weight changes. The computation:
// engine/edit/Ike.cpp.
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

void ikeDefaults(EditHparams&, const std::string&) {}

void ikeStage(const EditParams& p, double, EditStage& st) {
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = 1;
}

}  // namespace

const MethodInfo& ikeMethod() {
    static const MethodInfo row = [] {
        MethodInfo r = {
            EditMethod::Ike,
            "ike",
            {"IKE"},
            "IKE",
            "In-context editing: demonstrations and the new fact placed before every prompt (no weight changes)",
            MethodFamily::ExternalMemorization,
            PayloadKind::Context,
            LayerShape::None,
            true,
            false,
            "",
            {"Ce Zheng, Lei Li, Qingxiu Dong, Yuxuan Fan, Zhiyong Wu, Jingjing Xu, Baobao Chang",
             "Can We Edit Factual Knowledge by In-Context Learning?", "EMNLP", 2023, "2305.12740",
             "https://arxiv.org/abs/2305.12740", "Zce1112zslx/IKE"},
            ikeDefaults,
            ikeStage,
            computeIke,
        };
        r.needsDemonstrations = true;
        return r;
    }();
    return row;
}

}  // namespace kme::edit
