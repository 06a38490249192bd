#pragma once
// Engine-internal header (includes ATen): pieces ROME, MEMIT and FT-L share.
// Only engine/edit .cpp files and engine tests include it.
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <map>
#include <vector>

#include "engine/edit/EditMethod.h"
#include "engine/edit/EditSpeed.h"
#include "engine/model/Transformer.h"

namespace kme {
class Tokenizer;
}

namespace kme::edit {

// A template with one "{}" filled with a subject, tokenized.
struct Filled {
    std::vector<int64_t> ids;
    int64_t subjectLast = 0;  // index of the token holding the subject's last byte (ROME's "subject_last")
};
// `tmpl` must hold "{}". The subject token is found from the byte position
// of "{}" (not by searching the text), so a subject that also occurs in a
// context template is still found at its filled place.
Filled fillTemplate(const Tokenizer& tok, const std::string& tmpl, const std::string& subject);
// Python's tmpl.format(prompt) for a template with one "{}".
std::string formatTemplate(const std::string& tmpl, const std::string& inner);

// Right-padded batch [B, T] (pad id 0: causal attention keeps it out of the real tokens).
at::Tensor padBatch(const std::vector<std::vector<int64_t>>& seqs);

// Values of a site of block `layer` at each prompt's subject token, [N, width].
at::Tensor readAtSubject(const Transformer& tf, const std::vector<Filled>& prompts, Site site, int layer);
// ln_f and the output head applied to residual vectors [M, n_embd] -> [M, vocab].
at::Tensor finalLogits(const Transformer& tf, const at::Tensor& hidden);

// C = E[k k^T] of layer `layer`'s MLP key, [n_inner, n_inner] float64.
at::Tensor keySecondMoment(Model& model, int layer, const StatsParams& params, const ProgressFn& progress,
                           StatsInfo* info);
// The same for several layers (duplicates once each): those not cached are
// computed in one pass over the corpus (one forward up to the deepest layer
// per batch), with the same result as one pass per layer. `infos`: one per
// distinct layer, in first-seen order.
std::map<int, at::Tensor> keySecondMoments(Model& model, const std::vector<int>& layers, const StatsParams& params,
                                           const ProgressFn& progress, std::vector<StatsInfo>* infos);

// ROME compute_v / MEMIT compute_z (engine/edit/ValueOptimization.cpp): Adam
// on a vector added at `site` of `layer` at the subject's last token of every
// rewriting prompt.
struct ValueOptions {
    ValuePath path = ValuePath::PositionPrefix;  // how each step runs the model (EditSpeed.h)
    bool recordTrajectory = false;               // keep the vector after every Adam step
};
ValueOptions defaultValueOptions();  // the path of editSpeed()
// Partitions rows of the given widths (columns a forward call must run) into
// groups, each a run of the rows sorted by width, minimising the padded
// columns plus a fixed cost per group: `costTokens` (> 0), else a cost from
// the multiply-adds of one token through one block. Within a group the rows
// keep their order. `group` false: one group of every row, in order.
std::vector<std::vector<size_t>> groupRowsByWidth(const std::vector<int64_t>& width, int64_t tokenMacs, int costTokens,
                                                  bool group);
struct ValueResult {
    at::Tensor init;    // [n_embd] float64: the site's value before (v_init)
    at::Tensor target;  // [n_embd] float64: v_init + delta (v* / z)
    std::vector<double> losses;
    double nllInit = 0, nllFinal = 0;
    std::vector<at::Tensor> trajectory;  // recordTrajectory: delta [n_embd] float64 after each Adam step
    ValuePath path = ValuePath::Full;    // the path that ran (a fast path falls back where it does not apply)
    double forwardFlops = 0;             // FLOP of the forward passes (model + output head), a batch's split evenly
    int rowGroups = 0;                   // forward calls of the first step (rows grouped by width; 1 = one batch)
};
ValueResult optimizeValue(const Model& model, const EditRequest& request, Site site, int layer,
                          const std::vector<std::string>& templates, const EditHparams& hp,
                          const std::function<void()>& onStep, const ValueOptions& options = defaultValueOptions());
// Several requests (MEMIT's batch) in one padded batch per step, each with its
// own vector, Adam state and early stop: equal to optimizeValue per request up
// to float rounding. onStep(request index) after each scored pass.
std::vector<ValueResult> optimizeValues(const Model& model, const std::vector<EditRequest>& requests, Site site,
                                        int layer, const std::vector<std::string>& templates, const EditHparams& hp,
                                        const std::function<void(size_t)>& onStep,
                                        const ValueOptions& options = defaultValueOptions());

// Torch's Adam (amsgrad off) on one tensor, updated in place under no-grad.
class Adam {
public:
    Adam(double lr, double weightDecay = 0, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : lr_(lr), wd_(weightDecay), b1_(beta1), b2_(beta2), eps_(eps) {}
    void step(at::Tensor& param, const at::Tensor& grad);

private:
    double lr_, wd_, b1_, b2_, eps_;
    int64_t t_ = 0;
    at::Tensor m_, v_;
};

// The weight delta W += u v^T of a down projection in its storage orientation,
// from `left` (n_inner side) and `right` (n_embd side) factors [*, r] float64.
TensorDelta downProjectionDelta(const Transformer& tf, int layer, const at::Tensor& left, const at::Tensor& right);
DeltaMatrix toMatrix(const at::Tensor& t);
// A part's delta as a float64 tensor of its tensor's shape (deterministic sum).
at::Tensor materializedDelta(const TensorDelta& part);  // 1-D -> [n, 1]
std::vector<double> toVector(const at::Tensor& t);

// Runs `fn`, then restores every tensor it replaced, even on errors (the
// model is unchanged when computeEdit returns).
class TemporaryEdits {
public:
    explicit TemporaryEdits(Model& model) : stack_(model) {}
    ~TemporaryEdits() { stack_.revertAll(); }
    void apply(const WeightDelta& d) { stack_.apply(d); }

private:
    EditStack stack_;
};

// The methods (Rome.cpp, FineTune.cpp, Emmet.cpp, AlphaEdit.cpp).
EditResult computeRome(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeRRome(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeMemit(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeFineTune(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeGrace(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeIke(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeEmmet(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeAlphaEdit(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeWise(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeMend(Model& model, const EditParams& params, const ProgressFn& progress);  // Mend.cpp
EditResult computeKn(Model& model, const EditParams& params, const ProgressFn& progress);  // KnEdit.cpp

// linalg_solve(a, b), or ErrorKind::Input "the key statistics of layer L are
// singular" (naming the cache file in `info` when it came from one).
at::Tensor solveOrFail(const at::Tensor& a, const at::Tensor& b, int layer, const StatsInfo* info);
at::Tensor identityLike(const at::Tensor& keys);  // float64 identity [n_inner, n_inner] for keys [n_inner, n]

// ROME's closed form (compute_u / compute_v): left = C^-1 k* / |C^-1 k*|
// (k* itself when `mom2` is undefined), right = residual / (key . left), so
// that the change left right^T maps `key` to key W + residual. ROME passes
// the plain prompt's key and v* - its MLP output; r-ROME k* and v* - the
// templates' average MLP output.
struct RankOne {
    at::Tensor left;   // [n_inner] float64
    at::Tensor right;  // [n_embd] float64
};
RankOne romeFactors(const at::Tensor& mom2, const at::Tensor& keyAverage, const at::Tensor& key,
                    const at::Tensor& residual, int layer, const StatsInfo* info, const std::string& method);

// MEMIT's frame (compute_z at the last layer, compute_ks, the residual spread
// over the layers left): per layer the method's solve turns the keys K
// [n_inner, n] into the left factor L [n_inner, n]; the layer's change is
// L R^T (Conv1D orientation), R [n_embd, n] the spread residual.
struct LayerSolve {
    int layer;
    at::Tensor mom2;        // C [n_inner, n_inner] float64; undefined without mom2_adjustment
    at::Tensor keys;        // K [n_inner, n] float64
    const StatsInfo* info;  // the statistics' description (messages), or nullptr
    int64_t* projectorRank; // AlphaEdit sets the rank of its projector here
};
using LayerSolver = std::function<at::Tensor(const LayerSolve&)>;
EditResult spreadOverLayers(Model& model, const EditParams& params, const ProgressFn& progress,
                            const std::string& method, const std::string& hint, const LayerSolver& solve);

// EMMET (unified-model-editing emmet_main.py): C^-1 K D^-1 with
// D = K^T C^-1 K (+ lambda I for n > 1), C = `c` as given (already scaled):
// the left factor of Delta = R D^-1 K^T C^-1, which maps each k_i to r_i
// exactly when lambda = 0 (a pseudo-inverse when D is singular).
at::Tensor emmetLeft(const at::Tensor& c, const at::Tensor& keys, double lambda, int layer, const StatsInfo* info);

// AlphaEdit's projector P = U U^T over the eigenvectors U of the symmetric C
// whose eigenvalues are below `threshold` (AlphaEdit's get_project: SVD of
// the second moment), [n_inner, n_inner] float64. The eigendecomposition is
// cached in memory and on disk under cacheFolder()/stats/nullspace, keyed by
// C's bytes (so by the statistics' key), P per threshold in memory.
struct Projector {
    at::Tensor p;           // [n_inner, n_inner]
    int64_t rank = 0;       // eigenvalues below the threshold
    bool fromCache = false; // the eigendecomposition was loaded, not computed
};
Projector nullSpaceProjector(const at::Tensor& c, double threshold);
// C's eigenvalues, ascending (through the same cache).
at::Tensor keyEigenvalues(const at::Tensor& c);
// AlphaEdit's solve: (P (K K^T + K_p K_p^T) + alpha I)^-1 P K, [n_inner, n]
// (`preserved` [n_inner, m] may be undefined or have no columns).
at::Tensor alphaEditLeft(const at::Tensor& p, const at::Tensor& keys, const at::Tensor& preserved, double alpha);

// Progress in units: `total` known up front, stats report fractions.
class Meter {
public:
    Meter(const ProgressFn& fn, double total) : fn_(fn), total_(total) {}
    void step(double n = 1);
    // A callback for a sub-job worth `span` units.
    ProgressFn sub(double span);

private:
    const ProgressFn& fn_;
    double total_, done_ = 0;
};

}  // namespace kme::edit
