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
    void compress(const uint8_t* data, size_t blocks);  // whole 64-byte blocks

    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_;  // pending bytes of an incomplete block
    size_t buffered_ = 0;             // bytes used in buffer_, 0..63
    uint64_t totalBytes_ = 0;         // message length so far, in bytes
};

// SHA-256 of `bytes` as 64 lowercase hex characters.
std::string sha256Hex(std::string_view bytes);

// The compression in use: the CPU's SHA extensions where it has them (x86
// SHA-NI, about five times faster), else the portable loop. The same digest
// either way; tests and `kme bench family` compare the two.
enum class Sha256Engine { Portable, ShaNi };
Sha256Engine sha256Engine();
bool sha256ShaNiAvailable();
// Selects an engine for the process (ShaNi where unavailable: Portable).
void setSha256Engine(Sha256Engine engine);
const char* sha256EngineName(Sha256Engine engine);  // "portable" | "sha-ni"
// Measured speed of an engine on `bytes` bytes in memory, bytes per second
// (best of `repeats`; `kme bench family`). Portable where ShaNi is unavailable.
double measureSha256Rate(Sha256Engine engine, size_t bytes, int repeats);

}  // namespace kme
