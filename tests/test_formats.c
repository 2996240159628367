/*
 * test_formats.c - the field's formats (src/formats):
 *  - CAP out: the alert of every hazard's example report (DATA/reports.tsv)
 *    validates against the OASIS CAP 1.2 schema (DATA/CAP-v1.2.xsd, libxml2's
 *    xmlSchemaValidateDoc), carries the hazard's category, Draft status,
 *    a unique identifier; urgency/severity/certainty follow the rules;
 *    options (status, sender, web) and their refusals;
 *  - CAP in: a weather-service-style flash flood warning
 *    (DATA/flash_flood_warning.xml) becomes a flood plan with 45 minutes
 *    available; hostile alerts (entities, external DTDs, depth, size, NUL
 *    bytes, wrong root, no info) are refused with a message saying why;
 *    an alert relief wrote reads back as the same hazard;
 *  - ICS 201: JSON that parses with the form's fields, HTML that escapes a
 *    hostile report.
 * usage: test_formats DATA_DIR
 */
#include "formats/cap.h"
#include "test_util.h"
#include "formats/formats.h"
#include "formats/ics201.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        checks++;                                                                                          \
        if (!(cond)) {                                                                                     \
            failures++;                                                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                  \
            fputc('\n', stderr);                                                                           \
        }                                                                                                  \
    } while (0)

static const long long NOW = 1750000000; /* 2025-06-15T15:06:40Z */


static relief_plan *plan_of(const relief_kb *kb, const char *report)
{
    relief_options o = {.days = 3, .now = NOW};
    relief_plan *p = relief_plan_build(kb, report, strlen(report), &o);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* Text of the first element called name anywhere under n, or NULL (xmlFree). */
static xmlChar *find_text(xmlNodePtr n, const char *name)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return xmlNodeGetContent(n);
        xmlChar *t = find_text(n->children, name);
        if (t)
            return t;
    }
    return NULL;
}

static bool has_element_text(xmlNodePtr n, const char *name, const char *text)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name)) {
            xmlChar *t = xmlNodeGetContent(n);
            bool eq = t && !strcmp((const char *)t, text);
            xmlFree(t);
            if (eq)
                return true;
        }
        if (has_element_text(n->children, name, text))
            return true;
    }
    return false;
}

static bool text_is(xmlDocPtr doc, const char *name, const char *want)
{
    xmlChar *t = find_text(xmlDocGetRootElement(doc), name);
    bool ok = t && !strcmp((const char *)t, want);
    if (!ok)
        fprintf(stderr, "  <%s> is '%s', expected '%s'\n", name, t ? (const char *)t : "(absent)", want);
    xmlFree(t);
    return ok;
}

typedef struct {
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vctx;
} validator;

static xmlDocPtr parse_valid(validator *v, const char *xml, const char *what)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "out.xml", NULL, XML_PARSE_NONET);
    CHECK(doc != NULL, "%s: the alert does not parse", what);
    if (!doc)
        return NULL;
    int rc = xmlSchemaValidateDoc(v->vctx, doc);
    CHECK(rc == 0, "%s: the alert does not validate against CAP-v1.2.xsd (%d):\n%s", what, rc, xml);
    return doc;
}

static char *write_cap(const relief_kb *kb, const relief_plan *p, const cap_write_options *o)
{
    char err[256] = "";
    cap_info_plan info = {"en", p};
    char *xml = cap_write(kb, &info, 1, o, err, sizeof err);
    CHECK(xml != NULL, "cap_write failed: %s", err);
    return xml;
}

/* Every hazard's example report gives a schema-valid alert. */
static void test_examples(const relief_kb *kb, validator *v, const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/reports.tsv", dir);
    char *all = test_read_file(path, NULL);
    CHECK(all != NULL, "cannot read %s", path);
    if (!all)
        return;
    char ids[32][128];
    int n = 0;
    bool seen[RELIEF_HZ_COUNT] = {0};
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *report = tab + 1;
        int hz = relief_hazard_from_name(line);
        CHECK(hz >= 0, "reports.tsv: unknown hazard '%s'", line);
        if (hz < 0)
            continue;
        seen[hz] = true;
        relief_plan *p = plan_of(kb, report);
        bool found = false;
        for (size_t i = 0; i < p->n_detections; i++)
            found |= p->detections[i].hazard == hz && !p->detections[i].secondary;
        CHECK(found, "%s: the example report is not detected as %s", line, line);
        cap_write_options o = {.now = NOW + n};
        char *xml = write_cap(kb, p, &o);
        if (xml) {
            xmlDocPtr doc = parse_valid(v, xml, line);
            if (doc) {
                xmlNodePtr root = xmlDocGetRootElement(doc);
                CHECK(text_is(doc, "status", "Draft"), "%s: status", line);
                CHECK(text_is(doc, "msgType", "Alert") && text_is(doc, "scope", "Public"), "%s: msgType/scope", line);
                CHECK(has_element_text(root, "category", cap_category(hz)), "%s: no category %s", line,
                      cap_category(hz));
                CHECK(text_is(doc, "language", "en"), "%s: language", line);
                xmlChar *id = find_text(root, "identifier");
                if (id && n < 32) {
                    snprintf(ids[n], sizeof ids[n], "%s", (const char *)id);
                    for (int k = 0; k < n; k++)
                        CHECK(strcmp(ids[k], ids[n]), "%s: identifier %s repeats", line, ids[n]);
                }
                xmlFree(id);
                xmlFreeDoc(doc);
            }
            free(xml);
        }
        relief_plan_free(p);
        n++;
    }
    for (int h = 0; h < RELIEF_HZ_COUNT; h++)
        CHECK(seen[h], "reports.tsv has no example for %s", relief_hazard_name(h));
    printf("formats: %d example alerts written and validated against CAP-v1.2.xsd\n", n);
    free(all);
}

static void expect_assess(const relief_kb *kb, const char *report, const char *urgency, const char *severity,
                          const char *certainty)
{
    relief_plan *p = plan_of(kb, report);
    cap_assessment a;
    cap_assess(kb, p, &a);
    CHECK(!strcmp(a.urgency, urgency), "'%s': urgency %s, expected %s", report, a.urgency, urgency);
    CHECK(!strcmp(a.severity, severity), "'%s': severity %s, expected %s", report, a.severity, severity);
    CHECK(!strcmp(a.certainty, certainty), "'%s': certainty %s, expected %s", report, a.certainty, certainty);
    relief_plan_free(p);
}

static void test_assess(const relief_kb *kb)
{
    /* Happening, with people hurt: Observed, Immediate, Severe. */
    expect_assess(kb, "Apartment building on fire, 3 injured", "Immediate", "Severe", "Observed");
    /* Ten dead is extraordinary. */
    expect_assess(kb, "Earthquake in Lima, 12 dead, buildings down", "Immediate", "Extreme", "Observed");
    /* A forecast an hour or more away: Future, Likely; a tsunami is Extreme. */
    expect_assess(kb, "Tsunami expected to reach Coral Bay within 3 hours", "Future", "Extreme", "Likely");
    /* Within the hour: Expected; "may" makes it Possible. */
    expect_assess(kb, "The river may flood Riverside within 45 minutes", "Expected", "Severe", "Possible");
    /* Minutes away: Immediate even though it has not struck yet. */
    expect_assess(kb, "Tornado heading for Millbrook, 10 minutes away", "Immediate", "Extreme", "Likely");
    /* A slow hazard, few people, nobody hurt: Minor. */
    expect_assess(kb, "Power outage in our street, 20 people without power since noon", "Immediate", "Minor",
                  "Observed");
    /* Nothing recognised: Unknown everywhere. */
    expect_assess(kb, "hello, how are you today", "Unknown", "Unknown", "Unknown");
    CHECK(!strcmp(cap_category(RELIEF_HZ_FLOOD), "Met") && !strcmp(cap_category(-1), "Other"), "categories");
}

static void test_options(const relief_kb *kb, validator *v)
{
    relief_plan *p = plan_of(kb, "Flood at 14.5995, 120.9842 in Manila, 300 people, water rising");
    cap_write_options o = {.status = "actual", .sender = "ops@county.example.org", .web = "https://example.org/a",
                           .contact = "County EOC <24h> & duty officer", .now = NOW};
    char *xml = write_cap(kb, p, &o);
    if (xml) {
        xmlDocPtr doc = parse_valid(v, xml, "options");
        if (doc) {
            CHECK(text_is(doc, "status", "Actual"), "--cap-status actual");
            CHECK(text_is(doc, "sender", "ops@county.example.org"), "sender option");
            CHECK(text_is(doc, "web", "https://example.org/a"), "web option");
            CHECK(text_is(doc, "contact", "County EOC <24h> & duty officer"), "contact escaped and read back");
            CHECK(text_is(doc, "sent", "2025-06-15T15:06:40-00:00"), "sent in UTC as -00:00");
            CHECK(text_is(doc, "responseType", "Evacuate"), "a flood's protective action is leaving");
            xmlChar *circle = find_text(xmlDocGetRootElement(doc), "circle");
            CHECK(circle && !strcmp((const char *)circle, "14.59950,120.98420 0"), "circle from coordinates: %s",
                  circle ? (const char *)circle : "(none)");
            xmlFree(circle);
            xmlFreeDoc(doc);
        }
        free(xml);
    }
    setenv("RELIEF_CAP_SENDER", "env-sender@example.org", 1);
    cap_write_options d = {.now = NOW};
    xml = write_cap(kb, p, &d);
    CHECK(xml && strstr(xml, "<sender>env-sender@example.org</sender>") && strstr(xml, "<status>Draft</status>"),
          "sender from RELIEF_CAP_SENDER, Draft by default");
    free(xml);
    unsetenv("RELIEF_CAP_SENDER");
    char err[256];
    cap_info_plan info = {"en", p};
    cap_write_options bad1 = {.status = "Urgent"}, bad2 = {.sender = "two words"}, bad3 = {.web = "java script:x"};
    CHECK(!cap_write(kb, &info, 1, &bad1, err, sizeof err) && strstr(err, "status"), "bad status refused");
    CHECK(!cap_write(kb, &info, 1, &bad2, err, sizeof err) && strstr(err, "sender"), "bad sender refused");
    CHECK(!cap_write(kb, &info, 1, &bad3, err, sizeof err) && strstr(err, "web"), "bad web refused");
    CHECK(cap_token_ok("a@b.c") && !cap_token_ok("a,b") && !cap_token_ok("") && !cap_token_ok("a&b"), "tokens");
    relief_plan_free(p);

    /* A hostile report: control characters, invalid UTF-8, markup. */
    static const char hostile[] = "Flood \x01\x1b[2J in <Riverside> & \xff\xfe \xef\xbf\xbf 200 people]]>";
    relief_options ro = {.now = NOW};
    p = relief_plan_build(kb, hostile, sizeof hostile - 1, &ro);
    xml = p ? write_cap(kb, p, &d) : NULL;
    if (xml) {
        xmlDocPtr doc = parse_valid(v, xml, "hostile report");
        xmlFreeDoc(doc);
        free(xml);
    }
    relief_plan_free(p);
}

static void expect_refused(const char *xml, size_t len, const char *why, const char *what)
{
    cap_report r;
    char err[300] = "";
    int rc = cap_read(xml, len, &r, err, sizeof err);
    CHECK(rc < 0 && r.report == NULL, "%s: accepted", what);
    CHECK(strstr(err, why) != NULL, "%s: message '%s' does not say '%s'", what, err, why);
    cap_report_free(&r);
}

static void test_read(const relief_kb *kb, validator *v, const char *dir)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/flash_flood_warning.xml", dir);
    char *xml = test_read_file(path, &len);
    CHECK(xml != NULL, "cannot read %s", path);
    if (xml) {
        cap_report r;
        char err[300];
        int rc = cap_read(xml, len, &r, err, sizeof err);
        CHECK(rc == 0, "the flash flood warning is refused: %s", err);
        if (rc == 0) {
            CHECK(r.time_s == 45 * 60, "time available %.0f s, expected 2700 (onset 14:50 - sent 14:05)", r.time_s);
            CHECK(!strcmp(r.lang, "en-US") && r.n_infos == 1, "lang %s, %zu infos", r.lang, r.n_infos);
            CHECK(strstr(r.report, "Flash Flood Warning") && strstr(r.report, "In Harlow County.") &&
                      strstr(r.report, "Get to higher ground"), "report text:\n%s", r.report);
            relief_options o = {.now = NOW};
            relief_plan *p = relief_plan_build(kb, r.report, r.len, &o);
            CHECK(p && p->n_detections && p->detections[0].hazard == RELIEF_HZ_FLOOD, "the warning is not a flood plan");
            CHECK(p && p->facts.time_s.known && p->facts.time_s.value == 2700, "plan time available %.0f s",
                  p ? p->facts.time_s.value : -1);
            CHECK(p && p->facts.people.known && p->facts.people.value == 400, "people %.0f", p ? p->facts.people.value : -1);
            CHECK(p && p->n_steps > 0, "no steps");
            /* And back out: a valid alert with the same hazard and time. */
            if (p) {
                cap_write_options wo = {.now = NOW};
                char *out = write_cap(kb, p, &wo);
                if (out) {
                    xmlDocPtr doc = parse_valid(v, out, "round trip");
                    if (doc) {
                        xmlChar *ev = find_text(xmlDocGetRootElement(doc), "event");
                        CHECK(ev && !strncmp((const char *)ev, "Flood", 5), "round trip event %s", ev ? (const char *)ev : "");
                        xmlFree(ev);
                        xmlChar *ad = find_text(xmlDocGetRootElement(doc), "areaDesc");
                        CHECK(ad && strstr((const char *)ad, "Harlow County"), "areaDesc from the alert's area: %s",
                              ad ? (const char *)ad : "");
                        xmlFree(ad);
                        CHECK(text_is(doc, "urgency", "Expected"), "45 minutes is Expected");
                        CHECK(text_is(doc, "onset", "2025-06-15T15:51:40-00:00"), "onset = sent + 45 min");
                        xmlFreeDoc(doc);
                    }
                    cap_report back;
                    CHECK(cap_read(out, strlen(out), &back, err, sizeof err) == 0, "relief's alert reads back: %s", err);
                    relief_plan *p2 = back.report ? relief_plan_build(kb, back.report, back.len, &o) : NULL;
                    bool flood = false;
                    for (size_t i = 0; p2 && i < p2->n_detections; i++)
                        flood |= p2->detections[i].hazard == RELIEF_HZ_FLOOD && !p2->detections[i].secondary;
                    CHECK(flood && p2->facts.time_s.known && p2->facts.time_s.value == 2700,
                          "relief's alert plans as the same flood with 45 minutes");
                    relief_plan_free(p2);
                    cap_report_free(&back);
                    free(out);
                }
            }
            relief_plan_free(p);
        }
        cap_report_free(&r);

        /* Onset already past: the hazard is here (0 s); no onset: until expires. */
        char *copy = strdup(xml);
        char *on = copy ? strstr(copy, "<onset>2025-06-14T14:50:00-05:00") : NULL;
        if (on) {
            memcpy(on + 7, "2025-06-14T13:50:00-05:00", 25);
            CHECK(cap_read(copy, len, &r, err, sizeof err) == 0 && r.time_s == 0, "past onset: %.0f", r.time_s);
            CHECK(r.report && strstr(r.report, "Onset within 0 minutes."), "past onset sentence");
            cap_report_free(&r);
            memcpy(on + 1, "xnset", 5); /* <xnset> is not onset... */
            char *close = strstr(on, "</onset>");
            if (close)
                memcpy(close + 2, "xnset", 5);
            int rc2 = cap_read(copy, len, &r, err, sizeof err);
            CHECK(rc2 == 0 && r.time_s == 4 * 3600 + 10 * 60, "no onset: expires - sent, got %.0f (%s)", r.time_s,
                  rc2 ? err : "");
            cap_report_free(&r);
        }
        free(copy);
        free(xml);
    }

    /* Hostile alerts. */
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE alert [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
        "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><info><event>&b;</event></info></alert>";
    expect_refused(laughs, sizeof laughs - 1, "DOCTYPE", "entity expansion");
    static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE alert SYSTEM \"http://example.org/evil.dtd\">"
                              "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"/>";
    expect_refused(xxe, sizeof xxe - 1, "DOCTYPE", "external DTD");
    static const char notxml[] = "this is not <xml";
    expect_refused(notxml, sizeof notxml - 1, "not well-formed", "not XML");
    static const char wrong[] = "<alert xmlns=\"urn:example:other\"><info/></alert>";
    expect_refused(wrong, sizeof wrong - 1, "not a CAP 1.2 <alert>", "other namespace");
    static const char rss[] = "<rss><channel/></rss>";
    expect_refused(rss, sizeof rss - 1, "root element is <rss>", "RSS");
    static const char noinfo[] = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><status>Actual</status></alert>";
    expect_refused(noinfo, sizeof noinfo - 1, "no <info>", "no info");
    static const char empty_info[] = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><info><urgency>Immediate"
                                     "</urgency></info></alert>";
    expect_refused(empty_info, sizeof empty_info - 1, "no event", "info without text");
    static const char nul[] = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\0<info/></alert>";
    expect_refused(nul, sizeof nul - 1, "NUL", "NUL bytes");
    expect_refused("", 0, "empty", "empty");
    /* 40 nested elements inside an info. */
    char deep[4096] = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><info><event>Flood</event>";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<x>");
    for (int i = 0; i < 40; i++)
        strcat(deep, "</x>");
    strcat(deep, "</info></alert>");
    expect_refused(deep, strlen(deep), "deep", "nesting");
    /* Larger than the limit: refused before parsing. */
    size_t big_n = CAP_MAX_BYTES + 10;
    char *big = malloc(big_n);
    if (big) {
        memset(big, ' ', big_n);
        memcpy(big, "<alert>", 7);
        expect_refused(big, big_n, "larger than", "size");
        free(big);
    }
    /* Invalid UTF-8 inside a well-formed-looking alert is a parse error. */
    static const char badutf[] = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><info><event>\xff\xfe</event>"
                                 "</info></alert>";
    expect_refused(badutf, sizeof badutf - 1, "not well-formed", "invalid UTF-8");

    /* Several languages: the first info's language is read, others skipped. */
    static const char multi[] =
        "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><sent>2025-06-14T10:00:00+02:00</sent>"
        "<info><language>es-ES</language><event>Inundación</event><expires>2025-06-14T11:30:00+02:00</expires></info>"
        "<info><language>en-GB</language><event>Wildfire</event></info>"
        "<info><language>ES-es</language><headline>Crecida del río</headline></info></alert>";
    cap_report r;
    char err[300];
    CHECK(cap_read(multi, sizeof multi - 1, &r, err, sizeof err) == 0, "multi-language alert: %s", err);
    CHECK(r.report && strstr(r.report, "Inundación") && strstr(r.report, "Crecida") && !strstr(r.report, "Wildfire"),
          "only the first language's infos: %s", r.report ? r.report : "");
    CHECK(r.n_infos == 2 && r.time_s == 5400, "2 infos, 90 minutes: %zu, %.0f", r.n_infos, r.time_s);
    cap_report_free(&r);

    long long t;
    CHECK(cap_parse_time("2025-06-14T14:05:00-05:00", &t) == 0 && t == 1749927900, "time with offset: %lld", t);
    CHECK(cap_parse_time("2025-06-14T19:05:00Z", &t) == 0 && t == 1749927900, "time in Z");
    CHECK(cap_parse_time("2025-06-14T19:05:00.25+00:00", &t) == 0 && t == 1749927900, "fractional seconds");
    CHECK(cap_parse_time("2025-13-14T19:05:00-00:00", &t) < 0 && cap_parse_time("yesterday", &t) < 0 &&
              cap_parse_time("2025-06-14T19:05:00", &t) < 0 && cap_parse_time("2025-06-14T19:05:00+05:00x", &t) < 0,
          "bad times refused");
}

/* One info block per language whose plans are complete, the plan's own
 * first, each in its language (event and facts from the kb's texts). */
static void test_languages(const relief_kb *kb, validator *v)
{
    static const char *const langs[] = {"es", "fr", "pt"};
    size_t want = 1;
    for (size_t i = 0; i < 3; i++)
        want += relief_kb_plan_language(kb, langs[i]);
    relief_plan *p = plan_of(kb, "Earthquake in Lima, 3,000 people, 12 trapped, 40 injured");
    char err[256] = "";
    relief_options ro = {.days = 3, .now = NOW};
    cap_write_options co = {.now = NOW};
    char *xml = formats_render(kb, p, FORMATS_CAP, &ro, &co, err, sizeof err);
    CHECK(xml != NULL, "formats_render CAP: %s", err);
    xmlDocPtr doc = xml ? parse_valid(v, xml, "languages") : NULL;
    if (doc) {
        size_t n = 0;
        bool es = false;
        for (xmlNodePtr c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "info"))
                continue;
            xmlChar *lang = find_text(c->children, "language");
            xmlChar *ev = find_text(c->children, "event");
            xmlChar *desc = find_text(c->children, "description");
            CHECK(lang && (n > 0 || !strcmp((const char *)lang, "en")), "the English plan's info comes first");
            if (lang && !strcmp((const char *)lang, "es")) {
                es = true;
                CHECK(ev && strcmp((const char *)ev, "Earthquake"), "the Spanish info's event is Spanish: %s",
                      ev ? (const char *)ev : "");
                CHECK(desc && strstr((const char *)desc, "3.000"), "Spanish numbers in the facts: %s",
                      desc ? (const char *)desc : "");
            }
            xmlFree(lang);
            xmlFree(ev);
            xmlFree(desc);
            n++;
        }
        CHECK(n == want, "%zu info blocks, %zu languages complete", n, want);
        CHECK(es == relief_kb_plan_language(kb, "es"), "a Spanish info exactly when Spanish plans are complete");
        printf("formats: an alert with %zu info blocks (one per complete plan language)\n", n);
        xmlFreeDoc(doc);
    }
    free(xml);
    relief_plan_free(p);
}

static void test_ics201(const relief_kb *kb)
{
    relief_plan *p = plan_of(kb, "River rising fast in Riverside, about 3,000 residents. The levee may fail within 2 "
                                 "hours. 2 people trapped on the bridge. We have 3 boats.");
    char *js = ics201_json(kb, p, NOW);
    json_error_t e;
    json_t *j = js ? json_loads(js, 0, &e) : NULL;
    CHECK(j != NULL, "ICS 201 JSON does not parse: %s", js ? e.text : "NULL");
    if (j) {
        CHECK(!strcmp(json_string_value(json_object_get(j, "schema")), ICS201_JSON_SCHEMA), "schema");
        const char *name = json_string_value(json_object_get(j, "incident_name"));
        CHECK(name && strstr(name, "Flood") && strstr(name, "Riverside"), "incident name %s", name ? name : "null");
        CHECK(json_is_null(json_object_get(j, "map_sketch")) && json_is_null(json_object_get(j, "incident_number")),
              "blank fields are null");
        json_t *acts = json_object_get(j, "actions");
        CHECK(json_array_size(acts) >= p->n_brief && json_array_size(acts) <= 12, "%zu actions",
              json_array_size(acts));
        json_t *org = json_object_get(j, "organization");
        CHECK(json_array_size(org) == 9, "9 positions");
        CHECK(json_integer_value(json_object_get(json_array_get(org, 0), "plan_actions")) > 0,
              "the Incident Commander has actions");
        json_t *res = json_object_get(j, "resources");
        CHECK(json_array_size(res) >= 2 && json_is_true(json_object_get(json_array_get(res, 0), "on_hand")),
              "the boats on hand come first");
        CHECK(json_array_size(json_object_get(j, "objectives")) >= 3, "objectives");
        json_decref(j);
    }
    free(js);
    char *html = ics201_html(kb, p, NOW);
    CHECK(html && strstr(html, "INCIDENT BRIEFING (ICS 201)") && strstr(html, "4. Map/Sketch") &&
              strstr(html, "10. Resource Summary") && strstr(html, "@page"), "HTML form blocks");
    free(html);
    relief_plan_free(p);

    p = plan_of(kb, "Fire at <script>alert(1)</script> & \"school\" 'x', 3 injured");
    html = ics201_html(kb, p, NOW);
    CHECK(html && !strstr(html, "<script") && strstr(html, "&lt;script&gt;") && strstr(html, "&amp; &quot;school&quot;"),
          "hostile report escaped in HTML");
    free(html);
    js = ics201_json(kb, p, NOW);
    j = js ? json_loads(js, 0, &e) : NULL;
    CHECK(j != NULL, "hostile report: JSON parses");
    json_decref(j);
    free(js);
    relief_plan_free(p);
    /* No hazard: the form is still whole, with blanks. */
    p = plan_of(kb, "nothing to report");
    html = ics201_html(kb, p, NOW);
    CHECK(html && strstr(html, "class=\"hand\""), "a plan with nothing leaves blanks");
    free(html);
    relief_plan_free(p);
    CHECK(formats_from_name("cap") == FORMATS_CAP && formats_from_name("ics201-json") == FORMATS_ICS201_JSON &&
              formats_from_name("pdf") == FORMATS_NONE, "format names");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_formats DATA_DIR\n");
        return 2;
    }
    char *err = NULL;
    relief_kb *kb = relief_kb_load_embedded(&err);
    if (!kb) {
        fprintf(stderr, "kb: %s\n", err ? err : "?");
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/CAP-v1.2.xsd", argv[1]);
    validator v = {0};
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
    v.schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaFreeParserCtxt(pc);
    v.vctx = v.schema ? xmlSchemaNewValidCtxt(v.schema) : NULL;
    if (!v.vctx) {
        fprintf(stderr, "FAIL: cannot load the schema %s\n", path);
        return 1;
    }
    test_examples(kb, &v, argv[1]);
    test_assess(kb);
    test_options(kb, &v);
    test_read(kb, &v, argv[1]);
    test_languages(kb, &v);
    test_ics201(kb);
    xmlSchemaFreeValidCtxt(v.vctx);
    xmlSchemaFree(v.schema);
    relief_kb_free(kb);
    printf("formats: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
