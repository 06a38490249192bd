// Loading and validating tokenizer files. Everything a file could get wrong is
// checked here, once, with a message naming the file (and line or entry), so
// that encoding can trust its tables.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>

#include <sys/stat.h>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/Tokenizer.h"
#include "engine/tokenizer/TokenizerData.h"
#include "engine/tokenizer/TokenizerLoad.h"

namespace kme {
namespace tokload {

using nlohmann::json;
namespace fs = std::filesystem;

std::string inQuotes(const std::string& s) { return "'" + s + "'"; }

// A user's text in a message: quoted, at most ~80 bytes, control bytes escaped.
std::string excerpt(const std::string& s) { return quoteForMessage(s); }

// The whole file: a regular file (no FIFO, device, folder) of bounded size.
std::string readFile(const std::string& path, const std::string& what) {
    try {
        return readRegularFile(path, what);
    } catch (const Error& e) {
        fail(ErrorKind::Tokenizer, e.what());
    }
}

// JSON of bounded nesting (checked before parsing: no recursion on hostile input).
json parseTokenizerJson(const std::string& text, const std::string& path, const std::string& what) {
    if (jsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
        fail(ErrorKind::Tokenizer, what + " " + inQuotes(path) + " is nested more than " +
                                       std::to_string(kMaxJsonDepth) + " levels deep (refused: no real file nests that deep)");
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        fail(ErrorKind::Tokenizer, what + " " + inQuotes(path) + " is not valid JSON (syntax error at byte " +
                                       std::to_string(e.byte) + ")");
    } catch (const std::exception&) {
        fail(ErrorKind::Tokenizer, what + " " + inQuotes(path) + " is not valid JSON");
    }
}

// Raw bytes of a vocabulary string: byte-level decoded, or the string itself
// for the rare literal entry (a special token with a real space, say).
std::string tokenBytesOf(const std::string& text, bool* byteLevel) {
    std::optional<std::string> raw = bytelevel::decode(text);
    if (byteLevel) *byteLevel = raw.has_value();
    return raw ? *raw : text;
}

// Fills tokens/ids from a JSON object of token -> id. The ids must be exactly
// 0..size-1, each once: a hole or a duplicate means a corrupt file, and the
// model's embedding rows would no longer line up with the tokens.
void loadVocab(TokenizerData& d, const json& vocab, const std::string& where,
               const std::function<std::string(const std::string&)>& pieceBytes) {
    if (!vocab.is_object()) fail(ErrorKind::Tokenizer, where + ": the vocabulary must be a JSON object of token -> id");
    const size_t size = vocab.size();
    d.tokens.assign(size, std::string());
    std::vector<const std::string*> owner(size, nullptr);
    std::vector<std::pair<std::string, int>> literal;  // non-byte-level entries, added after the rest
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const json& v = it.value();
        if (!v.is_number_integer())
            fail(ErrorKind::Tokenizer, where + ": the id of token " + excerpt(it.key()) + " is not an integer");
        const int64_t id = v.get<int64_t>();
        if (id < 0 || static_cast<uint64_t>(id) >= size) {
            fail(ErrorKind::Tokenizer, where + ": the id " + std::to_string(id) + " of token " + excerpt(it.key()) +
                                           " is out of range [0, " + std::to_string(size) + ")");
        }
        if (owner[id]) {
            fail(ErrorKind::Tokenizer, where + ": duplicate id " + std::to_string(id) + " (tokens " +
                                           excerpt(*owner[id]) + " and " + excerpt(it.key()) + ")");
        }
        owner[id] = &it.key();
        if (pieceBytes) {  // SentencePiece-style: the model works on the strings themselves
            d.modelIds.emplace(it.key(), static_cast<int>(id));
            d.tokens[id] = pieceBytes(it.key());
            const bool byteToken = it.key().size() == 6 && it.key().rfind("<0x", 0) == 0;
            if (byteToken) literal.emplace_back(d.tokens[id], static_cast<int>(id));
            else d.ids.emplace(d.tokens[id], static_cast<int>(id));
            continue;
        }
        bool byteLevel = false;
        d.tokens[id] = tokenBytesOf(it.key(), &byteLevel);
        if (byteLevel) {
            d.ids.emplace(d.tokens[id], static_cast<int>(id));
        } else {
            literal.emplace_back(d.tokens[id], static_cast<int>(id));
        }
    }
    for (const auto& [bytes, id] : literal) d.ids.emplace(bytes, id);
    if (!pieceBytes) d.modelIds = d.ids;
}

// Byte-level BPE starts every piece from its bytes: a vocabulary without
// one of the 256 byte symbols cannot encode that byte, so it is refused at
// load, naming the file (`where`) and the first missing byte.
void finishByteIds(TokenizerData& d, const std::string& where) {
    int missing = 0, first = -1;
    for (int b = 0; b < 256; ++b) {
        const auto it = d.ids.find(std::string(1, static_cast<char>(b)));
        d.byteIds[b] = it == d.ids.end() ? -1 : it->second;
        if (d.byteIds[b] < 0 && missing++ == 0) first = b;
    }
    if (missing > 0) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", first);
        fail(ErrorKind::Tokenizer, where + ": the vocabulary has no token for the byte " + hex + " (" +
                                       excerpt(bytelevel::byteToUnicode(static_cast<unsigned char>(first))) +
                                       (missing > 1 ? " and " + std::to_string(missing - 1) + " other bytes" : std::string()) +
                                       "); byte-level BPE needs all 256 byte symbols");
    }
}

// Registers one merge "left right" (byte-level text). Later duplicates take
// the later rank, as GPT-2's dict(zip(merges, range(...))) does.
void addMerge(TokenizerData& d, const std::string& left, const std::string& right, int rank,
              const std::string& where) {
    auto idOf = [&](const std::string& text, const char* role) {
        const auto it = d.modelIds.find(d.byteLevel ? tokenBytesOf(text) : text);
        if (it == d.modelIds.end())
            fail(ErrorKind::Tokenizer, where + ": the " + role + " " + excerpt(text) + " is not in the vocabulary");
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
            fail(ErrorKind::Tokenizer, where + ": expected two symbols separated by one space, got " + excerpt(line));
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

}  // namespace tokload

using namespace tokload;

Tokenizer Tokenizer::fromVocabMerges(const std::string& vocabJson, const std::string& mergesTxt) {
    auto d = std::make_shared<TokenizerData>();
    const json vocab = parseTokenizerJson(readFile(vocabJson, "vocab file"), vocabJson, "vocab file");
    loadVocab(*d, vocab, "vocab file " + inQuotes(vocabJson), {});
    loadMergesTxt(*d, mergesTxt);
    finishByteIds(*d, "vocab file " + inQuotes(vocabJson));
    // GPT-2's pre-tokenizer, nothing else.
    PreTokenizerStep byteLevel(PreTokenizerStep::Kind::ByteLevel);
    d->preTokenizer.push_back(byteLevel);
    d->special.assign(d->tokens.size(), false);
    return Tokenizer(std::move(d));
}

Tokenizer Tokenizer::fromFolder(const std::string& folder) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) fail(ErrorKind::Tokenizer, "tokenizer folder " + inQuotes(folder) + " does not exist");
    const fs::path dir(folder);
    const fs::path vocab = dir / "vocab.json";
    const fs::path merges = dir / "merges.txt";
    const fs::path tokJson = dir / "tokenizer.json";
    // Present in any form (a FIFO, folder or symlink loop is then named by readFile).
    auto present = [](const fs::path& p) {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0;
    };
    const bool hasVocab = present(vocab);
    const bool hasMerges = present(merges);
    // tokenizer.json first: it carries the pre-tokenizer, normalizer and
    // special tokens (Qwen2 ships both forms, and only tokenizer.json has its
    // Split pattern and NFC normalizer).
    if (present(tokJson)) return fromTokenizerJson(tokJson.string());
    if (hasVocab && hasMerges) return fromVocabMerges(vocab.string(), merges.string());
    if (hasVocab || hasMerges) {
        fail(ErrorKind::Tokenizer, "folder " + inQuotes(folder) + " has " + (hasVocab ? "vocab.json but no merges.txt" : "merges.txt but no vocab.json") +
                                       " (and no tokenizer.json)");
    }
    fail(ErrorKind::Tokenizer, "folder " + inQuotes(folder) + " has no tokenizer: expected vocab.json + merges.txt or tokenizer.json");
}

}  // namespace kme
