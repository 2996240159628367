/*
 * kernels.c - dot products of quantized weight rows with f32 activations:
 * AVX-512 and AVX2 paths chosen at run time from CPUID, and the portable
 * scalar path of quant.c as the reference (forced with RELIEF_SCALAR=1).
 *
 * With f32 activations (the exact path) weights are decoded exactly to f32
 * in registers, so every level computes the same mathematical value as the
 * reference and differs only by summation order. The fast path (second
 * half of the file) quantizes the activations to 8-bit integers and
 * multiplies integers (AVX-512 VNNI, AVX-VNNI, AVX2); its reference is
 * quant.c's q_qdot_row, and the levels again differ only in the order of
 * the float sum over blocks.
 */
#include "kernels.h"
#include "gguf.h"
#include "kernels_amx.h"
#include "quant.h"

#include <assert.h>
#include <cpuid.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float e8m0_table[256];
/* 2^(e - 128): MXFP4's scale for the doubled E2M1 integers of the fast path. */
static float fp16_table[65536];

static float e8m0_half_table[256];

static void init_tables(void)
{
    for (int e = 0; e < 256; e++) {
        e8m0_table[e] = ldexpf(1.0f, e - 127);
        e8m0_half_table[e] = ldexpf(1.0f, e - 128);
    }
    e8m0_half_table[0] = 0.0f; /* the fast path's rules (quant.h) */
    e8m0_half_table[255] = INFINITY;
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

/* ---- the fast path: 8-bit activations and integer dot products ----
 *
 * Format and reference: quant.h (q_quant_q8_row, q_qdot_row). Vectors have
 * one or two terms ("terms"); the kernels take the weights' integers once
 * and multiply them with each term. The integer products are exact, so
 * the levels differ only in the order of the float sum over blocks.
 *
 * vpdpbusd multiplies unsigned by signed bytes. The VNNI kernels add 128
 * to the weights (unsigned 0..255) and start each block's sum at the
 * activation's c = -128 * sum(q), which undoes it. vpmaddubsw (plain
 * AVX2) would saturate on such products, so the AVX2 kernels move the
 * weight's sign onto the activation instead (|w| * (x sign w); exact:
 * |w| <= 128, |x| <= 127, and 2 x 128 x 127 < 32768). */

/* ---- quantizing activations ---- */

/* Block b's c, d and total into its group of term xq (quant.h's layout),
 * from its q already stored there. */
static inline void q8_put_scale(uint8_t *xq, size_t b, float d)
{
    uint8_t *g = xq + b / 4 * 320;
    const int8_t *q = (const int8_t *)(g + b % 4 * 16);
    int32_t c[4], total = 0;
    for (int l = 0; l < 4; l++) {
        int32_t s = 0;
        for (int i = 0; i < 4; i++)
            s += q[4 * l + i] + q[64 + 4 * l + i];
        total += c[l] = -128 * s;
        memcpy(g + 192 + b % 4 * 16 + 4 * l, &d, 4);
    }
    memcpy(g + 128 + b % 4 * 16, c, 16);
    memcpy(g + 256 + b % 4 * 4, &total, 4);
}

/* Block b as all zeros (q = 0) with quantum d in term xq. */
static inline void q8_put_zero(uint8_t *xq, size_t b, float d)
{
    uint8_t *g = xq + b / 4 * 320 + b % 4 * 16;
    memset(g, 0, 16);
    memset(g + 64, 0, 16);
    q8_put_scale(xq, b, d);
}

/* The bytes no block writes: each group's padding and, in a last group of
 * fewer than 4 blocks, the missing blocks; in every term. */
static void q8_clear(uint8_t *xq, size_t n, int terms)
{
    size_t nb = n / 32;
    for (int k = 0; k < terms; k++) {
        uint8_t *t = xq + (size_t)k * Q_Q8_BYTES(n);
        for (size_t G = 0; G < nb / 4; G++)
            memset(t + G * 320 + 272, 0, 48);
        if (nb % 4)
            memset(t + nb / 4 * 320, 0, 320);
    }
}

/* Per block: from a = max |x| (and whether all are finite), the quantum d,
 * 127 / a and 254 / d; false when the block is all zeros (d = 0 or NaN). */
static inline bool q8_block_scale(float a, bool finite, float *d, float *id, float *id2)
{
    if (!finite || a < 0x1p-100f) {
        *d = finite ? 0.0f : NAN;
        return false;
    }
    *d = a / 127.0f;
    *id = 127.0f / a;
    *id2 = 254.0f / *d;
    return true;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void quant_q8_avx512(const float *x, uint8_t *xq,
                                                                                   size_t n, int terms)
{
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    const __m512i lim = _mm512_set1_epi32(127);
    uint8_t *xq2 = xq + Q_Q8_BYTES(n);
    q8_clear(xq, n, terms);
    for (size_t b = 0; b < n / 32; b++) {
        size_t o = b / 4 * 320 + b % 4 * 16; /* the block's low half; + 64: high */
        __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
        /* !(|x| <= FLT_MAX): infinite or NaN. */
        bool finite = (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ)) == 0;
        float d, id, id2;
        if (!q8_block_scale(finite ? _mm512_reduce_max_ps(_mm512_max_ps(a0, a1)) : 0.0f, finite, &d, &id, &id2)) {
            q8_put_zero(xq, b, d);
            if (terms == 2)
                q8_put_zero(xq2, b, d / 254.0f);
            continue;
        }
        /* cvtps rounds to nearest even, as lrintf in the reference. */
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)(xq + o), _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(xq + o + 64), _mm512_cvtepi32_epi8(i1));
        q8_put_scale(xq, b, d);
        if (terms == 2) { /* r = x - d q (a product and a difference, as the reference) */
            __m512 vd = _mm512_set1_ps(d), vid2 = _mm512_set1_ps(id2);
            __m512 r0 = _mm512_sub_ps(v0, _mm512_mul_ps(vd, _mm512_cvtepi32_ps(i0)));
            __m512 r1 = _mm512_sub_ps(v1, _mm512_mul_ps(vd, _mm512_cvtepi32_ps(i1)));
            __m512i j0 = _mm512_cvtps_epi32(_mm512_mul_ps(r0, vid2)), j1 = _mm512_cvtps_epi32(_mm512_mul_ps(r1, vid2));
            j0 = _mm512_max_epi32(_mm512_min_epi32(j0, lim), _mm512_sub_epi32(_mm512_setzero_si512(), lim));
            j1 = _mm512_max_epi32(_mm512_min_epi32(j1, lim), _mm512_sub_epi32(_mm512_setzero_si512(), lim));
            _mm_storeu_si128((__m128i *)(xq2 + o), _mm512_cvtepi32_epi8(j0));
            _mm_storeu_si128((__m128i *)(xq2 + o + 64), _mm512_cvtepi32_epi8(j1));
            q8_put_scale(xq2, b, d / 254.0f);
        }
    }
}

/* 32 int32 (in 4 vectors, elements in order) to bytes: the low half (0-15)
 * to lo, the high half to hi. The packs work within 128-bit lanes: dwords
 * come out as i0[0:3] i1[0:3] i2[0:3] i3[0:3] i0[4:7] ...; put them back. */
__attribute__((target("avx2,fma"))) static inline void pack32_avx2(__m256i i0, __m256i i1, __m256i i2, __m256i i3,
                                                                   uint8_t *lo, uint8_t *hi)
{
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storeu_si128((__m128i *)lo, _mm256_castsi256_si128(p));
    _mm_storeu_si128((__m128i *)hi, _mm256_extracti128_si256(p, 1));
}

__attribute__((target("avx2,fma"))) static void quant_q8_avx2(const float *x, uint8_t *xq, size_t n, int terms)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX);
    const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
    uint8_t *xq2 = xq + Q_Q8_BYTES(n);
    q8_clear(xq, n, terms);
    for (size_t b = 0; b < n / 32; b++) {
        size_t o = b / 4 * 320 + b % 4 * 16;
        __m256 v[4], m = _mm256_setzero_ps();
        int bad = 0;
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + b * 32 + 8 * k);
            __m256 a = _mm256_and_ps(v[k], absmask);
            bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));
            m = _mm256_max_ps(m, a);
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float d, id, id2;
        if (!q8_block_scale(_mm_cvtss_f32(h), !bad, &d, &id, &id2)) {
            q8_put_zero(xq, b, d);
            if (terms == 2)
                q8_put_zero(xq2, b, d / 254.0f);
            continue;
        }
        __m256i i[4], j[4];
        for (int k = 0; k < 4; k++)
            i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
        pack32_avx2(i[0], i[1], i[2], i[3], xq + o, xq + o + 64);
        q8_put_scale(xq, b, d);
        if (terms == 2) {
            for (int k = 0; k < 4; k++) {
                __m256 r = _mm256_sub_ps(v[k], _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(i[k])));
                j[k] = _mm256_cvtps_epi32(_mm256_mul_ps(r, _mm256_set1_ps(id2)));
                j[k] = _mm256_max_epi32(_mm256_min_epi32(j[k], lim), nlim);
            }
            pack32_avx2(j[0], j[1], j[2], j[3], xq2 + o, xq2 + o + 64);
            q8_put_scale(xq2, b, d / 254.0f);
        }
    }
}

static void quant_q8_scalar(const float *x, uint8_t *xq, size_t n, int terms)
{
    q_quant_q8_row(x, xq, n, terms);
}

/* ---- row kernels, AVX-512 VNNI: one group of 4 blocks per step ----
 * Both kernels gather the group's weights into two vectors laid out like
 * the activations' lo and hi halves (block k's elements 0-15 at bytes
 * 16k..16k+15 of lo, 16-31 of hi), so the products are two vpdpbusd on
 * unshuffled activations, started at c, and the 16 int32 lanes hold 4
 * per block, scaled by the vector s x d. */

#define VNNI512 "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"

/* Bytes [0, min(len, 64)) of p as a vector, zero above: a masked load,
 * which never touches the bytes past len (no fault at the end of a
 * mapping). */
__attribute__((target(VNNI512), always_inline)) static inline __m512i load_upto(const uint8_t *p, size_t len)
{
    return _mm512_maskz_loadu_epi8(len >= 64 ? ~0ull : len ? ~0ull >> (64 - len) : 0, p);
}

/* The weights (w + 128, lo and hi) and block scales (4 lanes per block)
 * of an MXFP4 group: 4 blocks, 68 bytes, of which len are in the row.
 * The scales are 2^(e - 127), twice the real ones: the caller halves the
 * total. */
__attribute__((target(VNNI512), always_inline)) static inline void mxfp4_group_vnni(const uint8_t *blk, size_t len,
                                                                                   __m512i *wlo, __m512i *whi,
                                                                                   __m512 *scale)
{
    /* The 64 code bytes from the halves A (blocks 0, 1: scales at bytes 0
     * and 17) and B (blocks 2, 3): vpermt2b picks bytes 1-16 and 18-33 of
     * each. */
    const __m512i pick = _mm512_set_epi8(
        97, 96, 95, 94, 93, 92, 91, 90, 89, 88, 87, 86, 85, 84, 83, 82, 80, 79, 78, 77, 76, 75, 74, 73, 72, 71, 70,
        69, 68, 67, 66, 65, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 16, 15, 14, 13, 12, 11,
        10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    /* The scale bytes (0, 17, 64, 81) into the low byte of each block's 4 lanes. */
    const __m512i pick_e = _mm512_set_epi32(81, 81, 81, 81, 64, 64, 64, 64, 17, 17, 17, 17, 0, 0, 0, 0);
    /* 128 + 2 x E2M1 by the code's 4 bits; vpermb reads 6 index bits, so
     * the table repeats 4 times and bits 5:4 (the other nibble) do not
     * matter: no masking of nibbles. */
    const __m512i lut = _mm512_set4_epi32(0x74787a7c, 0x7d7e7f80, (int)0x8c888684, (int)0x83828180);
    __m512i A = load_upto(blk, len < 34 ? len : 34), B = load_upto(blk + 34, len > 34 ? len - 34 : 0);
    __m512i codes = _mm512_permutex2var_epi8(A, pick, B);
    *wlo = _mm512_permutexvar_epi8(codes, lut);
    *whi = _mm512_permutexvar_epi8(_mm512_srli_epi16(codes, 4), lut);
    /* 2^(e - 127) is e << 23 as float bits (e = 0 gives 0). */
    __m512i e = _mm512_maskz_permutex2var_epi8(0x1111111111111111ull, A, pick_e, B);
    *scale = _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

/* The same for a Q8_0 group: 4 blocks, 136 bytes, of which len are in the
 * row; block k's f16 scale at 34k, elements 0-15 at 34k+2, 16-31 at
 * 34k+18. Elements 0-15 of all four blocks lie in bytes 0-127 (two loads,
 * one vpermt2b), 16-31 in bytes 8-135 (two loads from byte 8). */
__attribute__((target(VNNI512), always_inline)) static inline void q8_0_group_vnni(const uint8_t *blk, size_t len,
                                                                                  __m512i *wlo, __m512i *whi,
                                                                                  __m512 *scale)
{
    const __m512i pick = _mm512_set_epi8(
        117, 116, 115, 114, 113, 112, 111, 110, 109, 108, 107, 106, 105, 104, 103, 102, 83, 82, 81, 80, 79, 78, 77,
        76, 75, 74, 73, 72, 71, 70, 69, 68, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 15, 14,
        13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0); /* + 2: low halves; + 10 from byte 8: high halves */
    /* The f16 scales (bytes 34k, 34k+1) into the low half of each block's lanes. */
    const __m512i pick_d = _mm512_set_epi32(0x6766, 0x6766, 0x6766, 0x6766, 0x4544, 0x4544, 0x4544, 0x4544, 0x2322,
                                            0x2322, 0x2322, 0x2322, 0x0100, 0x0100, 0x0100, 0x0100);
    const __m512i off = _mm512_set1_epi8((char)0x80);
    __m512i L0 = load_upto(blk, len), L1 = load_upto(blk + 64, len > 64 ? len - 64 : 0);
    __m512i H0 = load_upto(blk + 8, len - 8), H1 = load_upto(blk + 72, len > 72 ? len - 72 : 0);
    *wlo = _mm512_xor_si512(_mm512_permutex2var_epi8(L0, _mm512_add_epi8(pick, _mm512_set1_epi8(2)), L1), off);
    *whi = _mm512_xor_si512(_mm512_permutex2var_epi8(H0, _mm512_add_epi8(pick, _mm512_set1_epi8(10)), H1), off);
    __m512i h = _mm512_maskz_permutex2var_epi8(0x3333333333333333ull, L0, pick_d, L1);
    *scale = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));
}

/* The group's weights times activation group g of each term (tb bytes
 * apart): the sums, started at c, scaled by scale x d. */
__attribute__((target(VNNI512), always_inline)) static inline __m512 group_terms_vnni(__m512i wlo, __m512i whi,
                                                                                     __m512 scale,
                                                                                     const uint8_t *g, size_t tb,
                                                                                     int terms)
{
    __m512 r = _mm512_setzero_ps();
    for (int k = 0; k < terms; k++, g += tb) {
        __m512i s = _mm512_loadu_si512(g + 128); /* undoes the + 128, lane by lane */
        s = _mm512_dpbusd_epi32(s, wlo, _mm512_loadu_si512(g));
        s = _mm512_dpbusd_epi32(s, whi, _mm512_loadu_si512(g + 64));
        r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(scale, _mm512_loadu_ps((const float *)(g + 192))), r);
    }
    return r;
}

/* Decoding reads each row once from memory: the row kernels ask for the
 * lines 2 KiB ahead (into the next row, which is the next one computed),
 * which the hardware prefetcher alone left waiting (decode +9-10 % on the
 * synthetic 20b, Intel Xeon, 2 threads). */
#ifndef QDOT_PREFETCH
#define QDOT_PREFETCH 2048
#endif
/* Both row kernels: whole groups two at a time (two accumulators), then
 * the rest, the last group possibly short (masked loads; its missing
 * blocks read as zero codes and scales). GSZ: a group's bytes; POST:
 * the factor on the total. The body is specialised for 1 and 2 terms. */
#define QDOT_VNNI512(NAME, GROUP, GSZ, POST)                                                                    \
    __attribute__((target(VNNI512), always_inline)) static inline float NAME##_body(                          \
        const uint8_t *row, const uint8_t *xq, size_t n, int terms)                                            \
    {                                                                                                          \
        size_t nb = n / 32, b = 0, tb = Q_Q8_BYTES(n);                                                         \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), sc;                                     \
        __m512i wl, wh;                                                                                        \
        for (; b + 8 <= nb; b += 8) {                                                                          \
            for (size_t off = 0; off < 2 * GSZ; off += 64)                                                     \
                _mm_prefetch((const char *)(row + b / 4 * GSZ + QDOT_PREFETCH + off), _MM_HINT_T0);             \
            GROUP(row + b / 4 * GSZ, GSZ, &wl, &wh, &sc);                                                      \
            acc0 = _mm512_add_ps(acc0, group_terms_vnni(wl, wh, sc, xq + b / 4 * 320, tb, terms));             \
            GROUP(row + b / 4 * GSZ + GSZ, GSZ, &wl, &wh, &sc);                                                \
            acc1 = _mm512_add_ps(acc1, group_terms_vnni(wl, wh, sc, xq + b / 4 * 320 + 320, tb, terms));       \
        }                                                                                                      \
        for (; b < nb; b += 4) {                                                                               \
            GROUP(row + b / 4 * GSZ, (nb - b < 4 ? nb - b : 4) * (GSZ / 4), &wl, &wh, &sc);                    \
            acc1 = _mm512_add_ps(acc1, group_terms_vnni(wl, wh, sc, xq + b / 4 * 320, tb, terms));             \
        }                                                                                                      \
        return POST * _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));                                         \
    }                                                                                                          \
    __attribute__((target(VNNI512))) static float NAME(const uint8_t *row, const uint8_t *xq, size_t n,       \
                                                       int terms)                                              \
    {                                                                                                          \
        return terms == 2 ? NAME##_body(row, xq, n, 2) : NAME##_body(row, xq, n, 1);                           \
    }

QDOT_VNNI512(qdot_mxfp4_vnni512, mxfp4_group_vnni, 68, 0.5f)
QDOT_VNNI512(qdot_q8_0_vnni512, q8_0_group_vnni, 136, 1.0f)

/* ---- row kernels, AVX2 and AVX-VNNI: two blocks per step ----
 * The two variants differ only in the product of 32 unsigned by 32 signed
 * bytes into 8 int32 sums: vpmaddubsw + vpmaddwd, or AVX-VNNI's
 * vpdpbusd. The bodies are written once, as macros taking that product.
 * A step takes blocks k, k+1 of a group: lo = [k: 0-15 | k+1: 0-15] and
 * hi = [k: 16-31 | k+1: 16-31] of both weights and activations, lanes 0-3
 * for block k and 4-7 for block k+1; the signed weights' sign goes onto
 * each term's activations. */

__attribute__((target("avx2,fma"), always_inline)) static inline __m256i dp_avx2(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target("avx2,fma,avxvnni"), always_inline)) static inline __m256i dp_avxvnni(__m256i u, __m256i s)
{
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
}

/* Signed weights wl, wh and block scales sw (4 lanes each) of two blocks
 * times every term of the activations at g (tb bytes apart). */
#define QDOT_TERMS_256(DP)                                                                                     \
    __m256i ul = _mm256_abs_epi8(wl), uh = _mm256_abs_epi8(wh);                                              \
    for (int k = 0; k < terms; k++) {                                                                        \
        const uint8_t *gk = g + (size_t)k * tb;                                                              \
        __m256i xl = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)gk), wl);                          \
        __m256i xh = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(gk + 64)), wh);                   \
        __m256 s = _mm256_cvtepi32_ps(_mm256_add_epi32(DP(ul, xl), DP(uh, xh)));                             \
        acc = _mm256_fmadd_ps(s, _mm256_mul_ps(sw, _mm256_loadu_ps((const float *)(gk + 192))), acc);        \
    }

/* MXFP4: vpshufb maps codes to signed 2 x E2M1. A missing second block
 * (odd block count) reads as zero codes. */
#define QDOT_MXFP4_256(NAME, TARGET, DP)                                                                      \
    __attribute__((target(TARGET))) static float NAME(const uint8_t *row, const uint8_t *xq, size_t n,     \
                                                      int terms)                                             \
    {                                                                                                        \
        size_t nb = n / 32, tb = Q_Q8_BYTES(n);                                                              \
        const __m256i lut = _mm256_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12, 0, 1, 2, \
                                             3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);                \
        const __m256i m4 = _mm256_set1_epi8(0x0f);                                                           \
        __m256 acc = _mm256_setzero_ps();                                                                    \
        for (size_t b = 0; b < nb; b += 2) {                                                                 \
            const uint8_t *blk = row + b * 17, *g = xq + b / 4 * 320 + b % 4 * 16;                           \
            bool two = b + 1 < nb;                                                                           \
            __m128i ra = _mm_loadu_si128((const __m128i *)(blk + 1));                                        \
            __m128i rb = two ? _mm_loadu_si128((const __m128i *)(blk + 18)) : _mm_setzero_si128();           \
            __m256i raw = _mm256_set_m128i(rb, ra);                                                          \
            __m256i wl = _mm256_shuffle_epi8(lut, _mm256_and_si256(raw, m4));                                \
            __m256i wh = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));          \
            __m256 sw = _mm256_set_m128(_mm_set1_ps(two ? e8m0_half_table[blk[17]] : 0.0f),                  \
                                        _mm_set1_ps(e8m0_half_table[blk[0]]));                               \
            QDOT_TERMS_256(DP)                                                                               \
        }                                                                                                    \
        return hsum256(acc);                                                                                 \
    }

#define QDOT_Q8_0_256(NAME, TARGET, DP)                                                                       \
    __attribute__((target(TARGET))) static float NAME(const uint8_t *row, const uint8_t *xq, size_t n,     \
                                                      int terms)                                             \
    {                                                                                                        \
        size_t nb = n / 32, tb = Q_Q8_BYTES(n);                                                              \
        __m256 acc = _mm256_setzero_ps();                                                                    \
        for (size_t b = 0; b < nb; b += 2) {                                                                 \
            const uint8_t *blk = row + b * 34, *g = xq + b / 4 * 320 + b % 4 * 16;                           \
            bool two = b + 1 < nb;                                                                           \
            __m256i wa = _mm256_loadu_si256((const __m256i *)(blk + 2));                                     \
            __m256i wb = two ? _mm256_loadu_si256((const __m256i *)(blk + 36)) : _mm256_setzero_si256();     \
            __m256i wl = _mm256_permute2x128_si256(wa, wb, 0x20), wh = _mm256_permute2x128_si256(wa, wb, 0x31); \
            __m256 sw = _mm256_set_m128(_mm_set1_ps(two ? fp16_table[rd16(blk + 34)] : 0.0f),                \
                                        _mm_set1_ps(fp16_table[rd16(blk)]));                                 \
            QDOT_TERMS_256(DP)                                                                               \
        }                                                                                                    \
        return hsum256(acc);                                                                                 \
    }

QDOT_MXFP4_256(qdot_mxfp4_avx2, "avx2,fma", dp_avx2)
QDOT_MXFP4_256(qdot_mxfp4_avxvnni, "avx2,fma,avxvnni", dp_avxvnni)
QDOT_Q8_0_256(qdot_q8_0_avx2, "avx2,fma", dp_avx2)
QDOT_Q8_0_256(qdot_q8_0_avxvnni, "avx2,fma,avxvnni", dp_avxvnni)

static float qdot_mxfp4_scalar(const uint8_t *r, const uint8_t *xq, size_t n, int terms)
{
    return q_qdot_row(GGML_MXFP4, r, xq, n, terms);
}
static float qdot_mxfp4o_scalar(const uint8_t *r, const uint8_t *xq, size_t n, int terms)
{
    return q_qdot_row(GGML_MXFP4_OLLAMA, r, xq, n, terms);
}
static float qdot_q8_0_scalar(const uint8_t *r, const uint8_t *xq, size_t n, int terms)
{
    return q_qdot_row(GGML_Q8_0, r, xq, n, terms);
}

/* ---- batched kernels ---- */

/* Without a packed kernel: the row kernel for every (row, token). */
#define QGEMM_BY_ROWS(NAME, DOT)                                                                                \
    static void NAME(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq, uint32_t T, \
                     size_t n, float *Y, size_t ldy, void *scratch, int terms)                                  \
    {                                                                                                           \
        (void)scratch;                                                                                          \
        for (uint32_t t = 0; t < T; t++)                                                                        \
            for (uint32_t r = 0; r < rows; r++)                                                                 \
                Y[(size_t)t * ldy + r] += DOT(W + (size_t)r * stride, XQ + (size_t)t * ldxq, n, terms);         \
    }
QGEMM_BY_ROWS(qgemm_mxfp4_scalar, qdot_mxfp4_scalar)
QGEMM_BY_ROWS(qgemm_mxfp4o_scalar, qdot_mxfp4o_scalar)
QGEMM_BY_ROWS(qgemm_q8_0_scalar, qdot_q8_0_scalar)
QGEMM_BY_ROWS(qgemm_mxfp4_avx2, qdot_mxfp4_avx2)
QGEMM_BY_ROWS(qgemm_q8_0_avx2, qdot_q8_0_avx2)
QGEMM_BY_ROWS(qgemm_mxfp4_avxvnni, qdot_mxfp4_avxvnni)
QGEMM_BY_ROWS(qgemm_q8_0_avxvnni, qdot_q8_0_avxvnni)

/* The packed VNNI kernel. A tile is 16 rows, block by block: for block b
 * and 4-element group j (0-7), 64 bytes hold the four weights of group j
 * of each of the 16 rows, as unsigned w + 128 (row r at bytes 4r..4r+3),
 * so one vpdpbusd with 4 activation bytes broadcast adds a group's
 * products to all 16 rows at once (each lane a row, so the block's sum
 * starts at the activation's total -128 * sum(q)). After the tile's
 * nb * 512 bytes come the row scales, 16 floats per block. Rows past the
 * matrix have weight 0 and scale 0. */
#define QTILE_ROWS 16

static size_t vnni_scratch(size_t n)
{
    return (n / 32 * (QTILE_ROWS * 32 + QTILE_ROWS * sizeof(float)) + 63) / 64 * 64;
}

static bool has_amx; /* AMX tiles for the batched product (kern_init) */

size_t kern_qgemm_scratch(size_t n, uint32_t max_tokens)
{
    kern_init();
    return vnni_scratch(n) + (has_amx ? amx_scratch(n, max_tokens) : 0);
}

/* Weights of 4 rows, one block each (32 bytes of w + 128), into the tile's
 * 8 groups of block b at rows r0..r0+3: a 4 x 8 transpose of dwords. */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_put4(uint8_t *tile, size_t b, uint32_t r0,
                                                                                const __m256i e[4])
{
    __m256i t0 = _mm256_unpacklo_epi32(e[0], e[1]), t1 = _mm256_unpackhi_epi32(e[0], e[1]);
    __m256i t2 = _mm256_unpacklo_epi32(e[2], e[3]), t3 = _mm256_unpackhi_epi32(e[2], e[3]);
    __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                    _mm256_unpackhi_epi64(t1, t3)}; /* u[k]: groups k (low half) and k + 4 (high half) */
    uint8_t *o = tile + b * QTILE_ROWS * 32 + r0 * 4;
    for (int k = 0; k < 4; k++) {
        _mm_storeu_si128((__m128i *)(o + k * 64), _mm256_castsi256_si128(u[k]));
        _mm_storeu_si128((__m128i *)(o + (k + 4) * 64), _mm256_extracti128_si256(u[k], 1));
    }
}

/* Packs rows [0, nr) (nr <= 16) of type t (MXFP4 or Q8_0) into tile. */
__attribute__((target("avx2,fma"))) static void tile_pack(uint32_t t, const uint8_t *W, size_t stride, uint32_t nr,
                                                          size_t n, uint8_t *tile)
{
    size_t nb = n / 32;
    float *sc = (float *)(tile + nb * QTILE_ROWS * 32);
    const __m256i lut = _mm256_setr_epi8((char)128, (char)129, (char)130, (char)131, (char)132, (char)134, (char)136,
                                         (char)140, (char)128, 127, 126, 125, 124, 122, 120, 116, (char)128, (char)129,
                                         (char)130, (char)131, (char)132, (char)134, (char)136, (char)140, (char)128,
                                         127, 126, 125, 124, 122, 120, 116);
    const __m256i m4 = _mm256_set1_epi8(0x0f), off = _mm256_set1_epi8((char)0x80);
    /* Four rows at a time, each read front to back: four sequential
     * streams, which the hardware prefetcher follows (block by block
     * across all 16 rows it did not, and packing ran at a few GB/s). */
    for (uint32_t r0 = 0; r0 < QTILE_ROWS; r0 += 4)
        for (size_t b = 0; b < nb; b++) {
            __m256i e[4];
            for (uint32_t i = 0; i < 4; i++) {
                uint32_t r = r0 + i;
                if (r >= nr) {
                    e[i] = off;
                    sc[b * QTILE_ROWS + r] = 0.0f;
                } else if (t == GGML_MXFP4) {
                    const uint8_t *blk = W + (size_t)r * stride + b * 17;
                    __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 1));
                    __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4);
                    e[i] = _mm256_shuffle_epi8(lut, codes);
                    sc[b * QTILE_ROWS + r] = e8m0_half_table[blk[0]];
                } else {
                    const uint8_t *blk = W + (size_t)r * stride + b * 34;
                    e[i] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), off);
                    sc[b * QTILE_ROWS + r] = fp16_table[rd16(blk)];
                }
            }
            tile_put4(tile, b, r0, e);
        }
}

/* A whole MXFP4 tile (16 rows) with 512-bit registers: per block, the 16
 * rows' 16 code bytes (4 dwords each; dword j holds elements 4j..4j+3 in
 * its low nibbles and 16+4j..16+4j+3 in its high ones) are transposed so
 * that dword j of every row sits in one register, lane r for row r: its
 * low nibbles are group j of the tile, its high nibbles group j + 4. About
 * half the instructions of tile_pack's 4-row path. */
__attribute__((target(VNNI512))) static void tile_pack_mxfp4_16(const uint8_t *W, size_t stride, size_t n,
                                                                 uint8_t *tile)
{
    size_t nb = n / 32;
    float *sc = (float *)(tile + nb * QTILE_ROWS * 32);
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8((char)128, (char)129, (char)130, (char)131, (char)132,
                                                             (char)134, (char)136, (char)140, (char)128, 127, 126,
                                                             125, 124, 122, 120, 116));
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    /* Rows 0-7 (from the two registers of rows 0-3 and 4-7): A0 = column 0
     * then column 1, A1 = columns 2 and 3; each column 8 rows. */
    const __m512i pick01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i pick23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *blk = W + b * 17;
        __m512i z[4];
        for (int k = 0; k < 4; k++) {
            const uint8_t *r0 = blk + (size_t)(4 * k) * stride;
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(r0 + 1)));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(r0 + stride + 1)), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(r0 + 2 * stride + 1)), 2);
            z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(r0 + 3 * stride + 1)), 3);
        }
        __m512i a0 = _mm512_permutex2var_epi32(z[0], pick01, z[1]), a1 = _mm512_permutex2var_epi32(z[0], pick23, z[1]);
        __m512i b0 = _mm512_permutex2var_epi32(z[2], pick01, z[3]), b1 = _mm512_permutex2var_epi32(z[2], pick23, z[3]);
        __m512i g[4] = {_mm512_shuffle_i64x2(a0, b0, 0x44), _mm512_shuffle_i64x2(a0, b0, 0xee),
                        _mm512_shuffle_i64x2(a1, b1, 0x44), _mm512_shuffle_i64x2(a1, b1, 0xee)};
        uint8_t *o = tile + b * QTILE_ROWS * 32;
        for (int j = 0; j < 4; j++) {
            _mm512_store_si512((void *)(o + j * 64), _mm512_shuffle_epi8(lut, _mm512_and_si512(g[j], m4)));
            _mm512_store_si512((void *)(o + (j + 4) * 64),
                               _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(g[j], 4), m4)));
        }
        for (uint32_t r = 0; r < QTILE_ROWS; r++)
            sc[b * QTILE_ROWS + r] = e8m0_half_table[blk[(size_t)r * stride]];
    }
}

/* One activation group's 4 bytes (elements 4j..4j+3 of block b), broadcast. */
__attribute__((target(VNNI512), always_inline)) static inline __m512i q8_bcast4(const uint8_t *xq, size_t b, int j)
{
    int32_t v;
    memcpy(&v, xq + b / 4 * 320 + (j < 4 ? 0 : 64) + b % 4 * 16 + j % 4 * 4, 4);
    return _mm512_set1_epi32(v);
}

/* A stream is one term of one token's activations (x) and the token's
 * outputs (y, where row 0 of the tile goes). Working on several streams at
 * once gives vpdpbusd independent chains (its latency is several cycles)
 * and makes each 64-byte weight load of the tile serve every stream: 8
 * streams are 4 tokens x 2 terms or 8 tokens x 1 term. */
typedef struct {
    const uint8_t *x;
    float *y;
} qstream;

/* The next tile's rows, asked for from memory a few cache lines per block
 * while the current tile is multiplied (one burst of 384 prefetches
 * stalled on the core's few outstanding misses and hid nothing). */
typedef struct {
    const uint8_t *start;    /* the next tile's first row (its rows follow each other) */
    size_t total;            /* 64-byte lines in all */
    size_t per_block;        /* lines asked for per block of the pass */
} qprefetch;

__attribute__((always_inline)) static inline void qprefetch_block(const qprefetch *pf, size_t b)
{
    if (!pf)
        return;
    for (size_t line = b * pf->per_block; line < (b + 1) * pf->per_block && line < pf->total; line++)
        _mm_prefetch((const char *)(pf->start + line * 64), _MM_HINT_T1);
}

/* Block b of the tile (w: its 512 bytes; rs: its 16 row scales) times S
 * streams, added to their float accumulators: each block's sums start at
 * the stream's total (undoing the + 128 of the weights), the 8 groups add
 * their products, and the integer sums, scaled by row scale x d, go to the
 * accumulators. S is a constant where this is inlined: the arrays stay in
 * registers. */
__attribute__((target(VNNI512), always_inline)) static inline void tile_block_streams(const uint8_t *w, __m512 rs,
                                                                                     size_t b, const qstream *st,
                                                                                     int S, __m512 *a)
{
    size_t go = b / 4 * 320 + b % 4 * 16, to = b / 4 * 320 + 256 + b % 4 * 4; /* the block's d, total */
    __m512i s[8];
#pragma GCC unroll 8
    for (int k = 0; k < S; k++)
        s[k] = _mm512_set1_epi32(*(const int32_t *)(st[k].x + to));
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        __m512i wv = _mm512_load_si512((const void *)(w + j * 64));
#pragma GCC unroll 8
        for (int k = 0; k < S; k++)
            s[k] = _mm512_dpbusd_epi32(s[k], wv, q8_bcast4(st[k].x, b, j));
    }
#pragma GCC unroll 8
    for (int k = 0; k < S; k++)
        a[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[k]),
                               _mm512_mul_ps(rs, _mm512_set1_ps(*(const float *)(st[k].x + go + 192))), a[k]);
}

/* y[0..nr) += tile x xq for S streams (S = 8 or 4), in order (two streams
 * of one token add one after the other). */
__attribute__((target(VNNI512), always_inline)) static inline void qgemm_streams_body(const uint8_t *tile,
                                                                                     uint32_t nr, size_t n,
                                                                                     const qstream *st, int S,
                                                                                     const qprefetch *pf)
{
    size_t nb = n / 32;
    const float *sc = (const float *)(tile + nb * QTILE_ROWS * 32);
    __m512 a[8];
#pragma GCC unroll 8
    for (int k = 0; k < S; k++)
        a[k] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        qprefetch_block(pf, b);
        tile_block_streams(tile + b * QTILE_ROWS * 32, _mm512_load_ps(sc + b * QTILE_ROWS), b, st, S, a);
    }
    __mmask16 m = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    for (int k = 0; k < S; k++)
        _mm512_mask_storeu_ps(st[k].y, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, st[k].y), a[k]));
}

__attribute__((target(VNNI512))) static void qgemm_streams8_vnni(const uint8_t *tile, uint32_t nr, size_t n,
                                                                  const qstream *st, const qprefetch *pf)
{
    qgemm_streams_body(tile, nr, n, st, 8, pf);
}

__attribute__((target(VNNI512))) static void qgemm_streams4_vnni(const uint8_t *tile, uint32_t nr, size_t n,
                                                                  const qstream *st, const qprefetch *pf)
{
    qgemm_streams_body(tile, nr, n, st, 4, pf);
}

/* One stream alone (two chains over the 8 groups, for vpdpbusd's
 * latency). */
__attribute__((target(VNNI512))) static void qgemm_stream1_vnni(const uint8_t *tile, uint32_t nr, size_t n,
                                                                 const qstream *st, const qprefetch *pf)
{
    size_t nb = n / 32;
    const uint8_t *x0 = st->x;
    const float *sc = (const float *)(tile + nb * QTILE_ROWS * 32);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    for (size_t b = 0; b < nb; b++) {
        qprefetch_block(pf, b);
        const uint8_t *w = tile + b * QTILE_ROWS * 32;
        size_t go = b / 4 * 320 + b % 4 * 16, to = b / 4 * 320 + 256 + b % 4 * 4;
        __m512i s0 = _mm512_set1_epi32(*(const int32_t *)(x0 + to)), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_load_si512((const void *)(w + j * 64)), q8_bcast4(x0, b, j));
            s1 = _mm512_dpbusd_epi32(s1, _mm512_load_si512((const void *)(w + j * 64 + 64)), q8_bcast4(x0, b, j + 1));
        }
        __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                   _mm512_mul_ps(_mm512_load_ps(sc + b * QTILE_ROWS),
                                                 _mm512_set1_ps(*(const float *)(x0 + go + 192))),
                                   b & 1 ? a1 : a0);
        if (b & 1)
            a1 = v;
        else
            a0 = v;
    }
    __mmask16 m = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    _mm512_mask_storeu_ps(st->y, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, st->y), _mm512_add_ps(a0, a1)));
}

__attribute__((target(VNNI512))) static void qgemm_packed_vnni(uint32_t type, const uint8_t *W, size_t stride,
                                                               uint32_t rows, const uint8_t *XQ, size_t ldxq,
                                                               uint32_t T, size_t n, float *Y, size_t ldy,
                                                               void *scratch, int terms)
{
    uint8_t *tile = scratch;
    size_t tb = Q_Q8_BYTES(n);
    for (uint32_t r = 0; r < rows; r += QTILE_ROWS) {
        uint32_t nr = rows - r < QTILE_ROWS ? rows - r : QTILE_ROWS;
        if (type == GGML_MXFP4 && nr == QTILE_ROWS)
            tile_pack_mxfp4_16(W + (size_t)r * stride, stride, n, tile);
        else
            tile_pack(type, W + (size_t)r * stride, stride, nr, n, tile);
        /* The next tile's rows come from memory while this one is used
         * (packing from memory waited on it), spread over the first pass. */
        qprefetch next = {W + (size_t)(r + QTILE_ROWS) * stride, 0, 0};
        if (r + QTILE_ROWS < rows) {
            size_t len = (size_t)(rows - r - QTILE_ROWS < QTILE_ROWS ? rows - r - QTILE_ROWS : QTILE_ROWS) * stride;
            next.total = (len + 63) / 64;
            next.per_block = (next.total + n / 32 - 1) / (n / 32);
        }
        /* Streams token by token, a token's terms together; 8 at a time,
         * then 4, then one by one. */
        uint32_t total = T * (uint32_t)terms, i = 0;
        qstream st[8];
        while (i < total) {
            uint32_t S = total - i >= 8 ? 8 : total - i >= 4 ? 4 : 1;
            for (uint32_t k = 0; k < S; k++) {
                uint32_t t = (i + k) / (uint32_t)terms, term = (i + k) % (uint32_t)terms;
                st[k].x = XQ + (size_t)t * ldxq + term * tb;
                st[k].y = Y + (size_t)t * ldy + r;
            }
            const qprefetch *pf = i == 0 && next.total ? &next : NULL;
            if (S == 8)
                qgemm_streams8_vnni(tile, nr, n, st, pf);
            else if (S == 4)
                qgemm_streams4_vnni(tile, nr, n, st, pf);
            else
                qgemm_stream1_vnni(tile, nr, n, st, pf);
            i += S;
        }
    }
}

static void qgemm_mxfp4_vnni512(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                                uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms)
{
    qgemm_packed_vnni(GGML_MXFP4, W, stride, rows, XQ, ldxq, T, n, Y, ldy, scratch, terms);
}

static void qgemm_q8_0_vnni512(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                               uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms)
{
    qgemm_packed_vnni(GGML_Q8_0, W, stride, rows, XQ, ldxq, T, n, Y, ldy, scratch, terms);
}

/* On AMX, batches of at least AMX_MIN_TOKENS tokens go to the tiles
 * (kernels_amx.c); fewer, and the rare row groups the tiles cannot hold,
 * to the VNNI kernel. The AMX part of scratch follows the VNNI part. */
#define AMX_MIN_TOKENS 2

static void qgemm_mxfp4_amx(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                            uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms)
{
    if (T < AMX_MIN_TOKENS)
        qgemm_mxfp4_vnni512(W, stride, rows, XQ, ldxq, T, n, Y, ldy, scratch, terms);
    else
        amx_qgemm(GGML_MXFP4, W, stride, rows, XQ, ldxq, T, n, Y, ldy, (uint8_t *)scratch + vnni_scratch(n), terms,
                  qgemm_mxfp4_vnni512, scratch);
}

static void qgemm_q8_0_amx(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                           uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms)
{
    if (T < AMX_MIN_TOKENS)
        qgemm_q8_0_vnni512(W, stride, rows, XQ, ldxq, T, n, Y, ldy, scratch, terms);
    else
        amx_qgemm(GGML_Q8_0, W, stride, rows, XQ, ldxq, T, n, Y, ldy, (uint8_t *)scratch + vnni_scratch(n), terms,
                  qgemm_q8_0_vnni512, scratch);
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

/* AVX-VNNI: CPUID leaf 7, subleaf 1, EAX bit 4 (not every compiler's
 * __builtin_cpu_supports knows it); the OS's AVX state is checked with AVX2. */
static bool cpu_has_avxvnni(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}

static kern_level level = KERN_SCALAR;
static bool initialised;
static bool has_vnni512; /* AVX512-VNNI and AVX512-VBMI (with the AVX-512 level) */
static bool has_avxvnni; /* AVX-VNNI (with the AVX2 level or above) */

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
    has_vnni512 = level == KERN_AVX512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi");
    has_avxvnni = level >= KERN_AVX2 && cpu_has_avxvnni();
    const char *no_amx = getenv("RELIEF_NO_AMX");
    has_amx = has_vnni512 && !(no_amx && *no_amx && strcmp(no_amx, "0")) && amx_available();
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

/* ---- attention over many keys ----
 * Scores: 16 keys at a time, one vector accumulator per key, then the 16
 * accumulators summed lane-wise into one vector of 16 scores (45 shuffles
 * and adds instead of a horizontal sum per key, and no call per key).
 * Mixing: the output stays in registers across the keys. */

/* acc[k] (16 lanes each) -> lane k of the result = sum of acc[k]'s lanes. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 sum16(const __m512 acc[16])
{
    __m512 r[8], u[4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* per 128-bit chunk: a0+a2, b0+b2, a1+a3, b1+b3 */
        r[i] = _mm512_add_ps(_mm512_unpacklo_ps(acc[2 * i], acc[2 * i + 1]),
                             _mm512_unpackhi_ps(acc[2 * i], acc[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* per chunk: keys 4i..4i+3, partial over the chunk */
        __m512d a = _mm512_castps_pd(r[2 * i]), b = _mm512_castps_pd(r[2 * i + 1]);
        u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    /* the four chunks of each u[i] summed, u[i]'s total into chunk i */
    __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(3, 1, 3, 1)));
}

static void scores_scalar(const float *q, const float *K, size_t ldk, uint32_t n, size_t d, float scale, float *out)
{
    for (uint32_t j = 0; j < n; j++)
        out[j] = vdot_scalar(q, K + (size_t)j * ldk, d) * scale;
}

static void mix_scalar(float *o, const float *p, const float *V, size_t ldv, uint32_t n, size_t d)
{
    for (uint32_t j = 0; j < n; j++)
        vaxpy_scalar(o, p[j], V + (size_t)j * ldv, d);
}

/* The accumulators must stay in registers: every loop over them below has
 * a constant trip count and is unrolled (left as loops, gcc kept them in
 * memory and each multiply-add waited on a store). */
__attribute__((target("avx512f"))) static void scores_avx512(const float *q, const float *K, size_t ldk, uint32_t n,
                                                              size_t d, float scale, float *out)
{
    if (d % 16) {
        for (uint32_t j = 0; j < n; j++)
            out[j] = vdot_avx512(q, K + (size_t)j * ldk, d) * scale;
        return;
    }
    uint32_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const float *k0 = K + (size_t)j * ldk;
        __m512 acc[16];
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_setzero_ps();
        for (size_t i = 0; i < d; i += 16) {
            __m512 qv = _mm512_loadu_ps(q + i);
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                acc[k] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + (size_t)k * ldk + i), acc[k]);
        }
        _mm512_storeu_ps(out + j, _mm512_mul_ps(sum16(acc), _mm512_set1_ps(scale)));
    }
    for (; j < n; j++)
        out[j] = vdot_avx512(q, K + (size_t)j * ldk, d) * scale;
}

__attribute__((target("avx512f"))) static void mix_avx512(float *o, const float *p, const float *V, size_t ldv,
                                                           uint32_t n, size_t d)
{
    if (d % 16) {
        for (uint32_t j = 0; j < n; j++)
            vaxpy_avx512(o, p[j], V + (size_t)j * ldv, d);
        return;
    }
    size_t i0 = 0;
    for (; i0 + 64 <= d; i0 += 64) { /* 64 outputs in 4 registers */
        __m512 a0 = _mm512_loadu_ps(o + i0), a1 = _mm512_loadu_ps(o + i0 + 16);
        __m512 a2 = _mm512_loadu_ps(o + i0 + 32), a3 = _mm512_loadu_ps(o + i0 + 48);
        for (uint32_t j = 0; j < n; j++) {
            __m512 pj = _mm512_set1_ps(p[j]);
            const float *v = V + (size_t)j * ldv + i0;
            a0 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v), a0);
            a1 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16), a1);
            a2 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 32), a2);
            a3 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 48), a3);
        }
        _mm512_storeu_ps(o + i0, a0);
        _mm512_storeu_ps(o + i0 + 16, a1);
        _mm512_storeu_ps(o + i0 + 32, a2);
        _mm512_storeu_ps(o + i0 + 48, a3);
    }
    for (; i0 < d; i0 += 16) {
        __m512 a = _mm512_loadu_ps(o + i0);
        for (uint32_t j = 0; j < n; j++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_loadu_ps(V + (size_t)j * ldv + i0), a);
        _mm512_storeu_ps(o + i0, a);
    }
}

/* Several queries at once against keys stored transposed (Kt: d rows of
 * the keys' values, ldkt apart), and their mixing over the same values:
 * each key's values are loaded once for up to KERN_MULTI queries (a
 * batch's heads of one KV group share them). */
static void scores_multi_scalar(const float *const *q, int nq, const float *Kt, size_t ldkt, uint32_t n, size_t d,
                                float scale, float *out, size_t ldo)
{
    for (int h = 0; h < nq; h++)
        for (uint32_t j = 0; j < n; j++) {
            float s = 0;
            for (size_t i = 0; i < d; i++)
                s += q[h][i] * Kt[i * ldkt + j];
            out[(size_t)h * ldo + j] = s * scale;
        }
}

static void mix_multi_scalar(float *const *o, int no, const float *const *p, const float *V, size_t ldv, uint32_t n,
                             size_t d)
{
    for (int h = 0; h < no; h++)
        mix_scalar(o[h], p[h], V, ldv, n, d);
}

__attribute__((target("avx512f"))) static void scores_multi_avx512(const float *const *q, int nq, const float *Kt,
                                                                    size_t ldkt, uint32_t n, size_t d, float scale,
                                                                    float *out, size_t ldo)
{
    assert(nq >= 1 && nq <= KERN_MULTI);
    /* missing queries repeat the first; their results are not stored */
    const float *q0 = q[0], *q1 = nq > 1 ? q[1] : q0, *q2 = nq > 2 ? q[2] : q0, *q3 = nq > 3 ? q[3] : q0;
    __m512 vs = _mm512_set1_ps(scale);
    for (uint32_t j0 = 0; j0 < n; j0 += 16) {
        __mmask16 m = (__mmask16)(n - j0 >= 16 ? 0xffff : (1u << (n - j0)) - 1);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *kt = Kt + j0;
        for (size_t i = 0; i < d; i++) {
            __m512 kv = _mm512_maskz_loadu_ps(m, kt + i * ldkt);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q0[i]), kv, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(q1[i]), kv, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(q2[i]), kv, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(q3[i]), kv, a3);
        }
        __m512 a[4] = {a0, a1, a2, a3};
        for (int h = 0; h < nq; h++)
            _mm512_mask_storeu_ps(out + (size_t)h * ldo + j0, m, _mm512_mul_ps(a[h], vs));
    }
}

__attribute__((target("avx512f"))) static void mix_multi_avx512(float *const *o, int no, const float *const *p,
                                                                 const float *V, size_t ldv, uint32_t n, size_t d)
{
    assert(no >= 1 && no <= KERN_MULTI);
    if (d % 16) {
        for (int h = 0; h < no; h++)
            mix_avx512(o[h], p[h], V, ldv, n, d);
        return;
    }
    const float *p0 = p[0], *p1 = no > 1 ? p[1] : p0, *p2 = no > 2 ? p[2] : p0, *p3 = no > 3 ? p[3] : p0;
    for (size_t i0 = 0; i0 < d; i0 += 32) { /* 32 outputs of 4 queries: 8 registers */
        bool two = i0 + 32 <= d;
        __m512 a[4][2];
        for (int h = 0; h < 4; h++) {
            const float *oh = o[h < no ? h : 0] + i0;
            a[h][0] = _mm512_loadu_ps(oh);
            a[h][1] = two ? _mm512_loadu_ps(oh + 16) : _mm512_setzero_ps();
        }
        for (uint32_t j = 0; j < n; j++) {
            const float *v = V + (size_t)j * ldv + i0;
            __m512 v0 = _mm512_loadu_ps(v), v1 = two ? _mm512_loadu_ps(v + 16) : _mm512_setzero_ps();
            __m512 w0 = _mm512_set1_ps(p0[j]), w1 = _mm512_set1_ps(p1[j]), w2 = _mm512_set1_ps(p2[j]),
                   w3 = _mm512_set1_ps(p3[j]);
            a[0][0] = _mm512_fmadd_ps(w0, v0, a[0][0]);
            a[0][1] = _mm512_fmadd_ps(w0, v1, a[0][1]);
            a[1][0] = _mm512_fmadd_ps(w1, v0, a[1][0]);
            a[1][1] = _mm512_fmadd_ps(w1, v1, a[1][1]);
            a[2][0] = _mm512_fmadd_ps(w2, v0, a[2][0]);
            a[2][1] = _mm512_fmadd_ps(w2, v1, a[2][1]);
            a[3][0] = _mm512_fmadd_ps(w3, v0, a[3][0]);
            a[3][1] = _mm512_fmadd_ps(w3, v1, a[3][1]);
        }
        for (int h = 0; h < no; h++) {
            _mm512_storeu_ps(o[h] + i0, a[h][0]);
            if (two)
                _mm512_storeu_ps(o[h] + i0 + 16, a[h][1]);
        }
    }
}

kern_scores_multi_fn kern_scores_multi_for(kern_level l)
{
    return l == KERN_AVX512 ? scores_multi_avx512 : scores_multi_scalar;
}

kern_mix_multi_fn kern_mix_multi_for(kern_level l)
{
    return l == KERN_AVX512 ? mix_multi_avx512 : mix_multi_scalar;
}

kern_scores_multi_fn kern_scores_multi(void)
{
    return kern_scores_multi_for(kern_init());
}

kern_mix_multi_fn kern_mix_multi(void)
{
    return kern_mix_multi_for(kern_init());
}

kern_scores_fn kern_scores_for(kern_level l)
{
    return l == KERN_AVX512 ? scores_avx512 : scores_scalar;
}

kern_mix_fn kern_mix_for(kern_level l)
{
    return l == KERN_AVX512 ? mix_avx512 : mix_scalar;
}

kern_scores_fn kern_scores(void)
{
    return kern_scores_for(kern_init());
}

kern_mix_fn kern_mix(void)
{
    return kern_mix_for(kern_init());
}

/* ---- f16 conversion (KV snapshots) ---- */

static bool to_f16_scalar(const float *x, uint16_t *h, size_t n)
{
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        h[i] = q_f32_to_fp16(x[i]);
        finite &= (h[i] & 0x7c00) != 0x7c00;
    }
    return finite;
}

static void from_f16_scalar(const uint16_t *h, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = fp16_table[h[i]];
}

__attribute__((target("avx512f,avx2"))) static bool to_f16_avx512(const float *x, uint16_t *h, size_t n)
{
    const __m256i ex = _mm256_set1_epi16(0x7c00);
    __m256i bad = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(h + i), v);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi16(_mm256_and_si256(v, ex), ex));
    }
    return to_f16_scalar(x + i, h + i, n - i) && _mm256_testz_si256(bad, bad);
}

__attribute__((target("avx512f"))) static void from_f16_avx512(const uint16_t *h, float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    from_f16_scalar(h + i, x + i, n - i);
}

kern_to_f16_fn kern_to_f16_for(kern_level l)
{
    return l == KERN_AVX512 ? to_f16_avx512 : to_f16_scalar;
}

kern_to_f16_fn kern_to_f16(void)
{
    return kern_to_f16_for(kern_init());
}

kern_from_f16_fn kern_from_f16_for(kern_level l)
{
    return l == KERN_AVX512 ? from_f16_avx512 : from_f16_scalar;
}

kern_from_f16_fn kern_from_f16(void)
{
    return kern_from_f16_for(kern_init());
}

/* ---- dispatch of the fast path ---- */

kern_quant_fn kern_quant_q8_for(kern_level l)
{
    return l == KERN_AVX512 ? quant_q8_avx512 : l == KERN_AVX2 ? quant_q8_avx2 : quant_q8_scalar;
}

kern_quant_fn kern_quant_q8(void)
{
    return kern_quant_q8_for(kern_init());
}

kern_qdot_fn kern_qdot_for(uint32_t type, kern_level l)
{
    /* The AVX-512 level without VNNI runs the 256-bit kernels. */
    bool v512 = l == KERN_AVX512 && has_vnni512, v256 = l >= KERN_AVX2 && has_avxvnni;
    switch (type) {
    case GGML_MXFP4:
        if (l == KERN_SCALAR)
            return qdot_mxfp4_scalar;
        return v512 ? qdot_mxfp4_vnni512 : v256 ? qdot_mxfp4_avxvnni : qdot_mxfp4_avx2;
    case GGML_MXFP4_OLLAMA:
        return qdot_mxfp4o_scalar;
    case GGML_Q8_0:
        if (l == KERN_SCALAR)
            return qdot_q8_0_scalar;
        return v512 ? qdot_q8_0_vnni512 : v256 ? qdot_q8_0_avxvnni : qdot_q8_0_avx2;
    }
    return NULL;
}

kern_qdot_fn kern_qdot(uint32_t type)
{
    return kern_qdot_for(type, kern_init());
}

kern_qdot_fn kern_qdot_avxvnni(uint32_t type)
{
    kern_init();
    if (!has_avxvnni)
        return NULL;
    return type == GGML_MXFP4 ? qdot_mxfp4_avxvnni : type == GGML_Q8_0 ? qdot_q8_0_avxvnni : NULL;
}

kern_qdot_fn kern_qdot_avx2(uint32_t type)
{
    if (kern_init() < KERN_AVX2)
        return NULL;
    return type == GGML_MXFP4 ? qdot_mxfp4_avx2 : type == GGML_Q8_0 ? qdot_q8_0_avx2 : NULL;
}

kern_qgemm_fn kern_qgemm_for(uint32_t type, kern_level l)
{
    bool v512 = l == KERN_AVX512 && has_vnni512, v256 = l >= KERN_AVX2 && has_avxvnni;
    switch (type) {
    case GGML_MXFP4:
        if (l == KERN_SCALAR)
            return qgemm_mxfp4_scalar;
        return v512 ? qgemm_mxfp4_vnni512 : v256 ? qgemm_mxfp4_avxvnni : qgemm_mxfp4_avx2;
    case GGML_MXFP4_OLLAMA:
        return qgemm_mxfp4o_scalar;
    case GGML_Q8_0:
        if (l == KERN_SCALAR)
            return qgemm_q8_0_scalar;
        return v512 ? qgemm_q8_0_vnni512 : v256 ? qgemm_q8_0_avxvnni : qgemm_q8_0_avx2;
    }
    return NULL;
}

kern_qgemm_fn kern_qgemm_amx(uint32_t type)
{
    kern_init();
    if (!has_amx)
        return NULL;
    return type == GGML_MXFP4 ? qgemm_mxfp4_amx : type == GGML_Q8_0 ? qgemm_q8_0_amx : NULL;
}

bool kern_has_amx(void)
{
    kern_init();
    return has_amx;
}

kern_qgemm_fn kern_qgemm(uint32_t type)
{
    kern_qgemm_fn amx = kern_qgemm_amx(type);
    return amx ? amx : kern_qgemm_for(type, kern_init());
}
