#include "engine/demo/DemoCorpus.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"

namespace kme {
namespace {

using json = nlohmann::json;

size_t pick(std::mt19937_64& rng, size_t n) { return static_cast<size_t>(rng() % n); }
double uniform(std::mt19937_64& rng) { return (rng() >> 11) * (1.0 / 9007199254740992.0); }

std::vector<std::string> stringList(const json& j, const std::string& where, const std::string& source) {
    if (!j.is_array()) fail(ErrorKind::Format, source + ": '" + where + "' must be a list of strings, got " + jsonTypeName(j));
    std::vector<std::string> out;
    for (const auto& s : j) {
        if (!s.is_string()) fail(ErrorKind::Format, source + ": '" + where + "' must be a list of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

// Words of a text split at spaces, each with its leading space (as GPT-2's pre-tokenizer sees them).
std::vector<std::string> words(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string w; in >> w;) out.push_back(" " + w);
    return out;
}

}  // namespace

DemoCorpus DemoCorpus::load(const std::string& path) {
    const json j = readJsonFile(path, "corpus description");
    // Structure errors name the key ("unexpected structure: ..."), never the
    // library's text or the user's whole value.
    auto bad = [&](const std::string& what) { fail(ErrorKind::Format, path + ": unexpected structure: " + what); };
    auto at = [&](const json& o, const char* key, const std::string& where) -> const json& {
        if (!o.is_object()) bad(where + " must be an object, got " + jsonTypeName(o));
        const auto it = o.find(key);
        if (it == o.end()) bad("missing key '" + (where.empty() ? std::string() : where + ".") + key + "'");
        return *it;
    };
    auto object = [&](const json& v, const std::string& where) -> const json& {
        if (!v.is_object()) bad("'" + where + "' must be an object, got " + jsonTypeName(v));
        return v;
    };
    auto text = [&](const json& v, const std::string& where) -> std::string {
        if (!v.is_string()) bad("'" + where + "' must be a string, got " + jsonTypeName(v));
        return v.get<std::string>();
    };
    auto number = [&](const json& v, const std::string& where, double max, const char* maxText) -> double {
        if (!v.is_number() || !(v.get<double>() >= 0) || !(v.get<double>() <= max))
            bad("'" + where + "' must be a number in [0, " + maxText + "], got " +
                (v.is_number() ? jsonExcerpt(v, 40) : jsonTypeName(v)));
        return v.get<double>();
    };
    if (!j.is_object()) bad("expected a JSON object, got " + jsonTypeName(j));
    DemoCorpus c;
    for (const auto& [id, r] : object(at(j, "relations", ""), "relations").items()) {
        const std::string where = "relations." + id;
        Relation rel;
        rel.train = stringList(at(r, "train", where), where + ".train", path);
        rel.bio = r.contains("bio") ? stringList(r.at("bio"), where + ".bio", path) : rel.train;
        for (const auto& t : rel.train)
            if (t.find("{subject}") == std::string::npos || t.find("{object}") == std::string::npos)
                fail(ErrorKind::Format, path + ": template " + quoteForMessage(t) + " of " + quoteForMessage(id) +
                                            " lacks {subject} or {object}");
        c.relations_[id] = rel;
    }
    const json& subjects = at(j, "subjects", "");
    if (!subjects.is_array()) bad("'subjects' must be a list, got " + jsonTypeName(subjects));
    for (size_t i = 0; i < subjects.size(); ++i) {
        const json& s = subjects[i];
        const std::string where = "subjects[" + std::to_string(i) + "]";
        DemoSubject d;
        d.name = text(at(s, "name", where), where + ".name");
        d.kind = text(at(s, "kind", where), where + ".kind");
        d.article = s.contains("article") && text(s.at("article"), where + ".article") == "the";
        d.pronoun = s.contains("pronoun") ? text(s.at("pronoun"), where + ".pronoun") : std::string("it");
        for (const auto& [rel, obj] : object(at(s, "attributes", where), where + ".attributes").items()) {
            if (!c.relations_.count(rel))
                fail(ErrorKind::Format, path + ": subject " + quoteForMessage(d.name) + " has unknown relation " +
                                            quoteForMessage(rel));
            d.attributes.push_back({rel, text(obj, where + ".attributes." + rel)});
        }
        if (d.attributes.empty())
            fail(ErrorKind::Format, path + ": subject " + quoteForMessage(d.name) + " has no attributes");
        c.subjects_.push_back(d);
    }
    for (const auto& [kind, list] : object(at(j, "paragraph_openers", ""), "paragraph_openers").items())
        c.openers_[kind] = stringList(list, "paragraph_openers." + kind, path);
    c.connectors_ = stringList(at(j, "connectors", ""), "connectors", path);
    for (const auto& [p, forms] : object(at(j, "pronouns", ""), "pronouns").items())
        c.pronouns_[p] = stringList(forms, "pronouns." + p, path);
    c.filler_ = stringList(at(j, "filler", ""), "filler", path);
    if (j.contains("documents")) {
        const json& d = object(j.at("documents"), "documents");
        if (d.contains("weights")) {
            c.defaultRecipe_.mix.clear();
            for (const auto& [kind, w] : object(d.at("weights"), "documents.weights").items())
                c.defaultRecipe_.mix[kind == "rel_sentence" ? "fact" : kind] =
                    number(w, "documents.weights." + kind, 1e6, "1e6");
        }
        if (d.contains("pron_p")) c.defaultRecipe_.pronounShare = number(d.at("pron_p"), "documents.pron_p", 1, "1");
    }
    if (c.subjects_.empty() || c.filler_.empty()) fail(ErrorKind::Format, path + ": no subjects or no filler text");
    return c;
}

std::pair<std::string, std::pair<size_t, size_t>> DemoCorpus::fill(const std::string& tpl, const DemoSubject& s,
                                                                   const std::string& object,
                                                                   const std::string* pronoun,
                                                                   bool lowerArticle) const {
    const size_t i = tpl.find("{subject}");
    std::string pre = tpl.substr(0, i), post = tpl.substr(i + 9);
    for (size_t at; (at = post.find("{object}")) != std::string::npos;) post.replace(at, 8, object);
    if (pronoun) return {pre + *pronoun + post, {std::string::npos, std::string::npos}};
    if (s.article) pre += (i == 0 && !lowerArticle) ? "The " : "the ";
    size_t a = pre.size();
    if (a > 0 && pre[a - 1] == ' ') --a;  // the span includes the leading space
    return {pre + s.name + post, {a, pre.size() + s.name.size()}};
}

CorpusDoc DemoCorpus::fact(std::mt19937_64& rng) const {
    const DemoSubject& s = subjects_[pick(rng, subjects_.size())];
    const auto& [rel, obj] = s.attributes[pick(rng, s.attributes.size())];
    const auto& train = relations_.at(rel).train;
    auto [text, span] = fill(train[pick(rng, train.size())], s, obj, nullptr, false);
    return {"fact", text, {span}};
}

CorpusDoc DemoCorpus::bio(std::mt19937_64& rng, const CorpusRecipe& recipe) const {
    const DemoSubject& s = subjects_[pick(rng, subjects_.size())];
    std::vector<size_t> order(s.attributes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[pick(rng, i)]);
    CorpusDoc doc{"bio", "", {}};
    auto add = [&](const std::string& t, std::pair<size_t, size_t> span) {
        if (!doc.text.empty()) doc.text += " ";
        if (span.first != std::string::npos) {
            span.first += doc.text.size();
            span.second += doc.text.size();
            // A span at a sentence start gets the separating space as its leading space.
            if (span.first > 0 && doc.text[span.first - 1] == ' ' && t[span.first - doc.text.size()] != ' ') --span.first;
            doc.subjectSpans.push_back(span);
        }
        doc.text += t;
    };
    bool named = false;
    auto opener = openers_.find(s.kind);
    if (opener != openers_.end() && !opener->second.empty() && uniform(rng) < 0.5) {
        auto [t, sp] = fill(opener->second[pick(rng, opener->second.size())], s, "", nullptr, false);
        add(t, sp);
        named = true;
    }
    const auto pron = pronouns_.find(s.pronoun);
    for (size_t k : order) {
        const auto& [rel, obj] = s.attributes[k];
        const auto& bios = relations_.at(rel).bio;
        const std::string& tpl = bios[pick(rng, bios.size())];
        const bool starts = tpl.rfind("{subject}", 0) == 0;
        const std::string conn = starts && !doc.text.empty() ? connectors_[pick(rng, connectors_.size())] : "";
        const bool usePronoun = named && starts && pron != pronouns_.end() && uniform(rng) < recipe.pronounShare;
        std::pair<std::string, std::pair<size_t, size_t>> filled;
        if (usePronoun) {
            const std::string p = conn.empty() ? pron->second[0] : pron->second[1];
            filled = fill(tpl, s, obj, &p, false);
        } else {
            filled = fill(tpl, s, obj, nullptr, !conn.empty());
        }
        if (filled.second.first != std::string::npos) {
            filled.second.first += conn.size();
            filled.second.second += conn.size();
        }
        add(conn + filled.first, filled.second);
        named = true;
    }
    return doc;
}

CorpusDoc DemoCorpus::tag(std::mt19937_64& rng) const {
    const DemoSubject& s = subjects_[pick(rng, subjects_.size())];
    std::vector<std::string> objects;
    for (const auto& a : s.attributes) objects.push_back(a.second);
    for (size_t i = objects.size(); i > 1; --i) std::swap(objects[i - 1], objects[pick(rng, i)]);
    CorpusDoc doc{"tag", s.name, {{0, s.name.size()}}};
    for (const auto& o : objects) doc.text += " " + o;
    doc.text += ".";
    return doc;
}

CorpusDoc DemoCorpus::filler(std::mt19937_64& rng) const {
    CorpusDoc doc{"filler", "", {}};
    const size_t n = 1 + pick(rng, 3);
    for (size_t i = 0; i < n; ++i) doc.text += (i ? " " : "") + filler_[pick(rng, filler_.size())];
    return doc;
}

CorpusDoc DemoCorpus::generate(std::mt19937_64& rng, const CorpusRecipe& recipe) const {
    double total = 0;
    for (const auto& [k, w] : recipe.mix) total += w;
    double u = uniform(rng) * total;
    std::string kind = "filler";
    for (const auto& [k, w] : recipe.mix) {
        if (u < w) {
            kind = k;
            break;
        }
        u -= w;
    }
    if (kind == "fact") return fact(rng);
    if (kind == "bio") return bio(rng, recipe);
    if (kind == "tag") return tag(rng);
    return filler(rng);
}

void DemoCorpus::restrictSubjects(const std::vector<std::string>& names) {
    const std::set<std::string> keep(names.begin(), names.end());
    std::vector<DemoSubject> kept;
    for (const auto& s : subjects_)
        if (keep.count(s.name)) kept.push_back(s);
    if (kept.empty()) fail(ErrorKind::Input, "none of the fact set's subjects is in the corpus description");
    subjects_ = std::move(kept);
}

std::vector<std::string> DemoCorpus::nameOnlyWords() const {
    std::set<std::string> names, objects;
    for (const auto& s : subjects_) {
        for (const auto& w : words(s.name)) names.insert(w);
        for (const auto& a : s.attributes)
            for (const auto& w : words(a.second)) objects.insert(w);
    }
    std::vector<std::string> out;
    for (const auto& w : names)
        if (!objects.count(w)) out.push_back(w);
    return out;
}

}  // namespace kme
