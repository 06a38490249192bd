// Normalizers of tokenizer.json (Prepend, Replace, NFC/NFKC/NFD/NFKD, Strip)
// on text that remembers, byte by byte, where it came from in the input.
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/Pipeline.h"

namespace kme {

NormalizedText NormalizedText::fromOriginal(const std::string& original, size_t start, size_t end) {
    NormalizedText t;
    t.text.assign(original, start, end - start);
    t.origin = start;
    return t;
}

void NormalizedText::materialize() {
    if (!identity) return;
    align.clear();
    align.reserve(text.size());
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size();) {
        const int n = std::max(1, utf8::sequenceLength(p + i, text.size() - i));
        for (int k = 0; k < n; ++k) align.push_back({origin + i, origin + i + static_cast<size_t>(n)});
        i += static_cast<size_t>(n);
    }
    identity = false;
}

NormalizedText NormalizedText::slice(size_t start, size_t end) const {
    NormalizedText t;
    t.text.assign(text, start, end - start);
    if (identity) {
        t.origin = origin + start;
        return t;
    }
    t.identity = false;
    t.align.assign(align.begin() + static_cast<std::ptrdiff_t>(start), align.begin() + static_cast<std::ptrdiff_t>(end));
    t.origin = start < align.size() ? align[start].start : origin;
    return t;
}

ByteRange NormalizedText::originalRange(size_t start, size_t end) const {
    if (identity) return {origin + start, origin + std::max(start, end)};
    if (start >= end) {
        const size_t at = start < align.size() ? align[start].start : (align.empty() ? origin : align.back().end);
        return {at, at};
    }
    size_t lo = align[start].start, hi = align[start].end;
    for (size_t i = start + 1; i < end; ++i) {
        lo = std::min(lo, align[i].start);
        hi = std::max(hi, align[i].end);
    }
    return {lo, hi};
}

void NormalizedText::prepend(const std::string& s) {
    materialize();
    const size_t at = align.empty() ? origin : align.front().start;
    text.insert(0, s);
    align.insert(align.begin(), s.size(), ByteRange{at, at});
}

void NormalizedText::replaceAll(const std::string& from, const std::string& to) {
    if (from.empty() || text.find(from) == std::string::npos) return;
    materialize();
    std::string out;
    std::vector<ByteRange> outAlign;
    out.reserve(text.size());
    outAlign.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, from.size(), from) == 0) {
            const ByteRange r = originalRange(i, i + from.size());
            out += to;
            outAlign.insert(outAlign.end(), to.size(), r);
            i += from.size();
        } else {
            out += text[i];
            outAlign.push_back(align[i]);
            ++i;
        }
    }
    text.swap(out);
    align.swap(outAlign);
}

namespace {

const icu::Normalizer2& icuNormalizer(NormalizerStep::Kind kind) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    switch (kind) {
        case NormalizerStep::Kind::NFC: n = icu::Normalizer2::getNFCInstance(status); break;
        case NormalizerStep::Kind::NFKC: n = icu::Normalizer2::getNFKCInstance(status); break;
        case NormalizerStep::Kind::NFD: n = icu::Normalizer2::getNFDInstance(status); break;
        case NormalizerStep::Kind::NFKD: n = icu::Normalizer2::getNFKDInstance(status); break;
        default: break;
    }
    if (!n || U_FAILURE(status)) fail(ErrorKind::Internal, "ICU has no Unicode normalizer of this kind");
    return *n;
}

uint32_t codepointAt(const std::string& s, size_t i, int len) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
    if (len == 1) return p[0];
    if (len == 2) return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (len == 3) return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

// Unicode normalization segment by segment: a segment starts at a character
// with a normalization boundary before it, so segments normalize
// independently; every output byte of a segment aligns to the segment's
// original range (coarser than HF's per-character alignment, which only
// matters for offsets inside a composed character).
void unicodeNormalize(NormalizedText& t, NormalizerStep::Kind kind) {
    const icu::Normalizer2& n = icuNormalizer(kind);
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString whole = icu::UnicodeString::fromUTF8(t.text);
    if (n.isNormalized(whole, status) && U_SUCCESS(status)) return;
    t.materialize();
    std::string out;
    std::vector<ByteRange> outAlign;
    const auto* p = reinterpret_cast<const unsigned char*>(t.text.data());
    size_t segStart = 0;
    auto flush = [&](size_t segEnd) {
        if (segEnd <= segStart) return;
        UErrorCode st = U_ZERO_ERROR;
        const icu::UnicodeString seg = icu::UnicodeString::fromUTF8(
            icu::StringPiece(t.text.data() + segStart, static_cast<int32_t>(segEnd - segStart)));
        const icu::UnicodeString normalized = n.normalize(seg, st);
        if (U_FAILURE(st)) fail(ErrorKind::Internal, std::string("ICU normalization failed: ") + u_errorName(st));
        std::string bytes;
        normalized.toUTF8String(bytes);
        const ByteRange r = t.originalRange(segStart, segEnd);
        out += bytes;
        outAlign.insert(outAlign.end(), bytes.size(), r);
        segStart = segEnd;
    };
    for (size_t i = 0; i < t.text.size();) {
        const int len = std::max(1, utf8::sequenceLength(p + i, t.text.size() - i));
        if (i > segStart && n.hasBoundaryBefore(static_cast<UChar32>(codepointAt(t.text, i, len)))) flush(i);
        i += static_cast<size_t>(len);
    }
    flush(t.text.size());
    t.text.swap(out);
    t.align.swap(outAlign);
}

bool isSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

void normalize(const std::vector<NormalizerStep>& steps, NormalizedText& t, bool continuation) {
    for (const NormalizerStep& s : steps) {
        switch (s.kind) {
            case NormalizerStep::Kind::Prepend:
                // normalizers/prepend.rs: only a non-empty text gets it.
                if (!continuation && !t.text.empty()) t.prepend(s.text);
                break;
            case NormalizerStep::Kind::Replace:
                t.replaceAll(s.text, s.content);
                break;
            case NormalizerStep::Kind::Strip: {
                // ASCII whitespace only (HF strips Unicode White_Space; the
                // families this serves do not use Strip as a normalizer).
                size_t b = 0, e = t.text.size();
                if (s.left)
                    while (b < e && isSpaceByte(t.text[b])) ++b;
                if (s.right)
                    while (e > b && isSpaceByte(t.text[e - 1])) --e;
                if (b != 0 || e != t.text.size()) {
                    const size_t origin = t.origin;
                    t = t.slice(b, e);
                    t.origin = origin;
                }
                break;
            }
            default:
                unicodeNormalize(t, s.kind);
                break;
        }
    }
}

}  // namespace kme
