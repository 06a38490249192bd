// Loading a Hugging Face tokenizer.json: the BPE model (byte-level or
// SentencePiece-style), its normalizer, pre-tokenizer, added tokens,
// post-processor and decoder. A component this engine does not implement is
// refused with a message naming its type and the file: encoding it
// approximately would give the model wrong ids without any sign.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/Tokenizer.h"
#include "engine/tokenizer/TokenizerData.h"
#include "engine/tokenizer/TokenizerLoad.h"

namespace kme {

using namespace tokload;
using nlohmann::json;

namespace {

const char* const kNormalizers = "Sequence, Prepend, Replace, NFC, NFKC, NFD, NFKD, Strip";
const char* const kPreTokenizers = "Sequence, ByteLevel, Split, Metaspace";
const char* const kPostProcessors = "Sequence, TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing";
const char* const kDecoders = "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace";

std::string typeOf(const json& j, const std::string& at) {
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(ErrorKind::Tokenizer, at + ": expected an object with a string \"type\", got " + jsonExcerpt(j));
    return j["type"].get<std::string>();
}

[[noreturn]] void unsupported(const std::string& at, const char* what, const std::string& type, const char* supported) {
    fail(ErrorKind::Tokenizer, at + ": " + what + " type " + excerpt(type) + " is not supported (supported: " +
                                   supported + ")");
}

bool flag(const json& j, const char* key, bool fallback, const std::string& at) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean())
        fail(ErrorKind::Tokenizer, at + ": \"" + key + "\" must be true or false, got " + jsonExcerpt(j[key]));
    return j[key].get<bool>();
}

std::string text(const json& j, const char* key, const std::string& at) {
    if (!j.contains(key) || !j[key].is_string())
        fail(ErrorKind::Tokenizer, at + ": \"" + key + "\" must be a string, got " +
                                       (j.contains(key) ? jsonExcerpt(j[key]) : std::string("nothing")));
    return j[key].get<std::string>();
}

// {"String": "x"} -> x (literal); {"Regex": "..."} -> the pattern, *isRegex set.
std::string patternOf(const json& j, const std::string& at, bool* isRegex) {
    const json p = j.value("pattern", json());
    if (p.is_object() && p.contains("String") && p["String"].is_string()) {
        *isRegex = false;
        return p["String"].get<std::string>();
    }
    if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) {
        *isRegex = true;
        return p["Regex"].get<std::string>();
    }
    fail(ErrorKind::Tokenizer, at + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got " + jsonExcerpt(p));
}

void parseNormalizer(const json& j, const std::string& at, std::vector<NormalizerStep>& out) {
    if (j.is_null()) return;
    const std::string type = typeOf(j, at);
    using K = NormalizerStep::Kind;
    if (type == "Sequence") {
        const json list = j.value("normalizers", json());
        if (!list.is_array()) fail(ErrorKind::Tokenizer, at + ": \"normalizers\" must be a list");
        for (size_t i = 0; i < list.size(); ++i) parseNormalizer(list[i], at + ".normalizers[" + std::to_string(i) + "]", out);
    } else if (type == "Prepend") {
        out.push_back({K::Prepend, text(j, "prepend", at), {}});
    } else if (type == "Replace") {
        bool regex = false;
        const std::string pattern = patternOf(j, at, &regex);
        if (regex || pattern.empty())
            fail(ErrorKind::Tokenizer, at + ": a Replace normalizer with a " + (regex ? "Regex" : "empty") +
                                           " pattern is not supported (only a literal String)");
        out.push_back({K::Replace, pattern, text(j, "content", at)});
    } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
        out.push_back({type == "NFC" ? K::NFC : type == "NFKC" ? K::NFKC : type == "NFD" ? K::NFD : K::NFKD, {}, {}});
    } else if (type == "Strip") {
        NormalizerStep s{K::Strip, {}, {}};
        s.left = flag(j, "strip_left", true, at);
        s.right = flag(j, "strip_right", true, at);
        out.push_back(s);
    } else {
        unsupported(at, "normalizer", type, kNormalizers);
    }
}

SplitBehavior behaviorOf(const json& j, const std::string& at) {
    if (!j.contains("behavior")) return SplitBehavior::Isolated;  // what every shipped Split uses
    const std::string b = text(j, "behavior", at);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    fail(ErrorKind::Tokenizer, at + ": unknown split behavior " + excerpt(b));
}

void parsePreTokenizer(const json& j, const std::string& at, std::vector<PreTokenizerStep>& out) {
    if (j.is_null()) return;
    const std::string type = typeOf(j, at);
    using K = PreTokenizerStep::Kind;
    if (type == "Sequence") {
        const json list = j.value("pretokenizers", json());
        if (!list.is_array()) fail(ErrorKind::Tokenizer, at + ": \"pretokenizers\" must be a list");
        for (size_t i = 0; i < list.size(); ++i)
            parsePreTokenizer(list[i], at + ".pretokenizers[" + std::to_string(i) + "]", out);
    } else if (type == "ByteLevel") {
        PreTokenizerStep s(K::ByteLevel);
        s.addPrefixSpace = flag(j, "add_prefix_space", false, at);
        s.useRegex = flag(j, "use_regex", true, at);
        out.push_back(s);
    } else if (type == "Split") {
        PreTokenizerStep s(K::Split);
        bool regex = false;
        const std::string pattern = patternOf(j, at, &regex);
        try {
            s.regex = std::make_shared<const Regex>(regex ? Regex(pattern) : Regex::literal(pattern));
        } catch (const Error& e) {
            fail(ErrorKind::Tokenizer, at + ": " + e.what());
        }
        s.behavior = behaviorOf(j, at);
        s.invert = flag(j, "invert", false, at);
        out.push_back(s);
    } else if (type == "Metaspace") {
        PreTokenizerStep s(K::Metaspace);
        s.replacement = text(j, "replacement", at);
        if (s.replacement.empty()) fail(ErrorKind::Tokenizer, at + ": the Metaspace \"replacement\" is empty");
        const std::string scheme = j.contains("prepend_scheme") ? text(j, "prepend_scheme", at) : "always";
        if (scheme == "first") s.prependScheme = PrependScheme::First;
        else if (scheme == "always") s.prependScheme = PrependScheme::Always;
        else if (scheme == "never") s.prependScheme = PrependScheme::Never;
        else fail(ErrorKind::Tokenizer, at + ": unknown prepend_scheme " + excerpt(scheme));
        if (!flag(j, "add_prefix_space", true, at)) s.prependScheme = PrependScheme::Never;  // older files
        s.split = flag(j, "split", true, at);
        out.push_back(s);
    } else {
        unsupported(at, "pre-tokenizer", type, kPreTokenizers);
    }
}

int specialId(const json& pair, const std::string& at) {
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
        fail(ErrorKind::Tokenizer, at + ": expected [\"token\", id], got " + jsonExcerpt(pair));
    return pair[1].get<int>();
}

void parsePostProcessor(const json& j, const std::string& at, TokenizerData& d) {
    if (j.is_null()) return;
    const std::string type = typeOf(j, at);
    if (type == "Sequence") {
        const json list = j.value("processors", json());
        if (!list.is_array()) fail(ErrorKind::Tokenizer, at + ": \"processors\" must be a list");
        for (size_t i = 0; i < list.size(); ++i) parsePostProcessor(list[i], at + ".processors[" + std::to_string(i) + "]", d);
    } else if (type == "ByteLevel") {
        // Offsets only (trim_offsets); the ids are unchanged.
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
        d.prefixIds.push_back(specialId(j.value("cls", json()), at + ".cls"));
        d.suffixIds.push_back(specialId(j.value("sep", json()), at + ".sep"));
    } else if (type == "TemplateProcessing") {
        const json single = j.value("single", json());
        const json specials = j.value("special_tokens", json::object());
        if (!single.is_array()) fail(ErrorKind::Tokenizer, at + ": \"single\" must be a list");
        bool seenSequence = false;
        for (size_t i = 0; i < single.size(); ++i) {
            const json& item = single[i];
            const std::string iat = at + ".single[" + std::to_string(i) + "]";
            if (item.is_object() && item.contains("Sequence")) {
                seenSequence = true;
            } else if (item.is_object() && item.contains("SpecialToken") && item["SpecialToken"].is_object()) {
                const std::string name = text(item["SpecialToken"], "id", iat);
                const json st = specials.is_object() ? specials.value(name, json()) : json();
                if (!st.is_object() || !st.contains("ids") || !st["ids"].is_array())
                    fail(ErrorKind::Tokenizer, iat + ": the special token " + excerpt(name) +
                                                   " is not in the post-processor's special_tokens");
                for (const json& id : st["ids"]) {
                    if (!id.is_number_integer())
                        fail(ErrorKind::Tokenizer, iat + ": the ids of " + excerpt(name) + " must be integers");
                    (seenSequence ? d.suffixIds : d.prefixIds).push_back(id.get<int>());
                }
            } else {
                fail(ErrorKind::Tokenizer, iat + ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, got " +
                                               jsonExcerpt(item));
            }
        }
    } else {
        unsupported(at, "post-processor", type, kPostProcessors);
    }
}

// What the decoder does to one token (Replace, ByteFallback, Metaspace) and to
// the whole text (Strip at the start, Metaspace's first-token prefix).
struct DecoderSpec {
    std::vector<std::pair<std::string, std::string>> replace;  // from -> to
    bool byteFallback = false;
    int stripLeading = 0;
};

void parseDecoder(const json& j, const std::string& at, DecoderSpec& spec) {
    if (j.is_null()) return;
    const std::string type = typeOf(j, at);
    if (type == "Sequence") {
        const json list = j.value("decoders", json());
        if (!list.is_array()) fail(ErrorKind::Tokenizer, at + ": \"decoders\" must be a list");
        for (size_t i = 0; i < list.size(); ++i) parseDecoder(list[i], at + ".decoders[" + std::to_string(i) + "]", spec);
    } else if (type == "ByteLevel" || type == "Fuse") {
    } else if (type == "ByteFallback") {
        spec.byteFallback = true;
    } else if (type == "Replace") {
        bool regex = false;
        const std::string pattern = patternOf(j, at, &regex);
        if (regex || pattern.empty())
            fail(ErrorKind::Tokenizer, at + ": a Replace decoder with a " + (regex ? "Regex" : "empty") +
                                           " pattern is not supported (only a literal String)");
        spec.replace.emplace_back(pattern, text(j, "content", at));
    } else if (type == "Strip") {
        if (text(j, "content", at) != " " || j.value("stop", 0) != 0)
            fail(ErrorKind::Tokenizer, at + ": only a Strip decoder of leading spaces (content \" \", stop 0) is supported");
        spec.stripLeading = j.value("start", 0);
    } else if (type == "Metaspace") {
        const std::string r = j.contains("replacement") ? text(j, "replacement", at) : "\xE2\x96\x81";
        spec.replace.emplace_back(r, " ");
        if (j.value("prepend_scheme", std::string("always")) != "never" && j.value("add_prefix_space", true))
            spec.stripLeading = 1;
    } else {
        unsupported(at, "decoder", type, kDecoders);
    }
}

// "<0x41>" -> 0x41; -1 when `s` is not a byte token.
int byteTokenValue(const std::string& s) {
    if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return -1;
    int v = 0;
    for (size_t i = 3; i < 5; ++i) {
        const char c = s[i];
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
        else return -1;
    }
    return v;
}

// The lookup lists of the added tokens, their normalized forms, the special
// marks, and a range check of the post-processor's ids.
void finishAddedTokens(TokenizerData& d, const std::string& where) {
    d.special.assign(d.tokens.size(), false);
    for (size_t i = 0; i < d.addedTokens.size(); ++i) {
        AddedToken& t = d.addedTokens[i];
        const int index = static_cast<int>(i);
        if (t.special) d.special[static_cast<size_t>(t.id)] = true;
        if (t.isNormalized) {
            NormalizedText n = NormalizedText::fromOriginal(t.content, 0, t.content.size());
            normalize(d.normalizer, n, false);
            t.normalized = n.text;
            d.normAdded.push_back(index);
            if (!t.special) d.normAddedPlain.push_back(index);
        } else {
            d.rawAdded.push_back(index);
            if (!t.special) d.rawAddedPlain.push_back(index);
        }
    }
    for (const std::vector<int>* list : {&d.prefixIds, &d.suffixIds})
        for (int id : *list)
            if (id < 0 || static_cast<size_t>(id) >= d.tokens.size())
                fail(ErrorKind::Tokenizer, where + " post_processor: the special token id " + std::to_string(id) +
                                               " is out of range (the vocabulary has " + std::to_string(d.tokens.size()) +
                                               " tokens)");
}

}  // namespace

Tokenizer Tokenizer::fromTokenizerJson(const std::string& path) {
    const std::string where = "tokenizer file " + inQuotes(path);
    const json root = parseTokenizerJson(readFile(path, "tokenizer file"), path, "tokenizer file");
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
        fail(ErrorKind::Tokenizer, where + ": no \"model\" object");
    const json& model = root["model"];
    // Old files may omit the type of a BPE model; anything else is named.
    const std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "BPE";
    if (type != "BPE") {
        fail(ErrorKind::Tokenizer, where + ": model type " + excerpt(type) +
                                       " is not supported (only BPE: byte-level as GPT-2, LLaMA-3 and Qwen2, or "
                                       "SentencePiece-style as LLaMA-2 and Mistral)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json v = model.value(key, json());
        if (v.is_string() && !v.get<std::string>().empty())
            fail(ErrorKind::Tokenizer, where + ": BPE option \"" + std::string(key) + "\" is not supported");
    }
    const json dropout = model.value("dropout", json());
    if (dropout.is_number() && dropout.get<double>() > 0)
        fail(ErrorKind::Tokenizer, where + ": BPE dropout is not supported (it makes encoding random)");

    auto d = std::make_shared<TokenizerData>();
    // Components first, so that an unsupported one is named before any vocabulary error.
    parseNormalizer(root.value("normalizer", json()), where + " normalizer", d->normalizer);
    parsePreTokenizer(root.value("pre_tokenizer", json()), where + " pre_tokenizer", d->preTokenizer);
    parsePostProcessor(root.value("post_processor", json()), where + " post_processor", *d);
    DecoderSpec decoder;
    parseDecoder(root.value("decoder", json()), where + " decoder", decoder);
    d->decodeStripLeading = decoder.stripLeading;
    // Byte-level when a ByteLevel pre-tokenizer or decoder says so; else the
    // model works on characters (SentencePiece-style).
    d->byteLevel = mentionsByteLevel(root.value("pre_tokenizer", json())) || mentionsByteLevel(root.value("decoder", json()));
    d->byteFallback = flag(model, "byte_fallback", false, where + " model");
    d->fuseUnk = flag(model, "fuse_unk", false, where + " model");
    d->ignoreMerges = flag(model, "ignore_merges", false, where + " model");
    if (d->byteLevel && d->byteFallback)
        fail(ErrorKind::Tokenizer, where + ": byte_fallback with a byte-level BPE is not supported");

    if (!model.contains("vocab")) fail(ErrorKind::Tokenizer, where + ": model has no \"vocab\"");
    std::function<std::string(const std::string&)> pieceBytes;
    if (!d->byteLevel) {
        pieceBytes = [&decoder, fallback = d->byteFallback](const std::string& s) {
            const int b = fallback || decoder.byteFallback ? byteTokenValue(s) : -1;
            if (b >= 0) return std::string(1, static_cast<char>(b));
            std::string out = s;
            for (const auto& [from, to] : decoder.replace)
                for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
                    out.replace(at, from.size(), to);
            return out;
        };
    }
    d->byteLevel = !pieceBytes;
    loadVocab(*d, model["vocab"], where + " model.vocab", pieceBytes);

    const json merges = model.value("merges", json::array());
    if (!merges.is_array()) fail(ErrorKind::Tokenizer, where + ": model.merges is not a list");
    for (size_t i = 0; i < merges.size(); ++i) {
        const json& m = merges[i];
        const std::string at = where + " merge #" + std::to_string(i + 1);
        std::string left, right;
        if (m.is_string()) {
            if (!splitMerge(m.get<std::string>(), left, right))
                fail(ErrorKind::Tokenizer, at + ": expected \"a b\", got " + excerpt(m.get<std::string>()));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            left = m[0].get<std::string>();
            right = m[1].get<std::string>();
        } else {
            fail(ErrorKind::Tokenizer, at + ": expected \"a b\" or [\"a\", \"b\"], got " + jsonExcerpt(m));
        }
        addMerge(*d, left, right, static_cast<int>(i), at);
    }


    const json unk = model.value("unk_token", json());
    if (unk.is_string()) {
        const auto it = d->modelIds.find(d->byteLevel ? tokenBytesOf(unk.get<std::string>()) : unk.get<std::string>());
        if (it == d->modelIds.end())
            fail(ErrorKind::Tokenizer, where + ": model.unk_token " + excerpt(unk.get<std::string>()) + " is not in the vocabulary");
        d->unkId = it->second;
    } else if (!unk.is_null()) {
        fail(ErrorKind::Tokenizer, where + ": model.unk_token must be a string or null, got " + jsonExcerpt(unk));
    }

    // Added tokens are literal text (not byte-level) and may extend the ids.
    const json added = root.value("added_tokens", json::array());
    if (!added.is_array()) fail(ErrorKind::Tokenizer, where + ": added_tokens is not a list");
    std::vector<bool> filled(d->tokens.size(), true);
    // Ids are contiguous, so an added token's id is below the vocabulary's
    // size plus the number of added tokens; checked before growing the table
    // (an id of 2^30 must not allocate a billion entries).
    const int64_t idLimit = static_cast<int64_t>(d->tokens.size() + added.size());
    for (size_t i = 0; i < added.size(); ++i) {
        const json& a = added[i];
        const std::string at = where + " added_tokens[" + std::to_string(i) + "]";
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
            !a["content"].is_string()) {
            fail(ErrorKind::Tokenizer, at + ": an added token needs an integer \"id\" and a string \"content\", got " +
                                           jsonExcerpt(a));
        }
        const int64_t id = a["id"].is_number_unsigned() && a["id"].get<uint64_t>() > uint64_t(INT64_MAX)
                               ? INT64_MAX
                               : a["id"].get<int64_t>();
        if (id < 0) fail(ErrorKind::Tokenizer, at + ": id " + jsonExcerpt(a["id"]) + " is negative");
        if (id >= idLimit) {
            // Some id below idLimit then has no token: name the first one.
            std::vector<bool> used(static_cast<size_t>(idLimit), false);
            for (size_t t = 0; t < d->tokens.size(); ++t) used[t] = true;
            for (const json& other : added)
                if (other.is_object() && other.contains("id") && other["id"].is_number_integer() &&
                    other["id"].get<int64_t>() >= 0 && other["id"].get<int64_t>() < idLimit)
                    used[static_cast<size_t>(other["id"].get<int64_t>())] = true;
            const auto gap = std::find(used.begin(), used.end(), false) - used.begin();
            fail(ErrorKind::Tokenizer, at + ": id " + jsonExcerpt(a["id"]) + " is out of range: no token has the id " +
                                           std::to_string(gap) + " (ids must be contiguous; the vocabulary has " +
                                           std::to_string(d->tokens.size()) + " tokens and " +
                                           std::to_string(added.size()) + " added tokens)");
        }
        const std::string content = a["content"].get<std::string>();
        if (content.empty()) fail(ErrorKind::Tokenizer, at + ": the token's \"content\" is empty");
        AddedToken tok;
        tok.id = static_cast<int>(id);
        tok.content = content;
        tok.special = flag(a, "special", false, at);
        tok.singleWord = flag(a, "single_word", false, at);
        tok.lstrip = flag(a, "lstrip", false, at);
        tok.rstrip = flag(a, "rstrip", false, at);
        // AddedToken::from: special tokens are not normalized unless the file says so.
        tok.isNormalized = flag(a, "normalized", !tok.special, at);
        d->addedTokens.push_back(tok);
        if (static_cast<size_t>(id) >= d->tokens.size()) {
            d->tokens.resize(static_cast<size_t>(id) + 1);
            filled.resize(d->tokens.size(), false);
        }
        d->tokens[static_cast<size_t>(id)] = content;
        filled[static_cast<size_t>(id)] = true;
        d->ids[content] = static_cast<int>(id);
    }
    for (size_t id = 0; id < d->tokens.size(); ++id) {
        if (!filled[id])
            fail(ErrorKind::Tokenizer, where + ": no token has the id " + std::to_string(id) + " (ids must be contiguous)");
    }
    finishAddedTokens(*d, where);
    if (d->byteLevel) {
        finishByteIds(*d, where);
    } else {
        d->byteIds.fill(-1);
        int missing = 0;
        std::string first;
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            const auto it = d->modelIds.find(name);
            if (it != d->modelIds.end()) d->byteIds[b] = it->second;
            else if (missing++ == 0) first = name;
        }
        if (d->byteFallback && missing > 0)
            fail(ErrorKind::Tokenizer, where + ": model.byte_fallback is true but the vocabulary has no token " +
                                           excerpt(first) +
                                           (missing > 1 ? " (nor " + std::to_string(missing - 1) + " other byte tokens)" : std::string()) +
                                           "; byte fallback needs all 256 tokens <0x00> .. <0xFF>");
    }
    // A space marker the vocabulary cannot spell would vanish from every word
    // (HF drops unknown characters when there is neither byte fallback nor unk).
    if (!d->byteLevel && !d->byteFallback && d->unkId < 0) {
        auto check = [&](const std::string& marker, const std::string& what) {
            if (!marker.empty() && !d->modelIds.count(marker))
                fail(ErrorKind::Tokenizer, where + ": the " + what + " " + excerpt(marker) +
                                               " is not in the vocabulary, and there is neither byte fallback nor an "
                                               "unk token: it would vanish from every word");
        };
        for (const PreTokenizerStep& s : d->preTokenizer)
            if (s.kind == PreTokenizerStep::Kind::Metaspace) check(s.replacement, "Metaspace replacement");
        for (const NormalizerStep& s : d->normalizer)
            if (s.kind == NormalizerStep::Kind::Prepend) check(s.text, "Prepend normalizer's text");
    }
    return Tokenizer(std::move(d));
}

}  // namespace kme
