#include "engine/core/Sha256.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>
#include <cstring>

#include "engine/core/Sha256Internal.h"

namespace kme {
namespace {

// First 32 bits of the fractional parts of the cube roots of the first 64
// primes (FIPS 180-4, 4.2.2).
constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// Initial hash value: fractional parts of the square roots of the first 8
// primes (FIPS 180-4, 5.3.3).
constexpr uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compressPortable(uint32_t* state, const uint8_t* block) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t)  // the message is big-endian
        w[t] = (uint32_t(block[4 * t]) << 24) | (uint32_t(block[4 * t + 1]) << 16) |
               (uint32_t(block[4 * t + 2]) << 8) | uint32_t(block[4 * t + 3]);
    for (int t = 16; t < 64; ++t) {
        const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; ++t) {
        const uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const uint32_t ch = (e & f) ^ (~e & g);
        const uint32_t t1 = h + S1 + ch + kRound[t] + w[t];
        const uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        const uint32_t t2 = S0 + maj;
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

const bool shaNiAvailable = sha256detail::cpuHasShaNi();
std::atomic<bool> useShaNi{shaNiAvailable};

}  // namespace

bool sha256ShaNiAvailable() { return shaNiAvailable; }
Sha256Engine sha256Engine() { return useShaNi.load() ? Sha256Engine::ShaNi : Sha256Engine::Portable; }
void setSha256Engine(Sha256Engine engine) { useShaNi = engine == Sha256Engine::ShaNi && shaNiAvailable; }
const char* sha256EngineName(Sha256Engine engine) { return engine == Sha256Engine::ShaNi ? "sha-ni" : "portable"; }

Sha256::Sha256() { reset(); }

void Sha256::reset() {
    std::memcpy(state_.data(), kInit, sizeof(kInit));
    buffered_ = 0;
    totalBytes_ = 0;
}

void Sha256::compress(const uint8_t* data, size_t blocks) {
    if (useShaNi.load(std::memory_order_relaxed)) {
        sha256detail::compressShaNi(state_.data(), data, blocks, kRound);
        return;
    }
    for (size_t i = 0; i < blocks; ++i) compressPortable(state_.data(), data + 64 * i);
}

void Sha256::update(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    totalBytes_ += size;
    if (buffered_ > 0) {  // top up a pending partial block first
        const size_t take = std::min(size, buffer_.size() - buffered_);
        std::memcpy(buffer_.data() + buffered_, p, take);
        buffered_ += take;
        p += take;
        size -= take;
        if (buffered_ < buffer_.size()) return;
        compress(buffer_.data(), 1);
        buffered_ = 0;
    }
    const size_t blocks = size / 64;  // whole blocks straight from the input
    compress(p, blocks);
    p += 64 * blocks;
    size -= 64 * blocks;
    if (size > 0) {
        std::memcpy(buffer_.data(), p, size);
        buffered_ = size;
    }
}

std::array<uint8_t, 32> Sha256::digest() {
    // Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian.
    const uint64_t bitLength = totalBytes_ * 8;
    uint8_t pad[72] = {0x80};
    const size_t padLen = (buffered_ < 56 ? 56 : 120) - buffered_;
    for (int i = 0; i < 8; ++i) pad[padLen + i] = uint8_t(bitLength >> (56 - 8 * i));
    update(pad, padLen + 8);

    std::array<uint8_t, 32> out{};
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j) out[4 * i + j] = uint8_t(state_[i] >> (24 - 8 * j));
    reset();
    return out;
}

std::string Sha256::hexDigest() {
    static const char kHex[] = "0123456789abcdef";
    const auto bytes = digest();
    std::string hex(64, '0');
    for (size_t i = 0; i < bytes.size(); ++i) {
        hex[2 * i] = kHex[bytes[i] >> 4];
        hex[2 * i + 1] = kHex[bytes[i] & 0xf];
    }
    return hex;
}

std::string sha256Hex(std::string_view bytes) {
    Sha256 h;
    h.update(bytes);
    return h.hexDigest();
}

double measureSha256Rate(Sha256Engine engine, size_t bytes, int repeats) {
    const Sha256Engine saved = sha256Engine();
    setSha256Engine(engine);
    std::vector<uint8_t> data(bytes);
    for (size_t i = 0; i < bytes; ++i) data[i] = uint8_t(i * 2654435761u >> 13);
    double best = 1e30;
    for (int r = 0; r < std::max(1, repeats); ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        Sha256 h;
        h.update(data.data(), data.size());
        (void)h.digest();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    setSha256Engine(saved);
    return double(bytes) / std::max(best, 1e-9);
}

}  // namespace kme
