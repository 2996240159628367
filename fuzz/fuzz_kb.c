/*
 * fuzz_kb.c - libFuzzer target: the knowledge-base parser on arbitrary
 * bytes, one file at a time, through kb_load_embedded_with (src/guide/kb.c:
 * the embedded kb with one file replaced).
 *
 * Input: "PATH\nCONTENT". PATH is a kb-relative embedded file
 * ("hazards/flood.kb", "protocols/triage.kb", "detect.kb", "needs.kb",
 * "extract.kb"); CONTENT replaces it. An input whose first line names no
 * embedded file is skipped. A kb that loads is used at once: a plan is
 * built from a fixed multi-hazard report and from CONTENT itself (which
 * holds the file's own cue words), and rendered as JSON, which must parse.
 * A kb that does not load must come with an error message naming the file.
 */
#include "guide/guide_int.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void plan_and_render(const relief_kb *kb, const char *report, size_t len)
{
    relief_options opt = {.days = 5, .now = 1750000000};
    relief_plan *plan = relief_plan_build(kb, report, len, &opt);
    if (!plan)
        abort();
    char *out = relief_plan_render(plan, RELIEF_FMT_JSON, RELIEF_RENDER_EXPLAIN);
    json_t *j = out ? json_loads(out, JSON_ALLOW_NUL, NULL) : NULL;
    if (!j) {
        fprintf(stderr, "JSON rendering with the fuzzed kb does not parse\n");
        abort();
    }
    json_decref(j);
    free(out);
    out = relief_plan_render(plan, RELIEF_FMT_TEXT, RELIEF_RENDER_EXPLAIN);
    free(out);
    relief_plan_free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 64 ? size : 64);
    if (!nl)
        return 0;
    char path[64];
    size_t pl = (size_t)(nl - data);
    memcpy(path, data, pl);
    path[pl] = '\0';
    if (strlen(path) != pl || pl < 4 || strcmp(path + pl - 3, ".kb"))
        return 0;
    const char *content = (const char *)nl + 1;
    size_t len = size - pl - 1;
    char *err = NULL;
    relief_kb *kb = kb_load_embedded_with(path, content, len, &err);
    if (!kb) {
        if (!err || strncmp(err, "kb", 2)) {
            fprintf(stderr, "kb error without a file name: %s\n", err ? err : "(none)");
            abort();
        }
        free(err);
        return 0;
    }
    static const char report[] =
        "Flash flood and a wildfire near the school, 200 families evacuating tonight, 3 injured, "
        "power out, gas leak reported, earthquake aftershocks expected within 2 hours";
    plan_and_render(kb, report, sizeof report - 1);
    plan_and_render(kb, content, len);
    relief_kb_free(kb);
    return 0;
}
