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
}  // namespace kme

namespace kme {
struct RandomFolderOptions {
    std::string namePrefix;  // e.g. "transformer." as in some GPT-2 checkpoints
    int shards = 1;          // > 1 writes model.safetensors.index.json + shards
    std::string dtype = "F32";  // storage dtype: F32, F16 or BF16
    bool tokenizerJson = false; // write tokenizer.json instead of vocab.json + merges.txt
};
// Writes a complete Hugging Face model folder with random weights: config.json,
// weights, and a byte-level BPE vocabulary of config.vocabSize tokens learned
// from a built-in English sample (tests, the GUI's tests, benchmarks).
void writeRandomModelFolder(const std::string& folder, const ModelConfig& config, uint64_t seed,
                            const RandomFolderOptions& options = {});
}  // namespace kme
