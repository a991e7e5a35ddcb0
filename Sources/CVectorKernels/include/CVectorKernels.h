#ifndef TROVE_VECTOR_KERNELS_H
#define TROVE_VECTOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "trove_model_kernels.h"
#include "trove_crc32c.h"
#include "trove_gemm.h"
#include "trove_thread.h"

/// A distance kernel over two vectors of `count` floats.
typedef float (*trove_kernel)(const float *a, const float *b, size_t count);

/// The inner product, with AVX2/FMA when the CPU has them (chosen once, at first use).
trove_kernel trove_dot_kernel(void);
/// The squared Euclidean distance, with AVX2/FMA when the CPU has them.
trove_kernel trove_l2_squared_kernel(void);
/// Whether the kernels above use AVX2/FMA on this CPU.
int trove_kernels_use_avx2(void);

/// Asks the CPU to start loading the cache line at `address`.
static inline void trove_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// A one-byte lock for a stripe of graph nodes: an atomic exchange to take, a store to release.
static inline void trove_lock(uint8_t *lock) {
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static inline void trove_unlock(uint8_t *lock) {
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

#endif
