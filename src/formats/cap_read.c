/*
 * cap_read.c - a CAP alert (1.2, or 1.1 which has the same fields) read as
 * a report. Every alert is hostile input: it is size-checked before
 * parsing; must be UTF-8 without NUL bytes (so that the DOCTYPE check below
 * sees every byte); may carry no DOCTYPE or entity declaration at all (no
 * DTD is loaded, no entity is expanded: no XML_PARSE_NOENT, DTDLOAD or
 * DTDATTR); is parsed with the network off (XML_PARSE_NONET) and libxml2's
 * own limits on (no XML_PARSE_HUGE); and its element depth is checked
 * before any field is read. Field mapping: docs/formats.md.
 */
#include "formats/cap.h"
#include "formats/text.h"
#include "util/strbuf.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP11_NS "urn:oasis:names:tc:emergency:cap:1.1"
#define FIELD_MAX 16000 /* bytes taken from one field */

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

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int cap_parse_time(const char *s, long long *out)
{
    if (!s)
        return -1;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
        return -1;
    const char *z = s + 19;
    if (*z == '.') /* fractional seconds: not in CAP's pattern, but common */
        while (*++z >= '0' && *z <= '9')
            ;
    long long off = 0;
    if (*z == 'Z') {
        z++;
    } else if (*z == '+' || *z == '-') {
        int oh = digits(z + 1, 2), om = z[3] == ':' ? digits(z + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 3600LL + om * 60LL) * (*z == '-' ? -1 : 1);
        z += 6;
    } else {
        return -1;
    }
    while (*z == ' ' || *z == '\t' || *z == '\n' || *z == '\r')
        z++;
    if (*z)
        return -1;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL + mi * 60LL + se - off;
    return 0;
}

/* Whether the n bytes at s hold needle (memmem is a GNU extension). */
static bool holds(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (const char *p = s; k <= n - (size_t)(p - s);) {
        const char *q = memchr(p, needle[0], n - (size_t)(p - s) - k + 1);
        if (!q)
            return false;
        if (!memcmp(q, needle, k))
            return true;
        p = q + 1;
    }
    return false;
}

/* libxml2 wants one initialisation before threads use it (relief serve
 * reads alerts on many). */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
    xmlInitParser();
}

static bool is_cap(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           (!strcmp((const char *)n->ns->href, CAP_NS) || !strcmp((const char *)n->ns->href, CAP11_NS)) &&
           !strcmp((const char *)n->name, name);
}

static xmlNodePtr first_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (is_cap(c, name))
            return c;
    return NULL;
}

/* The text of an element (malloc'd by libxml2, xmlFree), or NULL. */
static xmlChar *text_of(xmlNodePtr n)
{
    return n ? xmlNodeGetContent(n) : NULL;
}

/* Deepest element nesting, without recursion. */
static int max_depth(xmlNodePtr root)
{
    int depth = 1, best = 1;
    xmlNodePtr n = root;
    while (n) {
        xmlNodePtr c = n->children;
        while (c && c->type != XML_ELEMENT_NODE)
            c = c->next;
        if (c) {
            n = c;
            if (++depth > best)
                best = depth;
            continue;
        }
        /* Up until a next element sibling is found. */
        while (n && n != root) {
            xmlNodePtr s = n->next;
            while (s && s->type != XML_ELEMENT_NODE)
                s = s->next;
            if (s) {
                n = s;
                break;
            }
            n = n->parent;
            depth--;
        }
        if (n == root)
            break;
    }
    return best;
}

/* Appends an element's text as one paragraph ("TEXT.\n"), cleaned. */
static void add_field(strbuf *b, xmlNodePtr n, const char *before)
{
    xmlChar *t = text_of(n);
    if (!t)
        return;
    const char *s = (const char *)t;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    while (len && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
        s++, len--;
    if (len) {
        strbuf_str(b, before);
        formats_clean(b, s, len, FIELD_MAX);
        if (strchr(".!?", s[len - 1]) == NULL)
            strbuf_lit(b, ".");
        strbuf_lit(b, "\n");
    }
    xmlFree(t);
}

static bool field_time(xmlNodePtr parent, const char *name, long long *t)
{
    xmlChar *s = text_of(first_child(parent, name));
    bool ok = s && cap_parse_time((const char *)s, t) == 0;
    xmlFree(s);
    return ok;
}

void cap_report_free(cap_report *r)
{
    if (!r)
        return;
    free(r->report);
    memset(r, 0, sizeof *r);
    r->time_s = -1;
}

int cap_read(const char *xml, size_t len, cap_report *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->time_s = -1;
    if (!xml || len == 0) {
        set_err(err, cap, "the CAP alert is empty");
        return -1;
    }
    if (len > CAP_MAX_BYTES) {
        set_err(err, cap, "the CAP alert is larger than %u KiB", CAP_MAX_BYTES >> 10);
        return -1;
    }
    if (memchr(xml, '\0', len)) {
        set_err(err, cap, "the CAP alert holds NUL bytes (it must be UTF-8 XML)");
        return -1;
    }
    /* CAP has no DTD: a DOCTYPE or entity declaration can only be an
     * attempt at entity expansion or external fetches. */
    static const char *const refused[] = {"<!DOCTYPE", "<!ENTITY"};
    for (size_t i = 0; i < 2; i++)
        if (holds(xml, len, refused[i])) {
            set_err(err, cap, "the CAP alert has a %s declaration (DTDs and entities are not accepted)",
                    refused[i] + 2);
            return -1;
        }
    pthread_once(&xml_once, xml_init);
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    xmlDocPtr doc = xmlCtxtReadMemory(ctx, xml, (int)len, "alert.xml", "UTF-8", opts);
    if (!doc) {
        const xmlError *e = &ctx->lastError;
        char msg[160] = "";
        if (e->message) {
            snprintf(msg, sizeof msg, "%s", e->message);
            size_t m = strlen(msg);
            while (m && (msg[m - 1] == '\n' || msg[m - 1] == ' '))
                msg[--m] = '\0';
            for (size_t i = 0; i < m; i++) /* the message quotes input: keep it one printable line */
                if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
                    msg[i] = ' ';
        }
        set_err(err, cap, "the CAP alert is not well-formed XML (line %d): %s", e->line, *msg ? msg : "parse error");
        xmlFreeParserCtxt(ctx);
        return -1;
    }
    xmlFreeParserCtxt(ctx);
    int rc = -1;
    strbuf b = {0};
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        set_err(err, cap, "the CAP alert has a DTD (not accepted)");
        goto done;
    }
    if (!root) {
        set_err(err, cap, "the CAP alert has no root element");
        goto done;
    }
    if (max_depth(root) > CAP_MAX_DEPTH) {
        set_err(err, cap, "the CAP alert nests elements more than %d deep", CAP_MAX_DEPTH);
        goto done;
    }
    if (!is_cap(root, "alert")) {
        char name[64];
        snprintf(name, sizeof name, "%s", root->name ? (const char *)root->name : "?");
        for (char *c = name; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        set_err(err, cap, "the root element is <%s>%s, not a CAP 1.2 <alert> (namespace %s)", name,
                root->ns ? " in another namespace" : " without a namespace", CAP_NS);
        goto done;
    }
    xmlNodePtr info1 = first_child(root, "info");
    if (!info1) {
        set_err(err, cap, "the CAP alert has no <info> block (nothing to plan from)");
        goto done;
    }
    /* Info blocks in the first block's language: other languages repeat
     * the same alert. */
    xmlChar *lang1 = text_of(first_child(info1, "language"));
    if (lang1) {
        snprintf(out->lang, sizeof out->lang, "%s", (const char *)lang1);
        for (char *c = out->lang; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-'))
                *c = '?';
    }
    long long sent = 0, onset = 0, expires = 0;
    bool has_sent = field_time(root, "sent", &sent), has_onset = false, has_expires = false;
    for (xmlNodePtr info = root->children; info; info = info->next) {
        if (!is_cap(info, "info"))
            continue;
        xmlChar *lang = text_of(first_child(info, "language"));
        bool same = (!lang && !lang1) || (lang && lang1 && !xmlStrcasecmp(lang, lang1));
        xmlFree(lang);
        if (!same)
            continue;
        out->n_infos++;
        add_field(&b, first_child(info, "event"), "");
        add_field(&b, first_child(info, "headline"), "");
        add_field(&b, first_child(info, "description"), "");
        add_field(&b, first_child(info, "instruction"), "");
        for (xmlNodePtr a = info->children; a; a = a->next)
            if (is_cap(a, "area"))
                add_field(&b, first_child(a, "areaDesc"), "In ");
        long long t;
        if (!has_onset && field_time(info, "onset", &t))
            onset = t, has_onset = true;
        if (!has_expires && field_time(info, "expires", &t))
            expires = t, has_expires = true;
        if (b.n > CAP_MAX_REPORT)
            break;
    }
    xmlFree(lang1);
    /* Time available: until onset; with no onset, until the alert expires
     * (the threat is expected within its life); an onset already past
     * means the hazard is here. */
    if (has_sent && has_onset)
        out->time_s = onset > sent ? (double)(onset - sent) : 0;
    else if (has_sent && has_expires && expires > sent)
        out->time_s = (double)(expires - sent);
    if (out->time_s > 366.0 * 86400)
        out->time_s = -1; /* a year away is no deadline */
    if (b.n > CAP_MAX_REPORT) {
        size_t keep = b.p ? b.n : 0;
        strbuf cut = {0};
        formats_clean(&cut, b.p ? b.p : "", keep, CAP_MAX_REPORT);
        free(b.p);
        b = cut;
        strbuf_lit(&b, "\n");
    }
    if (out->time_s >= 0)
        strbuf_printf(&b, "Onset within %.0f minutes.\n", ceil(out->time_s / 60));
    if (b.failed) {
        set_err(err, cap, "out of memory");
        goto done;
    }
    if (b.n == 0) {
        set_err(err, cap, "the CAP alert's <info> has no event, headline, description, instruction or areaDesc text");
        goto done;
    }
    out->report = b.p;
    out->len = b.n;
    b = (strbuf){0};
    rc = 0;
done:
    free(b.p);
    xmlFreeDoc(doc);
    if (rc < 0) {
        out->time_s = -1;
        out->lang[0] = '\0';
        out->n_infos = 0;
    }
    return rc;
}
