/*
 * mklora.c - relief-mklora: writes a PEFT-form LoRA adapter (a directory
 * with adapter_config.json and adapter_model.safetensors) with seeded
 * random weights on every attention projection (q_proj, k_proj, v_proj,
 * o_proj) of every layer, shaped for a given gpt-oss GGUF model. For speed
 * measurements of the adapter path (the real fine-tuned adapter is not
 * available) and as a larger-than-the-oracle input for the loader.
 *
 * usage: relief-mklora --model MODEL.gguf [--rank R] [--alpha A] [--seed N] OUT_DIR
 *
 * Values: A ~ uniform(-1, 1) / sqrt(in), B ~ uniform(-0.01, 0.01), F32,
 * from a xorshift64* stream seeded with --seed (default 1); so the delta
 * stays small next to the base projection. The model is opened without
 * paging its weights in; only its shape is read.
 *
 * Exit status: 0 on success, 1 on any error (message on stderr), 2 on a
 * bad command line.
 */
#include "relief/llm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Uniform in [-1, 1). */
static float rng_unit(uint64_t *s)
{
    return (float)((double)(rng_next(s) >> 11) / 4503599627370496.0 - 1.0);
}

static int usage(void)
{
    fprintf(stderr, "usage: relief-mklora --model MODEL.gguf [--rank R] [--alpha A] [--seed N] OUT_DIR\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    long rank = 16;
    double alpha = 32;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--rank") && i + 1 < argc) rank = strtol(argv[++i], &end, 10);
        else if (!strcmp(argv[i], "--alpha") && i + 1 < argc) alpha = strtod(argv[++i], &end);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], &end, 10);
        else if (argv[i][0] == '-') return usage();
        else out = argv[i];
        if (end && *end)
            return usage();
    }
    if (!model || !out || rank < 1 || rank > 4096 || !isfinite(alpha))
        return usage();
    char err[512];
    relief_model_params mp = {.quiet = true, .no_warmup = true};
    relief_model *m = relief_model_load(model, &mp, err, sizeof err);
    if (!m) {
        fprintf(stderr, "relief-mklora: %s\n", err);
        return 1;
    }
    const relief_model_info *h = relief_model_get_info(m);
    uint32_t L = h->n_layer, H = h->n_embd, QD = h->n_head * h->head_dim, KD = h->n_head_kv * h->head_dim;
    relief_model_free(m);
    uint32_t in[4] = {H, H, H, QD}, outd[4] = {QD, KD, KD, H};
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "relief-mklora: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_config.json", out);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "relief-mklora: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "{\n  \"peft_type\": \"LORA\",\n  \"r\": %ld,\n  \"lora_alpha\": %g,\n  \"use_rslora\": false,\n"
               "  \"bias\": \"none\",\n  \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\"],\n"
               "  \"base_model_name_or_path\": \"%s\",\n  \"task_type\": \"CAUSAL_LM\"\n}\n",
            rank, alpha, model);
    if (fclose(f) != 0) {
        fprintf(stderr, "relief-mklora: cannot write %s\n", path);
        return 1;
    }
    /* Header: every tensor's offsets, back to back in header order. */
    size_t cap = (size_t)L * 8 * 200 + 64, hn = 0;
    char *hdr = malloc(cap);
    if (!hdr) {
        fprintf(stderr, "relief-mklora: out of memory\n");
        return 1;
    }
    hn += (size_t)snprintf(hdr + hn, cap - hn, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (uint32_t l = 0; l < L; l++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 2; s++) {
                uint64_t rows = s ? outd[p] : (uint64_t)rank, cols = s ? (uint64_t)rank : in[p];
                uint64_t bytes = rows * cols * 4;
                hn += (size_t)snprintf(hdr + hn, cap - hn,
                                       ",\"base_model.model.model.layers.%u.self_attn.%s.lora_%c.weight\":{\"dtype\":"
                                       "\"F32\",\"shape\":[%llu,%llu],\"data_offsets\":[%llu,%llu]}",
                                       l, proj[p], s ? 'B' : 'A', (unsigned long long)rows, (unsigned long long)cols,
                                       (unsigned long long)off, (unsigned long long)(off + bytes));
                off += bytes;
            }
    hn += (size_t)snprintf(hdr + hn, cap - hn, "}");
    while (hn % 8)
        hdr[hn++] = ' '; /* keep the data 8-byte aligned, as writers do */
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", out);
    f = fopen(path, "wb");
    bool ok = f != NULL;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    ok = ok && fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hn, f) == hn;
    free(hdr);
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
    float buf[4096];
    for (uint32_t l = 0; ok && l < L; l++)
        for (int p = 0; ok && p < 4; p++)
            for (int s = 0; ok && s < 2; s++) {
                uint64_t n = (s ? outd[p] : (uint64_t)rank) * (s ? (uint64_t)rank : in[p]);
                float k = s ? 0.01f : 1.0f / sqrtf((float)in[p]);
                for (uint64_t i = 0; ok && i < n;) {
                    size_t c = n - i < 4096 ? (size_t)(n - i) : 4096;
                    for (size_t j = 0; j < c; j++)
                        buf[j] = k * rng_unit(&st); /* little-endian hosts only (x86-64, arm64) */
                    ok = fwrite(buf, sizeof(float), c, f) == c;
                    i += c;
                }
            }
    if (f)
        ok = (fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "relief-mklora: cannot write %s\n", path);
        return 1;
    }
    printf("%s: rank %ld on q, k, v, o of %u layers (%.1f MB of F32)\n", out, rank, L, off / 1e6);
    return 0;
}
