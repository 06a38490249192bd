// kme neurons: knowledge-neuron attribution (Dai et al., ACL 2022) of a
// prompt's answer to the MLP neurons, refined over paraphrases.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/model/Model.h"
#include "engine/trace/NeuronAttribution.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

// A JSON list of strings, or one prompt a line (empty lines skipped).
std::vector<std::string> readParaphrases(const std::string& path) {
    const std::string text = readTextFile(path, "paraphrase file");
    const size_t first = text.find_first_not_of(" \t\r\n");
    std::vector<std::string> out;
    if (first != std::string::npos && text[first] == '[') {
        const json j = parseJson(text, path);
        for (const auto& item : j) {
            if (!item.is_string()) fail(ErrorKind::Format, path + ": the paraphrase list must hold strings only");
            if (!item.get<std::string>().empty()) out.push_back(item.get<std::string>());
        }
        return out;
    }
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos) out.push_back(line);
    }
    return out;
}

std::string summary(const NeuronResult& r) {
    std::ostringstream s;
    const PromptAttribution& main = r.prompts.front();
    s << std::fixed << std::setprecision(4);
    s << "answer " << json(r.answerToken).dump() << ": p " << main.prob << "; " << r.prompts.size() << " prompt"
      << (r.prompts.size() == 1 ? "" : "s") << ", " << r.steps << " steps (" << neuronRiemannName(r.riemann)
      << " Riemann sum), " << std::setprecision(2) << r.seconds << " s\n" << std::setprecision(4);
    s << "  layer  sum(IG)   p(a)-p(0)   gap      max neuron\n";
    for (const auto& la : main.layers)
        s << "  " << std::setw(5) << la.layer << "  " << std::setw(8) << la.sum << "  " << std::setw(9)
          << la.pClean - la.pBaseline << "  " << std::setw(8) << la.gap() << "  " << la.argmax << " (" << la.max
          << ")\n";
    s << "coarse neurons (score > " << std::setprecision(2) << r.threshold << " x max) per prompt:";
    for (const auto& pa : r.prompts) s << " " << pa.coarse.size();
    s << "\n";
    if (r.shareUsed >= 0)
        s << "kept when coarse in >= max(" << r.shareUsed << " x " << r.prompts.size() << ", " << r.minCount
          << ") prompts" << (r.shareAdaptive ? " (share adapted as KN-D)" : "") << ": ";
    else
        s << "selected (one prompt, no refinement): ";
    s << r.neurons.size() << " neuron" << (r.neurons.size() == 1 ? "" : "s") << "\n" << std::setprecision(5);
    for (size_t i = 0; i < std::min<size_t>(r.neurons.size(), 20); ++i)
        s << "  L" << r.neurons[i].layer << " #" << r.neurons[i].index << "  score " << r.neurons[i].score << "  in "
          << r.neurons[i].prompts << " prompt(s)\n";
    if (r.neurons.size() > 20) s << "  … " << r.neurons.size() - 20 << " more in --json\n";
    return s.str();
}

int runNeurons(const Args& args, Context& ctx) {
    NeuronParams p;
    p.prompt = args.require("--prompt");
    if (args.has("--answer") && args.has("--target"))
        throw UsageError("--answer and --target are the same option; give one");
    const std::string answerFlag = args.has("--target") ? "--target" : "--answer";
    if (args.has(answerFlag)) {
        p.answer = args.get(answerFlag);
        if (p.answer.find_first_not_of(' ') == std::string::npos)
            throw UsageError(answerFlag + " needs a non-empty answer (leave it out for the model's top-1)");
    }
    p.steps = args.getInt("--steps", 20, 1, 10000);
    const std::string rule = args.get("--riemann", "left");
    if (rule != "left" && rule != "right") throw UsageError("--riemann must be left or right, got '" + rule + "'");
    p.riemann = rule == "left" ? NeuronRiemann::Left : NeuronRiemann::Right;
    p.threshold = args.getDouble("--threshold", 0.2);
    if (!(p.threshold >= 0 && p.threshold <= 1))
        throw UsageError("--threshold expects a number in [0, 1], got '" + args.get("--threshold") + "'");
    if (args.has("--share")) {
        p.share = args.getDouble("--share", -1);
        if (!(p.share >= 0 && p.share <= 1))
            throw UsageError("--share expects a number in [0, 1], got '" + args.get("--share") + "'");
    }
    p.minShared = args.getInt("--min-prompts", 3, 1, 1000000);
    p.batch = args.getInt("--batch", 0, 0, 10000);
    if (args.has("--layers")) p.layers = parseLayerArg("--layers", args.get("--layers"));
    if (args.has("--paraphrases")) p.paraphrases = readParaphrases(args.get("--paraphrases"));

    const SessionModelState state = loadModelOrSessionArg(args, ctx);
    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const NeuronResult r = knowledgeNeurons(*state.model, p, [&](double done, double total) {
        if (bar) ctx.err << "\rattributing: " << int(done) << "/" << int(total) << " layers" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";
    json j = neuronResultToJson(r);
    if (!state.path.empty()) j["session"] = state.toJson();
    emit(args, ctx, j, summary(r) + (state.path.empty() ? std::string() : state.summaryLine()));
    return 0;
}

}  // namespace

void addNeuronCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"neurons",
         "[MODEL] --prompt T [--target A] [--paraphrases F] [--steps 20] [--threshold 0.2] [--share P] "
         "[--session DB]",
         "knowledge neurons: integrated-gradient attribution of the answer to each MLP neuron (Dai et al. 2022)",
         {{"--prompt", true, "the prompt; the answer follows its last token"},
          {"--target", true, "the answer whose probability is attributed (its first token; default: the top-1)"},
          {"--answer", true, "the same as --target (shared/CLI.md's name)"},
          {"--paraphrases", true,
           "file of further prompts of the same fact (a JSON list of strings, or one a line): neurons are refined "
           "over all prompts"},
          {"--steps", true, "Riemann points m per layer (20): m backward passes of the last token per layer"},
          {"--riemann", true, "left (default: alpha = k/m, k = 0..m-1, as the paper's code) or right (k = 1..m)"},
          {"--threshold", true, "t: a prompt's coarse neurons have score > t x its largest score (0.2)"},
          {"--share", true,
           "p: keep neurons coarse in >= max(p x n, min(3, n)) of the n prompts (default: adaptive from 0.7 "
           "towards 2-5 neurons, as the paper's code)"},
          {"--min-prompts", true, "the least count of prompts in that rule (3, capped at n)"},
          {"--batch", true, "scaled copies per forward pass (0 = all steps at once)"},
          {"--layers", true, "attribute only these layers: L or A-B (default: all)"},
          {"--session", true, kSessionOptionHelp}},
         runNeurons,
         "Attribution (Dai et al., ACL 2022; Hunter-DDM/knowledge-neurons): for each layer L the MLP key a (the\n"
         "input of the down projection, after the activation) at the prompt's last token is replaced by alpha_k a\n"
         "and score_i = a_i / m * sum_k d p(answer) / d a_i at alpha_k a, p = the softmax probability of the\n"
         "answer's first token. Completeness: a layer's scores sum to about p(answer | a) - p(answer | 0); the\n"
         "summary and the JSON print both and their gap, which shrinks as --steps grows.\n\n"
         "JSON: prompt, ids, tokens, answer {id, token}, n_layer, n_inner, steps, riemann, threshold, share,\n"
         "share_adaptive, min_prompts, p_clean, scores [n_layer][n_inner] (the prompt's attributions), layers\n"
         "[{layer, sum, max, argmax, p_clean, p_baseline, expected_sum, gap}], neurons [{layer, index, score,\n"
         "prompts}] (the selection; score = mean over the prompts), prompts [{prompt, ids, prob, max_score,\n"
         "coarse, completeness}], seconds.\n\n"
         "Example: kme neurons --prompt \"The capital of Germany is\" --target Berlin --paraphrases para.txt --json -"});
}

}  // namespace kme::cli
