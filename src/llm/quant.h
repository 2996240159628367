/*
 * quant.h - the tensor types relief computes with (F32, F16, BF16, Q8_0,
 * MXFP4 in ggml order, and Ollama's legacy MXFP4 id 4 in checkpoint nibble
 * order): exact dequantization and dot products with f32 vectors. These
 * scalar functions are the reference the SIMD kernels are tested against.
 * Block layouts: ../shared/docs/gguf.md section 9.
 */
#ifndef RELIEF_QUANT_H
#define RELIEF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

float q_fp16_to_f32(uint16_t h);
float q_bf16_to_f32(uint16_t h);
uint16_t q_f32_to_fp16(float f); /* round to nearest even; for tools and tests */

/* True for the types relief can compute with. */
bool q_type_supported(uint32_t type);

/* Bytes of a row of n elements (n a multiple of the block size). */
size_t q_row_bytes(uint32_t type, size_t n);

/* Writes the n elements of row (type t) to out as f32. */
void q_dequant_row(uint32_t type, const uint8_t *row, float *out, size_t n);

/* Returns sum_i row[i] * x[i] over n elements, row of type t. */
float q_dot_row(uint32_t type, const uint8_t *row, const float *x, size_t n);

/* ---- 8-bit activations: the reference of the fast path (kernels.h) ----
 *
 * Quantization. An activation vector of n floats (n a multiple of 32) is
 * quantized per block of 32 into one or two terms of 8-bit integers. With
 * a = max |x_i| over the block:
 *   - a non-finite x_i: d = NaN, q = 0 (the NaN reaches the result);
 *   - a < 2^-100 (zero or negligible): d = 0, q = 0;
 *   - otherwise the first term is d = a / 127, q_i = rint(x_i * (127 / a))
 *     (f32, rounding half to even), so |q_i| <= 127 and
 *     |x_i - d q_i| <= d / 2: 8 bits, what llama.cpp's Q8_0 activations
 *     hold;
 *   - the second term (when asked for) quantizes what is left,
 *     r_i = x_i - d q_i (f32), with d2 = d / 254 and
 *     q2_i = rint(r_i * (254 / d)) clamped to +-127: x_i = d q_i + d2 q2_i
 *     within d / 508 (plus r's f32 rounding), about 15 bits.
 * Every level writes exactly the same bytes.
 *
 * Layout of one term, chosen so that the kernels read four blocks with a
 * few loads and no shuffles of the activations: Q_Q8_BYTES(n) bytes, one
 * group of 320 bytes per 4 blocks (128 elements); in group G, k = 0..3
 * standing for block 4G + k:
 *   [  0,  64)  q of elements 0-15 of block k at 16k (an MXFP4 block's low
 *               nibbles),
 *   [ 64, 128)  q of elements 16-31 of block k at 64 + 16k (high nibbles),
 *   [128, 192)  int32 c[16]: c[4k + l] = -128 * (q[4l..4l+3] + q[16+4l..
 *               16+4l+3]) of block k: what the row kernels' int32 lane l
 *               of block k must subtract when the weights are stored as
 *               unsigned w + 128,
 *   [192, 256)  f32 d[16]: d[4k..4k+3] = block k's d,
 *   [256, 272)  int32 total[4]: -128 * (sum of block k's q), the same for
 *               the batched kernel, whose lanes are rows;
 *   [272, 320)  zero (groups stay 64-byte aligned).
 * Blocks past n/32 are all zero. A two-term vector is the first term's
 * Q_Q8_BYTES(n) bytes followed by the second's. Buffers should be 64-byte
 * aligned (the kernels are fastest so; 4-byte alignment is required).
 *
 * Product (q_qdot_row) of a Q8_0 or MXFP4 row with such a vector:
 * sum_b sum_terms (s_b d_b) * sum_j w_bj q_bj with block b's integer
 * weights w and scale s: Q8_0, its int8 values and f16 scale; MXFP4, twice
 * the E2M1 values (integers -12..12) and 2^(e - 128), the exact decoding's
 * values (e = 255 is infinity) except e = 0, whose weights (below 2^-126)
 * count as 0. The integer sums are exact; only the scaling and the sum
 * over blocks round. Other types give 0. */
#define Q_Q8_BYTES(n) (((size_t)(n) + 127) / 128 * 320)
void q_quant_q8_row(const float *x, uint8_t *xq, size_t n, int terms);
float q_qdot_row(uint32_t type, const uint8_t *row, const uint8_t *xq, size_t n, int terms);

/* Element i's q, block b's d and block b's sum of q in one term. */
static inline int8_t q_q8_at(const uint8_t *xq, size_t i)
{
    size_t b = i / 32, j = i % 32;
    return (int8_t)xq[b / 4 * 320 + (j < 16 ? 0 : 64) + b % 4 * 16 + j % 16];
}
static inline float q_q8_d(const uint8_t *xq, size_t b)
{
    return ((const float *)(xq + b / 4 * 320 + 192))[b % 4 * 4];
}
static inline int32_t q_q8_sum(const uint8_t *xq, size_t b)
{
    return ((const int32_t *)(xq + b / 4 * 320 + 256))[b % 4] / -128;
}

#endif
