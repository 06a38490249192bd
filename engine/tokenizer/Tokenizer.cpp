#include "engine/tokenizer/Tokenizer.h"

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/PreTokenizer.h"
#include "engine/tokenizer/TokenizerData.h"

namespace kme {
namespace {

constexpr size_t kMaxCachedPieceBytes = 256;  // longer pieces are rare; do not keep them
constexpr size_t kMaxCacheEntries = 1 << 16;  // then the cache starts over

// BPE on one piece: byte symbols in a doubly linked list, candidate merges in a
// min-heap ordered by (rank, position). Popping the lowest rank first and, for
// equal ranks, the leftmost first gives the same result as GPT-2's "merge
// every occurrence of the best bigram left to right, repeat" in O(n log n)
// instead of O(n^2) per pass. Stale heap entries are detected when popped.
class PieceBpe {
public:
    explicit PieceBpe(const TokenizerData& d) : d_(d) {}

    void run(const unsigned char* bytes, size_t n, std::vector<int>& out) {
        syms_.clear();
        heap_.clear();
        for (size_t i = 0; i < n; ++i) {
            const int id = d_.byteIds[bytes[i]];
            if (id < 0) {
                fail(ErrorKind::Tokenizer, "the vocabulary has no token for the byte 0x" + hex(bytes[i]) +
                                               " (byte-level BPE needs all 256 byte symbols)");
            }
            syms_.push_back({id, static_cast<int>(i) - 1, i + 1 < n ? static_cast<int>(i) + 1 : -1, true});
        }
        for (size_t i = 0; i + 1 < n; ++i) pushPair(static_cast<int>(i));
        while (!heap_.empty()) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            const Candidate c = heap_.back();
            heap_.pop_back();
            Sym& left = syms_[c.pos];
            if (!left.alive || left.id != c.left || left.next < 0) continue;
            Sym& right = syms_[left.next];
            if (right.id != c.right) continue;
            // Merge right into left.
            left.id = c.result;
            right.alive = false;
            left.next = right.next;
            if (left.next >= 0) syms_[left.next].prev = c.pos;
            if (left.prev >= 0) pushPair(left.prev);
            pushPair(c.pos);
        }
        for (int i = 0; i >= 0 && i < static_cast<int>(syms_.size()); i = syms_[i].next) out.push_back(syms_[i].id);
    }

private:
    struct Sym {
        int id;
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
    // std heap functions build a max-heap; "later" puts the smallest (rank, pos) on top.
    static bool later(const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    }
    static std::string hex(unsigned char b) {
        const char* digits = "0123456789ABCDEF";
        return {digits[b >> 4], digits[b & 15]};
    }

    void pushPair(int pos) {
        const Sym& l = syms_[pos];
        if (l.next < 0) return;
        const int right = syms_[l.next].id;
        const auto it = d_.merges.find(TokenizerData::pairKey(l.id, right));
        if (it == d_.merges.end()) return;
        heap_.push_back({it->second.rank, pos, l.id, right, it->second.result});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }

    const TokenizerData& d_;
    std::vector<Sym> syms_;
    std::vector<Candidate> heap_;
};

}  // namespace

Tokenizer::Tokenizer() = default;

Tokenizer::Tokenizer(std::shared_ptr<TokenizerData> data) : d_(std::move(data)) {}

const TokenizerData& Tokenizer::data() const {
    if (!d_) fail(ErrorKind::Tokenizer, "no tokenizer is loaded");
    return *d_;
}

void Tokenizer::encodeInto(const std::string& text, std::vector<int>& ids, std::vector<TokenSpan>* spans) const {
    const TokenizerData& d = data();
    const std::vector<ByteRange> pieces = gpt2PreTokenize(text);
    PieceBpe bpe(d);
    std::vector<int> pieceIds;
    for (const ByteRange& r : pieces) {
        pieceIds.clear();
        const size_t n = r.end - r.start;
        std::string key;
        bool cached = false;
        if (n <= kMaxCachedPieceBytes) {
            key.assign(text, r.start, n);
            std::lock_guard<std::mutex> lock(d.cacheMutex);
            const auto it = d.cache.find(key);
            if (it != d.cache.end()) {
                pieceIds = it->second;
                cached = true;
            }
        }
        if (!cached) {
            const auto whole = d.ignoreMerges ? d.ids.find(text.substr(r.start, n)) : d.ids.end();
            if (whole != d.ids.end()) {
                pieceIds.push_back(whole->second);
            } else {
                bpe.run(reinterpret_cast<const unsigned char*>(text.data()) + r.start, n, pieceIds);
            }
            if (n <= kMaxCachedPieceBytes) {
                std::lock_guard<std::mutex> lock(d.cacheMutex);
                if (d.cache.size() >= kMaxCacheEntries) d.cache.clear();
                d.cache.emplace(std::move(key), pieceIds);
            }
        }
        size_t pos = r.start;
        for (int id : pieceIds) {
            ids.push_back(id);
            const size_t end = pos + d.tokens[static_cast<size_t>(id)].size();
            if (spans) spans->push_back({id, pos, end});
            pos = end;
        }
    }
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
    std::vector<int> ids;
    encodeInto(text, ids, nullptr);
    return ids;
}

std::vector<TokenSpan> Tokenizer::encodeWithOffsets(const std::string& text) const {
    std::vector<int> ids;
    std::vector<TokenSpan> spans;
    encodeInto(text, ids, &spans);
    return spans;
}

std::string Tokenizer::tokenBytes(int id) const {
    const TokenizerData& d = data();
    if (id < 0 || static_cast<size_t>(id) >= d.tokens.size()) {
        fail(ErrorKind::Input, "token id " + std::to_string(id) + " is out of range (the vocabulary has " +
                                   std::to_string(d.tokens.size()) + " tokens)");
    }
    return d.tokens[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
    std::string out;
    for (int id : ids) out += tokenBytes(id);
    return out;
}

std::string Tokenizer::tokenDisplay(int id) const { return utf8::sanitize(tokenBytes(id)); }

int Tokenizer::vocabSize() const { return d_ ? static_cast<int>(d_->tokens.size()) : 0; }

std::optional<int> Tokenizer::tokenId(const std::string& tokenBytes) const {
    if (!d_) return std::nullopt;
    const auto it = d_->ids.find(tokenBytes);
    if (it == d_->ids.end()) return std::nullopt;
    return it->second;
}

std::optional<int> Tokenizer::eosId() const { return tokenId("<|endoftext|>"); }

std::pair<int, int> Tokenizer::subjectRange(const std::string& prompt, const std::string& subject) const {
    const size_t at = subject.empty() ? std::string::npos : prompt.find(subject);
    if (at == std::string::npos)
        fail(ErrorKind::Input, "subject " + quoteForMessage(subject) + " not found in prompt " + quoteForMessage(prompt));
    const size_t stop = at + subject.size();
    const std::vector<TokenSpan> spans = encodeWithOffsets(prompt);
    int s = -1;
    int e = -1;
    for (size_t i = 0; i < spans.size(); ++i) {
        if (s < 0 && spans[i].end > at) s = static_cast<int>(i);
        if (spans[i].start < stop) e = static_cast<int>(i) + 1;
    }
    if (s < 0 || e <= s) fail(ErrorKind::Internal, "token spans do not cover the subject " + quoteForMessage(subject));
    return {s, e};
}

}  // namespace kme
