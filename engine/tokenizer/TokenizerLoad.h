#pragma once
// Loading helpers shared by the vocab.json + merges.txt and tokenizer.json
// loaders (private to engine/tokenizer). Every failure is
// ErrorKind::Tokenizer with a message naming the file (`where`).
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/TokenizerData.h"

namespace kme::tokload {

std::string inQuotes(const std::string& s);
// A user's text in a message: quoted, at most ~80 bytes, control bytes escaped.
std::string excerpt(const std::string& s);
// The whole file: a regular file of bounded size.
std::string readFile(const std::string& path, const std::string& what);
// JSON of bounded nesting.
nlohmann::json parseTokenizerJson(const std::string& text, const std::string& path, const std::string& what);
// Raw bytes of a byte-level vocabulary string (or the string itself when it is not byte-level).
std::string tokenBytesOf(const std::string& text, bool* byteLevel = nullptr);
// Fills tokens / ids / modelIds from a JSON object of token -> id (ids exactly
// 0..size-1). `pieceBytes` empty: a byte-level vocabulary; else a
// SentencePiece-style one whose strings map to raw bytes with it.
void loadVocab(TokenizerData& d, const nlohmann::json& vocab, const std::string& where,
               const std::function<std::string(const std::string&)>& pieceBytes);
// byteIds from the 256 byte symbols; refuses a vocabulary that lacks one.
void finishByteIds(TokenizerData& d, const std::string& where);
// Registers merge (left, right) with `rank`; both and their concatenation must be tokens.
void addMerge(TokenizerData& d, const std::string& left, const std::string& right, int rank, const std::string& where);
// "a b" -> a, b (exactly one space, both non-empty).
bool splitMerge(const std::string& line, std::string& left, std::string& right);
// True when a "ByteLevel" component appears anywhere in `j`.
bool mentionsByteLevel(const nlohmann::json& j);

}  // namespace kme::tokload
