#pragma once
// The loaded, immutable state of a Tokenizer (private to engine/tokenizer).
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/Pipeline.h"

namespace kme {

struct TokenizerData {
    // id -> the token's raw bytes: what decode() emits for it. Byte-level
    // vocabularies hold them byte-level encoded ("Ġworld" -> " world");
    // SentencePiece-style ones after the decoder's Replace / ByteFallback
    // ("▁world" -> " world", "<0x0A>" -> "\n"); added tokens as written.
    std::vector<std::string> tokens;
    // raw bytes -> id; when two ids share bytes the model's own entry wins.
    std::unordered_map<std::string, int> ids;
    // The model's vocabulary as BPE sees it: byte-level: raw bytes -> id;
    // character-level (SentencePiece-style): the vocabulary string -> id.
    std::unordered_map<std::string, int> modelIds;
    // True: GPT-2's byte-level BPE (words start as their bytes). False:
    // character-level BPE (words start as their characters, unknown ones fall
    // back to <0xHH> byte tokens or the unk token), as LLaMA-2 / Mistral.
    bool byteLevel = true;
    // The id of each single-byte symbol (byte-level) or <0xHH> token
    // (byte_fallback), -1 when the vocabulary lacks it.
    std::array<int, 256> byteIds{};
    bool byteFallback = false;  // model.byte_fallback
    int unkId = -1;             // model.unk_token's id, -1 when none
    bool fuseUnk = false;       // model.fuse_unk: consecutive unknown characters give one unk
    // Merge table keyed by pairKey(left id, right id).
    struct Merge {
        int rank;    // line order in merges: lower merges first
        int result;  // id of the merged token
    };
    std::unordered_map<uint64_t, Merge> merges;
    // tokenizer.json "ignore_merges" (LLaMA-3 style): a piece that is itself a
    // token is emitted whole.
    bool ignoreMerges = false;

    // The tokenizer.json pipeline (empty for vocab.json + merges.txt, whose
    // pre-tokenizer is GPT-2's regex: `gpt2Regex`).
    std::vector<NormalizerStep> normalizer;
    std::vector<PreTokenizerStep> preTokenizer;
    bool gpt2Regex = true;               // no tokenizer.json pre-tokenizer: GPT-2's pattern
    std::vector<AddedToken> addedTokens;  // in file order
    std::vector<int> rawAdded;            // indices into addedTokens: normalized=false, all
    std::vector<int> rawAddedPlain;       // normalized=false, not special
    std::vector<int> normAdded;           // normalized=true, all
    std::vector<int> normAddedPlain;      // normalized=true, not special
    std::vector<bool> special;            // [tokens.size()]: an added token marked special
    // The post-processor's special tokens around a single sequence
    // (TemplateProcessing single = [<s>, $A]: prefix {1}).
    std::vector<int> prefixIds;
    std::vector<int> suffixIds;
    // Decoder: leading spaces decodeText() strips from the whole text
    // (Strip(" ", start=n) or a Metaspace decoder that prepends).
    int decodeStripLeading = 0;

    // Cache of encoded pieces. Text repeats words a lot, and a cached word
    // skips BPE entirely; bounded so a huge corpus cannot grow it forever.
    mutable std::mutex cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int>> cache;

    static uint64_t pairKey(int left, int right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
};

}  // namespace kme
