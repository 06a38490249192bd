// FT-M (zjunlp/EasyEdit, 2024: FT with objective_optimization "target_new"):
// the constrained fine-tuning of FT-L -- Adam on one layer's MLP down
// projection, each weight within an L-infinity bound of its original -- with
// the loss on the target tokens only, teacher-forced on prompt + target with
// the prompt positions masked. The computation: engine/edit/FineTune.cpp
// (computeFineTune, objective from the method) and FineTuneLoss.h.
#include <algorithm>
#include <cmath>

#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

const MethodInfo& ftmMethod() {
    static const MethodInfo row = {
        EditMethod::FtM,
        "ft-m",
        {"FT-M"},
        "FT-M",
        "Constrained fine-tuning of one layer's MLP down projection, the loss on the target tokens only (a baseline)",
        MethodFamily::GlobalOptimization,
        PayloadKind::Weights,
        LayerShape::One,
        true,
        false,
        "num_steps",
        {"Peng Wang, Ningyu Zhang, Bozhong Tian, Zekun Xi, Yunzhi Yao, Ziwen Xu, Mengru Wang, Shengyu Mao, Xiaohan "
         "Wang, Siyuan Cheng, Kangwei Liu, Yuansheng Ni, Guozhou Zheng, Huajun Chen",
         "EasyEdit: An Easy-to-use Knowledge Editing Framework for Large Language Models", "ACL (demo)", 2024,
         "2308.07269", "https://arxiv.org/abs/2308.07269", "zjunlp/EasyEdit (models/ft, objective target_new)"},
        fineTuneDefaults,  // EasyEdit hparams/FT/gpt2-xl.yaml (the same file serves FT-L and FT-M): layer 0
        fineTuneStage,
        computeFineTune,
    };
    return row;
}

}  // namespace kme::edit
