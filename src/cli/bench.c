/*
 * bench.c - `relief bench`: engine speed in the style of llama-bench.
 *   relief bench --model FILE [-t THREADS] [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-r REPS]
 *                [--exact | --q8] [--lora FILE_OR_DIR[:SCALE]]...
 *   relief bench --membw [-t THREADS]
 *   relief bench --ttft --model FILE "REPORT"   (bench_ttft.c: the user's wait for the model's words)
 * Prints prompt and decode tokens/s (mean +- stdev over reps) and, last,
 * one JSON line. With --lora every rep runs twice in the same context,
 * without and with the adapters (alternating which goes first), so the two
 * figures are measured side by side; the JSON line then adds
 * pp_lora_tok_s and tg_lora_tok_s (pp_tok_s/tg_tok_s stay the base's); --membw prints the machine's read bandwidth so decode speed
 * can be compared with its limit (bytes per token / GB/s). --exact runs
 * the exact f32 path (as RELIEF_EXACT=1), --q8 the fast path with 8-bit
 * activations only (RELIEF_Q8=1); the default is the fast path with an
 * 8-bit residual term (src/llm/kernels.h); the output names the path.
 */
#include "cli.h"
#include "llm/threads.h"
#include "relief/llm.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

typedef struct {
    const unsigned char *buf;
    size_t len;
    double sums[64];
} membw_job;

__attribute__((target("avx2"))) static void read_share(void *arg, int ith, int nth)
{
    membw_job *j = arg;
    size_t lo = j->len / (size_t)nth * (size_t)ith, hi = j->len / (size_t)nth * (size_t)(ith + 1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = lo; i + 128 <= hi; i += 128) {
        a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(j->buf + i)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(j->buf + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(j->buf + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(j->buf + i + 96)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    j->sums[ith & 63] = (double)_mm256_extract_epi64(a0, 0);
}

/* Best read bandwidth over 8 passes of a 2 GiB buffer. */
static double membw_pass(relief_pool *p, bool huge, double *mean, double *sd)
{
    size_t len = (size_t)2 << 30; /* far beyond any cache */
    unsigned char *buf = aligned_alloc(2u << 20, len);
    if (!buf)
        return -1;
    /* The model is a file mapping in 4 KiB page-cache pages; an anonymous
     * buffer may get transparent huge pages, which read faster (fewer TLB
     * misses). Measure both and say which is which. */
    madvise(buf, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(buf, 1, len);
    membw_job j = {buf, len, {0}};
    double best = 0, all[8];
    for (int r = 0; r < 8; r++) {
        double t0 = relief_llm_now();
        pool_run(p, read_share, &j);
        all[r] = len / (relief_llm_now() - t0) / 1e9;
        best = all[r] > best ? all[r] : best;
    }
    mean_sd(all + 1, 7, mean, sd);
    free(buf);
    return best;
}

static int bench_membw(int threads)
{
    relief_pool *p = pool_new(threads);
    double m4, s4, mh, sh;
    double b4 = membw_pass(p, false, &m4, &s4), bh = membw_pass(p, true, &mh, &sh);
    if (b4 < 0 || bh < 0) {
        fprintf(stderr, "relief bench: cannot allocate the 2 GiB test buffer\n");
        pool_free(p);
        return EXIT_FAIL;
    }
    printf("memory read bandwidth, %d threads, 4 KiB pages (like the mapped model): best %.1f GB/s, mean %.1f +- %.1f\n",
           pool_size(p), b4, m4, s4);
    printf("memory read bandwidth, %d threads, huge pages: best %.1f GB/s, mean %.1f +- %.1f\n", pool_size(p), bh, mh,
           sh);
    printf("{\"membw_gb_s\": %.2f, \"membw_hugepages_gb_s\": %.2f, \"threads\": %d}\n", b4, bh, pool_size(p));
    pool_free(p);
    return EXIT_OK;
}

static void bench_rep(relief_llm_ctx *c, const int32_t *ids, int p, int n, uint32_t n_ids, float *logits, double *pp,
                      double *tg)
{
    relief_llm_ctx_reset(c);
    if (p > 0) {
        double t0 = relief_llm_now();
        relief_llm_eval(c, ids, (size_t)p, logits, false, NULL);
        *pp = p / (relief_llm_now() - t0);
    }
    if (n > 0) {
        int32_t tok = ids[p];
        double t0 = relief_llm_now();
        for (int i = 0; i < n; i++) {
            relief_llm_eval(c, &tok, 1, logits, false, NULL);
            tok = (int32_t)(((int64_t)tok * 7 + 13) % n_ids);
        }
        *tg = n / (relief_llm_now() - t0);
    }
}

/* Attaches (on) or detaches (off) the adapters; -1 with a message on error. */
static int bench_set_loras(relief_llm_ctx *c, relief_lora **l, int n, bool on)
{
    relief_llm_ctx_clear_loras(c);
    char err[256];
    for (int i = 0; on && i < n; i++)
        if (relief_llm_ctx_add_lora(c, l[i], err, sizeof err) < 0) {
            fprintf(stderr, "relief: %s\n", err);
            return -1;
        }
    return 0;
}

int cli_bench(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 0, p = 512, n = 128, reps = 3;
    bool membw = false;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--ttft"))
            return cli_bench_ttft(argc, argv);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "-t") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-p") && has) p = atoi(argv[++i]);
        else if (!strcmp(a, "-n") && has) n = atoi(argv[++i]);
        else if (!strcmp(a, "-r") && has) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--lora") && has) { /* loaded by cli_loras_attach; checked here (usage) */
            if (!cli_lora_spec_ok(argv[++i]))
                return EXIT_USAGE;
        }
        else if (!strcmp(a, "--membw")) membw = true;
        else if (cli_numerics_flag(a)) continue;
        else {
            fprintf(stderr, "usage: relief bench --model FILE [-t THREADS] [-p PROMPT] [-n GEN] [-r REPS] "
                            "[--exact | --q8] [--lora FILE_OR_DIR[:SCALE]]... | relief bench --membw [-t THREADS] | "
                            "relief bench --ttft --model FILE \"REPORT\"\n");
            return EXIT_USAGE;
        }
    }
    if (membw)
        return bench_membw(threads);
    if (!model || p < 0 || n < 0 || reps < 1 || reps > 100 || p > 65536 || n > 65536 || threads < 0) {
        fprintf(stderr, "relief bench: need --model FILE; -p, -n within 0..65536, -r within 1..100\n");
        return EXIT_USAGE;
    }
    const char *path = cli_numerics();
    char err[512];
    relief_model *m = relief_model_load(model, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "relief: %s\n", err);
        return EXIT_FAIL;
    }
    relief_llm_ctx *c = relief_llm_ctx_new(m, (uint32_t)(p + n + 1), (uint32_t)threads, err, sizeof err);
    int32_t *ids = malloc(((size_t)p + 1) * sizeof *ids);
    float *logits = malloc(relief_model_vocab(m) * sizeof *logits);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    double *ppl = calloc((size_t)reps, sizeof *ppl), *tgl = calloc((size_t)reps, sizeof *tgl);
    if (!c || !ids || !logits || !pp || !tg || !ppl || !tgl) {
        fprintf(stderr, "relief: %s\n", c ? "out of memory" : err);
        return EXIT_FAIL;
    }
    relief_lora **loras = NULL;
    int n_lora = cli_loras_attach(m, c, argc, argv, true, &loras);
    if (n_lora < 0)
        return EXIT_FAIL;
    uint64_t s = 42;
    size_t V = relief_model_vocab(m);
    uint32_t n_ids = V > 199998 ? 199998 : (uint32_t)V; /* below the specials of o200k_harmony */
    for (int i = 0; i <= p; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % n_ids); /* ordinary text tokens */
    }
    const relief_model_info *h = relief_model_get_info(m);
    printf("model: %s (%u layers, %u experts, %u used), %u threads, %s path\n", model, h->n_layer, h->n_expert,
           h->n_expert_used, (unsigned)(threads ? threads : 0), path);
    int rc = EXIT_OK;
    for (int r = 0; r < reps && rc == EXIT_OK; r++) {
        if (!n_lora) {
            bench_rep(c, ids, p, n, n_ids, logits, &pp[r], &tg[r]);
            printf("  rep %d: prompt %.2f tok/s, decode %.2f tok/s\n", r + 1, pp[r], tg[r]);
            continue;
        }
        for (int k = 0; k < 2 && rc == EXIT_OK; k++) {
            bool on = (k + r) % 2 == 1; /* alternate which goes first */
            if (bench_set_loras(c, loras, n_lora, on) < 0)
                rc = EXIT_FAIL;
            else
                bench_rep(c, ids, p, n, n_ids, logits, on ? &ppl[r] : &pp[r], on ? &tgl[r] : &tg[r]);
        }
        printf("  rep %d: base prompt %.2f tok/s, decode %.2f tok/s | adapters prompt %.2f tok/s, decode %.2f tok/s\n",
               r + 1, pp[r], tg[r], ppl[r], tgl[r]);
    }
    double pm, ps, tm, ts, plm, pls, tlm, tls;
    mean_sd(pp, reps, &pm, &ps);
    mean_sd(tg, reps, &tm, &ts);
    mean_sd(ppl, reps, &plm, &pls);
    mean_sd(tgl, reps, &tlm, &tls);
    if (!n_lora) {
        printf("pp%d: %.2f +- %.2f tok/s\ntg%d: %.2f +- %.2f tok/s\n", p, pm, ps, n, tm, ts);
        printf("{\"pp_tok_s\": %.3f, \"tg_tok_s\": %.3f, \"threads\": %d, \"p\": %d, \"n\": %d, \"path\": \"%s\"}\n",
               pm, tm, threads, p, n, path);
    } else if (rc == EXIT_OK) {
        printf("pp%d: %.2f +- %.2f tok/s base, %.2f +- %.2f tok/s with adapters (%+.1f %%)\n", p, pm, ps, plm, pls,
               pm > 0 ? (plm / pm - 1) * 100 : 0.0);
        printf("tg%d: %.2f +- %.2f tok/s base, %.2f +- %.2f tok/s with adapters (%+.1f %%)\n", n, tm, ts, tlm, tls,
               tm > 0 ? (tlm / tm - 1) * 100 : 0.0);
        printf("{\"pp_tok_s\": %.3f, \"tg_tok_s\": %.3f, \"pp_lora_tok_s\": %.3f, \"tg_lora_tok_s\": %.3f, "
               "\"threads\": %d, \"p\": %d, \"n\": %d, \"lora\": %d, \"path\": \"%s\"}\n",
               pm, tm, plm, tlm, threads, p, n, n_lora, path);
    }
    free(pp);
    free(tg);
    free(ppl);
    free(tgl);
    free(ids);
    free(logits);
    relief_llm_ctx_free(c);
    cli_loras_free(loras, n_lora);
    relief_model_free(m);
    return rc;
}
