/*
 * needs.c - the resource calculator: Sphere minimum standards (kb/needs.kb)
 * applied to the stated population over the planning horizon.
 */
#include "guide_int.h"

#include <math.h>
#include <string.h>

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
        n->label = k->label;
        n->amount = v;
        n->unit = k->unit;
        n->basis = k->basis;
        n->standard = k->standard;
        n->note = k->note;
    }
    plan->n_needs = kb->n_needs;
    return 0;
}
