/*
 * fuzz_report.c - libFuzzer target: the whole report pipeline (tokens ->
 * detection -> extraction -> plan -> needs -> rendering) on arbitrary
 * bytes, with the embedded knowledge base (loaded once).
 *
 * Each input is a report. The plan is built with a fixed clock (so runs
 * reproduce) and the horizon chosen by the input's length (1 to 14 days),
 * then rendered as text (with colour and explanations), Markdown (with
 * explanations) and JSON (both ways). The JSON must parse (jansson, which
 * also rejects invalid UTF-8) and every rendering must be non-empty.
 * relief_plan_build may return NULL only when memory runs out, which the
 * fuzzer's limits never reach: NULL is a finding.
 */
#include "relief/guide.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static relief_kb *kb;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char *err = NULL;
    kb = relief_kb_load_embedded(&err);
    if (!kb) {
        fprintf(stderr, "fuzz: embedded kb: %s\n", err ? err : "?");
        abort();
    }
    return 0;
}

static void render(const relief_plan *plan, relief_format fmt, int flags)
{
    char *out = relief_plan_render(plan, fmt, flags);
    if (!out || !*out) {
        fprintf(stderr, "render (format %d, flags %d) gave %s\n", fmt, flags, out ? "nothing" : "NULL");
        abort();
    }
    if (fmt == RELIEF_FMT_JSON) {
        json_error_t e;
        json_t *j = json_loads(out, JSON_ALLOW_NUL, &e);
        if (!j) {
            fprintf(stderr, "JSON rendering does not parse: %s (line %d, column %d)\n", e.text, e.line, e.column);
            abort();
        }
        json_decref(j);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    relief_options opt = {.days = (int)(size % 14) + 1, .now = 1750000000};
    relief_plan *plan = relief_plan_build(kb, (const char *)data, size, &opt);
    if (!plan) {
        fprintf(stderr, "relief_plan_build returned NULL\n");
        abort();
    }
    render(plan, RELIEF_FMT_TEXT, RELIEF_RENDER_COLOR | RELIEF_RENDER_EXPLAIN);
    render(plan, RELIEF_FMT_MARKDOWN, RELIEF_RENDER_EXPLAIN);
    render(plan, RELIEF_FMT_JSON, 0);
    render(plan, RELIEF_FMT_JSON, RELIEF_RENDER_EXPLAIN);
    relief_plan_free(plan);
    return 0;
}
