// Hyper-parameters: method names and the per-model defaults table (JSON
// parsing and writing: HparamSchema.cpp). Torch-free.
#include "engine/core/Error.h"
#include "engine/edit/EditMethod.h"
#include "engine/model/Config.h"

namespace kme {

namespace {

// Known model shapes and their published hyper-parameters (kmeng01/rome
// hparams/ROME, hparams/FT/*_constr.json; kmeng01/memit hparams/MEMIT).
struct ModelRow {
    const char* name;
    int nLayer, nEmbd;
    int romeLayer;               // -1: none published
    double romeClamp;
    std::vector<int> memitLayers;  // empty: none published
    double memitLambda, memitClamp;
    int ftLayer;
};

const std::vector<ModelRow>& modelTable() {
    static const std::vector<ModelRow> rows = {
        {"gpt2-medium", 24, 1024, 8, 3, {}, 20000, 0.75, 0},
        {"gpt2-large", 36, 1280, 12, 4, {}, 20000, 0.75, 0},
        {"gpt2-xl", 48, 1600, 17, 4, {13, 14, 15, 16, 17}, 20000, 0.75, 0},
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

const char* editMethodName(EditMethod m) {
    switch (m) {
        case EditMethod::Rome: return "rome";
        case EditMethod::Memit: return "memit";
        case EditMethod::FtL: return "ft-l";
    }
    return "?";
}

std::optional<EditMethod> parseEditMethod(const std::string& name) {
    if (name == "rome" || name == "ROME") return EditMethod::Rome;
    if (name == "memit" || name == "MEMIT") return EditMethod::Memit;
    if (name == "ft-l" || name == "FT-L" || name == "ft") return EditMethod::FtL;
    return std::nullopt;
}

std::string knownModelName(const ModelConfig& config) {
    const ModelRow* r = findRow(config);
    return r ? r->name : "";
}

EditHparams defaultHparams(EditMethod method, const ModelConfig& config) {
    EditHparams h;
    const ModelRow* row = findRow(config);
    switch (method) {
        case EditMethod::Rome:
            if (row && row->romeLayer >= 0) {
                h.layers = {row->romeLayer};
                h.clampNormFactor = row->romeClamp;
            }
            break;
        case EditMethod::Memit:
            h.clampNormFactor = 0.75;
            h.mom2UpdateWeight = 20000;
            if (row && !row->memitLayers.empty()) {
                h.layers = row->memitLayers;
                h.mom2UpdateWeight = row->memitLambda;
                h.clampNormFactor = row->memitClamp;
            }
            break;
        case EditMethod::FtL:
            if (row) h.layers = {row->ftLayer};
            break;
    }
    return h;
}

}  // namespace kme
