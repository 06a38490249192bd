#include "engine/eval/Dataset.h"

#include <climits>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

namespace kme {
namespace {

using json = nlohmann::json;

struct Ctx {
    const std::string& source;
    size_t index;
    [[noreturn]] void error(const std::string& what) const {
        fail(ErrorKind::Format, source + ": record " + std::to_string(index) + ": " + what);
    }
};

const json& field(const json& j, const char* key, const Ctx& ctx) {
    if (!j.is_object() || !j.contains(key)) ctx.error(std::string("missing field '") + key + "'");
    return j.at(key);
}

std::string str(const json& j, const char* key, const Ctx& ctx) {
    const json& v = field(j, key, ctx);
    if (!v.is_string()) ctx.error(std::string("field '") + key + "' must be a string, got " + jsonTypeName(v));
    return v.get<std::string>();
}

std::vector<std::string> strings(const json& j, const char* key, const Ctx& ctx, bool required = false) {
    std::vector<std::string> out;
    if (!j.contains(key)) {
        if (required) ctx.error(std::string("missing field '") + key + "'");
        return out;
    }
    const json& v = j.at(key);
    if (!v.is_array()) ctx.error(std::string("field '") + key + "' must be a list of strings");
    for (const auto& s : v) {
        if (!s.is_string()) ctx.error(std::string("field '") + key + "' must be a list of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

// "target_new": {"str": "Rome"} (CounterFact) or a plain string.
std::string target(const json& j, const char* key, const Ctx& ctx) {
    const json& v = field(j, key, ctx);
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("str") && v.at("str").is_string()) return v.at("str").get<std::string>();
    ctx.error(std::string("field '") + key + "' must be {\"str\": ...}");
}

// case_id when it is an integer (checked against int's range, never
// truncated), else the record's index.
int caseIdOf(const json& r, const Ctx& ctx) {
    if (!r.contains("case_id") || !r.at("case_id").is_number_integer()) return static_cast<int>(ctx.index);
    return static_cast<int>(jsonInt(r, ctx.source + ": record " + std::to_string(ctx.index), "case_id", INT_MIN,
                                    INT_MAX, ErrorKind::Format));
}

// An optional relation id: absent or null is "", anything but a string an error.
std::string relationIdOf(const json& j, const std::string& field, const Ctx& ctx) {
    const auto it = j.find("relation_id");
    if (it == j.end() || it->is_null()) return {};
    if (!it->is_string()) ctx.error(field + " must be a string, got " + jsonExcerpt(*it, 40));
    return it->get<std::string>();
}

// "portability_prompts": [{"prompt", "relation_id" (optional), "new_answer", "old_answer"}].
std::vector<PortabilityPrompt> portabilityOf(const json& r, const Ctx& ctx) {
    std::vector<PortabilityPrompt> out;
    const auto it = r.find("portability_prompts");
    if (it == r.end() || it->is_null()) return out;
    if (!it->is_array()) ctx.error("field 'portability_prompts' must be a list, got " + jsonTypeName(*it));
    for (size_t i = 0; i < it->size(); ++i) {
        const json& p = (*it)[i];
        const std::string at = "portability_prompts[" + std::to_string(i) + "]";
        if (!p.is_object()) ctx.error("field '" + at + "' must be an object {prompt, relation_id, new_answer, old_answer}");
        auto text = [&](const char* key) {
            const auto v = p.find(key);
            if (v == p.end()) ctx.error("field '" + at + "' has no '" + key + "'");
            if (!v->is_string() || v->get<std::string>().empty())
                ctx.error("field '" + at + "." + key + "' must be a non-empty string, got " + jsonExcerpt(*v, 40));
            return v->get<std::string>();
        };
        out.push_back({text("prompt"), relationIdOf(p, at + ".relation_id", ctx), text("new_answer"), text("old_answer")});
    }
    return out;
}

FactRecord parseCounterFact(const json& r, const Ctx& ctx) {
    FactRecord f;
    f.caseId = caseIdOf(r, ctx);
    const json& rw = field(r, "requested_rewrite", ctx);
    f.prompt = str(rw, "prompt", ctx);
    f.subject = str(rw, "subject", ctx);
    f.targetNew = target(rw, "target_new", ctx);
    if (rw.contains("target_true")) f.targetTrue = target(rw, "target_true", ctx);
    f.relationId = relationIdOf(rw, "requested_rewrite.relation_id", ctx);
    f.paraphrasePrompts = strings(r, "paraphrase_prompts", ctx);
    f.neighborhoodPrompts = strings(r, "neighborhood_prompts", ctx);
    f.neighborhoodAnswers = strings(r, "neighborhood_answers", ctx);
    f.attributePrompts = strings(r, "attribute_prompts", ctx);
    f.generationPrompts = strings(r, "generation_prompts", ctx);
    if (r.contains("other_attributes")) {
        const json& oa = r.at("other_attributes");
        if (!oa.is_array()) ctx.error("field 'other_attributes' must be a list");
        for (size_t i = 0; i < oa.size(); ++i) {
            const json& a = oa[i];
            const std::string at = "other_attributes[" + std::to_string(i) + "]";
            if (!a.is_object()) ctx.error("field '" + at + "' must be an object {relation_id, prompt, target}");
            f.otherAttributes.push_back({relationIdOf(a, at + ".relation_id", ctx), str(a, "prompt", ctx), str(a, "target", ctx)});
        }
    }
    f.portabilityPrompts = portabilityOf(r, ctx);
    return f;
}

FactRecord parseZsre(const json& r, const Ctx& ctx) {
    FactRecord f;
    f.caseId = caseIdOf(r, ctx);
    f.subject = str(r, "subject", ctx);
    const std::string question = str(r, "src", ctx);
    // The question with its subject as "{}", so edits and tracing find it.
    const auto at = question.find(f.subject);
    if (at == std::string::npos) ctx.error("subject " + quoteForMessage(f.subject) + " does not occur in 'src'");
    f.prompt = question.substr(0, at) + "{}" + question.substr(at + f.subject.size());
    f.targetNew = str(r, "alt", ctx);
    const auto answers = strings(r, "answers", ctx);
    if (!answers.empty()) f.targetTrue = answers.front();
    if (r.contains("rephrase")) f.paraphrasePrompts.push_back(str(r, "rephrase", ctx));
    if (r.contains("loc")) f.localityPrompt = str(r, "loc", ctx);
    if (r.contains("loc_ans")) f.localityAnswer = str(r, "loc_ans", ctx);
    f.portabilityPrompts = portabilityOf(r, ctx);
    return f;
}

}  // namespace

std::string FactRecord::filledPrompt() const {
    std::string out = prompt;
    const auto at = out.find("{}");
    if (at != std::string::npos) out.replace(at, 2, subject);
    return out;
}

Dataset parseDataset(const std::string& text, const std::string& source) {
    const json j = parseJson(text, source);
    if (!j.is_array()) fail(ErrorKind::Format, source + ": expected a JSON list of records, got " + jsonTypeName(j));
    Dataset d;
    d.source = source;
    if (!j.empty() && j.at(0).is_object() && !j.at(0).contains("requested_rewrite") && j.at(0).contains("src"))
        d.schema = DatasetSchema::Zsre;
    for (size_t i = 0; i < j.size(); ++i) {
        const Ctx ctx{source, i};
        if (!j[i].is_object()) ctx.error("expected an object");
        FactRecord f = d.schema == DatasetSchema::Zsre ? parseZsre(j[i], ctx) : parseCounterFact(j[i], ctx);
        if (f.prompt.find("{}") == std::string::npos)
            ctx.error("prompt " + quoteForMessage(f.prompt) + " has no '{}' for the subject");
        if (f.subject.empty()) ctx.error("empty subject");
        if (f.targetNew.empty()) ctx.error("empty target_new");
        d.records.push_back(std::move(f));
    }
    return d;
}

Dataset loadDataset(const std::string& path) {
    return parseDataset(readRegularFile(path, "dataset"), path);
}

}  // namespace kme
