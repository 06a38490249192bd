#pragma once
// A tiny GPT-2 model folder for GUI tests, made by the engine's own
// writeRandomModelFolder: a real byte-level BPE (~300 tokens), config.json
// and random F32 weights. Loads in milliseconds; its answers mean nothing, but
// every code path from folder to bar chart is the real one.
#include <cstdint>
#include <string>

#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"

namespace kme::testing {

// Writes the folder. Throws kme::Error.
inline void writeTinyModelFolder(const std::string& dir, uint64_t seed = 7) {
    ModelConfig c;
    c.nLayer = 2;
    c.nHead = 2;
    c.nEmbd = 16;
    c.nInner = 64;
    c.nPositions = 32;
    c.vocabSize = 300;
    writeRandomModelFolder(dir, c, seed);
}

}  // namespace kme::testing
