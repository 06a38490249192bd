#include "engine/eval/Metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/EditRequest.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme {

// ---------------------------------------------------------------- scoring

namespace {

struct Item {
    size_t query = 0, target = 0;
    std::vector<int64_t> seq;  // prompt + target tokens but the last
    int64_t first = 0;         // position whose logits predict the first target token
    std::vector<int> target_;  // target token ids
};

// Sequences per forward pass: bounded by tokens (B x T) so that a long
// prompt list never builds one huge batch.
constexpr int64_t kTokensPerPass = 4096;

}  // namespace

std::vector<std::vector<TargetScore>> scoreTargets(const Model& model, const std::vector<ScoreQuery>& queries) {
    at::NoGradGuard noGrad;
    const Tokenizer& tok = model.tokenizer();
    const int64_t context = model.config().nPositions;
    std::vector<std::vector<TargetScore>> out(queries.size());
    std::vector<Item> items;
    std::map<std::string, std::vector<int>> targetIds;  // the same target is tokenized once
    for (size_t q = 0; q < queries.size(); ++q) {
        const std::vector<int> p = model.encodePrompt(queries[q].prompt);
        out[q].resize(queries[q].targets.size());
        for (size_t t = 0; t < queries[q].targets.size(); ++t) {
            const std::string target = withTargetSpace(queries[q].targets[t]);
            if (queries[q].targets[t].empty())
                fail(ErrorKind::Input, "empty target to score after the prompt '" + queries[q].prompt + "'");
            auto it = targetIds.find(target);
            if (it == targetIds.end()) it = targetIds.emplace(target, tok.encodeContinuation(target)).first;
            const std::vector<int>& ids = it->second;
            if (ids.empty()) fail(ErrorKind::Input, "the target '" + target + "' has no tokens");
            Item item;
            item.query = q;
            item.target = t;
            item.seq.assign(p.begin(), p.end());
            item.seq.insert(item.seq.end(), ids.begin(), ids.end() - 1);
            if (static_cast<int64_t>(item.seq.size()) > context)
                fail(ErrorKind::Input, "the prompt '" + queries[q].prompt + "' with the target '" + target +
                                           "' does not fit the model's context of " + std::to_string(context) +
                                           " tokens");
            item.first = static_cast<int64_t>(p.size()) - 1;
            item.target_ = ids;
            out[q][t].target = target;
            out[q][t].tokens = static_cast<int>(ids.size());
            items.push_back(std::move(item));
        }
    }
    const Transformer& tf = model.transformer();
    size_t begin = 0;
    while (begin < items.size()) {
        // Grow the chunk while the padded batch stays within the token budget.
        size_t end = begin;
        int64_t longest = 0;
        while (end < items.size()) {
            const int64_t len = std::max<int64_t>(longest, static_cast<int64_t>(items[end].seq.size()));
            if (end > begin && len * static_cast<int64_t>(end - begin + 1) > kTokensPerPass) break;
            longest = len;
            ++end;
        }
        std::vector<std::vector<int64_t>> seqs;
        for (size_t i = begin; i < end; ++i) seqs.push_back(items[i].seq);
        ForwardRequest req;
        req.ids = edit::padBatch(seqs);  // right-padded: causal attention keeps padding out of real tokens
        req.logits = LogitsMode::None;
        const at::Tensor hidden = tf.forward(req).hidden;  // [B, T, n_embd]
        const int64_t T = req.ids.size(1);
        // Only the positions that predict target tokens go through the head.
        std::vector<int64_t> rows;
        for (size_t i = begin; i < end; ++i)
            for (size_t j = 0; j < items[i].target_.size(); ++j)
                rows.push_back(static_cast<int64_t>(i - begin) * T + items[i].first + static_cast<int64_t>(j));
        const at::Tensor picked = hidden.reshape({-1, hidden.size(2)})
                                      .index_select(0, at::tensor(at::ArrayRef<int64_t>(rows), at::TensorOptions().dtype(at::kLong)));
        const at::Tensor logp = at::log_softmax(edit::finalLogits(tf, picked).to(at::kDouble), -1).contiguous();
        const at::Tensor best = logp.argmax(-1).contiguous();
        const double* lp = logp.data_ptr<double>();
        const int64_t* bp = best.data_ptr<int64_t>();
        const int64_t vocab = logp.size(1);
        int64_t row = 0;
        for (size_t i = begin; i < end; ++i) {
            TargetScore& s = out[items[i].query][items[i].target];
            double sum = 0;
            for (int id : items[i].target_) {
                sum -= lp[row * vocab + id];
                if (bp[row] == id) ++s.tokensCorrect;
                ++row;
            }
            s.nll = sum / static_cast<double>(items[i].target_.size());
            s.prob = std::exp(-s.nll);
        }
        begin = end;
    }
    return out;
}

// ---------------------------------------------------------------- metric sets

const char* metricSetName(MetricSet set) {
    switch (set) {
    case MetricSet::Auto: return "auto";
    case MetricSet::CounterFact: return "counterfact";
    case MetricSet::Zsre: return "zsre";
    }
    return "?";
}

std::optional<MetricSet> parseMetricSet(const std::string& name) {
    if (name == "auto") return MetricSet::Auto;
    if (name == "counterfact") return MetricSet::CounterFact;
    if (name == "zsre") return MetricSet::Zsre;
    return std::nullopt;
}

MetricSet resolveMetricSet(MetricSet requested, const Dataset& dataset) {
    if (requested == MetricSet::Auto)
        return dataset.schema == DatasetSchema::Zsre ? MetricSet::Zsre : MetricSet::CounterFact;
    if (requested == MetricSet::CounterFact && dataset.schema == DatasetSchema::Zsre)
        fail(ErrorKind::Input, dataset.source +
                                   " is a zsRE file (src / alt / answers / loc): CounterFact metrics need "
                                   "CounterFact records (requested_rewrite, neighborhood_prompts, "
                                   "generation_prompts); use the zsRE metrics (token accuracy) instead");
    return requested;
}

void validateForMetrics(const std::vector<FactRecord>& records, MetricSet set, const std::string& source) {
    if (set == MetricSet::Auto) fail(ErrorKind::Internal, "validateForMetrics: resolve the metric set first");
    for (size_t i = 0; i < records.size(); ++i) {
        const FactRecord& r = records[i];
        const std::string where = source + ": record " + std::to_string(i) + " (case_id " + std::to_string(r.caseId) + ")";
        auto bad = [&](const std::string& what) { fail(ErrorKind::Input, where + ": " + what); };
        if (r.prompt.find("{}") == std::string::npos) bad("the prompt has no '{}' for the subject");
        if (r.targetNew.empty()) bad("empty target_new");
        if (r.targetTrue.empty())
            bad(set == MetricSet::Zsre ? "no answer ('answers' is empty): the scores compare alt with answers[0]"
                                       : "empty target_true: the scores compare target_new with target_true");
        for (const auto& p : r.paraphrasePrompts)
            if (p.empty()) bad("an empty paraphrase prompt");
        if (set == MetricSet::CounterFact) {
            if (!r.neighborhoodAnswers.empty() && r.neighborhoodAnswers.size() != r.neighborhoodPrompts.size())
                bad(std::to_string(r.neighborhoodAnswers.size()) + " neighborhood_answers for " +
                    std::to_string(r.neighborhoodPrompts.size()) + " neighborhood_prompts");
            for (const auto& p : r.neighborhoodPrompts)
                if (p.empty()) bad("an empty neighborhood prompt");
            for (const auto& a : r.neighborhoodAnswers)
                if (a.empty()) bad("an empty neighborhood answer");
            for (const auto& a : r.otherAttributes)
                if (a.prompt.empty() || a.target.empty())
                    bad("an other_attributes entry with an empty prompt or target (relation '" + a.relationId + "')");
            for (const auto& p : r.generationPrompts)
                if (p.empty()) bad("an empty generation prompt");
            for (const auto& p : r.portabilityPrompts)
                if (p.prompt.empty() || p.newAnswer.empty() || p.oldAnswer.empty())
                    bad("a portability prompt with an empty prompt or answer");
        } else {
            if (!r.localityPrompt.empty() && r.localityAnswer.empty()) bad("'loc' without 'loc_ans'");
        }
    }
}

std::string zsreLocalityPrompt(const std::string& question) {
    if (!question.empty() && question.back() == '?') return question;
    return question + "?";
}

// ---------------------------------------------------------------- record metrics

namespace {

template <class Fn>
std::optional<double> meanOver(const std::vector<ComparedPrompt>& prompts, Fn fn) {
    if (prompts.empty()) return std::nullopt;
    double sum = 0;
    for (const auto& p : prompts) sum += fn(p);
    return sum / static_cast<double>(prompts.size());
}

std::optional<double> tokenAccuracy(const std::vector<ComparedPrompt>& prompts) {
    int correct = 0, total = 0;
    for (const auto& p : prompts) {
        correct += p.expected.tokensCorrect;
        total += p.expected.tokens;
    }
    if (total == 0) return std::nullopt;
    return static_cast<double>(correct) / total;
}

uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

std::optional<double> RecordMetrics::efficacyScore() const {
    return meanOver(efficacy, [](const ComparedPrompt& p) { return p.success() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::efficacyMagnitude() const {
    return meanOver(efficacy, [](const ComparedPrompt& p) { return p.magnitude(); });
}
std::optional<double> RecordMetrics::paraphraseScore() const {
    return meanOver(paraphrase, [](const ComparedPrompt& p) { return p.success() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::paraphraseMagnitude() const {
    return meanOver(paraphrase, [](const ComparedPrompt& p) { return p.magnitude(); });
}
std::optional<double> RecordMetrics::neighborhoodScore() const {
    return meanOver(neighborhood, [](const ComparedPrompt& p) { return p.success() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::neighborhoodMagnitude() const {
    return meanOver(neighborhood, [](const ComparedPrompt& p) { return p.magnitude(); });
}
std::optional<double> RecordMetrics::otherAttributesScore() const {
    return meanOver(otherAttributes, [](const ComparedPrompt& p) { return p.success() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::otherAttributesAccuracy() const {
    return meanOver(otherAttributes, [](const ComparedPrompt& p) { return p.expected.greedy() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::portabilityScore() const {
    return meanOver(portability, [](const ComparedPrompt& p) { return p.success() ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::portabilityOldScore() const {
    return meanOver(portability, [](const ComparedPrompt& p) { return p.other.nll < p.expected.nll ? 1.0 : 0.0; });
}
std::optional<double> RecordMetrics::fluency() const {
    if (generationEntropy.empty()) return std::nullopt;
    double sum = 0;
    for (double e : generationEntropy) sum += e;
    return sum / static_cast<double>(generationEntropy.size());
}
std::optional<double> RecordMetrics::efficacyAccuracy() const { return tokenAccuracy(efficacy); }
std::optional<double> RecordMetrics::paraphraseAccuracy() const { return tokenAccuracy(paraphrase); }
std::optional<double> RecordMetrics::neighborhoodAccuracy() const { return tokenAccuracy(neighborhood); }

RecordMetrics computeRecordMetrics(const Model& model, const FactRecord& record, MetricSet set,
                                   const GenerationOptions& generation, int recordIndex, const CoEdited& coEdited) {
    if (set == MetricSet::Auto) fail(ErrorKind::Internal, "computeRecordMetrics: resolve the metric set first");
    RecordMetrics m;
    m.caseId = record.caseId;
    m.relationId = record.relationId;
    m.subject = record.subject;
    m.prompt = record.prompt;
    m.targetNew = withTargetSpace(record.targetNew);
    m.targetTrue = withTargetSpace(record.targetTrue);
    if (record.targetNew.empty()) fail(ErrorKind::Input, "case " + std::to_string(record.caseId) + ": empty target_new");
    if (record.targetTrue.empty())
        fail(ErrorKind::Input, "case " + std::to_string(record.caseId) +
                                   ": empty target_true (the scores compare target_new with target_true)");

    auto coEditedPrompt = [&](const std::string& p) {
        return std::find(coEdited.prompts.begin(), coEdited.prompts.end(), p) != coEdited.prompts.end();
    };
    auto coEditedAttribute = [&](const std::string& relation) {
        return !relation.empty() &&
               std::find(coEdited.subjectRelations.begin(), coEdited.subjectRelations.end(),
                         std::make_pair(record.subject, relation)) != coEdited.subjectRelations.end();
    };

    // Every prompt with (expected, competitor), scored in one batched call.
    enum Group { Efficacy, Paraphrase, Neighborhood, Attribute, Portability };
    std::vector<ScoreQuery> queries;
    std::vector<Group> groups;
    auto add = [&](Group g, const std::string& prompt, const std::string& expected, const std::string& other) {
        queries.push_back({prompt, {expected, other}});
        groups.push_back(g);
    };
    add(Efficacy, record.filledPrompt(), record.targetNew, record.targetTrue);
    for (const auto& p : record.paraphrasePrompts) add(Paraphrase, p, record.targetNew, record.targetTrue);
    if (set == MetricSet::CounterFact) {
        for (size_t i = 0; i < record.neighborhoodPrompts.size(); ++i) {
            const std::string& p = record.neighborhoodPrompts[i];
            if (coEditedPrompt(p)) {
                ++m.neighborhoodExcluded;
                continue;
            }
            const std::string& answer = record.neighborhoodAnswers.empty() ? record.targetTrue : record.neighborhoodAnswers.at(i);
            add(Neighborhood, p, answer, record.targetNew);
        }
        for (const auto& a : record.otherAttributes) {
            if (coEditedAttribute(a.relationId) || coEditedPrompt(a.prompt)) {
                ++m.otherAttributesExcluded;
                continue;
            }
            add(Attribute, a.prompt, a.target, record.targetNew);
        }
    } else if (!record.localityPrompt.empty()) {
        const std::string p = zsreLocalityPrompt(record.localityPrompt);
        if (coEditedPrompt(p)) ++m.neighborhoodExcluded;
        else add(Neighborhood, p, record.localityAnswer, record.targetNew);
    }
    // Two-hop prompts (both metric sets): the second hop (o, r2) or (o*, r2)
    // edited at the same time changes the expected answer: left out.
    for (const auto& p : record.portabilityPrompts) {
        if (coEditedPrompt(p.prompt) ||
            (!p.relationId.empty() &&
             std::any_of(coEdited.subjectRelations.begin(), coEdited.subjectRelations.end(), [&](const auto& sr) {
                 return sr.second == p.relationId && (sr.first == record.targetNew || sr.first == record.targetTrue);
             }))) {
            ++m.portabilityExcluded;
            continue;
        }
        add(Portability, p.prompt, p.newAnswer, p.oldAnswer);
    }
    const auto scores = scoreTargets(model, queries);
    for (size_t i = 0; i < queries.size(); ++i) {
        ComparedPrompt c{queries[i].prompt, scores[i][0], scores[i][1]};
        switch (groups[i]) {
        case Efficacy: m.efficacy.push_back(std::move(c)); break;
        case Paraphrase: m.paraphrase.push_back(std::move(c)); break;
        case Neighborhood: m.neighborhood.push_back(std::move(c)); break;
        case Attribute: m.otherAttributes.push_back(std::move(c)); break;
        case Portability: m.portability.push_back(std::move(c)); break;
        }
    }

    if (set == MetricSet::CounterFact && generation.enabled) {
        const Tokenizer& tok = model.tokenizer();
        const auto eos = tok.eosId();
        const int limit = std::min(generation.maxLength, model.config().nPositions);
        for (size_t j = 0; j < record.generationPrompts.size(); ++j) {
            const std::string& prompt = record.generationPrompts[j];
            const std::vector<int> ids = model.encodePrompt(prompt);
            GenerateParams gp;
            gp.maxNewTokens = std::max(0, limit - static_cast<int>(ids.size()));
            gp.topK = generation.topK;
            gp.seed = splitmix(generation.seed ^ splitmix(static_cast<uint64_t>(recordIndex) * 1000003ull + j));
            gp.stopAtEos = false;  // ROME's generate_fast runs to max_out_len
            std::vector<int> kept;
            if (gp.maxNewTokens > 0)
                for (int id : model.generate(ids, gp).ids)
                    if ((!eos || id != *eos) && id < tok.vocabSize()) kept.push_back(id);  // skip_special_tokens
            // ROME scores the whole generated text, prompt included.
            const std::string text = utf8::sanitize(prompt + tok.decode(kept));
            m.generations.push_back(text);
            m.generationEntropy.push_back(nGramEntropy(text));
        }
    }
    return m;
}

// ---------------------------------------------------------------- fluency

namespace {

bool isSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Characters NLTK's Treebank tokenizer always splits off.
bool alwaysSplit(char c) { return std::string(";@#$%&?!()[]{}<>\"").find(c) != std::string::npos; }

// Word-final contractions the Treebank tokenizer makes tokens of.
const char* const kClitics[] = {"n't", "'ll", "'re", "'ve", "'s", "'m", "'d"};

bool endsWithNoCase(const std::string& s, const std::string& suffix) {
    if (s.size() <= suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
    return true;
}

void pushWord(std::string word, std::vector<std::string>& out) {
    // Leading quotes / apostrophes.
    std::vector<std::string> tail;
    while (!word.empty() && (word.front() == '\'' || word.front() == '`')) {
        out.push_back(std::string(1, word.front()));
        word.erase(0, 1);
    }
    // Trailing punctuation: commas, colons, quotes; a final period unless the
    // word holds another period (an abbreviation such as "U.S.").
    for (;;) {
        if (word.empty()) break;
        const char c = word.back();
        if (c == ',' || c == ':' || c == '\'' || c == '`') {
            tail.push_back(std::string(1, c));
            word.pop_back();
        } else if (c == '.') {
            size_t dots = 0;
            while (dots < word.size() && word[word.size() - 1 - dots] == '.') ++dots;
            if (dots >= 2) {  // "..." is one token
                tail.push_back(word.substr(word.size() - dots));
                word.resize(word.size() - dots);
            } else if (word.find('.') != word.size() - 1) {
                break;  // "U.S." stays whole
            } else {
                tail.push_back(".");
                word.pop_back();
            }
        } else {
            break;
        }
    }
    if (!word.empty()) {
        bool split = false;
        for (const char* clitic : kClitics)
            if (endsWithNoCase(word, clitic)) {
                const size_t n = std::string(clitic).size();
                out.push_back(word.substr(0, word.size() - n));
                out.push_back(word.substr(word.size() - n));
                split = true;
                break;
            }
        if (!split) out.push_back(word);
    }
    out.insert(out.end(), tail.rbegin(), tail.rend());
}

}  // namespace

std::vector<std::string> wordTokens(const std::string& text) {
    // An approximation of nltk.word_tokenize (Treebank rules): whitespace
    // splits words; ; @ # $ % & ? ! brackets and double quotes are tokens of
    // their own; trailing commas, colons, quotes and a final period split off;
    // clitics (n't 's 'll 're 've 'm 'd) are separate tokens. NLTK also turns
    // double quotes into `` / '' and keeps periods inside a sentence with
    // its sentence splitter; these differences move the entropy little.
    std::vector<std::string> out;
    std::string word;
    auto flush = [&] {
        if (!word.empty()) pushWord(word, out);
        word.clear();
    };
    for (char c : text) {
        if (isSpace(static_cast<unsigned char>(c))) {
            flush();
        } else if (alwaysSplit(c)) {
            flush();
            out.push_back(std::string(1, c));
        } else {
            word += c;
        }
    }
    flush();
    return out;
}

double nGramEntropyOf(const std::vector<std::string>& words, int n) {
    if (n < 1 || static_cast<int>(words.size()) < n) return 0;
    std::map<std::vector<std::string>, int> counts;
    for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i)
        ++counts[std::vector<std::string>(words.begin() + static_cast<long>(i), words.begin() + static_cast<long>(i) + n)];
    const double total = static_cast<double>(words.size() - static_cast<size_t>(n) + 1);
    double h = 0;
    for (const auto& [gram, count] : counts) {
        const double p = count / total;
        h -= p * std::log2(p);
    }
    return h;
}

double nGramEntropy(const std::string& text) {
    const std::vector<std::string> words = wordTokens(text);
    // mean(2/3 * H2, 4/3 * H3), as ROME's compute_n_gram_entropy.
    return (2.0 / 3.0 * nGramEntropyOf(words, 2) + 4.0 / 3.0 * nGramEntropyOf(words, 3)) / 2.0;
}

std::optional<double> harmonicMean(const std::vector<double>& values) {
    if (values.empty()) return std::nullopt;
    double inv = 0;
    for (double v : values) {
        if (!(v > 0)) return 0.0;
        inv += 1.0 / v;
    }
    return static_cast<double>(values.size()) / inv;
}

}  // namespace kme
