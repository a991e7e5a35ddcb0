#include <stdlib.h>
#include <time.h>

#include "trove_gemm.h"
#include "trove_model_kernels.h"

#define PANEL TROVE_GEMM_PANEL
// Rows of A per kernel call: 12 rows × 2 vectors of 16 = 24 accumulators, plus the two weight
// vectors and a broadcast, within AVX-512's 32 registers.
#define ROWS 12
// Depth of one pass over a panel: 384 × 32 floats (48 KiB) of weights stay in L2 while the
// rows of A go by; the 12 × 384 floats of A (18 KiB) stay in L1 across the panels.
#define DEPTH 384
// Columns of C per sweep over the rows of A: 8 panels (384 KiB of weights at DEPTH) fit in L2.
#define SWEEP (8 * PANEL)
// Rows of A per block: the block's 96 × 384 floats (144 KiB) stay in L2 beside a sweep's weights
// while the sweeps go by, and its rows of C across the passes over the depth. Without blocks, the
// rows of A came from memory again for every sweep: 98–101 GFLOP/s at 1,600 rows against 107–110
// with them (~116 at 100 rows, which fit in L2 either way). A whole number of ROWS, so that only
// the end of A cuts a kernel call's rows short.
#define BLOCK (8 * ROWS)

size_t trove_gemm_packed_count(size_t n, size_t k) {
    return (n + PANEL - 1) / PANEL * PANEL * k;
}

void trove_gemm_pack(const float *b, size_t ldb, size_t n, size_t k, float *packed) {
    size_t panels = (n + PANEL - 1) / PANEL;
    for (size_t panel = 0; panel < panels; panel++) {
        float *out = packed + panel * PANEL * k;
        for (size_t row = 0; row < PANEL; row++) {
            size_t source = panel * PANEL + row;
            for (size_t depth = 0; depth < k; depth++) {
                out[depth * PANEL + row] = source < n ? b[source * ldb + depth] : 0;
            }
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

int trove_gemm_packed_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

// Twelve independent accumulators, more than an FMA's latency times the core's FMA units, so
// that the units, not the chains, set the rate. Their sum goes to a volatile, so that the loop
// cannot be optimised away.
#define PEAK_CHAINS 12
#define PEAK_STEPS 100000

// One loop per vector width: `vector` of `lanes` floats and its set1, fmadd and storeu.
#define FMA_PEAK(name, features, vector, lanes, set1, fmadd, storeu) \
    __attribute__((target(features))) static double name(double seconds, float *sink) { \
        vector chains[PEAK_CHAINS]; \
        for (int i = 0; i < PEAK_CHAINS; i++) chains[i] = set1((float)i); \
        vector factor = set1(0.999f), addend = set1(0.001f); \
        double start = seconds_now(), elapsed = 0; \
        long rounds = 0; \
        do { \
            for (int step = 0; step < PEAK_STEPS; step++) { \
                for (int i = 0; i < PEAK_CHAINS; i++) chains[i] = fmadd(chains[i], factor, addend); \
            } \
            rounds++; \
            elapsed = seconds_now() - start; \
        } while (elapsed < seconds); \
        float values[lanes], sum = 0; \
        for (int i = 0; i < PEAK_CHAINS; i++) { \
            storeu(values, chains[i]); \
            for (int j = 0; j < lanes; j++) sum += values[j]; \
        } \
        *sink = sum; \
        return (double)rounds * PEAK_STEPS * PEAK_CHAINS * 2 * lanes / elapsed / 1e9; \
    }
FMA_PEAK(fma_peak_avx512, "avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
FMA_PEAK(fma_peak_avx2, "avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps)

// Where the peak loop's sum goes.
static volatile float fma_peak_sink;

double trove_fma_peak_gflops(double seconds) {
    float value = 0;
    double rate = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        rate = fma_peak_avx512(seconds, &value);
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        rate = fma_peak_avx2(seconds, &value);
    }
    fma_peak_sink = value;
    return rate;
}

/// How a kernel call's accumulators start. A product's first pass over the depth starts from
/// `start` (rows `startStride` apart; C itself when accumulating), or from zero when it is null,
/// plus `bias` (the panel's columns) when it is not null; later passes start from C.
typedef struct {
    const float *start;
    size_t startStride;
    const float *bias;
} panel_ends;

/// C[rows × up to 32] = start + A[rows × depth] · panel, the panel's `depth` × 32 weights in
/// order (see `panel_ends`); `low` and `high` mask the columns that exist in the left and right
/// 16. `next` is the first of the `nextRows` rows of A (`depth` floats each, `lda` apart) that the
/// next call will read: they are fetched into L1 while this call computes.
__attribute__((target("avx512f"), always_inline)) static inline void panel_kernel(
    const int rows, size_t depth, const float *a, size_t lda, const float *panel, float *c, size_t ldc, const panel_ends *ends,
    __mmask16 low, __mmask16 high, const float *next, int nextRows) {
    __m512 left[ROWS], right[ROWS];
    __m512 biasLow = _mm512_setzero_ps(), biasHigh = _mm512_setzero_ps();
    if (ends->bias) {
        biasLow = _mm512_maskz_loadu_ps(low, ends->bias);
        biasHigh = _mm512_maskz_loadu_ps(high, ends->bias + 16);
    }
    for (int row = 0; row < rows; row++) {
        if (!ends->start) {
            left[row] = biasLow;
            right[row] = biasHigh;
            continue;
        }
        left[row] = _mm512_maskz_loadu_ps(low, ends->start + row * ends->startStride);
        right[row] = _mm512_maskz_loadu_ps(high, ends->start + row * ends->startStride + 16);
        if (ends->bias) {
            left[row] = _mm512_add_ps(left[row], biasLow);
            right[row] = _mm512_add_ps(right[row], biasHigh);
        }
    }
    for (size_t step = 0; step < depth; step++) {
        __m512 weightsLow = _mm512_load_ps(panel + step * PANEL);
        __m512 weightsHigh = _mm512_load_ps(panel + step * PANEL + 16);
        // One cache line of the next rows of A a step, row by row, until `depth` floats of each
        // are on their way (past a shorter last pass over the depth, a few lines too many: a
        // prefetch never faults).
        if (step < nextRows * ((depth + 15) / 16)) {
            _mm_prefetch((const char *)(next + step % nextRows * lda + step / nextRows * 16), _MM_HINT_T0);
        }
        for (int row = 0; row < rows; row++) {
            __m512 value = _mm512_set1_ps(a[row * lda + step]);
            left[row] = _mm512_fmadd_ps(value, weightsLow, left[row]);
            right[row] = _mm512_fmadd_ps(value, weightsHigh, right[row]);
        }
    }
    for (int row = 0; row < rows; row++) {
        _mm512_mask_storeu_ps(c + row * ldc, low, left[row]);
        _mm512_mask_storeu_ps(c + row * ldc + 16, high, right[row]);
    }
}

// One copy of the kernel per row count, so that each unrolls with its accumulators in registers.
#define KERNEL(rows) \
    __attribute__((target("avx512f"))) static void kernel_##rows( \
        size_t depth, const float *a, size_t lda, const float *panel, float *c, size_t ldc, const panel_ends *ends, \
        __mmask16 low, __mmask16 high, const float *next, int nextRows) { \
        panel_kernel(rows, depth, a, lda, panel, c, ldc, ends, low, high, next, nextRows); \
    }
KERNEL(1) KERNEL(2) KERNEL(3) KERNEL(4) KERNEL(5) KERNEL(6)
KERNEL(7) KERNEL(8) KERNEL(9) KERNEL(10) KERNEL(11) KERNEL(12)

typedef void (*kernel_function)(
    size_t, const float *, size_t, const float *, float *, size_t, const panel_ends *, __mmask16, __mmask16, const float *, int);
static const kernel_function kernels[ROWS + 1] = {
    0, kernel_1, kernel_2, kernel_3, kernel_4, kernel_5, kernel_6,
    kernel_7, kernel_8, kernel_9, kernel_10, kernel_11, kernel_12,
};

/// Both products below: the first pass over the depth starts from `start` (null: zero) plus
/// `bias` (null: none). Each call gets its `panel_ends` by address: passed by value, the struct
/// was written in parts and read whole, a stalled store forward before every call that took 2 %
/// of a pass.
static void gemm_packed(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, const float *start, size_t startStride,
    const float *bias, int gelu, float *c, size_t ldc) {
    for (size_t block = 0; block < m; block += BLOCK) {
        size_t blockEnd = m - block < BLOCK ? m : block + BLOCK;
        for (size_t first = 0; first < k; first += DEPTH) {
            size_t depth = k - first < DEPTH ? k - first : DEPTH;
            for (size_t sweep = 0; sweep < n; sweep += SWEEP) {
                size_t sweepEnd = n - sweep < SWEEP ? n : sweep + SWEEP;
                for (size_t row = block; row < blockEnd; row += ROWS) {
                    size_t rows = m - row < ROWS ? m - row : ROWS;
                    kernel_function kernel = kernels[rows];
                    // The rows of A after these: the next ones of the block, else the block's
                    // first for the next sweep, else for the next pass over the depth, else the
                    // next block's. Fetched during the sweep's last panel; the earlier panels
                    // find these rows in L1.
                    size_t nextRow = blockEnd, nextFirst = 0;
                    if (row + ROWS < blockEnd) {
                        nextRow = row + ROWS;
                        nextFirst = first;
                    } else if (sweepEnd < n) {
                        nextRow = block;
                        nextFirst = first;
                    } else if (first + DEPTH < k) {
                        nextRow = block;
                        nextFirst = first + DEPTH;
                    }
                    int nextRows = (int)(m - nextRow < ROWS ? m - nextRow : ROWS);
                    const float *next = nextRows > 0 ? a + nextRow * lda + nextFirst : a;
                    for (size_t column = sweep; column < sweepEnd; column += PANEL) {
                        size_t columns = sweepEnd - column < PANEL ? sweepEnd - column : PANEL;
                        __mmask16 low = columns >= 16 ? 0xFFFF : (__mmask16)((1u << columns) - 1);
                        __mmask16 high = columns <= 16 ? 0 : columns == PANEL ? 0xFFFF : (__mmask16)((1u << (columns - 16)) - 1);
                        // The first pass starts from `start` and the bias, later ones from C.
                        panel_ends ends = {c + row * ldc + column, ldc, 0};
                        if (first == 0) {
                            ends.start = start ? start + row * startStride + column : 0;
                            ends.startStride = startStride;
                            ends.bias = bias ? bias + column : 0;
                        }
                        kernel(
                            depth, a + row * lda + first, lda, packed + column * k + first * PANEL, c + row * ldc + column,
                            ldc, &ends, low, high, next, column + PANEL < sweepEnd ? 0 : nextRows);
                        // GELU on the tile just stored, while it is in L1, by the model's own
                        // AVX2 kernel (on AVX-512 hardware AVX2 and FMA are there too).
                        if (gelu && first + DEPTH >= k) {
                            for (size_t r = row; r < row + rows; r++) {
                                trove_gelu(c + r * ldc + column, columns, 1);
                            }
                        }
                    }
                }
            }
        }
    }
}

void trove_gemm_packed(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, float *c, size_t ldc) {
    gemm_packed(m, n, k, a, lda, packed, c, ldc, 0, 0, c, ldc);
}

double trove_gemm_packed_tile_gflops(double seconds) {
    enum { tile_rows = ROWS, tile_columns = PANEL, tile_depth = DEPTH };
    // Each thread that measures has its own: 18 KiB of A, 48 KiB of weights (already in the
    // packed layout: their order does not change the rate) and 1.5 KiB of C.
    float *a = aligned_alloc(64, sizeof(float) * tile_rows * tile_depth);
    float *packed = aligned_alloc(64, sizeof(float) * tile_columns * tile_depth);
    float *c = aligned_alloc(64, sizeof(float) * tile_rows * tile_columns);
    if (!a || !packed || !c) {
        free(a), free(packed), free(c);
        return 0;
    }
    for (int i = 0; i < tile_rows * tile_depth; i++) a[i] = (float)(i % 17) * 0.001f;
    for (int i = 0; i < tile_columns * tile_depth; i++) packed[i] = (float)(i % 13) * 0.001f;
    double start = seconds_now(), elapsed = 0;
    long calls = 0;
    do {
        for (int i = 0; i < 1000; i++) trove_gemm_packed(tile_rows, tile_columns, tile_depth, a, tile_depth, packed, c, tile_columns);
        calls += 1000;
        elapsed = seconds_now() - start;
    } while (elapsed < seconds);
    free(a), free(packed), free(c);
    return (double)calls * 2 * tile_rows * tile_columns * tile_depth / elapsed / 1e9;
}

void trove_gemm_packed_bias(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, const float *bias, const float *residual,
    size_t ldr, int gelu, float *c, size_t ldc) {
    gemm_packed(m, n, k, a, lda, packed, residual, residual ? ldr : 0, bias, gelu, c, ldc);
}

#else

int trove_gemm_packed_supported(void) { return 0; }

double trove_fma_peak_gflops(double seconds) {
    (void)seconds;
    return 0;
}

double trove_gemm_packed_tile_gflops(double seconds) {
    (void)seconds;
    return 0;
}

void trove_gemm_packed(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, float *c, size_t ldc) {
    // Never called: callers check trove_gemm_packed_supported() first.
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)c, (void)ldc;
    __builtin_trap();
}

void trove_gemm_packed_bias(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, const float *bias, const float *residual,
    size_t ldr, int gelu, float *c, size_t ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)bias, (void)residual, (void)ldr, (void)gelu;
    (void)c, (void)ldc;
    __builtin_trap();
}

#endif
