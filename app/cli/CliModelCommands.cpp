// kme info | tokenize | predict | generate
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

std::string quoted(const std::string& s) { return json(s).dump(); }

int runInfo(const Args& args, Context& ctx) {
    auto model = loadModelArg(args, ctx);
    const ModelConfig& c = model->config();
    const std::string hash = model->weightsHash();
    const bool gated = c.traits().mlp == MlpKind::Gated;
    int sliding = 0;
    for (int l = 0; l < c.nLayer; ++l) sliding += c.slidingAt(l) ? 1 : 0;
    json j = {{"architecture", architectureName(c.arch)},
              {"model_type", c.modelType},
              {"folder", model->folder()},
              {"n_layer", c.nLayer},
              {"n_head", c.nHead},
              {"n_embd", c.nEmbd},
              {"n_inner", c.nInner},
              {"vocab_size", c.vocabSize},
              {"n_positions", c.nPositions},
              {"activation_function", c.activation},
              {"layer_norm_epsilon", c.layerNormEps},
              {"parameters", model->parameterCount()},
              {"dtype", model->storageDType()},
              {"weights_hash", hash}};
    // The family's traits (CLI.md): what differs between GPT-2, GPT-J, NeoX, LLaMA, Mistral and Qwen2.
    const bool rope = c.traits().positions == PositionKind::Rope;
    json family = {{"norm", c.traits().norm == NormKind::RmsNorm ? "rmsnorm" : "layernorm"},
                   {"positions", rope ? "rope" : "learned"},
                   {"n_kv_head", c.kvHeads()},
                   {"head_dim", c.headDim()},
                   {"parallel_residual", c.residual != ResidualKind::Sequential},
                   {"mlp", gated ? (c.activation == "silu" ? "swiglu" : "gated-" + c.activation) : c.activation},
                   {"tied_head", c.tieWordEmbeddings}};
    if (rope) {
        family["rope_theta"] = c.rope.theta;
        family["rotary_dim"] = c.rope.rotaryDim;
        family["rope_style"] = c.rope.style == RopeStyle::Interleaved ? "interleaved" : "rotate_half";
        family["rope_scaling"] = c.rope.scaling;
    }
    if (c.slidingWindow > 0) {
        family["sliding_window"] = c.slidingWindow;
        family["sliding_layers"] = sliding;
    }
    j["family"] = family;
    std::ostringstream s;
    s << model->folder() << "\n  " << architectureName(c.arch) << ": " << c.nLayer << " layers x " << c.nEmbd
      << " wide, " << c.nHead << " heads";
    if (c.kvHeads() != c.nHead) s << " (" << c.kvHeads() << " kv heads)";
    s << " of " << c.headDim() << ", MLP " << c.nInner << (gated ? " gated " : " ") << c.activation << ", vocabulary "
      << c.vocabSize << ", context " << c.nPositions << "\n  " << describePositions(c) << "; " << describeNorm(c) << "; "
      << describeResidual(c) << " residual; " << (c.tieWordEmbeddings ? "tied" : "untied") << " output head";
    if (c.slidingWindow > 0) s << "; sliding window " << c.slidingWindow << " on " << sliding << " of " << c.nLayer << " layers";
    s << "\n  " << model->parameterCount() << " parameters, " << model->storageDType() << "\n  weights hash " << hash
      << "\n";
    emit(args, ctx, j, s.str());
    return 0;
}

int runTokenize(const Args& args, Context& ctx) {
    const std::string text = args.require("--text");
    auto model = loadModelArg(args, ctx);
    // Exactly the ids the model is fed (encodePrompt): special tokens typed in
    // the text matched as HF tokenizers do by default, the post-processor's BOS.
    const Tokenizer& tok = model->tokenizer();
    const auto spans = tok.encodeForModelWithOffsets(text);
    json ids = json::array(), tokens = json::array(), offsets = json::array();
    std::vector<int> idList;
    std::ostringstream s;
    for (const auto& t : spans) {
        idList.push_back(t.id);
        ids.push_back(t.id);
        tokens.push_back(model->tokenizer().tokenDisplay(t.id));
        offsets.push_back({t.start, t.end});
        s << t.id << "\t" << quoted(model->tokenizer().tokenDisplay(t.id)) << "\t[" << t.start << ", " << t.end
          << ")\n";
    }
    // What HF's decode() gives back (LLaMA's decoder drops the prefix space its normalizer added).
    const std::string decoded = utf8::sanitize(tok.decodeText(idList));
    s << "decoded: " << quoted(decoded) << "\n";
    emit(args, ctx, {{"ids", ids}, {"tokens", tokens}, {"offsets", offsets}, {"decoded", decoded}}, s.str());
    return 0;
}

int runPredict(const Args& args, Context& ctx) {
    const std::string prompt = args.require("--prompt");
    const int k = args.getInt("--top-k", 10, 1, 1000000);
    const SessionModelState state = loadModelOrSessionArg(args, ctx);
    const auto& model = state.model;
    const auto ids = model->encodePrompt(prompt);
    const auto top = model->topNext(ids, k);
    json list = json::array();
    std::ostringstream s;
    s << quoted(prompt) << " ->\n";
    for (const auto& t : top) {
        list.push_back({{"id", t.id}, {"token", t.token}, {"prob", t.prob}});
        s << "  " << std::fixed << std::setprecision(4) << t.prob << "  " << quoted(t.token) << " (" << t.id << ")\n";
    }
    json j = {{"ids", ids}, {"top", list}};
    if (!state.path.empty()) {
        j["session"] = state.toJson();
        s << state.summaryLine();
    }
    emit(args, ctx, j, s.str());
    return 0;
}

int runGenerate(const Args& args, Context& ctx) {
    const std::string prompt = args.require("--prompt");
    GenerateParams p;
    p.maxNewTokens = args.getInt("--max-new-tokens", 20, 0, 100000);
    p.topK = args.getInt("--top-k", 1, 1, 1000000);
    p.seed = args.getSeed("--seed", 0);
    const SessionModelState state = loadModelOrSessionArg(args, ctx);
    const auto& model = state.model;
    const auto ids = model->encodePrompt(prompt);
    const auto r = model->generate(ids, p);
    json j = {{"text", r.text}, {"ids", r.ids}, {"prompt_ids", ids}};
    std::string summary = prompt + r.text + "\n";
    if (!state.path.empty()) {
        j["session"] = state.toJson();
        summary += state.summaryLine();
    }
    emit(args, ctx, j, summary);
    return 0;
}

}  // namespace

void addModelCommands(std::vector<Command>& commands) {
    commands.push_back({"info", "[MODEL]", "family (gpt2, gptj, gptneox, llama, mistral, qwen2) and its traits (heads / kv heads / head_dim, rotary, norm, residual, MLP), sizes, parameter count, dtype and weights hash", {}, runInfo});
    commands.push_back({"tokenize",
                        "[MODEL] --text T",
                        "the token ids the model is fed (with the BOS token where the tokenizer's post-processor "
                        "adds one), decoded tokens, byte offsets and the decoded text; special tokens typed in the "
                        "text (\"<s>\", \"<|begin_of_text|>\") are matched as HF tokenizers do by default",
                        {{"--text", true, "text to tokenize"}},
                        runTokenize});
    commands.push_back({"predict",
                        "[MODEL] --prompt T [--top-k 10] [--session DB]",
                        "the most likely next tokens with full-softmax probabilities",
                        {{"--prompt", true, "the prompt"},
                         {"--top-k", true, "how many tokens (10)"},
                         {"--session", true, kSessionOptionHelp}},
                        runPredict});
    commands.push_back({"generate",
                        "[MODEL] --prompt T [--max-new-tokens 20] [--top-k 1] [--seed 0] [--session DB]",
                        "continue a prompt (greedy, or seeded top-k sampling)",
                        {{"--prompt", true, "the prompt"},
                         {"--max-new-tokens", true, "tokens to add (20)"},
                         {"--top-k", true, "1 = greedy (default); k > 1 samples among the k most likely"},
                         {"--seed", true, "sampling seed (0)"},
                         {"--session", true, kSessionOptionHelp}},
                        runGenerate});
}

}  // namespace kme::cli
