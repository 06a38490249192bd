#pragma once
// `kme train-demo`: learns a byte-level BPE vocabulary and trains a small
// GPT-2-architecture model on the demo corpus, then writes a complete Hugging
// Face model folder that the ordinary loader reads.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/core/Progress.h"
#include "engine/demo/DemoCorpus.h"

namespace kme {

class Model;
struct Dataset;

struct TrainDemoParams {
    std::string projectDir;      // holds corpus.json and facts.json
    std::string outDir;          // the model folder written
    uint64_t seed = 1;
    double minutes = 25;         // wall-clock budget; when steps == 0 the schedule (warm-up, cosine, mask) follows elapsed time
    int steps = 0;               // optimizer steps; > 0 = a step-based schedule, reproducible on any machine
    // Model shape.
    int nLayer = 8;
    int nHead = 4;
    int nEmbd = 128;
    int context = 64;            // n_positions and the training sequence length
    // Tokenizer.
    int bpeMerges = 1500;        // learned merges (vocabulary = 256 + merges + 1)
    int nameWordCount = 30;      // pre-token count given to words found only in subject names
    int bpeDocs = 20000;         // documents counted for the BPE
    // Optimisation.
    int batch = 32;
    double lr = 2e-3;
    double weightDecay = 0.1;
    int warmup = 100;
    double minLrShare = 0.1;     // the cosine decays to this share of lr
    int64_t corpusTokens = 4000000;  // training stream length
    std::optional<CorpusRecipe> recipe;  // default: corpus.json's "documents"
    bool factSubjectsOnly = true;        // train on the fact set's subjects (with all their attributes)
    // Training-time attention mask: tokens after a subject mention may see
    // only its last piece, so the subject's attributes must gather there.
    double maskFraction = 0.7;   // share of training (from the start) that uses it
    double maskRows = 1.0;       // share of sequences masked while on
    int evalEvery = 400;         // steps between evaluations and checkpoints
    bool resume = true;          // continue from the checkpoint folder when present
    std::string checkpointDir;   // checkpoints (weights, optimizer, tokenizer); empty = <outDir>/checkpoint.
                                 // Removed once training finished.
};

struct DemoQuality {
    int facts = 0, factsCorrect = 0;             // requested_rewrite prompts, true target's first token top-1
    int paraphrases = 0, paraphrasesCorrect = 0;  // held-out paraphrase prompts
    double factAccuracy() const { return facts ? double(factsCorrect) / facts : 0; }
    double paraphraseAccuracy() const { return paraphrases ? double(paraphrasesCorrect) / paraphrases : 0; }
};

struct TrainDemoResult {
    int steps = 0;
    int64_t tokensSeen = 0;
    double seconds = 0;
    double finalLoss = 0;
    int64_t parameters = 0;
    int vocabSize = 0;
    DemoQuality quality;
};

// Top-1 accuracy of the first token of the true target on the fact prompts
// and their held-out paraphrases.
DemoQuality evaluateDemoQuality(const Model& model, const Dataset& facts);
class Transformer;
class Tokenizer;
DemoQuality evaluateDemoQuality(const Transformer& tf, const Tokenizer& tok, const Dataset& facts);

using TrainLogFn = std::function<void(const std::string& line)>;

TrainDemoResult trainDemo(const TrainDemoParams& params, const TrainLogFn& log, const ProgressFn& progress = {});

}  // namespace kme
