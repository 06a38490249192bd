#pragma once
// Engine-internal (includes ATen): MEND's editor networks (see Mend.h), the
// gradient factors of an edit, the pseudo-step, and the editor file.
//
// Per weight shape (in x out) one GradientTransform, shared by the matrices
// of that shape (EasyEdit's "shared: True"): EasyEdit's IDMLP in its
// "combine" form over x = [u~, delta~] (width in + out), n_hidden + 1
// low-rank layers, each
//     y = act((U (V x) + b) * scale[mode] + shift[mode]) + x
// with U [D, r] zero at initialization (so the network starts as the
// identity), V [r, D] standard normal, act = ReLU on the hidden layers and the
// identity on the last, and per matrix ("mode") a scale (1) and shift (0).
// Inputs are normalized by running statistics gathered in training:
// (u - mean_u) / (std_u + 1e-7), std = sqrt(s / (k - 1)) (Welford);
// before two samples have been seen the mean is 0 and the std 1.
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/edit/Mend.h"

namespace kme {

class Transformer;

namespace edit {

struct MendLayer {
    at::Tensor U;      // [D, r]
    at::Tensor V;      // [r, D]
    at::Tensor b;      // [D]
    at::Tensor scale;  // [n_modes, D]
    at::Tensor shift;  // [n_modes, D]
    bool relu = true;
};

class GradientTransform {
public:
    GradientTransform() = default;
    GradientTransform(int64_t xDim, int64_t deltaDim, int64_t nModes, const MendConfig& config);

    int64_t xDim = 0, deltaDim = 0, nModes = 0;
    bool norm = true;
    std::vector<MendLayer> layers;
    // Running statistics (float64, no gradient): count k, means, sums of squared deviations.
    double k = 0;
    at::Tensor uMean, uS, vMean, vS;  // [xDim], [xDim], [deltaDim], [deltaDim]

    // Folds rows u [N, xDim], delta [N, deltaDim] into the statistics (Chan et al.'s merge of Welford sums).
    void updateStats(const at::Tensor& u, const at::Tensor& delta);
    at::Tensor uStd() const;  // 1 while k < 2
    at::Tensor vStd() const;
    // (u~, delta~) for rows u, delta of matrix `mode` (float32, with gradient to the parameters).
    std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& u, const at::Tensor& delta, int64_t mode) const;
    // The MLP alone on already normalized input x [N, D].
    at::Tensor mlp(const at::Tensor& x, int64_t mode) const;
    std::vector<at::Tensor> parameters() const;
};

// One edited matrix.
struct MendMatrix {
    std::string tensor;   // canonical tensor name ("h.7.mlp.c_fc.weight")
    std::string shape;    // its GradientTransform's key "in x out"
    int64_t mode = 0;     // its index among the matrices of that shape
    int64_t in = 0, out = 0;
    bool outIn = false;   // stored [out, in] (nn.Linear) rather than [in, out] (GPT-2 Conv1D)
    int layer = 0;
    bool up = false;      // the MLP up projection (else the down projection)
};

struct MendEditor {
    MendConfig config;
    std::vector<MendMatrix> matrices;                // in order: per layer the up, then the down projection
    std::map<std::string, GradientTransform> nets;   // by shape key
    at::Tensor editLrs;                              // [n_matrices] float32, alpha per matrix
    std::string weightsHash;                         // of the model it was made for
    MendSplit split;
    int64_t steps = 0;
    std::string curveJson = "[]";                    // the training curve, as written

    std::vector<at::Tensor> parameters() const;      // the nets' parameters, then editLrs
    int64_t parameterCount() const;
};

// A fresh editor (identity networks, empty statistics) for the model's
// MLPs at config.layers. ErrorKind::Input for a model MEND does not support
// here (gated MLPs, parallel residual blocks) or bad layers.
MendEditor newMendEditor(const Model& model, const MendConfig& config, uint64_t seed);

// The rank-one factors of the gradient of `loss` at each matrix: rows of
// the layer's input u [N, in] and output gradient delta [N, out] over the
// batch's positions, rows where either is all zero dropped.
struct GradFactors {
    at::Tensor u, delta;
};
// The teacher-forced target NLL (FT-M's target_new loss) of prompt+target
// sequences ids [B, T] on the model as it is; the factors of every matrix of
// `editor`, and the loss value.
std::vector<GradFactors> gradientFactors(const Transformer& tf, const MendEditor& editor, const at::Tensor& ids,
                                         const std::vector<int64_t>& promptLen, const std::vector<int64_t>& totalLen,
                                         double* loss = nullptr);

// The change of each matrix, -alpha_i sum_t u~_t delta~_t^T in the tensor's
// stored layout (with gradient to the editor when `training`, which also
// folds the factors into the statistics first).
std::vector<at::Tensor> mendDeltas(MendEditor& editor, const std::vector<GradFactors>& factors, bool training);

// Prompt + target token sequences of requests (the target normalized with
// its leading space), right-padded.
struct TargetBatch {
    at::Tensor ids;                         // [B, T]
    std::vector<int64_t> promptLen, totalLen;
};
TargetBatch targetBatch(const Model& model, const std::vector<std::pair<std::string, std::string>>& promptTargets);

void saveMendEditor(const MendEditor& editor, const std::string& path);
// Loads and checks an editor file: every tensor present with its shape and
// dtype, finite; ErrorKind::Format naming the file and the culprit. With a
// model: its weights hash and shapes must match (ErrorKind::Input otherwise).
MendEditor loadMendEditor(const std::string& path, const Model* model = nullptr);

}  // namespace edit
}  // namespace kme
