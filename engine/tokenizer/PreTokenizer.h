#pragma once
// GPT-2's pre-tokenizer: the text is cut into "words" by one regular
// expression before BPE runs inside each word, so merges never cross the
// boundaries it draws (e.g. between a letter run and a space-led number).
#include <cstddef>
#include <memory>
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

// A PCRE2 pattern in UTF + UCP mode (Unicode properties, lookahead), compiled
// and JIT-compiled once; const methods may be called from several threads.
// Serves the Split pre-tokenizers of tokenizer.json (LLaMA-3, Qwen2). The
// reference (huggingface/tokenizers) uses Oniguruma; the patterns these
// families ship use only constructs both engines read the same way.
class Regex {
public:
    // Throws ErrorKind::Tokenizer "cannot compile the pattern '...': <reason> at offset N".
    explicit Regex(const std::string& pattern);
    // A literal string, matched as is.
    static Regex literal(const std::string& text);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    Regex(Regex&&) noexcept;

    // The non-empty, non-overlapping matches in `text` (valid UTF-8, not checked), left to right.
    std::vector<ByteRange> findAll(const std::string& text, size_t from = 0, size_t to = std::string::npos) const;
    // True when the pattern matches somewhere in `text`.
    bool search(const std::string& text) const;
    const std::string& pattern() const { return pattern_; }

private:
    Regex(const std::string& pattern, unsigned options);
    std::string pattern_;
    void* code_ = nullptr;  // pcre2_code*
};

}  // namespace kme
