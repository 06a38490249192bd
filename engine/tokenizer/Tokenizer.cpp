#include "engine/tokenizer/Tokenizer.h"

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/Bpe.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/TokenizerData.h"

namespace kme {
namespace {

constexpr size_t kMaxCachedPieceBytes = 256;  // longer pieces are rare; do not keep them
constexpr size_t kMaxCacheEntries = 1 << 16;  // then the cache starts over

// One encode call: the word cache, the BPE scratch state and the output.
class Encoder {
public:
    Encoder(const TokenizerData& d, std::vector<int>& ids, std::vector<TokenSpan>* spans)
        : d_(d), bpe_(d), ids_(ids), spans_(spans) {}

    void emit(int id, ByteRange r) {
        ids_.push_back(id);
        if (spans_) spans_->push_back({id, r.start, r.end});
    }

    // The model on one pre-tokenized word; spans from its alignment.
    void word(const NormalizedText& w) {
        const size_t n = w.text.size();
        tokens_.clear();
        bool cached = false;
        if (n <= kMaxCachedPieceBytes) {
            std::lock_guard<std::mutex> lock(d_.cacheMutex);
            const auto it = d_.cache.find(w.text);
            if (it != d_.cache.end()) {
                cached = true;
                for (size_t k = 0; k + 1 < it->second.size(); k += 2)
                    tokens_.push_back({it->second[k], static_cast<size_t>(it->second[k + 1])});
            }
        }
        if (!cached) {
            bpe_.run(w.text, tokens_);
            if (n <= kMaxCachedPieceBytes) {
                std::vector<int> flat;
                for (const WordToken& t : tokens_) flat.push_back(t.id), flat.push_back(static_cast<int>(t.len));
                std::lock_guard<std::mutex> lock(d_.cacheMutex);
                if (d_.cache.size() >= kMaxCacheEntries) d_.cache.clear();
                d_.cache.emplace(w.text, std::move(flat));
            }
        }
        size_t pos = 0;
        for (const WordToken& t : tokens_) {
            emit(t.id, w.originalRange(pos, pos + t.len));
            pos += t.len;
        }
    }

private:
    const TokenizerData& d_;
    WordBpe bpe_;
    std::vector<WordToken> tokens_;
    std::vector<int>& ids_;
    std::vector<TokenSpan>* spans_;
};

}  // namespace

Tokenizer::Tokenizer() = default;

Tokenizer::Tokenizer(std::shared_ptr<TokenizerData> data) : d_(std::move(data)) {}

const TokenizerData& Tokenizer::data() const {
    if (!d_) fail(ErrorKind::Tokenizer, "no tokenizer is loaded");
    return *d_;
}

void Tokenizer::encodeInto(const std::string& text, Mode mode, std::vector<int>& ids,
                           std::vector<TokenSpan>* spans) const {
    const TokenizerData& d = data();
    const size_t bad = utf8::findInvalid(text);
    if (bad != std::string::npos) fail(ErrorKind::Input, "text is not valid UTF-8 at byte " + std::to_string(bad));
    const bool model = mode == Mode::Model;
    const bool continuation = mode == Mode::Continuation;
    Encoder enc(d, ids, spans);
    if (model)
        for (int id : d.prefixIds) enc.emit(id, {0, 0});
    // 1. Added tokens with normalized=false, in the raw text.
    const std::vector<int>& raw = model ? d.rawAdded : d.rawAddedPlain;
    const std::vector<int>& norm = model ? d.normAdded : d.normAddedPlain;
    const std::vector<AddedSplit> splits = raw.empty() ? std::vector<AddedSplit>{{0, text.size(), -1}}
                                                       : splitAddedTokens(d.addedTokens, raw, text, false);
    for (const AddedSplit& s : splits) {
        if (s.end <= s.start) continue;  // empty pieces are dropped (PreTokenizedString::split)
        if (s.id >= 0) {
            enc.emit(s.id, {s.start, s.end});
            continue;
        }
        // 2. Normalize, then added tokens with normalized=true in the normalized text.
        NormalizedText piece = NormalizedText::fromOriginal(text, s.start, s.end);
        normalize(d.normalizer, piece, continuation);
        const std::vector<AddedSplit> sub = norm.empty() ? std::vector<AddedSplit>{{0, piece.text.size(), -1}}
                                                         : splitAddedTokens(d.addedTokens, norm, piece.text, true);
        for (const AddedSplit& t : sub) {
            if (t.end <= t.start) continue;
            if (t.id >= 0) {
                enc.emit(t.id, piece.originalRange(t.start, t.end));
                continue;
            }
            // 3. Pre-tokenize, 4. the model on each word.
            std::vector<NormalizedText> words;
            words.push_back(piece.slice(t.start, t.end));
            preTokenize(d.preTokenizer, words, continuation);
            for (const NormalizedText& w : words) enc.word(w);
        }
    }
    // 5. The post-processor's tokens after the sequence.
    if (model)
        for (int id : d.suffixIds) enc.emit(id, {text.size(), text.size()});
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
    std::vector<int> ids;
    encodeInto(text, Mode::Text, ids, nullptr);
    return ids;
}

std::vector<TokenSpan> Tokenizer::encodeWithOffsets(const std::string& text) const {
    std::vector<int> ids;
    std::vector<TokenSpan> spans;
    encodeInto(text, Mode::Text, ids, &spans);
    return spans;
}

std::vector<int> Tokenizer::encodeForModel(const std::string& text) const {
    std::vector<int> ids;
    encodeInto(text, Mode::Model, ids, nullptr);
    return ids;
}

std::vector<TokenSpan> Tokenizer::encodeForModelWithOffsets(const std::string& text) const {
    std::vector<int> ids;
    std::vector<TokenSpan> spans;
    encodeInto(text, Mode::Model, ids, &spans);
    return spans;
}

std::vector<int> Tokenizer::encodeContinuation(const std::string& text) const {
    std::vector<int> ids;
    encodeInto(text, Mode::Continuation, ids, nullptr);
    return ids;
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

std::string Tokenizer::decodeText(const std::vector<int>& ids, bool skipSpecial) const {
    const TokenizerData& d = data();
    std::string out;
    for (int id : ids) {
        const std::string bytes = tokenBytes(id);
        if (skipSpecial && isSpecial(id)) continue;
        out += bytes;
    }
    int strip = d.decodeStripLeading;
    size_t at = 0;
    while (strip-- > 0 && at < out.size() && out[at] == ' ') ++at;
    return out.substr(at);
}

const std::vector<int>& Tokenizer::prefixIds() const { return data().prefixIds; }
const std::vector<int>& Tokenizer::suffixIds() const { return data().suffixIds; }

bool Tokenizer::isSpecial(int id) const {
    const TokenizerData& d = data();
    return id >= 0 && static_cast<size_t>(id) < d.special.size() && d.special[static_cast<size_t>(id)];
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
    const std::vector<TokenSpan> spans = encodeForModelWithOffsets(prompt);
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
