#pragma once
// Causal tracing (Meng et al. 2022, kmeng01/rome experiments/causal_trace.py).
// Torch-free header: the app and the command line see plain structs only.
//
// A batch of `samples` corrupted copies of the prompt: the subject's token
// embeddings (before position embeddings) get sigma * z added, with the same
// z for the corrupted score and for every cell. A cell (token t, layer L)
// restores, at token t, the clean value of
//   hidden: block L's output (one layer);
//   mlp / attn: the MLP / attention outputs of the layers
//     range(max(0, L - W // 2), min(n_layer, L - (-W // 2)))   (Python floor division)
// and scores the mean over the copies of p(answer) at the last position.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/Progress.h"

namespace kme {

class Model;

enum class TraceKind { Hidden, Mlp, Attn };
const char* traceKindName(TraceKind kind);  // "hidden" | "mlp" | "attn"
std::optional<TraceKind> parseTraceKind(const std::string& name);

enum class TraceStrategy {
    Fast,      // restarts from the restored layer with cached keys/values; skips provably-low rows
    Reference  // ROME's: the whole batch, clean row included, for every cell
};

struct NoiseSpec {
    double value = 3.0;        // sigma, or a multiple of the embedding std when `multiple`
    bool multiple = true;      // "3x" (default) vs an absolute "0.1"
    std::string factsPath;     // subjects whose token embeddings give the std ("" = whole matrix)
};
// Parses "0.1" (absolute) or "3x" (multiple). Throws ErrorKind::Input.
NoiseSpec parseNoiseSpec(const std::string& text);

struct TraceParams {
    std::string prompt;                    // the full prompt, subject included
    std::string subject;                   // must occur in the prompt (first occurrence used)
    std::string answer;                    // "" = the clean run's top-1 token; else its first token
    std::vector<TraceKind> kinds = {TraceKind::Hidden, TraceKind::Mlp, TraceKind::Attn};
    int samples = 10;                      // corrupted copies (ignored with noiseIn)
    NoiseSpec noise;
    int window = -1;                       // -1: 10 for >= 20 layers, else max(1, n_layer / 4)
    uint64_t seed = 1;                     // seed of the noise draws z
    TraceStrategy strategy = TraceStrategy::Fast;
    std::string noiseIn;                   // safetensors with tensor "noise" [samples, subject_tokens, n_embd]
    std::string noiseOut;                  // write the draws used
    // Programmatic use (benchmarks, token-level views): trace these ids with
    // this subject token range instead of tokenizing prompt / subject.
    std::vector<int> ids;
    int subjectBegin = -1, subjectEnd = -1;
    // Tuning: the fast strategy cuts its batches into pieces of about this
    // many bytes of temporaries (0 = 16 MiB). The numbers do not depend on
    // it; tests make it tiny to run the piecewise code on tiny models.
    double pieceBytes = 0;
};

struct TraceResult {
    std::vector<std::string> tokens;       // decoded tokens of the prompt
    std::vector<int> ids;
    int subjectBegin = 0, subjectEnd = 0;  // subject token range [begin, end)
    int answerId = 0;
    std::string answerToken;
    double highScore = 0;                  // p(answer) of the clean run, 0..1
    double lowScore = 0;                   // mean p(answer) of the corrupted copies, 0..1
    double sigma = 0;                      // the noise scale used
    std::string sigmaSource;               // "absolute" | "3x std of subject embeddings (N subjects)" | "3x std of the embedding matrix"
    int samples = 0;
    int window = 0;
    uint64_t seed = 0;
    TraceStrategy strategy = TraceStrategy::Fast;
    int nLayer = 0;
    std::vector<TraceKind> kinds;
    // Per kind: [n_tokens][n_layer] p(answer) with the cell restored; NaN
    // where not computed yet (a partial result).
    std::map<TraceKind, std::vector<std::vector<double>>> scores;
    std::map<TraceKind, int> rowsDone;     // token rows finished per kind
    double seconds = 0;
    double flops = 0;                      // floating-point operations of all forward passes
};

// Called after each finished token row, with the partial result.
using TraceRowFn = std::function<void(const TraceResult& partial)>;

// Runs a trace. Throws kme::Error (ErrorKind::Input) for a subject not in
// the prompt, a prompt longer than the context, a noise file that does not
// match; kme::Cancelled when `progress` returns false (after at most one
// layer's work).
TraceResult causalTrace(Model& model, const TraceParams& params, const ProgressFn& progress = {},
                        const TraceRowFn& onRow = {});

// The default window for a model of n layers (see TraceParams::window).
int defaultTraceWindow(int nLayer);
// The restored layers of a window cell: [first, last).
std::pair<int, int> traceWindowLayers(int layer, int window, int nLayer);

// Standard deviation of the token embeddings of `subjects` (each tokenized
// alone), or of the whole embedding matrix when `subjects` is empty. Cached
// per (weights hash, subjects).
double embeddingStd(const Model& model, const std::vector<std::string>& subjects);

}  // namespace kme
