#include "app/cli/CliEditSetup.h"

#include "app/cli/Cli.h"
#include "app/cli/CliSupport.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::cli {

EditOverrides editOverridesFromArgs(const Args& args, const MethodInfo& info, bool severalMethods) {
    if (args.has("--stats-corpus") && args.has("--no-mom2"))
        throw UsageError("--stats-corpus and --no-mom2 exclude each other");
    if (args.has("--layer") && args.has("--layers")) throw UsageError("give --layer or --layers, not both");
    EditOverrides o;
    o.seed = args.getSeed("--seed", 0);
    if (args.has("--hparams")) {
        o.hparamsSource = args.get("--hparams");
        o.hparamsJson = readRegularFile(o.hparamsSource, "hyper-parameters file", 16ull << 20);
    }
    if (args.has("--layer")) o.layers = parseLayerArg("--layer", args.get("--layer"));
    if (args.has("--layers")) o.layers = parseLayerArg("--layers", args.get("--layers"));
    if (args.has("--editor")) {
        if (info.method == EditMethod::Mend) o.mendEditor = args.get("--editor");
        else if (!severalMethods) throw UsageError(std::string("--editor goes with --method mend, not ") + info.name);
    }
    const int steps = args.getInt("--steps", -1, 1, 100000);
    if (steps > 0) o.steps = steps;
    o.stepsWhereKnown = severalMethods;
    o.identityStatistics = args.has("--no-mom2");
    const int statsSamples = args.getInt("--stats-samples", -1, 1, 100000000);
    const int statsTokens = args.getInt("--stats-tokens", -1, 0, 2000000000);
    if (statsSamples > 0) o.statsSamples = statsSamples;
    if (statsTokens >= 0) o.statsTokens = statsTokens;
    if (args.has("--stats-corpus")) o.statsCorpusFile = args.get("--stats-corpus");
    if (args.has("--facts") && info.needsDemonstrations) o.demonstrationsFile = args.get("--facts");
    else if (args.has("--facts") && !severalMethods)
        throw UsageError(std::string("--facts goes with a method that uses demonstrations (ike), not ") + info.name);
    return o;
}

std::string editRemedy(EditProblem problem, const std::string& method) {
    const MethodInfo* info = findMethod(method);
    switch (problem) {
        case EditProblem::NoLayer:
            return std::string("choose one with ") +
                   (!info ? "--layer L or --layers A-B" : info->layers == LayerShape::Range ? "--layers A-B" : "--layer L") +
                   " (e.g. where `kme trace --kind mlp` peaks at the subject's last token)";
        case EditProblem::NoStatsCorpus: return "give --stats-corpus FILE, or --no-mom2 for the identity";
        case EditProblem::SingularStatistics: return "use a larger --stats-corpus, or --no-mom2";
        case EditProblem::StaleStatisticsCache: return "delete it, or use a larger --stats-corpus, or --no-mom2";
        case EditProblem::NoSteps: return "leave out --steps for this method";
    }
    return "see `kme help edit`";
}

}  // namespace kme::cli
