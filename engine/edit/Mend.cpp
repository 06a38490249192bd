// MEND's editor networks, the gradient factors of an edit, the pseudo-step
// and the method's compute entry (see Mend.h, MendEditor.h). The editor file:
// MendEditorIO.cpp; meta-training: MendTrain.cpp.
#include <cmath>
#include <random>
#include <set>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/FineTuneLoss.h"
#include "engine/edit/MendEditor.h"
#include "engine/model/Architecture.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::edit {

namespace {

const auto kF32 = at::TensorOptions().dtype(at::kFloat);
const auto kF64 = at::TensorOptions().dtype(at::kDouble);

std::string shapeKey(int64_t in, int64_t out) { return std::to_string(in) + "x" + std::to_string(out); }

// The block's own operations (Transformer's are private), for the up
// projection's input and activation: the same formulas as TransformerBlock.cpp.
at::Tensor blockNorm(const ModelConfig& c, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    if (c.traits().norm == NormKind::LayerNorm) return at::layer_norm(x, {c.nEmbd}, w, b, c.layerNormEps);
    return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + c.layerNormEps));
}

at::Tensor blockActivation(const ModelConfig& c, const at::Tensor& x) {
    if (c.activation == "gelu_new") return at::gelu(x, "tanh");
    if (c.activation == "gelu") return at::gelu(x);
    if (c.activation == "silu") return at::silu(x);
    return at::relu(x);
}

at::Tensor blockLinear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, bool outIn) {
    const at::Tensor y = at::matmul(x, outIn ? w.t() : w);
    return b.defined() ? y + b : y;
}

}  // namespace

GradientTransform::GradientTransform(int64_t x, int64_t d, int64_t modes, const MendConfig& config)
    : xDim(x), deltaDim(d), nModes(modes), norm(config.norm) {
    const int64_t D = x + d, r = std::min<int64_t>(config.rank, D);
    for (int i = 0; i <= config.nHidden; ++i) {
        MendLayer l;
        l.U = at::zeros({D, r}, kF32);
        l.V = at::randn({r, D}, kF32);
        l.b = at::zeros({D}, kF32);
        l.scale = at::ones({modes, D}, kF32);
        l.shift = at::zeros({modes, D}, kF32);
        l.relu = i < config.nHidden;
        layers.push_back(l);
    }
    uMean = at::zeros({x}, kF64);
    uS = at::zeros({x}, kF64);
    vMean = at::zeros({d}, kF64);
    vS = at::zeros({d}, kF64);
}

void GradientTransform::updateStats(const at::Tensor& u, const at::Tensor& delta) {
    at::NoGradGuard noGrad;
    const int64_t n = u.size(0);
    if (n == 0) return;
    auto merge = [&](at::Tensor& mean, at::Tensor& s, const at::Tensor& rows) {
        const at::Tensor r = rows.to(at::kDouble);
        const at::Tensor bm = r.mean(0);
        const at::Tensor bs = (r - bm).pow(2).sum(0);
        const double kk = k, nn = double(n), tot = kk + nn;
        const at::Tensor diff = bm - mean;
        s = s + bs + diff.pow(2) * (kk * nn / tot);
        mean = mean + diff * (nn / tot);
    };
    merge(uMean, uS, u);
    merge(vMean, vS, delta);
    k += double(n);
}

at::Tensor GradientTransform::uStd() const { return k < 2 ? at::ones_like(uS) : (uS / (k - 1)).sqrt(); }
at::Tensor GradientTransform::vStd() const { return k < 2 ? at::ones_like(vS) : (vS / (k - 1)).sqrt(); }

at::Tensor GradientTransform::mlp(const at::Tensor& xIn, int64_t mode) const {
    at::Tensor x = xIn;
    for (const MendLayer& l : layers) {
        at::Tensor pre = at::matmul(at::matmul(x, l.V.t()), l.U.t()) + l.b;
        pre = pre * l.scale[mode] + l.shift[mode];
        x = (l.relu ? pre.clamp_min(0) : pre) + x;
    }
    return x;
}

std::pair<at::Tensor, at::Tensor> GradientTransform::forward(const at::Tensor& u, const at::Tensor& delta,
                                                             int64_t mode) const {
    at::Tensor uIn = u.to(at::kFloat), vIn = delta.to(at::kFloat);
    if (norm) {
        uIn = (u.to(at::kDouble) - uMean).div(uStd() + 1e-7).to(at::kFloat);
        vIn = (delta.to(at::kDouble) - vMean).div(vStd() + 1e-7).to(at::kFloat);
    }
    const at::Tensor out = mlp(at::cat({uIn, vIn}, -1), mode);
    return {out.narrow(-1, 0, xDim), out.narrow(-1, xDim, deltaDim)};
}

std::vector<at::Tensor> GradientTransform::parameters() const {
    std::vector<at::Tensor> out;
    for (const MendLayer& l : layers)
        for (const at::Tensor& t : {l.U, l.V, l.b, l.scale, l.shift}) out.push_back(t);
    return out;
}

std::vector<at::Tensor> MendEditor::parameters() const {
    std::vector<at::Tensor> out;
    for (const auto& [key, net] : nets)
        for (const at::Tensor& t : net.parameters()) out.push_back(t);
    out.push_back(editLrs);
    return out;
}

int64_t MendEditor::parameterCount() const {
    int64_t n = 0;
    for (const at::Tensor& t : parameters()) n += t.numel();
    return n;
}

MendEditor newMendEditor(const Model& model, const MendConfig& config, uint64_t seed) {
    const ModelConfig& mc = model.config();
    const Transformer& tf = model.transformer();
    if (mc.traits().mlp == MlpKind::Gated)
        fail(ErrorKind::Input, "MEND here edits plain two-matrix MLPs (GPT-2 family); this model's MLP is gated");
    if (mc.residual != ResidualKind::Sequential)
        fail(ErrorKind::Input, "MEND here needs sequential residual blocks (GPT-2 family); this model's are parallel");
    if (config.layers.empty()) fail(ErrorKind::Input, "MEND: no layers to edit");
    std::set<int> seen;
    for (int l : config.layers) {
        if (l < 0 || l >= mc.nLayer)
            fail(ErrorKind::Input, "MEND: layer " + std::to_string(l) + " is out of range (the model has " +
                                       std::to_string(mc.nLayer) + " layers)");
        if (!seen.insert(l).second) fail(ErrorKind::Input, "MEND: layer " + std::to_string(l) + " is listed twice");
    }
    if (config.nHidden < 0 || config.nHidden > 8) fail(ErrorKind::Input, "MEND: n_hidden must be in [0, 8]");
    if (config.rank < 1) fail(ErrorKind::Input, "MEND: rank must be at least 1");
    MendEditor e;
    e.config = config;
    std::map<std::string, std::pair<int64_t, int64_t>> dims;
    std::map<std::string, int64_t> modes;
    for (int layer : config.layers)
        for (TensorRole role : {TensorRole::MlpUpW, TensorRole::MlpDownW}) {
            MendMatrix m;
            m.tensor = tensorName(mc.arch, role, layer);
            m.layer = layer;
            m.up = role == TensorRole::MlpUpW;
            m.outIn = tf.orientation(role) == Orientation::OutIn;
            const at::Tensor& w = tf.tensor(m.tensor);
            m.in = m.outIn ? w.size(1) : w.size(0);
            m.out = m.outIn ? w.size(0) : w.size(1);
            m.shape = shapeKey(m.in, m.out);
            m.mode = modes[m.shape]++;
            dims[m.shape] = {m.in, m.out};
            e.matrices.push_back(m);
        }
    at::manual_seed(seed);
    for (const auto& [key, d] : dims) e.nets.emplace(key, GradientTransform(d.first, d.second, modes[key], config));
    e.editLrs = at::full({int64_t(e.matrices.size())}, config.editLr, kF32);
    e.weightsHash = model.weightsHash();
    return e;
}

std::vector<GradFactors> gradientFactors(const Transformer& tf, const MendEditor& editor, const at::Tensor& ids,
                                         const std::vector<int64_t>& promptLen, const std::vector<int64_t>& totalLen,
                                         double* lossOut) {
    const ModelConfig& mc = tf.config();
    std::set<int> layers;
    for (const auto& m : editor.matrices) layers.insert(m.layer);
    const int64_t B = ids.size(0), T = ids.size(1);
    struct Taps {
        at::Tensor zKey, zOut;         // zero leaves added at MlpKey / MlpOut: their gradients are dL/dkey, dL/dout
        at::Tensor key, mlpOut, block; // the site values (detached)
    };
    std::map<int, Taps> taps;
    ForwardRequest req;
    req.ids = ids;
    req.logits = LogitsMode::All;
    at::Tensor blockOut;
    for (int l : layers) {
        Taps& t = taps[l];
        t.zKey = at::zeros({B, T, mc.nInner}, kF32.dtype(tf.dtype())).set_requires_grad(true);
        t.zOut = at::zeros({B, T, mc.nEmbd}, kF32.dtype(tf.dtype())).set_requires_grad(true);
        req.interventions.push_back(Intervention::custom(Site::MlpKey, l, [&t](const at::Tensor& x, int64_t) {
            t.key = x.detach();
            return x + t.zKey;
        }));
        req.interventions.push_back(Intervention::custom(Site::MlpOut, l, [&t](const at::Tensor& x, int64_t) {
            t.mlpOut = x.detach();
            return x + t.zOut;
        }));
        req.interventions.push_back(Intervention::custom(Site::BlockOut, l, [&t](const at::Tensor& x, int64_t) {
            t.block = x.detach();
            return x;
        }));
    }
    at::Tensor loss;
    {
        at::AutoGradMode grad(true);
        const at::Tensor logits = tf.forward(req).logits;
        loss = targetNewLoss(logits, ids, promptLen, totalLen);
        loss.backward();
    }
    if (lossOut) *lossOut = loss.item<double>();
    std::vector<GradFactors> out;
    for (const auto& m : editor.matrices) {
        const Taps& t = taps.at(m.layer);
        at::Tensor u, d;
        if (!m.up) {
            u = t.key.reshape({B * T, -1});
            d = t.zOut.grad().reshape({B * T, -1});
        } else {
            // The up projection's input is ln_2 of the residual before the MLP
            // (block output minus MLP output); its output gradient is dL/dkey
            // through the activation.
            const Architecture arch = mc.arch;
            const at::Tensor mid = t.block - t.mlpOut;
            const at::Tensor lnW = tf.inCompute(tf.tensor(tensorName(arch, TensorRole::MlpNormW, m.layer)));
            const std::string lnBName = tensorName(arch, TensorRole::MlpNormB, m.layer);
            const at::Tensor lnB = tf.tensors().count(lnBName) ? tf.inCompute(tf.tensor(lnBName)) : at::Tensor();
            const std::string fcBName = tensorName(arch, TensorRole::MlpUpB, m.layer);
            const at::Tensor fcB = tf.tensors().count(fcBName) ? tf.inCompute(tf.tensor(fcBName)) : at::Tensor();
            at::AutoGradMode grad(true);
            const at::Tensor x = blockNorm(mc, mid, lnW, lnB).detach();
            at::Tensor pre = blockLinear(x, tf.inCompute(tf.tensor(m.tensor)), fcB, m.outIn).detach();
            pre.set_requires_grad(true);
            blockActivation(mc, pre).backward(t.zKey.grad());
            u = x.reshape({B * T, -1});
            d = pre.grad().reshape({B * T, -1});
        }
        const at::Tensor keep = at::logical_and((u != 0).any(-1), (d != 0).any(-1)).nonzero().squeeze(1);
        out.push_back({u.index_select(0, keep).detach(), d.index_select(0, keep).detach()});
    }
    return out;
}

std::vector<at::Tensor> mendDeltas(MendEditor& editor, const std::vector<GradFactors>& factors, bool training) {
    if (factors.size() != editor.matrices.size()) fail(ErrorKind::Internal, "MEND: factors do not match the matrices");
    if (training)
        for (size_t i = 0; i < factors.size(); ++i)
            editor.nets.at(editor.matrices[i].shape).updateStats(factors[i].u, factors[i].delta);
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < factors.size(); ++i) {
        const MendMatrix& m = editor.matrices[i];
        const auto [u, d] = editor.nets.at(m.shape).forward(factors[i].u, factors[i].delta, m.mode);
        const at::Tensor g = at::matmul(u.t(), d);  // [in, out] = sum_t u~_t delta~_t^T
        const at::Tensor step = -editor.editLrs[int64_t(i)] * g;
        out.push_back(m.outIn ? step.t() : step);
    }
    return out;
}

TargetBatch targetBatch(const Model& model, const std::vector<std::pair<std::string, std::string>>& promptTargets) {
    TargetBatch b;
    std::vector<std::vector<int64_t>> seqs;
    for (const auto& [prompt, target] : promptTargets) {
        const std::vector<int> p = model.encodePrompt(prompt);
        const std::vector<int> t = model.tokenizer().encodeContinuation(withTargetSpace(target));
        if (t.empty()) fail(ErrorKind::Input, "MEND: the target of " + prompt + " is empty");
        if (int64_t(p.size() + t.size()) > model.config().nPositions)
            fail(ErrorKind::Input, "MEND: prompt + target longer than the context: " + prompt);
        std::vector<int64_t> seq(p.begin(), p.end());
        seq.insert(seq.end(), t.begin(), t.end());
        b.promptLen.push_back(int64_t(p.size()));
        b.totalLen.push_back(int64_t(seq.size()));
        seqs.push_back(std::move(seq));
    }
    b.ids = padBatch(seqs);
    return b;
}

// The method's compute: one editor step per request, on the model as it is
// (requests one after another, each on top of the last).
EditResult computeMend(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    std::string path = hp.mendEditor;
    if (path.empty()) path = defaultMendEditorPath(model.folder());
    if (path.empty())
        fail(ErrorKind::Input, "MEND needs a trained editor: train one with `kme train-mend " +
                                   (model.folder().empty() ? std::string("MODEL") : model.folder()) +
                                   " --dataset FACTS.json`, then pass --editor FILE (or hparams {\"editor\": FILE}); "
                                   "a model folder's mend-editor.safetensors is used by default");
    MendEditor editor = loadMendEditor(path, &model);
    Meter meter(progress, double(params.requests.size()));
    EditResult result;
    for (const auto& m : editor.matrices)
        if (result.layers.empty() || result.layers.back() != m.layer) result.layers.push_back(m.layer);
    Transformer& tf = model.transformer();
    std::map<std::string, at::Tensor> originals, total;
    for (const auto& m : editor.matrices) originals.emplace(m.tensor, tf.tensor(m.tensor));
    struct Restore {
        Transformer& tf;
        std::map<std::string, at::Tensor>& originals;
        ~Restore() {
            for (const auto& [name, t] : originals) tf.setTensor(name, t);
        }
    } restore{tf, originals};
    at::NoGradGuard noGrad;
    for (const EditRequest& r : params.requests) {
        const TargetBatch batch = targetBatch(model, {{r.filledPrompt(), r.targetNew}});
        double before = 0;
        std::vector<GradFactors> f;
        {
            at::AutoGradMode grad(true);
            f = gradientFactors(tf, editor, batch.ids, batch.promptLen, batch.totalLen, &before);
        }
        const std::vector<at::Tensor> deltas = mendDeltas(editor, f, false);
        for (size_t i = 0; i < deltas.size(); ++i) {
            const std::string& name = editor.matrices[i].tensor;
            const at::Tensor d = deltas[i].detach().to(at::kDouble);
            total[name] = total.count(name) ? total[name] + d : d;
            tf.setTensor(name, (originals.at(name).to(at::kDouble) + total[name]).to(originals.at(name).scalar_type()));
        }
        EditRequestReport rep;
        rep.request = r;
        rep.nllInit = before;
        ForwardRequest fr;
        fr.ids = batch.ids;
        rep.nllFinal = targetNewLoss(tf.forward(fr).logits, batch.ids, batch.promptLen, batch.totalLen).item<double>();
        rep.losses = {rep.nllInit, rep.nllFinal};
        result.requests.push_back(rep);
        meter.step();
    }
    for (const auto& m : editor.matrices)
        result.delta.parts.push_back(
            TensorDelta::denseDelta(m.tensor, originals.at(m.tensor).sizes().vec(), toMatrix(total.at(m.tensor))));
    requireFiniteDelta(result.delta, "MEND", "edit_lr");
    result.notes.push_back("editor " + path + " (" + std::to_string(editor.steps) + " training steps)");
    return result;
}

}  // namespace kme::edit
