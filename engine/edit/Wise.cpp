// WISE (Wang et al., "WISE: Rethinking the Knowledge Memory for Lifelong
// Model Editing of Large Language Models", NeurIPS 2024), following
// zjunlp/EasyEdit easyeditor/models/wise (WISE.py, merge/gta.py):
// - the side memory of a layer is a copy W' of its down projection; the
//   checkpoint's W is never changed;
// - an edit trains a random mask of W' (mask_ratio of its weights, redrawn
//   every save_freq edits: a knowledge shard) by SGD (edit_lr, n_iter
//   steps) on the target's cross-entropy over the edit prompt in the context
//   templates, plus three activation margins on the gap
//   D(x) = || act(x W') - act(x W) ||: unrelated inputs below alpha, the
//   edit's above beta, and the two apart by gamma; W' is clamped to
//   W +- norm_constraint after each step;
// - at inference the memory answers where D(x) >= act_ratio x the smallest
//   gap seen on its edits;
// - the shards of merge_freq edits are merged by TIES.
// Differences, chosen and stated: the gap is measured per token (the edit's
// from its last prompt token on, the unrelated inputs' over all their
// tokens) and routing is per token (see Wise.h); the unrelated inputs are
// the context templates' own texts (EasyEdit takes one dataset prompt per
// edit; these are the model's own generations, present for every model);
// no SGD weight decay (EasyEdit's 1e-5 shrinks W' itself, immaterial over 70
// steps); an edit's requests train together (EasyEdit's batch_edit).
#include "engine/edit/Wise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
#include "engine/model/Model.h"

namespace kme::edit {

at::Tensor wiseActivation(const std::string& name, const at::Tensor& x) {
    if (name == "gelu_new") return at::gelu(x, "tanh");
    if (name == "gelu") return at::gelu(x);
    if (name == "silu") return at::silu(x);
    return at::relu(x);
}

at::Tensor wiseMask(int64_t rows, int64_t cols, double ratio, int layer, int64_t shard) {
    at::Tensor m = at::empty({rows * cols}, at::TensorOptions().dtype(at::kBool));
    bool* p = m.data_ptr<bool>();
    uint64_t x = 0x7769736500000000ull ^ (uint64_t(uint32_t(layer)) << 32) ^ uint64_t(shard) * 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < rows * cols; ++i) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        p[i] = double(z >> 11) * (1.0 / 9007199254740992.0) < ratio;
    }
    return m.view({rows, cols});
}

at::Tensor tiesMerge(const std::vector<at::Tensor>& deltas, double density) {
    if (deltas.empty()) fail(ErrorKind::Internal, "TIES merge of nothing");
    const double w = 1.0 / double(deltas.size());
    std::vector<at::Tensor> trimmed;
    for (const auto& d : deltas) {
        const at::Tensor flat = d.to(at::kDouble).reshape({-1});
        const int64_t k = int64_t(density * double(flat.numel()));
        if (density >= 1 || k >= flat.numel()) {
            trimmed.push_back(flat * w);
            continue;
        }
        at::Tensor kept = at::zeros_like(flat);
        if (k > 0) {
            const at::Tensor idx = std::get<1>(flat.abs().topk(k));
            kept.index_put_({idx}, flat.index_select(0, idx));
        }
        trimmed.push_back(kept * w);
    }
    const at::Tensor stacked = at::stack(trimmed);                            // [n, N] weighted
    const at::Tensor majority = at::where(stacked.sum(0) >= 0, 1.0, -1.0);    // the elected sign
    const at::Tensor agree = (stacked.sign() == majority.unsqueeze(0)).to(at::kDouble);
    const at::Tensor mixed = (stacked * agree).sum(0);
    at::Tensor divisor = (agree * w).sum(0);
    divisor = at::where(divisor == 0, at::ones_like(divisor), divisor);
    return (mixed / divisor).view(deltas[0].sizes());
}

std::map<int, WiseLayer> wiseLayers(const std::vector<const AdapterPayload*>& enabled) {
    std::map<int, WiseLayer> layers;
    std::map<int, const WiseChange*> latest;
    for (const AdapterPayload* p : enabled) {
        if (p->type != "wise") continue;
        const WiseChange& c = p->wise;
        WiseLayer& L = layers[p->layer];
        L.layer = p->layer;
        L.edits += 1;
        latest[p->layer] = &c;
        at::Tensor& d = L.shardDelta[c.shard];
        if (!d.defined()) d = at::zeros({c.rows, c.cols}, at::TensorOptions().dtype(at::kDouble));
        if (!c.index.empty()) {
            const at::Tensor idx = at::tensor(at::ArrayRef<int64_t>(c.index), at::TensorOptions().dtype(at::kLong));
            const at::Tensor val = at::tensor(at::ArrayRef<double>(c.delta), at::TensorOptions().dtype(at::kDouble));
            d.view({-1}).index_put_({idx}, val, /*accumulate=*/true);
        }
        auto it = L.shardMinActivation.find(c.shard);
        if (it == L.shardMinActivation.end()) L.shardMinActivation[c.shard] = c.minActivation;
        else it->second = std::min(it->second, c.minActivation);
    }
    for (auto& [layer, L] : layers) {
        const WiseChange& s = *latest[layer];
        std::map<int64_t, std::vector<int64_t>> groups;  // merge group -> its shards present
        for (const auto& [shard, d] : L.shardDelta) groups[shard / s.mergeShards].push_back(shard);
        for (const auto& [g, shards] : groups) {
            double minAct = std::numeric_limits<double>::infinity();
            for (int64_t sh : shards) minAct = std::min(minAct, L.shardMinActivation[sh]);
            if (s.mergeShards >= 2 && int64_t(shards.size()) == s.mergeShards) {
                std::vector<at::Tensor> parts;
                for (int64_t sh : shards) parts.push_back(L.shardDelta[sh]);
                L.memories.push_back({tiesMerge(parts, s.density), s.actRatio * minAct, shards});
            } else {
                for (int64_t sh : shards)
                    L.memories.push_back({L.shardDelta[sh], s.actRatio * L.shardMinActivation[sh], {sh}});
            }
        }
    }
    return layers;
}

WiseHook::WiseHook(WiseLayer state, std::string activation)
    : state_(std::move(state)), activation_(std::move(activation)) {
    for (const auto& m : state_.memories) {
        deltas_.push_back(m.delta);
        thresholds_.push_back(m.threshold);
    }
}

void WiseHook::attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const {
    if (deltas_.empty()) return;
    auto query = std::make_shared<at::Tensor>();
    last.push_back(Intervention::custom(Site::MlpKey, state_.layer, [query](const at::Tensor& x, int64_t) {
        *query = x;
        return x;
    }));
    const auto deltas = deltas_;
    const auto thresholds = thresholds_;
    const std::string act = activation_;
    first.push_back(Intervention::custom(Site::MlpOut, state_.layer, [=](const at::Tensor& x, int64_t) {
        if (!query->defined()) return x;
        at::NoGradGuard noGrad;
        const at::Tensor q = query->detach();
        const at::Tensor base = wiseActivation(act, x.detach());
        at::Tensor best = at::full({x.size(0), x.size(1)}, -1.0, x.options());
        at::Tensor out = x;
        bool any = false;
        for (size_t m = 0; m < deltas.size(); ++m) {
            const at::Tensor side = x.detach() + at::matmul(q, deltas[m].to(x.scalar_type()));
            const at::Tensor gap = (wiseActivation(act, side) - base).norm(2, -1);
            const at::Tensor take = (gap >= thresholds[m]) & (gap > best);
            if (!take.any().item<bool>()) continue;
            any = true;
            best = at::where(take, gap, best);
            out = at::where(take.unsqueeze(-1), side, out);
        }
        return any ? out : x;  // no memory answers: the layer's own output, bit for bit
    }));
}

WiseLayer liveWiseLayer(const Transformer& tf, int layer) {
    for (const auto& hook : tf.residentState().hooks)
        if (const auto* w = dynamic_cast<const WiseHook*>(hook.get()))
            if (w->state().layer == layer) return w->state();
    WiseLayer empty;
    empty.layer = layer;
    return empty;
}

namespace {

// One row of the training batch.
struct Row {
    std::vector<int64_t> ids;
    std::vector<int64_t> positions;  // the edit's: its last prompt token and the target's (but the last)
    std::vector<int64_t> targets;    // the token each position must predict (edit rows only)
};

}  // namespace

EditResult computeWise(Model& model, const EditParams& params, const ProgressFn& progress) {
    const Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    const EditHparams& hp = params.hparams;
    if (hp.layers.size() != 1)
        fail(ErrorKind::Input, "WISE keeps its side memory at one layer; " + std::to_string(hp.layers.size()) + " given");
    if (hp.wiseMergeFreq % hp.wiseShardSize != 0)
        fail(ErrorKind::Input, "WISE's merge_freq (" + std::to_string(hp.wiseMergeFreq) +
                                   ") must be a multiple of save_freq (" + std::to_string(hp.wiseShardSize) + ")");
    const int layer = hp.layers.front();
    const int64_t I = tf.config().nInner, D = tf.config().nEmbd;

    const WiseLayer live = liveWiseLayer(tf, layer);
    const int64_t position = live.edits;
    const int64_t shard = position / hp.wiseShardSize;
    const auto found = live.shardDelta.find(shard);
    const at::Tensor before = found != live.shardDelta.end() ? found->second.clone()
                                                             : at::zeros({I, D}, at::TensorOptions().dtype(at::kDouble));
    const at::Tensor mask = wiseMask(I, D, hp.wiseMaskRatio, layer, shard);

    // The batch: each request in each context template (the edit), then the
    // templates' own texts (unrelated inputs).
    const auto groups = contextTemplates(model, hp, params.seed);
    std::vector<std::string> templates;
    std::set<std::string> unrelatedTexts;
    for (const auto& g : groups)
        for (const auto& t : g) {
            templates.push_back(t);
            const size_t at = t.find("{}");
            std::string prefix = t.substr(0, at);
            while (!prefix.empty() && prefix.back() == ' ') prefix.pop_back();
            if (!prefix.empty()) unrelatedTexts.insert(prefix);
        }
    if (unrelatedTexts.empty())
        fail(ErrorKind::Input, "WISE needs unrelated inputs for its activation margins and takes them from the context "
                               "templates' texts, but the templates are only \"{}\" (give context_template_length_params)");
    std::vector<Row> rows;
    for (const EditRequest& r : params.requests) {
        const std::vector<int> target = tok.encodeContinuation(r.targetNew);
        if (target.empty()) fail(ErrorKind::Input, "target_new '" + r.targetNew + "' has no tokens");
        for (const auto& t : templates) {
            const std::vector<int> prompt = model.encodePrompt(formatTemplate(t, r.filledPrompt()));
            Row row;
            row.ids.assign(prompt.begin(), prompt.end());
            row.ids.insert(row.ids.end(), target.begin(), target.end() - 1);
            if (int64_t(row.ids.size()) > tf.config().nPositions)
                fail(ErrorKind::Input, "the prompt and target of '" + r.filledPrompt() + "' do not fit the context");
            for (size_t j = 0; j < target.size(); ++j) {
                row.positions.push_back(int64_t(prompt.size()) - 1 + int64_t(j));
                row.targets.push_back(target[j]);
            }
            rows.push_back(std::move(row));
        }
    }
    const size_t nEdit = rows.size();
    for (const auto& text : unrelatedTexts) {
        std::vector<int> ids = model.encodePrompt(text);
        if (int64_t(ids.size()) > tf.config().nPositions) ids.resize(size_t(tf.config().nPositions));
        Row row;
        row.ids.assign(ids.begin(), ids.end());
        for (size_t j = 0; j < ids.size(); ++j) row.positions.push_back(int64_t(j));
        rows.push_back(std::move(row));
    }
    std::vector<std::vector<int64_t>> seqs;
    for (const auto& r : rows) seqs.push_back(r.ids);
    const at::Tensor ids = padBatch(seqs);
    const int64_t B = ids.size(0), T = ids.size(1);

    // Where the gaps and the loss are read: (row, position) cells.
    std::vector<int64_t> cellRow, cellPos, cellTarget, editCellRow;
    std::vector<double> cellWeight;  // 1 / cells of its row (row means)
    for (size_t b = 0; b < rows.size(); ++b)
        for (size_t j = 0; j < rows[b].positions.size(); ++j) {
            cellRow.push_back(int64_t(b));
            cellPos.push_back(rows[b].positions[j]);
            if (b < nEdit) cellTarget.push_back(rows[b].targets[j]);
        }
    auto longT = [](const std::vector<int64_t>& v) {
        return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
    };
    const at::Tensor rowsT = longT(cellRow), posT = longT(cellPos);
    const int64_t nEditCells = int64_t(cellTarget.size());
    const at::Tensor flatCells = rowsT * T + posT;  // into [B * T]
    const at::Tensor flatEdit = flatCells.narrow(0, 0, nEditCells);
    const at::Tensor targetT = longT(cellTarget);
    // Averaging matrix: cells -> rows (each row's mean over its cells).
    at::Tensor rowMean = at::zeros({B, int64_t(cellRow.size())}, at::TensorOptions().dtype(at::kFloat));
    {
        std::vector<int64_t> count(size_t(B), 0);
        for (int64_t r : cellRow) count[size_t(r)]++;
        for (size_t c = 0; c < cellRow.size(); ++c) rowMean[cellRow[c]][int64_t(c)] = 1.0 / double(count[size_t(cellRow[c])]);
    }
    rowMean = rowMean.to(tf.dtype());

    // The layers below run once.
    at::Tensor h0;
    if (layer > 0) {
        at::NoGradGuard noGrad;
        ForwardRequest pre;
        pre.ids = ids;
        pre.logits = LogitsMode::None;
        pre.bare = true;
        pre.stopAfterLayer = layer - 1;
        h0 = tf.forward(pre).hidden.detach();
    }

    Meter meter(progress, double(hp.wiseIters));
    const std::string act = tf.config().activation;
    at::Tensor delta = before.to(tf.dtype());
    const at::Tensor maskF = mask.to(tf.dtype());
    EditResult result;
    result.payloadKind = PayloadKind::Adapter;
    result.layers = {layer};
    result.contextTemplates = groups;
    EditRequestReport report;
    report.request = params.requests.front();
    double previous = std::numeric_limits<double>::infinity();
    double minActivation = 0;
    for (int it = 0; it < hp.wiseIters; ++it) {
        delta.set_requires_grad(true);
        auto query = std::make_shared<at::Tensor>();
        auto original = std::make_shared<at::Tensor>();
        auto side = std::make_shared<at::Tensor>();
        ForwardRequest req;
        if (layer > 0) {
            req.hidden = h0;
            req.startLayer = layer;
        } else {
            req.ids = ids;
        }
        req.bare = true;
        req.logits = LogitsMode::None;
        req.interventions.push_back(Intervention::custom(Site::MlpKey, layer, [query](const at::Tensor& x, int64_t) {
            *query = x;
            return x;
        }));
        req.interventions.push_back(
            Intervention::custom(Site::MlpOut, layer, [query, original, side, delta](const at::Tensor& x, int64_t) {
                *original = x;
                *side = x + at::matmul(*query, delta);
                return *side;
            }));
        const at::Tensor hidden = tf.forward(req).hidden;
        // Cross-entropy of the target at the edit's cells, averaged per row, then over rows.
        const at::Tensor editH = hidden.reshape({B * T, -1}).index_select(0, flatEdit);
        const at::Tensor nllCells = -at::log_softmax(finalLogits(tf, editH), -1).gather(1, targetT.unsqueeze(1)).squeeze(1);
        const at::Tensor editMean = rowMean.narrow(0, 0, int64_t(nEdit)).narrow(1, 0, nEditCells);
        const at::Tensor ce = at::matmul(editMean, nllCells).mean();
        // Activation gaps per cell, then per row.
        const at::Tensor gapAll = (wiseActivation(act, *side) - wiseActivation(act, *original)).norm(2, -1);  // [B, T]
        const at::Tensor rowGap = at::matmul(rowMean, gapAll.reshape({-1}).index_select(0, flatCells));
        const at::Tensor gIn = rowGap.narrow(0, 0, int64_t(nEdit));
        const at::Tensor gOut = rowGap.narrow(0, int64_t(nEdit), B - int64_t(nEdit));
        auto positiveMean = [](const at::Tensor& v) {
            const at::Tensor pos = v.clamp_min(0);
            const at::Tensor n = (v > 0).sum();
            return n.item<int64_t>() > 0 ? pos.sum() / n.to(v.scalar_type()) : at::zeros({}, v.options());
        };
        const at::Tensor margin = positiveMean(gOut.unsqueeze(1) - gIn.unsqueeze(0) + hp.wiseGamma);
        const at::Tensor outLoss = positiveMean(gOut - hp.wiseAlpha);
        const at::Tensor inLoss = positiveMean(hp.wiseBeta - gIn);
        const at::Tensor loss = ce + margin + outLoss + inLoss;
        const double value = loss.item<double>();
        report.losses.push_back(value);
        if (it == 0) report.nllInit = ce.item<double>();
        report.nllFinal = ce.item<double>();
        // The smallest per-cell gap of the edit's own cells (the routing threshold's base).
        minActivation = gapAll.reshape({-1}).index_select(0, flatEdit).min().item<double>();
        meter.step();
        const bool converged = value <= 2e-2 && std::fabs(previous - value) <= 1e-4;
        if (converged || it == hp.wiseIters - 1) break;
        previous = value;
        loss.backward();
        at::NoGradGuard noGrad;
        const at::Tensor step = delta.grad() * maskF * hp.wiseLr;
        delta = (delta.detach() - step).clamp(-hp.wiseNormConstraint, hp.wiseNormConstraint);
    }
    meter.step(double(hp.wiseIters) - double(report.losses.size()));

    // The payload: the change of the shard's masked weights.
    const at::Tensor change = (delta.detach().to(at::kDouble) - before).reshape({-1});
    const at::Tensor nz = (change != 0).nonzero().reshape({-1});
    WiseChange& w = result.adapter.wise;
    result.adapter.type = "wise";
    result.adapter.layer = layer;
    w.shard = shard;
    w.position = position;
    w.shardSize = hp.wiseShardSize;
    w.mergeShards = hp.wiseMergeFreq / hp.wiseShardSize;
    w.density = hp.wiseDensity;
    w.actRatio = hp.wiseActRatio;
    w.minActivation = minActivation;
    w.rows = I;
    w.cols = D;
    w.index = std::vector<int64_t>(nz.data_ptr<int64_t>(), nz.data_ptr<int64_t>() + nz.numel());
    const at::Tensor vals = change.index_select(0, nz).contiguous();
    w.delta = std::vector<double>(vals.data_ptr<double>(), vals.data_ptr<double>() + vals.numel());
    if (!result.adapter.isFinite())
        fail(ErrorKind::Input, "WISE produced a non-finite side memory (NaN/Inf) \u2014 lower edit_lr");
    for (const EditRequest& r : params.requests) {
        EditRequestReport one = report;
        one.request = r;
        result.requests.push_back(std::move(one));
    }
    result.notes.push_back("knowledge shard " + std::to_string(shard) + " (edit " + std::to_string(position + 1) +
                           " of the layer's side memory): " + std::to_string(w.index.size()) + " weights changed; " +
                           "the memory answers where its activation gap is at least " + std::to_string(hp.wiseActRatio) +
                           " x " + std::to_string(minActivation));
    return result;
}

}  // namespace kme::edit
