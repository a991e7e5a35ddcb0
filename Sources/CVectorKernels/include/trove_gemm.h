#ifndef TROVE_GEMM_H
#define TROVE_GEMM_H

#include <stddef.h>

/// Dense products against a weight matrix packed once, for CPUs with AVX-512F.
///
/// The weights B are [n × k] row-major (one row per output, as BERT stores them), and a product
/// is C[m × n] += A[m × k] · Bᵀ with A and C row-major. Packing lays B out in panels of
/// `TROVE_GEMM_PANEL` rows, each stored k-major (the panel's 32 values for k = 0, then for k = 1, …),
/// rows past n filled with zeros, so the kernel reads every weight once per row block, in order,
/// with aligned loads, and nothing is packed per call.

/// Rows of B in one panel; a split of the columns of C between threads falls on a multiple of it.
#define TROVE_GEMM_PANEL 32

/// Whether this CPU runs the packed products (AVX-512F); without it they must not be called.
int trove_gemm_packed_supported(void);

/// Floats a packed [n × k] matrix takes: n rounded up to whole panels, times k.
size_t trove_gemm_packed_count(size_t n, size_t k);

/// Packs B ([n × k], rows `ldb` floats apart) into `packed`, which holds
/// `trove_gemm_packed_count(n, k)` floats and is 64-byte aligned.
void trove_gemm_pack(const float *b, size_t ldb, size_t n, size_t k, float *packed);

/// C[m × n] += A[m × k] · Bᵀ, with `packed` pointing at the panel of B's row 0 of this product:
/// to compute columns from a multiple of `TROVE_GEMM_PANEL` onwards, offset `packed` by
/// (first column / TROVE_GEMM_PANEL) · TROVE_GEMM_PANEL · k floats and `c` by the first column.
void trove_gemm_packed(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, float *c, size_t ldc);

/// C[m × n] = residual + bias + A[m × k] · Bᵀ, then GELU of each value when `gelu` is not 0 — a
/// dense layer with what comes before and after it, in one pass over C. `bias` (n floats) and
/// `residual` ([m × n], rows `ldr` floats apart; null for none) are offset like `c` for a split
/// of the columns. Each value of C is the one that filling C with residual + bias, calling
/// `trove_gemm_packed` and applying `trove_gelu` (its AVX2 path) gives, bit for bit.
void trove_gemm_packed_bias(
    size_t m, size_t n, size_t k, const float *a, size_t lda, const float *packed, const float *bias, const float *residual,
    size_t ldr, int gelu, float *c, size_t ldc);

/// What `trove_gemm_packed` reaches in GFLOP/s on one core, for about `seconds`, multiplying one
/// tile of 12 rows by 32 columns over a depth of 384 again and again: operands that never leave
/// L1, so the most any of the model's products can reach on that core. Needs AVX-512F, like
/// the product itself.
double trove_gemm_packed_tile_gflops(double seconds);

/// What one core of this CPU reaches in GFLOP/s (a multiply and an add counted apart) running
/// nothing but independent fused multiply-adds, 16 floats wide where it has AVX-512F, 8 with
/// AVX2 and FMA, for about `seconds`: the ceiling of any F32 product on that core. 0 on a CPU
/// with neither.
double trove_fma_peak_gflops(double seconds);

#endif
