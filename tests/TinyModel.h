#pragma once
// What the model, evaluation and command-line tests share: the tiny random
// GPT-2s they run on (fast on a CPU) and reading a file whole.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"

namespace kme::testing {

inline ModelConfig tinyModelConfig() {
    ModelConfig c;
    c.nLayer = 3;
    c.nHead = 2;
    c.nEmbd = 32;
    c.nInner = 64;
    c.nPositions = 48;
    c.vocabSize = 500;
    return c;
}

// A smaller one: 2 layers of width 16 (64 inner), 300 tokens, `positions` long.
inline ModelConfig smallModelConfig(int positions = 64) {
    ModelConfig c;
    c.nLayer = 2;
    c.nHead = 2;
    c.nEmbd = 16;
    c.nInner = 64;
    c.nPositions = positions;
    c.vocabSize = 300;
    return c;
}

// A random tinyModelConfig() folder; another `seed`, other weights.
inline void writeTinyModel(const std::string& folder, uint64_t seed) {
    writeRandomModelFolder(folder, tinyModelConfig(), seed);
}

// The bytes of a file ("" when it cannot be read).
inline std::string fileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace kme::testing
