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
        /* vpermps reads only bits 3:0 of each index: the zero-extended byte
         * indexes its low nibble as is, and shifted right by 4 its high one. */
        const uint8_t *blk = row + b * 17;
        __m512i ia = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 1)));
        __m512i ib = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)));
        __m512 wa0 = _mm512_permutexvar_ps(ia, lut);
        __m512 wa1 = _mm512_permutexvar_ps(_mm512_srli_epi32(ia, 4), lut);
        __m512 wb0 = _mm512_permutexvar_ps(ib, lut);
        __m512 wb1 = _mm512_permutexvar_ps(_mm512_srli_epi32(ib, 4), lut);
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

/* Decoding whole rows to f32 (for batched products, where a row is
 * decoded once and used for many tokens). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void dequant_mxfp4_avx512(const uint8_t *row, float *out,
                                                                                       size_t n)
{
    const __m512 lut = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 17;
        __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 1))); /* bits 3:0 = low nibble */
        __m512 s = _mm512_set1_ps(e8m0_table[blk[0]]);
        _mm512_storeu_ps(out + b * 32, _mm512_mul_ps(s, _mm512_permutexvar_ps(idx, lut)));
        _mm512_storeu_ps(out + b * 32 + 16, _mm512_mul_ps(s, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 4), lut)));
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void dequant_q8_0_avx512(const uint8_t *row, float *out,
                                                                                      size_t n)
{
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 34;
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m512 d = _mm512_set1_ps(fp16_table[rd16(blk)]);
        _mm512_storeu_ps(out + b * 32, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)))));
        _mm512_storeu_ps(out + b * 32 + 16,
                         _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)))));
    }
}

/* Y[t][r] += dot(W[r], X[t]) for 4 rows x 4 tokens at a time: each weight
 * vector loaded once serves four tokens and each activation vector four
 * rows, so the loop is bound by FMAs, not loads. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void gemm_f32_avx512(const float *W, size_t ldw,
                                                                                  uint32_t rows, const float *X,
                                                                                  size_t ldx, uint32_t T, size_t n,
                                                                                  float *Y, size_t ldy)
{
    uint32_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = W + (size_t)r * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        uint32_t t = 0;
        for (; t + 4 <= T; t += 4) {
            const float *x0 = X + (size_t)t * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                   a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (size_t k = 0; k < n; k += 16) {
                __m512 v0 = _mm512_loadu_ps(x0 + k), v1 = _mm512_loadu_ps(x1 + k), v2 = _mm512_loadu_ps(x2 + k),
                       v3 = _mm512_loadu_ps(x3 + k);
                __m512 u = _mm512_loadu_ps(w0 + k);
                a00 = _mm512_fmadd_ps(u, v0, a00); a01 = _mm512_fmadd_ps(u, v1, a01);
                a02 = _mm512_fmadd_ps(u, v2, a02); a03 = _mm512_fmadd_ps(u, v3, a03);
                u = _mm512_loadu_ps(w1 + k);
                a10 = _mm512_fmadd_ps(u, v0, a10); a11 = _mm512_fmadd_ps(u, v1, a11);
                a12 = _mm512_fmadd_ps(u, v2, a12); a13 = _mm512_fmadd_ps(u, v3, a13);
                u = _mm512_loadu_ps(w2 + k);
                a20 = _mm512_fmadd_ps(u, v0, a20); a21 = _mm512_fmadd_ps(u, v1, a21);
                a22 = _mm512_fmadd_ps(u, v2, a22); a23 = _mm512_fmadd_ps(u, v3, a23);
                u = _mm512_loadu_ps(w3 + k);
                a30 = _mm512_fmadd_ps(u, v0, a30); a31 = _mm512_fmadd_ps(u, v1, a31);
                a32 = _mm512_fmadd_ps(u, v2, a32); a33 = _mm512_fmadd_ps(u, v3, a33);
            }
            float *y0 = Y + (size_t)t * ldy + r, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
            y0[0] += _mm512_reduce_add_ps(a00); y1[0] += _mm512_reduce_add_ps(a01);
            y2[0] += _mm512_reduce_add_ps(a02); y3[0] += _mm512_reduce_add_ps(a03);
            y0[1] += _mm512_reduce_add_ps(a10); y1[1] += _mm512_reduce_add_ps(a11);
            y2[1] += _mm512_reduce_add_ps(a12); y3[1] += _mm512_reduce_add_ps(a13);
            y0[2] += _mm512_reduce_add_ps(a20); y1[2] += _mm512_reduce_add_ps(a21);
            y2[2] += _mm512_reduce_add_ps(a22); y3[2] += _mm512_reduce_add_ps(a23);
            y0[3] += _mm512_reduce_add_ps(a30); y1[3] += _mm512_reduce_add_ps(a31);
            y2[3] += _mm512_reduce_add_ps(a32); y3[3] += _mm512_reduce_add_ps(a33);
        }
        for (; t < T; t++) { /* leftover tokens: 4 rows x 1 token */
            const float *x0 = X + (size_t)t * ldx;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (size_t k = 0; k < n; k += 16) {
                __m512 v = _mm512_loadu_ps(x0 + k);
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + k), v, a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + k), v, a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + k), v, a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + k), v, a3);
            }
            float *y = Y + (size_t)t * ldy + r;
            y[0] += _mm512_reduce_add_ps(a0);
            y[1] += _mm512_reduce_add_ps(a1);
            y[2] += _mm512_reduce_add_ps(a2);
            y[3] += _mm512_reduce_add_ps(a3);
        }
    }
    for (; r < rows; r++)
        for (uint32_t t = 0; t < T; t++)
            Y[(size_t)t * ldy + r] += dot_f32_avx512((const uint8_t *)(W + (size_t)r * ldw), X + (size_t)t * ldx, n);
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

/* ---- portable batched product and row decoding ---- */

static void gemm_f32_scalar(const float *W, size_t ldw, uint32_t rows, const float *X, size_t ldx, uint32_t T,
                            size_t n, float *Y, size_t ldy)
{
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t r = 0; r < rows; r++)
            Y[(size_t)t * ldy + r] += q_dot_row(GGML_F32, (const uint8_t *)(W + (size_t)r * ldw), X + (size_t)t * ldx, n);
}

static void dequant_mxfp4_scalar(const uint8_t *r, float *o, size_t n) { q_dequant_row(GGML_MXFP4, r, o, n); }
static void dequant_mxfp4o_scalar(const uint8_t *r, float *o, size_t n) { q_dequant_row(GGML_MXFP4_OLLAMA, r, o, n); }
static void dequant_q8_0_scalar(const uint8_t *r, float *o, size_t n) { q_dequant_row(GGML_Q8_0, r, o, n); }
static void dequant_f32(const uint8_t *r, float *o, size_t n) { memcpy(o, r, n * sizeof *o); }
static void dequant_f16(const uint8_t *r, float *o, size_t n) { q_dequant_row(GGML_F16, r, o, n); }
static void dequant_bf16(const uint8_t *r, float *o, size_t n) { q_dequant_row(GGML_BF16, r, o, n); }

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

kern_dequant_fn kern_dequant_for(uint32_t type, kern_level l)
{
    switch (type) {
    case GGML_MXFP4: return l == KERN_AVX512 ? dequant_mxfp4_avx512 : dequant_mxfp4_scalar;
    case GGML_MXFP4_OLLAMA: return dequant_mxfp4o_scalar;
    case GGML_Q8_0: return l == KERN_AVX512 ? dequant_q8_0_avx512 : dequant_q8_0_scalar;
    case GGML_F32: return dequant_f32;
    case GGML_F16: return dequant_f16;
    case GGML_BF16: return dequant_bf16;
    }
    return NULL;
}

kern_dequant_fn kern_dequant(uint32_t type)
{
    return kern_dequant_for(type, kern_init());
}

kern_gemm_fn kern_gemm_for(kern_level l)
{
    return l == KERN_AVX512 ? gemm_f32_avx512 : gemm_f32_scalar;
}

kern_gemm_fn kern_gemm(void)
{
    return kern_gemm_for(kern_init());
}

/* ---- small f32 vector operations (attention) ---- */

__attribute__((target("avx512f"))) static float vdot_avx512(const float *a, const float *b, size_t n)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx512f"))) static void vaxpy_avx512(float *y, float a, const float *x, size_t n)
{
    __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static float vdot_scalar(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void vaxpy_scalar(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

kern_vdot_fn kern_vdot_for(kern_level l)
{
    return l == KERN_AVX512 ? vdot_avx512 : vdot_scalar;
}

kern_vaxpy_fn kern_vaxpy_for(kern_level l)
{
    return l == KERN_AVX512 ? vaxpy_avx512 : vaxpy_scalar;
}

kern_vdot_fn kern_vdot(void)
{
    return kern_vdot_for(kern_init());
}

kern_vaxpy_fn kern_vaxpy(void)
{
    return kern_vaxpy_for(kern_init());
}
