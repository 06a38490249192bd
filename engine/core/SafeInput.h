#pragma once
// Reading untrusted input safely: files that are regular files of a bounded
// size, JSON of a bounded nesting depth, numbers checked against ranges, and
// messages that quote at most a short excerpt of what the user gave.
// Every reader of a user file (config.json, tokenizer files, datasets,
// hyper-parameters, caches, session blobs) goes through these helpers.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "engine/core/Error.h"

namespace kme {

// Default limits of the readers below.
constexpr uint64_t kMaxJsonFileBytes = 512ull << 20;  // 512 MiB: larger JSON is not a config
constexpr int kMaxJsonDepth = 64;                     // deeper nesting than any real file has

// The whole of `path`, a regular file (symlinks followed) of at most
// `maxBytes`. Refuses directories, FIFOs, devices, sockets, symlink loops and
// missing files with ErrorKind::Io "PATH: cannot read the WHAT (reason)".
std::string readRegularFile(const std::string& path, const std::string& what,
                            uint64_t maxBytes = kMaxJsonFileBytes);

// Why `path` is not a readable regular file ("a directory, not a file", "a
// FIFO, not a regular file", "a symlink loop", "no such file", "a symlink to
// a missing file", ...), or "" when it is one (symlinks followed).
std::string notRegularFileReason(const std::string& path);

// Throws ErrorKind::Io naming `path` unless it is an existing regular file
// (symlinks followed). `what` = "model config", "vocabulary", ...
void requireRegularFile(const std::string& path, const std::string& what);

// Parses JSON text after checking that arrays/objects nest at most `maxDepth`
// deep (the scan is iterative: no recursion on hostile input). Errors are
// ErrorKind::Format "WHERE: not valid JSON (...)" with the byte offset, never
// the text itself. `where` names the file or field ("config.json",
// "session edit #3 request").
nlohmann::json parseJson(const std::string& text, const std::string& where, int maxDepth = kMaxJsonDepth);

// readRegularFile + parseJson.
nlohmann::json readJsonFile(const std::string& path, const std::string& what,
                            uint64_t maxBytes = kMaxJsonFileBytes, int maxDepth = kMaxJsonDepth);

// The deepest nesting of arrays/objects in `text` (0 for a scalar), counted
// outside strings; stops counting once it exceeds `limit`.
int jsonNestingDepth(const std::string& text, int limit);

// A short, printable, quoted excerpt for an error message: at most `maxChars`
// bytes of `s` (cut at a UTF-8 boundary, "…" appended), control bytes and NUL
// shown as \xNN. quoteForMessage("Paris") == "'Paris'".
std::string quoteForMessage(const std::string& s, size_t maxChars = 80);

// A short quoted excerpt of a JSON value for an error message: its compact
// dump cut to `maxChars` bytes by quoteForMessage (never the whole value).
std::string jsonExcerpt(const nlohmann::json& j, size_t maxChars = 80);

// The JSON type of `j` in words ("a string", "an array", "a number", ...).
std::string jsonTypeName(const nlohmann::json& j);

// Typed field access for config / hyper-parameter / dataset objects.
// `where` names the object ("config.json", "hparams"). Each throws `kind`
// with "WHERE: KEY must be ..., got ..." naming the key and the expected type
// or range; values are never truncated silently (4294967297 is not 1).
int64_t jsonInt(const nlohmann::json& value, const std::string& where, const std::string& key, int64_t min,
                int64_t max, ErrorKind kind = ErrorKind::Format);
double jsonNumber(const nlohmann::json& value, const std::string& where, const std::string& key, double min,
                  double max, ErrorKind kind = ErrorKind::Format);
std::string jsonString(const nlohmann::json& value, const std::string& where, const std::string& key,
                       size_t maxBytes = 1 << 20, ErrorKind kind = ErrorKind::Format);
bool jsonBool(const nlohmann::json& value, const std::string& where, const std::string& key, ErrorKind kind = ErrorKind::Format);

}  // namespace kme
