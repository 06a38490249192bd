// EMMET (Gupta, Sajnani, Anumanchipalli 2024, "A Unified Framework for Model
// Editing"; scalable-model-editing/unified-model-editing emmet/emmet_main.py):
// ROME's equality constraints for a batch, W_new k_i = v_i for every request,
// with the preservation term of ROME (min |(W_new - W) C^1/2|). The closed
// form is Delta = R D^-1 K^T C^-1 with D = K^T C^-1 K (+ lambda I, as the
// reference only for batches of two or more, against an ill-conditioned D),
// spread over the layers as MEMIT (engine/edit/Rome.cpp spreadOverLayers).
#include "engine/edit/EditInternal.h"

#include "engine/core/Error.h"

namespace kme::edit {

at::Tensor emmetLeft(const at::Tensor& c, const at::Tensor& keys, double lambda, int layer, const StatsInfo* info) {
    const at::Tensor cInvK = solveOrFail(c, keys, layer, info);  // C^-1 K [n_inner, n]
    at::Tensor d = at::mm(keys.t(), cInvK);                      // K^T C^-1 K [n, n], symmetric
    d = (d + d.t()) / 2;
    if (d.size(0) > 1) d = d + lambda * at::eye(d.size(0), d.options());
    // C^-1 K D^-1 = (D^-1 (C^-1 K)^T)^T with D symmetric. The reference falls
    // back to a pseudo-inverse when D cannot be inverted (e.g. two requests
    // with the same key and lambda 0).
    at::Tensor left;
    try {
        left = at::linalg_solve(d, cInvK.t()).t();
    } catch (const std::exception&) {
        left = at::Tensor();
    }
    if (!left.defined() || !left.isfinite().all().item<bool>()) left = at::mm(cInvK, at::linalg_pinv(d));
    return left.contiguous();
}

EditResult computeEmmet(Model& model, const EditParams& params, const ProgressFn& progress) {
    const double scale = params.hparams.mom2UpdateWeight, lambda = params.hparams.emmetLambda;
    return spreadOverLayers(model, params, progress, "EMMET", "kl_factor, mom2_update_weight or emmet_lambda",
                            [scale, lambda](const LayerSolve& in) {
                                // The reference scales C by mom2_update_weight (which
                                // cancels unless lambda > 0); C the identity without statistics.
                                const at::Tensor c = in.mom2.defined() ? in.mom2 : identityLike(in.keys);
                                return emmetLeft(scale * c, in.keys, lambda, in.layer, in.info);
                            });
}

}  // namespace kme::edit
