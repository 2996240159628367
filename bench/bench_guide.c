/*
 * bench_guide.c - latency of the whole guidance path (detect -> extract ->
 * plan -> JSON) over real messages, one core, one report at a time.
 *
 * usage: bench_guide FILE.jsonl [ROUNDS]
 * Prints median, p90, p99 and max latency per report and reports/second.
 */
#include "relief/guide.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_guide FILE.jsonl [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1)
        rounds = 1;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    char **texts = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *t = j ? json_object_get(j, "text") : NULL;
        if (json_is_string(t)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                char **p = realloc(texts, cap * sizeof *p);
                if (!p)
                    return 1;
                texts = p;
            }
            texts[n] = strdup(json_string_value(t));
            if (!texts[n])
                return 1;
            n++;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    char *err = NULL;
    relief_kb *kb = relief_kb_load_embedded(&err);
    if (!kb || n == 0) {
        fprintf(stderr, "bench_guide: %s\n", kb ? "no messages" : err);
        return 1;
    }
    double *lat = malloc(n * (size_t)rounds * sizeof *lat);
    if (!lat)
        return 1;
    size_t k = 0, bytes = 0;
    double t_start = now_us();
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            double t0 = now_us();
            relief_plan *p = relief_plan_build(kb, texts[i], strlen(texts[i]), NULL);
            char *js = p ? relief_plan_render(p, RELIEF_FMT_JSON, 0) : NULL;
            if (!js) {
                fprintf(stderr, "bench_guide: out of memory\n");
                return 1;
            }
            bytes += strlen(js);
            free(js);
            relief_plan_free(p);
            lat[k++] = now_us() - t0;
        }
    }
    double total = now_us() - t_start;
    qsort(lat, k, sizeof *lat, cmp_double);
    printf("reports: %zu x %d rounds, detect -> extract -> plan -> JSON, 1 thread\n", n, rounds);
    printf("latency per report: median %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n", lat[k / 2],
           lat[k * 90 / 100], lat[k * 99 / 100], lat[k - 1]);
    printf("throughput: %.0f reports/s (%.1f MB of JSON)\n", k / (total / 1e6), bytes / 1e6);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(lat);
    relief_kb_free(kb);
    return 0;
}
