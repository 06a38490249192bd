#pragma once
// The edit-method table (engine/model/Architecture.cpp's habit): one row per
// method says what the method is -- its names, its family in the KME survey's
// taxonomy, what it produces, the layers it takes, whether its requests are
// solved together, whether it needs key statistics, its paper -- and holds
// its per-model defaults, its progress layout and its compute entry point.
// Each method is one file in engine/edit/methods/ defining its row;
// MethodTable.cpp lists the rows. Callers ask the row ("is it batched", "does
// it need key statistics", "its layer shape") instead of switching on
// EditMethod, so adding a method is adding a row and a file. The
// hyper-parameter keys of each method stay in engine/edit/HparamSchema.
// Torch-free.
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/Payload.h"

namespace kme {

struct EditStage;

// How the new knowledge enters the model (the survey's three families).
enum class MethodFamily {
    ExternalMemorization,  // keep the weights, add something beside them (codebook, side memory, demonstrations)
    GlobalOptimization,    // gradient steps over the model's weights, constrained
    LocalModification,     // locate the knowledge, then change those parameters only
};
// The layers the method takes ("layers" hyper-parameter).
enum class LayerShape {
    None,   // no layer
    One,    // one layer (--layer L)
    Range,  // a range of consecutive layers (--layers A-B)
};

struct PaperRef {
    const char* authors;  // "Meng, Bau, Andonian, Belinkov"
    const char* title;
    const char* venue;    // "NeurIPS"
    int year;
    const char* arxiv;    // "2202.05262" ("" when none)
    const char* url;      // the paper's page
    const char* code;     // the reference code this engine follows ("kmeng01/rome")
};

struct MethodInfo {
    EditMethod method;
    const char* name;          // "rome": --method, JSON, sessions, kme_edit_defaults.json sections
    std::vector<std::string> aliases;  // further accepted spellings of --method ("ROME")
    const char* displayName;   // "ROME"
    const char* summary;       // one line: what it changes (tooltips, `kme methods`)
    MethodFamily family;
    PayloadKind payload;
    LayerShape layers;
    bool batched;              // several requests solved together in one edit (false: one after another)
    bool needsKeyStatistics;   // C = E[k k^T] from a text corpus, unless mom2_adjustment is false
    const char* stepsKey;      // the schema key of its optimisation steps (`kme eval --steps`); "" when none
    PaperRef paper;
    // Its defaults over EditHparams{}: `model` is knownModelName() of the
    // model ("gpt2-xl"), "" for a shape without published hyper-parameters.
    void (*defaults)(EditHparams& hparams, const std::string& model);
    // Where a running edit is (EditStage's kind, index, count) from its
    // progress callback's `done` (the method's progress layout).
    void (*stage)(const EditParams& params, double done, EditStage& stage);
    // Computes the edit; computeEdit() has normalized and validated the
    // requests, the layers and the hyper-parameters.
    EditResult (*compute)(Model& model, const EditParams& params, const ProgressFn& progress);
    // Draws demonstrations from fact records (EditParams::demonstrations: IKE).
    bool needsDemonstrations = false;
};

// Every row, in table order (the first is the default method).
const std::vector<MethodInfo>& methodTable();
// The row of a method (ErrorKind::Internal when the table misses it).
const MethodInfo& methodInfo(EditMethod method);
// The row of a name or alias, or nullptr.
const MethodInfo* findMethod(const std::string& name);
// The row of a name or alias; ErrorKind::Input "unknown edit method 'x'
// (known: rome, memit, ft-l)" otherwise.
const MethodInfo& methodByName(const std::string& name);
// The default method (the table's first row: ROME).
const MethodInfo& defaultMethod();
// The names in table order joined by `separator`, the last by `last`
// (methodNames(", ", " or ") == "rome, memit or ft-l").
std::string methodNames(const std::string& separator = ", ", const std::string& last = ", ");

// The families in the survey's order.
const std::vector<MethodFamily>& methodFamilies();
// The rows of one family, in table order.
std::vector<const MethodInfo*> methodsOf(MethodFamily family);
const char* familyName(MethodFamily family);         // "external_memorization" | "global_optimization" | "local_modification"
const char* familyDisplayName(MethodFamily family);  // "External memorization", ...
const char* familySummary(MethodFamily family);      // one line
const char* layerShapeName(LayerShape shape);        // "none" | "one" | "range"
// "Meng, Bau, Andonian, Belinkov: Locating and Editing Factual Associations in GPT (NeurIPS 2022, arXiv:2202.05262)".
std::string paperText(const PaperRef& paper);

}  // namespace kme
