/*
 * test_kernels.c - every SIMD path the CPU supports (AVX2, AVX-512) agrees
 * with the scalar reference and with a double-precision sum: dot products
 * of every weight type (odd block counts, subnormal and extreme MXFP4
 * scales, negative zero codes), row decoding, the batched product and the
 * attention vector operations, on random inputs of awkward sizes and
 * strides; and RELIEF_SCALAR selects the scalar level.
 *
 * Tolerances. The levels compute the same mathematical value and differ
 * only in summation order and FMA contraction, so:
 *  - a sum of products (dot, gemm, vdot) agrees within
 *    1e-5 x sum|w_i x_i| (+ |y| for gemm's accumulation into y): the
 *    float rounding of each path grows like sqrt(n) x 2^-24 of that
 *    magnitude, a few 1e-6 at the largest n here;
 *  - decoding (dequant) is exact: bit for bit the same floats (NaN for NaN);
 *  - vaxpy (y += a x, one rounding with FMA or two without) agrees within
 *    2 FLT_EPSILON x (|y| + |a x|) per element;
 *  - nothing past the n elements, rows or tokens given is written.
 */
#include "check.h"
#include "llm/gguf.h"
#include "llm/kernels.h"
#include "llm/quant.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUM_TOL 1e-5

static uint64_t rng = 0x1234567;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Uniform in [-1, 1), with all 24 bits of mantissa in use. */
static float rndf(void)
{
    return (float)((double)(rnd() >> 8) / (1 << 23) - 1.0);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case GGML_F32: return "F32";
    case GGML_F16: return "F16";
    case GGML_BF16: return "BF16";
    case GGML_Q8_0: return "Q8_0";
    case GGML_MXFP4: return "MXFP4";
    case GGML_MXFP4_OLLAMA: return "MXFP4(ollama)";
    }
    return "?";
}

static bool blocked(uint32_t t)
{
    return t == GGML_Q8_0 || t == GGML_MXFP4 || t == GGML_MXFP4_OLLAMA;
}

/* A random row of n elements of type t with finite weights of moderate
 * size (trial 0 of MXFP4: the extreme scales 2^-127 and 2^-126). */
static void fill_row(uint32_t t, uint8_t *row, size_t n, int trial)
{
    size_t bytes = q_row_bytes(t, n);
    for (size_t i = 0; i < bytes; i++)
        row[i] = (uint8_t)rnd();
    if (t == GGML_MXFP4 || t == GGML_MXFP4_OLLAMA)
        for (size_t b = 0; b < n / 32; b++) /* scales around 2^0, sometimes extreme */
            row[b * 17] = trial == 0 ? (uint8_t)(b % 2 ? 0 : 1) : (uint8_t)(120 + rnd() % 14);
    if (t == GGML_Q8_0)
        for (size_t b = 0; b < n / 32; b++) {
            uint16_t h = q_f32_to_fp16((float)(rnd() % 1000) / 5e4f);
            row[b * 34] = (uint8_t)h;
            row[b * 34 + 1] = (uint8_t)(h >> 8);
        }
    if (t == GGML_F32)
        for (size_t i = 0; i < n; i++) {
            float v = rndf();
            memcpy(row + 4 * i, &v, 4);
        }
    if (t == GGML_F16 || t == GGML_BF16)
        for (size_t i = 0; i < n; i++)
            row[2 * i + 1] &= 0xbf; /* keep exponents moderate: no inf/nan */
}

/* Dot products: each level against the double sum of the decoded
 * weights, and against the scalar level. Rows and x are deliberately
 * misaligned (row + 1 byte, x + 1 float). */
static void test_dot(kern_level top)
{
    const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0, GGML_F32, GGML_F16, GGML_BF16};
    /* Blocked types: 0, 1, 3, 5, 17, 33, 90 and 128 blocks; the others any n. */
    const size_t blens[] = {0, 32, 96, 160, 544, 1056, 2880, 4096};
    const size_t flens[] = {0, 1, 7, 15, 16, 17, 31, 33, 100, 1001, 2880};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        const size_t *lens = blocked(t) ? blens : flens;
        size_t nlens = blocked(t) ? sizeof blens / sizeof blens[0] : sizeof flens / sizeof flens[0];
        for (size_t li = 0; li < nlens; li++) {
            size_t n = lens[li], bytes = q_row_bytes(t, n);
            uint8_t *rowbuf = xmalloc(bytes + 1), *row = rowbuf + 1;
            float *xbuf = xmalloc((n + 1) * sizeof *xbuf), *x = xbuf + 1;
            float *w = xmalloc(n * sizeof *w);
            for (int trial = 0; trial < 12; trial++) {
                fill_row(t, row, n, trial);
                for (size_t i = 0; i < n; i++)
                    x[i] = rndf();
                q_dequant_row(t, row, w, n);
                double exact = 0, mag = 0;
                for (size_t i = 0; i < n; i++) {
                    exact += (double)w[i] * x[i];
                    mag += fabs((double)w[i] * x[i]);
                }
                double tol = SUM_TOL * mag + 1e-30;
                float ref = kern_dot_for(t, KERN_SCALAR)(row, x, n);
                CHECK_MSG(fabs(ref - exact) <= tol, "scalar dot %s n %zu: %g vs %g", type_name(t), n, ref, exact);
                for (int l = KERN_AVX2; l <= (int)top; l++) {
                    float got = kern_dot_for(t, (kern_level)l)(row, x, n);
                    CHECK_MSG(fabs(got - exact) <= tol && fabs(got - ref) <= tol,
                              "%s dot %s n %zu: %g vs exact %g, scalar %g", kern_level_name((kern_level)l),
                              type_name(t), n, got, exact, ref);
                }
            }
            free(w);
            free(rowbuf);
            free(xbuf);
        }
    }
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a);
}

/* Row decoding: bit-exact across levels, on any bytes (every MXFP4 scale
 * including 255 = inf, every f16/bf16 pattern including inf and NaN);
 * nothing written past n. */
static void test_dequant(kern_level top)
{
    const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0, GGML_F32, GGML_F16, GGML_BF16};
    const size_t blens[] = {0, 32, 96, 160, 1056};
    const size_t flens[] = {0, 1, 7, 17, 33, 1001};
    const float sentinel = -12345.5f;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        const size_t *lens = blocked(t) ? blens : flens;
        size_t nlens = blocked(t) ? sizeof blens / sizeof blens[0] : sizeof flens / sizeof flens[0];
        for (size_t li = 0; li < nlens; li++) {
            size_t n = lens[li], bytes = q_row_bytes(t, n);
            uint8_t *rowbuf = xmalloc(bytes + 1), *row = rowbuf + 1;
            float *ref = xmalloc((n + 1) * sizeof *ref), *got = xmalloc((n + 1) * sizeof *got);
            for (int trial = 0; trial < 8; trial++) {
                for (size_t i = 0; i < bytes; i++)
                    row[i] = (uint8_t)rnd();
                if (trial == 0 && (t == GGML_MXFP4 || t == GGML_MXFP4_OLLAMA))
                    for (size_t b = 0; b < n / 32; b++)
                        row[b * 17] = (uint8_t)(b % 3 == 0 ? 0 : b % 3 == 1 ? 254 : 255);
                ref[n] = sentinel;
                kern_dequant_for(t, KERN_SCALAR)(row, ref, n);
                /* The scalar decoder is quant.c's reference. */
                float *q = xmalloc((n + 1) * sizeof *q);
                q_dequant_row(t, row, q, n);
                size_t bad = n;
                for (size_t i = 0; i < n && bad == n; i++)
                    if (!same_float(ref[i], q[i]))
                        bad = i;
                CHECK_MSG(bad == n, "scalar dequant %s n %zu differs at %zu", type_name(t), n, bad);
                free(q);
                for (int l = KERN_AVX2; l <= (int)top; l++) {
                    got[n] = sentinel;
                    kern_dequant_for(t, (kern_level)l)(row, got, n);
                    bad = n;
                    for (size_t i = 0; i < n && bad == n; i++)
                        if (!same_float(ref[i], got[i]))
                            bad = i;
                    CHECK_MSG(bad == n, "%s dequant %s n %zu: element %zu is %g, scalar %g",
                              kern_level_name((kern_level)l), type_name(t), n, bad, bad < n ? got[bad] : 0,
                              bad < n ? ref[bad] : 0);
                    CHECK_MSG(got[n] == sentinel, "%s dequant %s n %zu wrote past the row",
                              kern_level_name((kern_level)l), type_name(t), n);
                }
            }
            free(rowbuf);
            free(ref);
            free(got);
        }
    }
}

/* Batched product Y += W X^T on decoded rows: row and token counts that
 * are not multiples of the 4 x 4 tile, n an odd number of 16-float
 * vectors, strides wider than the data. Each level against the double
 * sum and the scalar level; padding of Y untouched. */
static void test_gemm(kern_level top)
{
    const uint32_t rowsv[] = {0, 1, 3, 4, 5, 9};
    const uint32_t Tv[] = {0, 1, 3, 4, 6, 7};
    const size_t nv[] = {0, 16, 48, 80, 272};
    const float sentinel = 777.25f;
    for (size_t a = 0; a < sizeof rowsv / sizeof rowsv[0]; a++)
        for (size_t b = 0; b < sizeof Tv / sizeof Tv[0]; b++)
            for (size_t c = 0; c < sizeof nv / sizeof nv[0]; c++) {
                uint32_t rows = rowsv[a], T = Tv[b];
                size_t n = nv[c], ldw = n + 3, ldx = n + 5, ldy = rows + 2;
                float *W = xmalloc(rows * ldw * sizeof *W), *X = xmalloc(T * ldx * sizeof *X);
                float *Y0 = xmalloc(T * ldy * sizeof *Y0), *Yr = xmalloc(T * ldy * sizeof *Yr);
                float *Yl = xmalloc(T * ldy * sizeof *Yl);
                for (size_t i = 0; i < rows * ldw; i++)
                    W[i] = rndf();
                for (size_t i = 0; i < T * ldx; i++)
                    X[i] = rndf();
                for (uint32_t t = 0; t < T; t++)
                    for (size_t r = 0; r < ldy; r++)
                        Y0[t * ldy + r] = r < rows ? rndf() : sentinel;
                memcpy(Yr, Y0, T * ldy * sizeof *Yr);
                kern_gemm_for(KERN_SCALAR)(W, ldw, rows, X, ldx, T, n, Yr, ldy);
                for (int l = KERN_SCALAR; l <= (int)top; l++) {
                    memcpy(Yl, Y0, T * ldy * sizeof *Yl);
                    kern_gemm_for((kern_level)l)(W, ldw, rows, X, ldx, T, n, Yl, ldy);
                    int bad = 0;
                    for (uint32_t t = 0; t < T; t++)
                        for (size_t r = 0; r < ldy; r++) {
                            float got = Yl[t * ldy + r];
                            if (r >= rows) {
                                bad += got != sentinel;
                                continue;
                            }
                            double exact = Y0[t * ldy + r], mag = fabs(exact);
                            for (size_t k = 0; k < n; k++) {
                                double p = (double)W[r * ldw + k] * X[t * ldx + k];
                                exact += p;
                                mag += fabs(p);
                            }
                            double tol = SUM_TOL * mag;
                            if (fabs(got - exact) > tol || fabs(got - Yr[t * ldy + r]) > tol) {
                                if (!bad)
                                    fprintf(stderr, "Y[%u][%zu] = %g, exact %g, scalar %g\n", t, r, got, exact,
                                            Yr[t * ldy + r]);
                                bad++;
                            }
                        }
                    CHECK_MSG(bad == 0, "%s gemm rows %u T %u n %zu: %d elements wrong",
                              kern_level_name((kern_level)l), rows, T, n, bad);
                }
                free(W);
                free(X);
                free(Y0);
                free(Yr);
                free(Yl);
            }
}

/* Attention's f32 vector operations at every length around the 16-lane
 * width, against double sums and the scalar level. */
static void test_vector_ops(kern_level top)
{
    const size_t lens[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4097};
    const float sentinel = 4242.0f;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        float *abuf = xmalloc((n + 2) * sizeof *abuf), *a = abuf + 1; /* misaligned by one float */
        float *b = xmalloc(n * sizeof *b);
        float *y0 = xmalloc((n + 1) * sizeof *y0), *yr = xmalloc((n + 1) * sizeof *yr);
        float *yl = xmalloc((n + 1) * sizeof *yl);
        for (int trial = 0; trial < 10; trial++) {
            for (size_t i = 0; i < n; i++) {
                a[i] = rndf();
                b[i] = rndf() * (trial + 1);
                y0[i] = rndf() * 4;
            }
            y0[n] = sentinel;
            double exact = 0, mag = 0;
            for (size_t i = 0; i < n; i++) {
                exact += (double)a[i] * b[i];
                mag += fabs((double)a[i] * b[i]);
            }
            double tol = SUM_TOL * mag + 1e-30;
            float ref = kern_vdot_for(KERN_SCALAR)(a, b, n);
            CHECK_MSG(fabs(ref - exact) <= tol, "scalar vdot n %zu: %g vs %g", n, ref, exact);
            for (int l = KERN_AVX2; l <= (int)top; l++) {
                float got = kern_vdot_for((kern_level)l)(a, b, n);
                CHECK_MSG(fabs(got - exact) <= tol && fabs(got - ref) <= tol,
                          "%s vdot n %zu: %g vs exact %g, scalar %g", kern_level_name((kern_level)l), n, got, exact,
                          ref);
            }

            float s = trial == 0 ? 0.0f : trial == 1 ? -2.5f : rndf() * 3;
            memcpy(yr, y0, (n + 1) * sizeof *yr);
            kern_vaxpy_for(KERN_SCALAR)(yr, s, a, n);
            for (int l = KERN_SCALAR; l <= (int)top; l++) {
                memcpy(yl, y0, (n + 1) * sizeof *yl);
                kern_vaxpy_for((kern_level)l)(yl, s, a, n);
                size_t bad = n;
                for (size_t i = 0; i < n && bad == n; i++) {
                    double want = (double)y0[i] + (double)s * a[i];
                    double t2 = 2 * FLT_EPSILON * (fabs(y0[i]) + fabs((double)s * a[i]));
                    if (fabs(yl[i] - want) > t2 || fabs(yl[i] - yr[i]) > t2)
                        bad = i;
                }
                CHECK_MSG(bad == n, "%s vaxpy n %zu a %g: element %zu is %g, scalar %g",
                          kern_level_name((kern_level)l), n, s, bad, bad < n ? yl[bad] : 0, bad < n ? yr[bad] : 0);
                CHECK_MSG(yl[n] == sentinel, "%s vaxpy n %zu wrote past y", kern_level_name((kern_level)l), n);
            }
        }
        free(abuf);
        free(b);
        free(y0);
        free(yr);
        free(yl);
    }
}

/* The level kern_init picks in a fresh process with RELIEF_SCALAR set to
 * value (NULL: unset), or -1 when its dispatch functions disagree with
 * that level's explicit ones. */
static int level_with_env(const char *value)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -2;
    if (pid == 0) {
        if (value)
            setenv("RELIEF_SCALAR", value, 1);
        else
            unsetenv("RELIEF_SCALAR");
        kern_level l = kern_init();
        int ok = kern_gemm() == kern_gemm_for(l) && kern_vdot() == kern_vdot_for(l) &&
                 kern_vaxpy() == kern_vaxpy_for(l);
        const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0, GGML_F32, GGML_F16, GGML_BF16};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            ok = ok && kern_dot(types[i]) == kern_dot_for(types[i], l) &&
                 kern_dequant(types[i]) == kern_dequant_for(types[i], l);
        _exit(ok ? (int)l : 100);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -2;
    return WEXITSTATUS(st) == 100 ? -1 : WEXITSTATUS(st);
}

int main(void)
{
    /* Every level the CPU has is compared, whatever the caller's environment. */
    int cpu = level_with_env(NULL);
    CHECK_MSG(cpu >= 0, "dispatch without RELIEF_SCALAR: %d", cpu);
    CHECK_MSG(level_with_env("1") == KERN_SCALAR, "RELIEF_SCALAR=1 does not select the scalar level");
    CHECK_MSG(level_with_env("yes") == KERN_SCALAR, "RELIEF_SCALAR=yes does not select the scalar level");
    CHECK_MSG(level_with_env("0") == cpu, "RELIEF_SCALAR=0 does not leave the CPU's level");
    CHECK_MSG(level_with_env("") == cpu, "an empty RELIEF_SCALAR does not leave the CPU's level");
    unsetenv("RELIEF_SCALAR");
    kern_level top = kern_init();
    CHECK((int)top == cpu);
    printf("kernel level: %s (every level up to it compared with scalar)\n", kern_level_name(top));

    test_dot(top);
    test_dequant(top);
    test_gemm(top);
    test_vector_ops(top);
    return check_summary("test_kernels");
}
