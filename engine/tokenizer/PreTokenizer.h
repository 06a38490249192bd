#pragma once
// GPT-2's pre-tokenizer: the text is cut into "words" by one regular
// expression before BPE runs inside each word, so merges never cross the
// boundaries it draws (e.g. between a letter run and a space-led number).
#include <cstddef>
#include <string>
#include <vector>

namespace kme {

// A byte range [start, end) of the UTF-8 input.
struct ByteRange {
    size_t start;
    size_t end;
};

// GPT-2's pattern, verbatim from openai/gpt-2 src/encoder.py.
inline constexpr const char* kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Splits `text` into consecutive pieces with kGpt2SplitPattern, matched by
// PCRE2 in UTF + UCP mode (compiled and JIT-compiled once, thread-safe).
// Every character falls in one alternative, so the pieces cover the text.
//
// PCRE2 refuses invalid UTF-8, so the text is checked first and an invalid
// sequence is reported as kme::Error(ErrorKind::Input,
// "text is not valid UTF-8 at byte N") rather than being guessed at.
//
// Known, documented differences from Python's `regex` module (the reference):
// PCRE2's \s also matches U+0085 and U+180E, and the Unicode tables are those
// of the installed PCRE2 (10.42: Unicode 14), so letters added in later
// Unicode versions may split differently. Ordinary text is unaffected.
std::vector<ByteRange> gpt2PreTokenize(const std::string& text);

}  // namespace kme
