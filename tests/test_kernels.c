/*
 * test_kernels.c - every SIMD dot-product path the CPU supports agrees with
 * the scalar reference on random rows of every weight type, including odd
 * block counts, subnormal and extreme MXFP4 scales, and negative zero codes.
 */
#include "check.h"
#include "llm/gguf.h"
#include "llm/kernels.h"
#include "llm/quant.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x1234567;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int main(void)
{
    kern_level top = kern_init();
    printf("kernel level: %s\n", kern_level_name(top));
    const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0, GGML_F32, GGML_F16, GGML_BF16};
    const size_t lens[] = {32, 64, 96, 2880, 4096};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li], bytes = q_row_bytes(types[ti], n);
            uint8_t *row = malloc(bytes);
            float *x = malloc(n * sizeof *x);
            for (int trial = 0; trial < 20; trial++) {
                for (size_t i = 0; i < bytes; i++)
                    row[i] = (uint8_t)rnd();
                if (types[ti] == GGML_MXFP4 || types[ti] == GGML_MXFP4_OLLAMA)
                    for (size_t b = 0; b < n / 32; b++) /* scales around 2^0, sometimes extreme */
                        row[b * 17] = trial == 0 ? (uint8_t)(b % 2 ? 0 : 1) : (uint8_t)(120 + rnd() % 14);
                if (types[ti] == GGML_Q8_0)
                    for (size_t b = 0; b < n / 32; b++) {
                        uint16_t h = q_f32_to_fp16((float)(rnd() % 1000) / 5e4f);
                        row[b * 34] = (uint8_t)h;
                        row[b * 34 + 1] = (uint8_t)(h >> 8);
                    }
                if (types[ti] == GGML_F32)
                    for (size_t i = 0; i < n; i++) {
                        float v = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
                        memcpy(row + 4 * i, &v, 4);
                    }
                if (types[ti] == GGML_F16 || types[ti] == GGML_BF16)
                    for (size_t i = 0; i < n; i++)
                        row[2 * i + 1] &= 0xbf; /* keep exponents moderate: no inf/nan */
                double mag = 0;
                for (size_t i = 0; i < n; i++) {
                    x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
                }
                float ref = kern_dot_for(types[ti], KERN_SCALAR)(row, x, n);
                float *w = malloc(n * sizeof *w);
                q_dequant_row(types[ti], row, w, n);
                double exact = 0;
                for (size_t i = 0; i < n; i++) {
                    exact += (double)w[i] * x[i];
                    mag += fabs((double)w[i] * x[i]);
                }
                free(w);
                CHECK_MSG(fabs(ref - exact) <= 1e-5 * mag + 1e-30, "scalar type %u n %zu: %g vs %g", types[ti], n,
                          ref, exact);
                for (int l = KERN_AVX2; l <= (int)top; l++) {
                    float got = kern_dot_for(types[ti], (kern_level)l)(row, x, n);
                    CHECK_MSG(fabs(got - exact) <= 1e-5 * mag + 1e-30, "%s type %u n %zu: %g vs %g",
                              kern_level_name((kern_level)l), types[ti], n, got, exact);
                }
            }
            free(row);
            free(x);
        }
    }
    return check_summary("test_kernels");
}
