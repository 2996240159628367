/*
 * bench_ttft.c - `relief bench --ttft`: how long a user waits for the
 * model's first words and for a usable answer, through the same responder
 * the CLI and the server use.
 *
 *   relief bench --ttft --model FILE [-t THREADS] [--max-tokens N] [--exact | --q8] "REPORT"
 *
 * Three runs of the same report, each timed from the request:
 *   cold   an empty prefix cache: the instructions and the hazards' steps
 *          are read before the report (what the first report ever costs);
 *   memory the same process again: the prefix is restored from memory (the
 *          server's case);
 *   disk   a new responder on the cache the cold run wrote (a CLI run after
 *          `relief warm`).
 * For each: plan time, time to the model's first token (analysis
 * included: the engine's latency) and to its first answer text, prompt tokens read
 * fresh and restored from the cache, decode speed, and the time until the
 * answer holds 8 bullet or numbered lines (a brief's worth), if it does.
 * Model load time is printed apart. The cache lives in a temporary
 * directory, removed at the end; the model budget per run is 600 s.
 */
#include "cli.h"

#include "relief/hybrid.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BULLETS_WANTED 8

typedef struct {
    double t0, first_text, eighth_bullet; /* clock_now() seconds; 0 = not yet */
    int bullets;                          /* complete bullet lines so far */
    bool at_line_start, in_bullet;
    int marker_len;                       /* characters of a possible marker seen at the line's start */
    char marker[8];
} ttft_trace;

/* A line is a bullet when it starts (after blanks) with "-", "*", "•" or
 * digits followed by "." or ")"; it counts once its newline arrives. */
static bool is_marker(const char *m, int n)
{
    if (n >= 1 && (m[0] == '-' || m[0] == '*'))
        return true;
    if (n >= 3 && !memcmp(m, "\xe2\x80\xa2", 3))
        return true;
    int d = 0;
    while (d < n && m[d] >= '0' && m[d] <= '9')
        d++;
    return d > 0 && d < n && (m[d] == '.' || m[d] == ')');
}

static int on_text(const char *s, size_t n, void *user)
{
    ttft_trace *t = user;
    double now = clock_now();
    if (!t->first_text)
        t->first_text = now;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\n') {
            if (t->in_bullet && ++t->bullets == BULLETS_WANTED && !t->eighth_bullet)
                t->eighth_bullet = now;
            t->at_line_start = true;
            t->in_bullet = false;
            t->marker_len = 0;
            continue;
        }
        if (!t->at_line_start)
            continue;
        if ((ch == ' ' || ch == '\t') && t->marker_len == 0)
            continue;
        if (t->marker_len < (int)sizeof t->marker)
            t->marker[t->marker_len++] = ch;
        if (is_marker(t->marker, t->marker_len)) {
            t->in_bullet = true;
            t->at_line_start = false;
        } else if (t->marker_len >= 4 || !((ch >= '0' && ch <= '9') || (unsigned char)ch >= 0x80)) {
            t->at_line_start = false; /* an ordinary line */
        }
    }
    return 0;
}

typedef struct {
    const char *name;
    relief_hybrid_result res;
    ttft_trace tr;
} ttft_run;

static int run_once(relief_hybrid *h, const char *report, ttft_run *r)
{
    memset(&r->tr, 0, sizeof r->tr);
    r->tr.at_line_start = true;
    r->tr.t0 = clock_now();
    relief_hybrid_request rq = {.deadline_s = 600, .on_text = on_text, .user = &r->tr};
    return relief_hybrid_respond(h, report, strlen(report), &rq, &r->res);
}

static void print_run(const ttft_run *r)
{
    const relief_hybrid_timings *t = &r->res.timings;
    const ttft_trace *tr = &r->tr;
    char ttft[32], eight[48], first[32];
    if (t->first_token_ms >= 0)
        snprintf(first, sizeof first, "%.2f s", t->first_token_ms / 1e3);
    else
        snprintf(first, sizeof first, "none");
    double decode_s = (t->model_ms - (t->first_token_ms >= 0 ? t->first_token_ms - t->plan_ms : 0)) / 1e3;
    double decode = t->model_tokens > 1 && decode_s > 0 ? (double)(t->model_tokens - 1) / decode_s : 0;
    if (tr->first_text)
        snprintf(ttft, sizeof ttft, "%.2f s", tr->first_text - tr->t0);
    else
        snprintf(ttft, sizeof ttft, "none");
    if (tr->eighth_bullet)
        snprintf(eight, sizeof eight, "%.1f s", tr->eighth_bullet - tr->t0);
    else
        snprintf(eight, sizeof eight, "n/a (%d bullet lines)", tr->bullets);
    printf("%-7s plan %5.2f ms  prompt %5zu tokens (%5zu fresh, %5zu cached)  first token %8s  first text %8s  "
           "%4zu tokens, then %5.1f tok/s  8 bullets %s\n",
           r->name, t->plan_ms, t->prompt_tokens, t->prompt_tokens - t->prompt_cached, t->prompt_cached, first, ttft,
           t->model_tokens, decode, eight);
    if (r->res.model_error)
        printf("        (%s)\n", r->res.model_error);
}

static void json_run(const ttft_run *r, bool last)
{
    const relief_hybrid_timings *t = &r->res.timings;
    printf("\"%s\":{\"first_token_s\":%.3f,\"ttft_s\":%.3f,\"prompt_tokens\":%zu,\"fresh_tokens\":%zu,\"cached_tokens\":%zu,"
           "\"tokens\":%zu,\"tok_s\":%.2f,\"eight_bullets_s\":%.3f}%s",
           r->name, t->first_token_ms >= 0 ? t->first_token_ms / 1e3 : -1.0,
           r->tr.first_text ? r->tr.first_text - r->tr.t0 : -1.0, t->prompt_tokens,
           t->prompt_tokens - t->prompt_cached, t->prompt_cached, t->model_tokens, t->tokens_per_s,
           r->tr.eighth_bullet ? r->tr.eighth_bullet - r->tr.t0 : -1.0, last ? "" : ",");
}

int cli_bench_ttft(int argc, char **argv)
{
    relief_hybrid_config hc = {.kind = RELIEF_BACKEND_BUILTIN, .temperature = 0, .seed = 1, .max_tokens = 256,
                               .quiet = true};
    const char *report = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(a, "--ttft"))
            continue;
        if (!strcmp(a, "--model") && has) {
            hc.model_path = argv[++i];
        } else if (!strcmp(a, "-t") && has) {
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 1024)
                goto usage;
            hc.threads = (int)t;
        } else if (!strcmp(a, "--max-tokens") && has) {
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 4096)
                goto usage;
            hc.max_tokens = (int)t;
        } else if (cli_numerics_flag(a)) {
            continue;
        } else if (a[0] != '-' && !report) {
            report = a;
        } else {
            goto usage;
        }
    }
    if (!hc.model_path || !report || !*report)
        goto usage;

    char dir[] = "/tmp/relief-bench-ttft-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("relief bench: temporary cache directory");
        return EXIT_FAIL;
    }
    hc.cache_dir = dir;
    char *kerr = NULL;
    relief_kb *kb = relief_kb_load_embedded(&kerr);
    if (!kb) {
        fprintf(stderr, "relief: knowledge base: %s\n", kerr ? kerr : "out of memory");
        free(kerr);
        rmdir(dir);
        return EXIT_FAIL;
    }
    int rc = EXIT_FAIL;
    char err[512];
    ttft_run runs[3] = {{.name = "cold"}, {.name = "memory"}, {.name = "disk"}};
    double t_load = clock_now();
    relief_hybrid *h = relief_hybrid_new(kb, &hc, err, sizeof err);
    t_load = clock_now() - t_load;
    if (!h) {
        fprintf(stderr, "relief: %s\n", err);
        goto out;
    }
    printf("relief bench --ttft: %s, %s arithmetic, greedy, up to %d tokens; model load %.2f s\n", hc.model_path,
           cli_numerics(), hc.max_tokens, t_load);
    printf("report: %s\n", report);
    fflush(stdout);
    if (run_once(h, report, &runs[0]) < 0 || (print_run(&runs[0]), fflush(stdout), run_once(h, report, &runs[1])) < 0)
        goto out_mem;
    print_run(&runs[1]);
    relief_hybrid_free(h);
    h = relief_hybrid_new(kb, &hc, err, sizeof err);
    if (!h) {
        fprintf(stderr, "relief: %s\n", err);
        goto out;
    }
    if (run_once(h, report, &runs[2]) < 0)
        goto out_mem;
    print_run(&runs[2]);
    printf("{\"bench\":\"ttft\",\"arithmetic\":\"%s\",\"load_s\":%.3f,", cli_numerics(), t_load);
    for (int i = 0; i < 3; i++)
        json_run(&runs[i], i == 2);
    printf("}\n");
    rc = EXIT_OK;
    goto out;
out_mem:
    fprintf(stderr, "relief bench: out of memory\n");
out:
    for (int i = 0; i < 3; i++)
        relief_hybrid_result_free(&runs[i].res);
    relief_hybrid_free(h);
    relief_kb_free(kb);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "relief bench: could not remove %s\n", dir);
    return rc;
usage:
    fprintf(stderr, "usage: relief bench --ttft --model FILE [-t THREADS] [--max-tokens N] [--exact | --q8] \"REPORT\"\n");
    return EXIT_USAGE;
}
