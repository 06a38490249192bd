// kme train-mend: meta-trains MEND's editor for a model (engine/edit/MendTrain.cpp).
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/core/OutputFile.h"
#include "engine/core/Paths.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/Mend.h"
#include "engine/model/Model.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

json qualityJson(const MendQuality& q) {
    return {{"records", q.records}, {"efficacy_score", q.efficacy}, {"paraphrase_score", q.paraphrase},
            {"neighborhood_score", q.neighborhood}, {"edit_nll", q.editNll}};
}

std::string pct(double v) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << 100 * v << "%";
    return s.str();
}

std::string qualityLine(const MendQuality& q) {
    return "efficacy " + pct(q.efficacy) + ", paraphrase " + pct(q.paraphrase) + ", neighbourhood " + pct(q.neighborhood);
}

int runTrainMend(const Args& args, Context& ctx) {
    if (args.positional().size() > 1)
        throw UsageError("train-mend: unexpected argument " + quoteForMessage(args.positional()[1]));
    MendTrainParams p;
    p.minutes = args.getDouble("--minutes", 10);
    p.maxSteps = args.getInt("--steps", 0, 0, 100000000);
    p.seed = args.getSeed("--seed", 0);
    p.lastLayers = args.getInt("--last-layers", 3, 1, 1024);
    p.config.rank = args.getInt("--rank", p.config.rank, 1, 1 << 20);
    p.config.nHidden = args.getInt("--hidden", p.config.nHidden, 0, 8);
    p.config.editLr = args.getDouble("--edit-lr", p.config.editLr);
    p.lr = args.getDouble("--lr", p.lr);
    p.lrLr = args.getDouble("--lr-lr", p.lrLr);
    p.cEdit = args.getDouble("--cedit", p.cEdit);
    p.cLoc = args.getDouble("--cloc", p.cLoc);
    p.evalEvery = args.getInt("--eval-every", p.evalEvery, 1, 100000000);
    p.validationRecords = args.getInt("--val-records", p.validationRecords, 1, 1000000);
    p.finalRecords = args.getInt("--final-records", 0, 0, 100000000);
    p.resume = !args.has("--fresh");
    if (args.has("--layers")) p.config.layers = parseLayerArg("--layers", args.get("--layers"));
    if (p.minutes <= 0 || !std::isfinite(p.minutes)) throw UsageError("--minutes must be positive");
    for (double v : {p.lr, p.lrLr, p.cEdit, p.cLoc})
        if (!(v >= 0 && v <= 1e3)) throw UsageError("--lr, --lr-lr, --cedit and --cloc must be in [0, 1000]");
    if (!(std::fabs(p.config.editLr) <= 1e3)) throw UsageError("--edit-lr must be in [-1000, 1000]");

    std::string datasetPath = args.get("--dataset");
    auto model = loadModelArg(args, ctx);
    if (datasetPath.empty()) {
        if (args.positional().empty() && !demoProjectFolder().empty()) datasetPath = demoProjectFolder() + "/facts.json";
        else throw UsageError("train-mend needs --dataset F (CounterFact records with paraphrases and neighbours)");
    }
    p.out = args.get("--out", model->folder().empty() ? "mend-editor.safetensors" : model->folder() + "/mend-editor.safetensors");
    if (p.out.empty()) throw UsageError("--out needs a file");
    checkOutputFile(p.out, "MEND editor");
    if (args.has("--json") && args.get("--json") != "-") checkOutputFile(args.get("--json"), "JSON output");
    p.records = loadDataset(datasetPath).records;

    const MendTrainResult r = trainMend(*model, p, [&](const std::string& line) { ctx.err << line << "\n" << std::flush; });
    json curve = json::array();
    for (const auto& pt : r.curve)
        curve.push_back({{"step", pt.step}, {"seconds", pt.seconds}, {"edit_loss", pt.editLoss}, {"loc_loss", pt.locLoss},
                         {"validation", qualityJson(pt.validation)}});
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << "trained " << r.steps << " steps in " << r.seconds / 60 << " min"
      << (r.resumed ? " (resumed)" : "") << ", " << r.parameters << " editor parameters\n"
      << "validation before: " << qualityLine(r.validationBefore) << "\n"
      << "validation after:  " << qualityLine(r.validationAfter) << "\n"
      << "test before:       " << qualityLine(r.testBefore) << "\n"
      << "test after:        " << qualityLine(r.testAfter) << "\n"
      << "editor: " << p.out << "\n";
    emit(args, ctx,
         {{"out", p.out},
          {"steps", r.steps},
          {"seconds", r.seconds},
          {"resumed", r.resumed},
          {"parameters", r.parameters},
          {"split", {{"train", r.split.train}, {"validation", r.split.validation}, {"test", r.split.test}}},
          {"curve", curve},
          {"validation", {{"before", qualityJson(r.validationBefore)}, {"after", qualityJson(r.validationAfter)}}},
          {"test", {{"before", qualityJson(r.testBefore)}, {"after", qualityJson(r.testAfter)}}}},
         s.str());
    return 0;
}

}  // namespace

void addMendCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"train-mend",
         "[MODEL] --dataset F [--minutes M] [--steps N] [--out FILE] [--seed S] [--last-layers K | --layers A-B] [--fresh]",
         "meta-train MEND's editor for a model (edit loss on the fact and its paraphrases, locality KL), "
         "split by subject into train / validation / test",
         {{"--dataset", true, "CounterFact records with paraphrase and neighbourhood prompts (default for the demo: its facts)"},
          {"--out", true, "editor file to write (default: MODEL/mend-editor.safetensors, which kme edit --method mend uses)"},
          {"--minutes", true, "training time budget (10)"},
          {"--steps", true, "stop after this many steps (default: as many as fit the budget)"},
          {"--seed", true, "seed of the split, the initialization and the record order (0)"},
          {"--last-layers", true, "edit the MLPs of the last K layers (3)"},
          {"--layers", true, "edit the MLPs of layers A-B instead"},
          {"--rank", true, "rank of each editor layer, capped at its width (1920)"},
          {"--hidden", true, "hidden layers of each editor network (1)"},
          {"--edit-lr", true, "initial step alpha of every matrix (0.0001)"},
          {"--lr", true, "Adam learning rate of the editor networks (0.0001)"},
          {"--lr-lr", true, "Adam learning rate of the steps alpha (0.0001)"},
          {"--cedit", true, "weight of the edit loss (0.1)"},
          {"--cloc", true, "weight of the locality KL (1)"},
          {"--eval-every", true, "steps between validation points and checkpoints (200)"},
          {"--val-records", true, "validation records scored at each point (40)"},
          {"--final-records", true, "validation / test records scored before and after training (0 = all)"},
          {"--fresh", false, "ignore the checkpoint of an interrupted run (FILE.kme-checkpoint) and start over"}},
         runTrainMend});
}

}  // namespace kme::cli
