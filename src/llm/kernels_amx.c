/*
 * kernels_amx.c - the batched fast product on AMX tiles (bf16 pieces, f32 sums).
 *
 * Why bf16 and not AMX's int8 product: the integer sums of the VNNI
 * kernels must be scaled block by block (every 32 columns has its own
 * weight and activation scale), so an int8 tile product would have to be
 * stored and rescaled after every block, and that epilogue would cost more
 * vector instructions than the VNNI kernel spends. In bf16 the scales go
 * into the operands: MXFP4 weights (E2M1 x 2^e) are exact bf16 numbers,
 * and the activations and Q8_0 weights are split into two bf16 pieces, so
 * one f32 accumulator tile runs over the whole row with no epilogue.
 *
 * Layout. A (tile registers 0, 1) holds 16 weight rows x one block of 32
 * columns, row by row (64 bytes per row, natural order); B (2, 3) holds
 * one block for 16 tokens as TDPBF16PS wants it: row k is the pair of
 * elements (2k, 2k+1) of each token, token j at bytes 4j..4j+3. C (4-7)
 * is C[i][j] = row tile i x token tile j, f32, 16 rows x 16 tokens.
 */
#include "kernels_amx.h"
#include "gguf.h"
#include "quant.h"
#include <assert.h>
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define AMX_TARGET "avx512f,avx512bw,avx512vl,avx512bf16,f16c,amx-tile,amx-bf16"
#define TILE_BYTES 1024 /* 16 rows x 64 bytes */
#define ROWS_PER_PASS 32
#ifndef AMX_PREFETCH
#define AMX_PREFETCH 2048 /* bytes ahead of the block being converted */
#endif

/* The tile configuration of palette 1 (Intel SDM, LDTILECFG). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

/* For each MXFP4 scale byte e, the 32 bf16 words vpermw looks codes up in:
 * the doubled E2M1 values (0, 1, 2, 3, 4, 6, 8, 12 and their negatives)
 * times 2^(e - 128), twice, so that bit 4 of an index does not matter
 * (the nibbles need no masking). e = 0 is all zeros (quant.h: such
 * weights count as 0); e = 1 and e > 252 fall outside bf16's normal
 * range and are marked in scale_bad instead. */
static _Alignas(64) uint16_t scaled_lut[256][32];
static uint8_t scale_bad[256];

static void init_tables(void)
{
    static const uint16_t unit[16] = {0, 0x3F80, 0x4000, 0x4040, 0x4080, 0x40C0, 0x4100, 0x4140,
                                      0x8000, 0xBF80, 0xC000, 0xC040, 0xC080, 0xC0C0, 0xC100, 0xC140};
    for (int e = 0; e < 256; e++) {
        scale_bad[e] = e == 1 || e > 252;
        for (int i = 0; i < 32; i++) {
            uint16_t u = unit[i % 16];
            bool zero = (u & 0x7fff) == 0 || e == 0 || scale_bad[e];
            scaled_lut[e][i] = zero ? (uint16_t)(e == 0 || scale_bad[e] ? 0 : u) : (uint16_t)(u + (e - 128) * 128);
        }
    }
}

bool amx_available(void)
{
    static int known = -1;
    if (known >= 0)
        return known;
    unsigned a, b, c, d, a1, b1, c1, d1;
    bool cpu = __get_cpuid_count(7, 0, &a, &b, &c, &d) && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) &&
               (d >> 22 & 1) /* AMX-BF16 */ && (d >> 24 & 1) /* AMX-TILE */ && (a1 >> 5 & 1) /* AVX512-BF16 */ &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    bool granted = false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18): without it
     * the first tile instruction kills the process. Granted per process. */
    if (cpu)
        granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
    if (cpu && granted)
        init_tables();
    known = cpu && granted;
    return known;
}

static size_t act_bytes(size_t nb, uint32_t tokens)
{
    return (size_t)(tokens + 15) / 16 * nb * 2 * TILE_BYTES;
}

size_t amx_scratch(size_t n, uint32_t max_tokens)
{
    size_t nb = n / 32;
    /* weights (row tile (2) x piece (2) x nb blocks); activations; C out; slack */
    return nb * 4 * TILE_BYTES + act_bytes(nb, max_tokens) + 4 * TILE_BYTES + 64;
}

/* The weight tiles are row-major (row m of row tile i, piece p: nb blocks
 * of 64 bytes in a row), so that converting a row writes one sequential
 * stream; a tile load takes block b of 16 rows with a stride of nb * 64
 * bytes. (Laid out tile by tile, a row's stores went 4 KiB apart, all to
 * one cache set, and converting ran at a third of the memory's speed.) */
static uint8_t *wrow(uint8_t *wbuf, size_t nb, int i, int piece, size_t m)
{
    return wbuf + (((size_t)i * 2 + (size_t)piece) * 16 + m) * nb * 64;
}

static uint8_t *atile(uint8_t *abuf, size_t nb, size_t tt, size_t b, int piece)
{
    return abuf + ((tt * nb + b) * 2 + (size_t)piece) * TILE_BYTES;
}

/* f32 to two bf16 pieces, 32 values (v0: elements 0-15, v1: 16-31). */
__attribute__((target(AMX_TARGET), always_inline)) static inline void split_bf16(__m512 v0, __m512 v1, __m512i *hi,
                                                                                 __m512i *lo)
{
    __m512i h = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    __m512 b0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    __m512 b1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    *hi = h;
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, b1), _mm512_sub_ps(v0, b0));
}

/* Rows [0, nr) of W (nr <= 32) into the weight tiles; rows past nr are
 * zero. Row by row: each row is one sequential stream (block by block
 * across 32 rows, the reads ran 20 % slower). Returns false when an MXFP4
 * scale is outside bf16's normal range (the caller then uses the fallback
 * for these rows). */
__attribute__((target(AMX_TARGET))) static bool convert_weights(uint32_t type, const uint8_t *W, size_t stride,
                                                                uint32_t nr, size_t nb, uint8_t *wbuf)
{
    int pieces = type == GGML_Q8_0 ? 2 : 1;
    unsigned bad = 0;
    for (uint32_t r = 0; r < ROWS_PER_PASS; r++) {
        int i = (int)(r / 16);
        size_t m = r % 16;
        uint8_t *o = wrow(wbuf, nb, i, 0, m), *o_lo = wrow(wbuf, nb, i, 1, m);
        if (r >= nr) {
            memset(o, 0, nb * 64);
            if (pieces == 2)
                memset(o_lo, 0, nb * 64);
            continue;
        }
        const uint8_t *row = W + (size_t)r * stride;
        if (type == GGML_MXFP4) {
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + b * 17;
                /* ahead of the hardware prefetcher, which left the loads
                 * waiting (5.3 -> 8.7 GB/s converting from memory) */
                _mm_prefetch((const char *)(blk + AMX_PREFETCH), _MM_HINT_T0);
                unsigned e = blk[0];
                bad |= scale_bad[e];
                __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 1));
                /* elements 0-15 are the low nibbles, 16-31 the high ones; the
                 * index's bit 4 (from the next nibble) is ignored by the table */
                __m512i idx = _mm512_cvtepu8_epi16(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw));
                __m512i out = _mm512_permutexvar_epi16(idx, _mm512_load_si512((const void *)scaled_lut[e]));
                _mm512_storeu_si512((void *)(o + b * 64), out);
            }
        } else {
            assert(type == GGML_Q8_0);
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + b * 34;
                _mm_prefetch((const char *)(blk + 2 * AMX_PREFETCH), _MM_HINT_T0);
                uint16_t h;
                memcpy(&h, blk, 2);
                __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
                __m512 v0 = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)))), d);
                __m512 v1 = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)))), d);
                __m512i hi, lo;
                split_bf16(v0, v1, &hi, &lo);
                _mm512_storeu_si512((void *)(o + b * 64), hi);
                _mm512_storeu_si512((void *)(o_lo + b * 64), lo);
            }
        }
    }
    return !bad;
}

/* The T tokens' activations (quant.h layout, terms terms) into the B tiles:
 * x = d q (+ d2 q2), split into hi and lo bf16 pieces. */
__attribute__((target(AMX_TARGET), )) static void convert_activations(const uint8_t *XQ, size_t ldxq, uint32_t T,
                                                                    size_t n, int terms, uint8_t *abuf)
{
    size_t nb = n / 32, tb = Q_Q8_BYTES(n);
    if (T % 16) /* the last tile's missing tokens multiply as zeros */
        memset(abuf + (size_t)(T / 16) * nb * 2 * TILE_BYTES, 0, nb * 2 * TILE_BYTES);
    const __m512i rows = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    for (uint32_t t = 0; t < T; t++) {
        const uint8_t *x = XQ + (size_t)t * ldxq;
        size_t tt = t / 16, j = t % 16;
        for (size_t b = 0; b < nb; b++) {
            size_t g = b / 4 * 320, k = b % 4;
            __m512 v0 = _mm512_setzero_ps(), v1 = v0;
            for (int term = 0; term < terms; term++) {
                const uint8_t *q = x + (size_t)term * tb + g;
                float dv;
                memcpy(&dv, q + 192 + 16 * k, 4);
                __m512 d = _mm512_set1_ps(dv);
                v0 = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16 * k)))), d, v0);
                v1 = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 64 + 16 * k)))), d,
                    v1);
            }
            __m512i hi, lo;
            split_bf16(v0, v1, &hi, &lo);
            _mm512_i32scatter_epi32((void *)(atile(abuf, nb, tt, b, 0) + 4 * j), rows, hi, 4);
            _mm512_i32scatter_epi32((void *)(atile(abuf, nb, tt, b, 1) + 4 * j), rows, lo, 4);
        }
    }
}

/* C tiles for 32 rows x 16 tokens (token tile tt): tiles 4 and 6. */
__attribute__((target(AMX_TARGET), )) static void pass1(const uint8_t *wbuf, const uint8_t *abuf, size_t nb, size_t tt,
                                                      int pieces, float *cout)
{
    _tile_zero(4);
    _tile_zero(6);
    for (size_t b = 0; b < nb; b++) {
        _tile_loadd(0, wrow((uint8_t *)wbuf, nb, 0, 0, 0) + b * 64, nb * 64);
        _tile_loadd(1, wrow((uint8_t *)wbuf, nb, 1, 0, 0) + b * 64, nb * 64);
        _tile_loadd(2, atile((uint8_t *)abuf, nb, tt, b, 1), 64);
        _tile_dpbf16ps(4, 0, 2);
        _tile_dpbf16ps(6, 1, 2);
        _tile_loadd(2, atile((uint8_t *)abuf, nb, tt, b, 0), 64);
        _tile_dpbf16ps(4, 0, 2);
        _tile_dpbf16ps(6, 1, 2);
        if (pieces == 2) {
            _tile_loadd(0, wrow((uint8_t *)wbuf, nb, 0, 1, 0) + b * 64, nb * 64);
            _tile_loadd(1, wrow((uint8_t *)wbuf, nb, 1, 1, 0) + b * 64, nb * 64);
            _tile_dpbf16ps(4, 0, 2);
            _tile_dpbf16ps(6, 1, 2);
        }
    }
    _tile_stored(4, cout, 64);
    _tile_stored(6, cout + 2 * 256, 64);
}

/* C tiles for 32 rows x 32 tokens (token tiles tt, tt + 1): tiles 4-7. */
__attribute__((target(AMX_TARGET), )) static void pass2(const uint8_t *wbuf, const uint8_t *abuf, size_t nb, size_t tt,
                                                      int pieces, float *cout)
{
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    for (size_t b = 0; b < nb; b++) {
        _tile_loadd(0, wrow((uint8_t *)wbuf, nb, 0, 0, 0) + b * 64, nb * 64);
        _tile_loadd(1, wrow((uint8_t *)wbuf, nb, 1, 0, 0) + b * 64, nb * 64);
        _tile_loadd(2, atile((uint8_t *)abuf, nb, tt, b, 1), 64);
        _tile_loadd(3, atile((uint8_t *)abuf, nb, tt + 1, b, 1), 64);
        _tile_dpbf16ps(4, 0, 2);
        _tile_dpbf16ps(5, 0, 3);
        _tile_dpbf16ps(6, 1, 2);
        _tile_dpbf16ps(7, 1, 3);
        _tile_loadd(2, atile((uint8_t *)abuf, nb, tt, b, 0), 64);
        _tile_loadd(3, atile((uint8_t *)abuf, nb, tt + 1, b, 0), 64);
        _tile_dpbf16ps(4, 0, 2);
        _tile_dpbf16ps(5, 0, 3);
        _tile_dpbf16ps(6, 1, 2);
        _tile_dpbf16ps(7, 1, 3);
        if (pieces == 2) {
            _tile_loadd(0, wrow((uint8_t *)wbuf, nb, 0, 1, 0) + b * 64, nb * 64);
            _tile_loadd(1, wrow((uint8_t *)wbuf, nb, 1, 1, 0) + b * 64, nb * 64);
            _tile_dpbf16ps(4, 0, 2);
            _tile_dpbf16ps(5, 0, 3);
            _tile_dpbf16ps(6, 1, 2);
            _tile_dpbf16ps(7, 1, 3);
        }
    }
    _tile_stored(4, cout, 64);
    _tile_stored(5, cout + 256, 64);
    _tile_stored(6, cout + 2 * 256, 64);
    _tile_stored(7, cout + 3 * 256, 64);
}

__attribute__((target(AMX_TARGET))) void amx_qgemm(uint32_t type, const uint8_t *W, size_t stride, uint32_t rows,
                                                   const uint8_t *XQ, size_t ldxq, uint32_t T, size_t n, float *Y,
                                                   size_t ldy, void *scratch, int terms, amx_fallback_fn fallback,
                                                   void *fallback_scratch)
{
    assert(type == GGML_MXFP4 || type == GGML_Q8_0);
    assert(n % 32 == 0 && terms >= 1 && terms <= 2);
    if (rows == 0 || T == 0 || n == 0)
        return;
    size_t nb = n / 32;
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *wbuf = base, *abuf = base + nb * 4 * TILE_BYTES;
    float *cout = (float *)(abuf + act_bytes(nb, T));
    int pieces = type == GGML_Q8_0 ? 2 : 1;
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    convert_activations(XQ, ldxq, T, n, terms, abuf);
    _tile_loadconfig(&cfg);
    size_t ntt = (T + 15) / 16;
    for (uint32_t r0 = 0; r0 < rows; r0 += ROWS_PER_PASS) {
        uint32_t nr = rows - r0 < ROWS_PER_PASS ? rows - r0 : ROWS_PER_PASS;
        if (!convert_weights(type, W + (size_t)r0 * stride, stride, nr, nb, wbuf)) {
            fallback(W + (size_t)r0 * stride, stride, nr, XQ, ldxq, T, n, Y + r0, ldy, fallback_scratch, terms);
            continue;
        }
        for (size_t tt = 0; tt < ntt; tt += 2) {
            int tiles = tt + 1 < ntt ? 2 : 1;
            if (tiles == 2)
                pass2(wbuf, abuf, nb, tt, pieces, cout);
            else
                pass1(wbuf, abuf, nb, tt, pieces, cout);
            /* cout[(2i + j) * 256 + m * 16 + k]: row r0 + 16i + m, token 16(tt + j) + k */
            for (int j = 0; j < tiles; j++)
                for (uint32_t k = 0; k < 16; k++) {
                    uint32_t t = (uint32_t)(16 * (tt + (size_t)j)) + k;
                    if (t >= T)
                        break;
                    float *y = Y + (size_t)t * ldy + r0;
                    for (uint32_t r = 0; r < nr; r++)
                        y[r] += cout[(2 * (r / 16) + (uint32_t)j) * 256 + r % 16 * 16 + k];
                }
        }
    }
    _tile_release();
}
