/*
 * plan.c - turns detections and facts into the phased plan: merges hazard
 * and cross-cutting protocol steps, resolves their conditions, adds
 * secondary hazards, de-duplicates, compresses the timeline when time is
 * short, and orders by phase and priority. Also the pipeline entry point
 * relief_plan_build().
 */
#include "guide_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHORT_TIME_S 7200.0   /* at or below this, urgent steps move to the first phase */
#define MAX_SECONDARY_ROUNDS 2

typedef struct {
    const kb_step *st;
    const char *origin;
    const char *note;
    int phase;
    int moved;        /* 1 when pulled forward for a short timeline */
    int group;        /* 0 primary hazards, 1 protocols, 2 secondary hazards */
    size_t seq;       /* kb order, for a stable result */
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->phase != y->phase)
        return x->phase - y->phase;
    if (x->moved != y->moved)
        return y->moved - x->moved;
    if ((x->group == 2) != (y->group == 2))
        return (x->group == 2) - (y->group == 2);
    if (x->st->priority != y->st->priority)
        return x->st->priority - y->st->priority;
    if (x->group != y->group)
        return x->group - y->group;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
    cand *c;
    size_t n, cap;
} cand_vec;

static int add_steps(cand_vec *v, const kb_step *steps, size_t n, const cond_env *env, const char *origin,
                     const char *note, int group, const relief_facts *f)
{
    for (size_t i = 0; i < n; i++) {
        if (!cond_eval(steps[i].when, env))
            continue;
        if (v->n == v->cap) {
            size_t cap = v->cap ? v->cap * 2 : 64;
            cand *p = realloc(v->c, cap * sizeof *p);
            if (!p)
                return -1;
            v->c = p;
            v->cap = cap;
        }
        cand *c = &v->c[v->n];
        c->st = &steps[i];
        c->origin = origin;
        c->note = note;
        c->phase = steps[i].phase;
        c->moved = 0;
        c->group = group;
        c->seq = v->n;
        if (group == 2) {
            /* A secondary hazard has not happened yet: its steps start
             * after the first phase and never jump the queue. */
            if (c->phase == RELIEF_PHASE_IMMEDIATE)
                c->phase = RELIEF_PHASE_2H;
        } else if (f->time_s.known && f->time_s.value <= SHORT_TIME_S &&
                   (steps[i].urgent || (group == 0 && steps[i].priority == 1 && c->phase == RELIEF_PHASE_2H))) {
            /* Short timeline: life-safety steps and the hazard's most urgent
             * second-phase steps all happen now, ahead of everything else. */
            c->phase = RELIEF_PHASE_IMMEDIATE;
            c->moved = 1;
        }
        v->n++;
    }
    return 0;
}

/* Steps with the same id, or the same text, are one step (kb dedup key):
 * keep the first in plan order (earliest phase, highest priority). */
static size_t dedupe(cand *c, size_t n, uint8_t *seen)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = c[i].st->dedup;
        if (seen[k >> 3] & (1u << (k & 7)))
            continue;
        seen[k >> 3] |= (uint8_t)(1u << (k & 7));
        c[out++] = c[i];
    }
    return out;
}

static const char *format_duration(arena *a, double s)
{
    if (s < 3600)
        return arena_printf(a, "%.0f minutes", ceil(s / 60));
    if (s < 172800)
        return arena_printf(a, "%.1f hours", s / 3600);
    return arena_printf(a, "%.1f days", s / 86400);
}

int guide_plan_steps(const relief_kb *kb, relief_plan *plan, arena *a)
{
    cond_env env = {&plan->facts, plan->days, 0};
    for (size_t i = 0; i < plan->n_detections; i++)
        env.hazards |= 1u << plan->detections[i].hazard;

    const char *notes[8];
    size_t n_notes = 0;
    const relief_facts *f = &plan->facts;
    if (f->time_s.known && f->time_s.value <= SHORT_TIME_S) {
        const char *d = format_duration(a, f->time_s.value);
        notes[n_notes++] = arena_printf(a, "Time is short (about %s): life-safety steps are moved to the first phase.",
                                        d ? d : "?");
    }
    if (plan->n_detections == 0)
        notes[n_notes++] = "No specific hazard was recognised in the report: the general protocols below apply. "
                           "Name the hazard (flood, fire, earthquake...) for specific steps.";

    cand_vec v = {0};
    int rc = 0;
    for (size_t i = 0; i < plan->n_detections && rc == 0; i++) {
        const relief_detection *d = &plan->detections[i];
        const kb_hazard *hz = &kb->hazards[d->hazard];
        const char *note = NULL;
        if (d->secondary) {
            for (size_t k = 0; k < plan->n_detections && !note; k++) {
                const kb_hazard *ph = &kb->hazards[plan->detections[k].hazard];
                for (size_t s = 0; s < ph->n_secondary && !note; s++)
                    if (ph->secondary[s].hazard == d->hazard && !plan->detections[k].secondary)
                        note = arena_printf(a, "Secondary hazard of %s: %s",
                                            relief_hazard_name(plan->detections[k].hazard), ph->secondary[s].note);
            }
        }
        rc = add_steps(&v, hz->steps, hz->n_steps, &env, relief_hazard_name(d->hazard), note,
                       d->secondary ? 2 : 0, f);
    }
    for (size_t i = 0; i < kb->n_protocols && rc == 0; i++) {
        const kb_protocol *p = &kb->protocols[i];
        if (!cond_eval(p->applies, &env))
            continue;
        const char *origin = arena_printf(a, "protocol:%s", p->id);
        rc = origin ? add_steps(&v, p->steps, p->n_steps, &env, origin, NULL, 1, f) : -1;
    }
    if (rc < 0) {
        free(v.c);
        return -1;
    }
    if (v.n)
        qsort(v.c, v.n, sizeof *v.c, cmp_cand);
    uint8_t *seen = calloc(kb->n_dedup / 8 + 1, 1);
    if (!seen) {
        free(v.c);
        return -1;
    }
    size_t n = dedupe(v.c, v.n, seen);
    free(seen);
    plan->steps = arena_calloc(a, n ? n : 1, sizeof *plan->steps);
    if (!plan->steps) {
        free(v.c);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const cand *c = &v.c[i];
        relief_step *s = &plan->steps[i];
        s->number = (int)i + 1;
        s->phase = c->phase;
        s->role = c->st->role;
        s->priority = c->st->priority;
        s->id = c->st->id;
        s->text = c->st->text;
        s->source = c->st->source;
        s->origin = c->origin;
        if (c->moved && c->st->phase != RELIEF_PHASE_IMMEDIATE)
            s->note = arena_printf(a, "Moved forward from %s: time is short.", relief_phase_title(c->st->phase));
        else
            s->note = c->note;
    }
    plan->n_steps = n;
    free(v.c);
    plan->notes = arena_calloc(a, n_notes ? n_notes : 1, sizeof *plan->notes);
    if (!plan->notes)
        return -1;
    memcpy(plan->notes, notes, n_notes * sizeof *notes);
    plan->n_notes = n_notes;
    return a->failed ? -1 : 0;
}

/* Builds the detection list: detected hazards by confidence, then the
 * secondary hazards their kb entries name when the conditions hold. */
static int build_detections(const relief_kb *kb, const detect_result *dr, relief_plan *plan, arena *a)
{
    relief_detection tmp[RELIEF_HZ_COUNT];
    size_t n = 0;
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        if (dr->score[h] + 1e-9 < kb->threshold)
            continue;
        relief_detection *d = &tmp[n++];
        d->hazard = h;
        d->score = dr->score[h];
        d->confidence = 1.0 - exp(-dr->score[h] / 3.0);
        d->secondary = false;
        d->cues = dr->hits[h];
        d->n_cues = dr->n_hits[h];
    }
    for (size_t i = 1; i < n; i++) /* insertion sort by score, stable */
        for (size_t j = i; j > 0 && tmp[j].score > tmp[j - 1].score; j--) {
            relief_detection t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    size_t n_primary = n;
    for (int round = 0; round < MAX_SECONDARY_ROUNDS; round++) {
        cond_env env = {&plan->facts, plan->days, 0};
        for (size_t i = 0; i < n; i++)
            env.hazards |= 1u << tmp[i].hazard;
        size_t n_before = n;
        for (size_t i = 0; i < n_before; i++) {
            const kb_hazard *hz = &kb->hazards[tmp[i].hazard];
            for (size_t s = 0; s < hz->n_secondary; s++) {
                int sh = hz->secondary[s].hazard;
                if ((env.hazards >> sh) & 1u || !cond_eval(hz->secondary[s].when, &env))
                    continue;
                env.hazards |= 1u << sh;
                relief_detection *d = &tmp[n++];
                memset(d, 0, sizeof *d);
                d->hazard = sh;
                d->secondary = true;
                d->score = dr->score[sh];
                d->confidence = 1.0 - exp(-dr->score[sh] / 3.0);
                d->cues = dr->hits[sh];
                d->n_cues = dr->n_hits[sh];
            }
        }
    }
    (void)n_primary;
    plan->detections = arena_calloc(a, n ? n : 1, sizeof *plan->detections);
    if (!plan->detections)
        return -1;
    memcpy(plan->detections, tmp, n * sizeof *tmp);
    plan->n_detections = n;
    return 0;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

relief_plan *relief_plan_build(const relief_kb *kb, const char *report, size_t len, const relief_options *opt)
{
    double t0 = now_us();
    arena a;
    arena_init(&a, 1 << 15);
    relief_plan *plan = arena_alloc(&a, sizeof *plan + sizeof(arena));
    if (!plan) {
        arena_free(&a);
        return NULL;
    }
    plan->days = opt && opt->days > 0 ? (opt->days > 365 ? 365 : opt->days) : 3;
    plan->household_size = kb->household_size;
    char *copy = arena_strndup(&a, report ? report : "", report ? len : 0);
    plan->report = copy;
    plan->report_len = report ? len : 0;

    token_list toks = {0};
    detect_result dr;
    int rc = copy ? 0 : -1;
    if (rc == 0)
        rc = text_tokenize(copy, plan->report_len, &toks);
    if (rc == 0)
        rc = guide_detect(kb, &toks, &a, &dr);
    if (rc == 0)
        rc = guide_extract(kb, copy, &toks, &a, opt ? opt->now : 0, &plan->facts);
    if (rc == 0)
        rc = build_detections(kb, &dr, plan, &a);
    if (rc == 0)
        rc = guide_plan_steps(kb, plan, &a);
    if (rc == 0)
        rc = guide_needs(kb, plan, &a);
    token_list_free(&toks);
    if (rc < 0 || a.failed) {
        arena_free(&a);
        return NULL;
    }
    /* The arena lives inside its own first allocation's neighbour slot. */
    memcpy((char *)plan + sizeof *plan, &a, sizeof a);
    plan->elapsed_us = now_us() - t0;
    return plan;
}

void relief_plan_free(relief_plan *plan)
{
    if (!plan)
        return;
    arena a;
    memcpy(&a, (char *)plan + sizeof *plan, sizeof a);
    arena_free(&a);
}
