// The forward pass in the live state: the weights plus what the edit stack
// put beside them (adapters acting at intervention sites, a context placed
// before every input). The context is computed once per state as a
// key/value prefix and prepended as "past"; the caller's positions, caches
// and interventions stay relative to its own tokens, so tracing, scoring,
// generation and editing run unchanged on a state with a context.
#include <ATen/ATen.h>

#include "engine/core/Error.h"
#include "engine/model/Transformer.h"

namespace kme {

void Transformer::setResidentState(ResidentState state) {
    std::lock_guard<std::mutex> lock(contextMutex_);
    resident_ = std::move(state);
    contextCache_.reset();
}

namespace {

// Shifts an intervention of the caller's coordinates by `offset` context positions.
Intervention shifted(const Intervention& iv, int64_t offset) {
    Intervention out = iv;
    if (iv.op == Intervention::Op::Custom) {
        auto fn = iv.fn;
        out.fn = [fn, offset](const at::Tensor& x, int64_t position) { return fn(x, position - offset); };
    } else if (iv.positions.defined()) {
        out.positions = iv.positions + offset;
    }
    return out;
}

at::Tensor prependAlongTime(const at::Tensor& context, const at::Tensor& rest) {
    if (!rest.defined()) return context;
    const int64_t batch = std::max(context.size(0), rest.size(0));
    auto widen = [&](const at::Tensor& t) {
        return t.size(0) == batch ? t : t.expand({batch, t.size(1), t.size(2), t.size(3)});
    };
    return at::cat({widen(context), widen(rest)}, 2);
}

}  // namespace

ForwardResult Transformer::forwardResident(const ForwardRequest& req) const {
    std::vector<Intervention> first, last;
    for (const auto& hook : resident_.hooks) hook->attach(first, last);
    const int64_t P = int64_t(resident_.contextIds.size());

    ForwardRequest run;
    run.ids = req.ids;
    run.hidden = req.hidden;
    run.startLayer = req.startLayer;
    run.keepCache = req.keepCache;
    run.logits = req.logits;
    run.stopAfterLayer = req.stopAfterLayer;
    run.bare = true;

    std::shared_ptr<const KVCache> context;
    if (P > 0) {
        {
            std::lock_guard<std::mutex> lock(contextMutex_);
            if (contextCache_ && contextVersion_ == version_ && contextDigest_ == resident_.digest)
                context = contextCache_;
        }
        if (!context) {
            // The context's own keys/values, through the adapters too.
            ForwardRequest c;
            c.ids = at::tensor(at::ArrayRef<int64_t>(resident_.contextIds), at::TensorOptions().dtype(at::kLong))
                        .unsqueeze(0);
            c.keepCache = true;
            c.logits = LogitsMode::None;
            c.bare = true;
            std::vector<Intervention> f2, l2;
            for (const auto& hook : resident_.hooks) hook->attach(f2, l2);
            c.interventions = f2;
            c.interventions.insert(c.interventions.end(), l2.begin(), l2.end());
            at::NoGradGuard noGrad;
            auto cache = std::make_shared<KVCache>(forwardWeights(c).cache);
            std::lock_guard<std::mutex> lock(contextMutex_);
            contextCache_ = cache;
            contextVersion_ = version_;
            contextDigest_ = resident_.digest;
            context = cache;
        }
    }

    const int64_t past = req.past ? req.past->length() : 0;
    const int64_t T = req.ids.defined() ? req.ids.size(1) : (req.hidden.defined() ? req.hidden.size(1) : 0);
    if (P > 0 && P + past + T > config_.nPositions)
        fail(ErrorKind::Input, "the input is " + std::to_string(past + T) + " tokens long and the context edits " +
                                   "before it take " + std::to_string(P) + " more; the model's context holds " +
                                   std::to_string(config_.nPositions) + " (disable a context edit, or shorten the input)");

    KVCache joined;
    if (P > 0) {
        const int64_t L = config_.nLayer;
        joined.keys.resize(L);
        joined.values.resize(L);
        for (int64_t l = 0; l < L; ++l) {
            const at::Tensor pk = req.past && size_t(l) < req.past->keys.size() ? req.past->keys[l] : at::Tensor();
            const at::Tensor pv = req.past && size_t(l) < req.past->values.size() ? req.past->values[l] : at::Tensor();
            if (past > 0 && !pk.defined()) continue;  // a block the caller's cache lacks (before its startLayer)
            joined.keys[l] = prependAlongTime(context->keys[l], pk);
            joined.values[l] = prependAlongTime(context->values[l], pv);
        }
        run.past = &joined;
        if (req.attentionAllowed.defined()) {
            const at::Tensor a = req.attentionAllowed.to(at::kBool);
            run.attentionAllowed = at::cat({at::ones({a.size(0), a.size(1), P}, a.options()), a}, 2);
        }
    } else {
        run.past = req.past;
        run.attentionAllowed = req.attentionAllowed;
    }

    run.interventions.reserve(first.size() + req.interventions.size() + last.size());
    for (const auto& iv : first) run.interventions.push_back(shifted(iv, P));
    for (const auto& iv : req.interventions) run.interventions.push_back(shifted(iv, P));
    for (const auto& iv : last) run.interventions.push_back(shifted(iv, P));

    ForwardResult out = forwardWeights(run);
    if (P > 0 && req.keepCache) {
        for (auto* list : {&out.cache.keys, &out.cache.values})
            for (auto& t : *list)
                if (t.defined()) t = t.narrow(2, P, t.size(2) - P);
    }
    return out;
}

}  // namespace kme
