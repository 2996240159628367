/*
 * test_llm.c - the inference engine's exact path (RELIEF_EXACT=1, f32
 * activations) against the oracle references in ../shared/oracle/tiny:
 * for every manifest case without an adapter, the logits of every position
 * match transformers within the manifest's tolerance (max |C - ref| /
 * std(ref)), both for whole-prompt evaluation and token-by-token decode;
 * greedy continuations match exactly. The fast path (the default) has its
 * own contract: test_fastpath.c.
 *
 * usage: test_llm TINY_DIR
 */
#include "check.h"
#include "test_util.h"
#include "relief/llm.h"

#include <stdlib.h>
#include <string.h>

static char dir[1024];




static relief_model *load(const char *file)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    relief_model_params p = {.quiet = true};
    relief_model *m = relief_model_load(path, &p, err, sizeof err);
    if (!m)
        fprintf(stderr, "load %s: %s\n", path, err);
    return m;
}

typedef struct {
    int32_t *got;
    size_t *n;
} collect;

static int collect_cb(int32_t t, void *user)
{
    collect *u = user;
    if (*u->n < 64)
        u->got[(*u->n)++] = t;
    return 0;
}

static void run_case(const char *model, const char *prompt, const char *logits_file, size_t n_tok, size_t n_vocab,
                     const char *greedy, double tol)
{
    relief_model *m = load(model);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(relief_model_vocab(m) == n_vocab);
    size_t len;
    char *ptext = test_read_in(dir, prompt, &len);
    float *ref = test_read_in(dir, logits_file, &len);
    CHECK(ptext && ref && len == n_tok * n_vocab * sizeof(float));
    int32_t ids[4096];
    size_t n = ptext ? test_parse_ids(ptext, ids, 4096) : 0;
    CHECK(n == n_tok);
    char err[256];
    relief_llm_ctx *c = relief_llm_ctx_new(m, (uint32_t)(n + 32), 0, err, sizeof err);
    float *out = malloc(n_tok * n_vocab * sizeof(float));
    if (c && out && ref && n == n_tok) {
        /* Whole prompt in one call. */
        CHECK(relief_llm_eval(c, ids, n, out, true, NULL) == RELIEF_LLM_OK);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double e = test_rel_err(out + i * n_vocab, ref + i * n_vocab, n_vocab);
            worst = e > worst ? e : worst;
        }
        CHECK_MSG(worst <= tol, "%s %s prompt: rel err %.3g > %.3g", model, prompt, worst, tol);
        printf("  %-14s %-16s prompt rel err %.2e", model, prompt, worst);
        /* Token by token. */
        relief_llm_ctx_reset(c);
        worst = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK(relief_llm_eval(c, ids + i, 1, out, false, NULL) == RELIEF_LLM_OK);
            double e = test_rel_err(out, ref + i * n_vocab, n_vocab);
            worst = e > worst ? e : worst;
        }
        CHECK_MSG(worst <= tol, "%s %s decode: rel err %.3g > %.3g", model, prompt, worst, tol);
        printf(", decode %.2e\n", worst);
        /* Greedy continuation. */
        if (greedy) {
            char *gtext = test_read_in(dir, greedy, &len);
            int32_t want[64];
            size_t ng = gtext ? test_parse_ids(gtext, want, 64) : 0;
            CHECK(ng == 16);
            relief_llm_ctx_reset(c);
            relief_sampler_params sp = relief_llm_sampler_defaults();
            sp.temperature = 0;
            sp.max_new_tokens = (int)ng;
            int32_t got[64];
            size_t ngot = 0;
            collect u = {got, &ngot};
            relief_gen_result res;
            CHECK(relief_llm_generate(c, ids, n, &sp, NULL, 0, collect_cb, &u, NULL, &res) == RELIEF_LLM_OK);
            CHECK(ngot == ng && !memcmp(got, want, ng * sizeof *got));
            if (ngot == ng && memcmp(got, want, ng * sizeof *got)) {
                for (size_t i = 0; i < ng; i++)
                    fprintf(stderr, "%d/%d ", got[i], want[i]);
                fprintf(stderr, "\n");
            }
            free(gtext);
        }
    }
    relief_llm_ctx_free(c);
    free(out);
    free(ref);
    free(ptext);
    relief_model_free(m);
}

typedef struct {
    int n, rising;
    double last;
} progress_log;

static void log_progress(double done, void *user)
{
    progress_log *pl = user;
    pl->rising = pl->n == 0 ? (done > 0) : pl->rising && done >= pl->last;
    pl->last = done;
    pl->n++;
}

/* Limits: a deadline in the past stops before the first layer; cancel too;
 * the context refuses to overflow; bad token ids are rejected. */
static void test_limits(void)
{
    relief_model *m = load("tiny-f32.gguf");
    if (!m)
        return;
    char err[256];
    relief_llm_ctx *c = relief_llm_ctx_new(m, 4, 0, err, sizeof err);
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    relief_llm_limits past = {.deadline = relief_llm_now() - 1};
    CHECK(relief_llm_eval(c, ids, 2, NULL, false, &past) == RELIEF_LLM_DEADLINE);
    CHECK(relief_llm_ctx_pos(c) == 0);
    atomic_int cancel = 1;
    relief_llm_limits cl = {.cancel = &cancel};
    CHECK(relief_llm_eval(c, ids, 2, NULL, false, &cl) == RELIEF_LLM_CANCELLED);
    CHECK(relief_llm_eval(c, ids, 6, NULL, false, NULL) == RELIEF_LLM_CTX_FULL);
    CHECK(relief_llm_ctx_pos(c) == 4);
    relief_llm_ctx_reset(c);
    int32_t bad = (int32_t)relief_model_vocab(m);
    CHECK(relief_llm_eval(c, &bad, 1, NULL, false, NULL) == RELIEF_LLM_BAD_TOKEN);
    bad = -1;
    CHECK(relief_llm_eval(c, &bad, 1, NULL, false, NULL) == RELIEF_LLM_BAD_TOKEN);
    /* Generation stops at max_new_tokens. */
    relief_llm_ctx_free(c);
    c = relief_llm_ctx_new(m, 64, 0, err, sizeof err);
    /* Progress while reading a prompt: rising, ending at 1; none for one token. */
    {
        progress_log pl = {0};
        int32_t many[40];
        for (int i = 0; i < 40; i++)
            many[i] = 1 + i;
        relief_llm_limits pr = {.on_progress = log_progress, .progress_user = &pl};
        CHECK(relief_llm_eval(c, many, 40, NULL, false, &pr) == RELIEF_LLM_OK);
        CHECK_MSG(pl.n >= 2 && pl.rising && pl.last == 1.0, "%d progress calls, rising %d, last %g", pl.n,
                  pl.rising, pl.last);
        pl = (progress_log){0};
        CHECK(relief_llm_eval(c, many, 1, NULL, false, &pr) == RELIEF_LLM_OK);
        CHECK(pl.n == 0);
        relief_llm_ctx_reset(c);
    }
    relief_sampler_params sp = relief_llm_sampler_defaults();
    sp.max_new_tokens = 5;
    relief_gen_result res;
    CHECK(relief_llm_generate(c, ids, 3, &sp, NULL, 0, NULL, NULL, NULL, &res) == RELIEF_LLM_OK);
    CHECK(res.n_generated == 5 && relief_llm_ctx_pos(c) == 3 + 4);
    /* Same seed, same tokens; temperature sampling stays in the vocabulary. */
    relief_llm_ctx_free(c);
    relief_model_free(m);
}

/* Thread counts that split experts evenly (1, 2, 4) and that do not (3)
 * take different paths; batched and token-by-token prompts too. All must
 * agree with each other to float rounding. */
static void test_threads_and_batching(void)
{
    relief_model *m = load("tiny-q.gguf");
    if (!m)
        return;
    size_t V = relief_model_vocab(m), n = 40;
    int32_t ids[40];
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)((i * 37 + 11) % 1000);
    float *ref = malloc(n * V * sizeof(float)), *out = malloc(n * V * sizeof(float));
    char err[256];
    relief_llm_ctx *c = relief_llm_ctx_new(m, 64, 1, err, sizeof err);
    for (size_t i = 0; i < n; i++) /* token by token, one thread: the reference */
        relief_llm_eval(c, ids + i, 1, ref + i * V, false, NULL);
    relief_llm_ctx_free(c);
    const uint32_t threads[] = {1, 2, 3, 4};
    for (size_t k = 0; k < 4; k++) {
        c = relief_llm_ctx_new(m, 64, threads[k], err, sizeof err);
        CHECK(c && relief_llm_eval(c, ids, n, out, true, NULL) == RELIEF_LLM_OK);
        double worst = 0;
        for (size_t i = 0; i < n * V; i++)
            worst = fmax(worst, fabs((double)out[i] - ref[i]));
        CHECK_MSG(worst < 1e-4, "%u threads, batched: max abs diff %g", threads[k], worst);
        relief_llm_ctx_reset(c);
        for (size_t i = 0; i < n; i++)
            relief_llm_eval(c, ids + i, 1, out + i * V, false, NULL);
        worst = 0;
        for (size_t i = 0; i < n * V; i++)
            worst = fmax(worst, fabs((double)out[i] - ref[i]));
        CHECK_MSG(worst < 1e-4, "%u threads, decode: max abs diff %g", threads[k], worst);
        relief_llm_ctx_free(c);
    }
    /* Long prompt: the sliding layers' ring buffers wrap inside a batch
     * and across batches; batched and token-by-token must still agree. */
    size_t L = 700; /* > W + LLM_MAX_BATCH - 1 = 527 */
    int32_t *lids = malloc(L * sizeof *lids);
    for (size_t i = 0; i < L; i++)
        lids[i] = (int32_t)((i * 7919 + 3) % 1000);
    c = relief_llm_ctx_new(m, 1024, 2, err, sizeof err);
    CHECK(c && relief_llm_eval(c, lids, L, out, false, NULL) == RELIEF_LLM_OK);
    relief_llm_ctx_reset(c);
    for (size_t i = 0; i < L; i++)
        relief_llm_eval(c, lids + i, 1, ref, false, NULL);
    double worst = 0;
    for (size_t i = 0; i < V; i++)
        worst = fmax(worst, fabs((double)out[i] - ref[i]));
    CHECK_MSG(worst < 1e-4, "long prompt batched vs decode: %g", worst);
    relief_llm_ctx_free(c);
    free(lids);
    free(ref);
    free(out);
    relief_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_llm TINY_DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setenv("RELIEF_EXACT", "1", 1); /* every context below: the exact path */
    size_t len;
    char *manifest = test_read_in(dir, "manifest.txt", &len);
    if (!manifest) {
        fprintf(stderr, "cannot read %s/manifest.txt\n", dir);
        return 1;
    }
    int cases = 0;
    for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char model[256], adapter[256], prompt[256], logits[256], greedy[256];
        size_t nt, nv;
        double tol;
        if (sscanf(line, "%255s %255s %255s %255s %zu %zu %255s %lf", model, adapter, prompt, logits, &nt, &nv,
                   greedy, &tol) != 8)
            continue;
        if (strcmp(adapter, "-"))
            continue; /* adapters: test_lora */
        run_case(model, prompt, logits, nt, nv, strcmp(greedy, "-") ? greedy : NULL, tol);
        cases++;
    }
    free(manifest);
    CHECK(cases == 12);
    test_limits();
    test_threads_and_batching();
    return check_summary("test_llm");
}
