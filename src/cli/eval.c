/*
 * eval.c - `relief eval FILE.jsonl`: scores hazard detection against labelled
 * messages ({"text", "hazards", "hazards_also_ok"}), per hazard and macro-F1.
 *
 * Scoring: every gold hazard must be predicted (else a false negative); a
 * prediction in neither list is a false positive; for ["none"] any predicted
 * hazard is a false positive; a report with no predicted hazard predicts
 * "none". Lines with an empty hazards list are skipped. Hazards that never
 * appear in a gold list are left out of the macro average. Secondary hazards
 * (plan inferences) are not predictions.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define NONE RELIEF_HZ_COUNT /* index of "none" in the tables */

static int label_index(const char *s)
{
    if (!strcmp(s, "none"))
        return NONE;
    return relief_hazard_from_name(s);
}

/* Reads a JSON array of hazard names into a bit set; -1 on a bad entry. */
static int read_labels(json_t *arr, unsigned long long *set, int *count)
{
    *set = 0;
    *count = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v))
            return -1;
        int h = label_index(json_string_value(v));
        if (h < 0)
            return -1;
        *set |= 1ull << h;
        (*count)++;
    }
    return 0;
}

int cli_eval(const relief_kb *kb, const char *path, FILE *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "relief eval: cannot open %s\n", path);
        return EXIT_FAIL;
    }
    long tp[NONE + 1] = {0}, fp[NONE + 1] = {0}, fn[NONE + 1] = {0};
    bool seen[NONE + 1] = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, scored = 0, skipped = 0;
    int rc = EXIT_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len == 0 || line[0] == '\n')
            continue;
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)len, 0, &jerr);
        json_t *text = j ? json_object_get(j, "text") : NULL;
        unsigned long long gold, ok;
        int ngold, nok;
        if (!j || !json_is_string(text) || read_labels(json_object_get(j, "hazards"), &gold, &ngold) < 0 ||
            read_labels(json_object_get(j, "hazards_also_ok"), &ok, &nok) < 0 ||
            !json_object_get(j, "hazards")) {
            fprintf(stderr, "relief eval: %s:%ld: expected {\"text\": string, \"hazards\": [hazard ids], "
                            "\"hazards_also_ok\": [hazard ids]}%s%s\n",
                    path, lineno, j ? "" : ": ", j ? "" : jerr.text);
            json_decref(j);
            rc = EXIT_FAIL;
            break;
        }
        if (ngold == 0) {
            skipped++;
            json_decref(j);
            continue;
        }
        relief_plan *p = relief_plan_build(kb, json_string_value(text), json_string_length(text), NULL);
        json_decref(j);
        if (!p) {
            fprintf(stderr, "relief eval: out of memory\n");
            rc = EXIT_FAIL;
            break;
        }
        unsigned long long pred = 0;
        for (size_t i = 0; i < p->n_detections; i++)
            if (!p->detections[i].secondary)
                pred |= 1ull << p->detections[i].hazard;
        relief_plan_free(p);
        if (!pred)
            pred = 1ull << NONE;
        bool gold_none = gold == (1ull << NONE);
        for (int h = 0; h <= NONE; h++) {
            bool g = (gold >> h) & 1, pr = (pred >> h) & 1, o = (ok >> h) & 1;
            if (g)
                seen[h] = true;
            if (g && pr)
                tp[h]++;
            else if (g)
                fn[h]++;
            else if (pr && (gold_none || !o))
                fp[h]++;
        }
        scored++;
    }
    free(line);
    fclose(f);
    if (rc != EXIT_OK)
        return rc;
    double sum = 0;
    int n = 0;
    fprintf(out, "%-20s %6s %6s %6s %9s %7s %6s\n", "hazard", "tp", "fp", "fn", "precision", "recall", "f1");
    for (int h = 0; h <= NONE; h++) {
        if (!seen[h])
            continue;
        double prec = tp[h] + fp[h] ? (double)tp[h] / (tp[h] + fp[h]) : 0;
        double rec = tp[h] + fn[h] ? (double)tp[h] / (tp[h] + fn[h]) : 0;
        double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        fprintf(out, "%-20s %6ld %6ld %6ld %9.3f %7.3f %6.3f\n", h == NONE ? "none" : relief_hazard_name(h), tp[h],
                fp[h], fn[h], prec, rec, f1);
        sum += f1;
        n++;
    }
    fprintf(out, "messages scored: %ld (skipped %ld with no hazard label)\n", scored, skipped);
    fprintf(out, "macro-F1: %.3f\n", n ? sum / n : 0.0);
    return EXIT_OK;
}
