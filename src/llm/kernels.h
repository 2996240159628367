/*
 * kernels.h - run-time selected SIMD dot products (AVX-512, AVX2) over
 * quantized weight rows with f32 activations; the scalar reference of
 * quant.c is used when the CPU lacks them or RELIEF_SCALAR=1 is set.
 * Also the fast path: activations quantized to 8 bits per block of 32 and
 * integer dot products (AVX-512 VNNI, AVX-VNNI, AVX2, scalar) for Q8_0
 * and MXFP4 weights; its reference and number format are in quant.h.
 */
#ifndef RELIEF_KERNELS_H
#define RELIEF_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KERN_SCALAR, KERN_AVX2, KERN_AVX512 } kern_level;

/* Returns sum_i row[i] * x[i] for n elements of a row of one type. */
typedef float (*kern_dot_fn)(const uint8_t *row, const float *x, size_t n);

/* Detects the CPU once (thread-safe to call repeatedly after the first
 * call has returned; the model loader calls it first) and returns the level. */
kern_level kern_init(void);
const char *kern_level_name(kern_level l);
/* The dot product for a weight type at the detected level (NULL: unsupported). */
kern_dot_fn kern_dot(uint32_t type);
/* The dot product at an explicit level (tests compare levels). The *_for
 * functions need kern_init() to have run (it fills the decoding tables) and
 * a level the CPU supports (at most what kern_init returned without
 * RELIEF_SCALAR); a level without its own path for a type gives the path
 * below it. */
kern_dot_fn kern_dot_for(uint32_t type, kern_level l);

/* Decodes a row of n elements of one type to f32. */
typedef void (*kern_dequant_fn)(const uint8_t *row, float *out, size_t n);
kern_dequant_fn kern_dequant(uint32_t type);
/* The decoder at an explicit level (tests compare levels). */
kern_dequant_fn kern_dequant_for(uint32_t type, kern_level l);

/* Batched product on decoded rows: Y[t*ldy + r] += sum_k W[r*ldw + k] *
 * X[t*ldx + k] for r < rows, t < T, k < n (n a multiple of 16). */
typedef void (*kern_gemm_fn)(const float *W, size_t ldw, uint32_t rows, const float *X, size_t ldx, uint32_t T,
                             size_t n, float *Y, size_t ldy);
kern_gemm_fn kern_gemm(void);
kern_gemm_fn kern_gemm_for(kern_level l); /* at an explicit level (tests) */

/* f32 vector dot product and y += a*x, for attention over the KV cache. */
typedef float (*kern_vdot_fn)(const float *a, const float *b, size_t n);
typedef void (*kern_vaxpy_fn)(float *y, float a, const float *x, size_t n);
kern_vdot_fn kern_vdot(void);
kern_vaxpy_fn kern_vaxpy(void);
kern_vdot_fn kern_vdot_for(kern_level l);   /* at an explicit level (tests) */
kern_vaxpy_fn kern_vaxpy_for(kern_level l);
/* Attention over n keys (rows of d floats, ldk / ldv floats apart):
 * scores out[j] = scale * (q . K[j]); mix o[i] += sum_j p[j] * V[j][i].
 * The order of the sums differs from the vdot/vaxpy loops (f32 rounding
 * only). Cannot fail. */
typedef void (*kern_scores_fn)(const float *q, const float *K, size_t ldk, uint32_t n, size_t d, float scale,
                               float *out);
typedef void (*kern_mix_fn)(float *o, const float *p, const float *V, size_t ldv, uint32_t n, size_t d);
kern_scores_fn kern_scores(void);
kern_mix_fn kern_mix(void);
kern_scores_fn kern_scores_for(kern_level l); /* at an explicit level (tests) */
kern_mix_fn kern_mix_for(kern_level l);
/* Up to KERN_MULTI queries at once. scores_multi: out[h*ldo + j] = scale *
 * sum_i q[h][i] * Kt[i*ldkt + j] for j < n (the keys transposed: d rows of
 * n values, ldkt apart); mix_multi: o[h][i] += sum_j p[h][j] * V[j*ldv + i].
 * Cannot fail. */
#define KERN_MULTI 4
typedef void (*kern_scores_multi_fn)(const float *const *q, int nq, const float *Kt, size_t ldkt, uint32_t n,
                                     size_t d, float scale, float *out, size_t ldo);
typedef void (*kern_mix_multi_fn)(float *const *o, int no, const float *const *p, const float *V, size_t ldv,
                                  uint32_t n, size_t d);
kern_scores_multi_fn kern_scores_multi(void);
kern_mix_multi_fn kern_mix_multi(void);
kern_scores_multi_fn kern_scores_multi_for(kern_level l);
kern_mix_multi_fn kern_mix_multi_for(kern_level l);

/* f16 conversion for KV snapshots. to_f16 rounds to nearest even and
 * returns false when some value has no finite f16 (|x| > 65504, inf, NaN:
 * the output is then not to be used); from_f16 is exact. Both levels give
 * the same bits (NaN payloads aside). */
typedef bool (*kern_to_f16_fn)(const float *x, uint16_t *h, size_t n);
typedef void (*kern_from_f16_fn)(const uint16_t *h, float *x, size_t n);
kern_to_f16_fn kern_to_f16(void);
kern_to_f16_fn kern_to_f16_for(kern_level l); /* at an explicit level (tests) */
kern_from_f16_fn kern_from_f16(void);
kern_from_f16_fn kern_from_f16_for(kern_level l);

/* ---- the fast path: 8-bit activations (quant.h: q_quant_q8_row) ----
 * A vector of n floats (n a multiple of 32) quantized to `terms` (1 or 2)
 * terms of 8-bit integers: terms x Q_Q8_BYTES(n) bytes, 4-byte aligned
 * (64-byte for speed). */

/* Quantizes n floats of x into xq, bit for bit as q_quant_q8_row. */
typedef void (*kern_quant_fn)(const float *x, uint8_t *xq, size_t n, int terms);
kern_quant_fn kern_quant_q8(void);
kern_quant_fn kern_quant_q8_for(kern_level l);

/* Product of a weight row with a quantized vector, as q_qdot_row (up to
 * the order of the float sum over blocks). */
typedef float (*kern_qdot_fn)(const uint8_t *row, const uint8_t *xq, size_t n, int terms);
/* The kernel for Q8_0, MXFP4 and Ollama's MXFP4 at the detected level;
 * NULL for the other types (they have no fast path). */
kern_qdot_fn kern_qdot(uint32_t type);
/* At an explicit level (tests; same conditions as kern_dot_for). The
 * AVX-512 level uses VNNI when the CPU has AVX512-VNNI and AVX512-VBMI,
 * else the AVX2 kernels; the AVX2 level uses AVX-VNNI when present. */
kern_qdot_fn kern_qdot_for(uint32_t type, kern_level l);
/* The AVX-VNNI (256-bit, VEX) variant, or NULL when the CPU lacks it or
 * RELIEF_SCALAR is set: lets tests compare it with the plain AVX2 one. */
kern_qdot_fn kern_qdot_avxvnni(uint32_t type);
/* The plain AVX2 variant (no VNNI), for the same reason. */
kern_qdot_fn kern_qdot_avx2(uint32_t type);

/* Batched: Y[t*ldy + r] += dot(W + r*stride, XQ + t*ldxq) for r < rows,
 * t < T (n columns), each token quantized with `terms` terms. ldxq: bytes
 * between quantized tokens (4-byte multiple). scratch:
 * kern_qgemm_scratch(n', max_tokens) bytes for some n' >= n and
 * max_tokens >= T, 64-byte aligned, owned by the caller and used by one
 * thread at a time. The VNNI kernel repacks 16 rows at a time into scratch
 * and reuses them for every token; on AMX (kern_qgemm only) batches of 2
 * tokens or more are multiplied in bf16 pieces on tiles (kernels_amx.h:
 * within a few 2^-16 of sum |w x| of the integer result); the others call
 * the row kernel per (row, token). Cannot fail. */
typedef void (*kern_qgemm_fn)(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                              uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms);
kern_qgemm_fn kern_qgemm(uint32_t type); /* NULL: no fast path for the type */
/* At an explicit level, never AMX (tests). */
kern_qgemm_fn kern_qgemm_for(uint32_t type, kern_level l);
/* The AMX variant that kern_qgemm returns on this CPU, or NULL when the CPU
 * or the OS lacks AMX (tiles, BF16), RELIEF_NO_AMX is set, or the type has
 * none (tests, bench). */
kern_qgemm_fn kern_qgemm_amx(uint32_t type);
bool kern_has_amx(void); /* kern_qgemm uses AMX tiles */
size_t kern_qgemm_scratch(size_t n, uint32_t max_tokens);

#endif
