#include "engine/tokenizer/PreTokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme {
namespace {

// The compiled pattern: a pcre2_code is read-only after compilation and may be
// shared by threads; each call brings its own match data.
class CompiledPattern {
public:
    CompiledPattern() {
        int errorCode = 0;
        PCRE2_SIZE errorOffset = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2SplitPattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
        if (!code_) {
            PCRE2_UCHAR buffer[256];
            pcre2_get_error_message(errorCode, buffer, sizeof buffer);
            fail(ErrorKind::Internal, std::string("cannot compile the GPT-2 split pattern: ") +
                                          reinterpret_cast<const char*>(buffer));
        }
        // JIT is an optimisation only: without it (unsupported CPU) the
        // interpreter gives the same matches.
        pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
    }
    ~CompiledPattern() { pcre2_code_free(code_); }
    CompiledPattern(const CompiledPattern&) = delete;
    CompiledPattern& operator=(const CompiledPattern&) = delete;

    const pcre2_code* code() const { return code_; }

private:
    pcre2_code* code_ = nullptr;
};

const CompiledPattern& pattern() {
    static const CompiledPattern p;
    return p;
}

struct MatchDataDeleter {
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

}  // namespace

std::vector<ByteRange> gpt2PreTokenize(const std::string& text) {
    const size_t bad = utf8::findInvalid(text);
    if (bad != std::string::npos)
        fail(ErrorKind::Input, "text is not valid UTF-8 at byte " + std::to_string(bad));

    std::vector<ByteRange> pieces;
    if (text.empty()) return pieces;
    const pcre2_code* code = pattern().code();
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(code, nullptr));
    if (!match) fail(ErrorKind::Internal, "out of memory for PCRE2 match data");

    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset < text.size()) {
        // The text was validated above; skipping PCRE2's own check keeps the
        // loop linear (it would otherwise re-check the rest on every call).
        const int rc = pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR buffer[256];
            pcre2_get_error_message(rc, buffer, sizeof buffer);
            fail(ErrorKind::Internal, std::string("PCRE2 match failed: ") + reinterpret_cast<const char*>(buffer));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        if (ov[1] <= ov[0]) fail(ErrorKind::Internal, "the GPT-2 split pattern matched an empty piece");
        pieces.push_back({ov[0], ov[1]});
        offset = ov[1];
    }
    return pieces;
}

Regex::Regex(const std::string& pattern) : Regex(pattern, PCRE2_UTF | PCRE2_UCP) {}

Regex Regex::literal(const std::string& text) { return Regex(text, PCRE2_UTF | PCRE2_LITERAL); }

Regex::Regex(const std::string& pattern, unsigned options) : pattern_(pattern) {
    int errorCode = 0;
    PCRE2_SIZE errorOffset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                     &errorCode, &errorOffset, nullptr);
    if (!code) {
        PCRE2_UCHAR buffer[256];
        pcre2_get_error_message(errorCode, buffer, sizeof buffer);
        fail(ErrorKind::Tokenizer, "cannot compile the pattern " + quoteForMessage(pattern) + ": " +
                                       reinterpret_cast<const char*>(buffer) + " at offset " +
                                       std::to_string(errorOffset));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    code_ = code;
}

Regex::Regex(Regex&& other) noexcept : pattern_(std::move(other.pattern_)), code_(other.code_) { other.code_ = nullptr; }

Regex::~Regex() {
    if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::vector<ByteRange> Regex::findAll(const std::string& text, size_t from, size_t to) const {
    if (to > text.size()) to = text.size();
    std::vector<ByteRange> out;
    const auto* code = static_cast<const pcre2_code*>(code_);
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(code, nullptr));
    if (!match) fail(ErrorKind::Internal, "out of memory for PCRE2 match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = from;
    while (offset < to) {
        const int rc = pcre2_match(code, subject, to, offset, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR buffer[256];
            pcre2_get_error_message(rc, buffer, sizeof buffer);
            fail(ErrorKind::Input, "matching the pattern " + quoteForMessage(pattern_) + " failed: " +
                                       reinterpret_cast<const char*>(buffer));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        if (ov[1] > ov[0]) {
            out.push_back({ov[0], ov[1]});
            offset = ov[1];
        } else {  // an empty match: step over one character
            const int len = utf8::sequenceLength(subject + ov[0], to - ov[0]);
            offset = ov[0] + static_cast<size_t>(len > 0 ? len : 1);
        }
    }
    return out;
}

bool Regex::search(const std::string& text) const {
    const auto* code = static_cast<const pcre2_code*>(code_);
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(code, nullptr));
    if (!match) fail(ErrorKind::Internal, "out of memory for PCRE2 match data");
    return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, PCRE2_NO_UTF_CHECK,
                       match.get(), nullptr) >= 0;
}

}  // namespace kme

// ---------------------------------------------------------------- tokenizer.json pre-tokenizer steps

#include "engine/tokenizer/Pipeline.h"

namespace kme {
namespace {

struct Segment {
    size_t start;
    size_t end;
    bool match;
};

// All of `text` as alternating (non-)matches, as Pattern::find_matches.
std::vector<Segment> segments(const std::vector<ByteRange>& matches, size_t size, bool invert) {
    std::vector<Segment> out;
    size_t prev = 0;
    for (const ByteRange& m : matches) {
        if (prev != m.start) out.push_back({prev, m.start, invert});
        out.push_back({m.start, m.end, !invert});
        prev = m.end;
    }
    if (prev != size) out.push_back({prev, size, invert});
    return out;
}

// NormalizedString::split: which segments become pieces, per behaviour.
std::vector<ByteRange> applyBehavior(const std::vector<Segment>& segs, SplitBehavior behavior) {
    std::vector<ByteRange> out;
    bool previous = false;
    switch (behavior) {
        case SplitBehavior::Isolated:
            for (const Segment& s : segs) out.push_back({s.start, s.end});
            break;
        case SplitBehavior::Removed:
            for (const Segment& s : segs)
                if (!s.match) out.push_back({s.start, s.end});
            break;
        case SplitBehavior::Contiguous:
            for (const Segment& s : segs) {
                if (s.match == previous && !out.empty()) out.back().end = s.end;
                else out.push_back({s.start, s.end});
                previous = s.match;
            }
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const Segment& s : segs) {
                if (s.match && !previous && !out.empty()) out.back().end = s.end;
                else out.push_back({s.start, s.end});
                previous = s.match;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
                if (it->match && !previous && !out.empty()) out.back().start = it->start;
                else out.push_back({it->start, it->end});
                previous = it->match;
            }
            std::reverse(out.begin(), out.end());
            break;
    }
    return out;
}

void splitPiece(const NormalizedText& piece, const std::vector<ByteRange>& ranges, std::vector<NormalizedText>& out) {
    for (const ByteRange& r : ranges)
        if (r.end > r.start) out.push_back(piece.slice(r.start, r.end));
}

}  // namespace

void preTokenize(const std::vector<PreTokenizerStep>& steps, std::vector<NormalizedText>& pieces, bool continuation) {
    for (const PreTokenizerStep& step : steps) {
        std::vector<NormalizedText> next;
        for (NormalizedText& piece : pieces) {
            switch (step.kind) {
                case PreTokenizerStep::Kind::ByteLevel: {
                    // pre_tokenizers/byte_level.rs: the prefix space goes on every piece.
                    if (step.addPrefixSpace && (piece.text.empty() || piece.text[0] != ' ')) piece.prepend(" ");
                    if (!step.useRegex) {
                        splitPiece(piece, {{0, piece.text.size()}}, next);
                    } else {
                        splitPiece(piece, gpt2PreTokenize(piece.text), next);
                    }
                    break;
                }
                case PreTokenizerStep::Kind::Split: {
                    const auto segs = segments(step.regex->findAll(piece.text), piece.text.size(), step.invert);
                    splitPiece(piece, applyBehavior(segs, step.behavior), next);
                    break;
                }
                case PreTokenizerStep::Kind::Metaspace: {
                    // pre_tokenizers/metaspace.rs
                    piece.replaceAll(" ", step.replacement);
                    const bool startsWith = piece.text.compare(0, step.replacement.size(), step.replacement) == 0;
                    if (!startsWith && (step.prependScheme == PrependScheme::Always ||
                                        (step.prependScheme == PrependScheme::First && piece.origin == 0 && !continuation)))
                        piece.prepend(step.replacement);
                    if (step.split) {
                        std::vector<ByteRange> at;
                        for (size_t i = piece.text.find(step.replacement); i != std::string::npos;
                             i = piece.text.find(step.replacement, i + step.replacement.size()))
                            at.push_back({i, i + step.replacement.size()});
                        splitPiece(piece, applyBehavior(segments(at, piece.text.size(), false), SplitBehavior::MergedWithNext), next);
                    } else {
                        splitPiece(piece, {{0, piece.text.size()}}, next);
                    }
                    break;
                }
            }
        }
        pieces.swap(next);
    }
}

}  // namespace kme
