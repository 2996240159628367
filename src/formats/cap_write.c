/*
 * cap_write.c - a CAP 1.2 alert draft for the public-information part of a
 * plan, built as a libxml2 tree (so every text is escaped by the library,
 * never pasted into markup) and serialised as UTF-8. Field mapping:
 * docs/formats.md.
 */
#include "formats/cap.h"
#include "formats/text.h"
#include "guide/guide_int.h"

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADLINE_MAX 160     /* CAP 1.2: a headline SHOULD be under 160 characters */
#define DESCRIPTION_MAX 8000 /* report text carried into the description (bytes) */
#define INSTRUCTION_STEPS 6  /* public actions in the instruction */

static const char *const statuses[] = {"Actual", "Exercise", "System", "Test", "Draft"};

const char *cap_status_name(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (!strcasecmp(name, statuses[i]))
            return statuses[i];
    return NULL;
}

bool cap_token_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ',' || c == '<' || c == '&')
            return false;
    }
    return true;
}

/* A URI for <web>: printable ASCII without spaces, quotes or angle brackets
 * (what xs:anyURI and every consumer accept). */
static bool uri_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 2048)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\')
            return false;
    }
    return true;
}

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* CAP 1.2 dateTime in UTC: CAP forbids "Z" and writes UTC as "-00:00". */
static void cap_time(long long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%S-00:00", &tm) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00-00:00");
}

/* FNV-1a, 64 bits: the report's fingerprint in the identifier. */
static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The tree being built; `failed` sticks on the first allocation failure. */
typedef struct {
    xmlNsPtr ns;
    bool failed;
} builder;

static xmlNodePtr child(builder *bd, xmlNodePtr parent, const char *name, const char *text)
{
    if (bd->failed)
        return NULL;
    xmlNodePtr n = xmlNewTextChild(parent, bd->ns, BAD_CAST name, text ? BAD_CAST text : NULL);
    if (!n)
        bd->failed = true;
    return n;
}

/* A child whose text is a strbuf's (consumed). */
static void child_sb(builder *bd, xmlNodePtr parent, const char *name, strbuf *b)
{
    if (b->failed)
        bd->failed = true;
    else
        child(bd, parent, name, b->p ? b->p : "");
    free(b->p);
    *b = (strbuf){0};
}

static bool is_primary(const relief_detection *d)
{
    return !d->secondary && d->hazard >= 0 && d->hazard < RELIEF_HZ_COUNT;
}

/* The places and addresses of the report, "; " between them. */
static void area_desc(strbuf *b, const relief_plan *p)
{
    size_t start = b->n;
    for (size_t i = 0; i < p->facts.n_locations; i++) {
        const relief_location *l = &p->facts.locations[i];
        if (l->kind == RELIEF_LOC_COORDS)
            continue;
        if (b->n > start)
            strbuf_lit(b, "; ");
        formats_span(b, p, l->span, 200);
    }
}

/* The public's actions: the brief's steps for the public first, in the
 * order to act, then the first phase's other steps for the public. */
static void instruction(strbuf *b, const relief_plan *p)
{
    const relief_step *picked[INSTRUCTION_STEPS];
    size_t n = 0;
    for (size_t i = 0; i < p->n_brief && n < INSTRUCTION_STEPS; i++)
        if (p->brief[i]->role == RELIEF_ROLE_PUBLIC)
            picked[n++] = p->brief[i];
    for (size_t i = 0; i < p->n_steps && n < INSTRUCTION_STEPS; i++) {
        const relief_step *s = &p->steps[i];
        if (s->phase != RELIEF_PHASE_IMMEDIATE || s->role != RELIEF_ROLE_PUBLIC)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= picked[k] == s;
        if (!dup)
            picked[n++] = s;
    }
    for (size_t k = 0; k < n; k++) {
        if (k)
            strbuf_lit(b, "\n");
        const char *t = picked[k]->text ? picked[k]->text : "";
        formats_clean(b, t, strlen(t), 1000);
    }
}

static void write_info(builder *bd, xmlNodePtr alert, const relief_kb *kb, const cap_info_plan *ip, long long sent,
                       const char *web, const char *contact)
{
    const relief_plan *p = ip->plan;
    cap_assessment as;
    cap_assess(kb, p, &as);
    xmlNodePtr info = child(bd, alert, "info", NULL);
    if (!info)
        return;
    child(bd, info, "language", ip->lang);
    for (size_t i = 0; i < as.n_categories; i++)
        child(bd, info, "category", as.categories[i]);

    strbuf ev = {0};
    for (size_t i = 0; i < p->n_detections; i++) {
        if (!is_primary(&p->detections[i]))
            continue;
        if (ev.n)
            strbuf_lit(&ev, ", ");
        formats_hazard_title(&ev, kb, p->detections[i].hazard, ip->lang);
    }
    if (!ev.n)
        strbuf_lit(&ev, "Unclassified emergency report");
    strbuf headline = {0};
    formats_clean(&headline, ev.p ? ev.p : "", ev.n, HEADLINE_MAX);
    child_sb(bd, info, "event", &ev);

    if (as.evacuate)
        child(bd, info, "responseType", "Evacuate");
    child(bd, info, "urgency", as.urgency);
    child(bd, info, "severity", as.severity);
    child(bd, info, "certainty", as.certainty);
    if (p->facts.time_s.known && p->facts.time_s.value > 0 && p->facts.time_s.value < 366.0 * 86400) {
        char t[32];
        cap_time(sent + (long long)p->facts.time_s.value, t);
        child(bd, info, "onset", t);
    }
    child(bd, info, "senderName", "relief (draft from a field report)");

    /* Headline: the events, then where, within 160 bytes. */
    strbuf where = {0};
    area_desc(&where, p);
    if (where.n && headline.n + 3 < HEADLINE_MAX) {
        strbuf_lit(&headline, " - ");
        formats_clean(&headline, where.p, where.n, HEADLINE_MAX - headline.n);
    }
    child_sb(bd, info, "headline", &headline);

    strbuf desc = {0};
    formats_clean(&desc, p->report, p->report_len, DESCRIPTION_MAX);
    strbuf facts = {0};
    formats_facts(&facts, kb, p, ip->lang);
    if (facts.n) {
        strbuf_lit(&desc, "\n\n");
        strbuf_add(&desc, facts.p, facts.n);
    }
    if (facts.failed)
        desc.failed = true;
    free(facts.p);
    child_sb(bd, info, "description", &desc);

    strbuf ins = {0};
    instruction(&ins, p);
    if (ins.n || ins.failed)
        child_sb(bd, info, "instruction", &ins);
    else
        free(ins.p);
    if (web)
        child(bd, info, "web", web);
    if (contact) {
        strbuf c = {0};
        formats_clean(&c, contact, strlen(contact), 500);
        child_sb(bd, info, "contact", &c);
    }

    xmlNodePtr area = child(bd, info, "area", NULL);
    if (!area) {
        free(where.p);
        return;
    }
    if (where.n)
        child_sb(bd, area, "areaDesc", &where);
    else {
        free(where.p);
        child(bd, area, "areaDesc", "Not stated in the report");
    }
    /* A point for each pair of coordinates: "lat,lon radius" with radius 0,
     * as the report states no extent. */
    for (size_t i = 0; i < p->facts.n_locations; i++) {
        const relief_location *l = &p->facts.locations[i];
        if (l->kind != RELIEF_LOC_COORDS || !(l->lat >= -90 && l->lat <= 90) || !(l->lon >= -180 && l->lon <= 180))
            continue;
        char c[64];
        snprintf(c, sizeof c, "%.5f,%.5f 0", l->lat, l->lon);
        child(bd, area, "circle", c);
    }
}

/* Option or environment variable; "" counts as unset. */
static const char *opt_env(const char *opt, const char *env)
{
    if (opt && *opt)
        return opt;
    const char *e = getenv(env);
    return e && *e ? e : NULL;
}

char *cap_write(const relief_kb *kb, const cap_info_plan *infos, size_t n, const cap_write_options *o, char *err,
                size_t cap)
{
    static const cap_write_options none = {0};
    if (!o)
        o = &none;
    if (!infos || n == 0 || !infos[0].plan) {
        set_err(err, cap, "no plan to write");
        return NULL;
    }
    const char *status = o->status ? cap_status_name(o->status) : "Draft";
    if (!status) {
        set_err(err, cap, "CAP status '%.40s' is not one of actual, exercise, system, test, draft", o->status);
        return NULL;
    }
    const char *sender = opt_env(o->sender, "RELIEF_CAP_SENDER");
    if (!sender)
        sender = CAP_DEFAULT_SENDER;
    if (!cap_token_ok(sender)) {
        set_err(err, cap, "CAP sender must be 1 to 255 printable ASCII characters without spaces, commas, '<' or '&'");
        return NULL;
    }
    const char *web = opt_env(o->web, "RELIEF_CAP_WEB");
    if (web && !uri_ok(web)) {
        set_err(err, cap, "CAP web address must be a URI (printable ASCII, no spaces, quotes or angle brackets)");
        return NULL;
    }
    const char *contact = opt_env(o->contact, "RELIEF_CAP_CONTACT");
    long long now = o->now ? o->now : (long long)time(NULL);

    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr alert = doc ? xmlNewNode(NULL, BAD_CAST "alert") : NULL;
    builder bd = {0};
    if (!alert) {
        xmlFreeDoc(doc);
        set_err(err, cap, "out of memory");
        return NULL;
    }
    xmlDocSetRootElement(doc, alert);
    bd.ns = xmlNewNs(alert, BAD_CAST CAP_NS, NULL);
    if (!bd.ns)
        bd.failed = true;
    else
        xmlSetNs(alert, bd.ns);

    const relief_plan *first = infos[0].plan;
    char sent[32], id[96];
    cap_time(now, sent);
    time_t tt = (time_t)now;
    struct tm tm;
    char stamp[24] = "19700101T000000Z";
    if (gmtime_r(&tt, &tm))
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(id, sizeof id, "relief-%s-%016llx", stamp,
             (unsigned long long)fnv1a(first->report ? first->report : "", first->report ? first->report_len : 0));
    child(&bd, alert, "identifier", id);
    child(&bd, alert, "sender", sender);
    child(&bd, alert, "sent", sent);
    child(&bd, alert, "status", status);
    child(&bd, alert, "msgType", "Alert");
    child(&bd, alert, "scope", "Public");
    child(&bd, alert, "note",
          "Draft written by relief from a field report: check every field before issuing it.");
    for (size_t i = 0; i < n; i++)
        if (infos[i].plan)
            write_info(&bd, alert, kb, &infos[i], now, web, contact);

    xmlChar *mem = NULL;
    int size = 0;
    if (!bd.failed)
        xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    xmlFreeDoc(doc);
    char *out = mem && size > 0 ? malloc((size_t)size + 1) : NULL;
    if (out) {
        memcpy(out, mem, (size_t)size);
        out[size] = '\0';
    } else {
        set_err(err, cap, "out of memory");
    }
    xmlFree(mem);
    return out;
}
