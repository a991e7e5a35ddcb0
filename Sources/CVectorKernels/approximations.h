#ifndef TROVE_APPROXIMATIONS_H
#define TROVE_APPROXIMATIONS_H

// The constants of the exp and erf approximations that the model's kernels share
// (trove_model_kernels.h describes them), and GELU on sixteen lanes for the packed products'
// last step. Private to this target.

// Inputs to exp are clamped to [-87.3, 88.3]: no denormals, no infinities.
#define EXP_LOW (-87.3f)
#define EXP_HIGH 88.3f
#define LOG2E 1.44269504f
// ln 2 split in two, so that n·LN2_HIGH is exact for the n that occur.
#define LN2_HIGH 0.69314575f
#define LN2_LOW 1.4286068e-6f
// 1.5·2²³: adding it rounds to the nearest integer and leaves that integer in the low bits.
#define ROUNDING_MAGIC 12582912.0f
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 (-0.284496736f)
#define ERF_A3 1.421413741f
#define ERF_A4 (-1.453152027f)
#define ERF_A5 1.061405429f
#define INVERSE_ROOT_TWO 0.70710678118654752f

#if defined(__x86_64__)
#include <immintrin.h>

// The AVX2 path's operations (model_kernels.c) on sixteen lanes, in the same order, so that a
// value comes out bit for bit the same either way.

__attribute__((target("avx512f"))) static inline __m512 trove_exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LOW)), _mm512_set1_ps(EXP_HIGH));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HIGH), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LOW), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i exponent = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(exponent));
}

/// Exact-form GELU, x·½·(1 + erf(x/√2)), with erf by Abramowitz and Stegun 7.1.26. The sign
/// operations go through the integer forms: AVX-512F has no float and/or/xor.
__attribute__((target("avx512f"))) static inline __m512 trove_gelu_avx512(__m512 x) {
    __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512 scaled = _mm512_mul_ps(x, _mm512_set1_ps(INVERSE_ROOT_TWO));
    __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(scaled)));
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), a, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(ERF_A5);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A1));
    p = _mm512_mul_ps(p, t);
    __m512 negatedSquare = _mm512_castsi512_ps(_mm512_xor_si512(sign, _mm512_castps_si512(_mm512_mul_ps(a, a))));
    __m512 magnitude = _mm512_fnmadd_ps(p, trove_exp_avx512(negatedSquare), _mm512_set1_ps(1.0f));
    __m512 erf = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(magnitude), _mm512_and_si512(sign, _mm512_castps_si512(scaled))));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

#endif

#endif
