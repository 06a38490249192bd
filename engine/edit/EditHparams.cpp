// Hyper-parameters: the known model shapes; each method's defaults for them
// are in its row (engine/edit/methods/). JSON parsing and writing:
// HparamSchema.cpp. Torch-free.
#include "engine/core/Error.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Config.h"

namespace kme {

namespace {

// Known model shapes, those with published hyper-parameters (kmeng01/rome
// hparams/ROME, hparams/FT/*_constr.json; kmeng01/memit hparams/MEMIT).
struct ModelRow {
    const char* name;
    int nLayer, nEmbd;
};

const std::vector<ModelRow>& modelTable() {
    static const std::vector<ModelRow> rows = {
        {"gpt2-medium", 24, 1024},
        {"gpt2-large", 36, 1280},
        {"gpt2-xl", 48, 1600},
    };
    return rows;
}

const ModelRow* findRow(const ModelConfig& c) {
    if (c.arch != Architecture::Gpt2 || c.vocabSize != 50257) return nullptr;
    for (const auto& r : modelTable())
        if (r.nLayer == c.nLayer && r.nEmbd == c.nEmbd) return &r;
    return nullptr;
}

}  // namespace

std::string knownModelName(const ModelConfig& config) {
    const ModelRow* r = findRow(config);
    return r ? r->name : "";
}

EditHparams defaultHparams(EditMethod method, const ModelConfig& config) {
    EditHparams h;
    methodInfo(method).defaults(h, knownModelName(config));  // the method's row (engine/edit/methods/)
    return h;
}

}  // namespace kme
