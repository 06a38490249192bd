#include "engine/eval/EvalCurvesJson.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "engine/core/Error.h"

namespace kme {

using json = nlohmann::json;

namespace {

json meanOrNull(const MetricStat& s) { return s.count > 0 ? json(s.mean) : json(nullptr); }
json optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::vector<double> numbers(const json& curve, const char* key, size_t size, bool required) {
    std::vector<double> out;
    const auto it = curve.find(key);
    if (it == curve.end()) {
        if (required) fail(ErrorKind::Input, std::string("the curve lacks \"") + key + "\"");
        return std::vector<double>(size, std::nan(""));
    }
    if (!it->is_array() || (size != SIZE_MAX && it->size() != size))
        fail(ErrorKind::Input, std::string("the curve's \"") + key + "\" is not a list of " +
                                   (size == SIZE_MAX ? std::string("numbers") : std::to_string(size) + " numbers"));
    for (const json& v : *it) {
        if (v.is_null()) out.push_back(std::nan(""));
        else if (v.is_number()) out.push_back(v.get<double>());
        else fail(ErrorKind::Input, std::string("the curve's \"") + key + "\" holds a non-number");
    }
    return out;
}

std::string number(const json& v) {
    if (!v.is_number()) return "";
    std::ostringstream o;
    o << std::setprecision(10) << v.get<double>();
    return o.str();
}

}  // namespace

json retentionToJson(const std::vector<RetentionPoint>& points) {
    json j = {{"k", json::array()},          {"efficacy", json::array()}, {"paraphrase", json::array()},
              {"neighborhood", json::array()}, {"count", json::array()},    {"seconds", json::array()}};
    for (const RetentionPoint& p : points) {
        j["k"].push_back(p.k);
        j["efficacy"].push_back(meanOrNull(p.efficacy));
        j["paraphrase"].push_back(meanOrNull(p.paraphrase));
        j["neighborhood"].push_back(meanOrNull(p.neighborhood));
        j["count"].push_back(p.efficacy.count);
        j["seconds"].push_back(p.seconds);
    }
    return j;
}

json scaleToJson(const ScaleCurve& curve) {
    json j = {{"batch", json::array()},      {"batches", json::array()},      {"efficacy", json::array()},
              {"paraphrase", json::array()}, {"neighborhood", json::array()}, {"seconds", json::array()}};
    for (const ScalePoint& p : curve.points) {
        j["batch"].push_back(p.batchSize);
        j["batches"].push_back(p.batches);
        j["efficacy"].push_back(meanOrNull(p.efficacy));
        j["paraphrase"].push_back(meanOrNull(p.paraphrase));
        j["neighborhood"].push_back(meanOrNull(p.neighborhood));
        j["seconds"].push_back(p.seconds);
    }
    return j;
}

json sixPropertiesToJson(const SixProperties& six) {
    return {{"accuracy", optional(six.accuracy)},
            {"generality", optional(six.generality)},
            {"locality", optional(six.locality)},
            {"other_attributes", optional(six.otherAttributes)},
            {"portability", optional(six.portability)},
            {"portability_unedited", optional(six.portabilityUnedited)},
            {"retainability", optional(six.retainability)},
            {"retained_locality", optional(six.retainedLocality)},
            {"scalability", optional(six.scalability)},
            {"scale_batch", six.scaleBatch}};
}

CurveData curveFromJson(const json& curve, const char* xKey) {
    if (!curve.is_object()) fail(ErrorKind::Input, "a curve is not a JSON object");
    CurveData d;
    d.x = numbers(curve, xKey, SIZE_MAX, true);
    d.efficacy = numbers(curve, "efficacy", d.x.size(), true);
    d.paraphrase = numbers(curve, "paraphrase", d.x.size(), false);
    d.neighborhood = numbers(curve, "neighborhood", d.x.size(), true);
    for (double x : d.x)
        if (!std::isfinite(x)) fail(ErrorKind::Input, std::string("the curve's \"") + xKey + "\" holds a null");
    return d;
}

void addCurvesToJson(const MethodRun& run, json& j) {
    if (run.retention) j["retain"] = retentionToJson(run.retention->retention);
    if (run.scale) j["scale"] = scaleToJson(*run.scale);
    if (!run.scaleSkipped.empty()) j["scale_skipped"] = run.scaleSkipped;
    j["six"] = sixPropertiesToJson(sixPropertiesOf(run));
    j["method_seconds"] = run.seconds;
}

std::string methodRunsCsv(const json& runs) {
    std::ostringstream o;
    o << "method,series,x,metric,value\n";
    if (!runs.is_array()) return o.str();
    for (const json& run : runs) {
        const std::string method = run.value("method", std::string());
        if (const auto six = run.find("six"); six != run.end() && six->is_object())
            for (const auto& [key, v] : six->items())
                if (key != "scale_batch") o << method << ",properties,," << key << "," << number(v) << "\n";
        if (const auto m = run.find("metrics"); m != run.end() && m->is_object())
            for (const auto& [key, v] : m->items()) o << method << ",run,," << key << "," << number(v) << "\n";
        for (const auto& [series, xKey] : {std::pair<const char*, const char*>{"retain", "k"}, {"scale", "batch"}}) {
            const auto c = run.find(series);
            if (c == run.end() || !c->is_object()) continue;
            const CurveData d = curveFromJson(*c, xKey);
            for (size_t i = 0; i < d.x.size(); ++i)
                for (const auto& [metric, values] :
                     {std::pair<const char*, const std::vector<double>*>{"efficacy", &d.efficacy},
                      {"paraphrase", &d.paraphrase},
                      {"neighborhood", &d.neighborhood}}) {
                    const double v = (*values)[i];
                    o << method << "," << series << "," << number(json(d.x[i])) << "," << metric << ","
                      << (std::isnan(v) ? std::string() : number(json(v))) << "\n";
                }
        }
    }
    return o.str();
}

json comparisonParamsJson(const ComparisonInfo& info, size_t index) {
    json curves = json::array();
    if (info.retain) curves.push_back("retain");
    if (info.scale) curves.push_back("scale");
    return {{"comparison", info.id},
            {"comparison_methods", info.methods},
            {"comparison_index", index},
            {"curves", curves},
            {"dataset", info.dataset},
            {"method", index < info.methods.size() ? info.methods[index] : std::string()},
            {"mode", "fresh"},
            {"batch_size", 1},
            {"records", info.records},
            {"selection", recordSelectionName(info.selection.how)},
            {"weights_hash", info.weightsHash},
            {"tool", info.tool}};
}

std::string comparisonIdOf(const std::string& paramsJson) {
    const json j = json::parse(paramsJson, nullptr, false);
    if (!j.is_object()) return {};
    const auto it = j.find("comparison");
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace kme
