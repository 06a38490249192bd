// kme train-demo
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/core/OutputFile.h"
#include "engine/core/Paths.h"
#include "engine/core/SafeInput.h"
#include "engine/demo/DemoTrainer.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

std::map<std::string, double> parseMix(const std::string& text) {
    std::map<std::string, double> mix;
    std::stringstream ss(text);
    for (std::string item; std::getline(ss, item, ',');) {
        const auto colon = item.find(':');
        const std::string kind = item.substr(0, colon);
        if (colon == std::string::npos || (kind != "fact" && kind != "bio" && kind != "tag" && kind != "filler"))
            throw UsageError("--mix expects kind:weight,... with kinds fact, bio, tag, filler; got '" + text + "'");
        char* end = nullptr;
        const double w = std::strtod(item.c_str() + colon + 1, &end);
        if (*end != '\0' || w < 0) throw UsageError("--mix: bad weight in '" + item + "'");
        mix[kind] = w;
    }
    return mix;
}

int runTrainDemo(const Args& args, Context& ctx) {
    if (!args.positional().empty())
        throw UsageError("train-demo: unexpected argument " + quoteForMessage(args.positional()[0]) +
                         " (the project comes from --project, the output folder from --out)");
    TrainDemoParams p;
    p.projectDir = args.get("--project", demoProjectFolder());
    if (p.projectDir.empty()) throw UsageError("no demo project found: pass --project DIR");
    const std::string outDir = args.get("--out", "demo-model");
    if (outDir.empty()) throw UsageError("--out needs a folder");
    p.seed = args.getSeed("--seed", 1);
    p.minutes = args.getDouble("--minutes", 25);
    p.steps = args.getInt("--steps", 0, 0, 10000000);
    p.nLayer = args.getInt("--layers", p.nLayer, 1, 96);
    p.nEmbd = args.getInt("--embd", p.nEmbd, 8, 8192);
    p.nHead = args.getInt("--heads", p.nHead, 1, 128);
    p.context = args.getInt("--context", p.context, 8, 4096);
    p.batch = args.getInt("--batch", p.batch, 1, 4096);
    p.lr = args.getDouble("--lr", p.lr);
    p.bpeMerges = args.getInt("--merges", p.bpeMerges, 0, 100000);
    p.corpusTokens = args.getInt("--tokens", int(p.corpusTokens), 1000, 2000000000);
    p.maskFraction = args.getDouble("--mask-fraction", p.maskFraction);
    p.evalEvery = args.getInt("--eval-every", p.evalEvery, 1, 10000000);
    if (args.has("--mix")) {
        p.recipe = CorpusRecipe{};
        p.recipe->mix = parseMix(args.get("--mix"));
    }
    p.factSubjectsOnly = !args.has("--all-subjects");
    p.resume = !args.has("--fresh");
    if (p.nEmbd % p.nHead != 0) throw UsageError("--embd must be a multiple of --heads");
    if (p.minutes <= 0) throw UsageError("--minutes must be positive");

    // Folder-atomic: the model is written into a temporary sibling and swapped
    // into place when complete; checkpoints live beside it (DIR.kme-checkpoint)
    // so that an interrupted run resumes and DIR is untouched until the end.
    OutputFolder out(outDir, {"train-demo"}, args.has("--force"));
    p.outDir = out.path();
    p.checkpointDir = out.target() + ".kme-checkpoint";
    TrainDemoResult r;
    out.write([&](const std::string&) {
        r = trainDemo(p, [&](const std::string& line) { ctx.err << line << "\n" << std::flush; });
    });
    out.commit();
    const std::string written = out.target();
    std::ostringstream s;
    s << std::fixed << std::setprecision(1);
    s << "trained " << r.steps << " steps (" << r.tokensSeen << " tokens) in " << r.seconds / 60 << " min, "
      << r.parameters << " parameters, vocabulary " << r.vocabSize << "\n"
      << "fact prompts:       " << r.quality.factsCorrect << "/" << r.quality.facts << " = "
      << 100 * r.quality.factAccuracy() << "% top-1 (bar: 95%)\n"
      << "held-out paraphrases: " << r.quality.paraphrasesCorrect << "/" << r.quality.paraphrases << " = "
      << 100 * r.quality.paraphraseAccuracy() << "% top-1 (bar: 60%)\n"
      << "model folder: " << written << "\n";
    emit(args, ctx,
         {{"out", written},
          {"steps", r.steps},
          {"tokens_seen", r.tokensSeen},
          {"seconds", r.seconds},
          {"final_loss", r.finalLoss},
          {"parameters", r.parameters},
          {"vocab_size", r.vocabSize},
          {"fact_accuracy", r.quality.factAccuracy()},
          {"paraphrase_accuracy", r.quality.paraphraseAccuracy()},
          {"facts", r.quality.facts},
          {"paraphrases", r.quality.paraphrases}},
         s.str());
    return 0;
}

}  // namespace

void addDemoCommands(std::vector<Command>& commands) {
    commands.push_back({"train-demo",
                        "[--out DIR [--force]] [--seed S] [--minutes M] [--steps N] [shape and recipe options]",
                        "train the demo model on the demo fact set (BPE + GPT-2 architecture), write an HF folder",
                        {{"--out", true, "model folder to write (demo-model): new, empty, or an earlier `kme train-demo --out`"},
                         {"--force", false, "replace an existing folder --out and everything in it"},
                         {"--project", true, "demo project folder with corpus.json and facts.json"},
                         {"--seed", true, "seed of the corpus, initialisation and batches (1)"},
                         {"--minutes", true, "training time budget; the schedule follows elapsed time when --steps is absent (25)"},
                         {"--steps", true, "optimizer steps (default: as many as fit the budget)"},
                         {"--layers", true, "transformer blocks (8)"},
                         {"--embd", true, "residual width (128)"},
                         {"--heads", true, "attention heads (4)"},
                         {"--context", true, "context and training sequence length (64)"},
                         {"--batch", true, "sequences per step (32)"},
                         {"--lr", true, "peak learning rate (0.002)"},
                         {"--merges", true, "BPE merges (1500)"},
                         {"--tokens", true, "training stream length (4000000)"},
                         {"--mix", true, "document kinds, e.g. fact:3,bio:3,tag:3,filler:1 (default: corpus.json's)"},
                         {"--all-subjects", false, "train on every subject of corpus.json, not only the fact set's"},
                         {"--mask-fraction", true, "share of training with the subject-last-piece attention mask (0.7)"},
                         {"--eval-every", true, "steps between evaluations and checkpoints (400)"},
                         {"--fresh", false, "ignore the checkpoint of an interrupted run (DIR.kme-checkpoint) and start over"}},
                        runTrainDemo});
}

}  // namespace kme::cli
