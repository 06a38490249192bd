#include "engine/tokenizer/Bpe.h"

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme {
namespace {

// std heap functions build a max-heap; "later" puts the smallest (rank, pos) on top.
template <class C>
bool later(const C& a, const C& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

std::string hex(unsigned char b) {
    const char* digits = "0123456789ABCDEF";
    return {digits[b >> 4], digits[b & 15]};
}

}  // namespace

void WordBpe::add(int id, size_t len) {
    const int i = static_cast<int>(syms_.size());
    if (i > 0) syms_.back().next = i;
    syms_.push_back({id, len, i - 1, -1, true});
}

void WordBpe::run(const std::string& word, std::vector<WordToken>& out) {
    syms_.clear();
    heap_.clear();
    if (d_.ignoreMerges) {
        const auto whole = d_.modelIds.find(word);
        if (whole != d_.modelIds.end()) {
            out.push_back({whole->second, word.size()});
            return;
        }
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(word.data());
    if (d_.byteLevel) {
        // Byte-level BPE: symbols are the word's bytes (GPT-2's scheme).
        for (size_t i = 0; i < word.size(); ++i) {
            const int id = d_.byteIds[bytes[i]];
            if (id < 0) {
                fail(ErrorKind::Tokenizer, "the vocabulary has no token for the byte 0x" + hex(bytes[i]) +
                                               " (byte-level BPE needs all 256 byte symbols)");
            }
            add(id, 1);
        }
    } else {
        // Character-level BPE (SentencePiece-style).
        int unk = -1;
        size_t unkLen = 0;
        for (size_t i = 0; i < word.size();) {
            const int n = std::max(1, utf8::sequenceLength(bytes + i, word.size() - i));
            const std::string ch = word.substr(i, static_cast<size_t>(n));
            const auto it = d_.modelIds.find(ch);
            if (it != d_.modelIds.end()) {
                if (unk >= 0) add(unk, unkLen), unk = -1;
                add(it->second, ch.size());
            } else {
                bool fellBack = false;
                if (d_.byteFallback) {
                    fellBack = true;
                    for (unsigned char b : ch) fellBack = fellBack && d_.byteIds[b] >= 0;
                    if (fellBack)
                        for (unsigned char b : ch) add(d_.byteIds[b], 1);
                }
                if (!fellBack && d_.unkId >= 0) {
                    if (unk >= 0 && d_.fuseUnk) {
                        unkLen += ch.size();
                    } else {
                        if (unk >= 0) add(unk, unkLen);
                        unk = d_.unkId;
                        unkLen = ch.size();
                    }
                }
            }
            i += static_cast<size_t>(n);
        }
        if (unk >= 0) add(unk, unkLen);
    }
    merge(out);
}

// Symbols in a doubly linked list, candidate merges in a min-heap ordered by
// (rank, position): the same result as "merge every occurrence of the best
// pair left to right, repeat" in O(n log n). Stale entries are skipped when popped.
void WordBpe::merge(std::vector<WordToken>& out) {
    for (size_t i = 0; i + 1 < syms_.size(); ++i) pushPair(static_cast<int>(i));
    while (!heap_.empty()) {
        std::pop_heap(heap_.begin(), heap_.end(), later<Candidate>);
        const Candidate c = heap_.back();
        heap_.pop_back();
        Sym& left = syms_[c.pos];
        if (!left.alive || left.id != c.left || left.next < 0) continue;
        Sym& right = syms_[left.next];
        if (right.id != c.right) continue;
        left.id = c.result;
        left.len += right.len;
        right.alive = false;
        left.next = right.next;
        if (left.next >= 0) syms_[left.next].prev = c.pos;
        if (left.prev >= 0) pushPair(left.prev);
        pushPair(c.pos);
    }
    for (int i = syms_.empty() ? -1 : 0; i >= 0; i = syms_[i].next) out.push_back({syms_[i].id, syms_[i].len});
}

void WordBpe::pushPair(int pos) {
    const Sym& l = syms_[pos];
    if (l.next < 0) return;
    const int right = syms_[l.next].id;
    const auto it = d_.merges.find(TokenizerData::pairKey(l.id, right));
    if (it == d_.merges.end()) return;
    heap_.push_back({it->second.rank, pos, l.id, right, it->second.result});
    std::push_heap(heap_.begin(), heap_.end(), later<Candidate>);
}

}  // namespace kme
