/*
 * kernels.c - dot products of quantized weight rows with f32 activations:
 * AVX-512 and AVX2 paths chosen at run time from CPUID, and the portable
 * scalar path of quant.c as the reference (forced with RELIEF_SCALAR=1).
 *
 * Activations stay f32 (weights are decoded exactly to f32 in registers),
 * so every path computes the same mathematical value as the reference and
 * differs only by summation order.
 */
#include "kernels.h"
#include "gguf.h"
#include "quant.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float e8m0_table[256];
static float fp16_table[65536];

static void init_tables(void)
{
    for (int e = 0; e < 256; e++)
        e8m0_table[e] = ldexpf(1.0f, e - 127);
    for (int h = 0; h < 65536; h++)
        fp16_table[h] = q_fp16_to_f32((uint16_t)h);
}

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* ---- AVX-512 ---- */

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float dot_mxfp4_avx512(const uint8_t *row,
                                                                                     const float *x, size_t n)
{
    const __m512 lut = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t nb = n / 32;
    size_t b = 0;
    for (; b + 1 < nb; b += 2) {
        const uint8_t *blk = row + b * 17;
        __m128i qa = _mm_loadu_si128((const __m128i *)(blk + 1));
        __m128i qb = _mm_loadu_si128((const __m128i *)(blk + 18));
        __m512 wa0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(qa, m4)), lut);
        __m512 wa1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(qa, 4), m4)), lut);
        __m512 wb0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(qb, m4)), lut);
        __m512 wb1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(qb, 4), m4)), lut);
        const float *xa = x + b * 32;
        __m512 ta = _mm512_mul_ps(wa0, _mm512_loadu_ps(xa));
        ta = _mm512_fmadd_ps(wa1, _mm512_loadu_ps(xa + 16), ta);
        __m512 tb = _mm512_mul_ps(wb0, _mm512_loadu_ps(xa + 32));
        tb = _mm512_fmadd_ps(wb1, _mm512_loadu_ps(xa + 48), tb);
        acc0 = _mm512_fmadd_ps(ta, _mm512_set1_ps(e8m0_table[blk[0]]), acc0);
        acc1 = _mm512_fmadd_ps(tb, _mm512_set1_ps(e8m0_table[blk[17]]), acc1);
    }
    for (; b < nb; b++) {
        const uint8_t *blk = row + b * 17;
        __m128i q = _mm_loadu_si128((const __m128i *)(blk + 1));
        __m512 w0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, m4)), lut);
        __m512 w1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m4)), lut);
        __m512 t = _mm512_mul_ps(w0, _mm512_loadu_ps(x + b * 32));
        t = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + b * 32 + 16), t);
        acc0 = _mm512_fmadd_ps(t, _mm512_set1_ps(e8m0_table[blk[0]]), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float dot_q8_0_avx512(const uint8_t *row,
                                                                                    const float *x, size_t n)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t nb = n / 32;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * 34;
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
        __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
        __m512 t = _mm512_mul_ps(w0, _mm512_loadu_ps(x + b * 32));
        t = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + b * 32 + 16), t);
        __m512 d = _mm512_set1_ps(fp16_table[rd16(blk)]);
        if (b & 1)
            acc1 = _mm512_fmadd_ps(t, d, acc1);
        else
            acc0 = _mm512_fmadd_ps(t, d, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float dot_f32_avx512(const uint8_t *row, const float *x,
                                                                                   size_t n)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(row + 4 * i)), _mm512_loadu_ps(x + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++) {
        float w;
        memcpy(&w, row + 4 * i, 4);
        s += w * x[i];
    }
    return s;
}

/* ---- AVX2 ---- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 codes (low 4 bits of 8 bytes) to floats: magnitude from an 8-entry
 * table, sign from bit 3. */
__attribute__((target("avx2,fma"))) static inline __m256 fp4x8(__m128i bytes8, __m256 mag)
{
    __m256i c = _mm256_cvtepu8_epi32(bytes8);
    __m256 v = _mm256_permutevar8x32_ps(mag, c);
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, _mm256_set1_epi32(8)), 28);
    return _mm256_xor_ps(v, _mm256_castsi256_ps(sign));
}

__attribute__((target("avx2,fma"))) static float dot_mxfp4_avx2(const uint8_t *row, const float *x, size_t n)
{
    const __m256 mag = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 17;
        __m128i q = _mm_loadu_si128((const __m128i *)(blk + 1));
        __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
        const float *xb = x + b * 32;
        __m256 t = _mm256_mul_ps(fp4x8(lo, mag), _mm256_loadu_ps(xb));
        t = _mm256_fmadd_ps(fp4x8(_mm_srli_si128(lo, 8), mag), _mm256_loadu_ps(xb + 8), t);
        t = _mm256_fmadd_ps(fp4x8(hi, mag), _mm256_loadu_ps(xb + 16), t);
        t = _mm256_fmadd_ps(fp4x8(_mm_srli_si128(hi, 8), mag), _mm256_loadu_ps(xb + 24), t);
        acc = _mm256_fmadd_ps(t, _mm256_set1_ps(e8m0_table[blk[0]]), acc);
    }
    return hsum256(acc);
}

__attribute__((target("avx2,fma"))) static float dot_q8_0_avx2(const uint8_t *row, const float *x, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 34;
        const float *xb = x + b * 32;
        __m256 t = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            __m128i q8 = _mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * k));
            t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), _mm256_loadu_ps(xb + 8 * k), t);
        }
        acc = _mm256_fmadd_ps(t, _mm256_set1_ps(fp16_table[rd16(blk)]), acc);
    }
    return hsum256(acc);
}

/* ---- dispatch ---- */

static float dot_scalar_mxfp4(const uint8_t *r, const float *x, size_t n) { return q_dot_row(GGML_MXFP4, r, x, n); }
static float dot_scalar_mxfp4o(const uint8_t *r, const float *x, size_t n)
{
    return q_dot_row(GGML_MXFP4_OLLAMA, r, x, n);
}
static float dot_scalar_q8_0(const uint8_t *r, const float *x, size_t n) { return q_dot_row(GGML_Q8_0, r, x, n); }
static float dot_scalar_f32(const uint8_t *r, const float *x, size_t n) { return q_dot_row(GGML_F32, r, x, n); }
static float dot_scalar_f16(const uint8_t *r, const float *x, size_t n) { return q_dot_row(GGML_F16, r, x, n); }
static float dot_scalar_bf16(const uint8_t *r, const float *x, size_t n) { return q_dot_row(GGML_BF16, r, x, n); }

static kern_level level = KERN_SCALAR;
static bool initialised;

kern_level kern_init(void)
{
    if (initialised)
        return level;
    init_tables();
    const char *env = getenv("RELIEF_SCALAR");
    __builtin_cpu_init();
    if (env && *env && strcmp(env, "0"))
        level = KERN_SCALAR;
    else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl"))
        level = KERN_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        level = KERN_AVX2;
    else
        level = KERN_SCALAR;
    initialised = true;
    return level;
}

const char *kern_level_name(kern_level l)
{
    return l == KERN_AVX512 ? "avx512" : l == KERN_AVX2 ? "avx2" : "scalar";
}

kern_dot_fn kern_dot_for(uint32_t type, kern_level l)
{
    switch (type) {
    case GGML_MXFP4:
        return l == KERN_AVX512 ? dot_mxfp4_avx512 : l == KERN_AVX2 ? dot_mxfp4_avx2 : dot_scalar_mxfp4;
    case GGML_MXFP4_OLLAMA:
        return dot_scalar_mxfp4o; /* re-packed to ggml order at load when fast paths matter */
    case GGML_Q8_0:
        return l == KERN_AVX512 ? dot_q8_0_avx512 : l == KERN_AVX2 ? dot_q8_0_avx2 : dot_scalar_q8_0;
    case GGML_F32:
        return l == KERN_AVX512 ? dot_f32_avx512 : dot_scalar_f32;
    case GGML_F16:
        return dot_scalar_f16;
    case GGML_BF16:
        return dot_scalar_bf16;
    }
    return NULL;
}

kern_dot_fn kern_dot(uint32_t type)
{
    return kern_dot_for(type, kern_init());
}
