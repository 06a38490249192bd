#pragma once
// One way from "edit with method M on this model" to the EditParams a
// computation takes, for every front end (kme edit, kme eval, kme bench edit,
// the Edit and Evaluate tabs):
//   defaults (the model table, then the model folder's kme_edit_defaults.json)
//   -> overrides (a whole hyper-parameter set, a JSON object through the
//      method's schema, layers, steps, the MEND editor, key statistics on /
//      off, the corpus, demonstrations, the seed)
//   -> checks (a layer is known, a corpus is known, the values are in range).
// Problems the user can remedy are EditSetupError (engine/edit/EditProblem.h):
// the message names the problem, the front end adds the remedy.
// Torch-free.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/EditProblem.h"

namespace kme {

struct EditOverrides {
    // A whole hyper-parameter set (the window's form, which started from
    // the same defaults); applied first.
    std::optional<EditHparams> hparams;
    // A JSON object (a --hparams file's text) applied through the method's
    // schema: a key of another method is an error naming the key.
    std::optional<std::string> hparamsJson;
    std::string hparamsSource;              // names the object in messages ("ft.json")
    std::optional<std::vector<int>> layers;
    std::optional<int> steps;               // the method's step-count key (MethodInfo::stepsKey)
    bool stepsWhereKnown = false;           // a method without steps ignores `steps` (several methods at once)
    std::optional<std::string> mendEditor;  // MEND's editor file
    bool identityStatistics = false;        // C = identity (mom2_adjustment false)
    std::optional<int> statsSamples;
    std::optional<int64_t> statsTokens;
    std::optional<std::string> statsCorpusFile;  // read with loadTextCorpus
    std::optional<StatsCorpus> statsCorpus;      // texts already read (a benchmark reading them once)
    std::optional<std::string> demonstrationsFile;  // IKE: a CounterFact file
    uint64_t seed = 0;
    // No corpus known for a method that needs key statistics: refuse
    // (EditProblem::NoStatsCorpus) or use the identity, said in `notes`.
    enum class MissingCorpus { Refuse, Identity } missingCorpus = MissingCorpus::Refuse;
    // Refuse a method with layers when no default layer is known
    // (EditProblem::NoLayer) now, before any work; false leaves it to computeEdit.
    bool requireLayers = true;
};

struct EditSetup {
    EditParams params;               // requests empty: the caller adds them
    std::string layerSource;         // where the default layer(s) came from ("" when none / overridden)
    std::vector<std::string> notes;  // choices made for the user ("no corpus known: key statistics = identity")
};

// Throws EditSetupError for a remediable problem, ErrorKind::Config for a
// value out of its schema range (naming the key and the source), the file's
// error for an unreadable corpus / demonstrations file.
EditSetup setUpEdit(const Model& model, EditMethod method, const EditOverrides& overrides = {});

}  // namespace kme
