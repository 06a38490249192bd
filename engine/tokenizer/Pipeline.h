#pragma once
// The components of a Hugging Face tokenizer.json pipeline, as loaded (private
// to engine/tokenizer): normalizer steps, pre-tokenizer steps, added tokens.
// Each is plain data checked at load; the functions here apply them to one
// piece of text with per-call scratch state only.
//
// Order of one encode, as huggingface/tokenizers runs it
// (tokenizer/added_vocabulary.rs extract_and_normalize, tokenizer/mod.rs):
//   1. added tokens with normalized=false are split out of the raw text;
//   2. every other piece is normalized, and normalized=true added tokens are
//      split out of the normalized text;
//   3. the pre-tokenizer cuts the remaining pieces into words;
//   4. the model (BPE) turns each word into ids;
//   5. the post-processor adds BOS/EOS-style special tokens.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/PreTokenizer.h"

namespace kme {

// Text being normalized, with, for every byte, the byte range of the original
// input it came from (huggingface/tokenizers NormalizedString alignments), so
// that a token can name the original bytes it covers.
struct NormalizedText {
    std::string text;
    std::vector<ByteRange> align;  // [text.size()]: original [start, end) of each byte (unless identity)
    size_t origin = 0;             // original offset where this piece starts (for Metaspace "first")
    bool identity = true;          // text is original bytes [origin, origin + size): align not stored

    static NormalizedText fromOriginal(const std::string& original, size_t start, size_t end);
    NormalizedText slice(size_t start, size_t end) const;  // byte range of `text`
    // The original range covered by text bytes [start, end): from the first
    // byte's start to the last byte's end (empty for an empty range).
    ByteRange originalRange(size_t start, size_t end) const;
    // Inserts `s` in front; its bytes align to an empty range at the first byte's start.
    void prepend(const std::string& s);
    // Replaces every occurrence of `from` (non-empty) by `to`; the new bytes take
    // the original range of the bytes they replace.
    void replaceAll(const std::string& from, const std::string& to);
    // Stores the alignment explicitly (before an edit).
    void materialize();
};

// ---------------------------------------------------------------- normalizers

struct NormalizerStep {
    enum class Kind { Prepend, Replace, NFC, NFKC, NFD, NFKD, Strip };
    Kind kind;
    std::string text;     // Prepend: what; Replace: the pattern (a literal string)
    std::string content;  // Replace: the replacement
    bool left = false;    // Strip: strip_left
    bool right = false;   // Strip: strip_right
};

// Applies the steps in order. `continuation` (text that follows other text in
// the same sequence) skips Prepend, as if this piece were not at the start.
void normalize(const std::vector<NormalizerStep>& steps, NormalizedText& t, bool continuation);

// ---------------------------------------------------------------- pre-tokenizers

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
enum class PrependScheme { First, Always, Never };

struct PreTokenizerStep {
    enum class Kind { ByteLevel, Split, Metaspace };
    explicit PreTokenizerStep(Kind k) : kind(k) {}
    Kind kind;
    // ByteLevel
    bool addPrefixSpace = false;
    bool useRegex = true;  // GPT-2's pattern
    // Split: a compiled regex (a String pattern is compiled escaped)
    std::shared_ptr<const Regex> regex;
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    // Metaspace
    std::string replacement = "\xE2\x96\x81";  // "▁"
    PrependScheme prependScheme = PrependScheme::Always;
    bool split = true;
};

// Cuts pieces into words with the steps in order (each step works on the
// pieces of the previous one). Empty pieces are dropped, as in
// PreTokenizedString::split. `continuation` as for normalize(): Metaspace
// "first" does not prepend.
void preTokenize(const std::vector<PreTokenizerStep>& steps, std::vector<NormalizedText>& pieces, bool continuation);

// ---------------------------------------------------------------- added tokens

struct AddedToken {
    int id;
    std::string content;     // as written in the file
    std::string normalized;  // content after the normalizer, when `isNormalized`
    bool special = false;
    bool singleWord = false;
    bool lstrip = false;
    bool rstrip = false;
    bool isNormalized = false;
};

// One piece of a split: either an added token (id >= 0) or text to tokenize.
struct AddedSplit {
    size_t start;  // byte range in the text that was searched
    size_t end;
    int id;  // -1: ordinary text
};

// Leftmost-longest matches of the tokens of `which` (indices into `tokens`)
// in `text`, with single_word / lstrip / rstrip applied as
// AddedVocabulary::find_matches does. The splits cover `text`; empty ones are left out.
std::vector<AddedSplit> splitAddedTokens(const std::vector<AddedToken>& tokens, const std::vector<int>& which,
                                         const std::string& text, bool normalizedForm);

}  // namespace kme
