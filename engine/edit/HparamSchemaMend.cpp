// The hyper-parameter rows of MEND, appended to the schema of
// HparamSchema.cpp: the editor file (its shape and steps travel inside it).
#include <string>
#include <vector>

#include "engine/edit/HparamSchema.h"

namespace kme {

void appendMendHparamRows(std::vector<HparamSpec>& rows) {
    HparamSpec s;
    s.key = "editor";
    s.type = HparamType::String;
    s.maxBytes = 4096;
    s.maxItems = 1;  // free text that may be empty (HparamSchema.cpp)
    s.methods = {EditMethod::Mend};
    s.help = "the trained editor (kme train-mend); empty = the model folder's mend-editor.safetensors";
    s.get = [](const EditHparams& h) { return nlohmann::json(h.mendEditor); };
    s.set = [](EditHparams& h, const nlohmann::json& v) { h.mendEditor = v.get<std::string>(); };
    rows.push_back(std::move(s));
}

}  // namespace kme
