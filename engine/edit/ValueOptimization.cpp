// The v* / z optimisation (kmeng01/rome rome/compute_v.py, kmeng01/memit
// memit/compute_z.py): Adam on a vector added at a site of the edit layer at
// the subject's last token of every rewriting prompt, against the target's
// NLL, a KL term on "{} is a" and a weight decay.
//
// What each step has to run: the vector changes nothing below the edit layer
// and nothing at positions before the subject's last token (causal
// attention). The default path (ValuePath::PositionPrefix) therefore runs the
// model once up to the edit layer, caches the keys/values of the positions
// before each prompt's subject in the blocks above, and lets every step run
// only those blocks on the positions from the subject's last token on. The
// prompts' prefixes differ in length: the cache is laid out right-aligned
// (row b's prefix ends at slot P = max prefix), the empty slots are masked
// out, and since the cache is computed in that same layout (a per-row shift
// of all positions, which RoPE's relative angles and learned position
// embeddings added at block 0 both leave unchanged) no key is re-rotated.
// The straightforward paths stay selectable (engine/edit/EditSpeed.h).
//
// Several requests (MEMIT's batch) go in one padded batch per step, each with
// its own vector, Adam state and early stop: a request's loss depends on its
// own vector only, so the summed loss's gradient is each request's own.
#include "engine/edit/EditInternal.h"
#include "engine/edit/EditSpeed.h"

#include <algorithm>
#include <limits>

#include "engine/core/Error.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::edit {

namespace {

at::Tensor longTensor(const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
}

// One request's prompts: the rewriting prompts (each context template around
// the prompt, followed by all target tokens but the last), then the KL prompt.
struct RequestPrompts {
    std::vector<Filled> prompts;
    std::vector<int64_t> target;
    int64_t nRewrite = 0;
};

RequestPrompts preparePrompts(const Model& model, const EditRequest& r, int layer,
                              const std::vector<std::string>& templates) {
    const Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    RequestPrompts out;
    const std::vector<int> targetInt = tok.encodeContinuation(r.targetNew);
    out.target.assign(targetInt.begin(), targetInt.end());
    const int64_t n = static_cast<int64_t>(out.target.size());
    if (n == 0) fail(ErrorKind::Input, "target_new '" + r.targetNew + "' has no tokens");
    for (const auto& t : templates) {
        Filled f = fillTemplate(tok, formatTemplate(t, r.prompt), r.subject);
        f.ids.insert(f.ids.end(), out.target.begin(), out.target.end() - 1);
        out.prompts.push_back(std::move(f));
    }
    out.nRewrite = static_cast<int64_t>(out.prompts.size());
    // At the last layer the value added at the subject's last token reaches no
    // later token (only attention in later layers carries it there): the NLL
    // of the target then does not depend on it and its gradient is zero, so
    // Adam would only amplify rounding noise into an arbitrary edit. Refuse,
    // unless the subject ends where the target's first token is predicted.
    if (layer >= tf.config().nLayer - 1) {
        bool reaches = false;
        for (const Filled& p : out.prompts) reaches = reaches || p.subjectLast >= int64_t(p.ids.size()) - n;
        if (!reaches)
            fail(ErrorKind::Input,
                 "layer " + std::to_string(layer) + " is the model's last layer: a change at the subject's last token "
                 "there cannot reach the tokens that predict the target (only the attention of later layers carries "
                 "it); edit a layer below " + std::to_string(layer));
    }
    out.prompts.push_back(fillTemplate(tok, "{} is a", r.subject));
    for (const auto& p : out.prompts)
        if (static_cast<int>(p.ids.size()) > tf.config().nPositions)
            fail(ErrorKind::Input, "a rewriting prompt of '" + r.filledPrompt() + "' is longer than the context");
    return out;
}

// One row of the batch: a prompt of a request.
struct Row {
    size_t request = 0;
    const Filled* prompt = nullptr;
    int64_t length = 0;
};

// One forward call of a step: some rows of the batch, padded to the group's width.
struct StepGroup {
    std::vector<int64_t> members;  // positions in StepBatch::rows
    int64_t width = 0;             // columns per row (Full / LayerPrefix: T; PositionPrefix: the longest suffix)
    int64_t past = 0;              // PositionPrefix: prefix slots (the longest prefix of the group)
    int64_t base = 0;              // the group's first row in the step's concatenated [sum rows x width, D]
    at::Tensor ids;                // Full: [B, T]
    at::Tensor hidden;             // LayerPrefix: [B, T, D] entering the edit layer; PositionPrefix: [B, S, D] after it
    KVCache pastCache;             // PositionPrefix: blocks above the edit layer, [B, Hkv, P, hd]
    at::Tensor allowed;            // PositionPrefix: [B, S, P + S] (undefined without a prefix)
    at::Tensor deltaRows;          // [B] request slot (0.. active requests) of each row
    at::Tensor sitePositions;      // Full / LayerPrefix: [B] the subject's last token of each row
};

// The rows of the active requests in the layout a step runs, rebuilt when a
// request stops.
struct StepBatch {
    std::vector<size_t> rows;  // indices into the full row list, request by request
    std::vector<StepGroup> groups;
    std::vector<size_t> groupOf;        // per position in rows
    std::vector<int64_t> indexInGroup;  // per position in rows
    // Row of the step's concatenated hidden states holding column c of batch position b.
    int64_t cell(size_t b, int64_t c) const {
        const StepGroup& g = groups[groupOf[b]];
        return g.base + indexInGroup[b] * g.width + c;
    }
};

}  // namespace

std::vector<ValueResult> optimizeValues(const Model& model, const std::vector<EditRequest>& requests, Site site,
                                        int layer, const std::vector<std::string>& templates, const EditHparams& hp,
                                        const std::function<void(size_t)>& onStep, const ValueOptions& options) {
    const Transformer& tf = model.transformer();
    const int64_t D = tf.config().nEmbd, L = tf.config().nLayer;
    const size_t Q = requests.size();
    std::vector<RequestPrompts> prepared;
    for (const EditRequest& r : requests) prepared.push_back(preparePrompts(model, r, layer, templates));

    std::vector<Row> allRows;
    std::vector<std::vector<size_t>> rowsOf(Q);  // each request's rows: rewriting prompts, then the KL prompt
    for (size_t q = 0; q < Q; ++q)
        for (const Filled& p : prepared[q].prompts) {
            rowsOf[q].push_back(allRows.size());
            allRows.push_back({q, &p, int64_t(p.ids.size())});
        }
    const int64_t R = int64_t(allRows.size());
    std::vector<std::vector<int64_t>> seqs;
    for (const Row& row : allRows) seqs.push_back(row.prompt->ids);
    const at::Tensor ids = padBatch(seqs);
    const int64_t T = ids.size(1);

    // The path: PositionPrefix needs the vector to act on the block's output
    // (MLP output or residual), the weights alone (adapters and contexts act
    // at absolute positions), and every target predicted at or after the
    // subject (always: the subject lies inside the prompt).
    ValuePath path = options.path;
    if (path == ValuePath::PositionPrefix) {
        bool ok = (site == Site::MlpOut || site == Site::BlockOut) && tf.residentState().empty();
        for (size_t q = 0; q < Q && ok; ++q) {
            const int64_t n = int64_t(prepared[q].target.size());
            for (int64_t b = 0; b < prepared[q].nRewrite; ++b) {
                const Filled& p = prepared[q].prompts[size_t(b)];
                ok = ok && p.subjectLast <= int64_t(p.ids.size()) - n;
            }
        }
        if (!ok) path = ValuePath::LayerPrefix;
    }
    if (path == ValuePath::LayerPrefix && layer == 0) path = ValuePath::Full;

    std::vector<ValueResult> out(Q);
    std::vector<at::Tensor> vInit(Q), klInit(Q);
    double flops = 0;  // forward passes and output heads of this call

    // ---- once per call: what does not depend on the vectors
    at::Tensor h0;        // LayerPrefix: residual entering `layer`, [R, T, D]
    at::Tensor suffixAll; // PositionPrefix: block `layer`'s output from each subject's last token on, [R, S, D]
    KVCache pastAll;      // PositionPrefix: keys/values of the prefixes in blocks > layer, [R, Hkv, P, hd]
    int64_t P = 0, S = 0;
    std::vector<int64_t> offset(size_t(R), 0);  // column c of a step's row r is position offset[r] + c
    {
        at::NoGradGuard noGrad;
        if (path == ValuePath::LayerPrefix) {
            ForwardRequest pre;
            pre.ids = ids;
            pre.stopAfterLayer = layer - 1;
            pre.logits = LogitsMode::None;
            const ForwardResult res = tf.forward(pre);
            flops += res.flops;
            h0 = res.hidden.detach();
        } else if (path == ValuePath::PositionPrefix) {
            ForwardRequest pre;
            pre.ids = ids;
            pre.stopAfterLayer = layer;
            pre.logits = LogitsMode::None;
            at::Tensor siteValue;
            pre.interventions.push_back(Intervention::read(site, layer, &siteValue));
            const ForwardResult res = tf.forward(pre);
            flops += res.flops;
            const at::Tensor hL = res.hidden.detach().reshape({R * T, D});
            for (size_t q = 0; q < Q; ++q) {
                const Row& first = allRows[rowsOf[q].front()];
                vInit[q] = siteValue[int64_t(rowsOf[q].front())][first.prompt->subjectLast].detach().clone();
            }
            for (int64_t r = 0; r < R; ++r) {
                offset[size_t(r)] = allRows[size_t(r)].prompt->subjectLast;
                P = std::max(P, offset[size_t(r)]);
                S = std::max(S, allRows[size_t(r)].length - offset[size_t(r)]);
            }
            // Suffixes: row r's positions subjectLast.. (clamped to its last token: padding columns).
            std::vector<int64_t> suffixIdx;
            for (int64_t r = 0; r < R; ++r)
                for (int64_t c = 0; c < S; ++c)
                    suffixIdx.push_back(r * T + std::min(offset[size_t(r)] + c, allRows[size_t(r)].length - 1));
            suffixAll = hL.index_select(0, longTensor(suffixIdx)).view({R, S, D});
            if (P > 0 && layer + 1 < L) {
                // Prefixes right-aligned at slot P: row r's position j sits at slot P - s_r + j.
                std::vector<int64_t> prefixIdx;
                std::vector<uint8_t> keyOk;
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t j = 0; j < P; ++j) {
                        const int64_t pos = j - (P - offset[size_t(r)]);
                        prefixIdx.push_back(r * T + std::max<int64_t>(pos, 0));
                        keyOk.push_back(pos >= 0);
                    }
                const at::Tensor allowed =
                    at::from_blob(keyOk.data(), {R, 1, P}, at::TensorOptions().dtype(at::kByte)).to(at::kBool);
                ForwardRequest cacheRun;
                cacheRun.hidden = hL.index_select(0, longTensor(prefixIdx)).view({R, P, D});
                cacheRun.startLayer = layer + 1;
                cacheRun.keepCache = true;
                cacheRun.logits = LogitsMode::None;
                cacheRun.attentionAllowed = allowed.expand({R, P, P});
                ForwardResult res = tf.forward(cacheRun);
                flops += res.flops;
                pastAll = std::move(res.cache);
            }
        }
    }

    // ---- the optimised vectors, one per request
    std::vector<at::Tensor> delta(Q);
    std::vector<Adam> opt;
    for (size_t q = 0; q < Q; ++q) {
        delta[q] = at::zeros({D}, at::TensorOptions().dtype(tf.dtype()));
        delta[q].set_requires_grad(true);
        opt.emplace_back(hp.vLr);
    }
    std::vector<size_t> active(Q);
    for (size_t q = 0; q < Q; ++q) active[q] = q;

    // Multiply-adds of one token through one block: the fixed cost of a group in tokens.
    const int64_t tokenMacs = 4 * D * D + (tf.config().traits().mlp == MlpKind::Gated ? 3 : 2) * D * tf.config().nInner;
    const EditSpeed speed = editSpeed();
    StepBatch batch;
    auto rebuild = [&] {
        batch = StepBatch{};
        std::vector<int64_t> slotOf;  // request slot of each batch position
        for (size_t a = 0; a < active.size(); ++a)
            for (size_t r : rowsOf[active[a]]) {
                batch.rows.push_back(r);
                slotOf.push_back(int64_t(a));
            }
        const size_t B = batch.rows.size();
        std::vector<int64_t> widths(B, T);
        if (path == ValuePath::PositionPrefix)
            for (size_t b = 0; b < B; ++b) widths[b] = allRows[batch.rows[b]].length - offset[batch.rows[b]];
        const std::vector<std::vector<size_t>> parts =
            groupRowsByWidth(widths, tokenMacs, speed.groupCostTokens, speed.groupRows && path == ValuePath::PositionPrefix);
        batch.groupOf.assign(B, 0);
        batch.indexInGroup.assign(B, 0);
        int64_t base = 0;
        for (const std::vector<size_t>& part : parts) {
            StepGroup g;
            std::vector<int64_t> keepRows, deltaRows, positions;
            for (size_t b : part) {
                batch.groupOf[b] = batch.groups.size();
                batch.indexInGroup[b] = int64_t(g.members.size());
                g.members.push_back(int64_t(b));
                keepRows.push_back(int64_t(batch.rows[b]));
                deltaRows.push_back(slotOf[b]);
                positions.push_back(allRows[batch.rows[b]].prompt->subjectLast);
                g.width = std::max(g.width, widths[b]);
            }
            // Every group keeps the whole prefix cache (slots 0..P-1, right-aligned
            // at P): the suffix's positions continue from P, as when the cache was
            // computed, so RoPE's angles between them and the cached keys hold.
            if (path == ValuePath::PositionPrefix) g.past = P;
            const int64_t Bg = int64_t(part.size());
            const at::Tensor keep = longTensor(keepRows);
            const bool all = Bg == R;  // every row, in the original order (one group, nobody stopped)
            g.deltaRows = longTensor(deltaRows);
            g.sitePositions = longTensor(positions);
            g.base = base;
            base += Bg * g.width;
            if (path == ValuePath::Full) g.ids = all ? ids : ids.index_select(0, keep);
            if (path == ValuePath::LayerPrefix) g.hidden = all ? h0 : h0.index_select(0, keep);
            if (path == ValuePath::PositionPrefix) {
                // Suffixes start at column 0: the group's rows fit in the first `width` columns.
                g.hidden = (all ? suffixAll : suffixAll.index_select(0, keep)).narrow(1, 0, g.width);
                if (g.past > 0 && layer + 1 < L) {
                    g.pastCache.keys.resize(size_t(L));
                    g.pastCache.values.resize(size_t(L));
                    for (int64_t l = layer + 1; l < L; ++l) {
                        const at::Tensor& k = pastAll.keys[size_t(l)];
                        const at::Tensor& v = pastAll.values[size_t(l)];
                        g.pastCache.keys[size_t(l)] = all ? k : k.index_select(0, keep);
                        g.pastCache.values[size_t(l)] = all ? v : v.index_select(0, keep);
                    }
                    std::vector<uint8_t> keyOk;
                    for (size_t b : part)
                        for (int64_t k = 0; k < g.past + g.width; ++k) keyOk.push_back(k >= g.past - offset[batch.rows[b]]);
                    g.allowed = at::from_blob(keyOk.data(), {Bg, 1, g.past + g.width}, at::TensorOptions().dtype(at::kByte))
                                    .to(at::kBool)
                                    .expand({Bg, g.width, g.past + g.width});
                }
            }
            batch.groups.push_back(std::move(g));
        }
    };
    rebuild();
    const int firstGroups = int(batch.groups.size());

    for (int it = 0; it < hp.vNumGradSteps; ++it) {
        std::vector<at::Tensor> activeDeltas;
        for (size_t q : active) activeDeltas.push_back(delta[q]);
        const at::Tensor deltas = at::stack(activeDeltas, 0);  // [active requests, D]

        // The residual stream after the last block at every (row, column), the
        // groups' rows one after another: [sum over groups of rows x width, D].
        std::vector<at::Tensor> hiddens;
        at::Tensor siteValue;
        const bool readInit = path != ValuePath::PositionPrefix && it == 0;
        for (const StepGroup& g : batch.groups) {
            const int64_t Bg = int64_t(g.members.size());
            const at::Tensor deltaPerRow = deltas.index_select(0, g.deltaRows);  // [Bg, D]
            at::Tensor hidden;
            if (path == ValuePath::PositionPrefix) {
                const at::Tensor in = g.width > 1 ? at::cat({g.hidden.narrow(1, 0, 1) + deltaPerRow.unsqueeze(1),
                                                             g.hidden.narrow(1, 1, g.width - 1)},
                                                            1)
                                                  : g.hidden + deltaPerRow.unsqueeze(1);
                if (layer + 1 < L) {
                    ForwardRequest req;
                    req.hidden = in;
                    req.startLayer = layer + 1;
                    if (g.past > 0) {
                        req.past = &g.pastCache;
                        req.attentionAllowed = g.allowed;
                    }
                    req.logits = LogitsMode::None;
                    const ForwardResult res = tf.forward(req);
                    flops += res.flops;
                    hidden = res.hidden;
                } else {
                    hidden = in;
                }
            } else {
                ForwardRequest req;
                if (path == ValuePath::LayerPrefix) {
                    req.hidden = g.hidden;
                    req.startLayer = layer;
                } else {
                    req.ids = g.ids;
                }
                req.logits = LogitsMode::None;
                if (readInit) req.interventions.push_back(Intervention::read(site, layer, &siteValue));
                req.interventions.push_back(Intervention::atCells(Intervention::Op::Add, site, layer,
                                                                  at::arange(Bg, at::TensorOptions().dtype(at::kLong)),
                                                                  g.sitePositions, deltaPerRow));
                const ForwardResult res = tf.forward(req);
                flops += res.flops;
                hidden = res.hidden;
            }
            hiddens.push_back(hidden.reshape({Bg * g.width, D}));
        }
        const at::Tensor hidden = hiddens.size() == 1 ? hiddens.front() : at::cat(hiddens, 0);

        // Cells read by the losses: each request's target cells, then the KL cells.
        std::vector<int64_t> cells, targetIds;
        std::vector<int64_t> firstRowOf;  // batch row of each active request's first prompt
        {
            int64_t b = 0;
            for (size_t q : active) {
                const RequestPrompts& rp = prepared[q];
                const int64_t n = int64_t(rp.target.size());
                firstRowOf.push_back(b);
                for (int64_t k = 0; k < rp.nRewrite; ++k, ++b) {
                    const Row& row = allRows[batch.rows[size_t(b)]];
                    const int64_t shift = path == ValuePath::PositionPrefix ? offset[batch.rows[size_t(b)]] : 0;
                    for (int64_t j = 0; j < n; ++j) {  // position len - n + j predicts target[j]
                        cells.push_back(batch.cell(size_t(b), row.length - n + j - shift));
                        targetIds.push_back(rp.target[size_t(j)]);
                    }
                }
                ++b;  // the KL row
            }
            int64_t kl = 0;
            for (size_t a = 0; a < active.size(); ++a) {
                kl += int64_t(rowsOf[active[a]].size());
                const size_t row = batch.rows[size_t(kl - 1)];
                const int64_t shift = path == ValuePath::PositionPrefix ? offset[row] : 0;
                cells.push_back(batch.cell(size_t(kl - 1), allRows[row].prompt->subjectLast - shift));
            }
        }
        const int64_t nTargetCells = int64_t(targetIds.size());
        const at::Tensor logits = finalLogits(tf, hidden.index_select(0, longTensor(cells)));
        flops += 2.0 * double(cells.size()) * double(D) * double(logits.size(1));
        const at::Tensor logp = at::log_softmax(logits.narrow(0, 0, nTargetCells), -1);
        const at::Tensor picked = logp.gather(1, longTensor(targetIds).unsqueeze(1));
        const at::Tensor klAll = at::log_softmax(logits.narrow(0, nTargetCells, int64_t(active.size())), -1);

        at::Tensor total;
        std::vector<size_t> still;
        int64_t cellAt = 0;
        for (size_t a = 0; a < active.size(); ++a) {
            const size_t q = active[a];
            const RequestPrompts& rp = prepared[q];
            const int64_t n = int64_t(rp.target.size());
            if (readInit)
                vInit[q] = siteValue[firstRowOf[a]][allRows[rowsOf[q].front()].prompt->subjectLast].detach().clone();
            const at::Tensor nllEach = -picked.narrow(0, cellAt, rp.nRewrite * n).view({rp.nRewrite, n}).sum(1) / double(n);
            cellAt += rp.nRewrite * n;
            const at::Tensor nll = nllEach.mean();
            const at::Tensor klLogp = klAll.narrow(0, int64_t(a), 1);
            if (!klInit[q].defined()) klInit[q] = klLogp.detach().clone();
            // torch kl_div(init, now, log_target=True, reduction="batchmean") = KL(now || init).
            const at::Tensor kl = hp.klFactor * (klLogp.exp() * (klLogp - klInit[q])).sum();
            const at::Tensor wd = hp.vWeightDecay * delta[q].norm() / vInit[q].norm().pow(2);
            const at::Tensor loss = nll + kl + wd;
            const double lossValue = loss.item<double>();
            out[q].losses.push_back(lossValue);
            const double nllValue = nll.item<double>();
            if (it == 0) out[q].nllInit = nllValue;
            out[q].nllFinal = nllValue;
            if (onStep) onStep(q);
            if (lossValue < hp.vStopLoss || it == hp.vNumGradSteps - 1) continue;  // this request is done
            still.push_back(q);
            total = total.defined() ? total + loss : loss;
        }
        if (still.empty()) break;

        total.backward();
        for (size_t q : still) {
            opt[q].step(delta[q], delta[q].grad());
            delta[q].mutable_grad() = at::Tensor();
            at::NoGradGuard noGrad;
            const double maxNorm = hp.clampNormFactor * vInit[q].norm().item<double>();
            const double norm = delta[q].norm().item<double>();
            if (norm > maxNorm) delta[q].mul_(maxNorm / norm);  // project into the L2 ball
            if (options.recordTrajectory) out[q].trajectory.push_back(delta[q].detach().to(at::kDouble).clone());
        }
        // Requests that stopped leave the batch (a no-op for the others' values).
        if (still.size() != active.size()) {
            active = still;
            rebuild();
        }
    }
    for (size_t q = 0; q < Q; ++q) {
        out[q].init = vInit[q].to(at::kDouble);
        out[q].target = (vInit[q] + delta[q].detach()).to(at::kDouble);
        out[q].path = path;
        out[q].forwardFlops = flops / double(Q);
        out[q].rowGroups = firstGroups;
    }
    return out;
}

ValueResult optimizeValue(const Model& model, const EditRequest& request, Site site, int layer,
                          const std::vector<std::string>& templates, const EditHparams& hp,
                          const std::function<void()>& onStep, const ValueOptions& options) {
    return optimizeValues(
               model, {request}, site, layer, templates, hp,
               [&onStep](size_t) {
                   if (onStep) onStep();
               },
               options)
        .front();
}

ValueOptions defaultValueOptions() {
    ValueOptions o;
    o.path = editSpeed().valuePath;
    return o;
}

}  // namespace kme::edit
