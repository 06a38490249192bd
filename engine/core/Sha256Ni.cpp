// SHA-256's compression with the x86 SHA extensions (SHA-NI: sha256rnds2,
// sha256msg1, sha256msg2), about five times the portable loop's speed on the
// machines that have them. Selected at run time (Sha256.cpp); the portable
// compression stays the reference (tests/engine/test_sha256.cpp compares
// both on every length and split).
//
// Layout: the instructions keep the state as two vectors ABEF and CDGH; each
// sha256rnds2 runs two rounds with the low two words of its message+constant
// vector. The message schedule runs four words at a time:
//   W[t..t+3] = msg2(msg1(W[t-16..t-13], W[t-12..t-9]) + W[t-7..t-4], W[t-4..t-1]).
#include "engine/core/Sha256Internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

namespace kme::sha256detail {

bool cpuHasShaNi() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool sha = (b >> 29) & 1u;  // CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29]
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool ssse3 = (c >> 9) & 1u, sse41 = (c >> 19) & 1u;
    return sha && ssse3 && sse41;
}

__attribute__((target("sha,sse4.1,ssse3"))) void compressShaNi(uint32_t state[8], const uint8_t* data,
                                                                 size_t blocks, const uint32_t k[64]) {
    // The state words a..h as ABEF / CDGH (a in the top lane).
    __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));     // lanes a b c d
    __m128i cdgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));    // lanes e f g h
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                                              // b a d c
    cdgh = _mm_shuffle_epi32(cdgh, 0x1B);                                            // h g f e
    __m128i abef = _mm_alignr_epi8(tmp, cdgh, 8);                                    // f e b a
    cdgh = _mm_blend_epi16(cdgh, tmp, 0xF0);                                         // h g d c
    const __m128i bigEndian = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

    for (; blocks > 0; --blocks, data += 64) {
        const __m128i abefSaved = abef, cdghSaved = cdgh;
        __m128i w[4];  // the last four groups of four schedule words: group j in w[j % 4]
        for (int j = 0; j < 16; ++j) {
            __m128i& g = w[j & 3];
            if (j < 4) {
                g = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * j)), bigEndian);
            } else {
                // g holds group j-4; w[(j+1)&3] group j-3, w[(j+2)&3] group j-2, w[(j+3)&3] group j-1.
                const __m128i prev = w[(j + 3) & 3];
                const __m128i minus7 = _mm_alignr_epi8(prev, w[(j + 2) & 3], 4);
                g = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(g, w[(j + 1) & 3]), minus7), prev);
            }
            __m128i msg = _mm_add_epi32(g, _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + 4 * j)));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);  // rounds 4j, 4j+1: cdgh becomes the new abef
            msg = _mm_shuffle_epi32(msg, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, msg);  // rounds 4j+2, 4j+3: the old abef (= the
                                                            // new cdgh) becomes abef again, cdgh is cdgh
        }
        abef = _mm_add_epi32(abef, abefSaved);
        cdgh = _mm_add_epi32(cdgh, cdghSaved);
    }
    tmp = _mm_shuffle_epi32(abef, 0x1B);                 // back to memory order:
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);
    abef = _mm_blend_epi16(tmp, cdgh, 0xF0);             // lanes a b c d
    cdgh = _mm_alignr_epi8(cdgh, tmp, 8);                // lanes e f g h
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), abef);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), cdgh);
}

}  // namespace kme::sha256detail

#else

namespace kme::sha256detail {
bool cpuHasShaNi() { return false; }
void compressShaNi(uint32_t*, const uint8_t*, size_t, const uint32_t*) {}
}  // namespace kme::sha256detail

#endif
