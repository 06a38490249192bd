// WISE (Wang et al., NeurIPS 2024; zjunlp/EasyEdit models/wise): a side
// memory beside one layer -- a copy of its down projection trained on a
// random mask of its weights per knowledge shard -- and a router that lets
// it answer only where its activation gap is large. The computation and the
// hook: engine/edit/Wise.cpp.
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// EasyEdit's published WISE layers are for LLaMA-2-7B (27 of 32), Llama-3-8B
// (29), Mistral-7B and Qwen2.5-7B; its gpt2-xl.yaml wraps GPT-2 small's
// h[8].mlp.c_fc, not a down projection. No GPT-2 default: the caller
// chooses (kme_edit_defaults.json for the demo).
void wiseDefaults(EditHparams&, const std::string&) {}

// computeWise: n_iter units.
void wiseStage(const EditParams& p, double done, EditStage& st) {
    st.kind = EditStage::Kind::Request;
    st.count = p.requests.size();
    st.index = size_t(std::clamp(std::floor(done / std::max(1, p.hparams.wiseIters) * double(st.count)) + 1, 1.0,
                                 double(std::max<size_t>(1, st.count))));
}

}  // namespace

const MethodInfo& wiseMethod() {
    static const MethodInfo row = {
        EditMethod::Wise,
        "wise",
        {"WISE"},
        "WISE",
        "A side memory beside one layer (a trained copy of its down projection) that answers only inputs it recognises",
        MethodFamily::ExternalMemorization,
        PayloadKind::Adapter,
        LayerShape::One,
        true,
        false,
        "n_iter",
        {"Peng Wang, Zexi Li, Ningyu Zhang, Ziwen Xu, Yunzhi Yao, Yong Jiang, Pengjun Xie, Fei Huang, Huajun Chen",
         "WISE: Rethinking the Knowledge Memory for Lifelong Model Editing of Large Language Models", "NeurIPS", 2024,
         "2405.14768", "https://arxiv.org/abs/2405.14768", "zjunlp/EasyEdit"},
        wiseDefaults,
        wiseStage,
        computeWise,
    };
    return row;
}

}  // namespace kme::edit
