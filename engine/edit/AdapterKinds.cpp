#include "engine/edit/AdapterKinds.h"

#include "engine/core/Error.h"
#include "engine/edit/adapters/Adapters.h"
#include "engine/model/Config.h"

namespace kme {

const std::vector<AdapterKind>& adapterKinds() {
    static const std::vector<AdapterKind> table = {
        edit::graceAdapter(),
        edit::wiseAdapter(),
        edit::neuronsAdapter(),
    };
    return table;
}

const AdapterKind* findAdapterKind(const std::string& name) {
    for (const auto& row : adapterKinds())
        if (name == row.name) return &row;
    return nullptr;
}

std::string adapterKindNames() {
    std::string out;
    for (const auto& row : adapterKinds()) out += (out.empty() ? "" : ", ") + std::string(row.name);
    return out;
}

namespace edit {

void requireModelLayer(const AdapterPayload& a, const ModelConfig& c) {
    if (a.layer < 0 || a.layer >= c.nLayer)
        fail(ErrorKind::Input, "the adapter acts at layer " + std::to_string(a.layer) + "; the model has " +
                                   std::to_string(c.nLayer) + " layers");
}

}  // namespace edit

}  // namespace kme
