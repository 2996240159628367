/*
 * llm_cmds.c - command-line tools around the inference engine:
 *   relief model-info FILE.gguf [--tensors]
 *   relief tokenize --model FILE [--special]        (text on stdin)
 *   relief logits --model FILE [--lora FILE_OR_DIR[:SCALE]]... --tokens-file IDS --out OUT.f32
 *   relief chat --model FILE [--lora FILE_OR_DIR[:SCALE]]... "message"
 * Each returns an exit code (cli.h).
 */
#include "cli.h"
#include "llm/gguf.h"
#include "llm/harmony.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "relief/llm.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *read_stream(FILE *f, size_t *len, size_t limit)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= limit) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (buf)
        *len = n;
    return buf;
}

static const char *opt_value(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static bool opt_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name))
            return true;
    return false;
}

bool cli_numerics_flag(const char *arg)
{
    if (!strcmp(arg, "--exact")) {
        setenv("RELIEF_EXACT", "1", 1);
        return true;
    }
    if (!strcmp(arg, "--q8")) {
        unsetenv("RELIEF_EXACT");
        setenv("RELIEF_Q8", "1", 1);
        return true;
    }
    return false;
}

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0");
}

const char *cli_numerics(void)
{
    return env_on("RELIEF_EXACT") ? "exact" : env_on("RELIEF_Q8") ? "q8" : "q8x2";
}

bool cli_lora_spec_ok(const char *spec)
{
    char path[4096];
    float mult;
    if (relief_lora_parse_spec(spec, path, sizeof path, &mult) == 0)
        return true;
    fprintf(stderr, "relief: bad --lora '%s' (FILE_OR_DIR[:SCALE], SCALE within +-%g)\n", spec, RELIEF_LORA_MAX_SCALE);
    return false;
}

int cli_loras_attach(const relief_model *m, relief_llm_ctx *c, int argc, char **argv, bool verbose,
                     relief_lora ***out)
{
    int n = 0;
    *out = NULL;
    for (int i = 0; i + 1 < argc; i++)
        n += !strcmp(argv[i], "--lora");
    if (!n)
        return 0;
    relief_lora **l = calloc((size_t)n, sizeof *l);
    if (!l) {
        fprintf(stderr, "relief: out of memory\n");
        return -1;
    }
    int k = 0;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--lora"))
            continue;
        char path[4096], err[1024];
        float mult;
        if (relief_lora_parse_spec(argv[++i], path, sizeof path, &mult) < 0) {
            fprintf(stderr, "relief: bad --lora '%s' (FILE_OR_DIR[:SCALE], SCALE within +-%g)\n", argv[i],
                    RELIEF_LORA_MAX_SCALE);
            cli_loras_free(l, k);
            return -1;
        }
        if (!(l[k] = relief_lora_load(m, path, mult, err, sizeof err)) ||
            relief_llm_ctx_add_lora(c, l[k], err, sizeof err) < 0) {
            fprintf(stderr, "relief: LoRA adapter: %s\n", err);
            cli_loras_free(l, k + 1);
            return -1;
        }
        if (verbose) {
            char d[256];
            relief_lora_describe(l[k], d, sizeof d);
            fprintf(stderr, "[adapter %s: %s]\n", path, d);
        }
        k++;
    }
    *out = l;
    return k;
}

void cli_loras_free(relief_lora **l, int n)
{
    for (int i = 0; l && i < n; i++)
        relief_lora_free(l[i]);
    free(l);
}

int cli_model_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] != '-')
            path = argv[i];
    if (!path) {
        fprintf(stderr, "usage: relief model-info FILE.gguf [--tensors]\n");
        return EXIT_USAGE;
    }
    char err[512];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "relief: %s\n", err);
        return EXIT_FAIL;
    }
    printf("file: %s\nsize: %.2f GB; GGUF version %u; %llu tensors; %llu metadata keys\n", path, g->size / 1e9,
           g->version, (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv);
    struct { uint64_t n, bytes; } by_type[64] = {{0, 0}};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint32_t t = g->tensors[i].type < 64 ? g->tensors[i].type : 63;
        by_type[t].n++;
        by_type[t].bytes += g->tensors[i].nbytes;
    }
    printf("tensor types:");
    for (uint32_t t = 0; t < 64; t++)
        if (by_type[t].n)
            printf(" %s x%llu (%.1f MB)", ggml_type_name(t) ? ggml_type_name(t) : "?", (unsigned long long)by_type[t].n,
                   by_type[t].bytes / 1e6);
    printf("\n");
    if (opt_flag(argc, argv, "--tensors"))
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            printf("  %-36s %-8s [%llu, %llu, %llu] %llu bytes\n", t->name, ggml_type_name(t->type),
                   (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                   (unsigned long long)t->nbytes);
        }
    gguf_close(g);
    relief_model_params mp = {.no_warmup = true, .quiet = true};
    relief_model *m = relief_model_load(path, &mp, err, sizeof err);
    if (!m) {
        fprintf(stderr, "relief: not a usable gpt-oss model: %s\n", err);
        return EXIT_FAIL;
    }
    const relief_model_info *h = relief_model_get_info(m);
    printf("architecture: %s\nlayers: %u\nembedding: %u\nattention heads: %u (kv heads %u, head size %u)\n"
           "experts: %u (%u per token), expert width %u\nsliding window: %u (every layer l with l %% %u < %u)\n"
           "context: %u (YaRN factor %g from %u; rope base %g; beta fast %g, slow %g)\nrms epsilon: %g\n"
           "vocabulary: %u\nweights: %.2f GB\n",
           h->arch, h->n_layer, h->n_embd, h->n_head, h->n_head_kv, h->head_dim, h->n_expert, h->n_expert_used,
           h->n_ff_expert, h->sliding_window, h->swa_pattern, h->swa_pattern - 1, h->ctx_train,
           (double)h->rope_scale, h->yarn_orig_ctx, (double)h->rope_base, (double)h->yarn_beta_fast,
           (double)h->yarn_beta_slow, (double)h->rms_eps, h->n_vocab, h->weight_bytes / 1e9);
    relief_model_free(m);
    return EXIT_OK;
}

int cli_tokenize(int argc, char **argv)
{
    const char *path = opt_value(argc, argv, "--model");
    if (!path) {
        fprintf(stderr, "usage: relief tokenize --model FILE.gguf [--special] < text\n");
        return EXIT_USAGE;
    }
    char err[512];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "relief: %s\n", err);
        return EXIT_FAIL;
    }
    relief_tokenizer *t = tok_load(g, err, sizeof err);
    gguf_close(g);
    if (!t) {
        fprintf(stderr, "relief: %s: %s\n", path, err);
        return EXIT_FAIL;
    }
    size_t len;
    char *text = read_stream(stdin, &len, 256u << 20);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = EXIT_OK;
    if (!text || tok_encode(t, text, len, opt_flag(argc, argv, "--special"), &ids, &n) < 0) {
        fprintf(stderr, "relief: cannot tokenize stdin: %s\n", text ? "out of memory" : strerror(errno));
        rc = EXIT_FAIL;
    } else {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    free(ids);
    free(text);
    tok_free(t);
    return rc;
}

/* Reads whitespace-separated token ids; -1 with a message on bad input. */
static int read_ids(const char *path, int32_t **ids, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "relief: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len;
    char *text = read_stream(f, &len, 64u << 20);
    fclose(f);
    if (!text) {
        fprintf(stderr, "relief: cannot read %s\n", path);
        return -1;
    }
    char *p = text, *end = text + len;
    size_t cap = 256;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    while (*ids && p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= end)
            break;
        char *q = p;
        long v = 0;
        while (q < end && *q >= '0' && *q <= '9' && v <= INT32_MAX)
            v = v * 10 + (*q++ - '0');
        if (q == p || v > INT32_MAX || (q < end && !(*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r'))) {
            fprintf(stderr, "relief: %s: not a token id at byte %td\n", path, p - text);
            free(*ids);
            free(text);
            *ids = NULL;
            return -1;
        }
        if (*n == cap) {
            int32_t *r = realloc(*ids, cap * 2 * sizeof **ids);
            if (!r) {
                free(*ids);
                *ids = NULL;
                break;
            }
            *ids = r;
            cap *= 2;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = q;
    }
    free(text);
    if (!*ids) {
        fprintf(stderr, "relief: out of memory\n");
        return -1;
    }
    return 0;
}

int cli_logits(int argc, char **argv)
{
    const char *path = opt_value(argc, argv, "--model"), *ids_path = opt_value(argc, argv, "--tokens-file");
    const char *out_path = opt_value(argc, argv, "--out");
    for (int i = 0; i < argc; i++)
        cli_numerics_flag(argv[i]);
    if (!path || !ids_path || !out_path) {
        fprintf(stderr, "usage: relief logits --model FILE.gguf [--lora FILE_OR_DIR[:SCALE]]... [--exact | --q8] "
                        "--tokens-file IDS.txt --out OUT.f32\n");
        return EXIT_USAGE;
    }
    int32_t *ids;
    size_t n;
    if (read_ids(ids_path, &ids, &n) < 0)
        return EXIT_FAIL;
    char err[512];
    relief_model_params mp = {.quiet = true, .yarn_round_like_llamacpp = opt_flag(argc, argv, "--yarn-llamacpp")};
    relief_model *m = relief_model_load(path, &mp, err, sizeof err);
    if (!m) {
        fprintf(stderr, "relief: %s\n", err);
        free(ids);
        return EXIT_FAIL;
    }
    size_t V = relief_model_vocab(m);
    relief_llm_ctx *c = relief_llm_ctx_new(m, n ? (uint32_t)n : 1, 0, err, sizeof err);
    float *logits = n && n <= SIZE_MAX / V / sizeof(float) ? malloc(n * V * sizeof(float)) : NULL;
    int rc = EXIT_FAIL, n_lora = 0;
    relief_lora **loras = NULL;
    if (!c || (n && !logits)) {
        fprintf(stderr, "relief: %s\n", c ? "out of memory for the logits" : err);
    } else if ((n_lora = cli_loras_attach(m, c, argc, argv, false, &loras)) < 0) {
        n_lora = 0;
    } else {
        relief_llm_status st = relief_llm_eval(c, ids, n, logits, true, NULL);
        FILE *out = st == RELIEF_LLM_OK ? fopen(out_path, "wb") : NULL;
        if (st != RELIEF_LLM_OK)
            fprintf(stderr, "relief: evaluation failed: %s\n", relief_llm_status_str(st));
        else if (!out || fwrite(logits, sizeof(float), n * V, out) != n * V || fclose(out) != 0)
            fprintf(stderr, "relief: cannot write %s: %s\n", out_path, strerror(errno));
        else
            rc = EXIT_OK;
    }
    free(logits);
    relief_llm_ctx_free(c);
    cli_loras_free(loras, n_lora);
    relief_model_free(m);
    free(ids);
    return rc;
}

/* ---- relief chat ---- */

typedef struct {
    harmony_parser *parser;
    const relief_tokenizer *tok;
    tok_decoder raw;
    bool show_analysis, raw_mode, in_analysis_shown;
    size_t final_bytes;
} chat_state;

static int chat_token(int32_t id, void *user)
{
    chat_state *s = user;
    if (s->raw_mode) {
        char buf[512];
        size_t n = tok_decode_next(s->tok, &s->raw, id, buf, sizeof buf);
        fwrite(buf, 1, n, stdout);
        fflush(stdout);
        return 0;
    }
    harmony_event ev;
    int rc = harmony_parser_feed(s->parser, id, &ev);
    if (rc < 0) {
        fprintf(stderr, "\n[relief: the model's output does not follow the harmony format (%s); showing raw text]\n",
                harmony_parser_error(s->parser));
        s->raw_mode = true;
        return chat_token(id, user);
    }
    size_t n;
    const harmony_parsed *msgs = harmony_parser_messages(s->parser, &n);
    const harmony_parsed *cur = n ? &msgs[n - 1] : NULL;
    if (ev.text && cur) {
        bool final = !strcmp(cur->channel, "final");
        if (final || s->show_analysis) {
            if (!final && !s->in_analysis_shown) {
                fprintf(stdout, "[%s]\n", cur->channel[0] ? cur->channel : "analysis");
                s->in_analysis_shown = true;
            }
            if (final && s->in_analysis_shown) {
                fprintf(stdout, "\n[final]\n");
                s->in_analysis_shown = false;
            }
            fwrite(ev.text, 1, ev.text_len, stdout);
            fflush(stdout);
            if (final)
                s->final_bytes += ev.text_len;
        }
    }
    return rc == 1;
}

/* True for a YYYY-MM-DD string (digits and dashes in place). */
static bool valid_date(const char *s)
{
    if (strlen(s) != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int cli_chat(int argc, char **argv)
{
    const char *path = NULL, *message = NULL, *reasoning = "low";
    int max_tokens = 512, threads = 0;
    double temperature = 1.0, deadline = 0;
    bool show_analysis = false, direct = false, ignore_eos = false;
    const char *date_arg = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(a, "--model") && has) path = argv[++i];
        else if (!strcmp(a, "--reasoning") && has) reasoning = argv[++i];
        else if (!strcmp(a, "--max-tokens") && has) max_tokens = (int)strtol(argv[++i], &end, 10);
        else if (!strcmp(a, "--temperature") && has) temperature = strtod(argv[++i], &end);
        else if (!strcmp(a, "--deadline") && has) deadline = strtod(argv[++i], &end);
        else if (!strcmp(a, "--threads") && has) threads = (int)strtol(argv[++i], &end, 10);
        else if (!strcmp(a, "--lora") && has) { /* loaded by cli_loras_attach; checked here (usage) */
            if (!cli_lora_spec_ok(argv[++i]))
                return EXIT_USAGE;
        }
        else if (!strcmp(a, "--show-analysis")) show_analysis = true;
        else if (!strcmp(a, "--final-only")) direct = true;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (cli_numerics_flag(a)) continue;
        else if (!strcmp(a, "--date") && has) date_arg = argv[++i];
        else if (a[0] == '-') {
            fprintf(stderr, "relief chat: unknown option '%s'\n", a);
            return EXIT_USAGE;
        } else
            message = a;
        if (end && *end) {
            fprintf(stderr, "relief chat: bad number '%s' for %s\n", argv[i], a);
            return EXIT_USAGE;
        }
    }
    harmony_effort effort = !strcmp(reasoning, "low") ? HARMONY_EFFORT_LOW
                            : !strcmp(reasoning, "medium") ? HARMONY_EFFORT_MEDIUM
                            : !strcmp(reasoning, "high") ? HARMONY_EFFORT_HIGH : (harmony_effort)-1;
    if (date_arg && !valid_date(date_arg)) {
        fprintf(stderr, "relief chat: --date wants YYYY-MM-DD, not '%s'\n", date_arg);
        return EXIT_USAGE;
    }
    if (!path || !message || (int)effort < 0 || max_tokens < 1 || max_tokens > 1000000 || !(temperature >= 0) ||
        deadline < 0 || threads < 0) {
        fprintf(stderr, "usage: relief chat --model FILE.gguf [--reasoning low|medium|high] [--max-tokens N] "
                        "[--temperature T] [--deadline SECONDS] [--threads N] [--exact | --q8] [--lora FILE_OR_DIR[:SCALE]]... "
                        "[--show-analysis] [--final-only] [--date YYYY-MM-DD] [--ignore-eos] \"message\"\n");
        return EXIT_USAGE;
    }
    double t_start = relief_llm_now();
    char err[512];
    relief_model *m = relief_model_load(path, NULL, err, sizeof err);
    if (!m) {
        fprintf(stderr, "relief: %s\n", err);
        return EXIT_FAIL;
    }
    const relief_tokenizer *tok = model_tokenizer(m);
    harmony *h = harmony_new(tok, err, sizeof err);
    if (!h) {
        fprintf(stderr, "relief: %s: %s\n", path, err);
        relief_model_free(m);
        return EXIT_FAIL;
    }
    /* The system message carries the date; --date pins it so that a greedy
     * answer is the same on every day (tests rely on that). */
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&now, &tm));
    if (date_arg)
        snprintf(date, sizeof date, "%s", date_arg);
    harmony_system sys = {.date = date, .effort = effort};
    harmony_message user = {.author = "user", .content = message};
    harmony_convo conv = {.system = &sys, .messages = &user, .n_messages = 1,
                          .open = direct ? HARMONY_OPEN_FINAL : HARMONY_OPEN_ASSISTANT};
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = EXIT_FAIL, n_lora = 0;
    relief_lora **loras = NULL;
    relief_llm_ctx *c = NULL;
    chat_state st = {.tok = tok, .show_analysis = show_analysis};
    if (harmony_render(h, &conv, &ids, &n) < 0 || !(st.parser = harmony_parser_new(h, conv.open))) {
        fprintf(stderr, "relief: out of memory\n");
        goto out;
    }
    /* The context holds the prompt and the answer, and never more positions
     * than the model was trained for: a longer --max-tokens is cut to fit
     * (generation then stops with "context full"), a prompt that alone
     * fills it is refused. */
    size_t n_ctx = n + (size_t)max_tokens + 1, ctx_train = relief_model_get_info(m)->ctx_train;
    if (n + 1 >= ctx_train) {
        fprintf(stderr, "relief: the prompt (%zu tokens) does not fit the model's context of %zu tokens\n", n,
                ctx_train);
        goto out;
    }
    if (n_ctx > ctx_train) {
        fprintf(stderr,
                "relief: --max-tokens %d does not fit the model's context of %zu tokens after the %zu-token "
                "prompt; the answer stops when the context is full\n",
                max_tokens, ctx_train, n);
        n_ctx = ctx_train;
    }
    c = relief_llm_ctx_new(m, (uint32_t)n_ctx, (uint32_t)threads, err, sizeof err);
    if (!c) {
        fprintf(stderr, "relief: %s\n", err);
        goto out;
    }
    if ((n_lora = cli_loras_attach(m, c, argc, argv, true, &loras)) < 0) {
        n_lora = 0;
        goto out;
    }
    relief_sampler_params sp = relief_llm_sampler_defaults();
    sp.temperature = (float)temperature;
    sp.max_new_tokens = max_tokens;
    sp.seed = (uint64_t)now;
    int32_t ends[2] = {harmony_special(h, "<|return|>"), harmony_special(h, "<|call|>")};
    relief_llm_limits lim = {.deadline = deadline > 0 ? t_start + deadline : 0};
    relief_gen_result res;
    /* --ignore-eos: no end token stops the answer, only --max-tokens, the
     * context or the deadline (for tests and benchmarks of long outputs). */
    relief_llm_generate(c, ids, n, &sp, ends, ignore_eos ? 0 : 2, chat_token, &st, &lim, &res);
    harmony_event ev;
    if (!st.raw_mode && harmony_parser_finish(st.parser, &ev) == 0 && ev.text)
        fwrite(ev.text, 1, ev.text_len, stdout);
    printf("\n");
    fprintf(stderr, "[%zu prompt tokens in %.2f s; %zu generated in %.2f s (%.2f tok/s); stop: %s]\n", n,
            res.prompt_seconds, res.n_generated, res.gen_seconds,
            res.gen_seconds > 0 ? res.n_generated / res.gen_seconds : 0.0,
            res.status != RELIEF_LLM_OK ? relief_llm_status_str(res.status)
            : res.stop_token >= 0 ? "end of answer" : "max tokens");
    rc = EXIT_OK;
out:
    harmony_parser_free(st.parser);
    relief_llm_ctx_free(c);
    cli_loras_free(loras, n_lora);
    free(ids);
    harmony_free(h);
    relief_model_free(m);
    return rc;
}
