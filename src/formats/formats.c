/*
 * formats.c - the field's formats by name (formats.h): picks the writer and
 * gathers the plans a CAP alert carries, one per language.
 */
#include "formats/formats.h"
#include "formats/ics201.h"

#include <stdio.h>
#include <string.h>

int formats_from_name(const char *name)
{
    if (!name)
        return FORMATS_NONE;
    if (!strcmp(name, "cap"))
        return FORMATS_CAP;
    if (!strcmp(name, "ics201"))
        return FORMATS_ICS201;
    if (!strcmp(name, "ics201-json"))
        return FORMATS_ICS201_JSON;
    return FORMATS_NONE;
}

const char *formats_content_type(int kind)
{
    switch (kind) {
    case FORMATS_CAP: return "application/cap+xml";
    case FORMATS_ICS201: return "text/html; charset=utf-8";
    default: return "application/json";
    }
}

/* Languages a CAP alert may carry, one info block each when the kb's plans
 * in it are complete (relief_kb_plan_language). */
static const char *const cap_langs[] = {"en", "es", "fr", "pt"};
#define N_CAP_LANGS (sizeof cap_langs / sizeof *cap_langs)

char *formats_render(const relief_kb *kb, const relief_plan *plan, int kind, const relief_options *ro,
                     const cap_write_options *co, char *err, size_t cap)
{
    char *out = NULL;
    switch (kind) {
    case FORMATS_CAP: {
        /* The plan's own language first, then each other complete language,
         * its plan built from the same report. */
        cap_info_plan infos[N_CAP_LANGS];
        relief_plan *extra[N_CAP_LANGS] = {0};
        size_t n = 0;
        const char *own = plan->plan_lang && *plan->plan_lang ? plan->plan_lang : "en";
        infos[n++] = (cap_info_plan){own, plan};
        bool oom = false;
        for (size_t i = 0; i < N_CAP_LANGS && !oom; i++) {
            if (!strcmp(cap_langs[i], own) || !relief_kb_plan_language(kb, cap_langs[i]))
                continue;
            relief_options o = ro ? *ro : (relief_options){0};
            o.lang = cap_langs[i];
            o.lang_reason = NULL;
            relief_plan *p = relief_plan_build(kb, plan->report, plan->report_len, &o);
            /* A language that turned out incomplete gives an English plan: not another info. */
            if (p && p->plan_lang && !strcmp(p->plan_lang, cap_langs[i])) {
                extra[n] = p;
                infos[n++] = (cap_info_plan){cap_langs[i], p};
            } else {
                oom = !p;
                relief_plan_free(p);
            }
        }
        out = oom ? NULL : cap_write(kb, infos, n, co, err, cap);
        if (oom)
            snprintf(err, cap, "out of memory");
        for (size_t i = 0; i < n; i++)
            relief_plan_free(extra[i]);
        return out;
    }
    case FORMATS_ICS201:
        out = ics201_html(kb, plan, co ? co->now : 0);
        break;
    case FORMATS_ICS201_JSON:
        out = ics201_json(kb, plan, co ? co->now : 0);
        break;
    default:
        snprintf(err, cap, "unknown format");
        return NULL;
    }
    if (!out)
        snprintf(err, cap, "out of memory");
    return out;
}
