/*
 * cap_assess.c - the CAP 1.2 category, urgency, severity and certainty of a
 * plan, from its detections and facts. CAP defines each value in words
 * (CAP 1.2, 3.2.2); the rules that turn a report's facts into them are
 * here and in docs/formats.md, one place each.
 */
#include "formats/cap.h"
#include "guide/guide_int.h"

#include <string.h>

/* CAP's category of each hazard (taxonomy order). Floods and storms are
 * "Met" as weather services file them; a dam failure is infrastructure
 * ("Infra") and its flood, when reported, adds "Met". */
static const char *const categories[RELIEF_HZ_COUNT] = {
    [RELIEF_HZ_WILDFIRE] = "Fire",        [RELIEF_HZ_STRUCTURE_FIRE] = "Fire",
    [RELIEF_HZ_FLOOD] = "Met",            [RELIEF_HZ_TROPICAL_CYCLONE] = "Met",
    [RELIEF_HZ_TORNADO] = "Met",          [RELIEF_HZ_SEVERE_STORM] = "Met",
    [RELIEF_HZ_WINTER_STORM] = "Met",     [RELIEF_HZ_EXTREME_HEAT] = "Met",
    [RELIEF_HZ_EARTHQUAKE] = "Geo",       [RELIEF_HZ_TSUNAMI] = "Geo",
    [RELIEF_HZ_LANDSLIDE] = "Geo",        [RELIEF_HZ_VOLCANO] = "Geo",
    [RELIEF_HZ_DROUGHT] = "Env",          [RELIEF_HZ_EPIDEMIC] = "Health",
    [RELIEF_HZ_HAZMAT] = "CBRNE",         [RELIEF_HZ_RADIOLOGICAL] = "CBRNE",
    [RELIEF_HZ_EXPLOSION] = "CBRNE",      [RELIEF_HZ_BUILDING_COLLAPSE] = "Rescue",
    [RELIEF_HZ_TRANSPORT_ACCIDENT] = "Transport", [RELIEF_HZ_VIOLENCE] = "Security",
    [RELIEF_HZ_POWER_OUTAGE] = "Infra",   [RELIEF_HZ_DAM_FAILURE] = "Infra",
};

const char *cap_category(int hazard)
{
    return hazard >= 0 && hazard < RELIEF_HZ_COUNT && categories[hazard] ? categories[hazard] : "Other";
}

enum { SEV_UNKNOWN, SEV_MINOR, SEV_MODERATE, SEV_SEVERE, SEV_EXTREME };
static const char *const sev_names[] = {"Unknown", "Minor", "Moderate", "Severe", "Extreme"};

/* The severity of a hazard when the report gives no number: "Extreme" for
 * those that kill many in minutes wherever they strike (the warnings
 * weather services issue as Extreme), "Moderate" for those that harm over
 * days and mostly the exposed, "Severe" for the rest. */
static int base_severity(int h)
{
    switch (h) {
    case RELIEF_HZ_TSUNAMI:
    case RELIEF_HZ_TORNADO:
    case RELIEF_HZ_TROPICAL_CYCLONE:
    case RELIEF_HZ_DAM_FAILURE:
        return SEV_EXTREME;
    case RELIEF_HZ_WINTER_STORM:
    case RELIEF_HZ_EXTREME_HEAT:
    case RELIEF_HZ_DROUGHT:
    case RELIEF_HZ_EPIDEMIC:
    case RELIEF_HZ_POWER_OUTAGE:
        return SEV_MODERATE;
    default:
        return SEV_SEVERE;
    }
}

static double qval(const relief_quantity *q)
{
    return q->known ? q->value : 0;
}

static bool has_tag(const relief_facts *f, const char *tag)
{
    for (size_t i = 0; i < f->n_tags; i++)
        if (f->tags[i] && !strcmp(f->tags[i], tag))
            return true;
    return false;
}

void cap_assess(const relief_kb *kb, const relief_plan *p, cap_assessment *out)
{
    memset(out, 0, sizeof *out);
    const relief_facts *f = &p->facts;
    int sev = SEV_UNKNOWN;
    size_t n_primary = 0;
    for (size_t i = 0; i < p->n_detections; i++) {
        const relief_detection *d = &p->detections[i];
        if (d->secondary || d->hazard < 0 || d->hazard >= RELIEF_HZ_COUNT)
            continue; /* a plan's inference, not what the report says */
        n_primary++;
        const char *c = cap_category(d->hazard);
        bool seen = false;
        for (size_t k = 0; k < out->n_categories; k++)
            seen |= !strcmp(out->categories[k], c);
        if (!seen && out->n_categories < RELIEF_HZ_COUNT)
            out->categories[out->n_categories++] = c;
        int b = base_severity(d->hazard);
        if (b > sev)
            sev = b;
        if (kb && kb->hazards[d->hazard].zone_leave)
            out->evacuate = true;
    }
    if (!out->n_categories)
        out->categories[out->n_categories++] = "Other";

    /* Severity: the hazard's own, raised by what the report counts. Any
     * death, person trapped or missing, or injury is a significant threat
     * to life (Severe); ten deaths, a hundred casualties or a hundred
     * thousand people affected are extraordinary (Extreme). A slow hazard
     * touching fewer than fifty people with nobody hurt is Minor. */
    double casualties = qval(&f->dead) + qval(&f->injured) + qval(&f->trapped) + qval(&f->missing);
    bool hurt = casualties > 0 || f->dead.mentioned || f->injured.mentioned || f->trapped.mentioned ||
                f->missing.mentioned;
    if (n_primary) {
        if (hurt && sev < SEV_SEVERE)
            sev = SEV_SEVERE;
        if (qval(&f->dead) >= 10 || casualties >= 100 || qval(&f->people) >= 100000)
            sev = SEV_EXTREME;
        if (sev == SEV_MODERATE && !hurt && f->people.known && f->people.value < 50)
            sev = SEV_MINOR;
    }
    out->severity = sev_names[sev];

    /* Certainty: Observed when the report tells of harm already done (people
     * hurt, trapped, missing, systems down), Likely or Possible when it
     * speaks of what is to come (a time before impact, or the words of a
     * forecast: tag.likely and tag.possible in kb/extract.kb), Observed
     * otherwise: a situation report tells what is happening. */
    bool damage = hurt;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        damage |= f->infra[s].present;
    bool possible = has_tag(f, "possible"), likely = has_tag(f, "likely");
    bool ahead = f->time_s.known && f->time_s.value > 0;
    if (!n_primary)
        out->certainty = "Unknown";
    else if (damage)
        out->certainty = "Observed";
    else if (ahead || possible || likely)
        out->certainty = possible && !likely ? "Possible" : "Likely";
    else
        out->certainty = "Observed";

    /* Urgency (CAP: when responsive action should be taken): Immediate when
     * the threat is under way or at most 15 minutes away (relief's
     * "imminent"), Expected within the hour, Future beyond it, Unknown when
     * nothing says when. */
    bool observed = !strcmp(out->certainty, "Observed");
    if (!n_primary)
        out->urgency = "Unknown";
    else if (observed || (f->time_s.known && f->time_s.value <= 15 * 60))
        out->urgency = "Immediate";
    else if (f->time_s.known && f->time_s.value <= 3600)
        out->urgency = "Expected";
    else if (f->time_s.known)
        out->urgency = "Future";
    else
        out->urgency = "Unknown";
}
