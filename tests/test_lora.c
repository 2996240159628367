/*
 * test_lora.c - LoRA adapters and the safetensors reader:
 *  - every manifest case with an adapter (tiny-f32 + lora-qkvo) matches the
 *    transformers+peft reference logits within the manifest's tolerance, for
 *    the llama.cpp GGUF form and the PEFT form (directory, and .safetensors
 *    path), whole-prompt and token by token, with the greedy continuation;
 *    the two forms agree with each other to 1e-6 (same fingerprint too);
 *  - multiplier 0 reproduces the base logits bit for bit; stacking (0.5 +
 *    0.5 = 1; +1 then -1 = base); more threads; detaching;
 *  - errors, each with a message naming the cause and the base model still
 *    working afterwards: other architecture, shapes that do not fit, layer
 *    out of range, unknown/MLP/expert targets, rank 0, unsupported dtypes,
 *    DoRA, regex patterns, missing files, non-finite values;
 *  - the safetensors reader on hostile input: every truncation and many
 *    corruptions of a real file, and hand-made headers (overlaps, holes,
 *    overflow, bad JSON), never a crash (run under ASan in `make asan`);
 *  - the service configuration (relief_hybrid_config.lora): the adapter
 *    changes the answer, the prefix cache is keyed by the adapter (a file of
 *    its own; the PEFT and GGUF forms share one), bad specs are refused.
 *
 * usage: test_lora TINY_DIR
 */
#include "check.h"
#include "test_gguf_image.h"
#include "test_util.h"
#include "llm/lora.h"
#include "llm/safetensors.h"
#include "relief/hybrid.h"
#include "relief/llm.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[1024], tmp[1100];
static relief_model *base;
static relief_llm_ctx *base_ctx;
static float *ref_p1;      /* transformers logits of tiny-f32 on p1 */
static int32_t p1_ids[4];

static void *slurp_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}


static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}



static double rows_rel_err(const float *a, const float *b, size_t rows, size_t V)
{
    double worst = 0;
    for (size_t i = 0; i < rows; i++) {
        double e = test_rel_err(a + i * V, b + i * V, V);
        worst = e > worst || isnan(e) ? e : worst;
    }
    return worst;
}

static relief_lora *load_lora(const char *rel_or_abs, float mult)
{
    char path[2048], err[1024];
    if (rel_or_abs[0] == '/')
        snprintf(path, sizeof path, "%s", rel_or_abs);
    else
        snprintf(path, sizeof path, "%s/%s", dir, rel_or_abs);
    relief_lora *l = relief_lora_load(base, path, mult, err, sizeof err);
    if (!l)
        fprintf(stderr, "load %s: %s\n", path, err);
    return l;
}

/* The base model (no adapter) still gives the reference logits. */
static void base_still_works(const char *after)
{
    float *out = malloc(relief_model_vocab(base) * sizeof(float));
    relief_llm_ctx_reset(base_ctx);
    CHECK(out && relief_llm_eval(base_ctx, p1_ids, 1, out, false, NULL) == RELIEF_LLM_OK);
    double e = out ? test_rel_err(out, ref_p1, relief_model_vocab(base)) : INFINITY;
    CHECK_MSG(e <= 1e-4, "base model after '%s': rel err %g", after, e);
    free(out);
}

/* Evaluates ids with the adapters attached to a new context: all logits
 * (batched) into batch, token by token into decode (either may be NULL). */
static void eval_with(relief_lora *const *ls, size_t nl, uint32_t threads, const int32_t *ids, size_t n, float *batch,
                      float *decode)
{
    char err[256];
    size_t V = relief_model_vocab(base);
    relief_llm_ctx *c = relief_llm_ctx_new(base, (uint32_t)n + 32, threads, err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        return;
    for (size_t i = 0; i < nl; i++)
        CHECK(relief_llm_ctx_add_lora(c, ls[i], err, sizeof err) == 0);
    if (batch)
        CHECK(relief_llm_eval(c, ids, n, batch, true, NULL) == RELIEF_LLM_OK);
    if (decode) {
        relief_llm_ctx_reset(c);
        for (size_t i = 0; i < n; i++)
            CHECK(relief_llm_eval(c, ids + i, 1, decode + i * V, false, NULL) == RELIEF_LLM_OK);
    }
    relief_llm_ctx_free(c);
}

typedef struct {
    int32_t *got;
    size_t n;
} collect;

static int collect_cb(int32_t t, void *user)
{
    collect *u = user;
    if (u->n < 64)
        u->got[u->n++] = t;
    return 0;
}

static int32_t *p40_ids;
static size_t p40_n;
static float *p40_gguf;   /* batched logits of p40 with the GGUF form (for the stacking tests) */

/* One manifest case, both forms. */
static void run_case(const char *adapter, const char *prompt, const char *logits_file, size_t n_tok, size_t V,
                     const char *greedy, double tol)
{
    size_t len;
    char *ptext = test_read_in(dir, prompt, &len);
    float *ref = test_read_in(dir, logits_file, &len);
    CHECK(ptext && ref && len == n_tok * V * sizeof(float));
    int32_t ids[4096];
    size_t n = ptext ? test_parse_ids(ptext, ids, 4096) : 0;
    CHECK(n == n_tok);
    relief_lora *lg = load_lora(adapter, 1.0f), *lp = load_lora("lora-qkvo-peft", 1.0f);
    CHECK(lg && lp);
    CHECK(V == relief_model_vocab(base));
    float *outs[4];
    for (int i = 0; i < 4; i++)
        outs[i] = malloc(n_tok * V * sizeof(float));
    if (lg && lp && ref && n == n_tok && outs[0] && outs[1] && outs[2] && outs[3]) {
        CHECK(relief_lora_fingerprint(lg) == relief_lora_fingerprint(lp));
        eval_with(&lg, 1, 1, ids, n, outs[0], outs[1]);
        eval_with(&lp, 1, 1, ids, n, outs[2], outs[3]);
        const char *what[4] = {"gguf prompt", "gguf decode", "peft prompt", "peft decode"};
        printf("  %-18s", prompt);
        for (int i = 0; i < 4; i++) {
            double e = rows_rel_err(outs[i], ref, n, V);
            CHECK_MSG(e <= tol, "%s %s: rel err %.3g > %.3g", prompt, what[i], e, tol);
            printf(" %s %.2e", what[i], e);
        }
        double cross = fmax(rows_rel_err(outs[0], outs[2], n, V), rows_rel_err(outs[1], outs[3], n, V));
        CHECK_MSG(cross <= 1e-6, "%s: GGUF vs PEFT form rel diff %.3g", prompt, cross);
        printf("; gguf vs peft %.1e\n", cross);
        if (greedy) {
            char *gtext = test_read_in(dir, greedy, &len);
            int32_t want[64], got[64];
            size_t ng = gtext ? test_parse_ids(gtext, want, 64) : 0;
            CHECK(ng == 16);
            relief_lora *both[2] = {lg, lp};
            for (int f = 0; f < 2; f++) {
                char err[256];
                relief_llm_ctx *c = relief_llm_ctx_new(base, (uint32_t)n + 32, 1, err, sizeof err);
                CHECK(c && relief_llm_ctx_add_lora(c, both[f], err, sizeof err) == 0);
                relief_sampler_params sp = relief_llm_sampler_defaults();
                sp.temperature = 0;
                sp.max_new_tokens = (int)ng;
                collect u = {got, 0};
                relief_gen_result res;
                CHECK(c && relief_llm_generate(c, ids, n, &sp, NULL, 0, collect_cb, &u, NULL, &res) == RELIEF_LLM_OK);
                CHECK_MSG(u.n == ng && !memcmp(got, want, ng * sizeof *got), "%s greedy continuation differs",
                          f ? "peft" : "gguf");
                relief_llm_ctx_free(c);
            }
            free(gtext);
            /* The PEFT .safetensors path (config beside it) and two threads. */
            relief_lora *lf = load_lora("lora-qkvo-peft/adapter_model.safetensors", 1.0f);
            CHECK(lf != NULL);
            if (lf) {
                eval_with(&lf, 1, 2, ids, n, outs[2], outs[3]);
                double e = fmax(rows_rel_err(outs[2], ref, n, V), rows_rel_err(outs[3], ref, n, V));
                CHECK_MSG(e <= tol, "safetensors path, 2 threads: rel err %g", e);
                printf("  %-18s .safetensors path, 2 threads: %.2e\n", prompt, e);
            }
            relief_lora_free(lf);
            p40_ids = malloc(n * sizeof *p40_ids);
            p40_gguf = malloc(n * V * sizeof(float));
            if (p40_ids && p40_gguf) {
                memcpy(p40_ids, ids, n * sizeof *ids);
                memcpy(p40_gguf, outs[0], n * V * sizeof(float));
                p40_n = n;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        free(outs[i]);
    relief_lora_free(lg);
    relief_lora_free(lp);
    free(ref);
    free(ptext);
}

/* Multiplier 0, stacking, detaching, more threads. */
static void test_scales(void)
{
    if (!p40_n)
        return;
    size_t V = relief_model_vocab(base), n = p40_n;
    float *b0 = malloc(n * V * sizeof(float)), *d0 = malloc(n * V * sizeof(float));
    float *b1 = malloc(n * V * sizeof(float)), *d1 = malloc(n * V * sizeof(float));
    if (!b0 || !d0 || !b1 || !d1)
        goto out;
    eval_with(NULL, 0, 1, p40_ids, n, b0, d0);
    /* Multiplier 0: bit-identical, both forms, "FILE:0" specs too. */
    char path[2048];
    float mult = -1;
    snprintf(path, sizeof path, "%s/lora-qkvo.gguf:0", dir);
    char spec_path[2048];
    CHECK(relief_lora_parse_spec(path, spec_path, sizeof spec_path, &mult) == 0 && mult == 0.0f);
    relief_lora *z[2] = {load_lora(spec_path, mult), load_lora("lora-qkvo-peft", 0.0f)};
    CHECK(z[0] && z[1]);
    if (z[0] && z[1]) {
        eval_with(z, 2, 1, p40_ids, n, b1, d1);
        CHECK_MSG(!memcmp(b0, b1, n * V * sizeof(float)), "multiplier 0 (prompt) is not bit-identical to the base");
        CHECK_MSG(!memcmp(d0, d1, n * V * sizeof(float)), "multiplier 0 (decode) is not bit-identical to the base");
    }
    relief_lora_free(z[0]);
    relief_lora_free(z[1]);
    /* 0.5 + 0.5 == 1; +1 then -1 == base. */
    relief_lora *h[2] = {load_lora("lora-qkvo.gguf", 0.5f), load_lora("lora-qkvo-peft", 0.5f)};
    CHECK(h[0] && h[1]);
    if (h[0] && h[1]) {
        CHECK(relief_lora_fingerprint(h[0]) == relief_lora_fingerprint(h[1]));
        eval_with(h, 2, 1, p40_ids, n, b1, d1);
        double e = fmax(rows_rel_err(b1, p40_gguf, n, V), rows_rel_err(d1, p40_gguf, n, V));
        CHECK_MSG(e <= 1e-4, "0.5 + 0.5 vs 1: rel diff %g", e); /* float noise, as in the manifest */
        printf("  stacked 0.5 + 0.5 vs 1.0: %.2e\n", e);
    }
    relief_lora_free(h[0]);
    relief_lora_free(h[1]);
    relief_lora *pm[2] = {load_lora("lora-qkvo.gguf", 1.0f), load_lora("lora-qkvo.gguf", -1.0f)};
    CHECK(pm[0] && pm[1]);
    if (pm[0] && pm[1]) {
        CHECK(relief_lora_fingerprint(pm[0]) != relief_lora_fingerprint(pm[1]));
        eval_with(pm, 2, 3, p40_ids, n, b1, d1);
        double e = fmax(rows_rel_err(b1, b0, n, V), rows_rel_err(d1, b0, n, V));
        CHECK_MSG(e <= 1e-4, "+1 then -1 vs base: rel diff %g", e);
        printf("  stacked +1 and -1 vs base (3 threads): %.2e\n", e);
        /* Attach, then detach: the base again, bit for bit. */
        char err[256];
        relief_llm_ctx *c = relief_llm_ctx_new(base, (uint32_t)n + 8, 1, err, sizeof err);
        CHECK(c && relief_llm_ctx_add_lora(c, pm[0], err, sizeof err) == 0);
        CHECK(c && relief_llm_eval(c, p40_ids, n, b1, true, NULL) == RELIEF_LLM_OK);
        CHECK(c && relief_llm_ctx_pos(c) == n);
        if (c) {
            relief_llm_ctx_clear_loras(c);
            CHECK(relief_llm_ctx_pos(c) == 0);
            CHECK(relief_llm_eval(c, p40_ids, n, b1, true, NULL) == RELIEF_LLM_OK);
            CHECK_MSG(!memcmp(b0, b1, n * V * sizeof(float)), "detached adapter: not the base logits");
            /* An adapter validated for another shape is refused; the context still works. */
            relief_lora fake = *pm[0];
            fake.n_embd = 32;
            CHECK(relief_llm_ctx_add_lora(c, &fake, err, sizeof err) == -1 && strstr(err, "another shape"));
            relief_llm_ctx_reset(c);
            CHECK(relief_llm_eval(c, p40_ids, n, b1, true, NULL) == RELIEF_LLM_OK);
            CHECK(!memcmp(b0, b1, n * V * sizeof(float)));
        }
        relief_llm_ctx_free(c);
        char d[256];
        relief_lora_describe(pm[0], d, sizeof d);
        CHECK_MSG(strstr(d, "gguf LoRA: 16 projections (qkvo), rank 4") != NULL, "describe: %s", d);
    }
    relief_lora_free(pm[0]);
    relief_lora_free(pm[1]);
out:
    free(b0);
    free(d0);
    free(b1);
    free(d1);
}

static void test_spec(void)
{
    char p[64];
    float m;
    CHECK(relief_lora_parse_spec("a/b:0.5", p, sizeof p, &m) == 0 && !strcmp(p, "a/b") && m == 0.5f);
    CHECK(relief_lora_parse_spec("a/b", p, sizeof p, &m) == 0 && !strcmp(p, "a/b") && m == 1.0f);
    CHECK(relief_lora_parse_spec("c:/x:y", p, sizeof p, &m) == 0 && !strcmp(p, "c:/x:y") && m == 1.0f);
    CHECK(relief_lora_parse_spec("d:-2", p, sizeof p, &m) == 0 && !strcmp(p, "d") && m == -2.0f);
    CHECK(relief_lora_parse_spec("e:", p, sizeof p, &m) == 0 && !strcmp(p, "e:"));
    CHECK(relief_lora_parse_spec("f:nan", p, sizeof p, &m) == 0 && !strcmp(p, "f:nan"));
    CHECK(relief_lora_parse_spec(":0.5", p, sizeof p, &m) == -1);
    CHECK(relief_lora_parse_spec("", p, sizeof p, &m) == -1);
    CHECK(relief_lora_parse_spec("0123456789012345678901234567890123456789012345678901234567890123456789", p, sizeof p,
                                 &m) == -1);
}

/* ---- hand-made adapters ---- */

static void expect_load_error(const char *path, float mult, const char *want)
{
    char err[1024] = "";
    relief_lora *l = relief_lora_load(base, path, mult, err, sizeof err);
    CHECK_MSG(l == NULL && strstr(err, want) != NULL, "%s: wanted an error containing '%s', got %s '%s'", path, want,
              l ? "success" : "error", err);
    relief_lora_free(l);
    base_still_works(want);
}

/* A safetensors image: header JSON then data. Caller frees. */
static unsigned char *st_image(const char *header, const void *data, size_t n, size_t *len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    if (!b)
        return NULL;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (n)
        memcpy(b + 8 + h, data, n);
    *len = 8 + h + n;
    return b;
}

static const char *cfg_std = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"use_rslora\": false, "
                             "\"bias\": \"none\", \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\"]}";

/* Writes <tmp>/<name>/adapter_config.json (unless config is NULL) and
 * adapter_model.safetensors; returns the directory (static buffer). */
static const char *make_peft(const char *name, const char *config, const char *header, const void *data, size_t n)
{
    static char d[1300];
    char p[1400];
    snprintf(d, sizeof d, "%s/%s", tmp, name);
    mkdir(d, 0700);
    if (config) {
        snprintf(p, sizeof p, "%s/adapter_config.json", d);
        write_file(p, config, strlen(config));
    }
    size_t len;
    unsigned char *img = st_image(header, data, n, &len);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", d);
    if (img)
        write_file(p, img, len);
    free(img);
    return d;
}

/* Header for one projection pair with the given shapes and dtypes;
 * offsets packed back to back. */
static void pair_header(char *h, size_t cap, const char *a_name, const char *a_dt, unsigned ar, unsigned ac,
                        const char *b_name, const char *b_dt, unsigned br, unsigned bc, size_t *bytes)
{
    size_t as = !strcmp(a_dt, "I64") ? 8 : !strcmp(a_dt, "F32") ? 4 : 2, bs = !strcmp(b_dt, "F32") ? 4 : 2;
    size_t an = (size_t)ar * ac * as, bn = (size_t)br * bc * bs;
    snprintf(h, cap,
             "{\"__metadata__\": {\"format\": \"pt\"}, "
             "\"%s\": {\"dtype\": \"%s\", \"shape\": [%u, %u], \"data_offsets\": [0, %zu]}, "
             "\"%s\": {\"dtype\": \"%s\", \"shape\": [%u, %u], \"data_offsets\": [%zu, %zu]}}",
             a_name, a_dt, ar, ac, an, b_name, b_dt, br, bc, an, an + bn);
    *bytes = an + bn;
}

#define QA "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
#define QB "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"

static void test_peft_errors(void)
{
    static float data[8192];
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        data[i] = 0.01f * (float)((i % 7) - 3);
    char h[2048], cfg[1024];
    size_t n;
    /* A good one first (q of layer 0 only), so the errors below are the changes. */
    pair_header(h, sizeof h, QA, "F32", 4, 64, QB, "F32", 128, 4, &n);
    char good[1300];
    snprintf(good, sizeof good, "%s", make_peft("good", cfg_std, h, data, n));
    relief_lora *l = relief_lora_load(base, good, 1, cfg, sizeof cfg);
    CHECK_MSG(l != NULL, "hand-made adapter: %s", cfg);
    if (l)
        CHECK(l->n_mats == 1 && l->max_rank == 4 && lora_mat_at(l, 0, LORA_Q)->scale == 2.0f);
    relief_lora_free(l);
    /* rsLoRA: alpha / sqrt(r); F16 and BF16 weights. */
    pair_header(h, sizeof h, QA, "F16", 4, 64, QB, "BF16", 128, 4, &n);
    const char *rs = make_peft("rslora", "{\"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true}", h, data, n);
    l = relief_lora_load(base, rs, 1, cfg, sizeof cfg);
    CHECK_MSG(l != NULL, "rslora: %s", cfg);
    if (l)
        CHECK(lora_mat_at(l, 0, LORA_Q)->scale == 4.0f);
    relief_lora_free(l);
    /* rank_pattern / alpha_pattern with literal names. */
    pair_header(h, sizeof h, QA, "F32", 2, 64, QB, "F32", 128, 2, &n);
    rs = make_peft("pattern", "{\"r\": 4, \"lora_alpha\": 8, \"rank_pattern\": {\"layers.0.self_attn.q_proj\": 2}, "
                              "\"alpha_pattern\": {\"q_proj\": 1}}", h, data, n);
    l = relief_lora_load(base, rs, 1, cfg, sizeof cfg);
    CHECK_MSG(l != NULL, "patterns: %s", cfg);
    if (l)
        CHECK(lora_mat_at(l, 0, LORA_Q)->rank == 2 && lora_mat_at(l, 0, LORA_Q)->scale == 0.5f);
    relief_lora_free(l);

    struct {
        const char *name, *a_dt, *b_dt;
        unsigned ar, ac, br, bc;
        const char *a_name, *b_name, *config, *want;
    } cases[] = {
        {"shape-in", "F32", "F32", 4, 32, 128, 4, QA, QB, NULL, "takes 64 (an adapter for another model?)"},
        {"shape-out", "F32", "F32", 4, 64, 100, 4, QA, QB, NULL, "gives 128"},
        {"rank-ab", "F32", "F32", 4, 64, 128, 2, QA, QB, NULL, "rank 4 but"},
        {"layer", "F32", "F32", 4, 64, 128, 4, "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight",
         "base_model.model.model.layers.9.self_attn.q_proj.lora_B.weight", NULL, "layer 9, but the model has 4 layers"},
        {"target", "F32", "F32", 4, 64, 128, 4, QA, QB,
         "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"gate_up_proj\"]}",
         "target module 'gate_up_proj' is not supported"},
        {"target-str", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4, \"target_modules\": \"lm_head\"}",
         "target module 'lm_head' is not supported"},
        {"experts", "F32", "F32", 4, 64, 128, 4,
         "base_model.model.model.layers.0.mlp.experts.gate_up_proj.lora_A.weight", QB, NULL, "MLP/experts"},
        {"target-params", "F32", "F32", 4, 64, 128, 4, QA, QB,
         "{\"r\": 4, \"target_parameters\": [\"mlp.experts.gate_up_proj\"]}", "target_parameters"},
        {"unknown", "F32", "F32", 4, 64, 128, 4, "foo.weight", QB, NULL, "not a LoRA weight"},
        {"rank0-config", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 0, \"lora_alpha\": 8}", "rank r = 0"},
        {"rank0-tensor", "F32", "F32", 0, 64, 128, 0, QA, QB, NULL, "rank 0"},
        {"rank-config", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 8, \"lora_alpha\": 8}", "says r = 8"},
        {"dtype", "I64", "F32", 4, 64, 128, 4, QA, QB, NULL, "dtype I64"},
        {"missing-b", "F32", "F32", 4, 64, 128, 4, QA,
         "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight", NULL, "no matching"},
        {"dup", "F32", "F32", 4, 64, 128, 4, QA, "model.layers.0.self_attn.q_proj.lora_A.weight", NULL,
         "are the same weight"},
        {"dora", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4, \"use_dora\": true}", "DoRA"},
        {"bias", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4, \"bias\": \"all\"}", "biases"},
        {"loha", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"peft_type\": \"LOHA\", \"r\": 4}", "only LORA"},
        {"regex", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4, \"rank_pattern\": {\"^model.*q_proj$\": 8}}",
         "regular expression"},
        {"save", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4, \"modules_to_save\": [\"lm_head\"]}",
         "modules_to_save"},
        {"badjson", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"r\": 4,", "not valid JSON"},
        {"norank", "F32", "F32", 4, 64, 128, 4, QA, QB, "{\"lora_alpha\": 8}", "'r' (the rank) is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair_header(h, sizeof h, cases[i].a_name, cases[i].a_dt, cases[i].ar, cases[i].ac, cases[i].b_name,
                    cases[i].b_dt, cases[i].br, cases[i].bc, &n);
        CHECK(n <= sizeof data);
        const char *d = make_peft(cases[i].name, cases[i].config ? cases[i].config : cfg_std, h, data, n);
        expect_load_error(d, 1, cases[i].want);
    }
    /* Non-finite weights. */
    pair_header(h, sizeof h, QA, "F32", 4, 64, QB, "F32", 128, 4, &n);
    float saved = data[5];
    data[5] = NAN;
    expect_load_error(make_peft("nan", cfg_std, h, data, n), 1, "not finite");
    data[5] = saved;
    expect_load_error(good, NAN, "multiplier is not a finite number");
    /* Files missing: no config; only a pickle. */
    char p[1400];
    char nocfg[1300];
    snprintf(nocfg, sizeof nocfg, "%s", make_peft("nocfg", NULL, h, data, n));
    expect_load_error(nocfg, 1, "adapter_config.json");
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", nocfg);
    expect_load_error(p, 1, "adapter_config.json");
    snprintf(p, sizeof p, "%s/pickle", tmp);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/pickle/adapter_model.bin", tmp);
    write_file(p, "PK", 2);
    snprintf(p, sizeof p, "%s/pickle", tmp);
    expect_load_error(p, 1, "pickle");
    snprintf(p, sizeof p, "%s/does-not-exist", tmp);
    expect_load_error(p, 1, "cannot open");
    /* A corrupt safetensors file behind a good config. */
    snprintf(p, sizeof p, "%s/good/adapter_model.safetensors", tmp);
    write_file(p, "\x10\0\0\0\0\0\0\0{\"a\": 1}", 16);
    expect_load_error(good, 1, "header length 16 is impossible");
    /* The base model itself is not an adapter. */
    snprintf(p, sizeof p, "%s/tiny-f32.gguf", dir);
    expect_load_error(p, 1, "not a GGUF adapter");
}

/* ---- GGUF adapters ---- */

typedef struct {
    const char *name;
    uint64_t ne0, ne1;
    uint32_t type, esize;
} gt;

/* Writes an adapter GGUF (F32 values 0.01 * pattern) to path. */
static void write_gguf_adapter(const char *path, const char *arch, const char *gtype, const char *atype, float alpha,
                               const gt *t, int nt)
{
    gguf_image w = {0};
    gi_header(&w, 3, (uint64_t)nt, 4);
    gi_kv_str(&w, "general.architecture", arch);
    gi_kv_str(&w, "general.type", gtype);
    gi_kv_str(&w, "adapter.type", atype);
    gi_str(&w, "adapter.lora.alpha");
    gi_u32(&w, 6);
    gi_bytes(&w, &alpha, 4);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        gi_str(&w, t[i].name);
        gi_u32(&w, 2);
        gi_u64(&w, t[i].ne0);
        gi_u64(&w, t[i].ne1);
        gi_u32(&w, t[i].type);
        gi_u64(&w, off);
        off += (t[i].ne0 * t[i].ne1 * t[i].esize + 31) / 32 * 32;
    }
    gi_pad(&w, 32);
    for (int i = 0; i < nt; i++) {
        for (uint64_t e = 0; e < t[i].ne0 * t[i].ne1; e++) {
            float v = 0.01f * (float)(e % 5);
            unsigned char z[8] = {0};
            if (t[i].esize == 4)
                gi_bytes(&w, &v, 4);
            else
                gi_bytes(&w, z, t[i].esize);
        }
        gi_pad(&w, 32);
    }
    write_file(path, w.b, w.n);
    gi_free(&w);
}

static void test_gguf_errors(void)
{
    char p[1300];
    snprintf(p, sizeof p, "%s/a.gguf", tmp);
    gt good[2] = {{"blk.1.attn_k.weight.lora_a", 64, 8, 0, 4}, {"blk.1.attn_k.weight.lora_b", 8, 32, 0, 4}};
    write_gguf_adapter(p, "gpt-oss", "adapter", "lora", 16, good, 2);
    char err[512];
    relief_lora *l = relief_lora_load(base, p, 0.5f, err, sizeof err);
    CHECK_MSG(l != NULL, "hand-made GGUF adapter: %s", err);
    if (l)
        CHECK(l->n_mats == 1 && lora_mat_at(l, 1, LORA_K)->rank == 8 && lora_mat_at(l, 1, LORA_K)->scale == 1.0f);
    relief_lora_free(l);
    write_gguf_adapter(p, "gpt-oss", "adapter", "lora", 0, good, 2); /* no alpha: the multiplier alone */
    l = relief_lora_load(base, p, 0.5f, err, sizeof err);
    CHECK(l && lora_mat_at(l, 1, LORA_K)->scale == 0.5f);
    relief_lora_free(l);

    struct {
        const char *arch, *gtype, *atype;
        gt t[2];
        int nt;
        const char *want;
    } cases[] = {
        {"llama", "adapter", "lora", {good[0], good[1]}, 2, "architecture 'llama'"},
        {"gpt-oss", "model", "lora", {good[0], good[1]}, 2, "not 'adapter'"},
        {"gpt-oss", "adapter", "control_vector", {good[0], good[1]}, 2, "only 'lora'"},
        {"gpt-oss", "adapter", "lora", {{"blk.0.ffn_gate_exps.weight.lora_a", 64, 4, 0, 4}, good[1]}, 2,
         "MLP/experts"},
        {"gpt-oss", "adapter", "lora", {{"token_embd.weight.lora_a", 64, 4, 0, 4}, good[1]}, 2, "not supported"},
        {"gpt-oss", "adapter", "lora", {{"blk.1.attn_k.weight.lora_a", 32, 8, 0, 4}, good[1]}, 2, "takes 64"},
        {"gpt-oss", "adapter", "lora", {good[0], {"blk.1.attn_k.weight.lora_b", 8, 64, 0, 4}}, 2, "gives 32"},
        {"gpt-oss", "adapter", "lora", {good[0], {"blk.1.attn_k.weight.lora_b", 4, 32, 0, 4}}, 2, "rank 8 but"},
        {"gpt-oss", "adapter", "lora", {{"blk.4.attn_q.weight.lora_a", 64, 4, 0, 4}, good[1]}, 2, "layer 4"},
        {"gpt-oss", "adapter", "lora", {good[0], {"blk.1.attn_k.weight.lora_b", 8, 32, 27, 8}}, 2, "type I64"},
        {"gpt-oss", "adapter", "lora", {good[0]}, 1, "no matching B"},
        {"gpt-oss", "adapter", "lora", {{"blk.1.attn_k.weight.lora_c", 64, 8, 0, 4}}, 1, "not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_gguf_adapter(p, cases[i].arch, cases[i].gtype, cases[i].atype, 8, cases[i].t, cases[i].nt);
        expect_load_error(p, 1, cases[i].want);
    }
    /* No tensors at all. */
    write_gguf_adapter(p, "gpt-oss", "adapter", "lora", 8, NULL, 0);
    expect_load_error(p, 1, "no LoRA tensors");
    /* Truncated copies of the real adapter: the GGUF reader's errors. */
    size_t len;
    unsigned char *real = test_read_in(dir, "lora-qkvo.gguf", &len);
    CHECK(real != NULL);
    if (real) {
        size_t cuts[] = {3, 24, 100, 1000, len / 2, len - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            write_file(p, real, cuts[i]);
            char e2[512] = "";
            relief_lora *x = relief_lora_load(base, p, 1, e2, sizeof e2);
            CHECK_MSG(x == NULL && e2[0], "truncated GGUF adapter at %zu loaded", cuts[i]);
            relief_lora_free(x);
        }
        base_still_works("truncated GGUF adapters");
    }
    free(real);
    unlink(p);
}

/* ---- the safetensors reader ---- */

static st_file *st_copy(const unsigned char *data, size_t len, char *err, size_t cap, unsigned char **copy)
{
    *copy = malloc(len ? len : 1);
    if (len)
        memcpy(*copy, data, len);
    return st_open_memory(*copy, len, err, cap);
}

/* A result that opened must describe tensors inside the data section. */
static bool st_sane(const st_file *f)
{
    uint64_t data = f->size - 8 - f->header_len;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->end > data || t->begin > t->end || t->end - t->begin != t->n_elements * st_dtype_size(t->dtype))
            return false;
    }
    return true;
}

static void expect_st_error(const char *header, size_t data_len, const char *want)
{
    static unsigned char zeros[4096];
    size_t len;
    unsigned char *img = st_image(header, zeros, data_len, &len), *copy;
    char err[512] = "";
    st_file *f = img ? st_copy(img, len, err, sizeof err, &copy) : NULL;
    CHECK_MSG(f == NULL && strstr(err, want), "header %.80s: wanted '%s', got %s '%s'", header, want,
              f ? "success" : "error", err);
    st_close(f);
    if (img)
        free(copy);
    free(img);
}

static void test_safetensors(void)
{
    size_t len;
    char path[2048];
    snprintf(path, sizeof path, "%s/lora-qkvo-peft/adapter_model.safetensors", dir);
    unsigned char *real = slurp_path(path, &len), *copy;
    CHECK(real != NULL);
    if (!real)
        return;
    char err[512];
    st_file *f = st_copy(real, len, err, sizeof err, &copy);
    CHECK_MSG(f && f->n_tensors == 32, "real adapter: %s", f ? "wrong count" : err);
    if (f) {
        const st_tensor *t = st_find(f, QA);
        CHECK(t && t->dtype == ST_F32 && t->n_dims == 2 && t->shape[0] == 4 && t->shape[1] == 64);
        CHECK(st_metadata(f, "format") != NULL);
    }
    st_close(f);
    free(copy);
    /* Every truncation fails cleanly. */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | real[i];
    int opened = 0;
    for (size_t cut = 0; cut < len; cut += cut < 8 + hl + 64 ? 1 : 13) {
        err[0] = '\0';
        f = st_copy(real, cut, err, sizeof err, &copy);
        opened += f != NULL;
        CHECK_MSG(f != NULL || err[0], "cut %zu: no message", cut);
        st_close(f);
        free(copy);
    }
    CHECK_MSG(opened == 0, "%d truncated files opened", opened);
    /* Corrupt each header byte in several ways: an error or a sane result. */
    const unsigned char subst[] = {'0', '9', '"', '}', '{', ',', ':', '[', ']', '-', 'e', ' ', 0x00, 0xff};
    int insane = 0, corrupt_opened = 0;
    for (size_t pos = 0; pos < 8 + hl; pos++)
        for (size_t k = 0; k < sizeof subst; k++) {
            if (real[pos] == subst[k])
                continue;
            unsigned char keep = real[pos];
            real[pos] = subst[k];
            f = st_copy(real, len, err, sizeof err, &copy);
            if (f) {
                corrupt_opened++;
                insane += !st_sane(f);
            }
            st_close(f);
            free(copy);
            real[pos] = keep;
        }
    CHECK_MSG(insane == 0, "%d corrupted files opened with tensors outside the data", insane);
    printf("  safetensors: %zu-byte header; every truncation refused; %d of %zu header corruptions still valid "
           "(inside names, say), all sane\n",
           (size_t)hl, corrupt_opened, (size_t)(8 + hl) * sizeof subst);
    /* Corrupt data offsets through the adapter loader too (an overlap). */
    char *hdr = malloc(hl + 1);
    if (hdr) {
        memcpy(hdr, real + 8, hl);
        hdr[hl] = '\0';
        char *at = strstr(hdr, "[1024,1536]");
        CHECK(at != NULL);
        if (at) {
            memcpy(at, "[1000,1536]", 11);
            const char *d = make_peft("overlap", cfg_std, hdr, real + 8 + hl, len - 8 - hl);
            expect_load_error(d, 1, "overlap");
        }
        free(hdr);
    }
    free(real);

    /* Hand-made headers. */
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "overlap");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}", 20, "hole");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "end before");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "past the data");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "need 12");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
                    "\"data_offsets\": [0, 8]}}", 8, "overflows");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 8]}}", 8,
                    "byte size overflows");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 8]}}", 8, "shape entry 0");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
                    "9 dimensions");
    expect_st_error("{\"a\": {\"dtype\": \"F33\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype");
    expect_st_error("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "'dtype' is missing");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, "'shape' is missing");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0.0, 8]}}", 8, "data_offsets");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "data_offsets");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 18446744073709551615]}}", 8,
                    "not valid JSON");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "duplicate");
    expect_st_error("{\"__metadata__\": {\"x\": 1}}", 0, "__metadata__");
    expect_st_error("{\"__metadata__\": [1]}", 0, "__metadata__");
    expect_st_error("{\"a\": 5}", 0, "not a JSON object");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12, "cover 8 bytes");
    expect_st_error("[1, 2]", 0, "does not start with '{'");
    expect_st_error("{\"a\": ", 0, "not valid JSON");
    expect_st_error("{}    x", 0, "not valid JSON");
    unsigned char small[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    f = st_copy(small, 10, err, sizeof err, &copy);
    CHECK(f == NULL && strstr(err, "header length"));
    st_close(f);
    free(copy);
    f = st_copy(small, 5, err, sizeof err, &copy);
    CHECK(f == NULL && strstr(err, "too short"));
    st_close(f);
    free(copy);

    /* Valid: empty, padded with spaces, zero-size tensor, conversions from
     * an odd (unaligned) data offset. */
    size_t ilen;
    unsigned char *img = st_image("{}  ", NULL, 0, &ilen);
    f = img ? st_copy(img, ilen, err, sizeof err, &copy) : NULL;
    CHECK_MSG(f && f->n_tensors == 0, "empty file: %s", err);
    st_close(f);
    if (img)
        free(copy);
    free(img);
    unsigned char vals[2 + 2 + 4 + 8] = {0x00, 0x3c, 0x80, 0x3f, 0x00, 0x00, 0xc0, 0x3f};
    img = st_image("{\"h\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 2]}, "
                   "\"b\": {\"dtype\": \"BF16\", \"shape\": [1], \"data_offsets\": [2, 4]}, "
                   "\"f\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}, "
                   "\"z\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [8, 8]}, "
                   "\"i\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [8, 16]}}",
                   vals, sizeof vals, &ilen);
    f = img ? st_copy(img, ilen, err, sizeof err, &copy) : NULL;
    CHECK_MSG(f != NULL, "valid file: %s", err);
    if (f) {
        float v[3] = {0, 0, 0};
        CHECK(st_tensor_to_f32(st_find(f, "h"), v) == 0 && v[0] == 1.0f);
        CHECK(st_tensor_to_f32(st_find(f, "b"), v) == 0 && v[0] == 1.0f);
        CHECK(st_tensor_to_f32(st_find(f, "f"), v) == 0 && v[0] == 1.5f);
        CHECK(st_find(f, "z") && st_find(f, "z")->n_elements == 0);
        CHECK(st_tensor_to_f32(st_find(f, "i"), v) == -1);
        CHECK(st_find(f, "nope") == NULL && st_metadata(f, "nope") == NULL);
        CHECK(!strcmp(st_dtype_name(ST_I64), "I64") && st_dtype_size(ST_BF16) == 2);
    }
    st_close(f);
    if (img)
        free(copy);
    free(img);
    snprintf(path, sizeof path, "%s/missing.safetensors", tmp);
    f = st_open(path, err, sizeof err);
    CHECK(f == NULL && strstr(err, "cannot open"));
}

/* ---- service configuration ---- */

static char hy_dir[1200];

static int count_caches(void)
{
    DIR *d = opendir(hy_dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".relief-prefix-") && !strstr(e->d_name, ".tmp");
    if (d)
        closedir(d);
    return n;
}

typedef struct {
    char text[4096];
    size_t len;
} hy_text;

static int hy_on_text(const char *s, size_t n, void *user)
{
    hy_text *t = user;
    if (t->len + n < sizeof t->text) {
        memcpy(t->text + t->len, s, n);
        t->len += n;
    }
    return 0;
}

/* Answers one report with the adapters of spec; the text into *t. */
static bool hy_run(const relief_kb *kb, const char *spec, hy_text *t, bool *cached)
{
    char model[2048], err[1024];
    snprintf(model, sizeof model, "%s/tiny-f32.gguf", dir);
    relief_hybrid_config cfg = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = model, .cache_dir = hy_dir,
                                .temperature = 0, .quiet = true, .max_tokens = 12, .seed = 7, .lora = spec};
    relief_hybrid *h = relief_hybrid_new(kb, &cfg, err, sizeof err);
    CHECK_MSG(h != NULL, "hybrid with '%s': %s", spec ? spec : "", err);
    if (!h)
        return false;
    memset(t, 0, sizeof *t);
    relief_hybrid_request rq = {.deadline_s = 30, .on_text = hy_on_text, .user = t};
    relief_hybrid_result res;
    const char *report = "Flood water rising fast near the school, 40 children inside";
    CHECK(relief_hybrid_respond(h, report, strlen(report), &rq, &res) == 0);
    *cached = res.timings.prefix_cached;
    CHECK(res.timings.model_tokens > 0);
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);
    return true;
}

static void test_hybrid(void)
{
    snprintf(hy_dir, sizeof hy_dir, "%s/hybrid", tmp);
    mkdir(hy_dir, 0700);
    char *kerr = NULL;
    relief_kb *kb = relief_kb_load_embedded(&kerr);
    CHECK(kb != NULL);
    if (!kb) {
        free(kerr);
        return;
    }
    hy_text base_t, gguf_t, peft_t, again_t;
    bool cached = false;
    char gspec[2200], pspec[2200];
    snprintf(gspec, sizeof gspec, "%s/lora-qkvo.gguf", dir);
    snprintf(pspec, sizeof pspec, "%s/lora-qkvo-peft:1.0", dir);
    if (hy_run(kb, NULL, &base_t, &cached) && hy_run(kb, gspec, &gguf_t, &cached)) {
        CHECK_MSG(count_caches() == 2, "%d prefix caches: the adapter must have its own", count_caches());
        CHECK_MSG(!cached, "the adapter's first answer came from a cached prefix: whose?");
        CHECK_MSG(base_t.len != gguf_t.len || memcmp(base_t.text, gguf_t.text, base_t.len),
                  "the adapter did not change the answer");
        /* The PEFT form is the same adapter: same cache file, same answer. */
        if (hy_run(kb, pspec, &peft_t, &cached)) {
            CHECK(cached && count_caches() == 2);
            CHECK(peft_t.len == gguf_t.len && !memcmp(peft_t.text, gguf_t.text, gguf_t.len));
        }
        /* Without the adapter again: the base cache and answer. */
        if (hy_run(kb, "", &again_t, &cached)) {
            CHECK(cached && count_caches() == 2);
            CHECK(again_t.len == base_t.len && !memcmp(again_t.text, base_t.text, base_t.len));
        }
    }
    /* Errors: a bad adapter, a bad spec, an adapter for a remote backend. */
    char model[2048], err[1024], bad[3500];
    snprintf(model, sizeof model, "%s/tiny-f32.gguf", dir);
    snprintf(bad, sizeof bad, "%s,%s/nonexistent", gspec, tmp);
    relief_hybrid_config cfg = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = model, .cache_dir = hy_dir,
                                .quiet = true, .lora = bad};
    CHECK(relief_hybrid_new(kb, &cfg, err, sizeof err) == NULL && strstr(err, "LoRA adapter") &&
          strstr(err, "nonexistent"));
    cfg.lora = ",";
    CHECK(relief_hybrid_new(kb, &cfg, err, sizeof err) == NULL && strstr(err, "bad LoRA specification"));
    relief_hybrid_config rc = {.kind = RELIEF_BACKEND_REMOTE, .remote_url = "http://127.0.0.1:9", .lora = gspec};
    CHECK(relief_hybrid_new(kb, &rc, err, sizeof err) == NULL && strstr(err, "built-in engine only"));
    relief_kb_free(kb);
}

/* Removes the temporary tree (one level of subdirectories). */
static void rm_tree(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(dp);
    rmdir(d);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_lora TINY_DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    snprintf(tmp, sizeof tmp, "%s/relief-test-lora.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/tiny-f32.gguf", dir);
    relief_model_params mp = {.quiet = true};
    base = relief_model_load(path, &mp, err, sizeof err);
    size_t len;
    char *p1 = test_read_in(dir, "prompts/p1.txt", &len);
    ref_p1 = test_read_in(dir, "ref/tiny-f32.p1.logits.f32", &len);
    if (!base || !p1 || !ref_p1 || test_parse_ids(p1, p1_ids, 4) != 1 ||
        !(base_ctx = relief_llm_ctx_new(base, 8, 1, err, sizeof err))) {
        fprintf(stderr, "cannot load the tiny oracle from %s: %s\n", dir, base ? "prompt or reference" : err);
        rm_tree(tmp);
        return 1;
    }
    free(p1);
    char *manifest = test_read_in(dir, "manifest.txt", &len);
    int cases = 0;
    for (char *line = manifest ? strtok(manifest, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char model[256], adapter[256], prompt[256], logits[256], greedy[256];
        size_t nt, nv;
        double tol;
        if (sscanf(line, "%255s %255s %255s %255s %zu %zu %255s %lf", model, adapter, prompt, logits, &nt, &nv,
                   greedy, &tol) != 8 || !strcmp(adapter, "-"))
            continue;
        CHECK(!strcmp(model, "tiny-f32.gguf") && !strcmp(adapter, "lora-qkvo.gguf"));
        run_case(adapter, prompt, logits, nt, nv, strcmp(greedy, "-") ? greedy : NULL, tol);
        cases++;
    }
    free(manifest);
    CHECK(cases == 6);
    test_scales();
    test_spec();
    test_peft_errors();
    test_gguf_errors();
    test_safetensors();
    test_hybrid();
    base_still_works("all the tests");
    free(p40_ids);
    free(p40_gguf);
    free(ref_p1);
    relief_llm_ctx_free(base_ctx);
    relief_model_free(base);
    rm_tree(tmp);
    return check_summary("test_lora");
}
