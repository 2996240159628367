/*
 * ics201.c - the ICS 201 Incident Briefing from a plan: the fields are
 * gathered once (ics_form) and written as printable HTML or as JSON. What
 * a plan cannot know (the map, the incident number, names, signatures,
 * order times) is left blank: boxes on the page, null in the JSON.
 */
#include "formats/ics201.h"
#include "formats/text.h"
#include "guide/guide_int.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Caps that keep the form on one page (and the JSON the same form). */
#define MAX_HS 6           /* health and safety lines */
#define MAX_OBJ 8          /* objectives */
#define MAX_NOW 8          /* current actions: the brief */
#define MAX_PLANNED 3      /* planned actions: the next phase's first */
#define MAX_RES 7          /* resource lines */
#define SITUATION_MAX 520  /* bytes of report text in the situation summary */
#define ACTION_MAX 150     /* bytes of one action */
#define AGENCY_MAX 40      /* bytes of a source's agency */

/* ICS positions of block 9 and the plan role each one carries out. */
static const struct {
    const char *title;
    int role; /* relief_role, or -1: the plan assigns nothing to it */
} positions[] = {
    {"Incident Commander", RELIEF_ROLE_COMMAND},
    {"Safety Officer", -1},
    {"Public Information Officer", RELIEF_ROLE_PUBLIC_INFO},
    {"Liaison Officer", -1},
    {"Operations Section Chief", RELIEF_ROLE_OPERATIONS},
    {"Planning Section Chief", RELIEF_ROLE_PLANNING},
    {"Logistics Section Chief", RELIEF_ROLE_LOGISTICS},
    {"Medical Unit Leader", RELIEF_ROLE_MEDICAL},
    {"Finance/Administration Section Chief", -1},
};
#define N_POS (sizeof positions / sizeof *positions)

/* The objective each kind of first-30-minute action serves (block 7). */
static const char *const objectives[RELIEF_BRIEF_COUNT] = {
    [RELIEF_BRIEF_PROTECT] = "Get people out of the hazard's path before it arrives.",
    [RELIEF_BRIEF_LIFESAVE] = "Save the lives at immediate risk.",
    [RELIEF_BRIEF_COMMAND] = "Establish command, a command post and staging on safe ground.",
    [RELIEF_BRIEF_WARN] = "Warn the public and keep them told what to do.",
    [RELIEF_BRIEF_RESCUE] = "Rescue trapped and cut-off people with trained teams only.",
    [RELIEF_BRIEF_MEDICAL] = "Treat the injured and protect people who depend on care or power.",
    [RELIEF_BRIEF_CARE] = "Shelter, feed and look after the people displaced.",
};

typedef struct {
    char when[40];
    bool planned;
    const relief_step *step;
    strbuf text;
} ics_action;

typedef struct {
    strbuf what, amount, notes;
    bool on_hand;
} ics_resource;

typedef struct {
    const relief_plan *p;
    strbuf name;
    char date[16], time[24];
    strbuf situation;
    strbuf hs[MAX_HS];
    size_t n_hs;
    strbuf obj[MAX_OBJ];
    size_t n_obj;
    ics_action act[MAX_NOW + MAX_PLANNED];
    size_t n_act;
    size_t role_steps[RELIEF_ROLE_COUNT];
    ics_resource res[MAX_RES];
    size_t n_res;
    bool failed;
} ics_form;

static void form_free(ics_form *f)
{
    free(f->name.p);
    free(f->situation.p);
    for (size_t i = 0; i < f->n_hs; i++)
        free(f->hs[i].p);
    for (size_t i = 0; i < f->n_obj; i++)
        free(f->obj[i].p);
    for (size_t i = 0; i < f->n_act; i++)
        free(f->act[i].text.p);
    for (size_t i = 0; i < f->n_res; i++) {
        free(f->res[i].what.p);
        free(f->res[i].amount.p);
        free(f->res[i].notes.p);
    }
}

static void clock_at(long long t, const char *fmt, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || strftime(out, cap, fmt, &tm) == 0)
        snprintf(out, cap, "?");
}

static strbuf *hs_line(ics_form *f)
{
    return f->n_hs < MAX_HS ? &f->hs[f->n_hs++] : NULL;
}

static void add_action(ics_form *f, const relief_step *s, long long due, bool planned)
{
    ics_action *a = &f->act[f->n_act++];
    clock_at(due, "by %H:%M", a->when, sizeof a->when);
    a->planned = planned;
    a->step = s;
    const char *t = s->short_text && !planned ? s->short_text : s->text ? s->text : "";
    formats_clean(&a->text, t, strlen(t), ACTION_MAX);
}

static void gather(ics_form *f, const relief_kb *kb, const relief_plan *p, long long now)
{
    f->p = p;
    const relief_facts *fa = &p->facts;
    /* 1. Incident name: the hazards, then the first place. */
    for (size_t i = 0, k = 0; i < p->n_detections && k < 3; i++) {
        if (p->detections[i].secondary)
            continue;
        if (k++)
            strbuf_lit(&f->name, ", ");
        formats_hazard_title(&f->name, kb, p->detections[i].hazard, p->plan_lang);
    }
    for (size_t i = 0; i < fa->n_locations; i++)
        if (fa->locations[i].kind != RELIEF_LOC_COORDS) {
            if (f->name.n)
                strbuf_lit(&f->name, " - ");
            formats_span(&f->name, p, fa->locations[i].span, 80);
            break;
        }
    /* 3. Date and time initiated: when this briefing was prepared. */
    clock_at(now, "%Y-%m-%d", f->date, sizeof f->date);
    clock_at(now, "%H:%M %Z", f->time, sizeof f->time);
    /* 5. Situation: the report as received, then its facts. */
    formats_clean(&f->situation, p->report, p->report_len, SITUATION_MAX);
    strbuf facts = {0};
    formats_facts(&facts, kb, p, p->plan_lang);
    if (facts.n) {
        strbuf_lit(&f->situation, "\n");
        strbuf_add(&f->situation, facts.p, facts.n);
    }
    f->failed |= facts.failed;
    free(facts.p);
    /* Health and safety: the hazards on scene, what the facts make
     * dangerous for responders, and the plan's own notes. */
    strbuf *h = hs_line(f);
    strbuf_lit(h, "Hazards on scene: ");
    size_t before = h->n;
    for (size_t i = 0; i < p->n_detections; i++) {
        if (h->n > before)
            strbuf_lit(h, ", ");
        formats_hazard_title(h, kb, p->detections[i].hazard, p->plan_lang);
        if (p->detections[i].secondary)
            strbuf_lit(h, " (to expect)");
    }
    if (h->n == before)
        strbuf_lit(h, "none recognised in the report");
    strbuf_lit(h, ".");
    if (fa->time_s.known && (h = hs_line(f))) {
        strbuf_lit(h, "Time before impact: ");
        formats_duration(h, kb, fa->time_s.value, p->plan_lang);
        strbuf_lit(h, "; keep escape routes and a lookout.");
    }
    bool down = false;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        down |= fa->infra[s].present;
    if (down && (h = hs_line(f))) {
        strbuf_lit(h, "Systems affected: ");
        const char *sep = "";
        for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
            if (fa->infra[s].present) {
                strbuf_printf(h, "%s%s", sep, relief_infra_name(s));
                sep = ", ";
            }
        strbuf_lit(h, ".");
    }
    if (fa->night.present && (h = hs_line(f)))
        strbuf_lit(h, "Work at night: lighting and accountability of every crew.");
    for (size_t i = 0; i < p->n_notes && (h = hs_line(f)); i++)
        formats_clean(h, p->notes[i], strlen(p->notes[i]), 300);
    /* 7. Objectives: one for each kind of action in the brief, in order,
     * and the needs to meet. */
    bool kind_seen[RELIEF_BRIEF_COUNT] = {0};
    for (size_t i = 0; i < p->n_brief; i++) {
        int k = p->brief[i]->brief_kind;
        if (k < 0 || k >= RELIEF_BRIEF_COUNT || kind_seen[k] || f->n_obj >= MAX_OBJ)
            continue;
        kind_seen[k] = true;
        strbuf_str(&f->obj[f->n_obj++], objectives[k]);
    }
    if (p->n_needs && fa->people.known && f->n_obj < MAX_OBJ) {
        strbuf *o = &f->obj[f->n_obj++];
        strbuf_lit(o, "Meet minimum needs of ");
        formats_amount(o, fa->people.value, p->plan_lang);
        strbuf_printf(o, " people for %d days (water, food, shelter, sanitation).", p->days);
    }
    /* 8. Actions: the brief now (within 30 minutes), then the most urgent
     * steps of the next phase (within 2 hours). */
    for (size_t i = 0; i < p->n_brief && i < MAX_NOW; i++)
        add_action(f, p->brief[i], now + 30 * 60, false);
    size_t planned = 0;
    for (size_t i = 0; i < p->n_steps && planned < MAX_PLANNED; i++) {
        const relief_step *s = &p->steps[i];
        if (s->phase != RELIEF_PHASE_2H || s->priority > 2 || s->role == RELIEF_ROLE_PUBLIC)
            continue;
        add_action(f, s, now + 2 * 3600, true);
        planned++;
    }
    /* 9. Organization: the roles the plan gives actions to. */
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].role >= 0 && p->steps[i].role < RELIEF_ROLE_COUNT)
            f->role_steps[p->steps[i].role]++;
    /* 10. Resources: what the report says is on hand, then the needs. */
    for (size_t i = 0; i < fa->n_resources && f->n_res < MAX_RES; i++) {
        ics_resource *r = &f->res[f->n_res++];
        formats_span(&r->what, p, fa->resources[i].span, 80);
        r->on_hand = true;
        strbuf_lit(&r->notes, "on hand (report)");
    }
    for (size_t i = 0; i < p->n_needs && f->n_res < MAX_RES; i++) {
        const relief_need *n = &p->needs[i];
        ics_resource *r = &f->res[f->n_res++];
        /* The label up to its parenthesis: "Water, all domestic uses". */
        const char *paren = strstr(n->label, " (");
        formats_clean(&r->what, n->label, paren ? (size_t)(paren - n->label) : strlen(n->label), 44);
        formats_amount(&r->amount, n->amount, p->plan_lang);
        if (n->unit && *n->unit)
            strbuf_printf(&r->amount, " %s", n->unit);
        formats_clean(&r->notes, n->basis, strlen(n->basis), 40);
    }
}

/* True when any strbuf of the form failed to grow. */
static bool form_failed(const ics_form *f)
{
    bool bad = f->failed || f->name.failed || f->situation.failed;
    for (size_t i = 0; i < f->n_hs; i++)
        bad |= f->hs[i].failed;
    for (size_t i = 0; i < f->n_obj; i++)
        bad |= f->obj[i].failed;
    for (size_t i = 0; i < f->n_act; i++)
        bad |= f->act[i].text.failed;
    for (size_t i = 0; i < f->n_res; i++)
        bad |= f->res[i].what.failed || f->res[i].amount.failed || f->res[i].notes.failed;
    return bad;
}

static const char *sb_s(const strbuf *b)
{
    return b->p ? b->p : "";
}

/* ---- HTML ---- */

/* One page of A4 (210 x 297 mm) or Letter (216 x 279 mm): the content is
 * laid out for the narrower width and the shorter height of both, less the
 * margins; the caps above keep a plan's text within it (the print test
 * checks a report that fills every block). Nothing is clipped: text that
 * did not fit would show on a second sheet, not vanish. */
static const char css[] =
    "@page{margin:10mm}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:7.4pt/1.2 'DejaVu Sans',Arial,sans-serif;color:#000;background:#fff}"
    ".page{width:190mm;margin:0 auto;display:flex;flex-direction:column;gap:1.4mm}"
    "@media screen{body{background:#ddd}.page{background:#fff;padding:6mm;min-height:257mm;"
    "width:202mm;margin:4mm auto;box-shadow:0 0 3mm #888}}"
    "header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:.6mm solid #000}"
    "h1{font-size:13pt;margin:0}h2{font-size:8pt;margin:0 0 .8mm;background:#eee;padding:.4mm 1mm}"
    ".draft{font-size:7pt}"
    "section{border:.3mm solid #000;padding:1mm}"
    ".grid{display:grid;grid-template-columns:1fr 1fr;gap:1.4mm}.grid.low{grid-template-columns:33fr 57fr}"
    ".top{display:grid;grid-template-columns:2fr 1fr 1.4fr;gap:1.6mm}"
    ".l{font-weight:bold}"
    ".hand{display:inline-block;min-width:24mm;border-bottom:.3mm solid #000;height:4mm;vertical-align:bottom}"
    ".box{border:.3mm dashed #555;flex:1;min-height:32mm}"
    "ol.two{columns:2;column-gap:6mm}"
    ".map{display:flex;flex-direction:column}"
    "p{margin:0 0 .8mm;white-space:pre-line}ul,ol{margin:0;padding-left:4.5mm}li{margin:0 0 .4mm}"
    "table{border-collapse:collapse;width:100%}th,td{border:.2mm solid #000;padding:.4mm .8mm;text-align:left;"
    "vertical-align:top}th{background:#eee;font-size:7pt}"
    "td.blank{min-width:9mm}td.n{white-space:nowrap}.src{color:#444;font-size:6.5pt}"
    "footer{border:.3mm solid #000;padding:1mm;display:flex;gap:2mm;white-space:nowrap}";

static void esc(strbuf *b, const char *s)
{
    formats_html(b, s ? s : "");
}

char *ics201_html(const relief_kb *kb, const relief_plan *p, long long now)
{
    if (!p)
        return NULL;
    if (!now)
        now = (long long)time(NULL);
    ics_form f = {0};
    gather(&f, kb, p, now);
    strbuf b = {0};
    strbuf_lit(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>ICS 201 Incident Briefing");
    if (f.name.n) {
        strbuf_lit(&b, " - ");
        esc(&b, sb_s(&f.name));
    }
    strbuf_lit(&b, "</title><style>");
    strbuf_add(&b, css, sizeof css - 1);
    strbuf_lit(&b, "</style></head>\n<body><main class=\"page\">\n"
                   "<header><h1>INCIDENT BRIEFING (ICS 201)</h1><span class=\"draft\">Draft filled by relief "
                   "from a field report: check it, then complete the blank boxes by hand.</span></header>\n");
    /* Blocks 1-3. */
    strbuf_lit(&b, "<div class=\"top\"><section><span class=\"l\">1. Incident Name:</span> ");
    if (f.name.n)
        esc(&b, sb_s(&f.name));
    else
        strbuf_lit(&b, "<span class=\"hand\"></span>");
    strbuf_lit(&b, "</section><section><span class=\"l\">2. Incident Number:</span> <span class=\"hand\"></span>"
                   "</section><section><span class=\"l\">3. Date/Time Initiated:</span> Date: ");
    esc(&b, f.date);
    strbuf_lit(&b, " Time: ");
    esc(&b, f.time);
    strbuf_lit(&b, "</section></div>\n");
    /* Blocks 4 and 5. */
    strbuf_lit(&b, "<div class=\"grid\"><section class=\"map\"><h2>4. Map/Sketch</h2>"
                   "<div class=\"box\" aria-label=\"blank for a sketch\"></div></section>\n"
                   "<section><h2>5. Situation Summary and Health and Safety Briefing</h2><p>");
    esc(&b, sb_s(&f.situation));
    strbuf_lit(&b, "</p><ul>");
    for (size_t i = 0; i < f.n_hs; i++) {
        strbuf_lit(&b, "<li>");
        esc(&b, sb_s(&f.hs[i]));
        strbuf_lit(&b, "</li>");
    }
    strbuf_lit(&b, "</ul></section></div>\n");
    /* Block 7. */
    strbuf_lit(&b, "<section><h2>7. Current and Planned Objectives</h2><ol class=\"two\">");
    for (size_t i = 0; i < f.n_obj; i++) {
        strbuf_lit(&b, "<li>");
        esc(&b, sb_s(&f.obj[i]));
        strbuf_lit(&b, "</li>");
    }
    if (!f.n_obj)
        strbuf_lit(&b, "<li><span class=\"hand\"></span></li>");
    strbuf_lit(&b, "</ol></section>\n");
    /* Block 8. */
    strbuf_lit(&b, "<section><h2>8. Current and Planned Actions, Strategies, and Tactics</h2><table>"
                   "<tr><th style=\"width:17mm\">Time</th><th style=\"width:26mm\">Role</th><th>Actions</th></tr>");
    for (size_t i = 0; i < f.n_act; i++) {
        const ics_action *a = &f.act[i];
        strbuf_lit(&b, "<tr><td>");
        esc(&b, a->when);
        strbuf_str(&b, a->planned ? " (planned)" : "");
        strbuf_lit(&b, "</td><td>");
        esc(&b, relief_role_title(a->step->role));
        strbuf_lit(&b, "</td><td>");
        esc(&b, sb_s(&a->text));
        strbuf_lit(&b, " <span class=\"src\">(");
        strbuf agency = {0};
        formats_agency(&agency, a->step->source, AGENCY_MAX);
        esc(&b, sb_s(&agency));
        b.failed |= agency.failed;
        free(agency.p);
        strbuf_printf(&b, ", step %d)</span></td></tr>", a->step->number);
    }
    for (size_t i = f.n_act; i < 3; i++) /* rows to write in when the plan has none */
        strbuf_lit(&b, "<tr><td class=\"blank\">&nbsp;</td><td></td><td></td></tr>");
    strbuf_lit(&b, "</table></section>\n");
    /* Blocks 9 and 10. */
    strbuf_lit(&b, "<div class=\"grid low\"><section><h2>9. Current Organization</h2><table>"
                   "<tr><th>Position</th><th style=\"width:36%\">Name</th><th style=\"width:15%\">Plan actions</th></tr>");
    for (size_t i = 0; i < N_POS; i++) {
        strbuf_lit(&b, "<tr><td>");
        esc(&b, positions[i].title);
        strbuf_lit(&b, "</td><td class=\"blank\"></td><td>");
        if (positions[i].role >= 0 && f.role_steps[positions[i].role])
            strbuf_printf(&b, "%zu", f.role_steps[positions[i].role]);
        strbuf_lit(&b, "</td></tr>");
    }
    strbuf_lit(&b, "</table></section>\n<section><h2>10. Resource Summary</h2><table><tr><th>Resource</th>"
                   "<th>Amount</th><th>Identifier</th><th>Ordered</th><th>ETA</th><th>Arrived</th><th>Notes</th></tr>");
    for (size_t i = 0; i < f.n_res; i++) {
        const ics_resource *r = &f.res[i];
        strbuf_lit(&b, "<tr><td>");
        esc(&b, sb_s(&r->what));
        strbuf_lit(&b, "</td><td class=\"n\">");
        esc(&b, sb_s(&r->amount));
        strbuf_lit(&b, "</td><td class=\"blank\"></td><td class=\"blank\"></td><td class=\"blank\"></td><td>");
        strbuf_str(&b, r->on_hand ? "yes" : "");
        strbuf_lit(&b, "</td><td>");
        esc(&b, sb_s(&r->notes));
        strbuf_lit(&b, "</td></tr>");
    }
    for (size_t i = f.n_res; i < 3; i++)
        strbuf_lit(&b, "<tr><td>&nbsp;</td><td></td><td></td><td></td><td></td><td></td><td></td></tr>");
    strbuf_lit(&b, "</table></section></div>\n");
    /* Block 6 closes the page, as on the form's first sheet. */
    strbuf_lit(&b, "<footer><span class=\"l\">6. Prepared by:</span> Name: <span class=\"hand\"></span> "
                   "Position/Title: <span class=\"hand\"></span> Signature: <span class=\"hand\"></span> "
                   "Date/Time: <span class=\"hand\"></span></footer>\n</main></body></html>\n");
    if (form_failed(&f))
        b.failed = true;
    form_free(&f);
    return strbuf_finish(&b);
}

/* ---- JSON ---- */

static void js(strbuf *b, const strbuf *s)
{
    if (s->n)
        strbuf_json_str(b, s->p, s->n);
    else
        strbuf_lit(b, "null");
}

char *ics201_json(const relief_kb *kb, const relief_plan *p, long long now)
{
    if (!p)
        return NULL;
    if (!now)
        now = (long long)time(NULL);
    ics_form f = {0};
    gather(&f, kb, p, now);
    strbuf b = {0};
    strbuf_lit(&b, "{\"schema\":\"" ICS201_JSON_SCHEMA "\",\"form\":\"ICS 201\",\"incident_name\":");
    js(&b, &f.name);
    strbuf_lit(&b, ",\"incident_number\":null,\"initiated\":{\"date\":");
    strbuf_json_cstr(&b, f.date);
    strbuf_lit(&b, ",\"time\":");
    strbuf_json_cstr(&b, f.time);
    strbuf_lit(&b, "},\"map_sketch\":null,\"situation_summary\":");
    js(&b, &f.situation);
    strbuf_lit(&b, ",\"health_and_safety\":[");
    for (size_t i = 0; i < f.n_hs; i++) {
        if (i)
            strbuf_lit(&b, ",");
        js(&b, &f.hs[i]);
    }
    strbuf_lit(&b, "],\"objectives\":[");
    for (size_t i = 0; i < f.n_obj; i++) {
        if (i)
            strbuf_lit(&b, ",");
        js(&b, &f.obj[i]);
    }
    strbuf_lit(&b, "],\"actions\":[");
    for (size_t i = 0; i < f.n_act; i++) {
        const ics_action *a = &f.act[i];
        strbuf_str(&b, i ? ",{\"time\":" : "{\"time\":");
        strbuf_json_cstr(&b, a->when);
        strbuf_printf(&b, ",\"planned\":%s,\"phase\":\"%s\",\"role\":\"%s\",\"step\":%d,\"text\":",
                      a->planned ? "true" : "false", relief_phase_name(a->step->phase),
                      relief_role_name(a->step->role), a->step->number);
        js(&b, &a->text);
        strbuf_lit(&b, ",\"source\":");
        strbuf_json_cstr(&b, a->step->source);
        strbuf_lit(&b, "}");
    }
    strbuf_lit(&b, "],\"organization\":[");
    for (size_t i = 0; i < N_POS; i++) {
        strbuf_str(&b, i ? ",{\"position\":" : "{\"position\":");
        strbuf_json_cstr(&b, positions[i].title);
        strbuf_lit(&b, ",\"role\":");
        strbuf_json_cstr(&b, positions[i].role >= 0 ? relief_role_name(positions[i].role) : NULL);
        strbuf_printf(&b, ",\"plan_actions\":%zu,\"name\":null}",
                      positions[i].role >= 0 ? f.role_steps[positions[i].role] : 0);
    }
    strbuf_lit(&b, "],\"resources\":[");
    for (size_t i = 0; i < f.n_res; i++) {
        const ics_resource *r = &f.res[i];
        strbuf_str(&b, i ? ",{\"resource\":" : "{\"resource\":");
        js(&b, &r->what);
        strbuf_lit(&b, ",\"amount\":");
        js(&b, &r->amount);
        strbuf_printf(&b, ",\"on_hand\":%s,\"notes\":", r->on_hand ? "true" : "false");
        js(&b, &r->notes);
        strbuf_lit(&b, ",\"identifier\":null,\"ordered\":null,\"eta\":null,\"arrived\":null}");
    }
    strbuf_lit(&b, "],\"prepared_by\":{\"name\":null,\"position\":null,\"signature\":null,\"date_time\":null}}");
    if (form_failed(&f))
        b.failed = true;
    form_free(&f);
    return strbuf_finish(&b);
}
