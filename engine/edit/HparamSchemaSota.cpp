// The hyper-parameter rows of EMMET and AlphaEdit (r-ROME has ROME's keys),
// appended to the schema of HparamSchema.cpp: their own keys, and the keys
// of their reference files that this engine accepts for compatibility.
#include <string>
#include <vector>

#include "engine/edit/HparamRows.h"

namespace kme {

namespace {

using json = nlohmann::json;

HparamSpec numberRow(const char* key, double min, double max, EditMethod method, const char* help,
                     double EditHparams::*field) {
    return doubleRow(key, min, max, {method}, help, field);
}

// A key of the reference files accepted in [min, max] and not recorded: it
// changes nothing here (0 .. 0: only the reference's default, which is a no-op).
HparamSpec compatibilityRow(const char* key, double min, double max, EditMethod method, const char* help) {
    HparamSpec s;
    s.key = key;
    s.type = HparamType::Double;
    s.min = min;
    s.max = max;
    s.methods = {method};
    s.help = help;
    s.recorded = false;
    s.get = [min](const EditHparams&) { return json(min); };
    s.set = [](EditHparams&, const json&) {};
    return s;
}

}  // namespace

void appendSotaHparamRows(std::vector<HparamSpec>& rows) {
    rows.push_back(numberRow("emmet_lambda", 0, 1e9, EditMethod::Emmet,
                             "D = K^T C^-1 K + emmet_lambda I for batches of 2 or more (0: every key maps to its "
                             "value exactly; larger: a least-squares compromise for ill-conditioned batches)",
                             &EditHparams::emmetLambda));
    for (const char* key : {"update_norm_lambda", "prob_cutoff", "norm_control"})
        rows.push_back(compatibilityRow(key, 0, 0, EditMethod::Emmet,
                                        "unified-model-editing's option, off in its files: only 0 is supported"));
    rows.push_back(numberRow("nullspace_threshold", 0, 1e9, EditMethod::AlphaEdit,
                             "P projects onto the eigenvectors of the key second moment C with eigenvalue below this "
                             "(the directions the corpus's keys hardly use); larger = more directions, less preservation",
                             &EditHparams::nullspaceThreshold));
    rows.push_back(numberRow("L2", 1e-12, 1e9, EditMethod::AlphaEdit,
                             "alpha, the ridge of (P (K_p K_p^T + K K^T) + alpha I): larger = a smaller change",
                             &EditHparams::alphaEditL2));
    rows.push_back(compatibilityRow("mom2_update_weight", 0, 1e9, EditMethod::AlphaEdit,
                                    "in AlphaEdit's files but unused by its code (MEMIT's lambda C term is dropped): "
                                    "accepted and ignored"));
}

}  // namespace kme
