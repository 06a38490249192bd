#pragma once
// The BPE model on one word (private to engine/tokenizer).
#include <cstddef>
#include <string>
#include <vector>

#include "engine/tokenizer/TokenizerData.h"

namespace kme {

// One token of a word and how many bytes of the word it covers.
struct WordToken {
    int id;
    size_t len;
};

// Encodes one word (a pre-tokenized piece of normalized text) with the
// model: byte-level words start as their bytes, character-level ones as their
// characters (unknown ones as <0xHH> tokens with byte_fallback, else the unk
// token, fused with fuse_unk, else dropped, as models/bpe/model.rs merge_word);
// then the adjacent pair with the lowest merge rank is merged, leftmost
// first, until no ranked pair remains (Word::merge_all). With ignore_merges
// a word that is itself a token is emitted whole.
class WordBpe {
public:
    explicit WordBpe(const TokenizerData& d) : d_(d) {}
    void run(const std::string& word, std::vector<WordToken>& out);

private:
    struct Sym {
        int id;
        size_t len;
        int prev;
        int next;
        bool alive;
    };
    struct Candidate {
        int rank;
        int pos;  // index of the left symbol
        int left;
        int right;
        int result;
    };
    void add(int id, size_t len);
    void pushPair(int pos);
    void merge(std::vector<WordToken>& out);

    const TokenizerData& d_;
    std::vector<Sym> syms_;
    std::vector<Candidate> heap_;
};

}  // namespace kme
