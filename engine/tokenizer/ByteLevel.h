#pragma once
// GPT-2's byte-level alphabet and the UTF-8 helpers shared by the tokenizer
// and the BPE trainer.
//
// GPT-2 stores tokens as text in which every raw byte is replaced by one
// printable Unicode character (`bytes_to_unicode` in openai/gpt-2
// src/encoder.py): the space 0x20 becomes "Ġ" (U+0120), so " world" is
// stored as "Ġworld". The engine keeps raw bytes internally and converts at
// the file boundary only.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace kme::bytelevel {

// The printable stand-in for one raw byte, as UTF-8.
const std::string& byteToUnicode(unsigned char byte);

// Raw bytes -> byte-level text ("\x20world" -> "Ġworld").
std::string encode(const std::string& bytes);

// Byte-level text -> raw bytes; nullopt when a character is not one of the
// 256 stand-ins (e.g. a literal special token with a real space in it) or the
// text is not valid UTF-8.
std::optional<std::string> decode(const std::string& text);

// The position of `byte` in GPT-2's base vocabulary order (printable bytes
// first, then the rest): GPT-2's vocab.json gives byte b the id baseIndex(b).
int baseIndex(unsigned char byte);

}  // namespace kme::bytelevel

namespace kme::utf8 {

// Length of the valid UTF-8 sequence starting at p (1..4), or 0 when the bytes
// there are not a complete, well-formed sequence (overlong forms, surrogates
// and code points above U+10FFFF are invalid, as in PCRE2's own check).
int sequenceLength(const unsigned char* p, size_t available);

// Byte offset of the first invalid sequence, or std::string::npos.
size_t findInvalid(const std::string& text);

// The text with each byte that is not part of a complete, valid sequence
// replaced by U+FFFD (one replacement per byte).
std::string sanitize(const std::string& bytes);

void appendCodepoint(std::string& out, uint32_t codepoint);

}  // namespace kme::utf8
