#include "engine/model/Transformer.h"

#include <cmath>
#include <limits>

#include "engine/core/Error.h"
#include "engine/model/Rope.h"

namespace kme {

const char* siteName(Site site) {
    switch (site) {
        case Site::Embed: return "embed";
        case Site::AttnOut: return "attn";
        case Site::MlpKey: return "mlp_key";
        case Site::MlpOut: return "mlp";
        case Site::BlockOut: return "hidden";
    }
    return "?";
}

// ---------------------------------------------------------------- Intervention

namespace {

at::Tensor indexTensor(const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
}

Intervention crossProduct(Intervention::Op op, Site site, int layer, const std::vector<int64_t>& positions,
                          at::Tensor value, const std::vector<int64_t>& rows) {
    Intervention iv;
    iv.op = op;
    iv.site = site;
    iv.layer = layer;
    iv.value = std::move(value);
    if (positions.empty() && rows.empty()) return iv;  // every cell
    if (positions.empty())
        fail(ErrorKind::Internal, "intervention: rows given without positions");
    std::vector<int64_t> r, p;
    if (rows.empty()) {
        // Rows resolved at forward time (all rows): mark with a negative row.
        for (int64_t pos : positions) {
            r.push_back(-1);
            p.push_back(pos);
        }
    } else {
        for (int64_t row : rows)
            for (int64_t pos : positions) {
                r.push_back(row);
                p.push_back(pos);
            }
    }
    iv.rows = indexTensor(r);
    iv.positions = indexTensor(p);
    return iv;
}

}  // namespace

Intervention Intervention::read(Site site, int layer, at::Tensor* out) {
    Intervention iv;
    iv.op = Op::Read;
    iv.site = site;
    iv.layer = layer;
    iv.out = out;
    return iv;
}

Intervention Intervention::replace(Site site, int layer, const std::vector<int64_t>& positions, at::Tensor value,
                                   const std::vector<int64_t>& rows) {
    return crossProduct(Op::Replace, site, layer, positions, std::move(value), rows);
}

Intervention Intervention::add(Site site, int layer, const std::vector<int64_t>& positions, at::Tensor value,
                               const std::vector<int64_t>& rows) {
    return crossProduct(Op::Add, site, layer, positions, std::move(value), rows);
}

Intervention Intervention::atCells(Op op, Site site, int layer, at::Tensor rows, at::Tensor positions,
                                   at::Tensor value) {
    Intervention iv;
    iv.op = op;
    iv.site = site;
    iv.layer = layer;
    iv.rows = rows.to(at::kLong).reshape({-1});
    iv.positions = positions.to(at::kLong).reshape({-1});
    iv.value = std::move(value);
    if (iv.rows.numel() != iv.positions.numel())
        fail(ErrorKind::Internal, "intervention: rows and positions differ in length");
    return iv;
}

Intervention Intervention::custom(Site site, int layer, std::function<at::Tensor(const at::Tensor&, int64_t)> fn) {
    Intervention iv;
    iv.op = Op::Custom;
    iv.site = site;
    iv.layer = layer;
    iv.fn = std::move(fn);
    return iv;
}

namespace {

// Applies the interventions registered for (site, layer) to x [B, T, W] whose
// column 0 is absolute position `offset`.
at::Tensor applyInterventions(const std::vector<const Intervention*>& list, at::Tensor x, int64_t offset) {
    for (const Intervention* iv : list) {
        if (iv->op == Intervention::Op::Read) {
            if (iv->out) *iv->out = x;
            continue;
        }
        if (iv->op == Intervention::Op::Custom) {
            x = iv->fn(x, offset);
            continue;
        }
        const at::Tensor value = iv->value.to(x.scalar_type());
        if (!iv->positions.defined()) {  // every cell
            x = iv->op == Intervention::Op::Replace ? value.expand_as(x).clone() : x + value;
            continue;
        }
        const int64_t B = x.size(0), T = x.size(1);
        at::Tensor rows = iv->rows, pos = iv->positions - offset;
        at::Tensor val = value.dim() == 1 ? value.unsqueeze(0) : value;
        if (val.dim() != 2) fail(ErrorKind::Internal, "intervention value must be [N, width] or [width]");
        const bool allRows = rows.numel() > 0 && rows[0].item<int64_t>() < 0;
        if (allRows) {  // expand (pos) over every row
            const int64_t n = pos.numel();
            rows = at::arange(B, pos.options()).repeat_interleave(n);
            pos = pos.repeat({B});
            if (val.size(0) == n && n > 1) val = val.repeat({B, 1});
        }
        const at::Tensor inside = (pos >= 0) & (pos < T);
        if (!inside.all().item<bool>()) {  // cells outside this call's positions
            const at::Tensor keep = inside.nonzero().reshape({-1});
            rows = rows.index_select(0, keep);
            pos = pos.index_select(0, keep);
            if (val.size(0) > 1) val = val.index_select(0, keep);
            if (rows.numel() == 0) continue;
        }
        x = x.clone();
        if (iv->op == Intervention::Op::Replace)
            x.index_put_({rows, pos}, val.expand({rows.numel(), x.size(2)}));
        else
            x.index_put_({rows, pos}, val.expand({rows.numel(), x.size(2)}), /*accumulate=*/true);
    }
    return x;
}

}  // namespace

// ---------------------------------------------------------------- KVCache

int64_t KVCache::length() const {
    for (const auto& k : keys)
        if (k.defined()) return k.size(2);
    return 0;
}

KVCache KVCache::prefix(int64_t n) const {
    KVCache out;
    out.keys.resize(keys.size());
    out.values.resize(values.size());
    for (size_t l = 0; l < keys.size(); ++l) {
        if (keys[l].defined()) out.keys[l] = keys[l].narrow(2, 0, n);
        if (values[l].defined()) out.values[l] = values[l].narrow(2, 0, n);
    }
    return out;
}

// ---------------------------------------------------------------- Transformer

namespace {

std::string shapeString(at::IntArrayRef s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

Transformer::Transformer(ModelConfig config, std::map<std::string, at::Tensor> tensors, const std::string& source,
                         at::ScalarType compute)
    : config_(std::move(config)), tensors_(std::move(tensors)) {
    const auto& info = architectureInfo(config_.arch);
    for (const auto& spec : info.tensors) {
        const int layers = spec.perLayer ? config_.nLayer : 1;
        for (int l = 0; l < layers; ++l) {
            const std::string name = tensorName(config_.arch, spec.role, spec.perLayer ? l : -1);
            auto it = tensors_.find(name);
            if (it == tensors_.end()) {
                if (!tensorRequired(config_, spec)) continue;
                fail(ErrorKind::Format, source + ": tensor '" + hfTensorName(config_.arch, name) + "' is missing" +
                                            (spec.need == Need::Untied ? " (tie_word_embeddings is false)"
                                             : spec.need == Need::AttnBias || spec.need == Need::OutBias
                                                 ? " (the config asks for attention biases)"
                                             : spec.need == Need::MlpBias ? " (mlp_bias is true)"
                                                                          : ""));
            }
            const auto want = tensorShape(config_, spec);
            if (it->second.sizes().vec() != want)
                fail(ErrorKind::Format, source + ": tensor '" + hfTensorName(config_.arch, name) + "' has shape " +
                                            shapeString(it->second.sizes()) + ", config.json implies " +
                                            shapeString(want));
        }
    }
    if (compute == at::ScalarType::Undefined) {
        compute = tensors_.at(tensorName(config_.arch, TensorRole::TokenEmbd)).scalar_type();
        if (compute == at::kHalf || compute == at::kBFloat16) compute = at::kFloat;
    }
    if (compute != at::kFloat && compute != at::kDouble)
        fail(ErrorKind::Internal, source + ": the compute dtype must be float32 or float64");
    dtype_ = compute;
    bind();
}

void Transformer::bind() {
    const Architecture a = config_.arch;
    // A tensor the config uses (an unused bias in the file stays unbound).
    auto get = [&](TensorRole r, int l) -> at::Tensor {
        if (!hasRole(a, r) || !tensorUsed(config_, tensorSpec(a, r))) return at::Tensor();
        auto it = tensors_.find(tensorName(a, r, l));
        return it == tensors_.end() ? at::Tensor() : it->second;
    };
    blocks_.assign(config_.nLayer, Block{});
    for (int l = 0; l < config_.nLayer; ++l) {
        Block& b = blocks_[l];
        b.ln1w = get(TensorRole::AttnNormW, l);
        b.ln1b = get(TensorRole::AttnNormB, l);
        b.qkvW = get(TensorRole::AttnQkvW, l);
        b.qkvB = get(TensorRole::AttnQkvB, l);
        b.qW = get(TensorRole::AttnQW, l);
        b.qB = get(TensorRole::AttnQB, l);
        b.kW = get(TensorRole::AttnKW, l);
        b.kB = get(TensorRole::AttnKB, l);
        b.vW = get(TensorRole::AttnVW, l);
        b.vB = get(TensorRole::AttnVB, l);
        b.gateW = get(TensorRole::MlpGateW, l);
        b.gateB = get(TensorRole::MlpGateB, l);
        b.projW = get(TensorRole::AttnOutW, l);
        b.projB = get(TensorRole::AttnOutB, l);
        b.ln2w = get(TensorRole::MlpNormW, l);
        b.ln2b = get(TensorRole::MlpNormB, l);
        b.fcW = get(TensorRole::MlpUpW, l);
        b.fcB = get(TensorRole::MlpUpB, l);
        b.downW = get(TensorRole::MlpDownW, l);
        b.downB = get(TensorRole::MlpDownB, l);
    }
    wte_ = get(TensorRole::TokenEmbd, -1);
    wpe_ = get(TensorRole::PosEmbd, -1);
    lnfW_ = get(TensorRole::OutNormW, -1);
    lnfB_ = get(TensorRole::OutNormB, -1);
    lmHead_ = get(TensorRole::LmHead, -1);
    lmHeadB_ = get(TensorRole::LmHeadB, -1);
    if (!lmHead_.defined() || config_.tieWordEmbeddings) lmHead_ = wte_;  // tied: [vocab, n_embd]
}

void Transformer::toDType(at::ScalarType dtype) {
    ++version_;
    for (auto& [name, t] : tensors_)
        if (at::isFloatingType(t.scalar_type())) {
            t = t.to(dtype).contiguous();
            tensorVersions_[name] = version_;
        }
    dtype_ = dtype;
    bind();
}

at::Tensor Transformer::inCompute(const at::Tensor& w) const {
    if (!w.defined() || w.scalar_type() == dtype_) return w;
    return w.to(dtype_);
}

at::Tensor Transformer::matmulWeight(const at::Tensor& w) const {
    if (!w.defined() || w.scalar_type() == dtype_) return w;
    // Small tensors, and anything autograd may keep: a fresh conversion.
    if (at::GradMode::is_enabled() || w.numel() < (int64_t(1) << 16)) return w.to(dtype_);
    // A fresh allocation of a large matrix costs page faults on every call
    // (about 30x the conversion itself on the machines measured): convert
    // into a buffer that lives as long as the thread and only grows.
    thread_local at::Tensor scratch;
    if (!scratch.defined() || scratch.scalar_type() != dtype_ || scratch.numel() < w.numel()) {
        scratch = at::Tensor();  // the old buffer goes before the new one comes
        scratch = at::empty({w.numel()}, at::TensorOptions().dtype(dtype_));
    }
    at::Tensor out = scratch.narrow(0, 0, w.numel()).view(w.sizes());
    out.copy_(w);
    return out;
}

const at::Tensor& Transformer::weight(TensorRole role, int layer) const {
    return tensor(tensorName(config_.arch, role, layer));
}

const at::Tensor& Transformer::tensor(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) fail(ErrorKind::Internal, "no tensor '" + name + "' in the model");
    return it->second;
}

void Transformer::setTensor(const std::string& name, at::Tensor value) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) fail(ErrorKind::Internal, "no tensor '" + name + "' in the model");
    if (it->second.sizes() != value.sizes())
        fail(ErrorKind::Internal, "setTensor('" + name + "'): shape " + shapeString(value.sizes()) +
                                      " != " + shapeString(it->second.sizes()));
    it->second = value;
    tensorVersions_[name] = ++version_;
    bind();
}

uint64_t Transformer::tensorVersion(const std::string& name) const {
    auto it = tensorVersions_.find(name);
    return it == tensorVersions_.end() ? 0 : it->second;
}

Orientation Transformer::orientation(TensorRole role) const { return tensorSpec(config_.arch, role).orientation; }

int64_t Transformer::parameterCount() const {
    int64_t n = 0;
    for (const auto& spec : architectureInfo(config_.arch).tensors) {
        const int layers = spec.perLayer ? config_.nLayer : 1;
        for (int l = 0; l < layers; ++l) {
            auto it = tensors_.find(tensorName(config_.arch, spec.role, spec.perLayer ? l : -1));
            if (it != tensors_.end()) n += it->second.numel();
        }
    }
    return n;
}

ForwardResult Transformer::forward(const ForwardRequest& req) const {
    if (!req.bare && !resident_.empty()) return forwardResident(req);
    return forwardWeights(req);
}

ForwardResult Transformer::forwardWeights(const ForwardRequest& req) const {
    const int64_t L = config_.nLayer;
    const int64_t past = req.past ? req.past->length() : 0;
    if (req.startLayer < 0 || req.startLayer > L) fail(ErrorKind::Internal, "forward: bad startLayer");

    // Interventions grouped by (site, layer).
    std::map<std::pair<int, int>, std::vector<const Intervention*>> hooks;
    for (const auto& iv : req.interventions)
        hooks[{static_cast<int>(iv.site), iv.site == Site::Embed ? -1 : iv.layer}].push_back(&iv);
    auto hook = [&](Site site, int layer, at::Tensor x) {
        auto it = hooks.find({static_cast<int>(site), layer});
        return it == hooks.end() ? x : applyInterventions(it->second, std::move(x), past);
    };

    at::Tensor h;
    if (req.ids.defined()) {
        if (req.startLayer != 0) fail(ErrorKind::Internal, "forward: ids given with startLayer > 0");
        const int64_t T = req.ids.size(1);
        if (past + T > config_.nPositions)
            fail(ErrorKind::Input, "the input is " + std::to_string(past + T) +
                                       " tokens long; the model's context holds " +
                                       std::to_string(config_.nPositions));
        at::Tensor e =
            inCompute(wte_.index_select(0, req.ids.reshape({-1}))).view({req.ids.size(0), T, config_.nEmbd});
        e = hook(Site::Embed, -1, e);
        h = blockInput(e, past);
    } else {
        h = req.hidden;
        if (!h.defined()) fail(ErrorKind::Internal, "forward: neither ids nor hidden given");
    }
    const int64_t B = h.size(0), T = h.size(1);

    CallContext ctx;
    ctx.B = B;
    ctx.T = T;
    ctx.past = past;
    ctx.pastCache = req.past;
    ctx.hook = hook;
    // Causal mask [T, past + T]: query i (absolute past + i) sees keys j <= past + i.
    const auto longOpts = at::TensorOptions().dtype(at::kLong);
    const at::Tensor keyPos = at::arange(past + T, longOpts).unsqueeze(0), queryPos = (at::arange(T, longOpts) + past).unsqueeze(1);
    at::Tensor allowed = keyPos <= queryPos;
    at::Tensor allowedWindow;
    if (config_.slidingWindow > 0) allowedWindow = allowed & (keyPos > queryPos - config_.slidingWindow);
    const bool batched = req.attentionAllowed.defined();
    auto blockedOf = [&](at::Tensor a) {
        if (batched) a = a.unsqueeze(0) & req.attentionAllowed.to(at::kBool);
        return a.logical_not().unsqueeze(a.dim() == 3 ? 1 : 0);
    };
    ctx.blocked = blockedOf(allowed);
    if (allowedWindow.defined()) ctx.blockedWindow = blockedOf(allowedWindow);
    if (config_.traits().positions == PositionKind::Rope) {
        const RopeTables tables = ropeTables(config_, past, T, h.scalar_type());
        ctx.ropeCos = tables.cos;
        ctx.ropeSin = tables.sin;
    }

    ForwardResult result;
    if (req.keepCache) {
        result.cache.keys.resize(L);
        result.cache.values.resize(L);
    }
    const int lastLayer = req.stopAfterLayer >= 0 ? std::min<int>(req.stopAfterLayer, L - 1) : L - 1;
    {
        // Matrix products: q,k,v + output projection + MLP per token and block,
        // attention scores and mixing over past + T keys.
        const double D = config_.nEmbd, I = config_.nInner, layers = std::max(0, lastLayer - req.startLayer + 1);
        const double Q = double(config_.nHead) * config_.headDim(), KV = double(config_.kvHeads()) * config_.headDim();
        const double mlpMatrices = config_.traits().mlp == MlpKind::Gated ? 3 : 2;
        result.flops = 2.0 * B * T * layers * (D * (2 * Q + 2 * KV) + mlpMatrices * D * I) +
                       4.0 * B * T * double(past + T) * Q * layers;
    }
    for (int l = req.startLayer; l <= lastLayer; ++l) h = runBlock(l, h, ctx, req.keepCache ? &result.cache : nullptr);
    if (req.keepCache && req.past)
        for (int l = 0; l < req.startLayer; ++l) {
            result.cache.keys[l] = req.past->keys.at(l);
            result.cache.values[l] = req.past->values.at(l);
        }
    result.hidden = h;
    if (req.stopAfterLayer >= 0 || req.logits == LogitsMode::None) return result;

    const at::Tensor last = req.logits == LogitsMode::Last ? h.select(1, T - 1) : h;
    result.logits = headLogits(last);
    result.flops += 2.0 * (last.numel() / config_.nEmbd) * double(config_.nEmbd) * config_.vocabSize;
    return result;
}

at::Tensor Transformer::lastLogits(const std::vector<int64_t>& ids) const {
    ForwardRequest req;
    req.ids = at::tensor(at::ArrayRef<int64_t>(ids), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
    req.logits = LogitsMode::Last;
    return forward(req).logits.squeeze(0);
}

}  // namespace kme
