#pragma once
// MEND (Mitchell, Lin, Bosselut, Finn, Manning: "Fast Model Editing at
// Scale", ICLR 2022; eric-mitchell/mend, zjunlp/EasyEdit
// easyeditor/trainer/algs/MEND.py): a hyper-network turns the fine-tuning
// gradient of one edit into a weight change. Torch-free: the app and the
// command line include this; the networks live in MendEditor.h.
//
// The gradient of a loss with respect to a linear layer's matrix is a sum of
// rank-one terms, one per token: dL/dW = sum_t u_t delta_t^T (u_t the layer's
// input, delta_t the gradient at its output; [in, out] layout). MEND edits
// the factors, not the dense gradient: per weight shape one small MLP g
// (identity at initialization) maps the normalized [u_t, delta_t] to
// [u~_t, delta~_t], and the edit of matrix i is
//     W_i' = W_i - alpha_i sum_t u~_t delta~_t^T
// with a learned step alpha_i per matrix. The editor covers the MLP up and
// down projections of the last k layers. It is meta-trained (trainMend) so
// that after this one step the edit prompt and its paraphrases give the new
// target (edit loss) while unrelated prompts keep their distribution (KL).
//
// One sign convention differs from the reference code: eric-mitchell/mend
// adds alpha * g (its "descent: False" default) and lets the learned parts
// find the sign; here the step is a descent step, so a fresh editor (the
// identity, statistics empty) makes exactly a plain gradient step of size
// alpha (the paper's W~ = W - alpha grad~).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/eval/Dataset.h"

namespace kme {

class Model;

// The editor's shape (saved with it).
struct MendConfig {
    std::vector<int> layers;  // edited layers (their MLP up and down projections); default the last 3
    int nHidden = 1;          // "n_hidden": hidden (ReLU) layers of each editor MLP; one more, linear, follows
    int rank = 1920;          // "rank": of each layer's low-rank matrix U V (capped at the width in + out)
    double editLr = 1e-4;     // "edit_lr": the initial step alpha of every matrix
    bool norm = true;         // "norm": normalize u and delta by the running mean / std of training
};

// The subjects of each part of a training run (split by subject, so no
// validation or test subject was ever edited in training).
struct MendSplit {
    std::vector<std::string> train, validation, test;
};

// Edit quality of an editor on records (CounterFact scores, rome-style: probabilities, p(new) > p(true)).
struct MendQuality {
    int records = 0;
    double efficacy = 0;      // share of edit prompts with p(new) > p(true) after the edit
    double paraphrase = 0;    // ... of paraphrase prompts
    double neighborhood = 0;  // share of neighbourhood prompts with p(true) > p(new) after the edit
    double editNll = 0;       // mean NLL of target_new (per token) on the edit prompt after the edit
};

struct MendCurvePoint {
    int64_t step = 0;
    double seconds = 0;
    double editLoss = 0;      // mean over the steps since the last point
    double locLoss = 0;       // mean KL over the steps since the last point
    MendQuality validation;
};

struct MendTrainParams {
    std::vector<FactRecord> records;  // the data set (CounterFact schema: paraphrases and neighbours used)
    MendConfig config;                // layers empty = the last `lastLayers`
    int lastLayers = 3;
    uint64_t seed = 0;
    double minutes = 10;              // wall-clock budget
    int64_t maxSteps = 0;             // > 0: stop after this many steps (micro runs, reproducible)
    double lr = 1e-4;                 // "lr": Adam on the editor networks (EasyEdit's GPT-2 XL: 1e-6 over 100k steps)
    double lrLr = 1e-4;               // "lr_lr": Adam on the steps alpha
    double cEdit = 0.1;               // "cedit": weight of the edit loss
    double cLoc = 1.0;                // "cloc": weight of the locality KL
    double gradClip = 100;            // "grad_clip": global norm of the editor's gradient
    double validationShare = 0.1, testShare = 0.1;  // of the subjects
    int evalEvery = 200;              // steps between validation points and checkpoints
    int validationRecords = 40;       // validation records scored at each point (at most)
    int finalRecords = 0;             // validation / test records scored before and after (0 = all)
    std::string out;                  // the editor file written at the end
    std::string checkpoint;           // checkpoint file (empty: out + ".kme-checkpoint"); removed at the end
    bool resume = true;               // continue from the checkpoint when present
};

struct MendTrainResult {
    MendSplit split;
    std::vector<MendCurvePoint> curve;
    MendQuality validationBefore, validationAfter, testBefore, testAfter;
    int64_t steps = 0;
    double seconds = 0;
    bool resumed = false;
    int64_t parameters = 0;  // trainable numbers of the editor
};

using MendLogFn = std::function<void(const std::string& line)>;

// Meta-trains an editor for `model` and writes it to params.out (with its
// config, the split, the curve and the model's weights hash). Throws
// ErrorKind::Input for records without paraphrases or too few subjects.
// `progress` (steps or seconds done, of the budget) is asked before each
// step: false stops the training early, and the editor so far is scored and
// saved. It is also called before each scored record, where its answer is
// not read: a caller that must stop at once (the window's Cancel) throws
// from it, and then nothing is written but checkpoints.
MendTrainResult trainMend(Model& model, const MendTrainParams& params, const MendLogFn& log,
                          const ProgressFn& progress = {});

// What an editor file says about itself (the Edit tab, `kme edit` messages).
struct MendEditorInfo {
    std::string path;
    std::string weightsHash;  // of the model it was trained for
    MendConfig config;
    MendSplit split;
    int64_t steps = 0;        // training steps behind it
    int64_t bytes = 0;        // file size
};
// Reads and validates an editor file's header (ErrorKind::Format naming the
// file and the field for anything malformed).
MendEditorInfo readMendEditorInfo(const std::string& path);
// The editor a model folder carries, "<folder>/mend-editor.safetensors", or "" when none.
std::string defaultMendEditorPath(const std::string& modelFolder);

}  // namespace kme
