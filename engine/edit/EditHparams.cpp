// Hyper-parameters: method names, the per-model defaults table, JSON
// overrides. Torch-free.
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/edit/EditMethod.h"
#include "engine/model/Config.h"

namespace kme {

namespace {

using json = nlohmann::json;

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

void applyHparamsJson(EditHparams& h, const std::string& text, const std::string& source) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        fail(ErrorKind::Input, source + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) fail(ErrorKind::Input, source + ": expected a JSON object of hyper-parameters");
    // Keys of ROME / MEMIT / FT hparams files that name modules or choices this engine makes itself.
    static const std::set<std::string> ignored = {
        "rewrite_module_tmp", "layer_module_tmp", "mlp_module_tmp", "attn_module_tmp", "ln_f_module",
        "lm_head_module", "mom2_dataset", "mom2_dtype", "v_loss_layer", "batch_size", "kl_factor_ft"};
    auto bad = [&](const std::string& key, const std::string& want) {
        fail(ErrorKind::Input, source + ": '" + key + "' must be " + want);
    };
    auto number = [&](const std::string& key, const json& v, double min) {
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min)
            bad(key, "a number >= " + json(min).dump());
        return v.get<double>();
    };
    auto integer = [&](const std::string& key, const json& v, int64_t min) {
        if (!v.is_number_integer() || v.get<int64_t>() < min) bad(key, "an integer >= " + std::to_string(min));
        return v.get<int64_t>();
    };
    for (const auto& [key, v] : j.items()) {
        if (ignored.count(key)) continue;
        if (key == "layers") {
            if (!v.is_array() || v.empty()) bad(key, "a non-empty list of layer numbers");
            h.layers.clear();
            for (const auto& l : v) h.layers.push_back(static_cast<int>(integer(key, l, 0)));
        } else if (key == "v_num_grad_steps") h.vNumGradSteps = static_cast<int>(integer(key, v, 1));
        else if (key == "v_lr") h.vLr = number(key, v, 0);
        else if (key == "v_weight_decay") h.vWeightDecay = number(key, v, 0);
        else if (key == "kl_factor") h.klFactor = number(key, v, 0);
        else if (key == "clamp_norm_factor") h.clampNormFactor = number(key, v, 0);
        else if (key == "v_stop_loss") h.vStopLoss = number(key, v, 0);
        else if (key == "mom2_adjustment") {
            if (!v.is_boolean()) bad(key, "true or false");
            h.mom2Adjustment = v.get<bool>();
        } else if (key == "mom2_update_weight") h.mom2UpdateWeight = number(key, v, 0);
        else if (key == "mom2_n_samples") h.mom2Samples = static_cast<int>(integer(key, v, 1));
        else if (key == "mom2_n_tokens") h.mom2Tokens = integer(key, v, 0);
        else if (key == "context_template_starts") {
            if (!v.is_array() || v.empty()) bad(key, "a non-empty list of strings");
            h.contextStarts.clear();
            for (const auto& s : v) {
                if (!s.is_string() || s.get<std::string>().empty()) bad(key, "a non-empty list of strings");
                h.contextStarts.push_back(s.get<std::string>());
            }
        } else if (key == "context_template_length_params") {
            if (!v.is_array()) bad(key, "a list of [tokens, count] pairs");
            h.contextLengths.clear();
            for (const auto& p : v) {
                if (!p.is_array() || p.size() != 2) bad(key, "a list of [tokens, count] pairs");
                h.contextLengths.push_back({static_cast<int>(integer(key, p[0], 1)), static_cast<int>(integer(key, p[1], 1))});
            }
        } else if (key == "context_templates") {
            const std::string preset = v.is_string() ? v.get<std::string>() : "";
            if (preset == "rome") {
                h.contextStarts = {"<|endoftext|>"};
                h.contextLengths = {{5, 10}, {10, 10}};
            } else if (preset == "memit") {
                h.contextStarts = {"The", "Therefore", "Because", "I", "You"};
                h.contextLengths = {{10, 5}};
            } else {
                bad(key, "\"rome\" or \"memit\"");
            }
        } else if (key == "fact_token") {
            if (!v.is_string() || v.get<std::string>() != "subject_last") bad(key, "\"subject_last\" (the only one supported)");
        } else if (key == "layer_selection") {
            if (!v.is_string() || v.get<std::string>() != "all") bad(key, "\"all\" (the only one supported)");
        } else if (key == "num_steps") h.ftSteps = static_cast<int>(integer(key, v, 1));
        else if (key == "lr") h.ftLr = number(key, v, 0);
        else if (key == "weight_decay") h.ftWeightDecay = number(key, v, 0);
        else if (key == "norm_constraint") h.ftNormConstraint = number(key, v, 0);
        else if (key == "ft_stop_loss") h.ftStopLoss = number(key, v, 0);
        else fail(ErrorKind::Input, source + ": unknown hyper-parameter '" + key + "'");
    }
}

std::string hparamsToJson(const EditHparams& h, EditMethod method) {
    json j;
    j["layers"] = h.layers;
    if (method == EditMethod::FtL) {
        j["num_steps"] = h.ftSteps;
        j["lr"] = h.ftLr;
        j["weight_decay"] = h.ftWeightDecay;
        j["norm_constraint"] = h.ftNormConstraint;
        j["ft_stop_loss"] = h.ftStopLoss;
        return j.dump();
    }
    j["v_num_grad_steps"] = h.vNumGradSteps;
    j["v_lr"] = h.vLr;
    j["v_weight_decay"] = h.vWeightDecay;
    j["kl_factor"] = h.klFactor;
    j["clamp_norm_factor"] = h.clampNormFactor;
    j["v_stop_loss"] = h.vStopLoss;
    j["mom2_adjustment"] = h.mom2Adjustment;
    if (method == EditMethod::Memit) j["mom2_update_weight"] = h.mom2UpdateWeight;
    j["mom2_n_samples"] = h.mom2Samples;
    j["mom2_n_tokens"] = h.mom2Tokens;
    j["context_template_starts"] = h.contextStarts;
    json lengths = json::array();
    for (const auto& [n, c] : h.contextLengths) lengths.push_back({n, c});
    j["context_template_length_params"] = lengths;
    return j.dump();
}

}  // namespace kme
