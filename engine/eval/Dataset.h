#pragma once
// Fact records in the schemas KME uses (shared/CLI.md): CounterFact (ROME)
// and zsRE (ROME's zsre_mem_eval.json), read into one plain struct.
#include <string>
#include <vector>

namespace kme {

struct OtherAttribute {
    std::string relationId;  // "P30"
    std::string prompt;      // filled-in prompt, e.g. "Germany is a country in"
    std::string target;      // true object, e.g. "Europe"
};

// A two-hop prompt whose answer depends on the edited fact (portability, as
// KnowEdit / MQuAKE): the record edits (s, r1, o -> o*); the prompt asks for
// (o, r2) through s, so its answer should move from r2(o) to r2(o*).
struct PortabilityPrompt {
    std::string prompt;      // filled-in prompt, e.g. "The Colosseum is located in the country of"
    std::string relationId;  // r2, the second hop's relation ("P17"); may be empty
    std::string newAnswer;   // r2(o*): the answer once the edit holds ("France")
    std::string oldAnswer;   // r2(o): the unedited model's answer ("Italy")
};

struct FactRecord {
    int caseId = 0;
    std::string prompt;      // template with "{}" where the subject goes
    std::string relationId;  // may be empty
    std::string subject;
    std::string targetNew;   // counterfactual object (as written, no leading space added)
    std::string targetTrue;  // may be empty (zsRE: first of answers)
    std::vector<std::string> paraphrasePrompts;
    std::vector<std::string> neighborhoodPrompts;
    std::vector<std::string> neighborhoodAnswers;  // demo fact set only (may be empty)
    std::vector<std::string> attributePrompts;
    std::vector<std::string> generationPrompts;
    std::vector<OtherAttribute> otherAttributes;   // demo fact set only
    std::vector<PortabilityPrompt> portabilityPrompts;  // "portability_prompts" (may be empty)
    // zsRE: unrelated question and its answer (locality).
    std::string localityPrompt, localityAnswer;

    // The prompt with the subject filled in.
    std::string filledPrompt() const;
};

enum class DatasetSchema { CounterFact, Zsre };

struct Dataset {
    DatasetSchema schema = DatasetSchema::CounterFact;
    std::string source;  // file path
    std::vector<FactRecord> records;
};

// Reads a JSON list of CounterFact or zsRE records (schema detected from the
// first record). Errors name the file, the record index and the field.
Dataset loadDataset(const std::string& path);
Dataset parseDataset(const std::string& jsonText, const std::string& source);

}  // namespace kme
