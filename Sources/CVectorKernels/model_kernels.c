#include <math.h>
#include <stdint.h>
#include <string.h>

#include "CVectorKernels.h"

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

// MARK: Portable (the compiler vectorises the exp and erf loops for SSE2 or NEON; layer norm's
// double sums stay in order, so scalar)

static inline float exp_portable(float x) {
    x = x < EXP_LOW ? EXP_LOW : (x > EXP_HIGH ? EXP_HIGH : x);
    float shifted = x * LOG2E + ROUNDING_MAGIC;
    float n = shifted - ROUNDING_MAGIC;
    float r = x - n * LN2_HIGH;
    r = r - n * LN2_LOW;
    // e^r by its Taylor series to r⁶/720 (|r| ≤ 0.35).
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2ⁿ from the exponent bits: (n + 127)·2²³.
    int32_t shifted_bits, magic_bits;
    const float magic = ROUNDING_MAGIC;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    int32_t exponent_bits = (shifted_bits - magic_bits + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &exponent_bits, sizeof scale);
    return p * scale;
}

static inline float erf_portable(float x) {
    float a = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + ERF_P * a);
    float p = ERF_A5;
    p = p * t + ERF_A4;
    p = p * t + ERF_A3;
    p = p * t + ERF_A2;
    p = p * t + ERF_A1;
    p = p * t;
    float magnitude = 1.0f - p * exp_portable(-(a * a));
    return x < 0 ? -magnitude : magnitude;
}

static void gelu_portable(float *values, size_t count) {
    for (size_t i = 0; i < count; i++) {
        float x = values[i];
        values[i] = x * 0.5f * (1.0f + erf_portable(x * INVERSE_ROOT_TWO));
    }
}

static void softmax_row_portable(float *row, size_t columns) {
    float largest = row[0];
    for (size_t j = 1; j < columns; j++) largest = row[j] > largest ? row[j] : largest;
    float sum = 0;
    for (size_t j = 0; j < columns; j++) {
        row[j] = exp_portable(row[j] - largest);
        sum += row[j];
    }
    float inverse = 1.0f / sum;
    for (size_t j = 0; j < columns; j++) row[j] *= inverse;
}

static void layer_norm_row_portable(const float *x, float *y, size_t width, const float *weight, const float *bias,
                                    double epsilon) {
    double sum = 0;
    for (size_t j = 0; j < width; j++) sum += x[j];
    double mean = sum / (double)width;
    double squares = 0;
    for (size_t j = 0; j < width; j++) {
        double centred = x[j] - mean;
        squares += centred * centred;
    }
    float inverse_deviation = (float)(1 / sqrt(squares / (double)width + epsilon));
    float mean_float = (float)mean;
    for (size_t j = 0; j < width; j++) y[j] = (x[j] - mean_float) * inverse_deviation * weight[j] + bias[j];
}

#if defined(__x86_64__)
#include <immintrin.h>

// MARK: AVX2 and FMA, eight floats at a time

__attribute__((target("avx2,fma"))) static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LOW)), _mm256_set1_ps(EXP_HIGH));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HIGH), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LOW), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu_avx2_lanes(__m256 x) {
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 scaled = _mm256_mul_ps(x, _mm256_set1_ps(INVERSE_ROOT_TWO));
    __m256 a = _mm256_andnot_ps(sign, scaled);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(ERF_A5);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A1));
    p = _mm256_mul_ps(p, t);
    __m256 magnitude = _mm256_fnmadd_ps(p, exp_avx2(_mm256_xor_ps(sign, _mm256_mul_ps(a, a))), _mm256_set1_ps(1.0f));
    __m256 erf = _mm256_or_ps(magnitude, _mm256_and_ps(sign, scaled));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

// Lanes 0..<count (count < 8) set, for masked loads and stores of a row's tail.
__attribute__((target("avx2,fma"))) static inline __m256i tail_mask(size_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) static void gelu_avx2(float *values, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(values + i, gelu_avx2_lanes(_mm256_loadu_ps(values + i)));
    }
    if (i < count) {
        __m256i mask = tail_mask(count - i);
        _mm256_maskstore_ps(values + i, mask, gelu_avx2_lanes(_mm256_maskload_ps(values + i, mask)));
    }
}

__attribute__((target("avx2,fma"))) static inline float horizontal_max(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ps(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma"))) static inline float horizontal_add(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ps(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma"))) static void softmax_row_avx2(float *row, size_t columns) {
    size_t full = columns & ~(size_t)7;
    __m256i mask = tail_mask(columns - full);
    __m256 negative_infinity = _mm256_set1_ps(-__builtin_inff());

    __m256 largest = negative_infinity;
    for (size_t j = 0; j < full; j += 8) largest = _mm256_max_ps(largest, _mm256_loadu_ps(row + j));
    if (full < columns) {
        __m256 tail = _mm256_blendv_ps(negative_infinity, _mm256_maskload_ps(row + full, mask), _mm256_castsi256_ps(mask));
        largest = _mm256_max_ps(largest, tail);
    }
    __m256 shift = _mm256_set1_ps(horizontal_max(largest));

    __m256 sums = _mm256_setzero_ps();
    for (size_t j = 0; j < full; j += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + j), shift));
        _mm256_storeu_ps(row + j, e);
        sums = _mm256_add_ps(sums, e);
    }
    if (full < columns) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(row + full, mask), shift));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(row + full, mask, e);
        sums = _mm256_add_ps(sums, e);
    }
    __m256 inverse = _mm256_set1_ps(1.0f / horizontal_add(sums));

    for (size_t j = 0; j < full; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inverse));
    if (full < columns) {
        _mm256_maskstore_ps(row + full, mask, _mm256_mul_ps(_mm256_maskload_ps(row + full, mask), inverse));
    }
}

__attribute__((target("avx2,fma"))) static inline double horizontal_add_double(__m256d v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}

__attribute__((target("avx2,fma"))) static void layer_norm_row_avx2(const float *x, float *y, size_t width, const float *weight,
                                                                    const float *bias, double epsilon) {
    size_t full = width & ~(size_t)7;
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    for (size_t j = 0; j < full; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double sum = horizontal_add_double(_mm256_add_pd(low, high));
    for (size_t j = full; j < width; j++) sum += x[j];
    double mean = sum / (double)width;

    __m256d centre = _mm256_set1_pd(mean);
    low = _mm256_setzero_pd();
    high = _mm256_setzero_pd();
    for (size_t j = 0; j < full; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), centre);
        __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), centre);
        low = _mm256_fmadd_pd(a, a, low);
        high = _mm256_fmadd_pd(b, b, high);
    }
    double squares = horizontal_add_double(_mm256_add_pd(low, high));
    for (size_t j = full; j < width; j++) {
        double centred = x[j] - mean;
        squares += centred * centred;
    }
    float inverse_deviation = (float)(1 / sqrt(squares / (double)width + epsilon));
    float mean_float = (float)mean;

    __m256 mean_lanes = _mm256_set1_ps(mean_float);
    __m256 scale = _mm256_set1_ps(inverse_deviation);
    for (size_t j = 0; j < full; j += 8) {
        __m256 normalised = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), mean_lanes), scale);
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(normalised, _mm256_loadu_ps(weight + j), _mm256_loadu_ps(bias + j)));
    }
    for (size_t j = full; j < width; j++) y[j] = (x[j] - mean_float) * inverse_deviation * weight[j] + bias[j];
}

void trove_gelu(float *values, size_t count, int use_avx2) {
    if (use_avx2) {
        gelu_avx2(values, count);
    } else {
        gelu_portable(values, count);
    }
}

void trove_softmax_rows(float *matrix, size_t rows, size_t columns, int use_avx2) {
    if (columns == 0) return;
    for (size_t r = 0; r < rows; r++) {
        if (use_avx2) {
            softmax_row_avx2(matrix + r * columns, columns);
        } else {
            softmax_row_portable(matrix + r * columns, columns);
        }
    }
}

void trove_layer_norm(const float *input, float *output, size_t rows, size_t width, const float *weight,
                      const float *bias, double epsilon, int use_avx2) {
    for (size_t r = 0; r < rows; r++) {
        if (use_avx2) {
            layer_norm_row_avx2(input + r * width, output + r * width, width, weight, bias, epsilon);
        } else {
            layer_norm_row_portable(input + r * width, output + r * width, width, weight, bias, epsilon);
        }
    }
}

#else

void trove_gelu(float *values, size_t count, int use_avx2) {
    (void)use_avx2;
    gelu_portable(values, count);
}

void trove_softmax_rows(float *matrix, size_t rows, size_t columns, int use_avx2) {
    (void)use_avx2;
    if (columns == 0) return;
    for (size_t r = 0; r < rows; r++) softmax_row_portable(matrix + r * columns, columns);
}

void trove_layer_norm(const float *input, float *output, size_t rows, size_t width, const float *weight,
                      const float *bias, double epsilon, int use_avx2) {
    (void)use_avx2;
    for (size_t r = 0; r < rows; r++) {
        layer_norm_row_portable(input + r * width, output + r * width, width, weight, bias, epsilon);
    }
}

#endif
