#pragma once
// Engine-internal: the rows of the adapter table (engine/edit/AdapterKinds.h),
// one per file of this folder, and what they share. Torch-free.
#include "engine/edit/AdapterKinds.h"

namespace kme::edit {

const AdapterKind& graceAdapter();    // GraceAdapter.cpp: a GRACE codebook at one layer
const AdapterKind& wiseAdapter();     // WiseAdapter.cpp: a WISE side memory's change at one layer
const AdapterKind& neuronsAdapter();  // NeuronsAdapter.cpp: knowledge neurons scaled (any layers)

// ErrorKind::Input unless the adapter's layer is one of the model's.
void requireModelLayer(const AdapterPayload& a, const ModelConfig& c);

}  // namespace kme::edit
