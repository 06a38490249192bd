#pragma once
// BPE tokenizer: GPT-2's byte-level BPE (vocab.json + merges.txt) and the
// tokenizer.json forms of the LLaMA-1/2, Mistral (SentencePiece-style BPE with
// byte fallback), LLaMA-3 and Qwen2 (byte-level BPE after a Split regex)
// families, with their normalizers, added tokens and post-processor BOS.
//
// Data vs call: the vocabulary and merge ranks are checked at load and never
// change; encode/decode only use per-call scratch state (plus a small,
// mutex-protected cache of encoded words), so every const method may be called
// from several threads at once. Copies share the same loaded data.
//
// Encoding follows huggingface/tokenizers (see Pipeline.h for the order):
// GPT-2's files are split by GPT-2's regular expression (PreTokenizer.h),
// each piece's bytes are mapped to byte symbols, and the adjacent pair with
// the best (lowest) merge rank is merged until no ranked pair remains.
//
// Three ways to encode:
// - encodeForModel: what the model is fed, as HF's tokenizer(text) by
//   default: added tokens (special or not) are matched in the raw text, so
//   "<s>" typed in a prompt becomes the BOS id, and the post-processor's
//   special tokens (LLaMA's <s>, LLaMA-3's <|begin_of_text|>) are added.
// - encode: the text alone: no post-processor tokens, and special added
//   tokens are not matched (HF's split_special_tokens=True,
//   add_special_tokens=False). "<|endoftext|>" in the input is ordinary
//   text, as gpt-3-encoder and GPT-2 do.
// - encodeContinuation: text as it is tokenized when it follows other text in
//   the same sequence (an edit target after its prompt): as encode, but a
//   normalizer's Prepend("▁") or a Metaspace "first" prefix is not added.
// For GPT-2's vocab.json + merges.txt all three give the same ids.
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
    // A Hugging Face tokenizer.json with a "BPE" model: byte-level (GPT-2,
    // LLaMA-3, Qwen2) or SentencePiece-style (LLaMA-1/2, Mistral). A component
    // type it does not implement is refused with ErrorKind::Tokenizer naming
    // the type and the file (never encoded approximately).
    static Tokenizer fromTokenizerJson(const std::string& path);
    // tokenizer.json when it exists (as HF's fast tokenizers), else vocab.json + merges.txt.
    static Tokenizer fromFolder(const std::string& folder);

    // Throws ErrorKind::Input "text is not valid UTF-8 at byte N" for invalid input.
    std::vector<int> encode(const std::string& text) const;
    // Same ids, each with the bytes of `text` it covers. Spans are in order;
    // for byte-level tokenizers without a normalizer they are contiguous and
    // cover the text; a token the normalizer added (a prepended "▁") or the
    // post-processor added (BOS) may have an empty span.
    std::vector<TokenSpan> encodeWithOffsets(const std::string& text) const;
    std::vector<int> encodeForModel(const std::string& text) const;
    std::vector<TokenSpan> encodeForModelWithOffsets(const std::string& text) const;
    std::vector<int> encodeContinuation(const std::string& text) const;
    // The raw bytes of the tokens (for GPT-2 an exact inverse of encode; may
    // end in the middle of a UTF-8 character). Unknown ids throw ErrorKind::Input.
    std::string decode(const std::vector<int>& ids) const;
    // As HF's decode(): decode() with special tokens left out when
    // `skipSpecial`, then the decoder's leading-space strip (LLaMA's Strip
    // decoder removes the space its normalizer prepended).
    std::string decodeText(const std::vector<int>& ids, bool skipSpecial = false) const;
    // The post-processor's tokens before / after a single sequence ({1} = <s> for LLaMA).
    const std::vector<int>& prefixIds() const;
    const std::vector<int>& suffixIds() const;
    bool isSpecial(int id) const;

    std::string tokenBytes(int id) const;
    // The token's bytes as text, each byte of an incomplete or invalid UTF-8
    // sequence shown as U+FFFD (what a user should see for "half a character").
    std::string tokenDisplay(int id) const;
    int vocabSize() const;
    std::optional<int> tokenId(const std::string& tokenBytes) const;
    // "<|endoftext|>" when the vocabulary has it.
    std::optional<int> eosId() const;

    // The token range [s, e) of encodeForModel(prompt) that covers the first
    // occurrence of `subject` in `prompt`: the tokens whose byte span overlaps
    // it (kmeng01/rome find_token_range). Throws ErrorKind::Input
    // "subject 'X' not found in prompt 'Y'" when absent or empty.
    std::pair<int, int> subjectRange(const std::string& prompt, const std::string& subject) const;

private:
    explicit Tokenizer(std::shared_ptr<TokenizerData> data);
    const TokenizerData& data() const;
    enum class Mode { Text, Model, Continuation };
    void encodeInto(const std::string& text, Mode mode, std::vector<int>& ids, std::vector<TokenSpan>* spans) const;

    std::shared_ptr<TokenizerData> d_;
};

}  // namespace kme
