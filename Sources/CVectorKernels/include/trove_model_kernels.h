#ifndef TROVE_MODEL_KERNELS_H
#define TROVE_MODEL_KERNELS_H

#include <stddef.h>

// The steps of a transformer pass between its matrix products, in C so that x86-64 gets AVX2
// and FMA (chosen at run time) where Swift compiles for the baseline's SSE2. exp and erf are the
// same approximations on both paths: exp by Cody-Waite reduction and a degree-6 polynomial
// (relative error below 2e-7), erf by Abramowitz and Stegun 7.1.26 (absolute error below
// 1.5e-7). `use_avx2` must be 0 unless `trove_kernels_use_avx2()` is 1.

/// Exact-form GELU in place: x·½·(1 + erf(x/√2)).
void trove_gelu(float *values, size_t count, int use_avx2);

/// Softmax of each row of a row-major [rows × columns] matrix, in place.
void trove_softmax_rows(float *matrix, size_t rows, size_t columns, int use_avx2);

/// Layer norm of each row of a row-major [rows × width] matrix into `output` (which may be
/// `input`): biased variance, statistics accumulated in double, then
/// (x − mean) / √(variance + epsilon) · weight + bias.
void trove_layer_norm(const float *input, float *output, size_t rows, size_t width, const float *weight,
                      const float *bias, double epsilon, int use_avx2);

#endif
