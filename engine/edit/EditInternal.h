#pragma once
// Engine-internal header (includes ATen): pieces ROME, MEMIT and FT-L share.
// Only engine/edit .cpp files and engine tests include it.
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <map>
#include <vector>

#include "engine/edit/EditMethod.h"
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

// ROME compute_v / MEMIT compute_z: Adam on a vector added at `site` of
// `layer` at the subject's last token of every rewriting prompt.
struct ValueResult {
    at::Tensor init;    // [n_embd] float64: the site's value before (v_init)
    at::Tensor target;  // [n_embd] float64: v_init + delta (v* / z)
    std::vector<double> losses;
    double nllInit = 0, nllFinal = 0;
};
ValueResult optimizeValue(const Model& model, const EditRequest& request, Site site, int layer,
                          const std::vector<std::string>& templates, const EditHparams& hp,
                          const std::function<void()>& onStep);

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

// The methods (Rome.cpp, FineTune.cpp).
EditResult computeRome(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeMemit(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeFineTune(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeGrace(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeIke(Model& model, const EditParams& params, const ProgressFn& progress);

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
