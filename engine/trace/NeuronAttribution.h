#pragma once
// Knowledge neurons (Dai et al., "Knowledge Neurons in Pretrained
// Transformers", ACL 2022; code Hunter-DDM/knowledge-neurons, "KN-D" below).
// Torch-free header: the app and the command line see plain structs only.
//
// Attribution: for each layer L, the MLP key a (the input of the down
// projection, after the activation: Site::MlpKey) at the prompt's last token
// is replaced by alpha_k * a, and
//   score_i = a_i / m * sum_k  d p(answer) / d x_i  at x = alpha_k * a,
// p = the softmax probability of the answer's first token at the last
// position (integrated gradients, baseline 0, a Riemann sum of m steps).
// KN-D's points are alpha_k = k/m, k = 0 ... m-1 (src/1_analyze_mlm.py
// scaled_input: a left sum); NeuronRiemann::Right takes k = 1 ... m. The m
// copies run as one batch (or `batch`-sized pieces), and only the last token
// is recomputed: positions before it keep their clean keys and values (a
// cache), so a layer costs m one-token passes through the blocks L ... end,
// forward and backward.
//
// Selection (KN-D src/2_get_kn.py): per prompt the "coarse" neurons have
// score > threshold * (the prompt's largest score over all layers); over the
// fact's prompts (the prompt and its paraphrases) a neuron is kept when it
// is coarse in at least max(share * n, min(3, n)) of the n prompts. KN-D
// starts at share 0.7 and moves it by 0.05 (down when fewer than 2 neurons
// are kept, up when more than 5), at most 6 tries, keeping the last try;
// KN-D averages the count over the facts of a relation, this engine counts
// per fact. A given share (>= 0) is used as it is.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/Progress.h"

namespace kme {

class Model;

enum class NeuronRiemann {
    Left,   // alpha_k = k/m, k = 0 ... m-1 (KN-D; the default)
    Right,  // alpha_k = k/m, k = 1 ... m
};
const char* neuronRiemannName(NeuronRiemann rule);  // "left" | "right"

struct NeuronParams {
    std::string prompt;                    // the fact's prompt; the answer follows its last token
    std::vector<std::string> paraphrases;  // further prompts of the same fact (refinement)
    std::string answer;                    // "" = the prompt's top-1 token; else its first token (leading space added)
    int steps = 20;                        // m, Riemann points per layer (1 ... 10000)
    NeuronRiemann riemann = NeuronRiemann::Left;
    double threshold = 0.2;                // t: coarse = score > t * max (KN-D threshold_ratio), in [0, 1]
    double share = -1;                     // p in [0, 1]; < 0 = adaptive from 0.7 (KN-D)
    int minShared = 3;                     // KN-D's least count of prompts (capped at the number of prompts)
    int batch = 0;                         // scaled copies per forward pass (0 = all steps at once)
    std::vector<int> layers;               // layers to attribute (empty = all)
};

struct NeuronScore {
    int layer = 0;
    int index = 0;     // index in the MLP key, 0 ... n_inner-1
    double score = 0;  // attribution (probability units); for selected neurons: the mean over the prompts
    int prompts = 1;   // selected neurons: prompts in which it is coarse
};

// Per layer, the completeness of integrated gradients: the scores of a layer
// sum to about p(answer | a) - p(answer | 0), closer as steps grow.
struct LayerAttribution {
    int layer = 0;
    double sum = 0;          // sum of the layer's scores
    double max = 0;          // its largest score
    int argmax = 0;          // where
    double pClean = 0;       // p(answer) of the clean run (the same for every layer), 0..1
    double pBaseline = 0;    // p(answer) with the layer's key at the last token set to 0, 0..1
    double gap() const { return sum - (pClean - pBaseline); }
};

struct PromptAttribution {
    std::string prompt;
    std::vector<int> ids;
    std::vector<std::string> tokens;           // decoded
    double prob = 0;                           // p(answer) at the last position, clean, 0..1
    std::vector<std::vector<double>> scores;   // [n_layer][n_inner]; empty rows for layers not attributed
    std::vector<LayerAttribution> layers;      // the attributed layers, in order
    double maxScore = 0;                       // over all attributed layers
    std::vector<NeuronScore> coarse;           // score > threshold * maxScore, by score descending
};

struct NeuronResult {
    int answerId = 0;
    std::string answerToken;
    int nLayer = 0, nInner = 0;
    int steps = 0;
    NeuronRiemann riemann = NeuronRiemann::Left;
    double threshold = 0;
    std::vector<PromptAttribution> prompts;  // [0]: the prompt, then the paraphrases
    std::vector<NeuronScore> neurons;        // the selection (refined over the prompts; the coarse ones of a lone prompt)
    double shareUsed = -1;                   // p of the selection (-1: one prompt, no refinement)
    bool shareAdaptive = false;              // p was adjusted (KN-D)
    int minCount = 1;                        // prompts a kept neuron is coarse in, at least
    double seconds = 0;
};

// Runs the attribution of every prompt and the selection. Throws kme::Error
// (ErrorKind::Input) for an empty prompt or answer, steps out of range, a
// layer out of range; kme::Cancelled when `progress` returns false (checked
// after each layer of each prompt; progress counts layers x prompts).
NeuronResult knowledgeNeurons(Model& model, const NeuronParams& params, const ProgressFn& progress = {});

// The refinement alone (for tests and the GUI's share control): neurons
// coarse in at least max(share * n, min(minShared, n)) of the prompts, with
// their mean score; KN-D's adaptive share when share < 0. Sets shareUsed,
// shareAdaptive, minCount and neurons of `result`.
void selectNeurons(NeuronResult& result, double share, int minShared);

// JSON of a result (`kme neurons --json`): ids, tokens, answer {id, token},
// steps, riemann, threshold, share, scores [n_layer][n_inner] of the prompt,
// layers (per layer sum / max / argmax / p_clean / p_baseline / gap),
// neurons [{layer, index, score, prompts}], prompts (per prompt: prompt, ids,
// prob, max_score, coarse), seconds.
nlohmann::json neuronResultToJson(const NeuronResult& result);

}  // namespace kme
