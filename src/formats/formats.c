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

/* The language a plan's steps are written in. Plans are English today; the
 * plan-language work (issue 17) gives plans in es, fr and pt, and each
 * complete language then becomes one more info block here. */
static const char *plan_text_lang(const relief_plan *p)
{
    (void)p;
    return "en";
}

char *formats_render(const relief_kb *kb, const relief_plan *plan, int kind, const relief_options *ro,
                     const cap_write_options *co, char *err, size_t cap)
{
    (void)ro;
    char *out = NULL;
    switch (kind) {
    case FORMATS_CAP: {
        cap_info_plan infos[] = {{plan_text_lang(plan), plan}};
        return cap_write(kb, infos, sizeof infos / sizeof *infos, co, err, cap);
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
