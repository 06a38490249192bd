#include "engine/trace/NeuronAttribution.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace kme {

const char* neuronRiemannName(NeuronRiemann rule) { return rule == NeuronRiemann::Left ? "left" : "right"; }

namespace {

at::Tensor longTensor(const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
}

std::string withLeadingSpace(const std::string& s) { return s.empty() || s[0] == ' ' ? s : " " + s; }

// The dtype probabilities are taken in: float64 models keep float64, others float32.
at::ScalarType probType(const Transformer& tf) { return tf.dtype() == at::kDouble ? at::kDouble : at::kFloat; }

// What the attribution of one prompt needs from its clean run.
struct CleanRun {
    int64_t T = 0;
    int64_t lastId = 0;
    std::vector<at::Tensor> keys;    // per layer [n_inner]: the MLP key at the last token
    std::vector<at::Tensor> hidden;  // per layer L >= 1: [1, 1, n_embd], the residual entering block L at the last token
    KVCache prefix;                  // positions 0 ... T-2 of every block
    at::Tensor logits;               // [V] at the last position
};

CleanRun cleanRun(const Transformer& tf, const std::vector<int>& ids) {
    at::NoGradGuard noGrad;
    const int nLayer = tf.config().nLayer;
    CleanRun c;
    c.T = int64_t(ids.size());
    c.lastId = ids.back();
    ForwardRequest req;
    req.ids = longTensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    req.logits = LogitsMode::Last;
    req.keepCache = c.T > 1;
    std::vector<at::Tensor> keys(static_cast<size_t>(nLayer)), blocks(static_cast<size_t>(nLayer));
    for (int l = 0; l < nLayer; ++l) {
        req.interventions.push_back(Intervention::read(Site::MlpKey, l, &keys[size_t(l)]));
        req.interventions.push_back(Intervention::read(Site::BlockOut, l, &blocks[size_t(l)]));
    }
    ForwardResult r = tf.forward(req);
    c.logits = r.logits.squeeze(0);
    for (int l = 0; l < nLayer; ++l) {
        c.keys.push_back(keys[size_t(l)][0][c.T - 1].clone());
        c.hidden.push_back(blocks[size_t(l)].narrow(1, c.T - 1, 1).clone());
    }
    if (c.T > 1) c.prefix = r.cache.prefix(c.T - 1);
    return c;
}

// p(answer) at the last token for `rows` copies whose block-`layer` key at
// the last token is `key` [rows, n_inner] (the last token only is run, after
// the clean prefix): [rows] probabilities.
at::Tensor lastTokenProb(const Transformer& tf, const CleanRun& c, int layer, const at::Tensor& key, int64_t answer) {
    const int64_t rows = key.size(0);
    ForwardRequest req;
    if (layer == 0) {
        req.ids = at::full({rows, 1}, c.lastId, at::TensorOptions().dtype(at::kLong));
    } else {
        req.hidden = c.hidden[size_t(layer - 1)].expand({rows, 1, c.hidden[size_t(layer - 1)].size(2)});
        req.startLayer = layer;
    }
    req.past = c.T > 1 ? &c.prefix : nullptr;
    req.logits = LogitsMode::Last;
    const at::Tensor value = key.unsqueeze(1);  // [rows, 1, n_inner]
    // A copy continues the pass (a later in-place step must not touch the leaf).
    req.interventions.push_back(
        Intervention::custom(Site::MlpKey, layer, [value](const at::Tensor&, int64_t) { return value.clone(); }));
    const at::Tensor logits = tf.forward(req).logits.to(probType(tf));  // [rows, V]
    return at::softmax(logits, -1).select(1, answer);
}

// Integrated gradients of one layer: scores [n_inner] (float64), and p(answer | key 0).
std::pair<at::Tensor, double> attributeLayer(const Transformer& tf, const CleanRun& c, int layer, int64_t answer,
                                             const NeuronParams& p) {
    const int m = p.steps;
    const at::Tensor a = c.keys[size_t(layer)];  // [n_inner]
    const int64_t piece = p.batch > 0 ? std::min(p.batch, m) : m;
    at::Tensor gradSum = at::zeros({a.size(0)}, at::TensorOptions().dtype(at::kDouble));
    const int first = p.riemann == NeuronRiemann::Left ? 0 : 1;
    double pZero = std::nan("");
    for (int k0 = 0; k0 < m; k0 += int(piece)) {
        const int n = int(std::min<int64_t>(piece, m - k0));
        std::vector<double> alphas;
        for (int k = 0; k < n; ++k) alphas.push_back(double(first + k0 + k) / double(m));
        const at::Tensor alpha = at::tensor(alphas, at::TensorOptions().dtype(at::kDouble)).to(a.scalar_type());
        at::Tensor scaled = (alpha.unsqueeze(1) * a.unsqueeze(0)).detach();  // [n, n_inner]
        scaled.set_requires_grad(true);
        const at::Tensor prob = lastTokenProb(tf, c, layer, scaled, answer);
        if (first == 0 && k0 == 0) pZero = prob[0].item<double>();  // alpha_0 = 0: the baseline
        prob.sum().backward();  // rows are independent: each row's gradient is its own
        gradSum += scaled.grad().to(at::kDouble).sum(0);
    }
    if (std::isnan(pZero)) {
        at::NoGradGuard noGrad;
        pZero = lastTokenProb(tf, c, layer, at::zeros_like(a).unsqueeze(0), answer)[0].item<double>();
    }
    return {a.to(at::kDouble) * gradSum / double(m), pZero};
}

void sortByScore(std::vector<NeuronScore>& v) {
    std::stable_sort(v.begin(), v.end(), [](const NeuronScore& x, const NeuronScore& y) {
        if (x.score != y.score) return x.score > y.score;
        return std::make_pair(x.layer, x.index) < std::make_pair(y.layer, y.index);
    });
}

// Neurons coarse in at least `need` prompts, with their mean score over all prompts.
std::vector<NeuronScore> sharedNeurons(const NeuronResult& r, double need) {
    std::map<std::pair<int, int>, int> count;
    for (const auto& pa : r.prompts)
        for (const auto& n : pa.coarse) ++count[{n.layer, n.index}];
    std::vector<NeuronScore> out;
    for (const auto& [key, cnt] : count) {
        if (double(cnt) < need - 1e-9) continue;
        NeuronScore s;
        s.layer = key.first;
        s.index = key.second;
        s.prompts = cnt;
        double sum = 0;
        for (const auto& pa : r.prompts) sum += pa.scores[size_t(key.first)][size_t(key.second)];
        s.score = sum / double(r.prompts.size());
        out.push_back(s);
    }
    sortByScore(out);
    return out;
}

}  // namespace

void selectNeurons(NeuronResult& r, double share, int minShared) {
    const int n = int(r.prompts.size());
    r.shareAdaptive = false;
    if (n <= 1) {
        r.shareUsed = -1;
        r.minCount = 1;
        r.neurons = n == 1 ? r.prompts[0].coarse : std::vector<NeuronScore>{};
        return;
    }
    r.minCount = std::max(1, std::min(minShared, n));
    auto need = [&](double p) { return std::max(p * double(n), double(r.minCount)); };
    if (share >= 0) {
        r.shareUsed = share;
        r.neurons = sharedNeurons(r, need(share));
        return;
    }
    // KN-D src/2_get_kn.py: start at 0.7; after each try move by 0.05 towards
    // 2-5 neurons; at most 6 tries, the last one counts.
    r.shareAdaptive = true;
    double p = 0.7;
    for (int tries = 0; tries < 6; ++tries) {
        r.shareUsed = p;
        r.neurons = sharedNeurons(r, need(p));
        const size_t kept = r.neurons.size();
        if (kept < 2) p -= 0.05;
        if (kept > 5) p += 0.05;
        if (kept >= 2 && kept <= 5) break;
    }
}

NeuronResult knowledgeNeurons(Model& model, const NeuronParams& p, const ProgressFn& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const Transformer& tf = model.transformer();
    const int nLayer = tf.config().nLayer;
    if (p.steps < 1 || p.steps > 10000)
        fail(ErrorKind::Input, "steps must be in [1, 10000], got " + std::to_string(p.steps));
    if (!(p.threshold >= 0 && p.threshold <= 1))
        fail(ErrorKind::Input, "the threshold must be in [0, 1], got " + std::to_string(p.threshold));
    if (!(p.share <= 1) || std::isnan(p.share))
        fail(ErrorKind::Input, "the share must be in [0, 1] (or negative for KN-D's adaptive share)");
    if (p.batch < 0) fail(ErrorKind::Input, "the batch must be 0 (all steps) or positive");
    std::vector<int> layers = p.layers;
    if (layers.empty())
        for (int l = 0; l < nLayer; ++l) layers.push_back(l);
    for (int l : layers)
        if (l < 0 || l >= nLayer)
            fail(ErrorKind::Input, "layer " + std::to_string(l) + " is out of range (the model has " +
                                       std::to_string(nLayer) + " layers)");
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());

    std::vector<std::string> prompts = {p.prompt};
    for (const auto& q : p.paraphrases)
        if (!q.empty()) prompts.push_back(q);
    std::vector<std::vector<int>> ids;
    for (const auto& q : prompts) ids.push_back(model.encodePrompt(q));  // empty / too long: ErrorKind::Input

    NeuronResult R;
    R.nLayer = nLayer;
    R.nInner = int(tf.config().nInner);
    R.steps = p.steps;
    R.riemann = p.riemann;
    R.threshold = p.threshold;

    const double total = double(prompts.size() * layers.size());
    double done = 0;
    auto checkCancel = [&] {
        if (!reportProgress(progress, done, total)) throw Cancelled();
    };
    checkCancel();
    at::AutoGradMode gradMode(true);  // callers may run under no-grad
    int64_t answer = -1;
    for (size_t q = 0; q < prompts.size(); ++q) {
        const CleanRun c = cleanRun(tf, ids[q]);
        if (answer < 0) {
            if (p.answer.empty()) {
                answer = c.logits.argmax().item<int64_t>();
            } else {
                const auto ans = model.tokenizer().encode(withLeadingSpace(p.answer));
                if (ans.empty()) fail(ErrorKind::Input, "the answer " + quoteForMessage(p.answer) + " has no tokens");
                answer = ans.front();
            }
            R.answerId = int(answer);
            R.answerToken = model.tokenText(R.answerId);
        }
        PromptAttribution pa;
        pa.prompt = prompts[q];
        pa.ids = ids[q];
        for (int id : pa.ids) pa.tokens.push_back(model.tokenText(id));
        pa.prob = at::softmax(c.logits.to(at::kDouble), -1)[answer].item<double>();
        pa.scores.assign(size_t(nLayer), {});
        for (int L : layers) {
            checkCancel();
            const auto [scores, pZero] = attributeLayer(tf, c, L, answer, p);
            const double* s = scores.data_ptr<double>();
            pa.scores[size_t(L)].assign(s, s + scores.numel());
            LayerAttribution la;
            la.layer = L;
            la.sum = scores.sum().item<double>();
            la.argmax = int(scores.argmax().item<int64_t>());
            la.max = s[la.argmax];
            la.pClean = pa.prob;
            la.pBaseline = pZero;
            pa.layers.push_back(la);
            done += 1;
        }
        pa.maxScore = -INFINITY;
        for (const auto& la : pa.layers) pa.maxScore = std::max(pa.maxScore, la.max);
        // Coarse: score > t * max over all layers (none when no score is positive).
        if (pa.maxScore > 0) {
            const double cut = p.threshold * pa.maxScore;
            for (int L : layers)
                for (size_t i = 0; i < pa.scores[size_t(L)].size(); ++i)
                    if (pa.scores[size_t(L)][i] > cut) pa.coarse.push_back({L, int(i), pa.scores[size_t(L)][i], 1});
            sortByScore(pa.coarse);
        }
        R.prompts.push_back(std::move(pa));
    }
    checkCancel();
    selectNeurons(R, p.share, p.minShared);
    R.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return R;
}

nlohmann::json neuronResultToJson(const NeuronResult& r) {
    using json = nlohmann::json;
    json j;
    const PromptAttribution* main = r.prompts.empty() ? nullptr : &r.prompts.front();
    j["prompt"] = main ? main->prompt : "";
    j["ids"] = main ? json(main->ids) : json::array();
    j["tokens"] = main ? json(main->tokens) : json::array();
    j["answer"] = {{"id", r.answerId}, {"token", r.answerToken}};
    j["n_layer"] = r.nLayer;
    j["n_inner"] = r.nInner;
    j["steps"] = r.steps;
    j["riemann"] = neuronRiemannName(r.riemann);
    j["threshold"] = r.threshold;
    j["share"] = r.shareUsed >= 0 ? json(r.shareUsed) : json(nullptr);
    j["share_adaptive"] = r.shareAdaptive;
    j["min_prompts"] = r.minCount;
    j["p_clean"] = main ? main->prob : 0.0;
    json scores = json::array();
    json layers = json::array();
    if (main) {
        for (const auto& row : main->scores) scores.push_back(row);
        for (const auto& la : main->layers)
            layers.push_back({{"layer", la.layer},
                              {"sum", la.sum},
                              {"max", la.max},
                              {"argmax", la.argmax},
                              {"p_clean", la.pClean},
                              {"p_baseline", la.pBaseline},
                              {"expected_sum", la.pClean - la.pBaseline},
                              {"gap", la.gap()}});
    }
    j["scores"] = std::move(scores);
    j["layers"] = std::move(layers);
    auto neuronList = [](const std::vector<NeuronScore>& v) {
        json out = json::array();
        for (const auto& n : v)
            out.push_back({{"layer", n.layer}, {"index", n.index}, {"score", n.score}, {"prompts", n.prompts}});
        return out;
    };
    j["neurons"] = neuronList(r.neurons);
    json prompts = json::array();
    for (const auto& pa : r.prompts) {
        json layerGaps = json::array();
        for (const auto& la : pa.layers) layerGaps.push_back({{"layer", la.layer}, {"sum", la.sum}, {"gap", la.gap()}});
        prompts.push_back({{"prompt", pa.prompt},
                           {"ids", pa.ids},
                           {"prob", pa.prob},
                           {"max_score", pa.maxScore},
                           {"coarse", neuronList(pa.coarse)},
                           {"completeness", std::move(layerGaps)}});
    }
    j["prompts"] = std::move(prompts);
    j["seconds"] = r.seconds;
    return j;
}

}  // namespace kme
