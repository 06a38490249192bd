#include "engine/trace/CausalTrace.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <tuple>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Sha256.h"
#include "engine/eval/Dataset.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace fs = std::filesystem;

namespace kme {

const char* traceKindName(TraceKind kind) {
    switch (kind) {
        case TraceKind::Hidden: return "hidden";
        case TraceKind::Mlp: return "mlp";
        case TraceKind::Attn: return "attn";
    }
    return "?";
}

std::optional<TraceKind> parseTraceKind(const std::string& name) {
    if (name == "hidden") return TraceKind::Hidden;
    if (name == "mlp") return TraceKind::Mlp;
    if (name == "attn") return TraceKind::Attn;
    return std::nullopt;
}

namespace {
// The most corrupted copies a trace uses: --samples' limit, and that of the
// samples in a --noise-in file.
constexpr int kMaxTraceSamples = 100000;
}  // namespace

NoiseSpec parseNoiseSpec(const std::string& text) {
    NoiseSpec spec;
    std::string number = text;
    spec.multiple = !text.empty() && (text.back() == 'x' || text.back() == 'X');
    if (spec.multiple) number.pop_back();
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v))
        fail(ErrorKind::Input, "--noise expects a non-negative number (0.1) or a multiple (3x), got " + quoteForMessage(text));
    spec.value = v;
    return spec;
}

int defaultTraceWindow(int nLayer) { return nLayer >= 20 ? 10 : std::max(1, nLayer / 4); }

std::pair<int, int> traceWindowLayers(int layer, int window, int nLayer) {
    // Python: range(max(0, L - W // 2), min(n_layer, L - (-W // 2))), floor division.
    auto floorDiv = [](int a, int b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
    return {std::max(0, layer - floorDiv(window, 2)), std::min(nLayer, layer - floorDiv(-window, 2))};
}

double embeddingStd(const Model& model, const std::vector<std::string>& subjects) {
    static std::mutex mutex;
    static std::map<std::string, double> cache;  // (weights hash, subjects digest) -> std
    Sha256 h;
    for (const auto& s : subjects) {
        h.update(s);
        h.update("\n", 1);
    }
    const std::string key = model.stateHash() + ":" + h.hexDigest();
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (auto it = cache.find(key); it != cache.end()) return it->second;
    }
    at::NoGradGuard noGrad;
    const at::Tensor& wte = model.transformer().weight(TensorRole::TokenEmbd);
    double std;
    if (subjects.empty()) {
        std = wte.to(at::kDouble).std().item<double>();
    } else {
        std::vector<int64_t> ids;
        for (const auto& s : subjects)
            for (int id : model.tokenizer().encode(s)) ids.push_back(id);
        if (ids.empty()) fail(ErrorKind::Input, "no subject tokens to measure the embedding std");
        const at::Tensor idx = at::tensor(at::ArrayRef<int64_t>(ids), at::TensorOptions().dtype(at::kLong));
        std = wte.index_select(0, idx).to(at::kDouble).std().item<double>();
    }
    std::lock_guard<std::mutex> lock(mutex);
    cache[key] = std;
    return std;
}

namespace {

// Work is cut into pieces of about this many bytes of temporaries: the
// allocator then reuses memory instead of mapping fresh pages for every
// product (glibc maps blocks over 32 MB anew each time, and page faults cost
// as much as the arithmetic), and memory stays bounded on large models.
constexpr double kDefaultPieceBytes = 16.0 * (1 << 20);

at::Tensor longTensor(const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
}

// The project fact set of a model in a project folder (<project>/model +
// <project>/facts.json), or "".
std::string projectFacts(const Model& model) {
    const fs::path p = fs::path(model.folder()).parent_path() / "facts.json";
    return fs::exists(p) ? p.string() : std::string();
}

std::string withLeadingSpace(const std::string& s) { return s.empty() || s[0] == ' ' ? s : " " + s; }

// Everything the cells of one trace share.
struct TraceSetup {
    const Transformer* tf = nullptr;
    int nLayer = 0, T = 0, N = 0, s = 0, e = 0;
    int64_t answer = 0;
    at::Tensor ids;          // [1, T]
    at::Tensor noise;        // [N * (e - s), n_embd] sigma * z, rows ordered (copy, subject token)
    at::Tensor noiseRows;    // [N * (e - s)] batch rows (1..N in the reference batch, 0..N-1 in the fast one)
    at::Tensor noisePos;     // [N * (e - s)]
    // Clean run (batch 1): per layer [T, width] values at each site.
    std::vector<at::Tensor> cleanHidden, cleanMlp, cleanAttn;
    double pieceBytes = kDefaultPieceBytes;  // see TraceParams::pieceBytes
    mutable double flops = 0;  // accumulated by run()
    ForwardResult run(const ForwardRequest& req) const {
        ForwardResult r = tf->forward(req);
        flops += r.flops;
        return r;
    }
};

Intervention noiseIntervention(const TraceSetup& S, int rowOffset) {
    return Intervention::atCells(Intervention::Op::Add, Site::Embed, -1, S.noiseRows + rowOffset, S.noisePos, S.noise);
}

const std::vector<at::Tensor>& cleanValues(const TraceSetup& S, TraceKind kind) {
    return kind == TraceKind::Hidden ? S.cleanHidden : kind == TraceKind::Mlp ? S.cleanMlp : S.cleanAttn;
}

Site siteOf(TraceKind kind) {
    return kind == TraceKind::Hidden ? Site::BlockOut : kind == TraceKind::Mlp ? Site::MlpOut : Site::AttnOut;
}


// p(answer) = exp(logit[answer] - logsumexp(logits)) per row of last-position
// logits [rows, V], in the logits' precision (as ROME's softmax), then the
// mean over each group of N rows (in double).
std::vector<double> groupScores(const at::Tensor& logits, int64_t answer, int N,
                                double pieceBytes = kDefaultPieceBytes) {
    const int64_t rows = logits.size(0), V = logits.size(1);
    const int64_t piece = std::max<int64_t>(1, static_cast<int64_t>(pieceBytes / (V * logits.element_size())));
    std::vector<at::Tensor> p;
    for (int64_t r = 0; r < rows; r += piece) {
        const at::Tensor sub = logits.narrow(0, r, std::min(piece, rows - r));
        p.push_back(at::exp((sub.select(1, answer) - at::logsumexp(sub, 1)).to(at::kDouble)));
    }
    const at::Tensor m = at::cat(p).view({-1, N}).mean(1);
    return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

// The layers a cell restores.
std::pair<int, int> restoredLayers(TraceKind kind, int layer, int window, int nLayer) {
    return kind == TraceKind::Hidden ? std::make_pair(layer, layer + 1) : traceWindowLayers(layer, window, nLayer);
}

// ROME's algorithm: the whole batch (clean row 0 + N corrupted rows) for every cell.
void referenceRow(const TraceSetup& S, TraceKind kind, int t, int window, std::vector<double>& out,
                  const std::function<void()>& checkCancel) {
    const auto& clean = cleanValues(S, kind);
    std::vector<int64_t> rows;
    for (int r = 1; r <= S.N; ++r) rows.push_back(r);
    for (int L = 0; L < S.nLayer; ++L) {
        checkCancel();
        ForwardRequest req;
        req.ids = S.ids.expand({S.N + 1, S.T});
        req.logits = LogitsMode::Last;
        req.interventions.push_back(noiseIntervention(S, 1));
        const auto [lo, hi] = restoredLayers(kind, L, window, S.nLayer);
        for (int l = lo; l < hi; ++l)
            req.interventions.push_back(Intervention::replace(siteOf(kind), l, {t}, clean[l][t], rows));
        const at::Tensor logits = S.run(req).logits.narrow(0, 1, S.N);
        out[L] = groupScores(logits, S.answer, S.N)[0];
    }
}

// The corrupted run (N rows): hidden state entering each block, and the
// keys/values of every block.
struct CorruptRun {
    std::vector<at::Tensor> blockIn;  // [nLayer + 1] of [N, T, D]; blockIn[l] enters block l; [nLayer] = final
    KVCache cache;                    // [N, H, T, hd] per block
};

CorruptRun corruptRun(const TraceSetup& S) {
    CorruptRun run;
    ForwardRequest req;
    req.ids = S.ids.expand({S.N, S.T});
    req.keepCache = true;
    req.logits = LogitsMode::None;
    req.interventions.push_back(noiseIntervention(S, 0));
    at::Tensor embed;
    req.interventions.push_back(Intervention::read(Site::Embed, -1, &embed));
    std::vector<at::Tensor> out(S.nLayer);
    for (int l = 0; l < S.nLayer; ++l) req.interventions.push_back(Intervention::read(Site::BlockOut, l, &out[l]));
    ForwardResult r = S.run(req);
    run.cache = std::move(r.cache);
    run.blockIn.push_back(S.tf->blockInput(embed, 0));  // + learned positions where the family has them
    for (int l = 0; l < S.nLayer; ++l) run.blockIn.push_back(out[l]);
    return run;
}

// The least-work algorithm, for one token row t of every kind at once.
// Positions before t are the corrupted run's (cached keys/values); a cell
// starts at its first restored layer (hidden: the layer after, with the
// restored state as input); cells that are still identical share one copy of
// the batch (mlp/attn windows that start at the same layer restore the same
// layers until the shorter window ends: the copy splits there); all copies of
// the row, of all kinds, run in one growing batch, block by block (large
// matrix products, each block's weights read once per row); only the last
// position's logits.
void fastRow(const TraceSetup& S, const CorruptRun& C, const std::vector<TraceKind>& kinds, int t, int window,
             const std::vector<std::vector<double>*>& out, const std::function<void()>& checkCancel) {
    const int N = S.N, nL = S.nLayer, len = S.T - t;
    struct Cell {
        int kind, layer, lo, hi;  // kind: index into `kinds`; restores layers [lo, hi)
    };
    std::vector<Cell> cells;
    std::vector<std::vector<int>> byStart(nL + 1);  // cell indices by the block they start at
    for (int k = 0; k < static_cast<int>(kinds.size()); ++k)
        for (int L = 0; L < nL; ++L) {
            const auto [lo, hi] = restoredLayers(kinds[k], L, window, nL);
            const int start = kinds[k] == TraceKind::Hidden ? L + 1 : lo;
            byStart[start].push_back(static_cast<int>(cells.size()));
            cells.push_back({k, L, lo, hi});
        }
    auto windowed = [&](int c) { return kinds[cells[c].kind] != TraceKind::Hidden; };
    // The widest activation per token (MLP hidden or q,k,v) and the bytes of one value.
    const ModelConfig& cfg = S.tf->config();
    const double widest = std::max({cfg.nInner, 4 * cfg.nEmbd, 3 * cfg.nEmbd});
    const double elementBytes = double(at::elementSize(S.tf->dtype()));
    auto restoredAt = [&](int c, int l) { return windowed(c) && cells[c].lo <= l && l < cells[c].hi; };
    at::Tensor active;                     // [copies * N, len, D]: copy g holds rows g*N .. g*N+N-1
    std::vector<std::vector<int>> copies;  // the cells each copy stands for (all of one kind)
    for (int l = 0; l <= nL; ++l) {
        checkCancel();
        // A copy whose cells disagree about restoring block l splits in two.
        if (l < nL && !copies.empty()) {
            std::vector<std::vector<int>> next;
            std::vector<int64_t> source;  // the copy each new copy continues
            bool split = false;
            for (size_t g = 0; g < copies.size(); ++g) {
                std::vector<int> on, off;
                for (int c : copies[g]) (restoredAt(c, l) ? on : off).push_back(c);
                split |= !on.empty() && !off.empty();
                for (auto* part : {&on, &off})
                    if (!part->empty()) {
                        next.push_back(std::move(*part));
                        source.push_back(static_cast<int64_t>(g));
                    }
            }
            if (split) {
                std::vector<int64_t> rows;
                for (int64_t g : source)
                    for (int r = 0; r < N; ++r) rows.push_back(g * N + r);
                active = active.index_select(0, longTensor(rows));
            }
            copies = std::move(next);
        }
        // Cells that start here: one copy for each hidden cell (each restores
        // its own layer's output), one shared copy per kind for the windows
        // that begin here.
        std::vector<std::vector<int>> starting;
        std::vector<std::vector<int>> windowsOf(kinds.size());
        for (int c : byStart[l]) {
            if (windowed(c)) windowsOf[cells[c].kind].push_back(c);
            else starting.push_back({c});
        }
        for (auto& group : windowsOf)
            if (!group.empty()) starting.push_back(std::move(group));
        std::vector<at::Tensor> parts;
        if (active.defined()) parts.push_back(active);
        for (const auto& group : starting) {
            const Cell& first = cells[group.front()];
            at::Tensor input = C.blockIn[l].narrow(1, t, len);
            if (!windowed(group.front())) {  // block first.layer's output restored at token t
                input = input.clone();
                input.select(1, 0).copy_(S.cleanHidden[first.layer][t].unsqueeze(0).expand({N, -1}));
            }
            parts.push_back(input);
            copies.push_back(group);
        }
        if (parts.size() > 1) active = at::cat(parts, 0);
        else if (!parts.empty()) active = parts.front();
        if (l == nL || !active.defined()) continue;
        // The copies run in pieces small enough for the allocator (see kDefaultPieceBytes).
        const int64_t groups = static_cast<int64_t>(copies.size());
        const int64_t piece =
            std::max<int64_t>(1, static_cast<int64_t>(S.pieceBytes / (double(N) * len * widest * elementBytes)));
        std::vector<at::Tensor> outputs;
        for (int64_t g0 = 0; g0 < groups; g0 += piece) {
            const int64_t n = std::min(piece, groups - g0);
            KVCache past;
            if (t > 0) {
                past.keys.resize(nL);
                past.values.resize(nL);
                past.keys[l] = C.cache.keys[l].narrow(2, 0, t).repeat({n, 1, 1, 1});
                past.values[l] = C.cache.values[l].narrow(2, 0, t).repeat({n, 1, 1, 1});
            }
            ForwardRequest req;
            req.hidden = n == groups ? active : active.narrow(0, g0 * N, n * N);
            req.startLayer = l;
            req.stopAfterLayer = l;
            req.past = t > 0 ? &past : nullptr;
            // Per windowed kind, the rows of its copies restored at this block.
            for (int k = 0; k < static_cast<int>(kinds.size()); ++k) {
                if (kinds[k] == TraceKind::Hidden) continue;
                std::vector<int64_t> rows;
                for (int64_t g = g0; g < g0 + n; ++g)
                    if (cells[copies[g].front()].kind == k && restoredAt(copies[g].front(), l))
                        for (int r = 0; r < N; ++r) rows.push_back((g - g0) * N + r);
                if (!rows.empty())
                    req.interventions.push_back(Intervention::atCells(
                        Intervention::Op::Replace, siteOf(kinds[k]), l, longTensor(rows),
                        at::full({int64_t(rows.size())}, t, at::kLong), cleanValues(S, kinds[k])[l][t].unsqueeze(0)));
            }
            outputs.push_back(S.run(req).hidden);
        }
        active = outputs.size() == 1 ? outputs.front() : at::cat(outputs, 0);
    }
    // Final logits of the last position, in pieces as well.
    const at::Tensor last = active.select(1, len - 1);  // [copies * N, D]
    const int64_t rows = last.size(0);
    const int64_t logitRows = std::max<int64_t>(
        N, static_cast<int64_t>(S.pieceBytes / (double(S.tf->config().vocabSize) * elementBytes)) / N * N);
    std::vector<double> scores;
    for (int64_t r = 0; r < rows; r += logitRows) {
        ForwardRequest final;
        final.hidden = last.narrow(0, r, std::min(logitRows, rows - r)).unsqueeze(1);
        final.startLayer = nL;
        final.logits = LogitsMode::Last;
        const auto part = groupScores(S.run(final).logits, S.answer, N, S.pieceBytes);
        scores.insert(scores.end(), part.begin(), part.end());
    }
    for (size_t g = 0; g < copies.size(); ++g)
        for (int c : copies[g]) (*out[cells[c].kind])[cells[c].layer] = scores[g];
}

}  // namespace

TraceResult causalTrace(Model& model, const TraceParams& p, const ProgressFn& progress, const TraceRowFn& onRow) {
    const auto t0 = std::chrono::steady_clock::now();
    at::NoGradGuard noGrad;
    const Transformer& tf = model.transformer();
    const Tokenizer& tok = model.tokenizer();
    TraceResult R;
    R.nLayer = tf.config().nLayer;
    R.kinds = p.kinds;
    R.seed = p.seed;
    R.strategy = p.strategy;
    if (p.kinds.empty()) fail(ErrorKind::Input, "no trace kind selected");
    int s, e;
    if (!p.ids.empty()) {
        R.ids = p.ids;
        s = p.subjectBegin;
        e = p.subjectEnd;
        if (s < 0 || e <= s || e > static_cast<int>(R.ids.size()))
            fail(ErrorKind::Input, "subject token range [" + std::to_string(s) + ", " + std::to_string(e) +
                                       ") does not fit " + std::to_string(R.ids.size()) + " tokens");
        if (static_cast<int>(R.ids.size()) > tf.config().nPositions)
            fail(ErrorKind::Input, "the prompt is longer than the model's context");
    } else {
        if (p.subject.empty()) fail(ErrorKind::Input, "the subject is empty");
        R.ids = model.encodePrompt(p.prompt);
        std::tie(s, e) = tok.subjectRange(p.prompt, p.subject);
    }
    R.subjectBegin = s;
    R.subjectEnd = e;
    for (int id : R.ids) R.tokens.push_back(model.tokenText(id));
    R.window = p.window > 0 ? p.window : defaultTraceWindow(R.nLayer);

    TraceSetup S;
    S.tf = &tf;
    if (p.pieceBytes > 0) S.pieceBytes = p.pieceBytes;
    S.nLayer = R.nLayer;
    S.T = static_cast<int>(R.ids.size());
    S.s = s;
    S.e = e;
    S.ids = longTensor(std::vector<int64_t>(R.ids.begin(), R.ids.end())).unsqueeze(0);

    // Clean run: answer, high score, clean values at every site.
    {
        ForwardRequest req;
        req.ids = S.ids;
        req.logits = LogitsMode::Last;
        std::vector<at::Tensor> h(R.nLayer), m(R.nLayer), a(R.nLayer);
        for (int l = 0; l < R.nLayer; ++l) {
            req.interventions.push_back(Intervention::read(Site::BlockOut, l, &h[l]));
            req.interventions.push_back(Intervention::read(Site::MlpOut, l, &m[l]));
            req.interventions.push_back(Intervention::read(Site::AttnOut, l, &a[l]));
        }
        const at::Tensor logits = S.run(req).logits;  // [1, V]
        if (p.answer.empty()) {
            S.answer = logits.squeeze(0).argmax().item<int64_t>();
        } else {
            const auto ans = tok.encodeContinuation(withLeadingSpace(p.answer));
            if (ans.empty()) fail(ErrorKind::Input, "the answer " + quoteForMessage(p.answer) + " has no tokens");
            S.answer = ans.front();
        }
        R.highScore = groupScores(logits, S.answer, 1)[0];  // as every cell is scored
        for (int l = 0; l < R.nLayer; ++l) {
            S.cleanHidden.push_back(h[l].squeeze(0));
            S.cleanMlp.push_back(m[l].squeeze(0));
            S.cleanAttn.push_back(a[l].squeeze(0));
        }
    }
    R.answerId = static_cast<int>(S.answer);
    R.answerToken = model.tokenText(R.answerId);

    // Noise: z [N, e - s, D] (seeded or from a file), scaled by sigma.
    const int64_t D = tf.config().nEmbd;
    at::Tensor z;
    if (!p.noiseIn.empty()) {
        auto file = SafetensorsFile::open(p.noiseIn);
        const TensorView* v = file->find("noise");
        if (!v) fail(ErrorKind::Input, p.noiseIn + ": no tensor named 'noise'");
        if (v->dtype != DType::F32 && v->dtype != DType::F64)
            fail(ErrorKind::Input, p.noiseIn + ": tensor 'noise' must be F32 or F64");
        if (v->shape.size() != 3 || v->shape[1] != e - s || v->shape[2] != D || v->shape[0] < 1)
            fail(ErrorKind::Input, p.noiseIn + ": tensor 'noise' must be [samples, " + std::to_string(e - s) + ", " +
                                       std::to_string(D) + "] for this subject and model");
        // As many samples as --samples allows, checked before anything is allocated.
        if (v->shape[0] > kMaxTraceSamples)
            fail(ErrorKind::Input, p.noiseIn + ": tensor 'noise' holds " + std::to_string(v->shape[0]) +
                                       " samples, more than the " + std::to_string(kMaxTraceSamples) +
                                       " a trace can use (as --samples)");
        z = at::from_blob(const_cast<uint8_t*>(v->data), v->shape,
                          at::TensorOptions().dtype(v->dtype == DType::F32 ? at::kFloat : at::kDouble))
                .to(at::kDouble)
                .clone();
    } else {
        if (p.samples < 1 || p.samples > kMaxTraceSamples)
            fail(ErrorKind::Input, "--samples must be in [1, " + std::to_string(kMaxTraceSamples) + "], got " +
                                       std::to_string(p.samples));
        at::Generator gen = at::detail::createCPUGenerator(p.seed);
        z = at::normal(0.0, 1.0, {p.samples, e - s, D}, gen, at::TensorOptions().dtype(at::kDouble));
    }
    S.N = static_cast<int>(z.size(0));
    R.samples = S.N;
    if (p.noise.multiple) {
        std::string facts = p.noise.factsPath;
        if (facts.empty()) facts = projectFacts(model);
        std::vector<std::string> subjects;
        if (!facts.empty() && facts != "none") {
            std::set<std::string> unique;
            for (const auto& r : loadDataset(facts).records) unique.insert(r.subject);
            subjects.assign(unique.begin(), unique.end());
        }
        const double std = embeddingStd(model, subjects);
        R.sigma = p.noise.value * std;
        char buf[160];
        if (subjects.empty())
            std::snprintf(buf, sizeof buf, "%gx std of the embedding matrix (%.6g)", p.noise.value, std);
        else
            std::snprintf(buf, sizeof buf, "%gx std of the token embeddings of %zu subjects in %s (%.6g)",
                          p.noise.value, subjects.size(), fs::path(facts).filename().c_str(), std);
        R.sigmaSource = buf;
    } else {
        R.sigma = p.noise.value;
        R.sigmaSource = "absolute";
    }
    if (!p.noiseOut.empty()) {
        const at::Tensor zc = z.contiguous();
        writeSafetensors(p.noiseOut, {TensorData{"noise", DType::F64, zc.sizes().vec(), zc.data_ptr(), zc.nbytes()}},
                         {{"seed", std::to_string(p.seed)}, {"sigma", std::to_string(R.sigma)},
                          {"prompt", p.prompt}, {"subject", p.subject}});
    }
    {
        std::vector<int64_t> rows, pos;
        for (int n = 0; n < S.N; ++n)
            for (int t = s; t < e; ++t) {
                rows.push_back(n);
                pos.push_back(t);
            }
        S.noiseRows = longTensor(rows);
        S.noisePos = longTensor(pos);
        S.noise = (z * R.sigma).reshape({-1, D}).to(tf.dtype());
    }

    // Corrupted run: the low score (and, for the fast strategy, its states).
    CorruptRun corrupt;
    {
        ForwardRequest req;
        req.ids = S.ids.expand({S.N, S.T});
        req.logits = LogitsMode::Last;
        req.interventions.push_back(noiseIntervention(S, 0));
        R.lowScore = groupScores(S.run(req).logits, S.answer, S.N)[0];
        if (p.strategy == TraceStrategy::Fast) corrupt = corruptRun(S);
    }

    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (TraceKind k : p.kinds) {
        R.scores[k] = std::vector<std::vector<double>>(S.T, std::vector<double>(R.nLayer, nan));
        R.rowsDone[k] = 0;
    }
    double done = 0;
    const double total = double(p.kinds.size()) * S.T;
    auto checkCancel = [&] {
        if (!reportProgress(progress, done, total)) throw Cancelled();
    };
    if (p.strategy == TraceStrategy::Fast) {
        // Token rows in order, every kind of a row in one batch: the maps fill
        // in together, row by row.
        for (int t = 0; t < S.T; ++t) {
            std::vector<std::vector<double>*> rows;
            for (TraceKind k : p.kinds) rows.push_back(&R.scores[k][t]);
            if (t < s) {
                // Positions before the subject are identical in the clean and
                // corrupted runs: restoring them changes nothing.
                for (auto* row : rows) std::fill(row->begin(), row->end(), R.lowScore);
            } else {
                fastRow(S, corrupt, p.kinds, t, R.window, rows, checkCancel);
            }
            for (TraceKind k : p.kinds) R.rowsDone[k] = t + 1;
            done += double(p.kinds.size());
            if (onRow) onRow(R);
            checkCancel();
        }
    } else {
        for (TraceKind k : p.kinds) {
            for (int t = 0; t < S.T; ++t) {
                referenceRow(S, k, t, R.window, R.scores[k][t], checkCancel);
                R.rowsDone[k] = t + 1;
                ++done;
                if (onRow) onRow(R);
                checkCancel();
            }
        }
    }
    R.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    R.flops = S.flops;
    return R;
}

}  // namespace kme
