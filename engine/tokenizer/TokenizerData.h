#pragma once
// The loaded, immutable state of a Tokenizer (private to engine/tokenizer).
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace kme {

struct TokenizerData {
    // id -> the token's raw bytes (vocab.json holds them byte-level encoded).
    std::vector<std::string> tokens;
    // raw bytes -> id; when two ids share bytes the byte-level entry wins.
    std::unordered_map<std::string, int> ids;
    // The id of each single-byte symbol, -1 when the vocabulary lacks it.
    std::array<int, 256> byteIds{};
    // Merge table keyed by pairKey(left id, right id).
    struct Merge {
        int rank;    // line order in merges: lower merges first
        int result;  // id of the merged token
    };
    std::unordered_map<uint64_t, Merge> merges;
    // tokenizer.json "ignore_merges" (LLaMA-3 style): a piece that is itself a
    // token is emitted whole.
    bool ignoreMerges = false;

    // Cache of encoded pieces. Text repeats words a lot, and a cached word
    // skips BPE entirely; bounded so a huge corpus cannot grow it forever.
    mutable std::mutex cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int>> cache;

    static uint64_t pairKey(int left, int right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
};

}  // namespace kme
