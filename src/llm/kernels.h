/*
 * kernels.h - run-time selected SIMD dot products (AVX-512, AVX2) over
 * quantized weight rows with f32 activations; the scalar reference of
 * quant.c is used when the CPU lacks them or RELIEF_SCALAR=1 is set.
 */
#ifndef RELIEF_KERNELS_H
#define RELIEF_KERNELS_H

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

#endif
