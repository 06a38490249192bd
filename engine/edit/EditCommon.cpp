// What ROME, MEMIT and FT-L share: templates and subject positions, site
// reads, the output head, context templates, and computeEdit's checks and
// dispatch (the v* / z optimisation: ValueOptimization.cpp).
#include "engine/edit/EditProblem.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/HparamSchema.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/Paths.h"
#include "engine/core/Sha256.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace fs = std::filesystem;

namespace kme::edit {

// ---------------------------------------------------------------- small pieces

std::string formatTemplate(const std::string& tmpl, const std::string& inner) {
    const auto at = tmpl.find("{}");
    if (at == std::string::npos) fail(ErrorKind::Input, "template '" + tmpl + "' has no '{}'");
    return tmpl.substr(0, at) + inner + tmpl.substr(at + 2);
}

Filled fillTemplate(const Tokenizer& tok, const std::string& tmpl, const std::string& subject) {
    const auto at = tmpl.find("{}");
    if (at == std::string::npos) fail(ErrorKind::Input, "template '" + tmpl + "' has no '{}'");
    const std::string text = tmpl.substr(0, at) + subject + tmpl.substr(at + 2);
    const size_t end = at + subject.size();
    Filled f;
    int64_t last = -1;
    for (const TokenSpan& s : tok.encodeForModelWithOffsets(text)) {
        if (s.start < end && s.end > at) last = static_cast<int64_t>(f.ids.size());
        f.ids.push_back(s.id);
    }
    if (last < 0) fail(ErrorKind::Input, "subject '" + subject + "' has no token in '" + text + "'");
    f.subjectLast = last;
    return f;
}

at::Tensor padBatch(const std::vector<std::vector<int64_t>>& seqs) {
    size_t T = 0;
    for (const auto& s : seqs) T = std::max(T, s.size());
    at::Tensor ids = at::zeros({int64_t(seqs.size()), int64_t(T)}, at::TensorOptions().dtype(at::kLong));
    int64_t* p = ids.data_ptr<int64_t>();
    for (size_t b = 0; b < seqs.size(); ++b) std::copy(seqs[b].begin(), seqs[b].end(), p + b * T);
    return ids;
}

namespace {
at::Tensor longTensor(const std::vector<int64_t>& v) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
}
}  // namespace

at::Tensor readAtSubject(const Transformer& tf, const std::vector<Filled>& prompts, Site site, int layer) {
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> parts;
    const size_t chunk = 64;
    for (size_t first = 0; first < prompts.size(); first += chunk) {
        const size_t last = std::min(prompts.size(), first + chunk);
        std::vector<std::vector<int64_t>> seqs;
        for (size_t i = first; i < last; ++i) seqs.push_back(prompts[i].ids);
        ForwardRequest req;
        req.ids = padBatch(seqs);
        req.stopAfterLayer = layer;
        req.logits = LogitsMode::None;
        at::Tensor out;
        req.interventions.push_back(Intervention::read(site, layer, &out));
        tf.forward(req);
        const int64_t T = req.ids.size(1);
        std::vector<int64_t> flat;
        for (size_t i = first; i < last; ++i) flat.push_back(int64_t(i - first) * T + prompts[i].subjectLast);
        parts.push_back(out.reshape({-1, out.size(2)}).index_select(0, longTensor(flat)).to(at::kDouble));
    }
    return at::cat(parts, 0);
}

at::Tensor finalLogits(const Transformer& tf, const at::Tensor& hidden) { return tf.headLogits(hidden); }

void Adam::step(at::Tensor& param, const at::Tensor& gradIn) {
    at::NoGradGuard noGrad;
    if (!m_.defined()) {
        m_ = at::zeros_like(param);
        v_ = at::zeros_like(param);
    }
    ++t_;
    const at::Tensor g = wd_ != 0 ? gradIn + wd_ * param : gradIn;
    m_.mul_(b1_).add_(g, 1 - b1_);
    v_.mul_(b2_).addcmul_(g, g, 1 - b2_);
    const double bc1 = 1 - std::pow(b1_, double(t_)), bc2 = 1 - std::pow(b2_, double(t_));
    const at::Tensor denom = (v_.sqrt() / std::sqrt(bc2)).add_(eps_);
    param.addcdiv_(m_, denom, -lr_ / bc1);
}

DeltaMatrix toMatrix(const at::Tensor& t) {
    const at::Tensor c = (t.dim() == 1 ? t.unsqueeze(1) : t).to(at::kDouble).contiguous();
    DeltaMatrix m;
    m.rows = c.size(0);
    m.cols = c.size(1);
    m.data.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    return m;
}

std::vector<double> toVector(const at::Tensor& t) {
    const at::Tensor c = t.detach().to(at::kDouble).contiguous().reshape({-1});
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

TensorDelta downProjectionDelta(const Transformer& tf, int layer, const at::Tensor& left, const at::Tensor& right) {
    const std::string name = tensorName(tf.config().arch, TensorRole::MlpDownW, layer);
    const auto shape = tf.tensor(name).sizes().vec();
    // Conv1D keeps [n_inner, n_embd] (y = x W): W += left right^T; nn.Linear
    // keeps [n_embd, n_inner]: W += right left^T (ROME's upd_matrix_match_shape).
    if (tf.orientation(TensorRole::MlpDownW) == Orientation::OutIn)
        return TensorDelta::lowRank(name, shape, toMatrix(right), toMatrix(left));
    return TensorDelta::lowRank(name, shape, toMatrix(left), toMatrix(right));
}

void Meter::step(double n) {
    done_ += n;
    if (!reportProgress(fn_, std::min(done_, total_), total_)) throw Cancelled();
}

ProgressFn Meter::sub(double span) {
    const double base = done_;
    return [this, base, span](double d, double t) {
        const double frac = t > 0 ? std::min(1.0, d / t) : 0.0;
        return reportProgress(fn_, base + span * frac, total_);
    };
}

}  // namespace kme::edit

// ---------------------------------------------------------------- public

namespace kme {

using namespace kme::edit;

namespace {

// Drops bytes that are not part of a complete UTF-8 character (generated text
// may stop in the middle of one; the tokenizer rejects invalid UTF-8).
std::string cleanUtf8(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size();
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
        if (ok) out.append(s, i, n);
        i += ok ? n : 1;
    }
    return out;
}

// ROME's generate_fast: top-k sampling, no stop at <|endoftext|>; only ids
// the tokenizer knows (a config's vocab_size may exceed the tokenizer's).
std::vector<int> sampleTopK(const Model& model, const std::vector<int>& start, int maxNew, int topK, uint64_t seed) {
    at::NoGradGuard noGrad;
    const Transformer& tf = model.transformer();
    const int64_t known = std::min<int64_t>(model.tokenizer().vocabSize(), model.config().vocabSize);
    std::mt19937_64 rng(seed);
    std::vector<int> out;
    std::vector<int64_t> next(start.begin(), start.end());
    KVCache cache;
    for (int step = 0; step < maxNew; ++step) {
        if (static_cast<int>(start.size() + out.size()) >= model.config().nPositions) break;
        ForwardRequest req;
        req.ids = padBatch({next});
        req.past = step > 0 ? &cache : nullptr;
        req.keepCache = true;
        req.logits = LogitsMode::Last;
        ForwardResult r = tf.forward(req);
        cache = std::move(r.cache);
        const at::Tensor logits = r.logits[0].narrow(0, 0, known).to(at::kDouble);
        const auto top = logits.topk(std::min<int64_t>(topK, known));
        const at::Tensor p = at::softmax(std::get<0>(top), -1).contiguous();
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        double acc = 0;
        int64_t pick = p.size(0) - 1;
        for (int64_t i = 0; i < p.size(0); ++i) {
            acc += p[i].item<double>();
            if (u < acc) {
                pick = i;
                break;
            }
        }
        out.push_back(static_cast<int>(std::get<1>(top)[pick].item<int64_t>()));
        next = {out.back()};
    }
    return out;
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

}  // namespace

std::vector<std::vector<std::string>> contextTemplates(Model& model, const EditHparams& hp, uint64_t seed) {
    if (!hp.contextTemplates.empty()) return hp.contextTemplates;  // recorded templates, as given
    static std::mutex mutex;
    static std::map<std::string, std::vector<std::vector<std::string>>> memory;
    std::ostringstream k;
    k << model.stateHash() << "|seed " << seed << "|starts";
    for (const auto& s : hp.contextStarts) k << " " << nlohmann::json(s).dump();
    k << "|lengths";
    for (const auto& [n, c] : hp.contextLengths) k << " " << n << "x" << c;
    const std::string key = k.str();
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (auto it = memory.find(key); it != memory.end()) return it->second;
    }
    const fs::path file = fs::path(cacheFolder()) / "templates" / (sha256Hex(key).substr(0, 32) + ".json");
    std::vector<std::vector<std::string>> groups;
    try {
        std::ifstream in(file);
        if (in) {
            const auto j = nlohmann::json::parse(in);
            if (j.at("key").get<std::string>() == key) groups = j.at("templates").get<decltype(groups)>();
        }
    } catch (const std::exception&) {
        groups.clear();  // a damaged cache file is regenerated
    }
    if (groups.empty()) {
        const Tokenizer& tok = model.tokenizer();
        groups.push_back({"{}"});
        uint64_t counter = 0;
        for (const auto& [length, count] : hp.contextLengths) {
            std::vector<std::string> group;
            const int perStart = std::max(1, count / std::max<int>(1, int(hp.contextStarts.size())));
            for (const auto& start : hp.contextStarts) {
                std::vector<int> startIds;
                if (start == "<|endoftext|>") {
                    if (!tok.eosId()) fail(ErrorKind::Input, "context templates start at <|endoftext|>, which the tokenizer lacks");
                    startIds = {*tok.eosId()};
                } else {
                    startIds = tok.encodeForModel(start);
                }
                if (startIds.empty()) fail(ErrorKind::Input, "context template start '" + start + "' has no tokens");
                for (int g = 0; g < perStart; ++g) {
                    // ROME's max_out_len counts the start's tokens; top-k 5 as generate_fast.
                    const int maxNew = std::max(0, length - int(startIds.size()));
                    std::vector<int> all = startIds;
                    for (int id : sampleTopK(model, startIds, maxNew, 5, seed * 1000003ULL + counter++)) all.push_back(id);
                    std::string text = cleanUtf8(tok.decodeText(all, /*skipSpecial=*/true));
                    replaceAll(text, "<|endoftext|>", "");
                    replaceAll(text, "\n\n", " ");
                    replaceAll(text, "{", " ");
                    replaceAll(text, "}", " ");
                    group.push_back(text + ". {}");
                }
            }
            groups.push_back(group);
        }
        std::error_code ec;
        fs::create_directories(file.parent_path(), ec);
        try {
            writeFileAtomically(file.string(), nlohmann::json{{"key", key}, {"templates", groups}}.dump(1),
                                "context-template cache");
        } catch (const Error&) {
            // best effort: a cache that cannot be written is only slower
        }
    }
    std::lock_guard<std::mutex> lock(mutex);
    memory[key] = groups;
    return groups;
}

double targetProbability(const Model& model, const std::string& prompt, const std::string& target) {
    at::NoGradGuard noGrad;
    const std::vector<int> p = model.encodePrompt(prompt), t = model.tokenizer().encodeContinuation(target);
    if (t.empty()) fail(ErrorKind::Input, "the target '" + target + "' has no tokens");
    std::vector<int64_t> seq(p.begin(), p.end());
    seq.insert(seq.end(), t.begin(), t.end() - 1);
    if (static_cast<int>(seq.size()) > model.config().nPositions)
        fail(ErrorKind::Input, "the prompt and target '" + target + "' do not fit the context");
    ForwardRequest req;
    req.ids = padBatch({seq});
    req.logits = LogitsMode::None;
    const Transformer& tf = model.transformer();
    const at::Tensor hidden = tf.forward(req).hidden[0];
    const int64_t first = static_cast<int64_t>(p.size()) - 1, n = static_cast<int64_t>(t.size());
    const at::Tensor logp = at::log_softmax(finalLogits(tf, hidden.narrow(0, first, n)).to(at::kDouble), -1);
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += logp[j][t[size_t(j)]].item<double>();
    return std::exp(sum);
}

EditPayload EditResult::payload() const {
    EditPayload p;
    p.kind = payloadKind;
    switch (payloadKind) {
        case PayloadKind::Weights: p.weights = delta; break;
        case PayloadKind::Adapter: p.adapter = adapter; break;
        case PayloadKind::Context: p.context = context; break;
    }
    return p;
}

EditResult computeEdit(Model& model, const EditParams& paramsIn, const ProgressFn& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    resetEditProfile();
    EditParams params = paramsIn;
    if (params.requests.empty()) fail(ErrorKind::Input, "no edit request given");
    for (auto& r : params.requests) {
        r = normalizedRequest(r);
        validateRequest(model, r);
    }
    const MethodInfo& method = methodInfo(params.method);
    auto& layers = params.hparams.layers;
    if (layers.empty() && method.layers != LayerShape::None) {
        const std::string name = method.name;
        failEdit(EditProblem::NoLayer, "no default " + name + " layer is known for this model", name);
    }
    if (method.layers == LayerShape::None && !layers.empty())
        fail(ErrorKind::Input, std::string(method.displayName) + " changes no layer; leave out the layer");
    if (method.layers != LayerShape::None) validateLayers(model, layers);
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    validateHparams(params.hparams, params.method);  // every field in its schema range: a bounded run
    if (method.needsKeyStatistics && params.hparams.mom2Adjustment && params.statsTexts.empty())
        failEdit(EditProblem::NoStatsCorpus, std::string(method.displayName) + ": key statistics need a text corpus, and none was given", method.name);
    for (const auto& group : params.contextTemplates)
        for (const auto& t : group)
            if (t.find("{}") == std::string::npos) fail(ErrorKind::Input, "context template '" + t + "' has no '{}'");
    EditResult result = method.compute(model, params, progress);  // the method's row (engine/edit/methods/)
    result.method = params.method;
    result.payloadKind = method.payload;
    if (method.payload != PayloadKind::Weights && !result.payload().isFinite())
        fail(ErrorKind::Input, std::string(method.displayName) + " produced non-finite values (NaN/Inf)");
    result.hparams = params.hparams;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

}  // namespace kme
