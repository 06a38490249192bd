// IKE (Zheng et al., "Can We Edit Factual Knowledge by In-Context
// Learning?", EMNLP 2023; code Zce1112zslx/IKE): no weight changes; k
// demonstrations and the new fact are placed before every prompt.
// Demonstrations are fact records of a fact file, each shown with its own new
// fact and one prompt: in turn a copy (the fact's own prompt), an update (a
// paraphrase, answered with the new target) and a retain (a neighbour,
// answered with its own answer) -- the paper's three kinds. They are the
// records most similar to the edit, by cosine similarity of the model's own
// mean final hidden state over "prompt target" (the paper uses a sentence
// encoder; none is available offline, so the model being edited embeds).
#include <algorithm>
#include <mutex>
#include <numeric>

#include "engine/core/Error.h"
#include "engine/core/Sha256.h"
#include "engine/edit/EditInternal.h"
#include "engine/model/Model.h"

namespace kme::edit {

namespace {

std::string trimmed(std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    return s;
}

std::string fill(std::string t, const std::map<std::string, std::string>& values) {
    for (const auto& [key, value] : values) {
        const std::string mark = "{" + key + "}";
        for (size_t at = t.find(mark); at != std::string::npos; at = t.find(mark, at + value.size()))
            t.replace(at, mark.size(), value);
    }
    return t;
}

// Mean final hidden state of each text (the weights alone: the edit's own
// context must not shape the choice), [N, n_embd] float64, L2-normalized.
at::Tensor embed(const Model& model, const std::vector<std::string>& texts) {
    at::NoGradGuard noGrad;
    const Transformer& tf = model.transformer();
    const int64_t D = tf.config().nEmbd;
    at::Tensor out = at::zeros({int64_t(texts.size()), D}, at::TensorOptions().dtype(at::kDouble));
    const size_t batch = 32;
    for (size_t start = 0; start < texts.size(); start += batch) {
        std::vector<std::vector<int64_t>> seqs;
        std::vector<int64_t> lengths;
        for (size_t i = start; i < std::min(texts.size(), start + batch); ++i) {
            std::vector<int> ids = model.tokenizer().encode(texts[i]);
            if (ids.empty()) ids.push_back(0);
            if (int64_t(ids.size()) > tf.config().nPositions) ids.resize(size_t(tf.config().nPositions));
            seqs.emplace_back(ids.begin(), ids.end());
            lengths.push_back(int64_t(ids.size()));
        }
        ForwardRequest req;
        req.ids = padBatch(seqs);
        req.logits = LogitsMode::None;
        req.bare = true;
        const at::Tensor h = tf.forward(req).hidden.to(at::kDouble);
        for (size_t b = 0; b < seqs.size(); ++b) {
            const at::Tensor mean = h[int64_t(b)].narrow(0, 0, lengths[b]).mean(0);
            out[int64_t(start + b)] = mean / mean.norm().clamp_min(1e-12);
        }
    }
    return out;
}

}  // namespace

EditResult computeIke(Model& model, const EditParams& params, const ProgressFn& progress) {
    const EditHparams& hp = params.hparams;
    const Tokenizer& tok = model.tokenizer();
    for (const char* key : {"{prompt}", "{target}"})
        if (hp.ikeFactTemplate.find(key) == std::string::npos)
            fail(ErrorKind::Input, std::string("IKE's fact_template needs ") + key);
    if (hp.ikeDemonstrations > 0)
        for (const char* key : {"{prompt}", "{target}", "{query}", "{answer}"})
            if (hp.ikeDemoTemplate.find(key) == std::string::npos)
                fail(ErrorKind::Input, std::string("IKE's demo_template needs ") + key);
    if (hp.ikeDemonstrations > 0 && params.demonstrations.empty())
        fail(ErrorKind::Input, "IKE needs fact records to draw its demonstrations from (a fact file), or k = 0");
    const int64_t nPositions = model.config().nPositions;
    const int64_t budget = nPositions - hp.ikePromptReserve;

    // The new facts, last.
    std::string facts;
    for (const auto& r : params.requests)
        facts += fill(hp.ikeFactTemplate, {{"prompt", r.filledPrompt()}, {"target", trimmed(r.targetNew)}});
    const int64_t factTokens = int64_t(tok.encode(facts).size());
    if (factTokens > budget)
        fail(ErrorKind::Input, "the new fact(s) take " + std::to_string(factTokens) + " tokens; with prompt_reserve " +
                                   std::to_string(hp.ikePromptReserve) + " the model's context of " +
                                   std::to_string(nPositions) + " leaves " + std::to_string(std::max<int64_t>(0, budget)));

    EditResult result;
    result.payloadKind = PayloadKind::Context;
    std::string demos;
    int used = 0;
    if (hp.ikeDemonstrations > 0) {
        // Candidates: records whose subject is none of the requests'.
        std::vector<const FactRecord*> pool;
        for (const auto& f : params.demonstrations) {
            bool own = false;
            for (const auto& r : params.requests) own = own || f.subject == r.subject;
            if (!own && !f.prompt.empty() && !f.targetNew.empty()) pool.push_back(&f);
        }
        std::vector<std::string> requestTexts, poolTexts;
        for (const auto& r : params.requests) requestTexts.push_back(r.filledPrompt() + r.targetNew);
        for (const FactRecord* f : pool) poolTexts.push_back(f->filledPrompt() + " " + trimmed(f->targetNew));
        // The pool's embeddings depend on the weights and the texts only: kept
        // for the next edit (an evaluation edits from the same pool 50 times).
        std::string joined = model.weightsHash();
        for (const auto& t : poolTexts) joined += "\n" + t;
        const std::string key = sha256Hex(joined);
        static std::mutex mutex;
        static std::pair<std::string, at::Tensor> cached;
        at::Tensor poolEmbeddings;
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (cached.first == key) poolEmbeddings = cached.second;
        }
        if (!poolEmbeddings.defined()) {
            poolEmbeddings = embed(model, poolTexts);
            std::lock_guard<std::mutex> lock(mutex);
            cached = {key, poolEmbeddings};
        }
        const at::Tensor e = embed(model, requestTexts);
        const at::Tensor sim = at::matmul(poolEmbeddings, e.t()).amax(1);
        std::vector<size_t> order(pool.size());
        std::iota(order.begin(), order.end(), 0);
        const double* s = sim.contiguous().data_ptr<double>();
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
        for (size_t i = 0; i < order.size() && used < hp.ikeDemonstrations; ++i) {
            const FactRecord& f = *pool[order[i]];
            const int kind = used % 3;  // copy, update, retain
            std::string query = f.filledPrompt(), answer = trimmed(f.targetNew), what = "copy";
            if (kind == 1 && !f.paraphrasePrompts.empty()) {
                query = f.paraphrasePrompts.front();
                what = "update";
            } else if (kind == 2 && !f.neighborhoodPrompts.empty() && !f.neighborhoodAnswers.empty()) {
                query = f.neighborhoodPrompts.front();
                answer = trimmed(f.neighborhoodAnswers.front());
                what = "retain";
            }
            const std::string demo = fill(hp.ikeDemoTemplate, {{"prompt", f.filledPrompt()},
                                                               {"target", trimmed(f.targetNew)},
                                                               {"query", query},
                                                               {"answer", answer}});
            if (int64_t(tok.encode(demos + demo + facts).size()) > budget) continue;  // a shorter one may fit
            demos += demo;
            ++used;
            result.notes.push_back("demonstration " + std::to_string(used) + " (" + what + ", similarity " +
                                   std::to_string(s[order[i]]).substr(0, 5) + "): " + f.filledPrompt() + " " +
                                   trimmed(f.targetNew));
        }
        if (used < hp.ikeDemonstrations)
            result.notes.push_back(std::to_string(used) + " of k = " + std::to_string(hp.ikeDemonstrations) +
                                   " demonstrations fit the model's context of " + std::to_string(nPositions) +
                                   " tokens beside prompt_reserve " + std::to_string(hp.ikePromptReserve));
    }
    result.context.text = demos + facts;
    const std::vector<int> ids = tok.encode(result.context.text);
    result.context.ids.assign(ids.begin(), ids.end());
    result.context.demonstrations = used;
    for (const auto& r : params.requests) {
        EditRequestReport rep;
        rep.request = r;
        result.requests.push_back(rep);
    }
    reportProgress(progress, 1, 1);
    return result;
}

}  // namespace kme::edit
