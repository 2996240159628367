/*
 * needs.c - the resource calculator: Sphere minimum standards (kb/needs.kb)
 * applied to the stated population over the planning horizon.
 */
#include "guide_int.h"

#include <math.h>
#include <string.h>

/* "15 L per person per day" in plan language li (li > 0: the kb's English
 * quantity is shown as written). */
static const char *basis_text(const relief_kb *kb, const kb_need *k, int li, arena *a)
{
    if (li == 0)
        return k->basis;
    char rate[64], per[64];
    i18n_format_number(rate, sizeof rate, k->rate, 3, li);
    i18n_format_number(per, sizeof per, k->per_n, 3, li);
    const char *names[] = {"n"};
    const char *values[] = {per};
    int s = k->per_household ? (k->per_n == 1 ? S_PER_HOUSEHOLD : S_PER_HOUSEHOLDS)
                             : (k->per_n == 1 ? S_PER_PERSON : S_PER_PEOPLE);
    const char *per_text = kb_strf(a, kb, li, s, names, values, 1);
    const char *time = k->time == 1 ? kb_str(kb, li, S_PER_DAY) : k->time == 2 ? kb_str(kb, li, S_PER_MONTH) : "";
    return arena_printf(a, "%s%s%s %s%s%s", rate, *k->unit ? " " : "", k->unit, per_text ? per_text : "",
                        *time ? " " : "", time);
}

int guide_needs(const relief_kb *kb, relief_plan *plan, arena *a)
{
    const relief_facts *f = &plan->facts;
    /* Needs are for the stated population only: no number, no table (the
     * plan's notes say what to state); no hazard, no plan at all. */
    if (!(f->people.known && f->people.value >= 1) || plan->n_detections == 0) {
        plan->needs = arena_calloc(a, 1, sizeof *plan->needs);
        plan->n_needs = 0;
        return plan->needs ? 0 : -1;
    }
    int li = i18n_lang_index(plan->plan_lang);
    if (li < 0)
        li = 0;
    double people = floor(f->people.value);
    double households = ceil(people / kb->household_size);
    plan->needs = arena_calloc(a, kb->n_needs ? kb->n_needs : 1, sizeof *plan->needs);
    if (!plan->needs)
        return -1;
    for (size_t i = 0; i < kb->n_needs; i++) {
        const kb_need *k = &kb->needs[i];
        relief_need *n = &plan->needs[i];
        double base = k->per_household ? households : people;
        double v = base * k->rate / k->per_n;
        if (k->time == 1)
            v *= plan->days;
        else if (k->time == 2)
            v *= plan->days / 30.0;
        if (k->count)
            v = ceil(v - 1e-9);
        if (k->round_to > 0)
            v = ceil(v / k->round_to - 1e-9) * k->round_to;
        n->id = k->id;
        n->label = kb_tr(k->label, k->label_tr, li);
        n->amount = v;
        n->unit = k->unit;
        n->basis = basis_text(kb, k, li, a);
        n->standard = kb_tr(k->standard, k->standard_tr, li);
        n->note = k->note ? kb_tr(k->note, k->note_tr, li) : NULL;
    }
    plan->n_needs = kb->n_needs;
    return 0;
}
