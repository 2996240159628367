/*
 * main.c - the relief command line: a report in, a phased plan out.
 *
 *   relief [OPTIONS] [REPORT...]   plan for REPORT (or stdin)
 *   relief eval FILE.jsonl         score hazard detection
 *   relief kb-check [--kb DIR]     validate a knowledge base
 *
 * Exit codes: 0 success, 1 failure (input, kb, memory), 2 usage.
 */
#include "cli.h"
#include "relief/hybrid.h"
#include "serve/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REPORT (16u << 20) /* reports larger than 16 MiB are refused */

static const char *const example_report =
    "River rising fast in Riverside, about 3,000 residents. The levee may fail within 2 hours. "
    "Nursing home on Elm St with 40 elderly residents, power is out on the east side, "
    "2 people trapped in a car on the flooded bridge. We have 3 boats.";

static void usage(FILE *f)
{
    fputs("usage: relief [OPTIONS] [REPORT...]    phased action plan for REPORT (or stdin)\n"
          "       relief --example [OPTIONS]      plan for a built-in example report\n"
          "       relief eval FILE.jsonl          score hazard detection (prints macro-F1 last)\n"
          "       relief kb-check [--kb DIR]      validate a knowledge base and print counts\n"
          "       relief model-info FILE.gguf     model architecture, hyper-parameters, tensor types\n"
          "       relief chat --model FILE.gguf [--reasoning low|medium|high] [--max-tokens N] [--temperature T]\n"
          "                   [--deadline SECONDS] [--threads N] [--lora FILE_OR_DIR[:SCALE]]... [--show-analysis]\n"
          "                   \"message\"\n"
          "       relief serve [--port N] [--bind ADDR] [--model FILE | --backend URL] [--token T] ...\n"
          "                                       HTTP API and web page (relief serve --help)\n"
          "       relief bench --model FILE [-t THREADS] [-p N] [-n N] [-r REPS] [--lora ADAPTER[:SCALE]]...\n"
          "                                       | relief bench --membw\n"
          "       relief tokenize --model FILE [--special] < text    token ids on one line\n"
          "       relief logits --model FILE [--lora ADAPTER[:SCALE]]... --tokens-file IDS --out OUT.f32\n"
          "                                       raw float32 logits\n"
          "options:\n"
          "  --format text|md|json   output format (default text)\n"
          "  --kb DIR                knowledge base directory instead of the built-in one\n"
          "  --days N                planning horizon for the needs table, 1-365 (default 3)\n"
          "  --explain               show the cues that fired and the report text behind each fact\n"
          "  --model FILE.gguf       also let a local gpt-oss model elaborate (streamed, labelled)\n"
          "  --lora ADAPTER[:SCALE]  LoRA adapter(s) for --model (PEFT dir/.safetensors or GGUF; comma-separated)\n"
          "  --backend URL           ... or a remote OpenAI-compatible server (--backend-model NAME)\n"
          "  --deadline SECONDS      hard limit for the model's elaboration (default 5)\n"
          "  --final-only            ask the model for its answer directly, without analysis\n"
          "  -i, --interactive       read one report per line until EOF or 'quit'\n"
          "  --no-color              no ANSI colour (also when NO_COLOR is set or stdout is not a TTY)\n"
          "  -h, --help              this help;  --version  print the version\n"
          "exit status: 0 success, 1 failure (unreadable input, bad knowledge base), 2 usage error\n",
          f);
}

typedef struct {
    relief_format fmt;
    const char *kb_dir;
    int days;
    bool explain, interactive, no_color, example;
    const char *model, *backend, *backend_model;
    const char *lora;        /* --lora: adapters for --model, "SPEC[,SPEC...]" */
    double deadline;
    bool final_only;
    relief_hybrid *hybrid;   /* set when a model backend is configured */
} options;

typedef struct {
    const options *o;
    int flags;
    bool text_started;
} emit_state;

static void print_plan(const relief_plan *p, void *user)
{
    emit_state *st = user;
    char *s = relief_plan_render(p, st->o->fmt, st->flags);
    if (s) {
        fputs(s, stdout);
        if (st->o->fmt == RELIEF_FMT_JSON)
            fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

static int print_text(const char *t, size_t n, void *user)
{
    emit_state *st = user;
    if (!st->text_started) {
        fputs(st->o->fmt == RELIEF_FMT_MARKDOWN ? "## Model elaboration (AI-generated, may be wrong)\n\n"
                                                : "== Model elaboration (AI-generated, may be wrong) ==\n",
              stdout);
        st->text_started = true;
    }
    fwrite(t, 1, n, stdout);
    fflush(stdout);
    return 0;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_REPORT) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (n > MAX_REPORT) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    *len = n;
    return buf;
}

static int emit_hybrid(const char *text, size_t len, const options *o, int flags)
{
    emit_state st = {.o = o, .flags = flags};
    relief_hybrid_request rq = {.deadline_s = o->deadline, .days = o->days, .on_plan = print_plan,
                                .on_text = o->fmt == RELIEF_FMT_JSON ? NULL : print_text, .user = &st};
    relief_hybrid_result res;
    if (relief_hybrid_respond(o->hybrid, text, len, &rq, &res) < 0) {
        fprintf(stderr, "relief: out of memory\n");
        return EXIT_FAIL;
    }
    if (o->fmt == RELIEF_FMT_JSON) {
        /* One more JSON line with the model part. */
        printf("{\"model\": {\"backend\": \"%s\", \"complete\": %s, \"cut\": %s, \"tokens\": %zu}}\n",
               relief_hybrid_backend_name(o->hybrid), res.model_complete ? "true" : "false",
               res.model_cut ? "true" : "false", res.timings.model_tokens);
    } else {
        if (!st.text_started)
            printf("== Model elaboration: none (%s) ==", res.model_error ? res.model_error : "no text");
        printf("\n[%s; plan %.2f ms; model %s after %.0f ms, %zu tokens%s]\n",
               relief_hybrid_backend_name(o->hybrid), res.timings.plan_ms,
               res.model_complete ? "complete" : res.model_cut ? "cut at the deadline" : "stopped",
               res.timings.total_ms, res.timings.model_tokens, res.timings.prefix_cached ? ", prefix cached" : "");
    }
    relief_hybrid_result_free(&res);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int emit(const relief_kb *kb, const char *text, size_t len, const options *o)
{
    if (o->hybrid) {
        int flags = o->explain ? RELIEF_RENDER_EXPLAIN : 0;
        const char *nc = getenv("NO_COLOR");
        if (!o->no_color && (!nc || !*nc) && isatty(STDOUT_FILENO))
            flags |= RELIEF_RENDER_COLOR;
        return emit_hybrid(text, len, o, flags);
    }
    relief_options ro = {.days = o->days};
    relief_plan *p = relief_plan_build(kb, text, len, &ro);
    if (!p) {
        fprintf(stderr, "relief: out of memory\n");
        return EXIT_FAIL;
    }
    int flags = o->explain ? RELIEF_RENDER_EXPLAIN : 0;
    const char *nc = getenv("NO_COLOR");
    if (!o->no_color && (!nc || !*nc) && isatty(STDOUT_FILENO))
        flags |= RELIEF_RENDER_COLOR;
    char *s = relief_plan_render(p, o->fmt, flags);
    relief_plan_free(p);
    if (!s) {
        fprintf(stderr, "relief: out of memory\n");
        return EXIT_FAIL;
    }
    fputs(s, stdout);
    if (o->fmt == RELIEF_FMT_JSON)
        fputc('\n', stdout);
    free(s);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int interactive(const relief_kb *kb, const options *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool tty = isatty(STDIN_FILENO);
    int rc = EXIT_OK;
    for (;;) {
        if (tty) {
            fputs("report> ", stderr);
            fflush(stderr);
        }
        if ((n = getline(&line, &cap, stdin)) < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (!strcmp(line, "quit") || !strcmp(line, "exit"))
            break;
        if ((rc = emit(kb, line, (size_t)n, o)) != EXIT_OK)
            break;
    }
    free(line);
    return rc;
}

static int kb_check(const relief_kb *kb)
{
    size_t total = 0;
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        printf("%-20s %3zu steps (", relief_hazard_name(h), relief_kb_step_count(kb, h));
        for (int ph = 0; ph < RELIEF_PHASE_COUNT; ph++)
            printf("%s%s %zu", ph ? ", " : "", relief_phase_name(ph), relief_kb_phase_step_count(kb, h, ph));
        printf(")\n");
        total += relief_kb_step_count(kb, h);
    }
    printf("protocols: %zu; hazard steps: %zu\nknowledge base OK\n", relief_kb_protocol_count(kb), total);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        /* Engine commands take their own options. */
        if (!strcmp(argv[1], "model-info"))
            return cli_model_info(argc - 2, argv + 2);
        if (!strcmp(argv[1], "tokenize"))
            return cli_tokenize(argc - 2, argv + 2);
        if (!strcmp(argv[1], "logits"))
            return cli_logits(argc - 2, argv + 2);
        if (!strcmp(argv[1], "chat"))
            return cli_chat(argc - 2, argv + 2);
        if (!strcmp(argv[1], "bench"))
            return cli_bench(argc - 2, argv + 2);
        if (!strcmp(argv[1], "serve"))
            return relief_serve_main(argc - 2, argv + 2);
    }
    options o = {.fmt = RELIEF_FMT_TEXT, .days = 3};
    const char *command = NULL;
    int first_arg = 0;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--format") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "text")) o.fmt = RELIEF_FMT_TEXT;
            else if (!strcmp(v, "md") || !strcmp(v, "markdown")) o.fmt = RELIEF_FMT_MARKDOWN;
            else if (!strcmp(v, "json")) o.fmt = RELIEF_FMT_JSON;
            else {
                fprintf(stderr, "relief: unknown format '%s' (expected text, md or json)\n", v);
                free(rest);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--kb") && i + 1 < argc) {
            o.kb_dir = argv[++i];
        } else if (!strcmp(a, "--days") && i + 1 < argc) {
            char *end;
            long d = strtol(argv[++i], &end, 10);
            if (*end || d < 1 || d > 365) {
                fprintf(stderr, "relief: --days must be a whole number from 1 to 365, not '%s'\n", argv[i]);
                free(rest);
                return EXIT_USAGE;
            }
            o.days = (int)d;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            o.model = argv[++i];
        } else if (!strcmp(a, "--backend") && i + 1 < argc) {
            o.backend = argv[++i];
        } else if (!strcmp(a, "--lora") && i + 1 < argc) {
            o.lora = argv[++i];
        } else if (!strcmp(a, "--backend-model") && i + 1 < argc) {
            o.backend_model = argv[++i];
        } else if (!strcmp(a, "--final-only")) {
            o.final_only = true;
        } else if (!strcmp(a, "--deadline") && i + 1 < argc) {
            char *end;
            o.deadline = strtod(argv[++i], &end);
            if (*end || !(o.deadline > 0 && o.deadline <= 3600)) {
                fprintf(stderr, "relief: --deadline must be seconds in (0, 3600], not '%s'\n", argv[i]);
                free(rest);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--explain")) {
            o.explain = true;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) {
            o.interactive = true;
        } else if (!strcmp(a, "--no-color") || !strcmp(a, "--no-colour")) {
            o.no_color = true;
        } else if (!strcmp(a, "--example")) {
            o.example = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(rest);
            return EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            puts("relief 0.1.0");
            free(rest);
            return EXIT_OK;
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                rest[n_rest++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "relief: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            free(rest);
            return EXIT_USAGE;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    if (n_rest > 0 && (!strcmp(rest[0], "eval") || !strcmp(rest[0], "kb-check"))) {
        command = rest[0];
        first_arg = 1;
    }
    char *err = NULL;
    relief_kb *kb = o.kb_dir ? relief_kb_load_dir(o.kb_dir, &err) : relief_kb_load_embedded(&err);
    if (!kb) {
        fprintf(stderr, "relief: knowledge base: %s\n", err ? err : "out of memory");
        free(err);
        free(rest);
        return EXIT_FAIL;
    }
    int rc;
    if ((o.model || o.backend) && !command) {
        if (o.model && o.backend) {
            fprintf(stderr, "relief: give --model or --backend, not both\n");
            relief_kb_free(kb);
            free(rest);
            return EXIT_USAGE;
        }
        relief_hybrid_config hc = {.kind = o.model ? RELIEF_BACKEND_BUILTIN : RELIEF_BACKEND_REMOTE,
                                   .model_path = o.model, .remote_url = o.backend, .remote_model = o.backend_model,
                                   .remote_token = getenv("RELIEF_BACKEND_TOKEN"), .final_only = o.final_only,
                                   .temperature = -1, .lora = o.lora};
        char herr[512];
        if (!(o.hybrid = relief_hybrid_new(kb, &hc, herr, sizeof herr)))
            fprintf(stderr, "relief: model backend unavailable (%s); answering from the protocols only\n", herr);
    }
    if (command && !strcmp(command, "eval")) {
        if (n_rest - first_arg != 1) {
            fprintf(stderr, "usage: relief eval FILE.jsonl\n");
            rc = EXIT_USAGE;
        } else {
            rc = cli_eval(kb, rest[first_arg], stdout);
        }
    } else if (command) {
        rc = n_rest == 1 ? kb_check(kb) : EXIT_USAGE;
    } else if (o.example) {
        rc = emit(kb, example_report, strlen(example_report), &o);
    } else if (o.interactive) {
        rc = interactive(kb, &o);
    } else if (n_rest > 0) {
        size_t len = 0;
        for (int i = 0; i < n_rest; i++)
            len += strlen(rest[i]) + 1;
        char *text = malloc(len + 1);
        if (!text) {
            rc = EXIT_FAIL;
        } else {
            text[0] = '\0';
            for (int i = 0; i < n_rest; i++) {
                if (i)
                    strcat(text, " ");
                strcat(text, rest[i]);
            }
            rc = emit(kb, text, strlen(text), &o);
            free(text);
        }
    } else {
        size_t len;
        char *text = read_all(stdin, &len);
        if (!text) {
            fprintf(stderr, "relief: cannot read the report from stdin: %s\n",
                    errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
            rc = EXIT_FAIL;
        } else {
            rc = emit(kb, text, len, &o);
            free(text);
        }
    }
    relief_hybrid_free(o.hybrid);
    relief_kb_free(kb);
    free(rest);
    return rc;
}
