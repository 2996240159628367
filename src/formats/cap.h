/*
 * cap.h - CAP 1.2 (OASIS Common Alerting Protocol, ITU-T X.1303), the
 * format warnings travel in between alerting authorities, weather services
 * and alert hubs: alerts written from plans (cap_write.c), alerts read as
 * reports (cap_read.c), and the CAP values that a plan's facts give
 * (cap_assess.c). What maps to what, and why: docs/formats.md.
 */
#ifndef RELIEF_FORMATS_CAP_H
#define RELIEF_FORMATS_CAP_H

#include "relief/guide.h"

#include <stdbool.h>
#include <stddef.h>

#define CAP_NS "urn:oasis:names:tc:emergency:cap:1.2"
#define CAP_DEFAULT_SENDER "relief@localhost"
/* An alert larger than this is refused before any parsing: real alerts are
 * a few KB (the largest with many polygons some hundreds of KB). */
#define CAP_MAX_BYTES (1u << 20)
/* Elements nested deeper than this are refused: a CAP alert is 4 deep
 * (alert/info/area/geocode/value), signatures a few more. */
#define CAP_MAX_DEPTH 32
/* Longest report text made from an alert (bytes); longer text is cut at a
 * character boundary. */
#define CAP_MAX_REPORT (64u << 10)

/* ---- cap_assess.c: the CAP values of a plan ---- */

typedef struct {
    const char *urgency;   /* Immediate, Expected, Future, Unknown */
    const char *severity;  /* Extreme, Severe, Moderate, Minor, Unknown */
    const char *certainty; /* Observed, Likely, Possible, Unknown */
    const char *categories[RELIEF_HZ_COUNT]; /* distinct CAP categories of the detected hazards */
    size_t n_categories;   /* at least 1 ("Other" when no hazard is recognised) */
    bool evacuate;         /* a detected hazard's protective action is leaving a zone */
} cap_assessment;

/* The CAP category ("Met", "Geo", "Fire", ...) of a hazard; "Other" for an
 * out-of-range value. Never NULL. */
const char *cap_category(int hazard);

/* Fills *out from the plan's detections and facts by the CAP 1.2
 * definitions (rules in docs/formats.md). Never fails. */
void cap_assess(const relief_kb *kb, const relief_plan *plan, cap_assessment *out);

/* ---- cap_write.c: an alert from plans ---- */

typedef struct {
    const char *sender;  /* NULL: $RELIEF_CAP_SENDER, else CAP_DEFAULT_SENDER */
    const char *status;  /* a CAP status (cap_status_name); NULL: "Draft" */
    const char *web;     /* NULL: $RELIEF_CAP_WEB; left out when neither is set */
    const char *contact; /* NULL: $RELIEF_CAP_CONTACT; left out when neither is set */
    long long now;       /* the alert's sent time (Unix); 0: the clock */
} cap_write_options;

/* One info block: a plan and the language its text is written in. */
typedef struct {
    const char *lang;    /* "en", "es", ... */
    const relief_plan *plan;
} cap_info_plan;

/* The canonical CAP status for name, case-insensitive ("actual" ->
 * "Actual"), or NULL when name is not one of Actual, Exercise, System,
 * Test, Draft. */
const char *cap_status_name(const char *name);

/* True when s may stand as a CAP sender or identifier: 1 to 255 bytes of
 * printable ASCII with no space, comma, '<' or '&' (CAP 1.2, 3.2.1). */
bool cap_token_ok(const char *s);

/* Writes a CAP 1.2 alert (msgType Alert, scope Public) with one info block
 * per element of infos (n >= 1; the first plan gives the identifier).
 * Returns the XML document (malloc'd, NUL-terminated; the caller frees),
 * or NULL with a message in err (cap bytes) when an option is invalid or
 * memory runs out. */
char *cap_write(const relief_kb *kb, const cap_info_plan *infos, size_t n, const cap_write_options *o,
                char *err, size_t cap);

/* ---- cap_read.c: an alert as a report ---- */

typedef struct {
    char *report;        /* report text (malloc'd, NUL-terminated) */
    size_t len;
    double time_s;       /* time available from onset/expires against sent, seconds; -1 unknown */
    char lang[16];       /* the info block's language as written ("en-US"), "" when absent */
    size_t n_infos;      /* info blocks read into the report (those in the first block's language) */
} cap_report;

/* Reads a CAP 1.2 alert of len bytes (hostile input: no network, no
 * entity substitution, no DTD, at most CAP_MAX_BYTES and CAP_MAX_DEPTH)
 * into report text: each info's event, headline, description, instruction
 * and areaDesc, then a line "Onset within N minutes." for the time
 * available (onset, else expires, against sent). Returns 0, or -1 with a
 * message naming what is wrong in err (cap bytes; out is then empty).
 * The caller frees out with cap_report_free. */
int cap_read(const char *xml, size_t len, cap_report *out, char *err, size_t cap);

/* Frees what cap_read allocated; safe on a zeroed or freed report. */
void cap_report_free(cap_report *r);

/* Parses a CAP dateTime ("2025-06-14T14:05:00-05:00") into Unix seconds.
 * Returns 0, or -1 when s is not one (CAP forbids "Z"; it is accepted on
 * input all the same, as some senders write it). */
int cap_parse_time(const char *s, long long *out);

#endif
