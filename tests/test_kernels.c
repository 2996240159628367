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
 *
 * The fast path (8-bit activations): quantization is bit for bit the same
 * at every level; the integer products are exact, so the row and batched
 * products are held to the same 1e-5 x sum |terms| against the double
 * value of sum w_j d_b q_j (w decoded exactly), plus a bound for the
 * per-block factor when it is subnormal.
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

/* ---- the fast path: 8-bit activations ---- */

/* Bytes of a quantized vector of n elements with two terms (the most). */
static size_t q8_bytes(size_t n)
{
    return 2 * Q_Q8_BYTES(n);
}

/* A 4-byte aligned buffer for such a vector, with one spare byte. */
static uint8_t *q8_alloc(size_t n)
{
    return xmalloc(q8_bytes(n) + 4);
}

/* Activations of assorted shapes by trial: uniform, spread over 2^-20..2^20,
 * one large value among small ones, +-1 (so q = +-127), exact halves
 * around a 127 maximum (rounding ties), zero and tiny blocks, and (trial
 * 6) an infinity and a NaN in some blocks. */
static void fill_x(float *x, size_t n, int trial)
{
    for (size_t i = 0; i < n; i++) {
        float v = rndf();
        switch (trial % 8) {
        case 1: v = ldexpf(v, (int)(rnd() % 41) - 20); break;
        case 2: v = (i % 32 == 5) ? 1000.0f * v : 1e-3f * v; break;
        case 3: v = v < 0 ? -1.0f : 1.0f; break;
        case 4: v = (i % 32 == 0) ? 127.0f : (float)((int)(rnd() % 254) - 127) + 0.5f; break;
        case 5: v = (i / 32) % 3 == 0 ? 0.0f : (i / 32) % 3 == 1 ? ldexpf(v, -110) : v; break;
        case 6: v = (i / 32) % 4 == 1 && i % 32 == 7 ? INFINITY : (i / 32) % 4 == 2 && i % 32 == 9 ? NAN : v; break;
        default: break;
        }
        x[i] = v;
    }
}

/* The reference's promises for one term (quant.h) against x: q within
 * +-127, block sums and lane corrections c consistent with q, d repeated,
 * padding and blocks past n/32 zero; returns the number of violations.
 * For term 1 also |x - d q| <= d/2, max |q| = 127 and d = max|x| / 127
 * (or the zero and NaN rules); for term 2 (r: x - d q of term 1), d2 =
 * d/254 and |r - d2 q2| <= d2/2 unless clamped, give or take the f32
 * rounding of r. */
static int check_term(const float *x, const uint8_t *t, const uint8_t *t1, size_t n, int term)
{
    size_t nb = n / 32;
    int bad = 0;
    for (size_t b = 0; b < nb; b++) {
        bool finite = true;
        float a = 0, d = q_q8_d(t, b);
        for (int j = 0; j < 32; j++) {
            finite &= isfinite(x[b * 32 + j]);
            a = fmaxf(a, fabsf(x[b * 32 + j]));
        }
        int32_t s = 0, mq = 0;
        for (int j = 0; j < 32; j++) {
            int q = q_q8_at(t, b * 32 + j);
            s += q;
            mq = abs(q) > mq ? abs(q) : mq;
            double want = x[b * 32 + j];
            if (term == 2) {
                float d1 = q_q8_d(t1, b);
                want = x[b * 32 + j] - d1 * q_q8_at(t1, b * 32 + j);
            }
            /* term 2: r is computed in f32, within 2 ulp of x of the real r;
             * both: d = a / 127 and x * (127 / a) are rounded to f32, which
             * moves the rounding point of x by up to |q| ulp of d */
            double err = fabs(want - (double)d * q),
                   slack = (term == 2 ? 0x1p-22 * fabs(x[b * 32 + j]) : 0) + abs(q) * (double)d * 0x1p-23;
            if (finite && a >= 0x1p-100f && err > d * 0.5000001 + slack && abs(q) != 127)
                bad++;
        }
        bad += mq > 127;
        if (s != q_q8_sum(t, b))
            bad++;
        if (!finite)
            bad += !(isnan(d) && mq == 0);
        else if (a < 0x1p-100f)
            bad += !(d == 0 && mq == 0);
        else if (term == 1)
            bad += mq != 127 || d != a / 127.0f;
        else
            bad += d != q_q8_d(t1, b) / 254.0f;
    }
    for (size_t b = 0; b < (nb + 3) / 4 * 4; b++) {
        const uint8_t *g = t + b / 4 * 320 + b % 4 * 16;
        int32_t c[4], total = 0;
        float d[4];
        memcpy(c, g + 128, 16);
        memcpy(d, g + 192, 16);
        for (int l = 0; l < 4; l++) {
            int32_t sl = 0;
            for (int i = 0; i < 4; i++)
                sl += (int8_t)g[4 * l + i] + (int8_t)g[64 + 4 * l + i];
            bad += c[l] != -128 * sl || !same_float(d[l], d[0]);
            total += c[l];
        }
        bad += b < nb && total != -128 * q_q8_sum(t, b);
        if (b >= nb)
            for (int j = 0; j < 16; j++)
                bad += g[j] || g[64 + j] || g[128 + j] || g[192 + j];
        if (b % 4 == 0)
            for (int j = 272; j < 320; j++)
                bad += t[b / 4 * 320 + j] != 0;
    }
    return bad;
}

/* Quantization: the reference keeps its promises, and every level writes
 * its bytes exactly (NaN scales compared as NaN), for 1 and 2 terms,
 * nothing past the terms asked for. */
static void test_quant_q8(kern_level top)
{
    const size_t lens[] = {0, 32, 96, 160, 1056, 2880, 4096};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li], tb = Q_Q8_BYTES(n);
        float *x = xmalloc((n + 1) * sizeof *x);
        uint8_t *ref = q8_alloc(n), *got = q8_alloc(n);
        for (int trial = 0; trial < 16; trial++)
            for (int terms = 1; terms <= 2; terms++) {
                size_t bytes = terms * tb;
                fill_x(x, n, trial);
                ref[bytes] = 0xa5;
                q_quant_q8_row(x, ref, n, terms);
                CHECK(ref[bytes] == 0xa5);
                int bad = check_term(x, ref, NULL, n, 1) + (terms == 2 ? check_term(x, ref + tb, ref, n, 2) : 0);
                CHECK_MSG(bad == 0, "reference quantization n %zu trial %d terms %d: %d wrong", n, trial, terms,
                          bad);
                for (int l = KERN_SCALAR; l <= (int)top; l++) {
                    memset(got, 0x5a, bytes + 1);
                    kern_quant_q8_for((kern_level)l)(x, got, n, terms);
                    size_t diff = bytes;
                    for (size_t i = 0; i < bytes && diff == bytes; i++) {
                        if (i % 320 >= 192 && i % 320 < 256) { /* d: NaN equals NaN */
                            float a, b;
                            memcpy(&a, ref + i, 4);
                            memcpy(&b, got + i, 4);
                            if (!same_float(a, b))
                                diff = i;
                            i += 3;
                        } else if (ref[i] != got[i]) {
                            diff = i;
                        }
                    }
                    CHECK_MSG(diff == bytes, "%s quantization n %zu trial %d terms %d differs at byte %zu",
                              kern_level_name((kern_level)l), n, trial, terms, diff);
                    CHECK_MSG(got[bytes] == 0x5a, "%s quantization n %zu wrote past the buffer",
                              kern_level_name((kern_level)l), n);
                }
            }
        free(x);
        free(ref);
        free(got);
    }
}

/* The fast product's value in double: sum of w_j * d_b * q_j over the
 * terms, with the exactly decoded weights (quant.c's decoder, tested
 * above; MXFP4 blocks with e = 0 count as 0, quant.h); its magnitude (sum
 * of |terms|) for the tolerance. */
static double qdot_exact(uint32_t t, const uint8_t *row, const uint8_t *xq, size_t n, int terms, double *mag)
{
    float *w = xmalloc(n * sizeof *w);
    q_dequant_row(t, row, w, n);
    if (t != GGML_Q8_0)
        for (size_t b = 0; b < n / 32; b++)
            if (row[b * 17] == 0)
                memset(w + b * 32, 0, 32 * sizeof *w);
    double s = 0, m = 0;
    for (int k = 0; k < terms; k++) {
        const uint8_t *x = xq + k * Q_Q8_BYTES(n);
        for (size_t i = 0; i < n; i++) {
            double p = (double)w[i] * q_q8_d(x, i / 32) * q_q8_at(x, i);
            s += p;
            m += fabs(p);
        }
    }
    free(w);
    *mag = m;
    return s;
}

/* Tolerance of a fast product: the float sum's rounding as for the f32
 * dot products, plus what the per-block factor s_b d_b loses when it is
 * subnormal (the extreme MXFP4 scales of trial 0): at most 2^-150 x
 * |sum of the block's integer products| <= 2^-150 x 2^16 per block and
 * term. */
static double qdot_tol(double mag, size_t n)
{
    return SUM_TOL * mag + (double)(n / 32 + 1) * 0x1p-133;
}

/* The AMX product's bound (kernels_amx.h): activations and Q8_0 weights
 * in two bf16 pieces (2^-16 each, 2^-16 more for the lo x lo product left
 * out), and f32 sums over up to 2n products instead of n / 32 blocks. */
static double amx_tol(double mag, size_t n)
{
    return (3 * 0x1p-16 + 2.0 * (double)n * 0x1p-24) * mag + 0x1p-120;
}

/* Attention over many keys: scores and mixing at each level against double
 * sums, key counts around the 16-key step, head sizes off the 16-float
 * vector and past the 64-float register block, rows apart by more than d;
 * what lies past the outputs untouched. */
static void test_attention(kern_level top)
{
    const uint32_t nv[] = {0, 1, 15, 16, 17, 33, 100};
    const size_t dv[] = {7, 16, 48, 64, 80, 128};
    const float sentinel = 31.5f;
    for (size_t a = 0; a < sizeof nv / sizeof nv[0]; a++)
        for (size_t b = 0; b < sizeof dv / sizeof dv[0]; b++) {
            uint32_t n = nv[a];
            size_t d = dv[b], ld = d + 3;
            float *q = xmalloc(d * sizeof *q), *K = xmalloc((n * ld + 1) * sizeof *K);
            float *V = xmalloc((n * ld + 1) * sizeof *V), *p = xmalloc((n + 1) * sizeof *p);
            float *out = xmalloc((n + 1) * sizeof *out), *o = xmalloc((d + 1) * sizeof *o);
            float *o0 = xmalloc(d * sizeof *o0);
            for (size_t i = 0; i < d; i++) {
                q[i] = rndf();
                o0[i] = rndf();
            }
            for (size_t i = 0; i < n * ld; i++) {
                K[i] = rndf() * 3;
                V[i] = rndf();
            }
            for (uint32_t j = 0; j < n; j++)
                p[j] = fabsf(rndf());
            for (int l = KERN_SCALAR; l <= (int)top; l++) {
                for (uint32_t j = 0; j <= n; j++)
                    out[j] = sentinel;
                kern_scores_for((kern_level)l)(q, K, ld, n, d, 0.125f, out);
                int bad = out[n] != sentinel;
                for (uint32_t j = 0; j < n; j++) {
                    double want = 0, mag = 0;
                    for (size_t i = 0; i < d; i++) {
                        want += (double)q[i] * K[j * ld + i];
                        mag += fabs((double)q[i] * K[j * ld + i]);
                    }
                    bad += fabs(out[j] - 0.125 * want) > 0.125 * SUM_TOL * mag + 1e-30;
                }
                CHECK_MSG(bad == 0, "%s scores n %u d %zu: %d wrong", kern_level_name((kern_level)l), n, d, bad);
                memcpy(o, o0, d * sizeof *o);
                o[d] = sentinel;
                kern_mix_for((kern_level)l)(o, p, V, ld, n, d);
                bad = o[d] != sentinel;
                for (size_t i = 0; i < d; i++) {
                    double want = o0[i], mag = fabs(o0[i]);
                    for (uint32_t j = 0; j < n; j++) {
                        want += (double)p[j] * V[j * ld + i];
                        mag += fabs((double)p[j] * V[j * ld + i]);
                    }
                    bad += fabs(o[i] - want) > SUM_TOL * mag + 1e-30;
                }
                CHECK_MSG(bad == 0, "%s mix n %u d %zu: %d wrong", kern_level_name((kern_level)l), n, d, bad);
            }
            /* several queries: K transposed (d rows of n, ldkt apart), p rows */
            for (int nq = 1; nq <= KERN_MULTI; nq++) {
                size_t ldkt = n + 5, ldo = n + 1;
                float *Kt = xmalloc((d * ldkt + 1) * sizeof *Kt), *qs = xmalloc(nq * d * sizeof *qs);
                float *outs = xmalloc((nq * ldo + 1) * sizeof *outs), *ps = xmalloc((nq * n + 1) * sizeof *ps);
                float *os = xmalloc((nq * (d + 1) + 1) * sizeof *os);
                const float *qv[KERN_MULTI], *pv[KERN_MULTI];
                float *ov[KERN_MULTI];
                for (size_t i = 0; i < d * ldkt; i++)
                    Kt[i] = rndf() * 3;
                for (size_t i = 0; i < nq * d; i++)
                    qs[i] = rndf();
                for (size_t i = 0; i < nq * n; i++)
                    ps[i] = fabsf(rndf());
                for (int h = 0; h < nq; h++) {
                    qv[h] = qs + h * d;
                    pv[h] = ps + h * n;
                    ov[h] = os + h * (d + 1);
                }
                for (int l = KERN_SCALAR; l <= (int)top; l++) {
                    for (size_t i = 0; i <= nq * ldo; i++)
                        outs[i] = sentinel;
                    kern_scores_multi_for((kern_level)l)(qv, nq, Kt, ldkt, n, d, 0.25f, outs, ldo);
                    int bad = outs[nq * ldo] != sentinel;
                    for (int h = 0; h < nq; h++) {
                        bad += n < ldo && outs[h * ldo + n] != sentinel;
                        for (uint32_t j = 0; j < n; j++) {
                            double want = 0, mag = 0;
                            for (size_t i = 0; i < d; i++) {
                                want += (double)qv[h][i] * Kt[i * ldkt + j];
                                mag += fabs((double)qv[h][i] * Kt[i * ldkt + j]);
                            }
                            bad += fabs(outs[h * ldo + j] - 0.25 * want) > 0.25 * SUM_TOL * mag + 1e-30;
                        }
                    }
                    CHECK_MSG(bad == 0, "%s scores_multi %d n %u d %zu: %d wrong", kern_level_name((kern_level)l), nq,
                              n, d, bad);
                    for (int h = 0; h < nq; h++) {
                        memcpy(ov[h], o0, d * sizeof *o0);
                        ov[h][d] = sentinel;
                    }
                    kern_mix_multi_for((kern_level)l)(ov, nq, pv, V, ld, n, d);
                    bad = 0;
                    for (int h = 0; h < nq; h++) {
                        bad += ov[h][d] != sentinel;
                        for (size_t i = 0; i < d; i++) {
                            double want = o0[i], mag = fabs(o0[i]);
                            for (uint32_t j = 0; j < n; j++) {
                                want += (double)pv[h][j] * V[j * ld + i];
                                mag += fabs((double)pv[h][j] * V[j * ld + i]);
                            }
                            bad += fabs(ov[h][i] - want) > SUM_TOL * mag + 1e-30;
                        }
                    }
                    CHECK_MSG(bad == 0, "%s mix_multi %d n %u d %zu: %d wrong", kern_level_name((kern_level)l), nq, n,
                              d, bad);
                }
                free(Kt);
                free(qs);
                free(outs);
                free(ps);
                free(os);
            }
            free(q);
            free(K);
            free(V);
            free(p);
            free(out);
            free(o);
            free(o0);
        }
}

/* Rows of weights with extreme integers: Q8_0 all -128 or 127, MXFP4
 * codes all 7 or 15 (+-12 doubled); with x = +-1 (q = +-127) they test
 * the limits of the 16-bit products of the AVX2 kernels. */
static void fill_extreme(uint32_t t, uint8_t *row, size_t n, int k)
{
    for (size_t b = 0; b < n / 32; b++) {
        if (t == GGML_Q8_0) {
            uint16_t h = q_f32_to_fp16(0.01f);
            row[b * 34] = (uint8_t)h;
            row[b * 34 + 1] = (uint8_t)(h >> 8);
            memset(row + b * 34 + 2, k ? 0x80 : 0x7f, 32);
        } else {
            row[b * 17] = 127;
            memset(row + b * 17 + 1, k ? 0xff : 0x77, 16);
        }
    }
}

/* Row products, 1 and 2 terms: each level (and the AVX2 and AVX-VNNI
 * variants where the CPU has them) against the double value and the
 * scalar reference; rows misaligned by one byte. */
static void test_qdot(kern_level top)
{
    const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0};
    const size_t lens[] = {0, 32, 64, 96, 160, 544, 1056, 2880, 4096};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        CHECK(kern_qdot_for(t, KERN_SCALAR) != NULL);
        kern_qdot_fn variants[2] = {kern_qdot_avx2(t), kern_qdot_avxvnni(t)};
        const char *vname[2] = {"avx2 variant", "avx-vnni variant"};
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li], bytes = q_row_bytes(t, n);
            uint8_t *rowbuf = xmalloc(bytes + 1), *row = rowbuf + 1, *xq = q8_alloc(n);
            float *x = xmalloc((n + 1) * sizeof *x);
            for (int trial = 0; trial < 18; trial++)
                for (int terms = 1; terms <= 2; terms++) {
                    if (trial >= 16) {
                        fill_extreme(t, row, n, trial & 1);
                        fill_x(x, n, 3);
                    } else {
                        fill_row(t, row, n, trial);
                        fill_x(x, n, trial % 8 == 6 ? 0 : trial); /* non-finite x: below */
                    }
                    q_quant_q8_row(x, xq, n, terms);
                    double mag, exact = qdot_exact(t, row, xq, n, terms, &mag), tol = qdot_tol(mag, n);
                    float ref = kern_qdot_for(t, KERN_SCALAR)(row, xq, n, terms);
                    CHECK_MSG(fabs(ref - exact) <= tol, "scalar qdot %s n %zu trial %d terms %d: %g vs %g",
                              type_name(t), n, trial, terms, ref, exact);
                    for (int l = KERN_AVX2; l <= (int)top + 2; l++) {
                        kern_qdot_fn f = l <= (int)top ? kern_qdot_for(t, (kern_level)l) : variants[l - top - 1];
                        if (!f)
                            continue;
                        float got = f(row, xq, n, terms);
                        CHECK_MSG(fabs(got - exact) <= tol && fabs(got - ref) <= tol,
                                  "%s qdot %s n %zu trial %d terms %d: %g vs exact %g, scalar %g",
                                  l <= (int)top ? kern_level_name((kern_level)l) : vname[l - top - 1], type_name(t),
                                  n, trial, terms, got, exact, ref);
                    }
                }
            /* A NaN or infinity in x gives NaN, at every level. */
            if (n >= 96) {
                fill_row(t, row, n, 3);
                fill_x(x, n, 6);
                q_quant_q8_row(x, xq, n, 2);
                for (int l = KERN_SCALAR; l <= (int)top; l++)
                    for (int terms = 1; terms <= 2; terms++)
                        CHECK_MSG(isnan(kern_qdot_for(t, (kern_level)l)(row, xq, n, terms)),
                                  "%s qdot %s n %zu: NaN lost", kern_level_name((kern_level)l), type_name(t), n);
            }
            free(rowbuf);
            free(xq);
            free(x);
        }
    }
    CHECK(kern_qdot_for(GGML_F32, top) == NULL && kern_qdot_for(GGML_F16, top) == NULL &&
          kern_qdot_for(GGML_BF16, top) == NULL);
}

/* Batched fast products, 1 and 2 terms: row counts around the 16-row
 * tile, token counts around the 4-token group, wide strides; each level
 * against the double values and the scalar level; padding of Y untouched. */
static void test_qgemm(kern_level top)
{
    const uint32_t types[] = {GGML_MXFP4, GGML_MXFP4_OLLAMA, GGML_Q8_0};
    const uint32_t rowsv[] = {0, 1, 3, 15, 16, 17, 33};
    const uint32_t Tv[] = {0, 1, 3, 4, 5, 9, 17, 40};
    const size_t nv[] = {32, 96, 160, 2880};
    const float sentinel = 777.25f;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t a = 0; a < sizeof rowsv / sizeof rowsv[0]; a++)
            for (size_t b = 0; b < sizeof Tv / sizeof Tv[0]; b++)
                for (size_t c = 0; c < sizeof nv / sizeof nv[0]; c++)
                    for (int terms = 1; terms <= 2; terms++) {
                        uint32_t t = types[ti], rows = rowsv[a], T = Tv[b];
                        size_t n = nv[c], stride = q_row_bytes(t, n) + 5, ldxq = q8_bytes(n) + 8, ldy = rows + 2;
                        if (n == 2880 && rows * T > 100)
                            continue; /* large n: the small shapes are enough */
                        uint8_t *W = xmalloc(rows * stride + 1), *XQ = xmalloc(T * ldxq + 4);
                        float *x = xmalloc(n * sizeof *x);
                        float *Y0 = xmalloc(T * ldy * sizeof *Y0 + 1), *Yr = xmalloc(T * ldy * sizeof *Yr + 1);
                        float *Yl = xmalloc(T * ldy * sizeof *Yl + 1);
                        size_t ss = kern_qgemm_scratch(n, T);
                        void *scratch = aligned_alloc(64, (ss + 63) / 64 * 64 + 64);
                        for (uint32_t r = 0; r < rows; r++)
                            fill_row(t, W + r * stride, n, (int)(r % 5) + 1);
                        /* MXFP4 scales the AMX tiles treat apart: e = 0 (weights count as 0) in
                         * the first group of 32 rows, e = 1 (below bf16's range: the group goes
                         * to the VNNI kernel) in the second */
                        if (t == GGML_MXFP4 && rows >= 3)
                            W[1 * stride] = 0;
                        if (t == GGML_MXFP4 && rows >= 33)
                            W[32 * stride + 17] = 1;
                        for (uint32_t k = 0; k < T; k++) {
                            fill_x(x, n, (int)(k % 5));
                            q_quant_q8_row(x, XQ + k * ldxq, n, terms);
                        }
                        for (uint32_t k = 0; k < T; k++)
                            for (size_t r = 0; r < ldy; r++)
                                Y0[k * ldy + r] = r < rows ? rndf() : sentinel;
                        memcpy(Yr, Y0, T * ldy * sizeof *Yr);
                        kern_qgemm_for(t, KERN_SCALAR)(W, stride, rows, XQ, ldxq, T, n, Yr, ldy, scratch, terms);
                        /* levels, then the AMX variant where there is one */
                        for (int l = KERN_SCALAR; l <= (int)top + 1; l++) {
                            kern_qgemm_fn f = l <= (int)top ? kern_qgemm_for(t, (kern_level)l) : kern_qgemm_amx(t);
                            if (!f)
                                break;
                            bool amx = l > (int)top;
                            memcpy(Yl, Y0, T * ldy * sizeof *Yl);
                            f(W, stride, rows, XQ, ldxq, T, n, Yl, ldy, scratch, terms);
                            int bad = 0;
                            for (uint32_t k = 0; k < T; k++)
                                for (size_t r = 0; r < ldy; r++) {
                                    float got = Yl[k * ldy + r];
                                    if (r >= rows) {
                                        bad += got != sentinel;
                                        continue;
                                    }
                                    double mag;
                                    double exact = Y0[k * ldy + r] +
                                                   qdot_exact(t, W + r * stride, XQ + k * ldxq, n, terms, &mag);
                                    double tol = amx ? amx_tol(mag + fabs(Y0[k * ldy + r]), n)
                                                     : qdot_tol(mag + fabs(Y0[k * ldy + r]), n);
                                    if (fabs(got - exact) > tol || fabs(got - Yr[k * ldy + r]) > tol) {
                                        if (!bad)
                                            fprintf(stderr, "Y[%u][%zu] = %g, exact %g, scalar %g\n", k, r, got,
                                                    exact, Yr[k * ldy + r]);
                                        bad++;
                                    }
                                }
                            CHECK_MSG(bad == 0, "%s qgemm %s rows %u T %u n %zu terms %d: %d elements wrong",
                                      amx ? "amx" : kern_level_name((kern_level)l), type_name(t), rows, T, n, terms,
                                      bad);
                        }
                        free(W);
                        free(XQ);
                        free(x);
                        free(Y0);
                        free(Yr);
                        free(Yl);
                        free(scratch);
                    }
    CHECK(kern_qgemm_for(GGML_F32, top) == NULL);
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
                 kern_dequant(types[i]) == kern_dequant_for(types[i], l) &&
                 kern_qdot(types[i]) == kern_qdot_for(types[i], l) &&
                 kern_qgemm(types[i]) == (kern_qgemm_amx(types[i]) ? kern_qgemm_amx(types[i]) : kern_qgemm_for(types[i], l));
        ok = ok && kern_quant_q8() == kern_quant_q8_for(l);
        _exit(ok ? (int)l : 100);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -2;
    return WEXITSTATUS(st) == 100 ? -1 : WEXITSTATUS(st);
}

/* f16 conversion (KV snapshots): known roundings, every level against
 * the scalar one on random values of every magnitude, and every f16 value
 * back to f32. */
static void test_f16(kern_level top)
{
    static const struct {
        float x;
        uint16_t h;
    } known[] = {
        {1.0f, 0x3c00},          {-2.0f, 0xc000},           {65504.0f, 0x7bff}, {5.9604645e-8f, 0x0001},
        {2.9802322e-8f, 0x0000}, {1.0f + 0x1p-11f, 0x3c00}, /* a tie: to even */
        {1.0f + 0x3p-11f, 0x3c02}, {0.0f, 0x0000},           {-0.0f, 0x8000},    {6.1035156e-5f, 0x0400},
    };
    size_t nk = sizeof known / sizeof known[0];
    for (int l = KERN_SCALAR; l <= (int)top; l++) {
        kern_to_f16_fn to = kern_to_f16_for((kern_level)l);
        float xs[16];
        uint16_t hs[16];
        for (size_t i = 0; i < nk; i++)
            xs[i] = known[i].x;
        CHECK(to(xs, hs, nk));
        for (size_t i = 0; i < nk; i++)
            CHECK_MSG(hs[i] == known[i].h, "level %d: %g -> %#x, want %#x", l, (double)known[i].x, hs[i], known[i].h);
        /* no finite f16: in the vector part and in the tail */
        const float bad[] = {65520.0f, INFINITY, -INFINITY, NAN, 1e30f};
        for (size_t b = 0; b < 5; b++)
            for (size_t at = 0; at < 16; at += 15) {
                for (size_t i = 0; i < 16; i++)
                    xs[i] = (float)i;
                xs[at] = bad[b];
                CHECK_MSG(!to(xs, hs, 16), "level %d: %g at %zu taken as finite", l, (double)bad[b], at);
            }
        size_t n = 4099;
        float *x = xmalloc(n * sizeof *x);
        uint16_t *want = xmalloc(n * sizeof *want), *got = xmalloc(n * sizeof *got);
        uint32_t seed = 12345;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            int e = (int)(seed >> 24) % 40 - 28; /* 2^-28 .. 2^11: subnormals to large */
            x[i] = ldexpf((float)(seed & 0xffffff) / 16777216.0f + 0.5f, e) * (seed & 0x100 ? -1.0f : 1.0f);
            want[i] = q_f32_to_fp16(x[i]);
        }
        CHECK(to(x, got, n));
        size_t diff = 0;
        for (size_t i = 0; i < n; i++)
            diff += got[i] != want[i];
        CHECK_MSG(diff == 0, "level %d: %zu of %zu roundings differ from q_f32_to_fp16", l, diff, n);
        kern_from_f16_fn from = kern_from_f16_for((kern_level)l);
        uint16_t *all = xmalloc(65536 * sizeof *all);
        float *back = xmalloc(65536 * sizeof *back);
        for (uint32_t h = 0; h < 65536; h++)
            all[h] = (uint16_t)h;
        from(all, back, 65536);
        size_t wrong = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float r = q_fp16_to_f32((uint16_t)h);
            if (isnan(r))
                wrong += !isnan(back[h]);
            else
                wrong += memcmp(&r, &back[h], sizeof r) != 0;
        }
        CHECK_MSG(wrong == 0, "level %d: %zu f16 values read back wrong", l, wrong);
        free(x);
        free(want);
        free(got);
        free(all);
        free(back);
    }
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
    printf("AMX tiles: %s\n", kern_has_amx() ? "on this CPU, their batched product compared with the reference"
                                              : "not on this CPU (or RELIEF_NO_AMX): not tested here");

    test_dot(top);
    test_dequant(top);
    test_gemm(top);
    test_vector_ops(top);
    test_attention(top);
    test_quant_q8(top);
    test_qdot(top);
    test_qgemm(top);
    test_f16(top);
    return check_summary("test_kernels");
}
