#include "engine/tokenizer/ByteLevel.h"

#include <array>
#include <vector>

namespace kme::bytelevel {
namespace {

// The tables of bytes_to_unicode, built once.
struct Tables {
    std::array<std::string, 256> byteToText;  // byte -> UTF-8 of its stand-in
    std::array<int, 256> byteToIndex{};       // byte -> position in GPT-2's base order
    std::vector<int> codepointToByte;          // stand-in code point -> byte, -1 if none

    Tables() {
        std::vector<int> bs;
        for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
        for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
        for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
        std::array<int, 256> codepoint{};
        std::array<bool, 256> printable{};
        for (int b : bs) {
            printable[b] = true;
            codepoint[b] = b;
        }
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            if (!printable[b]) {
                bs.push_back(b);
                codepoint[b] = 256 + n++;
            }
        }
        codepointToByte.assign(256 + n, -1);
        for (int i = 0; i < 256; ++i) {
            const int b = bs[i];
            byteToIndex[b] = i;
            codepointToByte[codepoint[b]] = b;
            utf8::appendCodepoint(byteToText[b], static_cast<uint32_t>(codepoint[b]));
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& byteToUnicode(unsigned char byte) { return tables().byteToText[byte]; }

int baseIndex(unsigned char byte) { return tables().byteToIndex[byte]; }

std::string encode(const std::string& bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) out += t.byteToText[b];
    return out;
}

std::optional<std::string> decode(const std::string& text) {
    const Tables& t = tables();
    std::string out;
    out.reserve(text.size());
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t i = 0;
    while (i < text.size()) {
        // Every stand-in is at most U+0143, i.e. one or two UTF-8 bytes.
        const int len = utf8::sequenceLength(p + i, text.size() - i);
        uint32_t cp;
        if (len == 1) {
            cp = p[i];
        } else if (len == 2) {
            cp = ((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
        } else {
            return std::nullopt;
        }
        if (cp >= t.codepointToByte.size() || t.codepointToByte[cp] < 0) return std::nullopt;
        out += static_cast<char>(t.codepointToByte[cp]);
        i += static_cast<size_t>(len);
    }
    return out;
}

}  // namespace kme::bytelevel

namespace kme::utf8 {

int sequenceLength(const unsigned char* p, size_t available) {
    if (available == 0) return 0;
    const unsigned char c = p[0];
    if (c < 0x80) return 1;
    auto cont = [&](size_t i) { return i < available && (p[i] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (available < 2) return 0;
        // E0 needs A0..BF (no overlong), ED needs 80..9F (no surrogates).
        const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
        if (p[1] < lo || p[1] > hi) return 0;
        return cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (available < 2) return 0;
        // F0 needs 90..BF (no overlong), F4 needs 80..8F (<= U+10FFFF).
        const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
        if (p[1] < lo || p[1] > hi) return 0;
        return cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

size_t findInvalid(const std::string& text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t i = 0;
    while (i < text.size()) {
        if (p[i] < 0x80) {  // fast path for ASCII
            ++i;
            continue;
        }
        const int len = sequenceLength(p + i, text.size() - i);
        if (len == 0) return i;
        i += static_cast<size_t>(len);
    }
    return std::string::npos;
}

std::string sanitize(const std::string& bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const int len = sequenceLength(p + i, bytes.size() - i);
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD for this one byte
            ++i;
        } else {
            out.append(bytes, i, static_cast<size_t>(len));
            i += static_cast<size_t>(len);
        }
    }
    return out;
}

void appendCodepoint(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

}  // namespace kme::utf8
