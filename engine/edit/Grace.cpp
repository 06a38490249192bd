// GRACE (Hartvigsen et al., NeurIPS 2023), following the authors' code
// (Thartvigsen/GRACE grace/editors/grace.py, GRACEAdapter):
// - the key of an edit is the input of the chosen layer's down projection at
//   the prompt's last token; the value replaces that layer's MLP output there;
// - a key farther than eps_init + eps_nearest from every entry starts a new
//   entry with radius eps_init;
// - within that distance of an entry with ANOTHER label: a new entry, and
//   both radii split (nearest: d/2 - 1e-5, new: d/2);
// - within it of an entry with the SAME label: no new entry; the nearest
//   radius grows to d when d exceeds it ("coverage"), and its value trains on;
// - the value is trained by Adam (edit_lr, n_iter steps) on the target's
//   mean token NLL with everything but the value frozen.
// Labels are compared as the target texts (grace.py compares the mean of the
// label ids, which confuses different labels with equal means).
#include "engine/edit/Grace.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/core/Error.h"
#include "engine/core/Sha256.h"
#include "engine/edit/EditInternal.h"
#include "engine/model/Model.h"

namespace kme::edit {

namespace {

at::Tensor rowsTensor(const std::vector<GraceEntry>& entries, bool keys) {
    if (entries.empty()) return at::Tensor();
    const int64_t w = int64_t(keys ? entries[0].key.size() : entries[0].value.size());
    at::Tensor t = at::empty({int64_t(entries.size()), w}, at::TensorOptions().dtype(at::kDouble));
    double* p = t.data_ptr<double>();
    for (const auto& e : entries) {
        const auto& v = keys ? e.key : e.value;
        std::memcpy(p, v.data(), v.size() * sizeof(double));
        p += w;
    }
    return t;
}

std::vector<double> vectorOf(const at::Tensor& t) {
    const at::Tensor c = t.detach().to(at::kDouble).contiguous().reshape({-1});
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Uniform [0, 1) from a seed, the same on every platform (splitmix64).
std::vector<double> uniformValues(int64_t n, uint64_t seed) {
    std::vector<double> out(static_cast<size_t>(n));
    uint64_t x = seed;
    for (auto& v : out) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        v = double(z >> 11) * (1.0 / 9007199254740992.0);
    }
    return out;
}

std::string entryId(const std::vector<double>& key, const std::string& label, uint64_t salt) {
    std::string bytes(reinterpret_cast<const char*>(key.data()), key.size() * sizeof(double));
    return sha256Hex(bytes + "\n" + label + "\n" + std::to_string(salt)).substr(0, 16);
}

}  // namespace

GraceHook::GraceHook(GraceCodebook book) : book_(std::move(book)) {
    keys_ = rowsTensor(book_.entries, true);
    values_ = rowsTensor(book_.entries, false);
    std::vector<double> eps;
    for (const auto& e : book_.entries) eps.push_back(e.epsilon);
    eps_ = at::tensor(at::ArrayRef<double>(eps), at::TensorOptions().dtype(at::kDouble));
}

std::pair<int64_t, double> GraceHook::nearest(const at::Tensor& query) const {
    if (book_.entries.empty()) return {-1, std::numeric_limits<double>::infinity()};
    const at::Tensor d = at::cdist(query.to(at::kDouble).reshape({1, -1}), keys_, 2.0, 2).reshape({-1});
    const auto m = d.min(0);
    return {std::get<1>(m).item<int64_t>(), std::get<0>(m).item<double>()};
}

void GraceHook::attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const {
    if (book_.entries.empty()) return;
    auto query = std::make_shared<at::Tensor>();
    // The down projection's input, after whatever the caller did to it.
    last.push_back(Intervention::custom(Site::MlpKey, book_.layer, [query](const at::Tensor& x, int64_t) {
        *query = x;
        return x;
    }));
    const at::Tensor keys = keys_, values = values_, eps = eps_;
    first.push_back(Intervention::custom(Site::MlpOut, book_.layer, [query, keys, values, eps](const at::Tensor& x, int64_t) {
        if (!query->defined()) return x;
        const int64_t B = x.size(0), T = x.size(1), W = x.size(2);
        // Euclidean distances in float64, without the matmul shortcut (exact enough to compare with radii).
        const at::Tensor q = query->detach().reshape({B * T, -1}).to(at::kDouble);
        const at::Tensor d = at::cdist(q, keys, 2.0, 2);
        const auto m = d.min(1);
        const at::Tensor hit = std::get<0>(m) <= eps.index_select(0, std::get<1>(m));
        if (!hit.any().item<bool>()) return x;  // outside every radius: untouched, bit for bit
        const at::Tensor replacement = values.index_select(0, std::get<1>(m)).to(x.scalar_type()).view({B, T, W});
        return at::where(hit.view({B, T, 1}), replacement, x);
    }));
}

GraceCodebook liveGraceCodebook(const Transformer& tf, int layer) {
    for (const auto& hook : tf.residentState().hooks)
        if (const auto* g = dynamic_cast<const GraceHook*>(hook.get()))
            if (g->codebook().layer == layer) return g->codebook();
    GraceCodebook empty;
    empty.layer = layer;
    return empty;
}

EditResult computeGrace(Model& model, const EditParams& params, const ProgressFn& progress) {
    const Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    const EditHparams& hp = params.hparams;
    const int layer = hp.layers.front();
    if (hp.layers.size() != 1)
        fail(ErrorKind::Input, "GRACE keeps its codebook at one layer; " + std::to_string(hp.layers.size()) + " given");
    const int64_t D = tf.config().nEmbd;

    GraceCodebook book = liveGraceCodebook(tf, layer);
    const size_t existing = book.entries.size();
    std::vector<bool> changed(existing, false);
    Meter meter(progress, double(params.requests.size()) * (hp.graceIters + 1));

    EditResult result;
    result.payloadKind = PayloadKind::Adapter;
    result.layers = {layer};
    for (size_t ri = 0; ri < params.requests.size(); ++ri) {
        const EditRequest& r = params.requests[ri];
        const std::vector<int> promptInt = model.encodePrompt(r.filledPrompt());
        const std::vector<int> targetInt = tok.encodeContinuation(r.targetNew);
        if (targetInt.empty()) fail(ErrorKind::Input, "target_new '" + r.targetNew + "' has no tokens");
        std::vector<int64_t> seq(promptInt.begin(), promptInt.end());
        seq.insert(seq.end(), targetInt.begin(), targetInt.end() - 1);
        if (int64_t(seq.size()) > tf.config().nPositions)
            fail(ErrorKind::Input, "the prompt and target of '" + r.filledPrompt() + "' do not fit the context");
        const int64_t p = int64_t(promptInt.size()) - 1, n = int64_t(targetInt.size());
        const at::Tensor ids = padBatch({seq});

        // The query: the down projection's input at the prompt's last token
        // (the layer's output there, for a warm start).
        at::Tensor keyRead, outRead, h0;
        {
            at::NoGradGuard noGrad;
            ForwardRequest req;
            req.ids = ids;
            req.logits = LogitsMode::None;
            req.stopAfterLayer = layer;
            req.interventions.push_back(Intervention::read(Site::MlpKey, layer, &keyRead));
            req.interventions.push_back(Intervention::read(Site::MlpOut, layer, &outRead));
            tf.forward(req);
            if (layer > 0) {
                ForwardRequest pre;
                pre.ids = ids;
                pre.logits = LogitsMode::None;
                pre.stopAfterLayer = layer - 1;
                h0 = tf.forward(pre).hidden.detach();
            }
        }
        const std::vector<double> query = vectorOf(keyRead[0][p]);
        const std::string label = r.targetNew;

        // The codebook rule of grace.py.
        int64_t nearest = -1;
        double dist = std::numeric_limits<double>::infinity();
        if (!book.entries.empty()) {
            GraceHook probe(book);
            std::tie(nearest, dist) = probe.nearest(keyRead[0][p]);
        }
        int64_t chosen;
        std::vector<double> start;
        const uint64_t salt = params.seed * 1000003ull + ri;
        auto addEntry = [&](double epsilon) {
            GraceEntry e;
            e.key = query;
            e.label = label;
            e.epsilon = epsilon;
            e.id = entryId(query, label, salt);
            e.value = hp.graceValueInit == "warm" ? vectorOf(outRead[0][p]) : uniformValues(D, salt ^ 0x6772616365ull);
            book.entries.push_back(e);
            return int64_t(book.entries.size()) - 1;
        };
        auto markChanged = [&](int64_t i) {
            if (size_t(i) < existing) changed[size_t(i)] = true;
        };
        std::string rule;
        if (nearest < 0 || dist > hp.graceEps + book.entries[size_t(nearest)].epsilon) {
            chosen = addEntry(hp.graceEps);
            rule = nearest < 0 ? "the codebook's first entry" : "a new entry (no key within reach)";
        } else if (book.entries[size_t(nearest)].label != label) {
            book.entries[size_t(nearest)].epsilon = dist / 2 - 1e-5;
            markChanged(nearest);
            chosen = addEntry(dist / 2);
            rule = "a new entry; it conflicts with the entry for '" + book.entries[size_t(nearest)].label +
                   "' at distance " + std::to_string(dist) + ", so both radii were split to d/2";
        } else {
            if (dist > book.entries[size_t(nearest)].epsilon) book.entries[size_t(nearest)].epsilon = dist;
            chosen = nearest;
            markChanged(nearest);
            rule = "no new entry: the entry for the same target at distance " + std::to_string(dist) +
                   " now covers it, and its value was trained on";
        }
        result.notes.push_back(r.subject + ": " + rule);

        // Train the chosen entry's value: it replaces the MLP output at the
        // prompt's last token; NLL of the target tokens.
        at::Tensor value = at::tensor(at::ArrayRef<double>(book.entries[size_t(chosen)].value),
                                      at::TensorOptions().dtype(at::kDouble))
                               .to(tf.dtype());
        value.set_requires_grad(true);
        Adam opt(hp.graceLr);
        std::vector<int64_t> targetRows;
        for (int64_t j = 0; j < n; ++j) targetRows.push_back(p + j);
        const at::Tensor rowsT = at::tensor(at::ArrayRef<int64_t>(targetRows), at::TensorOptions().dtype(at::kLong));
        const at::Tensor targetT =
            at::tensor(at::ArrayRef<int>(targetInt), at::TensorOptions().dtype(at::kInt)).to(at::kLong).unsqueeze(1);
        EditRequestReport report;
        report.request = r;
        for (int it = 0; it < hp.graceIters; ++it) {
            ForwardRequest req;
            if (layer > 0) {
                req.hidden = h0;
                req.startLayer = layer;
            } else {
                req.ids = ids;
            }
            req.logits = LogitsMode::None;
            req.interventions.push_back(Intervention::atCells(
                Intervention::Op::Replace, Site::MlpOut, layer, at::zeros({1}, at::TensorOptions().dtype(at::kLong)),
                at::full({1}, p, at::TensorOptions().dtype(at::kLong)), value.unsqueeze(0)));
            const at::Tensor hidden = tf.forward(req).hidden[0];
            const at::Tensor logp = at::log_softmax(finalLogits(tf, hidden.index_select(0, rowsT)), -1);
            const at::Tensor nll = -logp.gather(1, targetT).mean();
            const double loss = nll.item<double>();
            report.losses.push_back(loss);
            if (it == 0) report.nllInit = loss;
            report.nllFinal = loss;
            meter.step();
            if (loss < hp.graceStopLoss || it == hp.graceIters - 1) break;
            nll.backward();
            opt.step(value, value.grad());
            value.mutable_grad() = at::Tensor();
        }
        book.entries[size_t(chosen)].value = vectorOf(value);
        report.key = query;
        report.value = book.entries[size_t(chosen)].value;
        result.requests.push_back(std::move(report));
        meter.step(double(hp.graceIters + 1) - double(result.requests.back().losses.size()));
    }

    result.adapter.type = "grace";
    result.adapter.layer = layer;
    for (size_t i = existing; i < book.entries.size(); ++i) result.adapter.entries.push_back(book.entries[i]);
    for (size_t i = 0; i < existing; ++i)
        if (changed[i]) {
            GraceChange c;
            c.id = book.entries[i].id;
            c.epsilon = book.entries[i].epsilon;
            c.value = book.entries[i].value;
            result.adapter.changes.push_back(std::move(c));
        }
    if (!result.adapter.isFinite())
        fail(ErrorKind::Input, "GRACE produced a non-finite codebook value (NaN/Inf) \u2014 check edit_lr");
    return result;
}

}  // namespace kme::edit
