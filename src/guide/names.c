/*
 * names.c - the names of hazards, phases, roles, brief kinds, vulnerable
 * groups and infrastructure: kb keywords and human titles, both ways. Its
 * own module so that the kb loader and the condition parser both use it
 * without depending on each other.
 */
#include "guide_int.h"

#include <string.h>

static const char *const hazard_names[RELIEF_HZ_COUNT] = {
    "wildfire", "structure_fire", "flood", "tropical_cyclone", "tornado", "severe_storm",
    "winter_storm", "extreme_heat", "earthquake", "tsunami", "landslide", "volcano",
    "drought", "epidemic", "hazmat", "radiological", "explosion", "building_collapse",
    "transport_accident", "violence", "power_outage", "dam_failure"};

const char *const kb_tr_langs[KB_TR_LANGS] = {"es", "fr", "pt"};

const char *relief_hazard_name(int h)
{
    return h >= 0 && h < RELIEF_HZ_COUNT ? hazard_names[h] : "none";
}

int relief_hazard_from_name(const char *name)
{
    for (int i = 0; i < RELIEF_HZ_COUNT; i++)
        if (!strcmp(hazard_names[i], name))
            return i;
    return -1;
}

static const char *const phase_names[] = {"immediate", "2h", "24h", "72h", "recovery"};
static const char *const phase_titles[] = {"First 30 minutes", "30 minutes to 2 hours",
                                           "2 to 24 hours", "24 to 72 hours", "Recovery (after 72 hours)"};
static const char *const role_names[] = {"command", "operations", "logistics", "planning",
                                         "public_info", "medical", "public"};
static const char *const role_titles[] = {"Incident command", "Operations", "Logistics", "Planning",
                                          "Public information", "Medical", "The public"};
static const char *const brief_names[RELIEF_BRIEF_COUNT] = {"protect", "lifesave", "command", "warn",
                                                          "rescue", "medical", "care"};

const char *relief_brief_kind_name(int k)
{
    return k >= 0 && k < RELIEF_BRIEF_COUNT ? brief_names[k] : "none";
}

static const char *const vg_names[] = {"children", "elderly", "patients", "disabled",
                                       "pregnant", "homeless", "prisoners"};
static const char *const infra_names[] = {"power", "water", "roads", "bridges", "comms", "hospital"};

const char *relief_phase_name(int p) { return p >= 0 && p < RELIEF_PHASE_COUNT ? phase_names[p] : "?"; }
const char *relief_phase_title(int p) { return p >= 0 && p < RELIEF_PHASE_COUNT ? phase_titles[p] : "?"; }
const char *relief_role_name(int r) { return r >= 0 && r < RELIEF_ROLE_COUNT ? role_names[r] : "?"; }
const char *relief_role_title(int r) { return r >= 0 && r < RELIEF_ROLE_COUNT ? role_titles[r] : "?"; }
const char *relief_vulnerable_name(int g) { return g >= 0 && g < RELIEF_VG_COUNT ? vg_names[g] : "?"; }
const char *relief_infra_name(int s) { return s >= 0 && s < RELIEF_INFRA_COUNT ? infra_names[s] : "?"; }

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

int guide_phase_from_name(const char *s) { return index_of(phase_names, RELIEF_PHASE_COUNT, s); }
int guide_role_from_name(const char *s) { return index_of(role_names, RELIEF_ROLE_COUNT, s); }
int guide_brief_from_name(const char *s) { return index_of(brief_names, RELIEF_BRIEF_COUNT, s); }
