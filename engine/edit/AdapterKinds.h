#pragma once
// Engine-internal: the adapter kinds as a table (AdapterPayload::type), one
// row per kind, each row in its own file of engine/edit/adapters/. A row says
// how its payload is written to and read from a session blob, described, checked
// against a model and made resident (its hooks, the enabled payloads of the
// kind combined). A new adapter kind is a new row. Torch-free.
#include <string>
#include <vector>

#include "engine/edit/Payload.h"
#include "engine/edit/PayloadBlob.h"

namespace kme {

struct ModelConfig;
struct ResidentState;

struct AdapterKind {
    const char* name;  // AdapterPayload::type and the blob's meta "type"
    // The blob ("kme_adapter": meta "type", "layer" and the kind's own).
    std::string (*toBytes)(const AdapterPayload& a);
    // The kind's part of a blob whose type and layer are read and checked
    // into `p`; ErrorKind::Format with the reason for anything malformed.
    void (*fromBytes)(const blob::Unpacked& u, AdapterPayload& p);
    // One line for the session's edit list (AdapterPayload::describe).
    std::string (*describe)(const AdapterPayload& a);
    // ErrorKind::Input where the payload does not fit the model (its layer, widths, neurons).
    void (*check)(const AdapterPayload& a, const ModelConfig& c);
    // Appends the hooks of the enabled payloads of this kind (others skipped), combined per layer.
    void (*addHooks)(const std::vector<const AdapterPayload*>& enabled, const ModelConfig& c, ResidentState& st);
};

// The rows, in the order their hooks are made resident: grace, wise, neurons.
const std::vector<AdapterKind>& adapterKinds();
const AdapterKind* findAdapterKind(const std::string& name);  // nullptr: unknown
std::string adapterKindNames();                                // "grace, wise, neurons"

}  // namespace kme
