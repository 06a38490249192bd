#pragma once
// `kme bench trace`: both tracing strategies on the same model and prompt in
// one run, their ratio, and their GFLOP/s against a plain matmul.
#include <map>
#include <string>

#include "engine/trace/CausalTrace.h"

namespace kme {

class Model;

struct TraceBenchCase {
    std::string model;          // label
    int tokens = 0;             // prompt length
    int subjectTokens = 0;
    int samples = 0;
    int layers = 0;
    int window = 0;             // mlp/attn window used
    double referenceSeconds = 0, fastSeconds = 0;
    double speedup = 0;         // reference / fast
    double referenceGflops = 0, fastGflops = 0;  // achieved, counted matrix-product FLOPs / s
    double referenceTflop = 0, fastTflop = 0;    // work done, 1e12 FLOPs
    // Of that work, the final logits (last position x vocabulary), 1e12 FLOPs.
    double referenceLogitsTflop = 0, fastLogitsTflop = 0;
    // Where the time goes: the clean and corrupted runs before the first row,
    // then the token rows (seconds, measured between rows) by kind: "hidden",
    // "mlp", "attn", or "all kinds" for rows that compute every kind at once
    // (the fast strategy).
    double referenceSetupSeconds = 0, fastSetupSeconds = 0;
    std::map<std::string, double> referenceRowSeconds, fastRowSeconds;
    double maxDifference = 0;   // max |fast - reference| over all cells
};

// Traces an 11-token prompt (the model's tokens of a fixed sentence, cut or
// repeated to 11) with a 4-token subject at tokens [2, 6), all three kinds.
TraceBenchCase benchTrace(Model& model, const std::string& label, int samples);

}  // namespace kme
