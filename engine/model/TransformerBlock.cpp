// One transformer block, driven by the family's traits: norm kind, QKV
// layout, RoPE style, grouped-query attention, residual layout, MLP kind.
// GPT-2 takes exactly the operations it always took (its tests compare bit
// for bit); every family passes the same hook points.
#include <atomic>
#include <cmath>
#include <limits>

#include <torch/csrc/autograd/custom_function.h>

#include "engine/core/Error.h"
#include "engine/model/HalfProduct.h"
#include "engine/model/HalfWeights.h"
#include "engine/model/Rope.h"
#include "engine/model/Transformer.h"

namespace kme {

namespace {

std::atomic<int64_t> halfBackwards{0};

// x2 [N, in] times a half weight that autograd must not see converted: the
// forward and the backward pass each convert the weight into a scratch
// buffer (Transformer::matmulWeight), so a backward pass through many layers
// (ROME's v*, MEMIT's z) keeps the half weights, not a float32 copy of each.
// The weight itself gets no gradient (it does not require one).
struct HalfWeightProduct : torch::autograd::Function<HalfWeightProduct> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x2, const at::Tensor& w,
                              const Transformer* tf, bool outIn) {
        ctx->save_for_backward({w});
        ctx->saved_data["tf"] = reinterpret_cast<int64_t>(tf);
        ctx->saved_data["outIn"] = outIn;
        const at::Tensor wc = tf->matmulWeight(w);  // no autograd here: the scratch buffer
        return outIn ? at::mm(x2, wc.t()) : at::mm(x2, wc);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const at::Tensor w = ctx->get_saved_variables()[0];
        const auto* tf = reinterpret_cast<const Transformer*>(ctx->saved_data["tf"].toInt());
        const bool outIn = ctx->saved_data["outIn"].toBool();
        at::NoGradGuard noGrad;
        ++halfBackwards;
        const at::Tensor wc = tf->matmulWeight(w);
        const at::Tensor gx = outIn ? at::mm(grads[0], wc) : at::mm(grads[0], wc.t());
        return {gx, at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

}  // namespace

int64_t halfWeightBackwardCount() { return halfBackwards.load(); }

at::Tensor Transformer::linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, TensorRole role) const {
    const bool outIn = orientation(role) == Orientation::OutIn;
    if (w.scalar_type() == at::kBFloat16 && dtype_ == at::kFloat && !w.requires_grad() &&
        halfProduct() == HalfProduct::Bf16) {
        // The opt-in bf16 product (HalfProduct.h): the BF16 weight as stored, the activations rounded
        // to bf16. With autograd on, it sees x.to(bf16) and a product with a weight that requires no
        // gradient: the backward pass gives d/dx through the same bf16 product and keeps the BF16
        // weight itself (no float32 copy of it).
        auto sizes = x.sizes().vec();
        const at::Tensor x2 = x.reshape({-1, sizes.back()}).to(at::kBFloat16);
        at::Tensor y = at::mm(x2, outIn ? w.t() : w).to(at::kFloat);
        countBf16Product();
        if (b.defined()) y = y + inCompute(b);
        sizes.back() = y.size(1);
        return y.view(sizes);
    }
    const bool tracked =
        at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
    if (tracked && w.scalar_type() != dtype_ && !w.requires_grad()) {
        auto sizes = x.sizes().vec();
        const at::Tensor x2 = x.reshape({-1, sizes.back()});
        at::Tensor y = HalfWeightProduct::apply(x2, w, this, outIn);
        if (b.defined()) y = y + inCompute(b);
        sizes.back() = y.size(1);
        return y.view(sizes);
    }
    at::Tensor wc;
    if (tracked) {
        wc = matmulWeight(w);
    } else {  // nothing autograd would keep: the scratch buffer serves
        at::NoGradGuard noGrad;
        wc = matmulWeight(w);  // half weights: converted here, one matrix at a time
    }
    const at::Tensor w2 = outIn ? wc.t() : wc;  // as [in, out]
    auto sizes = x.sizes().vec();
    const at::Tensor x2 = x.reshape({-1, sizes.back()});
    at::Tensor y = b.defined() ? at::addmm(inCompute(b), x2, w2) : at::mm(x2, w2);
    sizes.back() = w2.size(1);
    return y.view(sizes);
}

at::Tensor Transformer::activation(const at::Tensor& x) const {
    if (config_.activation == "gelu_new") return at::gelu(x, "tanh");
    if (config_.activation == "gelu") return at::gelu(x);
    if (config_.activation == "silu") return at::silu(x);
    return at::relu(x);
}

at::Tensor Transformer::norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    if (config_.traits().norm == NormKind::LayerNorm)
        return at::layer_norm(x, {config_.nEmbd}, inCompute(w), inCompute(b), config_.layerNormEps);
    // RMSNorm: w * x / sqrt(mean(x^2) + eps)
    const at::Tensor scaled = x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + config_.layerNormEps);
    return inCompute(w) * scaled;
}

at::Tensor Transformer::attention(int l, const at::Tensor& a, const CallContext& ctx, KVCache* cache) const {
    const Block& b = blocks_[l];
    const int64_t B = ctx.B, T = ctx.T, past = ctx.past;
    const int64_t H = config_.nHead, Hkv = config_.kvHeads(), hd = config_.headDim();
    at::Tensor q, k, v;
    switch (config_.traits().qkv) {
        case QkvLayout::Fused: {  // [q | k | v], each H * hd wide
            at::Tensor qkv = linear(a, b.qkvW, b.qkvB, TensorRole::AttnQkvW);
            auto parts = qkv.split(H * hd, -1);
            q = parts[0].view({B, T, H, hd}).transpose(1, 2);
            k = parts[1].view({B, T, H, hd}).transpose(1, 2);
            v = parts[2].view({B, T, H, hd}).transpose(1, 2);
            break;
        }
        case QkvLayout::FusedPerHead: {  // per head [q | k | v]: row h*3hd + j*hd + t
            at::Tensor qkv = linear(a, b.qkvW, b.qkvB, TensorRole::AttnQkvW).view({B, T, H, 3 * hd});
            q = qkv.narrow(-1, 0, hd).transpose(1, 2);
            k = qkv.narrow(-1, hd, hd).transpose(1, 2);
            v = qkv.narrow(-1, 2 * hd, hd).transpose(1, 2);
            break;
        }
        case QkvLayout::Separate:
            q = linear(a, b.qW, b.qB, TensorRole::AttnQW).view({B, T, H, hd}).transpose(1, 2);
            k = linear(a, b.kW, b.kB, TensorRole::AttnKW).view({B, T, Hkv, hd}).transpose(1, 2);
            v = linear(a, b.vW, b.vB, TensorRole::AttnVW).view({B, T, Hkv, hd}).transpose(1, 2);
            break;
    }
    if (config_.traits().positions == PositionKind::Rope) {
        const RopeTables tables{ctx.ropeCos, ctx.ropeSin};
        q = applyRope(q, tables, config_.rope.style);
        k = applyRope(k, tables, config_.rope.style);
    }
    if (past > 0) {
        const at::Tensor& pk = ctx.pastCache->keys.at(l);
        const at::Tensor& pv = ctx.pastCache->values.at(l);
        if (!pk.defined()) fail(ErrorKind::Internal, "forward: past cache lacks block " + std::to_string(l));
        k = at::cat({pk.expand({B, Hkv, past, hd}), k}, 2);
        v = at::cat({pv.expand({B, Hkv, past, hd}), v}, 2);
    }
    if (cache) {
        cache->keys[l] = k;
        cache->values[l] = v;
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const double lowest = std::numeric_limits<float>::lowest();
    const at::Tensor& blocked = config_.slidingAt(l) ? ctx.blockedWindow : ctx.blocked;
    const int64_t S = past + T;
    at::Tensor out;
    if (Hkv == H) {
        at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) * scale;  // [B, H, T, S]
        scores = scores.masked_fill(blocked, lowest);
        out = at::matmul(at::softmax(scores, -1), v);  // [B, H, T, hd]
    } else {
        // Grouped-query: query head h reads kv head h / (H / Hkv). The g query
        // heads of one kv head are stacked along the rows: no kv copies.
        const int64_t g = H / Hkv;
        const at::Tensor qg = q.reshape({B, Hkv, g * T, hd});
        at::Tensor scores = (at::matmul(qg, k.transpose(-1, -2)) * scale).view({B, H, T, S});
        scores = scores.masked_fill(blocked, lowest);
        const at::Tensor p = at::softmax(scores, -1).view({B, Hkv, g * T, S});
        out = at::matmul(p, v).view({B, H, T, hd});
    }
    return out.transpose(1, 2).reshape({B, T, H * hd});
}

at::Tensor Transformer::runBlock(int l, const at::Tensor& h, const CallContext& ctx, KVCache* cache) const {
    const Block& b = blocks_[l];
    const ResidualKind residual = config_.residual;
    const at::Tensor a = norm(h, b.ln1w, b.ln1b);
    const at::Tensor attnOut =
        ctx.hook(Site::AttnOut, l, linear(attention(l, a, ctx, cache), b.projW, b.projB, TensorRole::AttnOutW));
    at::Tensor mid, m;
    switch (residual) {
        case ResidualKind::Sequential:
            mid = h + attnOut;
            m = norm(mid, b.ln2w, b.ln2b);
            break;
        case ResidualKind::ParallelShared: m = a; break;                                // GPT-J: one norm feeds both
        case ResidualKind::ParallelTwoNorms: m = norm(h, b.ln2w, b.ln2b); break;      // NeoX: MLP norms the block input
    }
    at::Tensor key;
    if (config_.traits().mlp == MlpKind::Gated)
        key = activation(linear(m, b.gateW, b.gateB, TensorRole::MlpGateW)) * linear(m, b.fcW, b.fcB, TensorRole::MlpUpW);
    else
        key = activation(linear(m, b.fcW, b.fcB, TensorRole::MlpUpW));
    key = ctx.hook(Site::MlpKey, l, key);
    const at::Tensor mlpOut = ctx.hook(Site::MlpOut, l, linear(key, b.downW, b.downB, TensorRole::MlpDownW));
    if (residual == ResidualKind::Sequential) return ctx.hook(Site::BlockOut, l, mid + mlpOut);
    return ctx.hook(Site::BlockOut, l, h + attnOut + mlpOut);
}

at::Tensor Transformer::headLogits(const at::Tensor& hidden) const {
    const at::Tensor x = norm(hidden, lnfW_, lnfB_);
    return linear(x, lmHead_, lmHeadB_, TensorRole::LmHead);
}

at::Tensor Transformer::blockInput(const at::Tensor& embed, int64_t offset) const {
    if (!wpe_.defined()) return embed;
    return embed + inCompute(wpe_.narrow(0, offset, embed.size(1))).unsqueeze(0);
}

}  // namespace kme
