#pragma once
// A tiny GPT-2 model folder for GUI tests: a real byte-level BPE (trained on
// a few sentences, ~300 tokens), config.json, and random F32 weights in
// model.safetensors under GPT-2's tensor names (engine/model/Architecture.cpp;
// Conv1D weights stored [in, out]). Loads in milliseconds; its answers mean
// nothing, but every code path from folder to bar chart is the real one.
//
// The token embedding gets a large standard deviation so that the
// next-token distribution is peaked (a few clear winners) rather than flat.
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/io/Safetensors.h"
#include "engine/tokenizer/BpeTrainer.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::testing {

struct TinyModelShape {
    int nLayer = 2;       // blocks
    int nHead = 2;        // heads per block
    int nEmbd = 16;       // residual width
    int nPositions = 32;  // context, tokens
    int vocabSize = 300;  // wanted BPE vocabulary (the trainer may stop short)
};

// Writes the folder (created beforehand by the caller). Throws kme::Error.
inline void writeTinyModelFolder(const std::string& dir, uint64_t seed = 7, TinyModelShape s = {}) {
    const std::vector<std::string> texts = {
        "The capital of France is Paris.", "The capital of Italy is Rome.", "The capital of Spain is Madrid.",
        "The Eiffel Tower is located in the city of Paris.", "The Colosseum is located in the city of Rome.",
        "Paris is the capital of France, and Rome is the capital of Italy.",
        "The river of Paris is the Seine; the river of Rome is the Tiber.",
        "The mother tongue of Marie Curie is Polish.", "The language of Spain is Spanish.",
    };
    std::vector<std::string> corpus;
    for (int r = 0; r < 4; ++r) corpus.insert(corpus.end(), texts.begin(), texts.end());
    kme::BpeTrainParams bpe;
    bpe.vocabSize = s.vocabSize;
    bpe.minFrequency = 2;
    kme::trainByteLevelBpe(corpus, bpe, dir + "/vocab.json", dir + "/merges.txt");
    const int vocab = kme::Tokenizer::fromFolder(dir).vocabSize();
    const int eos = vocab - 1;  // the trainer appends <|endoftext|> last

    std::ofstream(dir + "/config.json")
        << "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"activation_function\": \"gelu_new\", "
        << "\"n_layer\": " << s.nLayer << ", \"n_head\": " << s.nHead << ", \"n_embd\": " << s.nEmbd
        << ", \"n_inner\": null, \"n_positions\": " << s.nPositions << ", \"n_ctx\": " << s.nPositions
        << ", \"vocab_size\": " << vocab << ", \"layer_norm_epsilon\": 1e-05, \"tie_word_embeddings\": true"
        << ", \"bos_token_id\": " << eos << ", \"eos_token_id\": " << eos << "}\n";

    std::mt19937_64 rng(seed);
    std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
    auto normal = [&](const std::string& name, std::vector<int64_t> shape, float stdDev) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        std::normal_distribution<float> dist(0.0f, stdDev);
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = dist(rng);
        tensors[name] = {shape, std::move(v)};
    };
    auto constant = [&](const std::string& name, int64_t n, float value) {
        tensors[name] = {{n}, std::vector<float>(static_cast<size_t>(n), value)};
    };
    const int64_t D = s.nEmbd, I = 4 * s.nEmbd;
    normal("wte.weight", {vocab, D}, 1.0f);  // large: peaked next-token distribution (tied lm_head)
    normal("wpe.weight", {s.nPositions, D}, 0.1f);
    for (int l = 0; l < s.nLayer; ++l) {
        const std::string h = "h." + std::to_string(l) + ".";
        constant(h + "ln_1.weight", D, 1.0f);
        constant(h + "ln_1.bias", D, 0.0f);
        normal(h + "attn.c_attn.weight", {D, 3 * D}, 0.2f);
        constant(h + "attn.c_attn.bias", 3 * D, 0.0f);
        normal(h + "attn.c_proj.weight", {D, D}, 0.1f);
        constant(h + "attn.c_proj.bias", D, 0.0f);
        constant(h + "ln_2.weight", D, 1.0f);
        constant(h + "ln_2.bias", D, 0.0f);
        normal(h + "mlp.c_fc.weight", {D, I}, 0.2f);
        constant(h + "mlp.c_fc.bias", I, 0.0f);
        normal(h + "mlp.c_proj.weight", {I, D}, 0.1f);
        constant(h + "mlp.c_proj.bias", D, 0.0f);
    }
    constant("ln_f.weight", D, 1.0f);
    constant("ln_f.bias", D, 0.0f);

    std::vector<kme::TensorData> data;
    for (const auto& [name, t] : tensors)
        data.push_back({name, kme::DType::F32, t.first, t.second.data(), t.second.size() * sizeof(float)});
    kme::writeSafetensors(dir + "/model.safetensors", data, {{"format", "pt"}});
}

}  // namespace kme::testing
