#pragma once
// The hyper-parameter schema of the edit methods: one row per accepted key
// (key, type, default, range, one-line help, the methods that use it). Every
// way hyper-parameters enter the engine goes through it: `--hparams` files,
// kme_edit_defaults.json, recorded hyper-parameters (sessions, --json
// output), and validateHparams() on a struct built by code (the window's
// controls, command-line flags). `kme help edit` prints it. Torch-free.
//
// Ranges allow every published use (kmeng01/rome and kmeng01/memit hparams
// for GPT-2 medium / large / XL and GPT-J: e.g. mom2_n_samples 100000,
// mom2_update_weight 15000-20000) and keep every run bounded: no key lets an
// edit run unbounded (steps, template counts and lengths, list sizes are
// capped) or overflow an int (64-bit values are never truncated).
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/edit/EditMethod.h"

namespace kme {

enum class HparamType {
    Int,         // an integer in [min, max]
    Double,      // a finite number in [min, max]
    Bool,        // true | false
    String,      // one of `choices`
    IntList,     // minItems..maxItems integers, each in [min, max]
    StringList,  // minItems..maxItems non-empty strings of at most maxBytes bytes
    PairList,    // minItems..maxItems [a, b] pairs: a in [min, max], b in [min2, max2]
    Templates,   // "rome" | "memit" (presets) or recorded groups of template strings with "{}"
};
// "int", "double", "bool", "string", "int list", "string list", "pair list", "templates".
const char* hparamTypeName(HparamType type);

struct HparamSpec {
    std::string key;                  // the JSON key (kmeng01/rome / memit names)
    HparamType type = HparamType::Int;
    double min = 0, max = 0;          // Int / Double value, IntList items, PairList first items
    double min2 = 0, max2 = 0;        // PairList second items
    size_t minItems = 0, maxItems = 0;  // lists (Templates: groups)
    size_t maxBytes = 0;              // StringList / Templates strings
    std::vector<std::string> choices; // String: the accepted values
    std::string help;                 // one line
    std::vector<EditMethod> methods;  // the methods that accept the key
    bool recorded = true;             // written by hparamsToJson (false: accepted for compatibility only)
    // The field's value in JSON form, and the setter of an already validated value.
    std::function<nlohmann::json(const EditHparams&)> get;
    std::function<void(EditHparams&, const nlohmann::json&)> set;

    bool usedBy(EditMethod method) const;
};

// Every row, in help order. A key may have one row per method group (FT-L's
// "kl_factor" is a compatibility row: its files carry "kl_factor": 0).
const std::vector<HparamSpec>& hparamSchema();
// The rows of one method, in help order.
std::vector<const HparamSpec*> hparamSchema(EditMethod method);
// The row of `key` for `method`, or nullptr.
const HparamSpec* findHparam(EditMethod method, const std::string& key);
// Keys of reference hparams files that name modules or choices this engine
// makes itself ("rewrite_module_tmp", "mom2_dataset", ...): accepted and ignored.
const std::vector<std::string>& ignoredHparamKeys();

// "ROME", "MEMIT", "FT-L".
const char* editMethodDisplayName(EditMethod method);
// The range of a row in words: "[1, 100000]", "1-256 items, each in [0, 1023]", ...
std::string hparamRangeText(const HparamSpec& spec);
// The row's default for `method` (the general defaults, no model table) as JSON text.
std::string hparamDefaultText(const HparamSpec& spec, EditMethod method);
// The schema of one method for `kme help edit`: per key two lines,
// "KEY (TYPE, default D, range R)" and the help, each line indented by `indent`.
std::string hparamsHelpText(EditMethod method, const std::string& indent);

// Checks `value` against `spec`; throws ErrorKind::Config "SOURCE: KEY must be
// ..., got ..." naming the key, the expected type / range and the value.
void checkHparamValue(const HparamSpec& spec, const nlohmann::json& value, const std::string& source);
// Overrides fields of `hparams` from a JSON object for `method`: every key is
// checked against the method's schema (an unknown key, or one of another
// method, is an error naming the key and listing the method's keys).
void applyHparams(EditHparams& hparams, EditMethod method, const nlohmann::json& object, const std::string& source);
// applyHparams from JSON text (parsed with a nesting limit; not JSON -> ErrorKind::Format).
void applyHparamsJson(EditHparams& hparams, EditMethod method, const std::string& jsonText, const std::string& source);
// Every field `method` uses, checked against the schema (an empty `layers`
// passes: "no default known", which computeEdit reports). Throws
// ErrorKind::Config naming `source` and the key.
void validateHparams(const EditHparams& hparams, EditMethod method, const std::string& source = "hyper-parameters");

// Field-by-field equality (the round trip of hparamsToJson / applyHparamsJson is exact).
bool operator==(const EditHparams& a, const EditHparams& b);
inline bool operator!=(const EditHparams& a, const EditHparams& b) { return !(a == b); }

// Where a running edit is, from its progress callback's (done, total): the
// engine's progress layout per method (computeRome, computeMemit,
// computeFineTune) mapped back to a stage. For the command line's
// "request 12/508" lines.
struct EditStage {
    enum class Kind { Statistics, Request, Writing, FineTune } kind = Kind::Statistics;
    size_t index = 0;   // Request: 1-based request; FineTune: steps done
    size_t count = 0;   // Request: requests; FineTune: steps at most
    double fraction = 0;  // done / total of the whole edit, in [0, 1]
};
EditStage editStage(const EditParams& params, double done, double total);

}  // namespace kme
