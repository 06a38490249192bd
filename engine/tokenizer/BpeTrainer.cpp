#include "engine/tokenizer/BpeTrainer.h"

#include <map>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/PreTokenizer.h"

namespace kme {
namespace {

uint64_t pairKey(int left, int right) { return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right); }
int leftOf(uint64_t key) { return static_cast<int>(key >> 32); }
int rightOf(uint64_t key) { return static_cast<int>(key & 0xFFFFFFFFu); }

// The trainer's state. Words are the distinct pre-tokenized pieces with their
// corpus counts; a merge rewrites only the words that contain its pair (found
// through pairWords) and adjusts the pair counts of those words, so each step
// costs what it touches, not the corpus size.
class Trainer {
public:
    void countWords(const std::vector<std::string>& texts, const std::map<std::string, int64_t>& overrides) {
        std::unordered_map<std::string, int64_t> counts;
        for (size_t i = 0; i < texts.size(); ++i) {
            std::vector<ByteRange> pieces;
            try {
                pieces = gpt2PreTokenize(texts[i]);
            } catch (const Error& e) {
                fail(e.kind(), "training text #" + std::to_string(i) + ": " + e.what());
            }
            for (const ByteRange& r : pieces) ++counts[texts[i].substr(r.start, r.end - r.start)];
        }
        for (const auto& [word, count] : overrides)
            if (auto it = counts.find(word); it != counts.end()) it->second = count;
        // Sorted so that word indices do not depend on hash order.
        std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
        std::sort(sorted.begin(), sorted.end());
        for (int b = 0; b < 256; ++b) tokens_.emplace_back();
        for (int b = 0; b < 256; ++b) tokens_[bytelevel::baseIndex(static_cast<unsigned char>(b))] = std::string(1, static_cast<char>(b));
        for (int id = 0; id < 256; ++id) tokenIds_.emplace(tokens_[id], id);
        for (auto& [word, count] : sorted) {
            std::vector<int> syms;
            syms.reserve(word.size());
            for (unsigned char b : word) syms.push_back(bytelevel::baseIndex(b));
            words_.push_back(std::move(syms));
            wordCounts_.push_back(count);
        }
        for (size_t w = 0; w < words_.size(); ++w) {
            const std::vector<int>& s = words_[w];
            for (size_t j = 0; j + 1 < s.size(); ++j) {
                const uint64_t k = pairKey(s[j], s[j + 1]);
                pairCounts_[k] += wordCounts_[w];
                pairWords_[k].push_back(static_cast<int>(w));
            }
        }
        for (const auto& [k, c] : pairCounts_) push(k, c);
    }

    void learn(size_t targetTokens, int64_t minFrequency, const ProgressFn& progress) {
        const double wanted = static_cast<double>(targetTokens > 256 ? targetTokens - 256 : 0);
        while (tokens_.size() < targetTokens && !heap_.empty()) {
            std::pop_heap(heap_.begin(), heap_.end(), lowerPriority());
            const Entry top = heap_.back();
            heap_.pop_back();
            const auto it = pairCounts_.find(top.pair);
            if (it == pairCounts_.end() || it->second != top.count) continue;  // stale entry
            if (top.count < minFrequency) break;  // the best pair left is too rare
            merge(top.pair);
            if (merges_.size() % 64 == 0 && !reportProgress(progress, static_cast<double>(tokens_.size() - 256), wanted))
                throw Cancelled();
        }
    }

    void addSpecialTokens(const std::vector<std::string>& specials) {
        for (const std::string& s : specials) {
            if (s.empty()) fail(ErrorKind::Input, "a special token is empty");
            if (tokenIds_.count(s))
                fail(ErrorKind::Input, "special token " + quoteForMessage(s) + " is already a byte symbol, a learned token or a repeated special token");
            tokenIds_.emplace(s, static_cast<int>(tokens_.size()));
            tokens_.push_back(s);
        }
    }

    const std::vector<std::string>& tokens() const { return tokens_; }
    const std::vector<std::pair<int, int>>& merges() const { return merges_; }

private:
    struct Entry {
        int64_t count;
        uint64_t pair;
    };
    // Max-heap order: higher count first; among equal counts the pair whose
    // (left bytes, right bytes) is lexicographically smallest.
    struct LowerPriority {
        const std::vector<std::string>* tokens;
        bool operator()(const Entry& a, const Entry& b) const {
            if (a.count != b.count) return a.count < b.count;
            const std::vector<std::string>& t = *tokens;
            const int c = t[leftOf(a.pair)].compare(t[leftOf(b.pair)]);
            if (c != 0) return c > 0;
            return t[rightOf(a.pair)] > t[rightOf(b.pair)];
        }
    };
    LowerPriority lowerPriority() const { return LowerPriority{&tokens_}; }

    void push(uint64_t pair, int64_t count) {
        heap_.push_back({count, pair});
        std::push_heap(heap_.begin(), heap_.end(), lowerPriority());
    }

    void merge(uint64_t pair) {
        const int a = leftOf(pair);
        const int b = rightOf(pair);
        const std::string merged = tokens_[a] + tokens_[b];
        // Two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"):
        // the token is then reused, never duplicated.
        int newId;
        const auto known = tokenIds_.find(merged);
        if (known != tokenIds_.end()) {
            newId = known->second;
        } else {
            newId = static_cast<int>(tokens_.size());
            tokens_.push_back(merged);
            tokenIds_.emplace(merged, newId);
        }
        merges_.emplace_back(a, b);

        std::vector<int> ws = std::move(pairWords_[pair]);
        pairWords_.erase(pair);
        std::sort(ws.begin(), ws.end());
        ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
        std::vector<uint64_t> changed;
        std::vector<int> next;
        for (int w : ws) {
            std::vector<int>& syms = words_[w];
            next.clear();
            for (size_t j = 0; j < syms.size();) {
                if (j + 1 < syms.size() && syms[j] == a && syms[j + 1] == b) {
                    next.push_back(newId);
                    j += 2;
                } else {
                    next.push_back(syms[j]);
                    ++j;
                }
            }
            if (next.size() == syms.size()) continue;  // listed, but merged away by an earlier step
            const int64_t count = wordCounts_[w];
            for (size_t j = 0; j + 1 < syms.size(); ++j) {
                const uint64_t k = pairKey(syms[j], syms[j + 1]);
                pairCounts_[k] -= count;
                changed.push_back(k);
            }
            for (size_t j = 0; j + 1 < next.size(); ++j) {
                const uint64_t k = pairKey(next[j], next[j + 1]);
                pairCounts_[k] += count;
                changed.push_back(k);
                if (next[j] == newId || next[j + 1] == newId) pairWords_[k].push_back(w);
            }
            syms.swap(next);
        }
        std::sort(changed.begin(), changed.end());
        changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
        for (uint64_t k : changed) {
            const auto it = pairCounts_.find(k);
            if (it->second <= 0) {
                pairCounts_.erase(it);
            } else {
                push(k, it->second);
            }
        }
        pairCounts_.erase(pair);
    }

    std::vector<std::string> tokens_;  // id -> raw bytes
    std::unordered_map<std::string, int> tokenIds_;
    std::vector<std::vector<int>> words_;  // distinct pieces as current symbol ids
    std::vector<int64_t> wordCounts_;      // occurrences of each piece in the corpus
    std::unordered_map<uint64_t, int64_t> pairCounts_;
    std::unordered_map<uint64_t, std::vector<int>> pairWords_;  // may list words that lost the pair
    std::vector<Entry> heap_;                                   // lazy: stale entries are skipped
    std::vector<std::pair<int, int>> merges_;
};

// A JSON string as Python's json.dumps(ensure_ascii=True) writes it, which is
// how GPT-2's encoder.json spells its keys ("\u0120the").
std::string pythonJsonString(const std::string& text) {
    static const char* hex = "0123456789abcdef";
    auto u = [&](std::string& out, uint32_t v) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += hex[(v >> shift) & 15];
    };
    std::string out = "\"";
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size();) {
        const int len = utf8::sequenceLength(p + i, text.size() - i);  // text is byte-level, hence valid
        uint32_t cp = p[i];
        if (len == 2) cp = ((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
        if (len == 3) cp = ((p[i] & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
        if (len == 4) cp = ((p[i] & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) | (p[i + 3] & 0x3Fu);
        i += static_cast<size_t>(len > 0 ? len : 1);
        switch (cp) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (cp >= 0x20 && cp <= 0x7E) {
                    out += static_cast<char>(cp);
                } else if (cp < 0x10000) {
                    u(out, cp);
                } else {  // a surrogate pair, as Python writes astral characters
                    const uint32_t v = cp - 0x10000;
                    u(out, 0xD800 + (v >> 10));
                    u(out, 0xDC00 + (v & 0x3FF));
                }
        }
    }
    return out + "\"";
}

}  // namespace

void trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainParams& params,
                       const std::string& vocabJsonOut, const std::string& mergesTxtOut, const ProgressFn& progress) {
    const size_t specials = params.specialTokens.size();
    if (params.vocabSize < 0 || static_cast<size_t>(params.vocabSize) < 256 + specials) {
        fail(ErrorKind::Input, "vocabulary size " + std::to_string(params.vocabSize) + " is smaller than 256 byte symbols + " +
                                   std::to_string(specials) + " special tokens");
    }
    Trainer trainer;
    trainer.countWords(texts, params.countOverrides);
    trainer.learn(static_cast<size_t>(params.vocabSize) - specials, std::max(1, params.minFrequency), progress);
    trainer.addSpecialTokens(params.specialTokens);

    std::string vocab = "{";
    const std::vector<std::string>& tokens = trainer.tokens();
    for (size_t id = 0; id < tokens.size(); ++id) {
        if (id) vocab += ", ";
        vocab += pythonJsonString(bytelevel::encode(tokens[id])) + ": " + std::to_string(id);
    }
    vocab += "}";
    std::string merges = "#version: 0.2\n";
    for (const auto& [a, b] : trainer.merges())
        merges += bytelevel::encode(tokens[a]) + " " + bytelevel::encode(tokens[b]) + "\n";
    writeFileAtomically(vocabJsonOut, vocab, "vocabulary");
    writeFileAtomically(mergesTxtOut, merges, "merges file");
}

}  // namespace kme
