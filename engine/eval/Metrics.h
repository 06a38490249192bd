#pragma once
// Per-record metrics of an edit, as kmeng01/rome defines them
// (experiments/py/eval_utils_counterfact.py, eval_utils_zsre.py,
// experiments/summarize.py), plus the subject's other attributes.
//
//  - A target is scored by its mean per-token negative log-likelihood after
//    a prompt (teacher-forced, target tokenized with ROME's leading space);
//    p = exp(-NLL) is the geometric-mean token probability.
//  - Efficacy / paraphrase: success when NLL(target_new) < NLL(target_true);
//    magnitude p(target_new) - p(target_true).
//  - Neighbourhood: success when the neighbour's answer (its own answer where
//    the record has neighborhood_answers, else target_true as in CounterFact)
//    still beats target_new; magnitude p(answer) - p(target_new).
//  - Other attributes (not in ROME): the edited subject's other relations
//    (demo fact set); success when the true object still beats target_new,
//    accuracy when greedy decoding still yields the whole true object.
//  - Portability (KnowEdit / MQuAKE; the KME survey's fourth property): the
//    record's two-hop prompts (portability_prompts); success when the new
//    answer beats the old one, as the paraphrase score. On the unedited
//    model, the old answer beating the new one is its two-hop accuracy: a
//    model that cannot answer the question before the edit cannot port it.
//  - Token accuracy (zsRE): share of target tokens that are the argmax under
//    teacher forcing (efficacy / paraphrase: target_new; locality: the answer).
//  - Fluency: weighted bigram / trigram entropy (bits) of generated text.
// Torch-free.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/eval/Dataset.h"

namespace kme {

class Model;

// One target after one prompt.
struct TargetScore {
    std::string target;     // as scored (leading space added)
    double nll = 0;         // mean per-token negative log-likelihood, nats
    double prob = 0;        // exp(-nll), 0..1 (geometric mean of the token probabilities)
    int tokens = 0;         // target tokens
    int tokensCorrect = 0;  // target tokens that are the argmax given the prompt and the earlier target tokens
    bool greedy() const { return tokens > 0 && tokensCorrect == tokens; }  // greedy decoding yields the target
};

// A prompt and the targets to score after it.
struct ScoreQuery {
    std::string prompt;                // filled prompt (no "{}")
    std::vector<std::string> targets;  // each gets ROME's leading space
};

// Scores every (prompt, target) pair. All pairs go through the model in
// batched forward passes (each sequence = prompt + target tokens); results
// follow the order of `queries` and their targets. Throws ErrorKind::Input
// for an empty target or a prompt + target longer than the context.
std::vector<std::vector<TargetScore>> scoreTargets(const Model& model, const std::vector<ScoreQuery>& queries);

// A prompt where `expected` should beat `other` (lower NLL).
struct ComparedPrompt {
    std::string prompt;
    TargetScore expected;  // efficacy / paraphrase: target_new; neighbourhood / attributes: the true answer
    TargetScore other;     // the competitor
    bool success() const { return expected.nll < other.nll; }
    double magnitude() const { return expected.prob - other.prob; }
};

// Which metrics a run computes. CounterFact needs target_true and (for
// locality) neighbourhood prompts; zsRE records carry a locality question.
enum class MetricSet { Auto, CounterFact, Zsre };
const char* metricSetName(MetricSet set);  // "auto" | "counterfact" | "zsre"
std::optional<MetricSet> parseMetricSet(const std::string& name);
// Auto -> the dataset's schema. Throws ErrorKind::Input when CounterFact
// metrics are asked of a zsRE file.
MetricSet resolveMetricSet(MetricSet requested, const Dataset& dataset);

struct GenerationOptions {
    bool enabled = true;  // false: no generation, fluency not reported
    int maxLength = 100;  // tokens of prompt + continuation (ROME's max_out_len), capped by the context
    int topK = 5;         // sampling among the k most likely (ROME's generate_fast)
    uint64_t seed = 0;    // each (record, prompt) derives its own seed from this
};

// Things the metrics of one record must leave out because another edit
// applied at the same time legitimately changed them (sequential and batched
// runs): prompts of other edits and (subject, relation) pairs they edited.
struct CoEdited {
    std::vector<std::string> prompts;                           // filled rewrite and paraphrase prompts
    std::vector<std::pair<std::string, std::string>> subjectRelations;  // (subject, relation_id)
};

struct RecordMetrics {
    int caseId = 0;
    std::string relationId, subject, prompt, targetNew, targetTrue;
    std::vector<ComparedPrompt> efficacy;         // the rewrite prompt
    std::vector<ComparedPrompt> paraphrase;
    std::vector<ComparedPrompt> neighborhood;     // CounterFact neighbours or the zsRE locality question
    std::vector<ComparedPrompt> otherAttributes;  // the subject's other relations (demo fact set)
    std::vector<ComparedPrompt> portability;      // two-hop prompts: expected = new answer, other = old answer
    int neighborhoodExcluded = 0;                 // left out (see CoEdited)
    int otherAttributesExcluded = 0;
    int portabilityExcluded = 0;                  // the second hop was edited too (see CoEdited)
    std::vector<std::string> generations;         // prompt + generated continuation
    std::vector<double> generationEntropy;        // per generation, bits (weighted 2/3 bigram + 4/3 trigram)

    // Record-level values (ROME: the mean over the record's prompts).
    // nullopt where the record has no such prompts.
    std::optional<double> efficacyScore() const;
    std::optional<double> efficacyMagnitude() const;
    std::optional<double> paraphraseScore() const;
    std::optional<double> paraphraseMagnitude() const;
    std::optional<double> neighborhoodScore() const;
    std::optional<double> neighborhoodMagnitude() const;
    std::optional<double> otherAttributesScore() const;
    std::optional<double> otherAttributesAccuracy() const;  // greedy yields the true object
    std::optional<double> fluency() const;                  // mean n-gram entropy of the generations
    std::optional<double> portabilityScore() const;         // two-hop prompts where the new answer beats the old
    std::optional<double> portabilityOldScore() const;      // ... where the old answer beats the new (two-hop accuracy before the edit)
    // zsRE token accuracy (all (prompt, token) items of the group pooled, as ROME).
    std::optional<double> efficacyAccuracy() const;      // tokens of target_new on the rewrite prompt
    std::optional<double> paraphraseAccuracy() const;    // ... on the paraphrases
    std::optional<double> neighborhoodAccuracy() const;  // tokens of the neighbours' / locality answers
};

// Checks that the records carry what `set` needs (non-empty targets,
// target_true for CounterFact, answers matching neighbourhood prompts);
// throws ErrorKind::Input naming `source`, the record index and the field.
void validateForMetrics(const std::vector<FactRecord>& records, MetricSet set, const std::string& source);

// All metrics of one record on the model as it is now. `recordIndex` seeds
// the generations. Throws ErrorKind::Input for a record that cannot be scored.
RecordMetrics computeRecordMetrics(const Model& model, const FactRecord& record, MetricSet set,
                                   const GenerationOptions& generation, int recordIndex,
                                   const CoEdited& coEdited = {});

// The zsRE locality prompt as ROME forms it: the question + "?" (unless it
// already ends with one).
std::string zsreLocalityPrompt(const std::string& question);

// ROME's compute_n_gram_entropy: word tokens (an approximation of NLTK's
// word_tokenize, see Metrics.cpp), then for n = 2, 3 the entropy in bits of
// the n-gram frequency distribution, weighted 2/3 and 4/3 and averaged.
// 0 for text with fewer than two words.
double nGramEntropy(const std::string& text);
// The entropy (bits) of the n-gram distribution alone.
double nGramEntropyOf(const std::vector<std::string>& words, int n);
// The word tokens used above.
std::vector<std::string> wordTokens(const std::string& text);

// Harmonic mean of values in [0, 1]; 0 when any is 0, nullopt when empty.
std::optional<double> harmonicMean(const std::vector<double>& values);

}  // namespace kme
