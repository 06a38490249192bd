// The hyper-parameter rows of the knowledge-neuron edit (KN), appended to the
// schema of HparamSchema.cpp. Names: EasyEdit's hparams/KN ("steps",
// "adaptive_threshold") and Hunter-DDM/knowledge-neurons' edit script
// ("norm_lambda1", "norm_lambda2").
#include <string>
#include <vector>

#include "engine/edit/HparamRows.h"

namespace kme {

namespace {

using json = nlohmann::json;

HparamSpec knNumber(const char* key, double min, double max, const char* help, double EditHparams::*field,
                    std::vector<EditMethod> methods = {EditMethod::Kn}) {
    return doubleRow(key, min, max, std::move(methods), help, field);
}

}  // namespace

void appendKnHparamRows(std::vector<HparamSpec>& rows) {
    {
        HparamSpec s;
        s.key = "steps";
        s.type = HparamType::Int;
        s.min = 1;
        s.max = 10000;
        s.methods = {EditMethod::Kn, EditMethod::KnSuppress, EditMethod::KnAmplify};
        s.help = "Riemann points m of the integrated gradients (k/m, k = 0 ... m-1; one backward pass each per layer)";
        s.get = [](const EditHparams& h) { return json(h.knSteps); };
        s.set = [](EditHparams& h, const json& v) { h.knSteps = int(v.get<int64_t>()); };
        rows.push_back(std::move(s));
    }
    rows.push_back(knNumber("adaptive_threshold", 0, 1,
                            "the edited neurons are those with attribution > this x the largest attribution "
                            "(over all layers) on the edit prompt",
                            &EditHparams::knThreshold, {EditMethod::Kn, EditMethod::KnSuppress, EditMethod::KnAmplify}));
    rows.push_back(knNumber("norm_lambda1", 0, 1000,
                            "each value vector v loses norm_lambda1 x (|v| / |e_old|) x e_old, e_old = the word "
                            "embedding of the model's answer before the edit",
                            &EditHparams::knLambda1));
    rows.push_back(knNumber("norm_lambda2", 0, 1000,
                            "... and gains norm_lambda2 x (|v| / |e_new|) x e_new, e_new = the embedding of the new "
                            "target's first token (the paper uses 1 and 8)",
                            &EditHparams::knLambda2));
}

}  // namespace kme
