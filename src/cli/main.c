/*
 * main.c - the relief command line: a report in, a phased plan out.
 *
 *   relief [OPTIONS] [REPORT...]   plan for REPORT (or stdin)
 *   relief eval FILE.jsonl         score hazard detection
 *   relief kb-check [--kb DIR]     validate a knowledge base
 *
 * Exit codes (cli.h): 0 success, 1 failure, 2 usage, 3 plan written but the
 * model backend unavailable; 130 after Ctrl-C (the default SIGINT action).
 */
#include "cli.h"
#include "formats_cli.h"
#include "relief/relief.h"
#include "serve/server.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REPORT (16u << 20) /* reports larger than 16 MiB are refused */

static const char *const example_report =
    "River rising fast in Riverside, about 3,000 residents. The levee may fail within 2 hours. "
    "Nursing home on Elm St with 40 elderly residents, power is out on the east side, "
    "2 people trapped in a car on the flooded bridge. We have 3 boats.";

/* The languages a plan can be written in (--lang). */
static const char *const plan_langs[] = {"en", "es", "fr", "pt", NULL};

static void usage(FILE *f)
{
    fputs("usage: relief [OPTIONS] [REPORT...]    phased action plan for REPORT (or stdin)\n"
          "       relief --example [OPTIONS]      plan for a built-in example report\n"
          "       relief eval FILE.jsonl          score hazard detection (prints macro-F1 last)\n"
          "       relief kb-check [--kb DIR]      validate a knowledge base and print counts\n"
          "       relief model-info FILE.gguf     model architecture, hyper-parameters, tensor types\n"
          "       relief chat --model FILE.gguf [--reasoning low|medium|high] [--max-tokens N] [--temperature T]\n"
          "                   [--deadline SECONDS] [--threads N] [--lora FILE_OR_DIR[:SCALE]]... [--show-analysis]\n"
          "                   [--date YYYY-MM-DD] [--ignore-eos] \"message\"\n"
          "       relief serve [--port N] [--bind ADDR] [--model FILE | --backend URL] [--token T] ...\n"
          "                                       HTTP API and web page (relief serve --help)\n"
          "       relief bench --model FILE [-t THREADS] [-p N] [-n N] [-r REPS] [--exact | --q8] [--lora ADAPTER[:SCALE]]...\n"
          "                                       | relief bench --membw\n"
          "       relief tokenize --model FILE [--special] < text    token ids on one line\n"
          "       relief logits --model FILE [--lora ADAPTER[:SCALE]]... --tokens-file IDS --out OUT.f32\n"
          "                                       raw float32 logits\n"
          "       relief cache ls|clear [--cache-dir DIR]   show or remove the model's prefix cache\n"
          "       relief warm --model FILE [--lora ...] [--cache-dir DIR]   compute the prompt prefix of every hazard\n"
          "options:\n"
          "  --format text|md|json   output format (default text)\n"
          "  --kb DIR                knowledge base directory instead of the built-in one\n"
          "  --days N                planning horizon for the needs table, 1-365 (default 3)\n"
          "  --lang en|es|fr|pt      write the plan in this language (default: the report's, when its plans are\n"
          "                          complete, else English)\n"
          "  --full                  the whole phased plan (text, md), not only the brief and needs\n"
          "  --explain               show the cues that fired and the report text behind each fact\n"
          "  --model FILE.gguf       also let a local gpt-oss model elaborate (streamed, labelled)\n"
          "  --lora ADAPTER[:SCALE]  LoRA adapter(s) for --model (PEFT dir/.safetensors or GGUF; comma-separated)\n"
          "  --exact | --q8          --model's arithmetic: f32 reference, or 8-bit activations (default: two 8-bit\n"
          "                          terms, within 2e-3 x std of the reference; docs/performance.md)\n"
          "  --backend URL           ... or a remote OpenAI-compatible server (--backend-model NAME)\n"
          "  --deadline SECONDS      hard limit for the model's elaboration when it is not streamed to a\n"
          "                          terminal (JSON, pipes, files; default 5)\n"
          "  --budget SECONDS        how long the model's text may stream to a terminal (default 90; Ctrl-C\n"
          "                          ends it sooner, and --deadline, when given, wins)\n"
          "  --cache-dir DIR         prefix cache for --model (default $RELIEF_CACHE_DIR, $XDG_CACHE_HOME/relief,\n"
          "                          ~/.cache/relief)\n"
          "  --final-only            ask the model for its answer directly, without analysis\n"
          "  -i, --interactive       read one report per line until EOF or 'quit'\n"
          "  --no-color              no ANSI colour (also when NO_COLOR is set or stdout is not a TTY)\n",
          f);
    fputs(cli_formats_usage, f);
    fputs("  -h, --help              this help;  --version  print the version\n"
          "exit status: 0 success; 1 failure (unreadable or empty report, bad knowledge base, output not written,\n"
          "  out of memory); 2 usage error (bad option or value); 3 the plan was written but the model backend\n"
          "  is unavailable (missing or unreadable model file, unreachable server); 130 interrupted (Ctrl-C)\n",
          f);
}

typedef struct {
    relief_format fmt;
    const char *kb_dir;
    int days;
    bool explain, interactive, no_color, example, full;
    const char *model, *backend, *backend_model;
    const char *lora;        /* --lora: adapters for --model, "SPEC[,SPEC...]" */
    const char *cache_dir;   /* --cache-dir */
    const char *lang;        /* --lang: the plan's language, NULL to follow the report */
    double deadline;         /* --deadline: the model's hard limit when its text is not streamed to a terminal */
    double budget;           /* --budget: how long the model may stream to a terminal */
    bool deadline_given;     /* an explicit --deadline holds on a terminal too */
    bool final_only;
    cli_formats fo;          /* --format cap|ics201|ics201-json, --cap FILE, CAP options */
} options;

/* One run of the command: its options, and the model backend, opened only
 * after the first plan is on the screen (a slow, missing or hostile model
 * file never delays the plan). */
typedef struct {
    const options *o;
    const relief_kb *kb;
    relief_hybrid *hybrid;   /* NULL until opened, or when it failed */
    bool hybrid_tried;
    int flags;               /* render flags */
    bool text_started;
    bool progress_shown;     /* a "reading the report" line is on stderr */
    const char *plan_lang;   /* the language of the last plan written (a kb string) */
} session;

/* Erases the "reading the report" line (show_reading) from the terminal. */
static void erase_reading(session *ss)
{
    if (ss->progress_shown)
        fputs("\r\033[K", stderr);
    ss->progress_shown = false;
}

/* Every write goes through stdout's buffer; a failed write (a full disk,
 * /dev/full, a closed pipe) sets its error flag, checked at the end. */
static void print_plan(const relief_plan *p, const session *ss)
{
    char *s = relief_plan_render(p, ss->o->fmt, ss->flags);
    if (s) {
        fputs(s, stdout);
        if (ss->o->fmt == RELIEF_FMT_JSON)
            fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

static int print_text(const char *t, size_t n, void *user)
{
    session *ss = user;
    if (!ss->text_started) {
        erase_reading(ss);
        const char *h = relief_kb_string(ss->kb, ss->plan_lang, "model.heading");
        printf(ss->o->fmt == RELIEF_FMT_MARKDOWN ? "## %s\n\n" : "== %s ==\n", h ? h : "");
        ss->text_started = true;
    }
    fwrite(t, 1, n, stdout);
    fflush(stdout);
    return ferror(stdout) ? 1 : 0; /* stop the model when nobody can read it */
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

/* Opens the model backend once; false (with the error printed) when it is
 * unavailable. */
static bool open_backend(session *ss)
{
    if (ss->hybrid_tried)
        return ss->hybrid != NULL;
    ss->hybrid_tried = true;
    const options *o = ss->o;
    relief_hybrid_config hc = {.kind = o->model ? RELIEF_BACKEND_BUILTIN : RELIEF_BACKEND_REMOTE,
                               .model_path = o->model, .remote_url = o->backend, .remote_model = o->backend_model,
                               .remote_token = getenv("RELIEF_BACKEND_TOKEN"), .final_only = o->final_only,
                               .temperature = -1, .lora = o->lora, .cache_dir = o->cache_dir};
    char herr[512];
    if (!(ss->hybrid = relief_hybrid_new(ss->kb, &hc, herr, sizeof herr)))
        fprintf(stderr, "relief: model backend unavailable: %s\n", herr);
    return ss->hybrid != NULL;
}

/* Ctrl-C while the model streams to a terminal ends the model's text, not
 * relief: the plan is on the screen and the footer says what happened. The
 * handler is one-shot (SA_RESETHAND): a second Ctrl-C ends relief. */
static atomic_int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

/* "The model is reading the report… 40 %" on the terminal's line, replaced
 * as it grows and erased before the model's first words. */
static void show_reading(double done, void *user)
{
    session *ss = user;
    if (ss->text_started)
        return;
    const char *fmt = relief_kb_string(ss->kb, ss->plan_lang, "model.reading");
    char line[256];
    size_t n = 0;
    for (const char *c = fmt ? fmt : ""; *c && n + 8 < sizeof line; c++) {
        if (!strncmp(c, "{percent}", 9)) {
            n += (size_t)snprintf(line + n, sizeof line - n, "%d", (int)(done * 100 + 0.5));
            c += 8;
        } else {
            line[n++] = *c;
        }
    }
    line[n] = '\0';
    fprintf(stderr, "\r%s", line);
    ss->progress_shown = true;
}

/* The model's part of res, whose plan is already written. */
static int elaborate(session *ss, relief_hybrid_result *res)
{
    const options *o = ss->o;
    if (!open_backend(ss))
        return EXIT_MODEL;
    ss->text_started = false;
    /* On a terminal someone watches the words arrive: they may run for the
     * budget (or until Ctrl-C). Elsewhere the output is read when it is
     * whole, so the deadline is hard. */
    bool streaming = o->fmt != RELIEF_FMT_JSON && isatty(STDOUT_FILENO);
    double limit = streaming && !o->deadline_given ? o->budget : o->deadline;
    struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND}, old_sa;
    sigemptyset(&sa.sa_mask);
    atomic_store(&interrupted, 0);
    if (streaming)
        sigaction(SIGINT, &sa, &old_sa);
    /* The first report of its hazards computes their prompt prefix whole
     * (kept for every later run; `relief warm` does all of them ahead),
     * with the progress line showing it; the deadline starts after it. */
    relief_hybrid_request rq = {.deadline_s = limit, .days = o->days, .lang = o->lang, .cancel = &interrupted,
                                .prefix_unbounded = true,
                                .on_text = o->fmt == RELIEF_FMT_JSON ? NULL : print_text,
                                .on_progress = streaming && isatty(STDERR_FILENO) ? show_reading : NULL,
                                .user = ss};
    relief_hybrid_elaborate(ss->hybrid, &rq, res);
    erase_reading(ss);
    if (streaming)
        sigaction(SIGINT, &old_sa, NULL);
    if (o->fmt == RELIEF_FMT_JSON) {
        /* One more JSON line with the model part, as the server writes it. */
        relief_hybrid_json_opts jo = {.backend = relief_hybrid_backend_name(ss->hybrid), .with_text = true,
                                      .queue_ms = -1};
        char *js = relief_hybrid_result_json(res, &jo);
        if (!js) {
            fprintf(stderr, "relief: out of memory\n");
            return EXIT_FAIL;
        }
        printf("{%s}\n", js);
        free(js);
    } else {
        if (!ss->text_started) {
            const char *none = relief_kb_string(ss->kb, ss->plan_lang, "model.none");
            fputs("== ", stdout);
            for (const char *c = none ? none : ""; *c; c++) { /* "{why}" is the backend's error */
                if (!strncmp(c, "{why}", 5)) {
                    fputs(res->model_error ? res->model_error : "no text", stdout);
                    c += 4;
                } else {
                    fputc(*c, stdout);
                }
            }
            fputs(" ==", stdout);
        }
        printf("\n[%s; model %s after %.0f ms, %zu tokens%s]\n", relief_hybrid_backend_name(ss->hybrid),
               res->model_complete ? "complete"
               : res->model_cut    ? (streaming && !o->deadline_given ? "cut at the budget" : "cut at the deadline")
               : atomic_load(&interrupted) ? "stopped by Ctrl-C"
                                           : "stopped",
               res->timings.total_ms, res->timings.model_tokens, res->timings.prefix_cached ? ", prefix cached" : "");
    }
    fflush(stdout);
    return EXIT_OK;
}

/* True when the report holds nothing but blanks. */
static bool blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)text[i]))
            return false;
    return true;
}

/* Plans one report and writes it; then, when a model is configured, its
 * elaboration. The plan always comes first. */
static int emit(session *ss, const char *text, size_t len)
{
    const options *o = ss->o;
    if (blank(text, len)) {
        fprintf(stderr, "relief: the report is empty: say what is happening, where, and how many people "
                        "(e.g. relief \"Flood in Riverside, 300 people, water rising\")\n");
        return EXIT_FAIL;
    }
    relief_options ro = {.days = o->days, .lang = o->lang};
    relief_hybrid_request rq = {.days = o->days, .lang = o->lang};
    relief_hybrid_result res;
    if (relief_hybrid_plan(ss->kb, text, len, &rq, &res) < 0) {
        relief_hybrid_result_free(&res);
        fprintf(stderr, "relief: out of memory\n");
        return EXIT_FAIL;
    }
    const relief_plan *p = res.plan;
    /* The model's heading in the plan's language (a copy that outlives the plan). */
    ss->plan_lang = "en";
    for (const char *const *c = plan_langs; *c; c++)
        if (!strcmp(p->plan_lang, *c))
            ss->plan_lang = *c;
    /* The field's formats are documents of the plan alone: no model text. */
    int rc = o->fo.kind ? cli_formats_print(ss->kb, p, &o->fo, &ro) : (print_plan(p, ss), EXIT_OK);
    if (rc == EXIT_OK && !o->fo.kind && (o->model || o->backend))
        rc = elaborate(ss, &res);
    relief_hybrid_result_free(&res);
    return rc;
}

static int interactive(session *ss)
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
        if (blank(line, (size_t)n))
            continue;
        if (!strcmp(line, "quit") || !strcmp(line, "exit"))
            break;
        /* A model that is unavailable leaves the plans coming (status 3 at
         * the end); any other failure ends the session. */
        int r = emit(ss, line, (size_t)n);
        if (r != EXIT_OK)
            rc = r;
        if ((r != EXIT_OK && r != EXIT_MODEL) || ferror(stdout))
            break;
    }
    free(line);
    return rc;
}

/* Lists what is wrong with the translations (numbers that differ from the
 * English, texts a language declared complete lacks); true when nothing is. */
static bool kb_check_translations(const relief_kb *kb)
{
    size_t n = relief_kb_translation_issue_count(kb);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s\n", relief_kb_translation_issue(kb, i));
    if (n)
        fprintf(stderr, "relief: kb-check: %zu problem%s with the translations\n", n, n == 1 ? "" : "s");
    return n == 0;
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
    printf("protocols: %zu; hazard steps: %zu\n", relief_kb_protocol_count(kb), total);
    printf("plans in:");
    for (const char *const *c = plan_langs; *c; c++)
        if (relief_kb_plan_language(kb, *c))
            printf(" %s", *c);
    printf("\n");
    if (!kb_check_translations(kb))
        return EXIT_FAIL;
    printf("knowledge base OK\n");
    return EXIT_OK;
}

/* Commands that take their own options (argv without the command name). */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"model-info", cli_model_info},
    {"tokenize", cli_tokenize},
    {"logits", cli_logits},
    {"chat", cli_chat},
    {"bench", cli_bench},
    {"serve", relief_serve_main},
    {"cache", cli_cache},
    {"warm", cli_warm},
};

/* Parses the plan options; returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, options *o, char **rest, int *n_rest)
{
    int fr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--format") && has) {
            const char *v = argv[++i];
            o->fo.kind = FORMATS_NONE;
            if (!strcmp(v, "text")) o->fmt = RELIEF_FMT_TEXT;
            else if (!strcmp(v, "md") || !strcmp(v, "markdown")) o->fmt = RELIEF_FMT_MARKDOWN;
            else if (!strcmp(v, "json")) o->fmt = RELIEF_FMT_JSON;
            else if (!cli_formats_format(v, &o->fo)) {
                fprintf(stderr, "relief: unknown format '%s' (expected text, md, json, cap, ics201 or ics201-json)\n", v);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--lang") && has) {
            const char *v = argv[++i];
            if (strcmp(v, "en") && strcmp(v, "es") && strcmp(v, "fr") && strcmp(v, "pt")) {
                fprintf(stderr, "relief: --lang must be en, es, fr or pt, not '%s'\n", v);
                return EXIT_USAGE;
            }
            o->lang = v;
        } else if (!strcmp(a, "--kb") && has) {
            o->kb_dir = argv[++i];
        } else if (!strcmp(a, "--days") && has) {
            char *end;
            long d = strtol(argv[++i], &end, 10);
            if (*end || d < 1 || d > 365) {
                fprintf(stderr, "relief: --days must be a whole number from 1 to 365, not '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
            o->days = (int)d;
        } else if (!strcmp(a, "--model") && has) {
            o->model = argv[++i];
        } else if (!strcmp(a, "--backend") && has) {
            o->backend = argv[++i];
        } else if (!strcmp(a, "--lora") && has) {
            o->lora = argv[++i];
        } else if (cli_numerics_flag(a)) {
            continue;
        } else if (!strcmp(a, "--backend-model") && has) {
            o->backend_model = argv[++i];
        } else if (!strcmp(a, "--cache-dir") && has) {
            o->cache_dir = argv[++i];
        } else if (!strcmp(a, "--final-only")) {
            o->final_only = true;
        } else if (!strcmp(a, "--deadline") && has) {
            char *end;
            o->deadline = strtod(argv[++i], &end);
            if (*end || !(o->deadline > 0 && o->deadline <= 3600)) {
                fprintf(stderr, "relief: --deadline must be seconds in (0, 3600], not '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
            o->deadline_given = true;
        } else if (!strcmp(a, "--budget") && has) {
            char *end;
            o->budget = strtod(argv[++i], &end);
            if (*end || !(o->budget > 0 && o->budget <= 3600)) {
                fprintf(stderr, "relief: --budget must be seconds in (0, 3600], not '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--explain")) {
            o->explain = true;
        } else if (!strcmp(a, "--full")) {
            o->full = true;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) {
            o->interactive = true;
        } else if (!strcmp(a, "--no-color") || !strcmp(a, "--no-colour")) {
            o->no_color = true;
        } else if (!strcmp(a, "--example")) {
            o->example = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            puts("relief " RELIEF_VERSION_STRING);
            return EXIT_OK;
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                rest[(*n_rest)++] = argv[i];
        } else if ((fr = cli_formats_option(argc, argv, &i, &o->fo)) != 0) {
            if (fr < 0)
                return EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "relief: unknown option '%s'%s (relief --help lists them)\n", a,
                    has ? "" : " or missing value");
            return EXIT_USAGE;
        } else {
            rest[(*n_rest)++] = argv[i];
        }
    }
    if (o->model && o->backend) {
        fprintf(stderr, "relief: give --model or --backend, not both\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* Joins the words of the command line into one report (malloc'd). */
static char *join_words(char **w, int n, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(w[i]) + 1;
    char *text = malloc(total);
    if (!text)
        return NULL;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(w[i]);
        if (i)
            text[at++] = ' ';
        memcpy(text + at, w[i], k);
        at += k;
    }
    text[at] = '\0';
    *len = at;
    return text;
}

static int run(session *ss, const char *command, char **rest, int n_rest)
{
    const options *o = ss->o;
    if (command && !strcmp(command, "eval")) {
        if (n_rest != 2) {
            fprintf(stderr, "usage: relief eval FILE.jsonl\n");
            return EXIT_USAGE;
        }
        return cli_eval(ss->kb, rest[1], stdout);
    }
    if (command) {
        if (n_rest != 1) {
            fprintf(stderr, "usage: relief kb-check [--kb DIR]\n");
            return EXIT_USAGE;
        }
        return kb_check(ss->kb);
    }
    if (o->fo.cap_file) {
        if (n_rest > 0 || o->example || o->interactive) {
            fprintf(stderr, "relief: give a report or --cap FILE.xml, not both\n");
            return EXIT_USAGE;
        }
        size_t len;
        char *text;
        int rc = cli_formats_read_cap(o->fo.cap_file, &text, &len);
        if (rc != EXIT_OK)
            return rc;
        rc = emit(ss, text, len);
        free(text);
        return rc;
    }
    if (o->example)
        return emit(ss, example_report, strlen(example_report));
    if (o->interactive)
        return interactive(ss);
    size_t len;
    char *text = n_rest > 0 ? join_words(rest, n_rest, &len) : read_all(stdin, &len);
    if (!text) {
        if (n_rest > 0)
            fprintf(stderr, "relief: out of memory\n");
        else
            fprintf(stderr, "relief: cannot read the report from stdin: %s\n",
                    errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
        return EXIT_FAIL;
    }
    int rc = emit(ss, text, len);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (!strcmp(argv[1], commands[i].name))
                return commands[i].run(argc - 2, argv + 2);
    options o = {.fmt = RELIEF_FMT_TEXT, .days = 3, .budget = 90};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest) {
        fprintf(stderr, "relief: out of memory\n");
        return EXIT_FAIL;
    }
    int rc = parse_options(argc, argv, &o, rest, &n_rest);
    if (rc >= 0) {
        free(rest);
        if (rc == EXIT_OK && (fflush(stdout) != 0 || ferror(stdout))) {
            fprintf(stderr, "relief: cannot write the output: %s\n", strerror(errno));
            return EXIT_FAIL;
        }
        return rc;
    }
    const char *command = n_rest > 0 && (!strcmp(rest[0], "eval") || !strcmp(rest[0], "kb-check")) ? rest[0] : NULL;
    char *err = NULL;
    relief_kb *kb = o.kb_dir ? relief_kb_load_dir(o.kb_dir, &err) : relief_kb_load_embedded(&err);
    if (!kb) {
        fprintf(stderr, "relief: knowledge base: %s\n", err ? err : "out of memory");
        free(err);
        free(rest);
        return EXIT_FAIL;
    }
    session ss = {.o = &o, .kb = kb};
    const char *nc = getenv("NO_COLOR");
    ss.flags = (o.explain ? RELIEF_RENDER_EXPLAIN : 0) | (o.full ? RELIEF_RENDER_FULL : 0);
    if (!o.no_color && (!nc || !*nc) && isatty(STDOUT_FILENO))
        ss.flags |= RELIEF_RENDER_COLOR;
    rc = run(&ss, command, rest, n_rest);
    relief_hybrid_free(ss.hybrid);
    relief_kb_free(kb);
    free(rest);
    /* Output that did not reach its file is a failure, whatever came before. */
    if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
        fprintf(stderr, "relief: cannot write the output: %s\n", errno ? strerror(errno) : "write error");
        return EXIT_FAIL;
    }
    return rc;
}
