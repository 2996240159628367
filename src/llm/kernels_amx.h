/*
 * kernels_amx.h - the batched fast product on AMX tiles (internal to
 * kernels.c): weights and 8-bit activations turned into bf16 pieces and
 * multiplied with TDPBF16PS, f32 accumulation over the whole row.
 */
#ifndef RELIEF_KERNELS_AMX_H
#define RELIEF_KERNELS_AMX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when the CPU has AMX-TILE, AMX-BF16 and AVX512-BF16 and the
 * operating system granted this process the tile state (Linux's
 * arch_prctl(ARCH_REQ_XCOMP_PERM)); false elsewhere. Asks once; cannot
 * fail otherwise. */
bool amx_available(void);

/* Bytes of scratch amx_qgemm needs for rows of n columns and batches of
 * up to max_tokens tokens (besides the fallback's). */
size_t amx_scratch(size_t n, uint32_t max_tokens);

/* The product of kern_qgemm_fn (kernels.h) for GGML_MXFP4 or GGML_Q8_0
 * weights, T <= max_tokens of amx_scratch: Y[t*ldy + r] += W[r] . XQ[t].
 * Each token's activations (terms 8-bit terms) are rebuilt as floats and
 * split into two bf16 pieces (hi + lo, about 16 bits); MXFP4 weights are
 * exact in bf16, Q8_0 weights (int8 x f16 scale) are split the same way
 * (their lo piece meets only the activations' hi piece). The error is a
 * few 2^-16 of sum |w x|, where the integer kernels' is only the float
 * rounding of the block sums. A group of 32 rows holding an MXFP4 scale
 * outside 2^-126..2^124 (e = 1 or e > 252, not seen in real models) goes
 * to fallback(..., fallback_scratch, terms) instead. Only call when
 * amx_available(). */
typedef void (*amx_fallback_fn)(const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
                                uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms);
void amx_qgemm(uint32_t type, const uint8_t *W, size_t stride, uint32_t rows, const uint8_t *XQ, size_t ldxq,
               uint32_t T, size_t n, float *Y, size_t ldy, void *scratch, int terms, amx_fallback_fn fallback,
               void *fallback_scratch);

#endif
