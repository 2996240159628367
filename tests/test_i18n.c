/*
 * test_i18n.c - plans in several languages: the numbers a translation must
 * keep (kb-check's rule, docs/kb-format.md "Translations"), numbers written
 * per language, {name} placeholders, and the loader's handling of
 * translations (findings with file and line, refused translations shown in
 * English, `plans: complete`, [strings]), and the choice of a plan's
 * language.
 */
#include "guide/guide_int.h"
#include "util/embedded.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- numbers ---- */

static bool same_numbers(const char *en, const char *tr, const char *lang)
{
    char *a = i18n_numbers(en, 0), *b = i18n_numbers(tr, i18n_lang_index(lang));
    bool same = a && b && !strcmp(a, b);
    free(a);
    free(b);
    return same;
}

static void expect_numbers(const char *text, const char *lang, const char *want)
{
    char *got = i18n_numbers(text, i18n_lang_index(lang));
    CHECK_MSG(got && !strcmp(got, want), "'%s' (%s): got %s, want %s", text, lang, got ? got : "NULL", want);
    free(got);
}

static void test_numbers(void)
{
    expect_numbers("Keep 2.5 m away; 15,000 L; 1000 kcal", "en", "[2.5, 1000, 15000]");
    expect_numbers("A 2,5 m; 15.000 L; 1000 kcal", "es", "[2.5, 1000, 15000]");
    expect_numbers("À 2,5 m ; 15 000 L ; 1000 kcal", "fr", "[2.5, 1000, 15000]");
    expect_numbers("15\xc2\xa0" "000 L", "fr", "[15000]");            /* no-break space */
    expect_numbers("15\xe2\x80\xaf" "000 L", "fr", "[15000]");        /* narrow no-break space */
    expect_numbers("N95 masks, H5N1, IS-200.c, 24/7, 1:10", "en", "[200, 1:10, 24/7, H5N1, N95]");
    expect_numbers("N95s", "en", "[N95]");
    expect_numbers("Sphere standard 2.1 (2.5 L)", "en", "[2.5, \xc2\xa7" "2.1]");
    expect_numbers("Esfera, norma 2.1 (2,5 L)", "es", "[2.5, \xc2\xa7" "2.1]");
    expect_numbers("two teams, no numbers", "en", "[]");
    expect_numbers("within 30 min, 2h, 10-20 km", "en", "[2, 10, 20, 30]");

    /* What translators were told: decimal comma, their thousands, designations verbatim. */
    CHECK(same_numbers("Stay 2.5 m from the 15,000 L tank for 30 minutes.",
                       "Manténgase a 2,5 m del tanque de 15.000 L durante 30 minutos.", "es"));
    CHECK(same_numbers("Stay 2.5 m from the 15,000 L tank.", "Restez à 2,5 m de la cuve de 15 000 L.", "fr"));
    CHECK(same_numbers("Stay 2.5 m from the 15,000 L tank.", "Fique a 2,5 m do tanque de 15000 L.", "pt"));
    CHECK(same_numbers("Wear N95 respirators; chlorine 1:10; hotline 24/7 (FEMA IS-200).",
                       "Use respiradores N95; cloro 1:10; linha 24/7 (FEMA IS-200).", "pt"));
    CHECK(same_numbers("Isolate 100 m, then 800 m.", "Aísle 800 m y después 100 m.", "es")); /* any order */
    CHECK(same_numbers("Send two teams.", "Envíe dos equipos.", "es"));                        /* words stay words */

    /* Failing cases: what kb-check must refuse. */
    CHECK(!same_numbers("Keep 2.5 m away.", "Manténgase a 2.5 m.", "es"));     /* a decimal point in Spanish */
    CHECK(!same_numbers("15,000 L", "15,000 L", "fr"));                      /* English thousands in French */
    CHECK(!same_numbers("Isolate 300 m.", "Aísle 30 m.", "es"));             /* a changed distance */
    CHECK(!same_numbers("Isolate 300 m.", "Aísle la zona.", "es"));          /* a dropped one */
    CHECK(!same_numbers("2 and 2 people", "2 personas", "es"));              /* counted each time */
    CHECK(!same_numbers("Dilute 1:10.", "Diluya 1/10.", "es"));              /* designations verbatim */
    CHECK(!same_numbers("Wear N95 masks.", "Portez des masques FFP2.", "fr"));
    CHECK(!same_numbers("Within 2 h.", "En 2 h y 15 min.", "es"));           /* an added number */
    CHECK(!same_numbers("WASH standard 2.1", "norma WASH 2,1", "es"));       /* a section is no decimal */
}

static void expect_format(double v, int dec, const char *lang, const char *want)
{
    char out[64];
    i18n_format_number(out, sizeof out, v, dec, i18n_lang_index(lang));
    CHECK_MSG(!strcmp(out, want), "%g (%s): got '%s', want '%s'", v, lang, out, want);
}

static void test_format(void)
{
    expect_format(15000, 0, "en", "15,000");
    expect_format(15000, 0, "es", "15.000");
    expect_format(15000, 0, "pt", "15.000");
    expect_format(15000, 0, "fr", "15 000");
    expect_format(1234567.4, 0, "fr", "1 234 567");
    expect_format(2.5, 1, "es", "2,5");
    expect_format(0.6, 3, "pt", "0,6");       /* trailing zeros dropped */
    expect_format(2, -1, "fr", "2,0");        /* exactly one decimal */
    expect_format(2, -1, "en", "2.0");
    expect_format(-1500, 0, "en", "-1,500");
    char small[4];
    i18n_format_number(small, sizeof small, 123456, 0, 0); /* cut, never overflowed */
    CHECK(strlen(small) == 3);
}

static void test_placeholders(void)
{
    CHECK(i18n_same_placeholders("{n} {what}", "{what}: {n}"));
    CHECK(!i18n_same_placeholders("{n} {what}", "{n}"));
    CHECK(!i18n_same_placeholders("{time} before", "{tiempo} antes"));
    CHECK(i18n_same_placeholders("no {placeholder here", "ninguno"));
    strbuf b = {0};
    const char *names[] = {"n", "what"};
    const char *values[] = {"3,000", "people"};
    i18n_expand(&b, "{n} {what} ({unknown})", names, values, 2);
    CHECK(b.p && !strcmp(b.p, "3,000 people ({unknown})"));
    free(b.p);
}

/* ---- the loader and the plan's language ---- */

static const char *embedded(const char *path, size_t *len)
{
    for (size_t i = 0; i < relief_kb_n_files; i++)
        if (!strcmp(relief_kb_files[i].path, path)) {
            *len = relief_kb_files[i].len;
            return (const char *)relief_kb_files[i].data;
        }
    return NULL;
}

/* The embedded file at path with "insert" added after its first line
 * starting with "after" (malloc'd). */
static char *edited(const char *path, const char *after, const char *insert)
{
    size_t len;
    const char *data = embedded(path, &len);
    if (!data)
        return NULL;
    const char *at = strstr(data, after);
    if (!at)
        return NULL;
    const char *eol = strchr(at, '\n');
    size_t head = eol ? (size_t)(eol + 1 - data) : len, ins = strlen(insert);
    char *out = malloc(len + ins + 2);
    if (!out)
        return NULL;
    memcpy(out, data, head);
    memcpy(out + head, insert, ins);
    memcpy(out + head + ins, data + head, len - head);
    out[len + ins] = '\0';
    return out;
}

/* Writes the embedded kb into dir, with the n files of over ({path,
 * text}) in place of theirs. */
static void write_kb(const char *dir, const char *const over[][2], size_t n)
{
    char path[1024];
    const char *subs[] = {"hazards", "protocols", "lang"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        mkdir(path, 0700);
    }
    for (size_t i = 0; i < relief_kb_n_files; i++) {
        const char *rel = relief_kb_files[i].path;
        const char *slash = strchr(rel, '/');
        if (slash && strncmp(rel, "hazards/", 8) && strncmp(rel, "protocols/", 10) && strncmp(rel, "lang/", 5))
            continue;
        const char *data = (const char *)relief_kb_files[i].data;
        size_t len = relief_kb_files[i].len;
        for (size_t k = 0; k < n; k++)
            if (!strcmp(over[k][0], rel)) {
                data = over[k][1];
                len = strlen(data);
            }
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(data, 1, len, f) != len) {
            perror(path);
            exit(2);
        }
        fclose(f);
    }
}

static void remove_kb(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i < relief_kb_n_files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, relief_kb_files[i].path);
        unlink(path);
    }
    const char *subs[] = {"hazards", "protocols", "lang"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        rmdir(path);
    }
    rmdir(dir);
}

/* The embedded es.kb with its `plans:` line replaced by plans (NULL: none),
 * whatever the shipped file says (malloc'd). */
static char *es_plans(const char *plans)
{
    size_t len;
    const char *data = embedded("lang/es.kb", &len);
    char *out = data ? malloc(len + 64) : NULL;
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (strncmp(p, "plans:", 6)) {
            memcpy(out + o, p, n);
            o += n;
        }
        if (!strncmp(p, "code: es", 8) && plans)
            o += (size_t)snprintf(out + o, 64, "plans: %s\n", plans);
        p += n;
    }
    out[o] = '\0';
    return out;
}

static bool has_issue(const relief_kb *kb, const char *a, const char *b)
{
    for (size_t i = 0; i < relief_kb_translation_issue_count(kb); i++) {
        const char *m = relief_kb_translation_issue(kb, i);
        if (strstr(m, a) && (!b || strstr(m, b)))
            return true;
    }
    return false;
}

#define HZ_HEAD "[hazard]\nid: flood\nname: Flood\nname.es: Inundación\n\n[cues]\nen 3: flood\n\n"
#define STEP_OK                                                                                     \
    "[step]\nphase: immediate\nrole: operations\nbrief: protect\n"                                 \
    "short: Move people 300 m uphill.\nshort.es: Lleve a la gente 300 m cuesta arriba.\n"          \
    "do: Move everyone 300 m uphill now.\ndo.es: Lleve ya a todos 300 m cuesta arriba.\nsource: NWS\n\n"
#define STEP_BAD                                                                                    \
    "[step]\nphase: immediate\nrole: command\n"                                                     \
    "do: Close 2.5 km of the river road.\ndo.es: Cierre 2.5 km de la carretera del río.\nsource: NWS\n"

static void test_loader(void)
{
    char *err = NULL;
    const char *flood = HZ_HEAD STEP_OK STEP_BAD;
    /* Spanish not declared complete, beside the test's flood file. */
    char *partial = es_plans(NULL);
    char pdir[] = "/tmp/relief-test-i18n-XXXXXX";
    relief_kb *kb = NULL;
    if (partial && mkdtemp(pdir)) {
        const char *over[][2] = {{"lang/es.kb", partial}, {"hazards/flood.kb", flood}};
        write_kb(pdir, over, 2);
        kb = relief_kb_load_dir(pdir, &err);
        remove_kb(pdir);
    }
    free(partial);
    CHECK_MSG(kb != NULL, "%s", err ? err : "");
    free(err);
    if (kb) {
        /* The decimal point in Spanish: a finding naming file, line and both lists. */
        CHECK(has_issue(kb, "/hazards/flood.kb:23: do.es has the numbers [2, 5], the English has [2.5]", NULL));
        CHECK(!relief_kb_plan_language(kb, "xx"));
        CHECK(relief_kb_plan_language(kb, "en"));
        const char *rep = "Flood! The river is flooding the town, 300 people.";
        /* Spanish asked for while it is not declared complete: English, saying so. */
        relief_options o = {.lang = "es"};
        relief_plan *p = relief_plan_build(kb, rep, strlen(rep), &o);
        CHECK(p && !strcmp(p->plan_lang, "en") && !strcmp(p->plan_lang_reason, "not-translated"));
        CHECK(p && p->plan_lang_wanted && !strcmp(p->plan_lang_wanted, "es"));
        CHECK(p && p->n_notes && strstr(p->notes[0], "Español (es)") && strstr(p->notes[0], "this plan is in English"));
        relief_plan_free(p);
        o.lang = "en";
        p = relief_plan_build(kb, rep, strlen(rep), &o);
        CHECK(p && !strcmp(p->plan_lang, "en") && !strcmp(p->plan_lang_reason, "requested") && !p->plan_lang_wanted);
        relief_plan_free(p);
        p = relief_plan_build(kb, rep, strlen(rep), NULL);
        CHECK(p && !strcmp(p->plan_lang_reason, "default"));
        char *js = p ? relief_plan_render(p, RELIEF_FMT_JSON, 0) : NULL;
        CHECK(js && strstr(js, "\"plan_language\":{\"code\":\"en\",\"reason\":\"default\"}"));
        free(js);
        relief_plan_free(p);
        /* A report in Italian: no Italian plans, so English with one line in English. */
        const char *it = "Alluvione: il fiume è esondato e la gente è sui tetti, sono 300 persone con la casa "
                         "allagata.";
        p = relief_plan_build(kb, it, strlen(it), NULL);
        CHECK(p && !strcmp(p->lang, "it") && !strcmp(p->plan_lang, "en"));
        CHECK(p && p->plan_lang_wanted && !strcmp(p->plan_lang_wanted, "it"));
        relief_plan_free(p);
        relief_kb_free(kb);
    }

    /* Spanish declared complete: every missing translation is a finding; a
     * refused one shows the English; the rest is Spanish. */
    char *es = es_plans("complete");
    CHECK(es != NULL);
    if (es) {
        relief_kb *base = kb_load_embedded_with("lang/es.kb", es, strlen(es), &err);
        CHECK_MSG(base != NULL, "%s", err ? err : "");
        free(err);
        err = NULL;
        CHECK(base && relief_kb_plan_language(base, "es"));
        relief_kb_free(base);
        free(es);
    }
    /* With the test's flood file and Spanish complete: lacks reported by line. */
    {
        relief_kb *k2 = kb_load_embedded_with("hazards/flood.kb", flood, strlen(flood), &err);
        free(err);
        err = NULL;
        if (k2) {
            /* Mark Spanish complete in the loaded kb as its lang file would (the
             * embedded es.kb cannot be swapped in the same call). */
            for (size_t i = 0; i < k2->n_langs; i++)
                if (!strcmp(k2->langs[i].code, "es"))
                    k2->plan_complete[1] = true;
            const char *rep = "Flood, the river is flooding the town, 300 people.";
            relief_options o = {.lang = "es"};
            relief_plan *p = relief_plan_build(k2, rep, strlen(rep), &o);
            CHECK(p && !strcmp(p->plan_lang, "es") && !strcmp(p->plan_lang_reason, "requested"));
            bool spanish = false, english_refused = false;
            for (size_t i = 0; p && i < p->n_steps; i++) {
                spanish |= !strcmp(p->steps[i].text, "Lleve ya a todos 300 m cuesta arriba.");
                english_refused |= !strcmp(p->steps[i].text, "Close 2.5 km of the river road.");
            }
            CHECK(spanish && english_refused);
            char *text = p ? relief_plan_render(p, RELIEF_FMT_TEXT, RELIEF_RENDER_FULL) : NULL;
            CHECK(text && strstr(text, "QUÉ HACER AHORA") && strstr(text, "300 personas") && !strstr(text, "DO NOW"));
            free(text);
            relief_plan_free(p);
            /* Detected: a Spanish report gets the Spanish plan. */
            const char *es_rep = "Inundación en el pueblo, el río se desbordó y hay 300 personas en los techos.";
            p = relief_plan_build(k2, es_rep, strlen(es_rep), NULL);
            CHECK(p && !strcmp(p->lang, "es") && !strcmp(p->plan_lang, "es") && !strcmp(p->plan_lang_reason, "detected"));
            relief_plan_free(p);
            relief_kb_free(k2);
        }
    }

    /* Completeness findings come from kb_finish: Spanish declared complete
     * in its file beside the test's flood file, whose second step and
     * secondary-less header lack nothing but the step's Spanish. */
    es = es_plans("complete");
    const char *flood2 = HZ_HEAD STEP_OK "[step]\nphase: 2h\nrole: planning\ndo: Count the shelters.\nsource: NWS\n";
    char dir[] = "/tmp/relief-test-i18n-XXXXXX";
    if (es && mkdtemp(dir)) {
        const char *over[][2] = {{"lang/es.kb", es}, {"hazards/flood.kb", flood2}};
        write_kb(dir, over, 2);
        relief_kb *k3 = relief_kb_load_dir(dir, &err);
        CHECK_MSG(k3 != NULL, "%s", err ? err : "");
        free(err);
        err = NULL;
        CHECK(k3 && relief_kb_plan_language(k3, "es"));
        CHECK(k3 && has_issue(k3, "/hazards/flood.kb:19: no do.es (plans in 'es' are declared complete)", NULL));
        CHECK(k3 && !has_issue(k3, "/hazards/flood.kb:9: no do.es", NULL));  /* translated */
        CHECK(k3 && !has_issue(k3, "/hazards/flood.kb:1: no name.es", NULL)); /* name.es given */
        CHECK(k3 && has_issue(k3, "/hazards/flood.kb:1: no name.fr", NULL) == relief_kb_plan_language(k3, "fr"));
        relief_kb_free(k3);
        remove_kb(dir);
    }
    free(es);

    /* [strings]: placeholders must match the English; unknown keys and
     * languages without plans are errors. */
    char *bad = edited("lang/fr.kb", "[strings]", "key.count: {n}\n");
    /* fr.kb already has key.count: the repeat is an error naming it */
    relief_kb *k4 = bad ? kb_load_embedded_with("lang/fr.kb", bad, strlen(bad), &err) : NULL;
    CHECK(bad && !k4 && err && strstr(err, "string 'key.count' is given twice"));
    free(err);
    err = NULL;
    relief_kb_free(k4);
    free(bad);
    size_t len;
    const char *fr = embedded("lang/fr.kb", &len);
    if (fr) {
        /* Replace French's key.count by one with a placeholder missing. */
        char *copy = strdup(fr);
        char *at = copy ? strstr(copy, "key.count:") : NULL;
        if (at)
            memcpy(at, "key.cuont:", 10);
        relief_kb *k5 = at ? kb_load_embedded_with("lang/fr.kb", copy, strlen(copy), &err) : NULL;
        CHECK(at && !k5 && err && strstr(err, "unknown string 'key.cuont'"));
        free(err);
        err = NULL;
        free(copy);
    }
    char *wrong = edited("lang/es.kb", "[strings]", "");
    if (wrong) {
        char *at = strstr(wrong, "key.count: {n} {what}");
        if (at)
            memcpy(at, "key.count: {n} {que} ", 21);
        relief_kb *k6 = at ? kb_load_embedded_with("lang/es.kb", wrong, strlen(wrong), &err) : NULL;
        CHECK_MSG(k6 != NULL, "%s", err ? err : "");
        free(err);
        err = NULL;
        CHECK(k6 && has_issue(k6, "kb/lang/es.kb:", "string 'key.count' must use the placeholders"));
        relief_kb_free(k6);
        free(wrong);
    }
    char *it = edited("lang/it.kb", "code: it", "plans: complete\n");
    relief_kb *k7 = it ? kb_load_embedded_with("lang/it.kb", it, strlen(it), &err) : NULL;
    CHECK(it && !k7 && err && strstr(err, "plans are written in en, es, fr and pt, not 'it'"));
    free(err);
    err = NULL;
    free(it);

    /* A translation without its English field is an error. */
    const char *orphan = HZ_HEAD "[step]\nphase: immediate\nrole: operations\nbrief: protect\nshort: Go up.\n"
                                 "do: Go up now.\nsource: NWS\nnote.es: nada\n";
    relief_kb *k8 = kb_load_embedded_with("hazards/flood.kb", orphan, strlen(orphan), &err);
    CHECK(!k8 && err && strstr(err, "unknown key 'note.es'"));
    free(err);
    err = NULL;
    const char *noshort = HZ_HEAD "[step]\nphase: immediate\nrole: operations\nbrief: protect\nshort: Go up.\n"
                                  "do: Go up now.\nsource: NWS\n\n[step]\nphase: 2h\nrole: operations\n"
                                  "do: Count people.\nshort.fr: Comptez.\nsource: NWS\n";
    relief_kb *k9 = kb_load_embedded_with("hazards/flood.kb", noshort, strlen(noshort), &err);
    CHECK(!k9 && err && strstr(err, "'short.fr' translates 'short:'"));
    free(err);
}

int main(void)
{
    test_numbers();
    test_format();
    test_placeholders();
    test_loader();
    return check_summary("i18n");
}
