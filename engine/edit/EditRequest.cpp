#include "engine/edit/EditRequest.h"

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme {

namespace {

size_t countOf(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
    return n;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// How a piece of an edit request is tokenized: the prompt as the model is fed
// (with BOS where the tokenizer's post-processor adds one), a target as it
// continues the prompt, the subject as text.
enum class As { Text, Prompt, Continuation };

std::vector<int> tokens(const Model& model, const std::string& text, const std::string& what, As as = As::Text) {
    try {
        const Tokenizer& tok = model.tokenizer();
        return as == As::Prompt ? tok.encodeForModel(text)
                                : as == As::Continuation ? tok.encodeContinuation(text) : tok.encode(text);
    } catch (const Error& e) {
        fail(ErrorKind::Input, what + ": " + e.what());
    }
}

}  // namespace

std::string EditRequest::filledPrompt() const {
    std::string out = prompt;
    const auto at = out.find("{}");
    if (at != std::string::npos) out.replace(at, 2, subject);
    return out;
}

std::string withTargetSpace(const std::string& target) {
    return target.empty() || target[0] == ' ' ? target : " " + target;
}

std::string templateFromPrompt(const std::string& prompt, const std::string& subject) {
    const auto at = subject.empty() ? std::string::npos : prompt.find(subject);
    if (at == std::string::npos) return {};
    std::string t = prompt;
    t.replace(at, subject.size(), "{}");
    return t;
}

EditRequest normalizedRequest(EditRequest r) {
    r.targetNew = withTargetSpace(r.targetNew);
    r.targetTrue = withTargetSpace(r.targetTrue);
    return r;
}

void validateRequest(const Model& model, const EditRequest& r) {
    const size_t holes = countOf(r.prompt, "{}");
    if (holes == 0) {
        const std::string t = templateFromPrompt(r.prompt, r.subject);
        const std::string hint = t.empty() ? std::string() : "; write it as " + quoteForMessage(t);
        fail(ErrorKind::Input, "the prompt template " + quoteForMessage(r.prompt) +
                                   " has no '{}' where the subject goes (e.g. '{} is located in')" + hint);
    }
    if (holes > 1)
        fail(ErrorKind::Input, "the prompt template " + quoteForMessage(r.prompt) + " has " + std::to_string(holes) +
                                   " '{}'; exactly one marks where the subject goes");
    if (r.subject.empty() || blank(r.subject))
        fail(ErrorKind::Input, "the subject is empty (it fills '{}' in " + quoteForMessage(r.prompt) + ")");
    if (r.subject.find("{}") != std::string::npos)
        fail(ErrorKind::Input, "the subject " + quoteForMessage(r.subject) + " must not contain '{}'");
    if (tokens(model, r.subject, "subject " + quoteForMessage(r.subject)).empty())
        fail(ErrorKind::Input, "the subject " + quoteForMessage(r.subject) + " is not tokenizable (no tokens)");
    if (r.targetNew.empty() || blank(r.targetNew))
        fail(ErrorKind::Input, "the new target (target_new) of " + quoteForMessage(r.filledPrompt()) + " is empty");
    const auto target = tokens(model, withTargetSpace(r.targetNew), "target_new " + quoteForMessage(r.targetNew),
                               As::Continuation);
    if (!r.targetTrue.empty())
        tokens(model, withTargetSpace(r.targetTrue), "target_true " + quoteForMessage(r.targetTrue), As::Continuation);
    const auto prompt = tokens(model, r.filledPrompt(), "prompt " + quoteForMessage(r.filledPrompt()), As::Prompt);
    const size_t total = prompt.size() + target.size();
    if (static_cast<int>(total) > model.config().nPositions)
        fail(ErrorKind::Input, "the prompt " + quoteForMessage(r.filledPrompt()) + " and its target are " + std::to_string(total) +
                                   " tokens long; the model's context holds " +
                                   std::to_string(model.config().nPositions));
}

void validateLayers(const Model& model, const std::vector<int>& layers) {
    const int n = model.config().nLayer;
    if (layers.empty()) fail(ErrorKind::Input, "no layer to edit was given");
    for (int l : layers)
        if (l < 0 || l >= n)
            fail(ErrorKind::Input, "layer " + std::to_string(l) + " is out of range: the model has " +
                                       std::to_string(n) + " layers (0.." + std::to_string(n - 1) + ")");
}

EditRequest requestFromFact(const FactRecord& f) {
    EditRequest r;
    r.prompt = f.prompt;
    r.subject = f.subject;
    r.targetNew = f.targetNew;
    r.targetTrue = f.targetTrue;
    return normalizedRequest(r);
}

std::vector<EditRequest> parseEditRequests(const std::string& text, const std::string& source) {
    using json = nlohmann::json;
    const json j = parseJson(text, source);
    if (!j.is_array()) fail(ErrorKind::Format, source + ": expected a JSON list of edit requests, got " + jsonTypeName(j));
    // CounterFact (requested_rewrite) and zsRE (src) records go through the dataset reader.
    if (!j.empty() && j.at(0).is_object() && (j.at(0).contains("requested_rewrite") || j.at(0).contains("src"))) {
        std::vector<EditRequest> out;
        for (const auto& f : parseDataset(text, source).records) out.push_back(requestFromFact(f));
        return out;
    }
    std::vector<EditRequest> out;
    for (size_t i = 0; i < j.size(); ++i) {
        const std::string where = source + ": request " + std::to_string(i) + ": ";
        const json& r = j[i];
        if (!r.is_object()) fail(ErrorKind::Format, where + "expected an object {prompt, subject, target_new}");
        auto str = [&](const char* key, bool required) -> std::string {
            if (!r.contains(key)) {
                if (required) fail(ErrorKind::Format, where + "missing field '" + key + "'");
                return {};
            }
            const json& v = r.at(key);
            if (v.is_string()) return v.get<std::string>();
            if (v.is_object() && v.contains("str") && v.at("str").is_string()) return v.at("str").get<std::string>();
            fail(ErrorKind::Format, where + "field '" + key + "' must be a string (or {\"str\": ...})");
        };
        EditRequest e;
        e.prompt = str("prompt", true);
        e.subject = str("subject", true);
        e.targetNew = str("target_new", true);
        e.targetTrue = str("target_true", false);
        if (e.prompt.find("{}") == std::string::npos)
            fail(ErrorKind::Format, where + "prompt " + quoteForMessage(e.prompt) + " has no '{}' for the subject");
        if (e.targetNew.empty()) fail(ErrorKind::Format, where + "empty target_new");
        out.push_back(normalizedRequest(e));
    }
    if (out.empty()) fail(ErrorKind::Format, source + ": the list of edit requests is empty");
    return out;
}

std::vector<EditRequest> loadEditRequests(const std::string& path) {
    return parseEditRequests(readRegularFile(path, "edit requests"), path);
}

}  // namespace kme
