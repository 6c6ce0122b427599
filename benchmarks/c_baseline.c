/* The benchmark's baseline for partition_many: a plain C loop, the same murmur3 and the
 * same fastmod as ringfast (this includes ringfast's own _murmur3.h), over the same keys
 * already encoded: one buffer of their UTF-8 bytes and the offset where each begins
 * (offsets[n] is the end). What C code that never touched a Python object would do. */
#include <stdint.h>
#include "_murmur3.h"

void rf_baseline_partition_many(const uint8_t *data, const uint64_t *offsets, uint64_t n,
                                uint32_t seed, uint32_t num_partitions, uint32_t *out) {
    const uint64_t magic = rf_fastmod_magic(num_partitions);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t h = rf_murmur3_32(data + offsets[i], (size_t)(offsets[i + 1] - offsets[i]), seed);
        out[i] = rf_fastmod(h, magic, num_partitions);
    }
}
