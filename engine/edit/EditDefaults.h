#pragma once
// Where an edit's defaults come from, for a loaded model:
//  1. the per-model table of defaultHparams() (GPT-2 medium / large / XL);
//  2. a file `kme_edit_defaults.json` in the model folder, which overrides
//     (the demo model ships one: its layer comes from its own dataset trace):
//       {
//         "note": "why these values (free text)",
//         "rome":  { hparams JSON, e.g. "layers": [1] },
//         "memit": { ... }, "ft-l": { ... },
//         "demonstrations": {"facts": "../facts.json"},           // IKE's fact records
//         "stats_corpus": {"file": "corpus.txt"}                  // relative to the model folder
//                       | {"demo_corpus": "../corpus.json", "documents": 4000, "seed": 7}
//       }
//     Transformers ignores extra files, so the folder stays a normal
//     Hugging Face model folder.
// Torch-free.
#include <string>
#include <vector>

#include "engine/edit/EditMethod.h"

namespace kme {

struct StatsCorpus {
    std::vector<std::string> texts;  // empty: none known (give --stats-corpus, or --no-mom2)
    std::string label;               // "demo corpus: 4000 generated documents (projects/demo/corpus.json, seed 7)"
};

struct EditDefaults {
    EditHparams hparams;       // table + file overrides; `layers` may be empty (no default known)
    std::string layerSource;   // one line: where the default layer(s) came from ("" when none)
    std::string note;          // the file's "note", if any
};

// The defaults file name inside a model folder.
inline constexpr const char* kEditDefaultsFile = "kme_edit_defaults.json";

// Throws ErrorKind::Config naming the file for a malformed defaults file.
EditDefaults editDefaults(const Model& model, EditMethod method);
// The statistics corpus the defaults file names (generated for a demo
// corpus, read for a file); empty texts when the file names none.
StatsCorpus defaultStatsCorpus(const Model& model);
// Fact records to draw demonstrations from (IKE): the CounterFact file the
// defaults file names as {"demonstrations": {"facts": "../facts.json"}}.
struct DemonstrationFacts {
    std::vector<FactRecord> records;  // empty: none named
    std::string label;                // the file
};
DemonstrationFacts defaultDemonstrations(const Model& model);
// EditParams for `method` with the defaults above (hparams, the statistics
// corpus and its label); the caller adds requests and overrides.
EditParams defaultEditParams(const Model& model, EditMethod method);

}  // namespace kme
