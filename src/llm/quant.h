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

#endif
