// r-ROME (Gupta, Baskaran, Anumanchipalli, EMNLP 2024, "Rebuilding ROME";
// scalable-model-editing/rebuilding-rome, enable_random_prefix_keys): ROME
// with the prefix-averaged key k* in the residual as well as in the update
// direction, Lambda = (v* - W k*) / ((C^-1 k*)^T k*), where ROME divides by
// the plain prompt's key. With ROME's mixed keys, an edit's own key is not
// mapped to v*, and long sequences of ROME edits collapse the model
// ("disabling edits"); r-ROME maps k* to v* exactly. A method row of its own
// (not a ROME option) so that sessions, History and Compare name it. The
// computation: engine/edit/Rome.cpp (computeRRome).
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/Methods.h"

namespace kme::edit {

namespace {

// rebuilding-rome hparams/ROME: ROME's (GPT-2 XL layer 17, clamp 4).
void rromeDefaults(EditHparams& h, const std::string& model) { romeMethod().defaults(h, model); }

// The same progress layout as ROME.
void rromeStage(const EditParams& p, double done, EditStage& st) { romeMethod().stage(p, done, st); }

}  // namespace

const MethodInfo& rromeMethod() {
    static const MethodInfo row = {
        EditMethod::RRome,
        "r-rome",
        {"R-ROME", "rrome"},
        "r-ROME",
        "ROME with the template-averaged key k* also in the residual: k* maps to v* exactly (stable in sequences)",
        MethodFamily::LocalModification,
        PayloadKind::Weights,
        LayerShape::One,
        false,
        true,
        "v_num_grad_steps",
        {"Akshat Gupta, Sidharth Baskaran, Gopala Anumanchipalli",
         "Rebuilding ROME: Resolving Model Collapse during Sequential Model Editing", "EMNLP", 2024, "2403.07175",
         "https://arxiv.org/abs/2403.07175", "scalable-model-editing/rebuilding-rome"},
        rromeDefaults,
        rromeStage,
        computeRRome,
    };
    return row;
}

}  // namespace kme::edit
