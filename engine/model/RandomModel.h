#pragma once
// Randomly initialised models of a given shape (benchmarks, tests, the start
// of train-demo): GPT-2's initialisation, N(0, std) weights, unit norms,
// zero biases, output projections scaled by 1/sqrt(2 * n_layer).
#include <cstdint>
#include <memory>
#include <string>

#include "engine/model/Config.h"

namespace kme {
class Transformer;

std::unique_ptr<Transformer> randomTransformer(const ModelConfig& config, uint64_t seed, double stdDev = 0.02);
// GPT-2 small's shape (124M parameters, vocabulary 50257, context 1024).
ModelConfig gpt2SmallConfig();
// A tiny model of a family for tests (2-3 layers, 32-48 wide, vocabulary
// 320, context 64) with each family's quirks switched on: LLaMA with
// grouped-query attention (4 heads, 2 kv heads) and head_dim 16 != 48 / 4;
// Mistral with a sliding window of 4; Qwen2 (q/k/v biases) tied, with a
// window on its last layer; NeoX with rotary_pct 0.5 and parallel residual;
// GPT-J with rotary_dim 4 < head_dim 8. MLP widths differ from the width.
ModelConfig tinyFamilyConfig(Architecture arch);
// LLaMA-family shapes of `kme bench family` (config.json values of the
// published checkpoints): TinyLlama-1.1B (22 x 2048, MLP 5632, 32 heads,
// 4 kv heads) and Llama-2-7B (32 x 4096, MLP 11008, 32 heads); vocabulary
// 32000, untied head, RMSNorm eps 1e-5, RoPE theta 10000; "tiny" (2 x 64,
// 4 heads, 2 kv heads, vocabulary 512) runs the same code in seconds.
ModelConfig llamaShapeConfig(const std::string& size);  // "tiny" | "1b" | "7b"; else throws ErrorKind::Input
}  // namespace kme

namespace kme {
struct RandomFolderOptions {
    std::string namePrefix;  // e.g. "transformer." as in some GPT-2 checkpoints
    int shards = 1;          // > 1 writes model.safetensors.index.json + shards
    std::string dtype = "F32";  // storage dtype: F32, F16 or BF16
    bool tokenizerJson = false; // write tokenizer.json instead of vocab.json + merges.txt
    double stdDev = 0.02;       // weights N(0, stdDev); output projections scaled as GPT-2's
    double perturbVectors = 0;  // > 0: add N(0, this) to every norm weight and bias
    // Draw and write one tensor at a time (the same values as the default
    // path): 7B-shaped benchmarks on a machine that cannot hold the model in
    // float32. One file, no perturbation; tensors in drawing order.
    bool streamed = false;
    // With streamed: weights uniform on [-a, a] with a = stdDev * sqrt(3)
    // (the same standard deviation) from a counter-based generator (splitmix64
    // of seed, tensor and element), filled in parallel: a 7B-shaped model in
    // about a minute instead of a quarter of an hour of serial normal draws.
    // Not randomTransformer's values.
    bool fastUniform = false;
};
// Writes a complete Hugging Face model folder with random weights: config.json
// in the family's keys, weights under the family's Hugging Face tensor names
// (model.layers.0.self_attn.q_proj.weight, gpt_neox.embed_in.weight, ...), and a byte-level BPE vocabulary of config.vocabSize tokens learned
// from a built-in English sample (tests, the GUI's tests, benchmarks).
void writeRandomModelFolder(const std::string& folder, const ModelConfig& config, uint64_t seed,
                            const RandomFolderOptions& options = {});
}  // namespace kme
