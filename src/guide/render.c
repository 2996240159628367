/*
 * render.c - a plan as terminal text, Markdown, or JSON (schema
 * docs/plan.schema.json, version RELIEF_JSON_SCHEMA_VERSION).
 */
#include "guide_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable string ---- */

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_add(sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_addn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)n);
    free(big);
}

static char *sb_finish(sbuf *b)
{
    if (b->failed) {
        free(b->p);
        return NULL;
    }
    if (!b->p)
        sb_add(b, "");
    return b->failed ? NULL : b->p;
}

/* Report text of a span, with control characters shown as spaces so that
 * a hostile report cannot drive the terminal. */
static void sb_span(sbuf *b, const relief_plan *p, relief_span sp)
{
    if (sp.end > p->report_len || sp.start > sp.end)
        return;
    for (size_t i = sp.start; i < sp.end; i++) {
        unsigned char c = (unsigned char)p->report[i];
        char ch = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        sb_addn(b, &ch, 1);
    }
}

/* Formats a number with thousands separators, rounding to an integer when
 * large and to one decimal otherwise. */
static void fmt_amount(char *out, size_t cap, double v)
{
    if (v >= 100 || v == floor(v)) {
        char digits[64];
        snprintf(digits, sizeof digits, "%.0f", v);
        size_t n = strlen(digits), o = 0;
        for (size_t i = 0; i < n && o + 2 < cap; i++) {
            if (i && (n - i) % 3 == 0)
                out[o++] = ',';
            out[o++] = digits[i];
        }
        out[o] = '\0';
    } else {
        snprintf(out, cap, "%.1f", v);
    }
}

static void fmt_duration(char *out, size_t cap, double s)
{
    if (s < 3600)
        snprintf(out, cap, "%.0f min", ceil(s / 60));
    else if (s < 172800)
        snprintf(out, cap, "%.1f h", s / 3600);
    else
        snprintf(out, cap, "%.1f days", s / 86400);
}

/* ---- text and Markdown ---- */

typedef struct {
    sbuf b;
    bool md, color, explain;
    const relief_plan *p;
} rctx;

static const char *C(const rctx *r, const char *code)
{
    return r->color ? code : "";
}
#define BOLD "\033[1m"
#define DIM "\033[2m"
#define CYAN "\033[36m"
#define YELLOW "\033[33m"
#define RED "\033[1;31m"
#define RESET "\033[0m"

static void render_hazards(rctx *r)
{
    const relief_plan *p = r->p;
    sbuf *b = &r->b;
    sb_printf(b, r->md ? "**Hazards:** " : "%sHazards:%s ", C(r, BOLD), C(r, RESET));
    if (p->n_detections == 0)
        sb_add(b, "none recognised");
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        sb_printf(b, "%s%s%s%s", i ? ", " : "", C(r, RED), relief_hazard_name(d->hazard), C(r, RESET));
        if (d->secondary)
            sb_add(b, " (secondary)");
        else
            sb_printf(b, " (%.0f%%)", d->confidence * 100);
    }
    sb_add(b, r->md ? "\n\n" : "\n");
    if (!r->explain)
        return;
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        if (!d->n_cues)
            continue;
        sb_printf(b, "%s  why %s (score %.2f): ", r->md ? "-" : "", relief_hazard_name(d->hazard), d->score);
        for (size_t k = 0; k < d->n_cues; k++) {
            sb_add(b, k ? ", \"" : "\"");
            sb_span(b, p, d->cues[k].span);
            sb_printf(b, "\" [%s, %.2f%s%s]", d->cues[k].cue, d->cues[k].weight, d->cues[k].modifier ? ", " : "",
                      d->cues[k].modifier ? d->cues[k].modifier : "");
        }
        sb_add(b, "\n");
    }
    if (r->md)
        sb_add(b, "\n");
}

static void fact_line(rctx *r, const char *label, const relief_quantity *q, bool duration)
{
    if (!q->known && !q->mentioned)
        return;
    sbuf *b = &r->b;
    char v[64];
    if (q->known) {
        if (duration)
            fmt_duration(v, sizeof v, q->value);
        else
            fmt_amount(v, sizeof v, q->value);
    } else {
        snprintf(v, sizeof v, "reported, number unknown");
    }
    sb_printf(b, "%s%s: %s", r->md ? "- " : "  ", label, v);
    if (r->explain) {
        sb_add(b, "  (\"");
        sb_span(b, r->p, q->span);
        sb_add(b, "\")");
    }
    sb_add(b, "\n");
}

static void render_facts(rctx *r)
{
    const relief_facts *f = &r->p->facts;
    sbuf *b = &r->b;
    sb_add(b, r->md ? "## Facts from the report\n\n" : "");
    if (!r->md)
        sb_printf(b, "%sFacts:%s\n", C(r, BOLD), C(r, RESET));
    size_t before = b->n;
    fact_line(r, "Time available", &f->time_s, true);
    fact_line(r, f->people_from_households ? "People affected (from households)" : "People affected", &f->people,
              false);
    fact_line(r, "Injured", &f->injured, false);
    fact_line(r, "Dead", &f->dead, false);
    fact_line(r, "Missing", &f->missing, false);
    fact_line(r, "Trapped", &f->trapped, false);
    for (size_t i = 0; i < f->n_locations; i++) {
        const relief_location *l = &f->locations[i];
        static const char *const kinds[] = {"Place", "Address", "Coordinates"};
        sb_printf(b, "%s%s: ", r->md ? "- " : "  ", kinds[l->kind]);
        sb_span(b, r->p, l->span);
        if (l->kind == RELIEF_LOC_COORDS)
            sb_printf(b, " (%.5f, %.5f)", l->lat, l->lon);
        sb_add(b, "\n");
    }
    bool any = false;
    for (int g = 0; g < RELIEF_VG_COUNT; g++) {
        if (!f->vulnerable[g].present)
            continue;
        sb_printf(b, "%s%s%s", any ? ", " : (r->md ? "- Vulnerable groups: " : "  Vulnerable groups: "),
                  relief_vulnerable_name(g), "");
        if (r->explain) {
            sb_add(b, " (\"");
            sb_span(b, r->p, f->vulnerable[g].span);
            sb_add(b, "\")");
        }
        any = true;
    }
    if (any)
        sb_add(b, "\n");
    any = false;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++) {
        if (!f->infra[s].present)
            continue;
        sb_printf(b, "%s%s", any ? ", " : (r->md ? "- Infrastructure affected: " : "  Infrastructure affected: "),
                  relief_infra_name(s));
        if (r->explain) {
            sb_add(b, " (\"");
            sb_span(b, r->p, f->infra[s].span);
            sb_add(b, "\")");
        }
        any = true;
    }
    if (any)
        sb_add(b, "\n");
    for (size_t i = 0; i < f->n_resources; i++) {
        sb_add(b, r->md ? "- Resource on hand: " : "  Resource on hand: ");
        sb_span(b, r->p, f->resources[i].span);
        sb_add(b, "\n");
    }
    if (f->coastal.present)
        sb_add(b, r->md ? "- Near the coast\n" : "  Near the coast\n");
    if (b->n == before)
        sb_add(b, r->md ? "- (no numbers, places or groups stated)\n" : "  (no numbers, places or groups stated)\n");
    sb_add(b, "\n");
}

static void render_steps(rctx *r)
{
    const relief_plan *p = r->p;
    sbuf *b = &r->b;
    int phase = -1;
    for (size_t i = 0; i < p->n_steps; i++) {
        const relief_step *s = &p->steps[i];
        if (s->phase != phase) {
            phase = s->phase;
            if (r->md)
                sb_printf(b, "## %s\n\n", relief_phase_title(phase));
            else
                sb_printf(b, "%s== %s ==%s\n", C(r, BOLD), relief_phase_title(phase), C(r, RESET));
        }
        if (r->md) {
            sb_printf(b, "%d. **%s** — %s  \n   *Source: %s* (%s)", s->number, relief_role_title(s->role), s->text,
                      s->source, s->origin);
            if (s->note)
                sb_printf(b, "  \n   Note: %s", s->note);
            sb_add(b, "\n");
        } else {
            sb_printf(b, "%3d. %s[%s]%s %s\n", s->number, C(r, CYAN), relief_role_title(s->role), C(r, RESET),
                      s->text);
            sb_printf(b, "     %sSource: %s (%s)%s\n", C(r, DIM), s->source, s->origin, C(r, RESET));
            if (s->note)
                sb_printf(b, "     %sNote: %s%s\n", C(r, YELLOW), s->note, C(r, RESET));
        }
    }
    sb_add(b, "\n");
}

static void render_needs(rctx *r)
{
    const relief_plan *p = r->p;
    sbuf *b = &r->b;
    char people[64];
    bool stated = p->facts.people.known && p->facts.people.value >= 1;
    fmt_amount(people, sizeof people, stated ? floor(p->facts.people.value) : GUIDE_DEFAULT_PEOPLE);
    if (r->md)
        sb_printf(b, "## Needs for %s people over %d days (minimum standards)\n\n| Item | Amount | Basis | Standard |\n|---|---|---|---|\n",
                  people, p->days);
    else
        sb_printf(b, "%s== Needs for %s people over %d days (minimum standards) ==%s\n", C(r, BOLD), people, p->days,
                  C(r, RESET));
    for (size_t i = 0; i < p->n_needs; i++) {
        const relief_need *n = &p->needs[i];
        char amt[64];
        fmt_amount(amt, sizeof amt, n->amount);
        if (r->md)
            sb_printf(b, "| %s | %s %s | %s | %s |\n", n->label, amt, n->unit, n->basis, n->standard);
        else
            sb_printf(b, "  %-52s %14s %-5s %s\n", n->label, amt, n->unit, n->basis);
    }
    sb_add(b, r->md ? "\nAssumptions: " : "  Assumptions: ");
    if (!stated)
        sb_printf(b, "the report states no population, so figures are for %s people; ", people);
    if (p->facts.people_from_households)
        sb_printf(b, "people were computed from households at %.1f people per household; ", p->household_size);
    sb_printf(b, "households = people / %.1f; Sphere figures are minimums to adapt to context, never maximums.\n\n",
              p->household_size);
}

static char *render_textual(const relief_plan *p, bool md, int flags)
{
    rctx r = {.md = md, .color = !md && (flags & RELIEF_RENDER_COLOR), .explain = flags & RELIEF_RENDER_EXPLAIN, .p = p};
    sbuf *b = &r.b;
    if (md)
        sb_add(b, "# relief action plan\n\n");
    else
        sb_printf(b, "%sRELIEF ACTION PLAN%s (protocol engine; every step cites its source)\n\n", C(&r, BOLD),
                  C(&r, RESET));
    render_hazards(&r);
    for (size_t i = 0; i < p->n_notes; i++)
        sb_printf(b, "%s%s%s%s\n", md ? "> " : "", C(&r, YELLOW), p->notes[i], C(&r, RESET));
    if (p->n_notes)
        sb_add(b, "\n");
    render_facts(&r);
    render_steps(&r);
    render_needs(&r);
    return sb_finish(b);
}

/* ---- JSON ---- */

static json_t *jspan(relief_span sp)
{
    return json_pack("[II]", (json_int_t)sp.start, (json_int_t)sp.end);
}

static json_t *jqty(const relief_quantity *q)
{
    if (!q->known && !q->mentioned)
        return json_null();
    return json_pack("{s:o,s:o}", "value", q->known ? json_real(q->value) : json_null(), "span", jspan(q->span));
}

static json_t *jstr_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* json_string fails on invalid UTF-8; report slices may be invalid. */
static json_t *jtext(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *c = malloc(n + 1);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = '\0';
    j = json_stringn(c, n);
    free(c);
    return j;
}

static json_t *render_json_obj(const relief_plan *p)
{
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string(RELIEF_JSON_SCHEMA_VERSION));
    json_object_set_new(root, "report", jtext(p->report, p->report_len));
    json_t *hz = json_array();
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        json_t *cues = json_array();
        for (size_t k = 0; k < d->n_cues; k++)
            json_array_append_new(cues, json_pack("{s:s,s:o,s:f,s:o}", "cue", d->cues[k].cue, "span",
                                                  jspan(d->cues[k].span), "weight", d->cues[k].weight, "modifier",
                                                  jstr_or_null(d->cues[k].modifier)));
        json_array_append_new(hz, json_pack("{s:s,s:f,s:f,s:b,s:o}", "id", relief_hazard_name(d->hazard),
                                            "confidence", d->confidence, "score", d->score, "secondary",
                                            d->secondary, "cues", cues));
    }
    json_object_set_new(root, "hazards", hz);

    const relief_facts *f = &p->facts;
    json_t *facts = json_object();
    json_object_set_new(facts, "time_available_s", jqty(&f->time_s));
    json_object_set_new(facts, "people", jqty(&f->people));
    json_object_set_new(facts, "people_from_households", json_boolean(f->people_from_households));
    json_object_set_new(facts, "injured", jqty(&f->injured));
    json_object_set_new(facts, "dead", jqty(&f->dead));
    json_object_set_new(facts, "missing", jqty(&f->missing));
    json_object_set_new(facts, "trapped", jqty(&f->trapped));
    json_t *vg = json_array();
    for (int g = 0; g < RELIEF_VG_COUNT; g++)
        if (f->vulnerable[g].present)
            json_array_append_new(vg, json_pack("{s:s,s:o}", "group", relief_vulnerable_name(g), "span",
                                                jspan(f->vulnerable[g].span)));
    json_object_set_new(facts, "vulnerable", vg);
    json_t *inf = json_array();
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        if (f->infra[s].present)
            json_array_append_new(inf, json_pack("{s:s,s:s,s:o}", "system", relief_infra_name(s), "status",
                                                 "affected", "span", jspan(f->infra[s].span)));
    json_object_set_new(facts, "infrastructure", inf);
    json_t *locs = json_array();
    static const char *const kinds[] = {"place", "address", "coordinates"};
    for (size_t i = 0; i < f->n_locations; i++) {
        const relief_location *l = &f->locations[i];
        json_t *o = json_pack("{s:s,s:o,s:o}", "kind", kinds[l->kind], "text", jtext(l->text, strlen(l->text)),
                              "span", jspan(l->span));
        if (l->kind == RELIEF_LOC_COORDS) {
            json_object_set_new(o, "lat", json_real(l->lat));
            json_object_set_new(o, "lon", json_real(l->lon));
        }
        json_array_append_new(locs, o);
    }
    json_object_set_new(facts, "locations", locs);
    json_t *res = json_array();
    for (size_t i = 0; i < f->n_resources; i++)
        json_array_append_new(res, json_pack("{s:o,s:o}", "text", jtext(f->resources[i].text, strlen(f->resources[i].text)),
                                             "span", jspan(f->resources[i].span)));
    json_object_set_new(facts, "resources", res);
    json_object_set_new(facts, "coastal", json_boolean(f->coastal.present));
    json_object_set_new(facts, "night", json_boolean(f->night.present));
    json_object_set_new(root, "facts", facts);

    json_t *steps = json_array();
    for (size_t i = 0; i < p->n_steps; i++) {
        const relief_step *s = &p->steps[i];
        json_array_append_new(steps, json_pack("{s:i,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:o,s:o}", "number", s->number,
                                               "phase", relief_phase_name(s->phase), "phase_title",
                                               relief_phase_title(s->phase), "role", relief_role_name(s->role),
                                               "priority", s->priority, "text", s->text, "source", s->source,
                                               "origin", s->origin, "id", jstr_or_null(s->id), "note",
                                               jstr_or_null(s->note)));
    }
    json_object_set_new(root, "steps", steps);

    bool stated = f->people.known && f->people.value >= 1;
    json_t *items = json_array();
    for (size_t i = 0; i < p->n_needs; i++) {
        const relief_need *n = &p->needs[i];
        json_array_append_new(items, json_pack("{s:s,s:s,s:f,s:s,s:s,s:s,s:o}", "id", n->id, "label", n->label,
                                               "amount", n->amount, "unit", n->unit, "basis", n->basis, "standard",
                                               n->standard, "note", jstr_or_null(n->note)));
    }
    json_object_set_new(root, "needs",
                        json_pack("{s:f,s:b,s:i,s:f,s:o}", "people",
                                  stated ? floor(f->people.value) : (double)GUIDE_DEFAULT_PEOPLE, "people_stated",
                                  stated, "days", p->days, "household_size", p->household_size, "items", items));
    json_t *notes = json_array();
    for (size_t i = 0; i < p->n_notes; i++)
        json_array_append_new(notes, json_string(p->notes[i]));
    json_object_set_new(root, "notes", notes);
    json_object_set_new(root, "elapsed_us", json_real(p->elapsed_us));
    return root;
}

json_t *relief_plan_to_json(const relief_plan *p)
{
    return render_json_obj(p);
}

char *relief_plan_render(const relief_plan *p, relief_format fmt, int flags)
{
    if (fmt == RELIEF_FMT_JSON) {
        json_t *j = render_json_obj(p);
        if (!j)
            return NULL;
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        return s;
    }
    return render_textual(p, fmt == RELIEF_FMT_MARKDOWN, flags);
}
