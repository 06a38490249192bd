// kme methods: the edit-method table (engine/edit/methods/MethodTable.h),
// grouped by family; the --method argument of kme edit / kme eval.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::cli {

const MethodInfo& methodArg(const Args& args) {
    if (!args.has("--method")) return defaultMethod();
    const std::string name = args.get("--method");
    const MethodInfo* row = findMethod(name);
    if (!row) throw UsageError("--method must be " + methodNames(", ", " or ") + ", got " + quoteForMessage(name, 60));
    return *row;
}

std::string methodChoicesHelp() {
    std::string out;
    for (const MethodInfo& m : methodTable())
        out += std::string(out.empty() ? "" : " | ") + m.name + (&m == &defaultMethod() ? " (default)" : "");
    return out;
}

namespace {

using json = nlohmann::json;

json paperJson(const PaperRef& p) {
    return {{"authors", p.authors}, {"title", p.title}, {"venue", p.venue}, {"year", p.year},
            {"arxiv", *p.arxiv ? json(p.arxiv) : json(nullptr)}, {"url", p.url}, {"code", p.code}};
}

json methodJson(const MethodInfo& m) {
    json keys = json::array();
    for (const HparamSpec* s : hparamSchema(m.method))
        if (s->recorded) keys.push_back(s->key);
    return {{"name", m.name},
            {"display_name", m.displayName},
            {"summary", m.summary},
            {"family", familyName(m.family)},
            {"payload", payloadName(m.payload)},
            {"layers", layerShapeName(m.layers)},
            {"batched", m.batched},
            {"needs_key_statistics", m.needsKeyStatistics},
            {"default", &m == &defaultMethod()},
            {"hparams", keys},
            {"paper", paperJson(m.paper)}};
}

int runMethods(const Args& args, Context& ctx) {
    if (!args.positional().empty())
        throw UsageError("methods takes no arguments, got " + quoteForMessage(args.positional().front(), 60));
    json list = json::array();
    for (const MethodInfo& m : methodTable()) list.push_back(methodJson(m));
    json families = json::array();
    std::ostringstream s;
    size_t nameWidth = 0, displayWidth = 0;  // the columns fit the longest names
    for (const MethodInfo& m : methodTable()) {
        nameWidth = std::max(nameWidth, std::string(m.name).size() + 1);
        displayWidth = std::max(displayWidth, std::string(m.displayName).size() + 1);
    }
    for (MethodFamily family : methodFamilies()) {
        json names = json::array();
        const auto rows = methodsOf(family);
        for (const MethodInfo* m : rows) names.push_back(m->name);
        families.push_back({{"name", familyName(family)},
                            {"display_name", familyDisplayName(family)},
                            {"summary", familySummary(family)},
                            {"methods", names}});
        s << familyDisplayName(family) << ": " << familySummary(family) << "\n";
        if (rows.empty()) s << "  (no method yet)\n";
        for (const MethodInfo* m : rows) {
            s << "  " << std::left << std::setw(int(nameWidth)) << m->name << std::setw(int(displayWidth)) << m->displayName
              << " payload " << std::setw(8) << payloadName(m->payload) << " layers " << std::setw(6)
              << layerShapeName(m->layers) << (m->batched ? "batched   " : "one by one") << "  "
              << (m->needsKeyStatistics ? "key statistics" : "no key statistics")
              << (m == &defaultMethod() ? "  (default)" : "") << "\n"
              << "      " << m->summary << "\n"
              << "      " << paperText(m->paper) << "; code " << m->paper.code << "\n";
        }
    }
    s << "\n`kme help edit` lists each method's hyper-parameters.\n";
    emit(args, ctx, {{"methods", list}, {"families", families}}, s.str());
    return 0;
}

}  // namespace

void addMethodCommands(std::vector<Command>& commands) {
    commands.push_back({"methods",
                        "",
                        "list the edit methods (kme edit --method), grouped by family, with their papers",
                        {},
                        runMethods,
                        "JSON: methods: [{name, display_name, summary, family (external_memorization | "
                        "global_optimization | local_modification), payload (weights | adapter | context), layers "
                        "(none | one | range), batched, needs_key_statistics, default, hparams (keys), paper {authors, "
                        "title, venue, year, arxiv, url, code}}], families: [{name, display_name, summary, methods}]"});
}

}  // namespace kme::cli
