/* MurmurHash3_x86_32 (Austin Appleby's public-domain algorithm, written afresh here) and
 * Lemire's "fastmod", in plain C with no Python headers.
 *
 * _core.pyx hashes every key with these, and benchmarks/c_baseline.c includes this very
 * file, so the benchmark's plain C loop runs the same hash as ringfast.
 */
#ifndef RINGFAST_MURMUR3_H
#define RINGFAST_MURMUR3_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rf_rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

/* A 4-byte little-endian block. memcpy is one unaligned load on every compiler that
 * matters; the byte swap keeps big-endian machines agreeing with everyone else. */
static inline uint32_t rf_load_le32(const uint8_t *p) {
    uint32_t k;
    memcpy(&k, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    k = __builtin_bswap32(k);
#endif
    return k;
}

static inline uint32_t rf_murmur3_32(const uint8_t *data, size_t n, uint32_t seed) {
    const uint32_t c1 = 0xcc9e2d51U, c2 = 0x1b873593U;
    uint32_t h = seed, k;
    const uint8_t *p = data;
    const uint8_t *end = data + (n & ~(size_t)3);
    for (; p != end; p += 4) {
        k = rf_load_le32(p) * c1;
        k = rf_rotl32(k, 15) * c2;
        h ^= k;
        h = rf_rotl32(h, 13) * 5 + 0xe6546b64U;
    }
    k = 0;
    switch (n & 3) {
    case 3: k ^= (uint32_t)p[2] << 16; /* fall through */
    case 2: k ^= (uint32_t)p[1] << 8;  /* fall through */
    case 1:
        k ^= p[0];
        k = rf_rotl32(k * c1, 15) * c2;
        h ^= k;
    }
    h ^= (uint32_t)n;
    h ^= h >> 16;
    h *= 0x85ebca6bU;
    h ^= h >> 13;
    h *= 0xc2b2ae35U;
    h ^= h >> 16;
    return h;
}

/* x % d with two multiplications instead of a division, for a divisor fixed per
 * Partitioner (Lemire, Kaser, Kurz 2019). Plain % where there are no 128-bit integers. */
#if defined(__SIZEOF_INT128__)
static inline uint64_t rf_fastmod_magic(uint32_t d) { return UINT64_C(0xFFFFFFFFFFFFFFFF) / d + 1; }
static inline uint32_t rf_fastmod(uint32_t a, uint64_t m, uint32_t d) {
    return (uint32_t)(((__uint128_t)(m * a) * d) >> 64);
}
#else
static inline uint64_t rf_fastmod_magic(uint32_t d) { (void)d; return 0; }
static inline uint32_t rf_fastmod(uint32_t a, uint64_t m, uint32_t d) { (void)m; return a % d; }
#endif

#endif /* RINGFAST_MURMUR3_H */
