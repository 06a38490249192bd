// The hyper-parameter schema (see HparamSchema.h): the table, JSON parsing
// and writing through it, help text, and the progress stage of an edit.
#include "engine/edit/HparamSchema.h"
#include "engine/edit/HparamRows.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Config.h"

namespace kme {

using json = nlohmann::json;

namespace {

// The v* / z methods; the MEMIT frame; lambda C + K K^T users.
const std::vector<EditMethod> kRomeMemit = {EditMethod::Rome, EditMethod::Memit, EditMethod::RRome, EditMethod::Emmet,
                                            EditMethod::AlphaEdit};
const std::vector<EditMethod> kBatched = {EditMethod::Memit, EditMethod::Emmet, EditMethod::AlphaEdit};
const std::vector<EditMethod> kMemit = {EditMethod::Memit, EditMethod::Emmet};
const std::vector<EditMethod> kFtL = {EditMethod::FtL, EditMethod::FtM};
// The context templates' users: the v* / z methods and WISE (its edit inputs).
const std::vector<EditMethod> kTemplates = {EditMethod::Rome,  EditMethod::Memit,     EditMethod::RRome,
                                            EditMethod::Emmet, EditMethod::AlphaEdit, EditMethod::Wise};
const std::vector<EditMethod> kAll = {EditMethod::Rome,  EditMethod::Memit, EditMethod::FtL,      EditMethod::Grace,
                                      EditMethod::RRome, EditMethod::Emmet, EditMethod::AlphaEdit, EditMethod::Wise,
                                      EditMethod::FtM};
const std::vector<EditMethod> kGrace = {EditMethod::Grace};
const std::vector<EditMethod> kIke = {EditMethod::Ike};

// A number for messages and help: integers without a fraction, else %g.
std::string numberText(double v) {
    char buf[64];
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string rangeOf(double min, double max) { return "[" + numberText(min) + ", " + numberText(max) + "]"; }

HparamSpec intRow(const char* key, int64_t min, int64_t max, std::vector<EditMethod> methods, const char* help,
                  std::function<json(const EditHparams&)> get, std::function<void(EditHparams&, const json&)> set) {
    HparamSpec s;
    s.key = key;
    s.type = HparamType::Int;
    s.min = double(min);
    s.max = double(max);
    s.methods = std::move(methods);
    s.help = help;
    s.get = std::move(get);
    s.set = std::move(set);
    return s;
}

// A key of the reference files with one supported value, accepted and not recorded.
HparamSpec choiceRow(const char* key, const char* only, std::vector<EditMethod> methods, const char* help) {
    HparamSpec s;
    s.key = key;
    s.type = HparamType::String;
    s.choices = {only};
    s.methods = std::move(methods);
    s.help = help;
    s.recorded = false;
    const std::string value = only;
    s.get = [value](const EditHparams&) { return json(value); };
    s.set = [](EditHparams&, const json&) {};
    return s;
}

std::vector<HparamSpec> buildSchema() {
    std::vector<HparamSpec> rows;
    {
        HparamSpec s;
        s.key = "layers";
        s.type = HparamType::IntList;
        s.min = 0;
        s.max = 1023;
        s.minItems = 1;
        s.maxItems = 256;
        s.methods = kAll;
        s.help = "layers whose MLP down projection is edited (ROME / FT-L: usually one; MEMIT: all, z at the last; "
                 "GRACE: the layer of its codebook; WISE: the layer of its side memory); "
                 "default from the model table or kme_edit_defaults.json";
        s.get = [](const EditHparams& h) { return json(h.layers); };
        s.set = [](EditHparams& h, const json& v) {
            h.layers.clear();
            for (const auto& l : v) h.layers.push_back(int(l.get<int64_t>()));
        };
        rows.push_back(std::move(s));
    }
    rows.push_back(choiceRow("fact_token", "subject_last", kRomeMemit,
                             "where the key is read: the subject's last token (the only choice supported)"));
    rows.push_back(choiceRow("layer_selection", "all", kBatched, "every layer is written (the only choice supported)"));
    rows.push_back(intRow(
        "v_num_grad_steps", 1, 100000, kRomeMemit,
        "forward passes of the v* (MEMIT: z) optimisation at most, the last only scores (the --steps cap)",
        [](const EditHparams& h) { return json(h.vNumGradSteps); },
        [](EditHparams& h, const json& v) { h.vNumGradSteps = int(v.get<int64_t>()); }));
    rows.push_back(doubleRow("v_lr", 0, 100, kRomeMemit, "Adam learning rate of the v* / z optimisation", &EditHparams::vLr));
    rows.push_back(doubleRow("v_weight_decay", 0, 1000, kRomeMemit,
                             "weight of ||delta|| / ||v_init||^2 in the v* / z loss (as kmeng01/rome's code)",
                             &EditHparams::vWeightDecay));
    rows.push_back(doubleRow("kl_factor", 0, 100, kRomeMemit,
                             "weight of KL(edited || original) on \"{} is a\" at the subject", &EditHparams::klFactor));
    rows.push_back(doubleRow("clamp_norm_factor", 0, 1000, kRomeMemit, "||delta|| <= factor x ||v_init||",
                             &EditHparams::clampNormFactor));
    rows.push_back(doubleRow("v_stop_loss", 0, 100, kRomeMemit, "the v* / z optimisation stops below this loss",
                             &EditHparams::vStopLoss));
    {
        HparamSpec s;
        s.key = "mom2_adjustment";
        s.type = HparamType::Bool;
        s.methods = kRomeMemit;
        s.help = "use the key statistics C = E[k k^T] of a text corpus (false: C is the identity, as --no-mom2)";
        s.get = [](const EditHparams& h) { return json(h.mom2Adjustment); };
        s.set = [](EditHparams& h, const json& v) { h.mom2Adjustment = v.get<bool>(); };
        rows.push_back(std::move(s));
    }
    rows.push_back(doubleRow("mom2_update_weight", 0, 1e9, kMemit,
                             "MEMIT's lambda in (lambda C + K K^T); EMMET's scale of C (it cancels unless emmet_lambda > 0)",
                             &EditHparams::mom2UpdateWeight));
    rows.push_back(intRow(
        "mom2_n_samples", 1, 100000000, kRomeMemit, "corpus texts used for the key statistics at most",
        [](const EditHparams& h) { return json(h.mom2Samples); },
        [](EditHparams& h, const json& v) { h.mom2Samples = int(v.get<int64_t>()); }));
    rows.push_back(intRow(
        "mom2_n_tokens", 0, 10000000000LL, kRomeMemit,
        "corpus tokens used for the key statistics at most (the CPU budget; 0 = no limit)",
        [](const EditHparams& h) { return json(h.mom2Tokens); },
        [](EditHparams& h, const json& v) { h.mom2Tokens = v.get<int64_t>(); }));
    {
        HparamSpec s;
        s.key = "context_template_starts";
        s.type = HparamType::StringList;
        s.minItems = 1;
        s.maxItems = 64;
        s.maxBytes = 256;
        s.methods = kTemplates;
        s.help = "texts the model continues to make the context templates (\"<|endoftext|>\" = from nothing)";
        s.get = [](const EditHparams& h) { return json(h.contextStarts); };
        s.set = [](EditHparams& h, const json& v) { h.contextStarts = v.get<std::vector<std::string>>(); };
        rows.push_back(std::move(s));
    }
    {
        HparamSpec s;
        s.key = "context_template_length_params";
        s.type = HparamType::PairList;
        s.min = 1;
        s.max = 128;
        s.min2 = 1;
        s.max2 = 100;
        s.minItems = 0;
        s.maxItems = 16;
        s.methods = kTemplates;
        s.help = "[tokens incl. the start, count over all starts] per group of generated context templates";
        s.get = [](const EditHparams& h) {
            json out = json::array();
            for (const auto& [n, c] : h.contextLengths) out.push_back(json::array({n, c}));
            return out;
        };
        s.set = [](EditHparams& h, const json& v) {
            h.contextLengths.clear();
            for (const auto& p : v) h.contextLengths.push_back({int(p[0].get<int64_t>()), int(p[1].get<int64_t>())});
        };
        rows.push_back(std::move(s));
    }
    {
        HparamSpec s;
        s.key = "context_templates";
        s.type = HparamType::Templates;
        s.minItems = 1;
        s.maxItems = 64;
        s.max = 100;  // template strings per group at most (as context_template_length_params' counts)
        s.maxBytes = 1024;
        s.methods = kTemplates;
        s.help = "\"rome\" (kmeng01/rome's scheme: from <|endoftext|>, [[5, 10], [10, 10]]), \"memit\" (the default), "
                 "or the recorded groups of templates with \"{}\" (used as given)";
        s.get = [](const EditHparams& h) { return json(h.contextTemplates); };
        s.set = [](EditHparams& h, const json& v) {
            if (v.is_string()) {
                const EditHparams fresh;
                if (v.get<std::string>() == "rome") {
                    h.contextStarts = {"<|endoftext|>"};
                    h.contextLengths = {{5, 10}, {10, 10}};
                } else {
                    h.contextStarts = fresh.contextStarts;
                    h.contextLengths = fresh.contextLengths;
                }
                h.contextTemplates.clear();
            } else {
                h.contextTemplates = v.get<std::vector<std::vector<std::string>>>();
            }
        };
        rows.push_back(std::move(s));
    }
    rows.push_back(intRow(
        "num_steps", 1, 100000, kFtL, "fine-tuning steps at most (the --steps cap)",
        [](const EditHparams& h) { return json(h.ftSteps); },
        [](EditHparams& h, const json& v) { h.ftSteps = int(v.get<int64_t>()); }));
    rows.push_back(doubleRow("lr", 0, 10, kFtL, "Adam learning rate of the fine-tuning", &EditHparams::ftLr));
    rows.push_back(doubleRow("weight_decay", 0, 10, kFtL, "Adam weight decay of the fine-tuning", &EditHparams::ftWeightDecay));
    rows.push_back(doubleRow("norm_constraint", 0, 10, kFtL,
                             "no weight moves further than this from its original (L-infinity)",
                             &EditHparams::ftNormConstraint));
    rows.push_back(doubleRow("ft_stop_loss", 0, 100, kFtL, "no step below this loss; the fine-tuning stops when reached",
                             &EditHparams::ftStopLoss));
    {
        // kmeng01/rome's FT files carry "kl_factor": 0; FT-L here has no KL term.
        HparamSpec s = doubleRow("kl_factor", 0, 0, kFtL, "kmeng01/rome FT files' KL weight: FT-L has none, so only 0",
                                 &EditHparams::klFactor);
        s.recorded = false;
        s.get = [](const EditHparams&) { return json(0); };
        s.set = [](EditHparams&, const json&) {};
        rows.push_back(std::move(s));
    }
    // GRACE: Thartvigsen/GRACE grace/config/editor/grace.yaml (eps 1.0, edit_lr 1.0, n_iter 100, val_init cold).
    rows.push_back(doubleRow("eps", 0, 1e6, kGrace,
                             "deferral radius of a new codebook entry (Euclidean, in the down projection's input space)",
                             &EditHparams::graceEps));
    rows.push_back(doubleRow("edit_lr", 0, 100, kGrace, "Adam learning rate of the entry's value", &EditHparams::graceLr));
    rows.push_back(intRow(
        "n_iter", 1, 100000, kGrace, "value-training steps at most (the --steps cap)",
        [](const EditHparams& h) { return json(h.graceIters); },
        [](EditHparams& h, const json& v) { h.graceIters = int(v.get<int64_t>()); }));
    {
        HparamSpec s;
        s.key = "val_init";
        s.type = HparamType::String;
        s.choices = {"cold", "warm"};
        s.methods = kGrace;
        s.help = "a new entry's value starts uniform in [0, 1) (cold, GRACE's default) or as the layer's output (warm)";
        s.get = [](const EditHparams& h) { return json(h.graceValueInit); };
        s.set = [](EditHparams& h, const json& v) { h.graceValueInit = v.get<std::string>(); };
        rows.push_back(std::move(s));
    }
    rows.push_back(doubleRow("early_stop_loss", 0, 100, kGrace,
                             "the value training stops once the target's mean token NLL is below this",
                             &EditHparams::graceStopLoss));
    // IKE (Zheng et al. 2023).
    rows.push_back(intRow(
        "k", 0, 64, kIke, "demonstrations at most (fewer when they do not fit the context beside prompt_reserve)",
        [](const EditHparams& h) { return json(h.ikeDemonstrations); },
        [](EditHparams& h, const json& v) { h.ikeDemonstrations = int(v.get<int64_t>()); }));
    rows.push_back(intRow(
        "prompt_reserve", 1, 1 << 20, kIke, "context positions kept free for the prompt and its target",
        [](const EditHparams& h) { return json(h.ikePromptReserve); },
        [](EditHparams& h, const json& v) { h.ikePromptReserve = int(v.get<int64_t>()); }));
    auto textRow = [](const char* key, const char* help, std::string EditHparams::*field) {
        HparamSpec s;
        s.key = key;
        s.type = HparamType::String;
        s.maxBytes = 1024;
        s.methods = kIke;
        s.help = help;
        s.get = [field](const EditHparams& h) { return json(h.*field); };
        s.set = [field](EditHparams& h, const json& v) { h.*field = v.get<std::string>(); };
        return s;
    };
    rows.push_back(textRow("demo_template",
                           "one demonstration: {prompt} {target} is its new fact, {query} {answer} the prompt it answers "
                           "(copy: the fact itself, update: a paraphrase, retain: a neighbour and its own answer)",
                           &EditHparams::ikeDemoTemplate));
    rows.push_back(textRow("fact_template", "the edit's own new fact, placed last; {prompt} {target}",
                           &EditHparams::ikeFactTemplate));
    appendSotaHparamRows(rows);  // r-ROME, EMMET, AlphaEdit (HparamSchemaSota.cpp)
    appendWiseHparamRows(rows);  // WISE (HparamSchemaWise.cpp)
    appendKnHparamRows(rows);    // knowledge neurons (HparamSchemaKn.cpp)
    appendMendHparamRows(rows);  // MEND (HparamSchemaMend.cpp)
    return rows;
}

std::string keyText(const std::string& key) { return quoteForMessage(key, 60); }

// The keys of `method` in help order, comma-separated.
std::string keyList(EditMethod method) {
    std::string out;
    for (const HparamSpec* s : hparamSchema(method)) out += (out.empty() ? "" : ", ") + s->key;
    return out;
}

[[noreturn]] void badValue(const std::string& source, const std::string& key, const std::string& expected,
                           const json& got) {
    std::string gotText;
    if (got.is_string()) gotText = "the string " + quoteForMessage(got.get_ref<const std::string&>(), 40);
    else if (got.is_number() || got.is_boolean() || got.is_null()) gotText = got.dump();
    else gotText = jsonTypeName(got);
    fail(ErrorKind::Config, source + ": " + key + " must be " + expected + ", got " + gotText);
}

json holder(const std::string& key, const json& v) {
    json h = json::object();
    h[key] = v;
    return h;
}

void checkList(const HparamSpec& spec, const json& v, const std::string& source, const std::string& what) {
    if (!v.is_array()) badValue(source, spec.key, what, v);
    if (v.size() < spec.minItems || v.size() > spec.maxItems)
        fail(ErrorKind::Config, source + ": " + spec.key + " has " + std::to_string(v.size()) + " items (" +
                                    std::to_string(spec.minItems) + " to " + std::to_string(spec.maxItems) +
                                    " allowed)");
}

}  // namespace

HparamSpec doubleRow(const char* key, double min, double max, std::vector<EditMethod> methods, const char* help,
                     double EditHparams::*field) {
    HparamSpec s;
    s.key = key;
    s.type = HparamType::Double;
    s.min = min;
    s.max = max;
    s.methods = std::move(methods);
    s.help = help;
    s.get = [field](const EditHparams& h) { return json(h.*field); };
    s.set = [field](EditHparams& h, const json& v) { h.*field = v.get<double>(); };
    return s;
}

HparamSpec intFieldRow(const char* key, int64_t min, int64_t max, std::vector<EditMethod> methods, const char* help,
                       int EditHparams::*field) {
    return intRow(
        key, min, max, std::move(methods), help, [field](const EditHparams& h) { return json(h.*field); },
        [field](EditHparams& h, const json& v) { h.*field = int(v.get<int64_t>()); });
}

const char* hparamTypeName(HparamType type) {
    switch (type) {
        case HparamType::Int: return "int";
        case HparamType::Double: return "double";
        case HparamType::Bool: return "bool";
        case HparamType::String: return "string";
        case HparamType::IntList: return "int list";
        case HparamType::StringList: return "string list";
        case HparamType::PairList: return "pair list";
        case HparamType::Templates: return "templates";
    }
    return "?";
}

bool HparamSpec::usedBy(EditMethod method) const {
    return std::find(methods.begin(), methods.end(), method) != methods.end();
}

const std::vector<HparamSpec>& hparamSchema() {
    static const std::vector<HparamSpec> rows = buildSchema();
    return rows;
}

std::vector<const HparamSpec*> hparamSchema(EditMethod method) {
    std::vector<const HparamSpec*> out;
    for (const auto& s : hparamSchema())
        if (s.usedBy(method)) out.push_back(&s);
    return out;
}

const HparamSpec* findHparam(EditMethod method, const std::string& key) {
    for (const auto& s : hparamSchema())
        if (s.key == key && s.usedBy(method)) return &s;
    return nullptr;
}

const std::vector<std::string>& ignoredHparamKeys() {
    static const std::vector<std::string> keys = {
        "rewrite_module_tmp", "layer_module_tmp", "mlp_module_tmp", "attn_module_tmp", "ln_f_module",
        "lm_head_module",     "mom2_dataset",     "mom2_dtype",     "v_loss_layer",    "batch_size",
        "kl_factor_ft",       "calculate_objective_value"};
    return keys;
}

const char* editMethodDisplayName(EditMethod method) {
    for (const MethodInfo& row : methodTable())
        if (row.method == method) return row.displayName;
    return "?";
}

std::string hparamRangeText(const HparamSpec& s) {
    switch (s.type) {
        case HparamType::Int:
        case HparamType::Double: return rangeOf(s.min, s.max);
        case HparamType::Bool: return "true | false";
        case HparamType::String: {
            // maxItems 1 on a free-text row: the text may be empty (MEND's "editor": "" = the default file).
            if (s.choices.empty()) return "a text of " + std::string(s.maxItems == 1 ? "0" : "1") + "-" + std::to_string(s.maxBytes) + " bytes";
            std::string out;
            for (const auto& c : s.choices) out += (out.empty() ? "" : " | ") + json(c).dump();
            return out;
        }
        case HparamType::IntList:
            return std::to_string(s.minItems) + "-" + std::to_string(s.maxItems) + " items, each in " + rangeOf(s.min, s.max);
        case HparamType::StringList:
            return std::to_string(s.minItems) + "-" + std::to_string(s.maxItems) + " non-empty strings of at most " +
                   std::to_string(s.maxBytes) + " bytes";
        case HparamType::PairList:
            return std::to_string(s.minItems) + "-" + std::to_string(s.maxItems) + " pairs [a, b], a in " +
                   rangeOf(s.min, s.max) + ", b in " + rangeOf(s.min2, s.max2);
        case HparamType::Templates:
            return "\"rome\" | \"memit\" | " + std::to_string(s.minItems) + "-" + std::to_string(s.maxItems) +
                   " groups of 1-" + numberText(s.max) + " strings with \"{}\" (at most " + std::to_string(s.maxBytes) +
                   " bytes each)";
    }
    return "";
}

std::string hparamDefaultText(const HparamSpec& spec, EditMethod method) {
    if (spec.key == "layers") return "from the model";
    if (spec.type == HparamType::Templates) return "\"memit\"";
    const json v = spec.get(defaultHparams(method, ModelConfig{}));
    return v.is_number_float() ? numberText(v.get<double>()) : v.dump();
}

std::string hparamsHelpText(EditMethod method, const std::string& indent) {
    std::string out;
    for (const HparamSpec* s : hparamSchema(method)) {
        out += indent + s->key + " (" + hparamTypeName(s->type) + ", default " + hparamDefaultText(*s, method) +
               ", " + hparamRangeText(*s) + ")\n";
        out += indent + "    " + s->help + "\n";
    }
    return out;
}

void checkHparamValue(const HparamSpec& s, const json& v, const std::string& source) {
    const ErrorKind kind = ErrorKind::Config;
    switch (s.type) {
        case HparamType::Int:
            jsonInt(holder(s.key, v), source, s.key, int64_t(s.min), int64_t(s.max), kind);
            return;
        case HparamType::Double:
            jsonNumber(holder(s.key, v), source, s.key, s.min, s.max, kind);
            return;
        case HparamType::Bool:
            jsonBool(holder(s.key, v), source, s.key, kind);
            return;
        case HparamType::String:
            if (s.choices.empty()) {  // free text
                if (!v.is_string() || (v.get_ref<const std::string&>().empty() && s.maxItems != 1) ||
                    v.get_ref<const std::string&>().size() > s.maxBytes)
                    badValue(source, s.key, hparamRangeText(s), v);
                return;
            }
            if (!v.is_string() || std::find(s.choices.begin(), s.choices.end(), v.get<std::string>()) == s.choices.end())
                badValue(source, s.key, hparamRangeText(s) + (s.choices.size() == 1 ? " (the only value supported)" : ""), v);
            return;
        case HparamType::IntList:
            checkList(s, v, source, "a list of " + std::to_string(s.minItems) + " to " + std::to_string(s.maxItems) +
                                        " integers");
            for (size_t i = 0; i < v.size(); ++i) {
                const std::string name = s.key + "[" + std::to_string(i) + "]";
                jsonInt(holder(name, v[i]), source, name, int64_t(s.min), int64_t(s.max), kind);
            }
            return;
        case HparamType::StringList:
            checkList(s, v, source, "a list of strings");
            for (size_t i = 0; i < v.size(); ++i) {
                const std::string name = s.key + "[" + std::to_string(i) + "]";
                const std::string text = jsonString(holder(name, v[i]), source, name, s.maxBytes, kind);
                if (text.empty()) fail(kind, source + ": " + name + " must not be empty");
            }
            return;
        case HparamType::PairList:
            checkList(s, v, source, "a list of [a, b] pairs");
            for (size_t i = 0; i < v.size(); ++i) {
                const std::string name = s.key + "[" + std::to_string(i) + "]";
                if (!v[i].is_array() || v[i].size() != 2) badValue(source, name, "a pair [a, b] of integers", v[i]);
                jsonInt(holder(name + "[0]", v[i][0]), source, name + "[0]", int64_t(s.min), int64_t(s.max), kind);
                jsonInt(holder(name + "[1]", v[i][1]), source, name + "[1]", int64_t(s.min2), int64_t(s.max2), kind);
            }
            return;
        case HparamType::Templates: {
            if (v.is_string()) {
                const std::string& preset = v.get_ref<const std::string&>();
                if (preset != "rome" && preset != "memit")
                    badValue(source, s.key, "\"rome\", \"memit\" or a list of template groups", v);
                return;
            }
            checkList(s, v, source, "\"rome\", \"memit\" or a list of template groups");
            for (size_t g = 0; g < v.size(); ++g) {
                const std::string group = s.key + "[" + std::to_string(g) + "]";
                if (!v[g].is_array() || v[g].empty())
                    badValue(source, group, "a non-empty list of template strings", v[g]);
                if (double(v[g].size()) > s.max)
                    fail(kind, source + ": " + group + " has " + std::to_string(v[g].size()) + " templates (at most " +
                                   numberText(s.max) + ")");
                for (size_t i = 0; i < v[g].size(); ++i) {
                    const std::string name = group + "[" + std::to_string(i) + "]";
                    const std::string t = jsonString(holder(name, v[g][i]), source, name, s.maxBytes, kind);
                    if (t.find("{}") == std::string::npos)
                        fail(kind, source + ": " + name + " must contain \"{}\" where the prompt goes, got " +
                                       quoteForMessage(t, 40));
                }
            }
            return;
        }
    }
}

void applyHparams(EditHparams& h, EditMethod method, const json& j, const std::string& source) {
    if (!j.is_object())
        fail(ErrorKind::Config, source + ": expected a JSON object of hyper-parameters, got " + jsonTypeName(j));
    const auto& ignored = ignoredHparamKeys();
    // Check every key first, then set: a refused file leaves `h` as it was.
    std::vector<std::pair<const HparamSpec*, const json*>> accepted;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        if (std::find(ignored.begin(), ignored.end(), key) != ignored.end()) continue;
        const HparamSpec* spec = findHparam(method, key);
        if (!spec) {
            std::vector<std::string> owners;  // "A", "A and B", "A, B and C"
            for (const MethodInfo& row : methodTable()) {
                const HparamSpec* theirs = findHparam(row.method, key);  // compatibility-only rows do not count
                if (row.method != method && theirs && theirs->recorded) owners.push_back(row.displayName);
            }
            std::string others;
            for (size_t i = 0; i < owners.size(); ++i)
                others += (i == 0 ? "" : i + 1 == owners.size() ? " and " : ", ") + owners[i];
            const std::string name = editMethodDisplayName(method);
            fail(ErrorKind::Config, source + ": " + keyText(key) + " is not a hyper-parameter of " + name +
                                        (others.empty() ? " (unknown to every method)" : " (it is " + others + "'s)") +
                                        "; " + name + "'s are: " + keyList(method));
        }
        checkHparamValue(*spec, it.value(), source);
        accepted.push_back({spec, &it.value()});
    }
    // A template preset first, so that explicit starts / lengths in the same object win.
    std::stable_partition(accepted.begin(), accepted.end(),
                          [](const auto& a) { return a.first->type == HparamType::Templates; });
    for (const auto& [spec, value] : accepted) spec->set(h, *value);
}

void applyHparamsJson(EditHparams& h, EditMethod method, const std::string& text, const std::string& source) {
    applyHparams(h, method, parseJson(text, source), source);
}

void validateHparams(const EditHparams& h, EditMethod method, const std::string& source) {
    for (const HparamSpec* s : hparamSchema(method)) {
        if (!s->recorded) continue;
        if (s->key == "layers" && h.layers.empty()) continue;
        if (s->type == HparamType::Templates && h.contextTemplates.empty()) continue;
        checkHparamValue(*s, s->get(h), source);
    }
}

std::string hparamsToJson(const EditHparams& h, EditMethod method) {
    json j = json::object();
    for (const HparamSpec* s : hparamSchema(method)) {
        if (!s->recorded) continue;
        if (s->type == HparamType::Templates && h.contextTemplates.empty()) continue;
        j[s->key] = s->get(h);
    }
    return j.dump();
}

bool operator==(const EditHparams& a, const EditHparams& b) {
    return a.layers == b.layers && a.vNumGradSteps == b.vNumGradSteps && a.vLr == b.vLr &&
           a.vWeightDecay == b.vWeightDecay && a.klFactor == b.klFactor && a.clampNormFactor == b.clampNormFactor &&
           a.vStopLoss == b.vStopLoss && a.mom2Adjustment == b.mom2Adjustment &&
           a.mom2UpdateWeight == b.mom2UpdateWeight && a.mom2Samples == b.mom2Samples &&
           a.mom2Tokens == b.mom2Tokens && a.contextStarts == b.contextStarts &&
           a.contextLengths == b.contextLengths && a.contextTemplates == b.contextTemplates && a.ftSteps == b.ftSteps &&
           a.ftLr == b.ftLr && a.ftWeightDecay == b.ftWeightDecay && a.ftNormConstraint == b.ftNormConstraint &&
           a.ftStopLoss == b.ftStopLoss && a.graceEps == b.graceEps && a.graceLr == b.graceLr &&
           a.graceIters == b.graceIters && a.graceValueInit == b.graceValueInit &&
           a.graceStopLoss == b.graceStopLoss && a.ikeDemonstrations == b.ikeDemonstrations &&
           a.ikePromptReserve == b.ikePromptReserve && a.ikeDemoTemplate == b.ikeDemoTemplate &&
           a.ikeFactTemplate == b.ikeFactTemplate && a.emmetLambda == b.emmetLambda &&
           a.nullspaceThreshold == b.nullspaceThreshold && a.alphaEditL2 == b.alphaEditL2 &&
           a.wiseMaskRatio == b.wiseMaskRatio && a.wiseLr == b.wiseLr && a.wiseIters == b.wiseIters &&
           a.wiseNormConstraint == b.wiseNormConstraint && a.wiseAlpha == b.wiseAlpha && a.wiseBeta == b.wiseBeta &&
           a.wiseGamma == b.wiseGamma && a.wiseActRatio == b.wiseActRatio && a.wiseShardSize == b.wiseShardSize &&
           a.wiseMergeFreq == b.wiseMergeFreq && a.wiseDensity == b.wiseDensity &&
           a.knSteps == b.knSteps && a.knThreshold == b.knThreshold && a.knLambda1 == b.knLambda1 &&
           a.knLambda2 == b.knLambda2;
}

EditStage editStage(const EditParams& p, double done, double total) {
    // The method's progress layout (its row in engine/edit/methods/ mirrors
    // the Meter of its compute function).
    EditStage st;
    st.fraction = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
    methodInfo(p.method).stage(p, done, st);
    return st;
}

}  // namespace kme
