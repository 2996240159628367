/*
 * warm.c - `relief warm`: compute the model's prompt prefix for every single
 * hazard ahead of time, so that a report's first model token waits only for
 * the report's own tokens.
 *
 *   relief warm --model FILE [--lora ADAPTER[:SCALE]] [--cache-dir DIR] [--threads N] [--exact | --q8]
 */
#include "cli.h"

#include "relief/hybrid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int computed, cached;
    size_t tokens;
    double seconds;
} warm_totals;

static void on_warm(const char *hazard, size_t tokens, double seconds, bool was_cached, void *user)
{
    warm_totals *t = user;
    t->computed += !was_cached;
    t->cached += was_cached;
    t->tokens += tokens;
    t->seconds += seconds;
    printf("%-20s %5zu tokens  %7.1f s  %s\n", hazard, tokens, seconds, was_cached ? "already cached" : "computed");
    fflush(stdout);
}

int cli_warm(int argc, char **argv)
{
    relief_hybrid_config hc = {.kind = RELIEF_BACKEND_BUILTIN, .temperature = -1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(a, "--model") && has)
            hc.model_path = argv[++i];
        else if (!strcmp(a, "--lora") && has) {
            hc.lora = argv[++i];
            if (!cli_lora_spec_ok(hc.lora))
                return EXIT_USAGE;
        } else if (!strcmp(a, "--cache-dir") && has)
            hc.cache_dir = argv[++i];
        else if (!strcmp(a, "--threads") && has) {
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 1024) {
                fprintf(stderr, "relief warm: --threads must be 0 to 1024, not '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
            hc.threads = (int)t;
        } else if (!cli_numerics_flag(a)) {
            fprintf(stderr, "usage: relief warm --model FILE.gguf [--lora ADAPTER[:SCALE]] [--cache-dir DIR] "
                            "[--threads N] [--exact | --q8]\n");
            return EXIT_USAGE;
        }
    }
    if (!hc.model_path) {
        fprintf(stderr, "relief warm: need --model FILE.gguf\n");
        return EXIT_USAGE;
    }
    char *kerr = NULL;
    relief_kb *kb = relief_kb_load_embedded(&kerr);
    if (!kb) {
        fprintf(stderr, "relief: knowledge base: %s\n", kerr ? kerr : "out of memory");
        free(kerr);
        return EXIT_FAIL;
    }
    char err[512];
    relief_hybrid *h = relief_hybrid_new(kb, &hc, err, sizeof err);
    if (!h) {
        fprintf(stderr, "relief: %s\n", err);
        relief_kb_free(kb);
        return EXIT_MODEL;
    }
    warm_totals t = {0};
    int rc = relief_hybrid_warm(h, NULL, on_warm, &t);
    if (rc < 0)
        fprintf(stderr, "relief warm: the model failed while computing a prefix\n");
    else
        printf("%d prefixes computed, %d already cached (%zu tokens, %.1f s, %s arithmetic)\n", t.computed, t.cached,
               t.tokens, t.seconds, cli_numerics());
    relief_hybrid_free(h);
    relief_kb_free(kb);
    return rc < 0 ? EXIT_FAIL : EXIT_OK;
}
