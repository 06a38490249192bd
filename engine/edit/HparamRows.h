#pragma once
// Engine-internal: what the files of the hyper-parameter schema share -- the
// makers of a numeric row bound to a field of EditHparams (defined in
// HparamSchema.cpp) and each file's rows. Torch-free.
#include <cstdint>
#include <vector>

#include "engine/edit/HparamSchema.h"

namespace kme {

// A Double row in [min, max] read from and written to `field`.
HparamSpec doubleRow(const char* key, double min, double max, std::vector<EditMethod> methods, const char* help,
                     double EditHparams::*field);
// An Int row in [min, max] read from and written to `field`.
HparamSpec intFieldRow(const char* key, int64_t min, int64_t max, std::vector<EditMethod> methods, const char* help,
                       int EditHparams::*field);

void appendSotaHparamRows(std::vector<HparamSpec>& rows);  // r-ROME, EMMET, AlphaEdit: HparamSchemaSota.cpp
void appendWiseHparamRows(std::vector<HparamSpec>& rows);  // WISE: HparamSchemaWise.cpp
void appendKnHparamRows(std::vector<HparamSpec>& rows);    // knowledge neurons: HparamSchemaKn.cpp
void appendMendHparamRows(std::vector<HparamSpec>& rows);  // MEND: HparamSchemaMend.cpp

}  // namespace kme
