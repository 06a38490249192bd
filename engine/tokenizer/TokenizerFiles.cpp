// Loading and validating tokenizer files. Everything a file could get wrong is
// checked here, once, with a message naming the file (and line or entry), so
// that encoding can trust its tables.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/Tokenizer.h"
#include "engine/tokenizer/TokenizerData.h"

namespace kme {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string inQuotes(const std::string& s) { return "'" + s + "'"; }

std::string readFile(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail(ErrorKind::Tokenizer, what + " " + inQuotes(path) + " does not exist or is not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::Tokenizer, "cannot open " + what + " " + inQuotes(path));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(ErrorKind::Tokenizer, "cannot read " + what + " " + inQuotes(path));
    return ss.str();
}

json parseJson(const std::string& text, const std::string& path, const std::string& what) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(ErrorKind::Tokenizer, what + " " + inQuotes(path) + " is not valid JSON: " + e.what());
    }
}

// Raw bytes of a vocabulary string: byte-level decoded, or the string itself
// for the rare literal entry (a special token with a real space, say).
std::string tokenBytesOf(const std::string& text, bool* byteLevel = nullptr) {
    std::optional<std::string> raw = bytelevel::decode(text);
    if (byteLevel) *byteLevel = raw.has_value();
    return raw ? *raw : text;
}

// Fills tokens/ids from a JSON object of token -> id. The ids must be exactly
// 0..size-1, each once: a hole or a duplicate means a corrupt file, and the
// model's embedding rows would no longer line up with the tokens.
void loadVocab(TokenizerData& d, const json& vocab, const std::string& where) {
    if (!vocab.is_object()) fail(ErrorKind::Tokenizer, where + ": the vocabulary must be a JSON object of token -> id");
    const size_t size = vocab.size();
    d.tokens.assign(size, std::string());
    std::vector<const std::string*> owner(size, nullptr);
    std::vector<std::pair<std::string, int>> literal;  // non-byte-level entries, added after the rest
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const json& v = it.value();
        if (!v.is_number_integer())
            fail(ErrorKind::Tokenizer, where + ": the id of token " + inQuotes(it.key()) + " is not an integer");
        const int64_t id = v.get<int64_t>();
        if (id < 0 || static_cast<uint64_t>(id) >= size) {
            fail(ErrorKind::Tokenizer, where + ": the id " + std::to_string(id) + " of token " + inQuotes(it.key()) +
                                           " is out of range [0, " + std::to_string(size) + ")");
        }
        if (owner[id]) {
            fail(ErrorKind::Tokenizer, where + ": duplicate id " + std::to_string(id) + " (tokens " +
                                           inQuotes(*owner[id]) + " and " + inQuotes(it.key()) + ")");
        }
        owner[id] = &it.key();
        bool byteLevel = false;
        d.tokens[id] = tokenBytesOf(it.key(), &byteLevel);
        if (byteLevel) {
            d.ids.emplace(d.tokens[id], static_cast<int>(id));
        } else {
            literal.emplace_back(d.tokens[id], static_cast<int>(id));
        }
    }
    for (const auto& [bytes, id] : literal) d.ids.emplace(bytes, id);
}

void finishByteIds(TokenizerData& d) {
    for (int b = 0; b < 256; ++b) {
        const auto it = d.ids.find(std::string(1, static_cast<char>(b)));
        d.byteIds[b] = it == d.ids.end() ? -1 : it->second;
    }
}

// Registers one merge "left right" (byte-level text). Later duplicates take
// the later rank, as GPT-2's dict(zip(merges, range(...))) does.
void addMerge(TokenizerData& d, const std::string& left, const std::string& right, int rank,
              const std::string& where) {
    auto idOf = [&](const std::string& text, const char* role) {
        const auto it = d.ids.find(tokenBytesOf(text));
        if (it == d.ids.end())
            fail(ErrorKind::Tokenizer, where + ": the " + role + " " + inQuotes(text) + " is not in the vocabulary");
        return it->second;
    };
    const int l = idOf(left, "symbol");
    const int r = idOf(right, "symbol");
    const int result = idOf(left + right, "merged token");
    d.merges[TokenizerData::pairKey(l, r)] = {rank, result};
}

// Splits "a b" into its two parts; anything else is malformed.
bool splitMerge(const std::string& line, std::string& left, std::string& right) {
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size()) return false;
    if (line.find(' ', space + 1) != std::string::npos) return false;
    left = line.substr(0, space);
    right = line.substr(space + 1);
    return true;
}

void loadMergesTxt(TokenizerData& d, const std::string& path) {
    const std::string text = readFile(path, "merges file");
    std::istringstream in(text);
    std::string line;
    int lineNo = 0;
    int rank = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.pop_back();  // files saved on Windows
        if (lineNo == 1 && line.rfind("#version", 0) == 0) continue;
        if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank (e.g. trailing) lines
        std::string left, right;
        const std::string where = "merges file " + inQuotes(path) + " line " + std::to_string(lineNo);
        if (!splitMerge(line, left, right))
            fail(ErrorKind::Tokenizer, where + ": expected two symbols separated by one space, got " + inQuotes(line));
        addMerge(d, left, right, rank++, where);
    }
}

// True when a "ByteLevel" component appears anywhere in `j`.
bool mentionsByteLevel(const json& j) {
    if (j.is_object()) {
        const auto t = j.find("type");
        if (t != j.end() && t->is_string() && t->get<std::string>() == "ByteLevel") return true;
        for (const auto& [key, value] : j.items())
            if (mentionsByteLevel(value)) return true;
    } else if (j.is_array()) {
        for (const json& v : j)
            if (mentionsByteLevel(v)) return true;
    }
    return false;
}

}  // namespace

Tokenizer Tokenizer::fromVocabMerges(const std::string& vocabJson, const std::string& mergesTxt) {
    auto d = std::make_shared<TokenizerData>();
    const json vocab = parseJson(readFile(vocabJson, "vocab file"), vocabJson, "vocab file");
    loadVocab(*d, vocab, "vocab file " + inQuotes(vocabJson));
    loadMergesTxt(*d, mergesTxt);
    finishByteIds(*d);
    return Tokenizer(std::move(d));
}

Tokenizer Tokenizer::fromTokenizerJson(const std::string& path) {
    const std::string where = "tokenizer file " + inQuotes(path);
    const json root = parseJson(readFile(path, "tokenizer file"), path, "tokenizer file");
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
        fail(ErrorKind::Tokenizer, where + ": no \"model\" object");
    const json& model = root["model"];
    // Old files may omit the type of a BPE model; anything else is named.
    const std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "BPE";
    if (type != "BPE") {
        fail(ErrorKind::Tokenizer, where + ": model type " + inQuotes(type) +
                                       " is not supported (only byte-level BPE, as in GPT-2)");
    }
    // A BPE without the byte-level mapping (SentencePiece-style, e.g. LLaMA-2)
    // would be encoded wrongly without any error, so it is refused here.
    if (!mentionsByteLevel(root.value("pre_tokenizer", json())) && !mentionsByteLevel(root.value("decoder", json())))
        fail(ErrorKind::Tokenizer, where + ": a BPE model without a ByteLevel pre-tokenizer is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json v = model.value(key, json());
        if (v.is_string() && !v.get<std::string>().empty())
            fail(ErrorKind::Tokenizer, where + ": BPE option \"" + std::string(key) + "\" is not supported");
    }

    auto d = std::make_shared<TokenizerData>();
    if (!model.contains("vocab")) fail(ErrorKind::Tokenizer, where + ": model has no \"vocab\"");
    loadVocab(*d, model["vocab"], where + " model.vocab");
    const json ignoreMerges = model.value("ignore_merges", json(false));
    d->ignoreMerges = ignoreMerges.is_boolean() && ignoreMerges.get<bool>();

    const json merges = model.value("merges", json::array());
    if (!merges.is_array()) fail(ErrorKind::Tokenizer, where + ": model.merges is not a list");
    for (size_t i = 0; i < merges.size(); ++i) {
        const json& m = merges[i];
        const std::string at = where + " merge #" + std::to_string(i + 1);
        std::string left, right;
        if (m.is_string()) {
            if (!splitMerge(m.get<std::string>(), left, right))
                fail(ErrorKind::Tokenizer, at + ": expected \"a b\", got " + inQuotes(m.get<std::string>()));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            left = m[0].get<std::string>();
            right = m[1].get<std::string>();
        } else {
            fail(ErrorKind::Tokenizer, at + ": expected \"a b\" or [\"a\", \"b\"], got " + m.dump());
        }
        addMerge(*d, left, right, static_cast<int>(i), at);
    }

    // Added tokens are literal text (not byte-level) and may extend the ids.
    const json added = root.value("added_tokens", json::array());
    if (!added.is_array()) fail(ErrorKind::Tokenizer, where + ": added_tokens is not a list");
    std::vector<bool> filled(d->tokens.size(), true);
    for (const json& a : added) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
            !a["content"].is_string()) {
            fail(ErrorKind::Tokenizer, where + ": an added token lacks an integer \"id\" or a string \"content\": " + a.dump());
        }
        const int64_t id = a["id"].get<int64_t>();
        if (id < 0 || id > (1 << 30)) fail(ErrorKind::Tokenizer, where + ": added token id " + std::to_string(id) + " is out of range");
        const std::string content = a["content"].get<std::string>();
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
    finishByteIds(*d);
    return Tokenizer(std::move(d));
}

Tokenizer Tokenizer::fromFolder(const std::string& folder) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) fail(ErrorKind::Tokenizer, "tokenizer folder " + inQuotes(folder) + " does not exist");
    const fs::path dir(folder);
    const fs::path vocab = dir / "vocab.json";
    const fs::path merges = dir / "merges.txt";
    const fs::path tokJson = dir / "tokenizer.json";
    const bool hasVocab = fs::exists(vocab, ec);
    const bool hasMerges = fs::exists(merges, ec);
    if (hasVocab && hasMerges) return fromVocabMerges(vocab.string(), merges.string());
    if (fs::exists(tokJson, ec)) return fromTokenizerJson(tokJson.string());
    if (hasVocab || hasMerges) {
        fail(ErrorKind::Tokenizer, "folder " + inQuotes(folder) + " has " + (hasVocab ? "vocab.json but no merges.txt" : "merges.txt but no vocab.json") +
                                       " (and no tokenizer.json)");
    }
    fail(ErrorKind::Tokenizer, "folder " + inQuotes(folder) + " has no tokenizer: expected vocab.json + merges.txt or tokenizer.json");
}

}  // namespace kme
