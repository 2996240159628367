/*
 * quant.c - scalar reference dequantization and dot products; see quant.h.
 */
#include "quant.h"
#include "gguf.h"

#include <float.h>
#include <math.h>
#include <string.h>

float q_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float q_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t q_f32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = 1u << (shift - 1);
        uint32_t r = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = man >> 13, rem = man & 0x1fff;
    uint32_t h = sign | ((uint32_t)exp << 10) | r;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)h;
}

bool q_type_supported(uint32_t t)
{
    return t == GGML_F32 || t == GGML_F16 || t == GGML_BF16 || t == GGML_Q8_0 || t == GGML_MXFP4 ||
           t == GGML_MXFP4_OLLAMA;
}

size_t q_row_bytes(uint32_t t, size_t n)
{
    switch (t) {
    case GGML_F32: return n * 4;
    case GGML_F16: case GGML_BF16: return n * 2;
    case GGML_Q8_0: return n / 32 * 34;
    case GGML_MXFP4: case GGML_MXFP4_OLLAMA: return n / 32 * 17;
    }
    return 0;
}

/* E2M1 values (OCP MX) and the same doubled, as integers. */
static const int8_t fp4_x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
static const float fp4_values[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

static float e8m0(uint8_t e)
{
    return ldexpf(1.0f, (int)e - 127);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* Code of element k (0..31) of an MXFP4 block's 16 code bytes. */
static int fp4_code(const uint8_t *qs, int k, bool ollama)
{
    if (ollama) /* checkpoint order: byte k/2, low nibble = even element */
        return (qs[k >> 1] >> ((k & 1) * 4)) & 15;
    return (qs[k & 15] >> ((k >> 4) * 4)) & 15; /* ggml: byte k%16, high nibble = element k+16 */
}

void q_dequant_row(uint32_t t, const uint8_t *row, float *out, size_t n)
{
    switch (t) {
    case GGML_F32:
        memcpy(out, row, n * 4);
        return;
    case GGML_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = q_fp16_to_f32(rd16(row + 2 * i));
        return;
    case GGML_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = q_bf16_to_f32(rd16(row + 2 * i));
        return;
    case GGML_Q8_0:
        for (size_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = row + b * 34;
            float d = q_fp16_to_f32(rd16(blk));
            for (int j = 0; j < 32; j++)
                out[b * 32 + j] = (float)(int8_t)blk[2 + j] * d;
        }
        return;
    case GGML_MXFP4:
    case GGML_MXFP4_OLLAMA:
        for (size_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = row + b * 17;
            float s = e8m0(blk[0]);
            for (int k = 0; k < 32; k++)
                out[b * 32 + k] = fp4_values[fp4_code(blk + 1, k, t == GGML_MXFP4_OLLAMA)] * s;
        }
        return;
    }
    memset(out, 0, n * sizeof *out);
}

float q_dot_row(uint32_t t, const uint8_t *row, const float *x, size_t n)
{
    float sum = 0;
    switch (t) {
    case GGML_F32: {
        for (size_t i = 0; i < n; i++) {
            float w;
            memcpy(&w, row + 4 * i, 4);
            sum += w * x[i];
        }
        return sum;
    }
    case GGML_F16:
        for (size_t i = 0; i < n; i++)
            sum += q_fp16_to_f32(rd16(row + 2 * i)) * x[i];
        return sum;
    case GGML_BF16:
        for (size_t i = 0; i < n; i++)
            sum += q_bf16_to_f32(rd16(row + 2 * i)) * x[i];
        return sum;
    case GGML_Q8_0:
        for (size_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = row + b * 34;
            const float *xb = x + b * 32;
            float s = 0;
            for (int j = 0; j < 32; j++)
                s += (float)(int8_t)blk[2 + j] * xb[j];
            sum += s * q_fp16_to_f32(rd16(blk));
        }
        return sum;
    case GGML_MXFP4:
    case GGML_MXFP4_OLLAMA:
        for (size_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = row + b * 17;
            const float *xb = x + b * 32;
            float s = 0;
            for (int k = 0; k < 32; k++)
                s += fp4_values[fp4_code(blk + 1, k, t == GGML_MXFP4_OLLAMA)] * xb[k];
            sum += s * e8m0(blk[0]);
        }
        return sum;
    }
    return 0;
}

/* ---- 8-bit activations ---- */

/* Block b's q (32 values), c, d and total into term xq (quant.h's layout). */
static void q8_put_block(uint8_t *xq, size_t b, const int8_t *q, float d)
{
    uint8_t *g = xq + b / 4 * 320;
    size_t k = b % 4;
    int32_t total = 0;
    for (int l = 0; l < 4; l++) {
        int32_t s = 0;
        for (int i = 0; i < 4; i++)
            s += q[4 * l + i] + q[16 + 4 * l + i];
        int32_t c = -128 * s;
        memcpy(g + 128 + k * 16 + 4 * l, &c, 4);
        memcpy(g + 192 + k * 16 + 4 * l, &d, 4);
        total += c;
    }
    memcpy(g + 256 + 4 * k, &total, 4);
    memcpy(g + k * 16, q, 16);
    memcpy(g + 64 + k * 16, q + 16, 16);
}

void q_quant_q8_row(const float *x, uint8_t *xq, size_t n, int terms)
{
    size_t nb = n / 32;
    memset(xq, 0, (size_t)terms * Q_Q8_BYTES(n)); /* padding, and the blocks past n/32 */
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + b * 32;
        float a = 0;
        bool finite = true;
        for (int j = 0; j < 32; j++) {
            float v = fabsf(xb[j]);
            finite &= v <= FLT_MAX;
            a = v > a ? v : a;
        }
        int8_t q[32] = {0}, q2[32] = {0};
        float d = 0;
        if (!finite) {
            d = NAN;
        } else if (a >= 0x1p-100f) {
            float id = 127.0f / a, id2;
            d = a / 127.0f;
            id2 = 254.0f / d;
            for (int j = 0; j < 32; j++) {
                q[j] = (int8_t)lrintf(xb[j] * id);
                float r = xb[j] - d * q[j];
                long v = lrintf(r * id2);
                q2[j] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
            }
        }
        q8_put_block(xq, b, q, d);
        if (terms == 2)
            q8_put_block(xq + Q_Q8_BYTES(n), b, q2, d / 254.0f);
    }
}

float q_qdot_row(uint32_t t, const uint8_t *row, const uint8_t *xq, size_t n, int terms)
{
    float total = 0;
    for (size_t b = 0; b < n / 32; b++)
        for (int k = 0; k < terms; k++) {
            const uint8_t *x = xq + (size_t)k * Q_Q8_BYTES(n);
            int32_t s = 0;
            float scale;
            if (t == GGML_Q8_0) {
                const uint8_t *blk = row + b * 34;
                for (int j = 0; j < 32; j++)
                    s += (int8_t)blk[2 + j] * q_q8_at(x, b * 32 + j);
                scale = q_fp16_to_f32(rd16(blk));
            } else if (t == GGML_MXFP4 || t == GGML_MXFP4_OLLAMA) {
                const uint8_t *blk = row + b * 17;
                for (int j = 0; j < 32; j++)
                    s += fp4_x2[fp4_code(blk + 1, j, t == GGML_MXFP4_OLLAMA)] * q_q8_at(x, b * 32 + j);
                /* 2^(e - 128) as 2^(e - 127) / 2, e = 255 overflowing to
                 * infinity as in the exact decoding, e = 0 read as 0. */
                scale = blk[0] == 0 ? 0.0f : blk[0] == 255 ? INFINITY : ldexpf(1.0f, (int)blk[0] - 128);
            } else {
                return 0;
            }
            total += (float)s * (scale * q_q8_d(x, b));
        }
    return total;
}
