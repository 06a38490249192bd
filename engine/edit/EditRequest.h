#pragma once
// One requested fact edit, in CounterFact's shape: a prompt template with
// "{}" where the subject goes, the subject, and the new object. Torch-free.
#include <string>
#include <vector>

namespace kme {

class Model;
struct FactRecord;

struct EditRequest {
    std::string prompt;      // template with exactly one "{}": "{} is located in the city of"
    std::string subject;     // "Eiffel Tower"
    std::string targetNew;   // " Rome" (normalized: leading space, as ROME tokenizes it)
    std::string targetTrue;  // optional; "" = unknown

    // The prompt with the subject filled in.
    std::string filledPrompt() const;
};

// " Rome" for "Rome"; unchanged when empty or already starting with a space
// (ROME's rule, kmeng01/rome execute_rome).
std::string withTargetSpace(const std::string& target);
// The prompt as a template: its first occurrence of `subject` replaced by
// "{}" ("The Colosseum is in" + "Colosseum" -> "The {} is in"); "" when the
// subject is empty or not in the prompt.
std::string templateFromPrompt(const std::string& prompt, const std::string& subject);

// The request with leading spaces added to both targets.
EditRequest normalizedRequest(EditRequest request);

// Checks a request against a model and throws kme::Error (ErrorKind::Input)
// with a message a user can act on: no "{}" (or more than one) in the
// template, empty subject or one that tokenizes to nothing, empty target_new,
// invalid UTF-8, a prompt + target longer than the context.
void validateRequest(const Model& model, const EditRequest& request);
// Every layer must be in [0, n_layer); throws ErrorKind::Input naming it.
void validateLayers(const Model& model, const std::vector<int>& layers);

// Reads a JSON list of requests: {prompt, subject, target_new[, target_true]}
// (targets as strings or {"str": ...}), or CounterFact / zsRE records.
// Errors name the file and the record. Targets are normalized.
std::vector<EditRequest> loadEditRequests(const std::string& path);
std::vector<EditRequest> parseEditRequests(const std::string& jsonText, const std::string& source);
EditRequest requestFromFact(const FactRecord& fact);

}  // namespace kme
