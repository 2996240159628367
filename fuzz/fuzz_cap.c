/*
 * fuzz_cap.c - libFuzzer target: the CAP reader (src/formats/cap_read.c)
 * on arbitrary bytes, and everything downstream of an alert it accepts.
 *
 * Each input is an alert. When cap_read refuses it, the message must be
 * set and the result empty. When it accepts it, the report text must be
 * valid UTF-8-clean text of the stated length; the plan built from it is
 * written as a CAP alert (fixed clock), which cap_read must accept in turn
 * (relief never writes an alert it cannot read), and as the ICS 201 form,
 * HTML and JSON (the JSON must parse). Any violation aborts: a finding.
 */
#include "formats/cap.h"
#include "formats/ics201.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cap_report r;
    char err[300];
    err[0] = '\0';
    if (cap_read((const char *)data, size, &r, err, sizeof err) < 0) {
        if (!err[0] || r.report || r.len) {
            fprintf(stderr, "refused without a message, or with a report\n");
            abort();
        }
        return 0;
    }
    if (!r.report || r.len == 0 || strlen(r.report) != r.len || r.len > CAP_MAX_REPORT + 64) {
        fprintf(stderr, "accepted alert gave a bad report (len %zu)\n", r.len);
        abort();
    }
    relief_options ro = {.days = 3, .now = 1750000000};
    relief_plan *p = relief_plan_build(kb, r.report, r.len, &ro);
    if (!p) {
        fprintf(stderr, "relief_plan_build returned NULL\n");
        abort();
    }
    cap_info_plan info = {"en", p};
    cap_write_options wo = {.now = 1750000000};
    char *xml = cap_write(kb, &info, 1, &wo, err, sizeof err);
    if (!xml) {
        fprintf(stderr, "cap_write failed: %s\n", err);
        abort();
    }
    cap_report back;
    if (cap_read(xml, strlen(xml), &back, err, sizeof err) < 0) {
        fprintf(stderr, "relief's own alert is refused: %s\n%s\n", err, xml);
        abort();
    }
    cap_report_free(&back);
    free(xml);
    char *html = ics201_html(kb, p, 1750000000);
    char *js = ics201_json(kb, p, 1750000000);
    json_error_t je;
    json_t *j = js ? json_loads(js, 0, &je) : NULL;
    if (!html || !j) {
        fprintf(stderr, "ICS 201: %s\n", !html ? "no HTML" : js ? je.text : "no JSON");
        abort();
    }
    json_decref(j);
    free(js);
    free(html);
    relief_plan_free(p);
    cap_report_free(&r);
    return 0;
}
