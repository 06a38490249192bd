#pragma once
// Streaming SHA-256 (FIPS 180-4). Used for the weights identity (see
// io/Safetensors.h: weightsHash) and for cache keys; written here so that the
// engine needs no crypto library.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kme {

class Sha256 {
public:
    Sha256();

    // Feeds `size` bytes; may be called any number of times with any split.
    void update(const void* data, size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

    // Finishes the hash and returns 64 lowercase hex characters. The object is
    // then reset, so it can hash a new message.
    std::string hexDigest();

    // Finishes the hash and returns the 32 raw bytes (then resets).
    std::array<uint8_t, 32> digest();

private:
    void reset();
    void compress(const uint8_t* block);  // one 64-byte block

    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_;  // pending bytes of an incomplete block
    size_t buffered_ = 0;             // bytes used in buffer_, 0..63
    uint64_t totalBytes_ = 0;         // message length so far, in bytes
};

// SHA-256 of `bytes` as 64 lowercase hex characters.
std::string sha256Hex(std::string_view bytes);

}  // namespace kme
