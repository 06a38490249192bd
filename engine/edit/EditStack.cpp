// The edits on one live model: weight deltas applied copy-on-write with the
// originals kept (bit-exact revert), adapters and contexts kept beside the
// weights as the model's resident state.
#include <ATen/ATen.h>

#include <map>

#include "engine/core/Error.h"
#include "engine/core/Sha256.h"
#include "engine/edit/AdapterKinds.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace kme {

namespace {

std::string shapeText(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

namespace {

// The payloads a resident state was built from (ResidentState::source).
struct PayloadLists {
    std::vector<AdapterPayload> adapters;  // in application order
    std::vector<ContextPayload> contexts;
    std::vector<std::string> digests;      // "a:" / "c:" + sha256 of each payload's bytes, in order
};

}  // namespace

struct EditStack::Impl {
    Model* model = nullptr;
    std::map<std::string, at::Tensor> originals;  // canonical name -> tensor before the first edit
    // What the model carried beside its weights when this stack was made
    // (another stack's adapters: an evaluation on the window's live model),
    // and what this stack added on top.
    std::shared_ptr<const PayloadLists> base;
    ResidentState baseState;
    PayloadLists own;
    std::map<int, DeltaMatrix> keys;  // WeightDelta::keys of the applied deltas, columns in order

    void refreshResident() {
        if (own.adapters.empty() && own.contexts.empty()) {
            model->transformer().setResidentState(baseState);
            return;
        }
        auto all = std::make_shared<PayloadLists>(base ? *base : PayloadLists{});
        all->adapters.insert(all->adapters.end(), own.adapters.begin(), own.adapters.end());
        all->contexts.insert(all->contexts.end(), own.contexts.begin(), own.contexts.end());
        all->digests.insert(all->digests.end(), own.digests.begin(), own.digests.end());
        ResidentState st;
        std::vector<const AdapterPayload*> enabled;
        for (const auto& a : all->adapters) enabled.push_back(&a);
        for (const AdapterKind& kind : adapterKinds()) kind.addHooks(enabled, model->config(), st);
        for (const auto& c : all->contexts) st.contextIds.insert(st.contextIds.end(), c.ids.begin(), c.ids.end());
        std::string joined;
        for (const auto& d : all->digests) joined += d + "\n";
        st.digest = sha256Hex(joined);
        st.source = all;
        model->transformer().setResidentState(std::move(st));
    }
};

EditStack::EditStack(Model& model) : d(std::make_unique<Impl>()) {
    d->model = &model;
    d->baseState = model.transformer().residentState();
    d->base = std::static_pointer_cast<const PayloadLists>(d->baseState.source);
}
EditStack::~EditStack() = default;

Model& EditStack::model() { return *d->model; }
bool EditStack::modified() const { return !d->originals.empty() || !d->own.adapters.empty() || !d->own.contexts.empty(); }
int EditStack::adapterCount() const { return int(d->own.adapters.size()); }
int EditStack::contextTokens() const {
    int n = int(d->model->transformer().residentState().contextIds.size());
    return n;
}

std::vector<std::string> EditStack::touchedTensors() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : d->originals) out.push_back(name);
    return out;
}

void EditStack::apply(const WeightDelta& delta) {
    Transformer& tf = d->model->transformer();
    for (const auto& p : delta.parts) {
        const auto& all = tf.tensors();
        auto it = all.find(p.tensor);
        if (it == all.end()) fail(ErrorKind::Input, "the edit changes tensor '" + p.tensor + "', which the model lacks");
        if (it->second.sizes().vec() != p.shape)
            fail(ErrorKind::Input, "the edit's delta for '" + p.tensor + "' has shape " + shapeText(p.shape) +
                                       "; the model's tensor is " + shapeText(it->second.sizes().vec()));
    }
    for (const auto& [layer, k] : delta.keys) {
        const auto it = d->keys.find(layer);
        if (k.rows < 1 || k.cols < 1 || k.data.size() != size_t(k.rows * k.cols) ||
            (it != d->keys.end() && it->second.rows != k.rows))
            fail(ErrorKind::Input, "the edit's keys at layer " + std::to_string(layer) + " are " +
                                       std::to_string(k.rows) + " x " + std::to_string(k.cols) +
                                       (it != d->keys.end() ? "; earlier edits' keys there have " +
                                                                  std::to_string(it->second.rows) + " rows"
                                                            : std::string()));
    }
    at::NoGradGuard noGrad;
    // Every new tensor first, checked finite; the model changes only once all are.
    std::map<std::string, at::Tensor> next;
    for (const auto& p : delta.parts) {
        const auto it = next.find(p.tensor);
        const at::Tensor current = it != next.end() ? it->second : tf.tensor(p.tensor);
        // float64 sum, one rounding to the compute dtype: the same bytes on every replay.
        at::Tensor t = (current.detach().to(at::kDouble) + edit::materializedDelta(p)).to(current.scalar_type()).contiguous();
        if (!at::isfinite(t).all().item<bool>())
            fail(ErrorKind::Input, "the weight change of '" + p.tensor +
                                       "' gives non-finite weights (NaN/Inf); nothing was changed");
        next[p.tensor] = t;
    }
    for (auto& [name, t] : next) {
        if (!d->originals.count(name)) d->originals.emplace(name, tf.tensor(name));  // copy-on-write
        tf.setTensor(name, t);
    }
    for (const auto& [layer, k] : delta.keys) {
        auto [it, fresh] = d->keys.try_emplace(layer, k);
        if (fresh) continue;
        // Row-major [rows, a] + [rows, b] -> [rows, a + b]: the new columns after the old.
        DeltaMatrix& all = it->second;
        std::vector<double> joined;
        joined.reserve(all.data.size() + k.data.size());
        for (int64_t r = 0; r < all.rows; ++r) {
            joined.insert(joined.end(), all.data.begin() + r * all.cols, all.data.begin() + (r + 1) * all.cols);
            joined.insert(joined.end(), k.data.begin() + r * k.cols, k.data.begin() + (r + 1) * k.cols);
        }
        all.cols += k.cols;
        all.data = std::move(joined);
    }
}

std::map<int, DeltaMatrix> EditStack::writtenKeys() const { return d->keys; }

void EditStack::apply(const EditPayload& payload) {
    const ModelConfig& c = d->model->config();
    switch (payload.kind) {
        case PayloadKind::Weights: apply(payload.weights); return;
        case PayloadKind::Adapter: {
            const AdapterPayload& a = payload.adapter;
            const AdapterKind* kind = findAdapterKind(a.type);
            if (!kind) fail(ErrorKind::Input, "unknown adapter type '" + a.type + "'");
            kind->check(a, c);
            if (!a.isFinite()) fail(ErrorKind::Input, "the adapter holds non-finite values (NaN/Inf)");
            d->own.adapters.push_back(a);
            d->own.digests.push_back("a:" + sha256Hex(a.toBytes()));
            break;
        }
        case PayloadKind::Context: {
            const ContextPayload& x = payload.context;
            for (int64_t id : x.ids)
                if (id < 0 || id >= c.vocabSize)
                    fail(ErrorKind::Input, "the context holds token id " + std::to_string(id) +
                                               ", outside the model's vocabulary of " + std::to_string(c.vocabSize));
            if (contextTokens() + int64_t(x.ids.size()) >= c.nPositions)
                fail(ErrorKind::Input, "the context edits would take " +
                                           std::to_string(contextTokens() + int64_t(x.ids.size())) +
                                           " tokens of the model's " + std::to_string(c.nPositions) +
                                           ": no room would be left for a prompt (disable another context edit)");
            d->own.contexts.push_back(x);
            d->own.digests.push_back("c:" + sha256Hex(x.toBytes()));
            break;
        }
    }
    d->refreshResident();
}

void EditStack::revertAll() {
    Transformer& tf = d->model->transformer();
    for (const auto& [name, original] : d->originals) tf.setTensor(name, original);
    d->originals.clear();
    d->keys.clear();
    if (!d->own.adapters.empty() || !d->own.contexts.empty()) {
        d->own = PayloadLists{};
        d->refreshResident();
    }
}

void EditStack::rebuild(const std::vector<WeightDelta>& deltas) {
    revertAll();
    for (const auto& delta : deltas) apply(delta);
}

void EditStack::rebuild(const std::vector<const EditPayload*>& payloads) {
    revertAll();
    for (const EditPayload* p : payloads) apply(*p);
}

}  // namespace kme
