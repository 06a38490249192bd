#pragma once
// Byte-level BPE tokenizer (GPT-2 and the families that share its scheme).
//
// Data vs call: the vocabulary and merge ranks are checked at load and never
// change; encode/decode only use per-call scratch state (plus a small,
// mutex-protected cache of encoded words), so every const method may be called
// from several threads at once. Copies share the same loaded data.
//
// Encoding is GPT-2's: the text is split by GPT-2's regular expression (see
// PreTokenizer.h), each piece's bytes are mapped to byte symbols, and the
// adjacent pair with the best (lowest) merge rank is merged until no ranked
// pair remains. Plain text never produces special tokens: "<|endoftext|>" in
// the input is encoded as ordinary text, as gpt-3-encoder and GPT-2 do.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kme {

// One token of an encoded text and the bytes it covers.
struct TokenSpan {
    int id;
    size_t start;  // byte offset into the UTF-8 input, inclusive
    size_t end;    // byte offset into the UTF-8 input, exclusive
};

struct TokenizerData;

class Tokenizer {
public:
    // An empty tokenizer (vocabSize() == 0) so that it can be a member that is
    // assigned later; encoding with it throws.
    Tokenizer();

    // GPT-2's files: vocab.json (token -> id) and merges.txt (one "a b" merge
    // per line, best first, after a "#version" line).
    static Tokenizer fromVocabMerges(const std::string& vocabJson, const std::string& mergesTxt);
    // A Hugging Face tokenizer.json with a byte-level "BPE" model; its
    // added_tokens join the vocabulary (they are never parsed out of text).
    static Tokenizer fromTokenizerJson(const std::string& path);
    // vocab.json + merges.txt when both exist, else tokenizer.json.
    static Tokenizer fromFolder(const std::string& folder);

    // Throws ErrorKind::Input "text is not valid UTF-8 at byte N" for invalid input.
    std::vector<int> encode(const std::string& text) const;
    // Same ids, each with its byte span; the spans are contiguous and cover the text.
    std::vector<TokenSpan> encodeWithOffsets(const std::string& text) const;
    // The raw bytes of the tokens (an exact inverse of encode; may end in the
    // middle of a UTF-8 character). Unknown ids throw ErrorKind::Input.
    std::string decode(const std::vector<int>& ids) const;

    std::string tokenBytes(int id) const;
    // The token's bytes as text, each byte of an incomplete or invalid UTF-8
    // sequence shown as U+FFFD (what a user should see for "half a character").
    std::string tokenDisplay(int id) const;
    int vocabSize() const;
    std::optional<int> tokenId(const std::string& tokenBytes) const;
    // "<|endoftext|>" when the vocabulary has it.
    std::optional<int> eosId() const;

    // The token range [s, e) of encode(prompt) that covers the first
    // occurrence of `subject` in `prompt`: the tokens whose byte span overlaps
    // it (kmeng01/rome find_token_range). Throws ErrorKind::Input
    // "subject 'X' not found in prompt 'Y'" when absent or empty.
    std::pair<int, int> subjectRange(const std::string& prompt, const std::string& subject) const;

private:
    explicit Tokenizer(std::shared_ptr<TokenizerData> data);
    const TokenizerData& data() const;
    void encodeInto(const std::string& text, std::vector<int>& ids, std::vector<TokenSpan>* spans) const;

    std::shared_ptr<TokenizerData> d_;
};

}  // namespace kme
