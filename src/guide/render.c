/*
 * render.c - a plan as terminal text, Markdown, or JSON (schema
 * docs/plan.schema.json, version RELIEF_JSON_SCHEMA_VERSION).
 */
#include "guide_int.h"
#include "util/strbuf.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings: src/util/strbuf ---- */

/* Report text of a span, with control characters shown as spaces so that
 * a hostile report cannot drive the terminal. */
static void sb_span(strbuf *b, const relief_plan *p, relief_span sp)
{
    if (sp.end > p->report_len || sp.start > sp.end)
        return;
    for (size_t i = sp.start; i < sp.end; i++) {
        unsigned char c = (unsigned char)p->report[i];
        char ch = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        strbuf_add(b, &ch, 1);
    }
}

/* ---- text and Markdown ---- */

typedef struct {
    strbuf b;
    bool md, color, explain, full;
    const relief_plan *p;
    const relief_kb *kb;
    int li;               /* the plan's language (i18n.h) */
} rctx;

/* A [strings] text in the plan's language. */
static const char *S(const rctx *r, int s)
{
    return kb_str(r->kb, r->li, s);
}

/* A [strings] text with one or two {name} placeholders filled in. */
static void sx(rctx *r, int s, const char *n1, const char *v1, const char *n2, const char *v2)
{
    const char *names[] = {n1, n2};
    const char *values[] = {v1, v2};
    i18n_expand(&r->b, S(r, s), names, values, n2 ? 2 : 1);
}

/* A count as the plan's language writes it: whole when large or whole,
 * else one decimal. */
static void fmt_amount(const rctx *r, char *out, size_t cap, double v)
{
    i18n_format_number(out, cap, v, v >= 100 || v == floor(v) ? 0 : -1, r->li);
}

static void sb_duration(rctx *r, double s)
{
    char v[64];
    if (s < 3600) {
        i18n_format_number(v, sizeof v, ceil(s / 60), 0, r->li);
        sx(r, S_DUR_MIN, "n", v, NULL, NULL);
    } else if (s < 172800) {
        i18n_format_number(v, sizeof v, s / 3600, -1, r->li);
        sx(r, S_DUR_H, "n", v, NULL, NULL);
    } else {
        i18n_format_number(v, sizeof v, s / 86400, -1, r->li);
        sx(r, S_DUR_DAYS, "n", v, NULL, NULL);
    }
}

#define NEEDS_LABEL_WIDTH 52 /* characters of the needs table's first column */

/* Characters (code points) in a UTF-8 string: its width on a terminal for
 * the Latin-script text the kb holds (accents, narrow no-break spaces). */
static size_t utf8_chars(const char *text)
{
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        chars += (*c & 0xC0) != 0x80;
    return chars;
}

/* Appends text padded with blanks to width characters (UTF-8 aware, so
 * that accented labels line up). */
static void sb_pad(strbuf *b, const char *text, size_t width)
{
    strbuf_str(b, text);
    for (size_t chars = utf8_chars(text); chars < width; chars++)
        strbuf_lit(b, " ");
}

/* The same, the blanks before the text (right-aligned numbers: "15 000"
 * holds a 3-byte narrow no-break space in French). */
static void sb_pad_left(strbuf *b, const char *text, size_t width)
{
    for (size_t chars = utf8_chars(text); chars < width; chars++)
        strbuf_lit(b, " ");
    strbuf_str(b, text);
}

/* Where a step comes from: the hazard's or protocol's id in English (as
 * ever), their names in another language. */
static const char *origin_title(const rctx *r, const char *origin)
{
    if (r->li == 0)
        return origin;
    if (!strncmp(origin, "protocol:", 9)) {
        for (size_t i = 0; i < r->kb->n_protocols; i++)
            if (!strcmp(r->kb->protocols[i].id, origin + 9))
                return kb_tr(r->kb->protocols[i].name, r->kb->protocols[i].name_tr, r->li);
        return origin;
    }
    int h = relief_hazard_from_name(origin);
    return h >= 0 ? S(r, S_HZ_WILDFIRE + h) : origin;
}

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

/* "Hazards:" in bold (text) or strong (Markdown), then a blank. */
static void sb_label(rctx *r, int s)
{
    if (r->md)
        strbuf_printf(&r->b, "**%s:** ", S(r, s));
    else
        strbuf_printf(&r->b, "%s%s:%s ", C(r, BOLD), S(r, s), C(r, RESET));
}

static void render_hazards(rctx *r)
{
    const relief_plan *p = r->p;
    strbuf *b = &r->b;
    sb_label(r, S_HAZARDS);
    if (p->n_detections == 0)
        strbuf_str(b, S(r, S_HAZARDS_NONE));
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        strbuf_printf(b, "%s%s%s%s", i ? ", " : "", C(r, RED), S(r, S_HZ_WILDFIRE + d->hazard), C(r, RESET));
        if (d->secondary)
            strbuf_printf(b, " (%s)", S(r, S_SECONDARY));
        else
            strbuf_printf(b, " (%.0f%%)", d->confidence * 100);
    }
    strbuf_str(b, r->md ? "\n\n" : "\n");
    if (!r->explain)
        return;
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        if (!d->n_cues)
            continue;
        char score[64];
        i18n_format_number(score, sizeof score, d->score, -2, r->li);
        strbuf_str(b, r->md ? "-  " : "  ");
        sx(r, S_WHY, "hazard", S(r, S_HZ_WILDFIRE + d->hazard), "score", score);
        strbuf_lit(b, ": ");
        for (size_t k = 0; k < d->n_cues; k++) {
            strbuf_str(b, k ? ", \"" : "\"");
            sb_span(b, p, d->cues[k].span);
            char w[64];
            i18n_format_number(w, sizeof w, d->cues[k].weight, -2, r->li);
            strbuf_printf(b, "\" [%s, %s%s%s]", d->cues[k].cue, w, d->cues[k].modifier ? ", " : "",
                          d->cues[k].modifier ? d->cues[k].modifier : "");
        }
        strbuf_str(b, "\n");
    }
    if (r->md)
        strbuf_str(b, "\n");
}

static void fact_line(rctx *r, int label, const relief_quantity *q, bool duration)
{
    if (!q->known && !q->mentioned)
        return;
    strbuf *b = &r->b;
    strbuf_printf(b, "%s%s: ", r->md ? "- " : "  ", S(r, label));
    if (q->known && duration) {
        sb_duration(r, q->value);
    } else if (q->known) {
        char v[64];
        fmt_amount(r, v, sizeof v, q->value);
        strbuf_str(b, v);
    } else {
        strbuf_str(b, S(r, S_FACT_UNKNOWN));
    }
    if (r->explain) {
        strbuf_str(b, "  (\"");
        sb_span(b, r->p, q->span);
        strbuf_str(b, "\")");
    }
    strbuf_str(b, "\n");
}

static void render_facts(rctx *r)
{
    const relief_facts *f = &r->p->facts;
    strbuf *b = &r->b;
    if (r->md)
        strbuf_printf(b, "## %s\n\n", S(r, S_FACTS_HEADING));
    else
        strbuf_printf(b, "%s%s:%s\n", C(r, BOLD), S(r, S_FACTS), C(r, RESET));
    const char *item = r->md ? "- " : "  ";
    size_t before = b->n;
    fact_line(r, S_FACT_TIME, &f->time_s, true);
    fact_line(r, f->people_from_households ? S_FACT_PEOPLE_HH : S_FACT_PEOPLE, &f->people, false);
    fact_line(r, S_FACT_INJURED, &f->injured, false);
    fact_line(r, S_FACT_DEAD, &f->dead, false);
    fact_line(r, S_FACT_MISSING, &f->missing, false);
    fact_line(r, S_FACT_TRAPPED, &f->trapped, false);
    for (size_t i = 0; i < f->n_locations; i++) {
        const relief_location *l = &f->locations[i];
        strbuf_printf(b, "%s%s: ", item, S(r, S_FACT_PLACE + (int)l->kind));
        sb_span(b, r->p, l->span);
        if (l->kind == RELIEF_LOC_COORDS)
            strbuf_printf(b, " (%.5f, %.5f)", l->lat, l->lon);
        strbuf_str(b, "\n");
    }
    bool any = false;
    for (int g = 0; g < RELIEF_VG_COUNT; g++) {
        if (!f->vulnerable[g].present)
            continue;
        if (any)
            strbuf_lit(b, ", ");
        else
            strbuf_printf(b, "%s%s: ", item, S(r, S_FACT_VULNERABLE));
        strbuf_str(b, S(r, S_GROUP_CHILDREN + g));
        if (r->explain) {
            strbuf_str(b, " (\"");
            sb_span(b, r->p, f->vulnerable[g].span);
            strbuf_str(b, "\")");
        }
        any = true;
    }
    if (any)
        strbuf_str(b, "\n");
    any = false;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++) {
        if (!f->infra[s].present)
            continue;
        if (any)
            strbuf_lit(b, ", ");
        else
            strbuf_printf(b, "%s%s: ", item, S(r, S_FACT_INFRA));
        strbuf_str(b, S(r, S_INFRA_POWER + s));
        if (r->explain) {
            strbuf_str(b, " (\"");
            sb_span(b, r->p, f->infra[s].span);
            strbuf_str(b, "\")");
        }
        any = true;
    }
    if (any)
        strbuf_str(b, "\n");
    for (size_t i = 0; i < f->n_resources; i++) {
        strbuf_printf(b, "%s%s: ", item, S(r, S_FACT_RESOURCE));
        sb_span(b, r->p, f->resources[i].span);
        strbuf_str(b, "\n");
    }
    if (f->coastal.present)
        strbuf_printf(b, "%s%s\n", item, S(r, S_FACT_COASTAL));
    if (b->n == before)
        strbuf_printf(b, "%s%s\n", item, S(r, S_FACTS_NOTHING));
    strbuf_str(b, "\n");
}

static void render_steps(rctx *r)
{
    const relief_plan *p = r->p;
    strbuf *b = &r->b;
    int phase = -1;
    for (size_t i = 0; i < p->n_steps; i++) {
        const relief_step *s = &p->steps[i];
        if (s->phase != phase) {
            phase = s->phase;
            if (r->md)
                strbuf_printf(b, "## %s\n\n", S(r, S_PHASE_IMMEDIATE + phase));
            else
                strbuf_printf(b, "%s== %s ==%s\n", C(r, BOLD), S(r, S_PHASE_IMMEDIATE + phase), C(r, RESET));
        }
        const char *role = S(r, S_ROLE_COMMAND + s->role), *origin = origin_title(r, s->origin);
        if (r->md) {
            strbuf_printf(b, "%d. **%s** — %s  \n   *%s: %s* (%s)", s->number, role, s->text, S(r, S_SOURCE),
                          s->source, origin);
            if (s->note)
                strbuf_printf(b, "  \n   %s: %s", S(r, S_NOTE), s->note);
            strbuf_str(b, "\n");
        } else {
            strbuf_printf(b, "%3d. %s[%s]%s %s\n", s->number, C(r, CYAN), role, C(r, RESET), s->text);
            strbuf_printf(b, "     %s%s: %s (%s)%s\n", C(r, DIM), S(r, S_SOURCE), s->source, origin, C(r, RESET));
            if (s->note)
                strbuf_printf(b, "     %s%s: %s%s\n", C(r, YELLOW), S(r, S_NOTE), s->note, C(r, RESET));
        }
    }
    strbuf_str(b, "\n");
}

/* The agency of a source: its text up to the first ',', ';' or " (", at
 * most 40 bytes cut at a word ("NOAA", "FEMA"); the full source is in the
 * full plan and the JSON. */
static void sb_agency(strbuf *b, const char *source)
{
    size_t n = strcspn(source, ",;");
    const char *paren = strstr(source, " (");
    if (paren && (size_t)(paren - source) < n)
        n = (size_t)(paren - source);
    if (n > 40) {
        n = 40;
        while (n > 0 && source[n] != ' ')
            n--;
        if (n == 0)
            n = 40;
        while (n > 0 && ((unsigned char)source[n] & 0xC0) == 0x80) /* not inside a character */
            n--;
    }
    strbuf_add(b, source, n);
}

/* Key facts on one line: what a responder needs before acting. */
static void render_key_facts(rctx *r)
{
    const relief_facts *f = &r->p->facts;
    strbuf *b = &r->b;
    sb_label(r, S_FACTS);
    size_t start = b->n;
    char v[64];
    const char *sep = "";
#define FACT_SEP() (strbuf_str(b, sep), sep = "; ")
    if (f->time_s.known) {
        FACT_SEP();
        strbuf r2 = {0};
        rctx tmp = *r;
        tmp.b = r2;
        sb_duration(&tmp, f->time_s.value);
        sx(r, S_KEY_BEFORE_IMPACT, "time", tmp.b.p ? tmp.b.p : "", NULL, NULL);
        free(tmp.b.p);
    }
    const struct { int word; const relief_quantity *q; } qs[] = {
        {S_WORD_PEOPLE, &f->people}, {S_WORD_INJURED, &f->injured}, {S_WORD_DEAD, &f->dead},
        {S_WORD_MISSING, &f->missing}, {S_WORD_TRAPPED, &f->trapped}};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        if (qs[i].q->known) {
            fmt_amount(r, v, sizeof v, qs[i].q->value);
            FACT_SEP();
            sx(r, S_KEY_COUNT, "n", v, "what", S(r, qs[i].word));
        } else if (qs[i].q->mentioned) {
            FACT_SEP();
            sx(r, S_KEY_UNKNOWN, "what", S(r, qs[i].word), NULL, NULL);
        }
    }
    for (size_t i = 0; i < f->n_locations && i < 2; i++) {
        FACT_SEP();
        sb_span(b, r->p, f->locations[i].span);
    }
    for (int g = 0; g < RELIEF_VG_COUNT; g++)
        if (f->vulnerable[g].present) {
            FACT_SEP();
            strbuf_str(b, S(r, S_GROUP_CHILDREN + g));
        }
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        if (f->infra[s].present) {
            FACT_SEP();
            sx(r, S_KEY_INFRA, "system", S(r, S_INFRA_POWER + s), NULL, NULL);
        }
#undef FACT_SEP
    if (b->n == start)
        strbuf_str(b, S(r, S_FACTS_NONE));
    strbuf_str(b, "\n\n");
}

/* The brief: "do now", one action per line with its role and source. */
static void render_brief(rctx *r)
{
    const relief_plan *p = r->p;
    strbuf *b = &r->b;
    if (!p->n_brief)
        return;
    if (r->md)
        strbuf_printf(b, "## %s\n\n", S(r, S_BRIEF));
    else
        strbuf_printf(b, "%s%s%s\n", C(r, BOLD), S(r, S_BRIEF_CAPS), C(r, RESET));
    for (size_t i = 0; i < p->n_brief; i++) {
        const relief_step *s = p->brief[i];
        const char *line = s->short_text ? s->short_text : s->text;
        const char *role = S(r, S_ROLE_COMMAND + s->role);
        if (r->md)
            strbuf_printf(b, "%zu. **%s:** %s (", i + 1, role, line);
        else
            strbuf_printf(b, "%2zu. %s%s:%s %s %s(", i + 1, C(r, CYAN), role, C(r, RESET), line, C(r, DIM));
        sb_agency(b, s->source);
        char n[24];
        snprintf(n, sizeof n, "%d", s->number);
        strbuf_lit(b, ", ");
        sx(r, S_BRIEF_STEP, "n", n, NULL, NULL);
        strbuf_printf(b, ")%s\n", C(r, RESET));
    }
    strbuf_str(b, "\n");
}

static void render_needs(rctx *r)
{
    const relief_plan *p = r->p;
    strbuf *b = &r->b;
    if (!p->n_needs)
        return;
    char people[64], days[24];
    i18n_format_number(people, sizeof people, floor(p->facts.people.value), 0, r->li);
    snprintf(days, sizeof days, "%d", p->days);
    if (r->md) {
        strbuf_lit(b, "## ");
        sx(r, S_NEEDS_HEADING, "people", people, "days", days);
        strbuf_printf(b, "\n\n| %s | %s | %s | %s |\n|---|---|---|---|\n", S(r, S_NEEDS_ITEM), S(r, S_NEEDS_AMOUNT),
                      S(r, S_NEEDS_BASIS), S(r, S_NEEDS_STANDARD));
    } else {
        strbuf_printf(b, "%s== ", C(r, BOLD));
        sx(r, S_NEEDS_HEADING, "people", people, "days", days);
        strbuf_printf(b, " ==%s\n", C(r, RESET));
    }
    for (size_t i = 0; i < p->n_needs; i++) {
        const relief_need *n = &p->needs[i];
        char amt[64];
        fmt_amount(r, amt, sizeof amt, n->amount);
        if (r->md) {
            strbuf_printf(b, "| %s | %s %s | %s | %s |\n", n->label, amt, n->unit, n->basis, n->standard);
        } else {
            /* A label longer than its column gets a line of its own, so
             * that the amounts stay in one column. */
            strbuf_lit(b, "  ");
            if (utf8_chars(n->label) > NEEDS_LABEL_WIDTH) {
                strbuf_str(b, n->label);
                strbuf_lit(b, "\n  ");
                sb_pad(b, "", NEEDS_LABEL_WIDTH);
            } else {
                sb_pad(b, n->label, NEEDS_LABEL_WIDTH);
            }
            strbuf_lit(b, " ");
            sb_pad_left(b, amt, 14);
            strbuf_lit(b, " ");
            sb_pad(b, n->unit, 5);
            strbuf_printf(b, " %s\n", n->basis);
        }
    }
    char size[64];
    i18n_format_number(size, sizeof size, p->household_size, -1, r->li);
    strbuf_printf(b, "%s%s: ", r->md ? "\n" : "  ", S(r, S_NEEDS_ASSUMPTIONS));
    if (p->facts.people_from_households) {
        sx(r, S_NEEDS_FROM_HH, "size", size, NULL, NULL);
        strbuf_lit(b, "; ");
    }
    sx(r, S_NEEDS_HOUSEHOLDS, "size", size, NULL, NULL);
    strbuf_lit(b, "\n\n");
}

/* The first screen (24 lines of a terminal) holds the title, the hazards,
 * the key facts and the brief; notes, needs and (with --full) the phased
 * plan follow. Every phrase comes from the kb's [strings] in the plan's
 * language. */
static char *render_textual(const relief_plan *p, bool md, int flags)
{
    rctx r = {.md = md, .color = !md && (flags & RELIEF_RENDER_COLOR), .explain = flags & RELIEF_RENDER_EXPLAIN,
              .full = flags & RELIEF_RENDER_FULL, .p = p, .kb = p->kb, .li = i18n_lang_index(p->plan_lang)};
    if (r.li < 0)
        r.li = 0;
    strbuf *b = &r.b;
    if (md)
        strbuf_printf(b, "# %s\n\n", S(&r, S_TITLE_MD));
    else
        strbuf_printf(b, "%s%s%s %s\n", C(&r, BOLD), S(&r, S_TITLE), C(&r, RESET), S(&r, S_SUBTITLE));
    render_hazards(&r);
    render_key_facts(&r);
    render_brief(&r);
    for (size_t i = 0; i < p->n_notes; i++)
        strbuf_printf(b, "%s%s%s%s\n", md ? "> " : "", C(&r, YELLOW), p->notes[i], C(&r, RESET));
    if (p->n_notes)
        strbuf_str(b, "\n");
    if (r.full) {
        render_facts(&r);
        render_steps(&r);
    } else if (p->n_steps > p->n_brief) {
        char steps[24], phases[24];
        snprintf(steps, sizeof steps, "%zu", p->n_steps);
        snprintf(phases, sizeof phases, "%d", p->n_steps ? p->steps[p->n_steps - 1].phase + 1 : 0);
        strbuf_str(b, md ? "*" : "");
        sx(&r, S_FULL_MORE, "steps", steps, "phases", phases);
        strbuf_str(b, md ? "*\n\n" : "\n\n");
    }
    render_needs(&r);
    return strbuf_finish(b);
}

/* ---- JSON ----
 * Written directly into the output buffer rather than through a jansson
 * DOM: a plan carries ~100 steps of text, and building then dumping a tree
 * cost ~15x the whole plan computation (bench/bench_guide.c). Only writing
 * is done here; all JSON parsing in relief uses jansson. */

static void jw_int(strbuf *b, long v)
{
    char tmp[24];
    size_t n = 0;
    bool neg = v < 0;
    unsigned long u = neg ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        tmp[sizeof tmp - 1 - n++] = '-';
    strbuf_add(b, tmp + sizeof tmp - n, n);
}

static void jw_cstr(strbuf *b, const char *s)
{
    if (s)
        strbuf_json_str(b, s, strlen(s));
    else
        strbuf_str(b, "null");
}

static void jw_num(strbuf *b, double v)
{
    if (!isfinite(v))
        strbuf_str(b, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        strbuf_printf(b, "%.0f", v);
    else
        strbuf_printf(b, "%.6g", v);
}

static void jw_key(strbuf *b, const char *k, bool *first)
{
    if (!*first)
        strbuf_add(b, ",", 1);
    *first = false;
    strbuf_add(b, "\"", 1);
    strbuf_str(b, k);
    strbuf_add(b, "\":", 2);
}

static void jw_span(strbuf *b, relief_span sp)
{
    strbuf_printf(b, "[%zu,%zu]", sp.start, sp.end);
}

static void jw_qty(strbuf *b, const relief_quantity *q)
{
    if (!q->known && !q->mentioned) {
        strbuf_str(b, "null");
        return;
    }
    strbuf_str(b, "{\"value\":");
    if (q->known)
        jw_num(b, q->value);
    else
        strbuf_str(b, "null");
    strbuf_str(b, ",\"span\":");
    jw_span(b, q->span);
    if (q->vague)
        strbuf_str(b, ",\"vague\":true");
    if (q->high > 0) {
        strbuf_str(b, ",\"high\":");
        jw_num(b, q->high);
    }
    strbuf_str(b, "}");
}

/* The fields every step object ends with (steps and brief). */
/* Optional fields are left out when empty: a plan has ~150 steps and the
 * service sends it with every answer. */
static void jw_step_tail(strbuf *b, const relief_step *s)
{
    if (s->brief_kind >= 0) {
        strbuf_lit(b, ",\"kind\":\"");
        strbuf_str(b, relief_brief_kind_name(s->brief_kind));
        strbuf_lit(b, "\"");
    }
    strbuf_lit(b, ",\"text\":");
    jw_cstr(b, s->text);
    if (s->short_text) {
        strbuf_lit(b, ",\"short\":");
        jw_cstr(b, s->short_text);
    }
    strbuf_lit(b, ",\"source\":");
    jw_cstr(b, s->source);
    strbuf_lit(b, ",\"origin\":");
    jw_cstr(b, s->origin);
    if (s->id) {
        strbuf_lit(b, ",\"id\":");
        jw_cstr(b, s->id);
    }
    if (s->note) {
        strbuf_lit(b, ",\"note\":");
        jw_cstr(b, s->note);
    }
    strbuf_lit(b, "}");
}

static char *render_json(const relief_plan *p)
{
    int li = i18n_lang_index(p->plan_lang);
    if (li < 0)
        li = 0;
    strbuf b = {0};
    strbuf_reserve(&b, 8192 + p->report_len * 2 + (p->n_steps + p->n_brief) * 700 + p->n_needs * 400);
    bool f = true;
    strbuf_lit(&b, "{");
    jw_key(&b, "schema", &f);
    jw_cstr(&b, RELIEF_JSON_SCHEMA_VERSION);
    jw_key(&b, "report", &f);
    strbuf_json_str(&b, p->report, p->report_len);
    jw_key(&b, "language", &f);
    strbuf_lit(&b, "{\"code\":");
    jw_cstr(&b, p->lang);
    strbuf_lit(&b, ",\"method\":");
    jw_cstr(&b, p->lang_hits ? "function words" : "default");
    strbuf_lit(&b, ",\"hits\":");
    jw_int(&b, p->lang_hits);
    strbuf_lit(&b, "}");
    /* The language the plan's texts are in, and why (relief_plan). */
    jw_key(&b, "plan_language", &f);
    strbuf_lit(&b, "{\"code\":");
    jw_cstr(&b, i18n_lang_code(li));
    strbuf_lit(&b, ",\"reason\":");
    jw_cstr(&b, p->plan_lang_reason ? p->plan_lang_reason : "default");
    if (p->plan_lang_wanted) {
        strbuf_lit(&b, ",\"wanted\":");
        jw_cstr(&b, p->plan_lang_wanted);
    }
    strbuf_lit(&b, "}");
    jw_key(&b, "hazards", &f);
    strbuf_lit(&b, "[");
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        bool g = true;
        strbuf_str(&b, i ? ",{" : "{");
        jw_key(&b, "id", &g);
        jw_cstr(&b, relief_hazard_name(d->hazard));
        jw_key(&b, "name", &g);
        jw_cstr(&b, kb_tr(p->kb->hazards[d->hazard].name, p->kb->hazards[d->hazard].name_tr, li));
        jw_key(&b, "confidence", &g);
        jw_num(&b, d->confidence);
        jw_key(&b, "score", &g);
        jw_num(&b, d->score);
        jw_key(&b, "secondary", &g);
        strbuf_str(&b, d->secondary ? "true" : "false");
        jw_key(&b, "cues", &g);
        strbuf_lit(&b, "[");
        for (size_t k = 0; k < d->n_cues; k++) {
            strbuf_str(&b, k ? ",{\"cue\":" : "{\"cue\":");
            jw_cstr(&b, d->cues[k].cue);
            strbuf_lit(&b, ",\"span\":");
            jw_span(&b, d->cues[k].span);
            strbuf_lit(&b, ",\"weight\":");
            jw_num(&b, d->cues[k].weight);
            strbuf_lit(&b, ",\"modifier\":");
            jw_cstr(&b, d->cues[k].modifier);
            strbuf_lit(&b, "}");
        }
        strbuf_lit(&b, "]}");
    }
    strbuf_lit(&b, "]");

    const relief_facts *fa = &p->facts;
    jw_key(&b, "facts", &f);
    bool g = true;
    strbuf_lit(&b, "{");
    static const char *const qnames[] = {"time_available_s", "people", "injured", "dead", "missing", "trapped"};
    const relief_quantity *qs[] = {&fa->time_s, &fa->people, &fa->injured, &fa->dead, &fa->missing, &fa->trapped};
    for (int i = 0; i < 6; i++) {
        jw_key(&b, qnames[i], &g);
        jw_qty(&b, qs[i]);
        if (i == 1) {
            jw_key(&b, "people_from_households", &g);
            strbuf_str(&b, fa->people_from_households ? "true" : "false");
        }
    }
    jw_key(&b, "vulnerable", &g);
    strbuf_lit(&b, "[");
    bool first = true;
    for (int v = 0; v < RELIEF_VG_COUNT; v++) {
        if (!fa->vulnerable[v].present)
            continue;
        strbuf_str(&b, first ? "{\"group\":" : ",{\"group\":");
        first = false;
        jw_cstr(&b, relief_vulnerable_name(v));
        strbuf_lit(&b, ",\"span\":");
        jw_span(&b, fa->vulnerable[v].span);
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "infrastructure", &g);
    strbuf_lit(&b, "[");
    first = true;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++) {
        if (!fa->infra[s].present)
            continue;
        strbuf_str(&b, first ? "{\"system\":" : ",{\"system\":");
        first = false;
        jw_cstr(&b, relief_infra_name(s));
        strbuf_lit(&b, ",\"status\":\"affected\",\"span\":");
        jw_span(&b, fa->infra[s].span);
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "locations", &g);
    strbuf_lit(&b, "[");
    static const char *const kinds[] = {"place", "address", "coordinates"};
    for (size_t i = 0; i < fa->n_locations; i++) {
        const relief_location *l = &fa->locations[i];
        strbuf_str(&b, i ? ",{\"kind\":" : "{\"kind\":");
        jw_cstr(&b, kinds[l->kind]);
        strbuf_lit(&b, ",\"text\":");
        jw_cstr(&b, l->text);
        strbuf_lit(&b, ",\"span\":");
        jw_span(&b, l->span);
        if (l->kind == RELIEF_LOC_COORDS) {
            strbuf_lit(&b, ",\"lat\":");
            jw_num(&b, l->lat);
            strbuf_lit(&b, ",\"lon\":");
            jw_num(&b, l->lon);
        }
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "resources", &g);
    strbuf_lit(&b, "[");
    for (size_t i = 0; i < fa->n_resources; i++) {
        strbuf_str(&b, i ? ",{\"text\":" : "{\"text\":");
        jw_cstr(&b, fa->resources[i].text);
        strbuf_lit(&b, ",\"span\":");
        jw_span(&b, fa->resources[i].span);
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "coastal", &g);
    strbuf_str(&b, fa->coastal.present ? "true" : "false");
    jw_key(&b, "night", &g);
    strbuf_str(&b, fa->night.present ? "true" : "false");
    jw_key(&b, "tags", &g);
    strbuf_lit(&b, "[");
    for (size_t i = 0; i < fa->n_tags; i++) {
        if (i)
            strbuf_lit(&b, ",");
        jw_cstr(&b, fa->tags[i]);
    }
    strbuf_lit(&b, "]");
    strbuf_lit(&b, "}");

    /* The phases' titles once, rather than on every step. */
    jw_key(&b, "phases", &f);
    strbuf_lit(&b, "[");
    for (int ph = 0; ph < RELIEF_PHASE_COUNT; ph++) {
        if (ph)
            strbuf_lit(&b, ",");
        strbuf_lit(&b, "{\"id\":\"");
        strbuf_str(&b, relief_phase_name(ph));
        strbuf_lit(&b, "\",\"title\":");
        jw_cstr(&b, kb_str(p->kb, li, S_PHASE_IMMEDIATE + ph));
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "steps", &f);
    strbuf_lit(&b, "[");
    /* Where each brief step's object lies in the output, to copy it into
     * the brief array rather than escape its text twice. */
    size_t brief_at[16][2];
    size_t n_brief = p->n_brief < 16 ? p->n_brief : 16;
    for (size_t i = 0; i < p->n_steps; i++) {
        const relief_step *s = &p->steps[i];
        if (i)
            strbuf_add(&b, ",", 1);
        size_t start = b.n;
        /* No printf on this path: it runs ~100 times per plan. */
        strbuf_lit(&b, "{\"number\":");
        jw_int(&b, s->number);
        strbuf_lit(&b, ",\"phase\":\"");
        strbuf_str(&b, relief_phase_name(s->phase));
        strbuf_lit(&b, "\",\"role\":\"");
        strbuf_str(&b, relief_role_name(s->role));
        strbuf_lit(&b, "\",\"priority\":");
        jw_int(&b, s->priority);
        jw_step_tail(&b, s);
        for (size_t k = 0; k < n_brief; k++)
            if (p->brief[k] == s) {
                brief_at[k][0] = start;
                brief_at[k][1] = b.n;
            }
    }
    strbuf_lit(&b, "]");
    /* The brief: the same step objects, in the order to act on them. */
    jw_key(&b, "brief", &f);
    strbuf_lit(&b, "[");
    for (size_t k = 0; k < n_brief && !b.failed; k++) {
        if (k)
            strbuf_add(&b, ",", 1);
        size_t len = brief_at[k][1] - brief_at[k][0];
        strbuf_add(&b, "", 0); /* grow first: the copy reads from the buffer itself */
        if (b.n + len + 1 > b.cap) {
            char *tmp = malloc(len);
            if (!tmp) {
                b.failed = true;
                break;
            }
            memcpy(tmp, b.p + brief_at[k][0], len);
            strbuf_add(&b, tmp, len);
            free(tmp);
        } else {
            strbuf_add(&b, b.p + brief_at[k][0], len);
        }
    }
    strbuf_lit(&b, "]");

    bool stated = fa->people.known && fa->people.value >= 1;
    jw_key(&b, "needs", &f);
    strbuf_lit(&b, "{\"people\":");
    if (stated)
        jw_num(&b, floor(fa->people.value));
    else
        strbuf_lit(&b, "null");
    strbuf_printf(&b, ",\"people_stated\":%s,\"days\":%d,\"household_size\":", stated ? "true" : "false", p->days);
    jw_num(&b, p->household_size);
    strbuf_lit(&b, ",\"items\":[");
    for (size_t i = 0; i < p->n_needs; i++) {
        const relief_need *n = &p->needs[i];
        strbuf_str(&b, i ? ",{\"id\":" : "{\"id\":");
        jw_cstr(&b, n->id);
        strbuf_lit(&b, ",\"label\":");
        jw_cstr(&b, n->label);
        strbuf_lit(&b, ",\"amount\":");
        jw_num(&b, n->amount);
        strbuf_lit(&b, ",\"unit\":");
        jw_cstr(&b, n->unit);
        strbuf_lit(&b, ",\"basis\":");
        jw_cstr(&b, n->basis);
        strbuf_lit(&b, ",\"standard\":");
        jw_cstr(&b, n->standard);
        strbuf_lit(&b, ",\"note\":");
        jw_cstr(&b, n->note);
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "]}");
    jw_key(&b, "notes", &f);
    strbuf_lit(&b, "[");
    for (size_t i = 0; i < p->n_notes; i++) {
        if (i)
            strbuf_lit(&b, ",");
        jw_cstr(&b, p->notes[i]);
    }
    strbuf_lit(&b, "]");
    jw_key(&b, "elapsed_us", &f);
    strbuf_printf(&b, "%.1f", p->elapsed_us);
    strbuf_lit(&b, "}");
    return strbuf_finish(&b);
}

char *relief_plan_render(const relief_plan *p, relief_format fmt, int flags)
{
    if (fmt == RELIEF_FMT_JSON)
        return render_json(p);
    return render_textual(p, fmt == RELIEF_FMT_MARKDOWN, flags);
}
