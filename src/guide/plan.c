/*
 * plan.c - turns detections and facts into the phased plan: merges hazard
 * and cross-cutting protocol steps, resolves their conditions, adds
 * secondary hazards, de-duplicates, compresses the timeline when time is
 * short, and orders by phase and priority. Also the pipeline entry point
 * relief_plan_build().
 */
#include "guide_int.h"
#include "util/clock.h"

#include <assert.h>
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
    int hazard;       /* the hazard the step comes from, -1 for a protocol */
    int rank;         /* the brief's precedence: 0 for a zone people must leave, then detection order */
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
                     const char *note, int group, int hazard, int rank, const relief_facts *f)
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
        c->hazard = hazard;
        c->rank = rank;
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

/* Cross-hazard rules (kb/rules.kb): a rule that holds sends the first-30-
 * minute steps of its `from` hazards with a deferred brief kind to the
 * second phase, with the rule's note (rescue waits while people leave a
 * zone about to be hit). */
static void apply_rules(const relief_kb *kb, int li, const cond_env *env, cand *c, size_t n, arena *a)
{
    for (size_t r = 0; r < kb->n_rules; r++) {
        const kb_rule *rule = &kb->rules[r];
        if (!cond_eval(rule->when, env))
            continue;
        for (size_t i = 0; i < n; i++) {
            if (c[i].phase != RELIEF_PHASE_IMMEDIATE || c[i].hazard < 0 || c[i].st->brief < 0 ||
                !((rule->defer >> c[i].st->brief) & 1u) || !((rule->from >> c[i].hazard) & 1u))
                continue;
            assert(c[i].st->brief != RELIEF_BRIEF_PROTECT); /* the loader refuses such rules */
            c[i].phase = RELIEF_PHASE_2H;
            c[i].moved = 0;
            const char *names[] = {"rule", "note"};
            const char *values[] = {rule->id, kb_tr(rule->note, rule->note_tr, li)};
            c[i].note = kb_strf(a, kb, li, S_NOTE_WAITS, names, values, 2);
        }
    }
}

/* Steps of one group (the same measure from several hazards) are one step
 * in the plan: the one with the largest distance, else the first in plan
 * order; its note says what it was chosen over. c is in plan order. */
/* A step's origin as the plan's notes name it: the hazard, or the protocol. */
static const char *origin_title(const relief_kb *kb, int li, const cand *c)
{
    if (c->hazard >= 0)
        return kb_str(kb, li, S_HZ_WILDFIRE + c->hazard);
    return c->origin;
}

/* "The more protective distance: chosen over ...": keep's note. */
static void group_note(const relief_kb *kb, int li, cand *keep, const cand *drop, arena *a)
{
    char dist[64];
    i18n_format_number(dist, sizeof dist, drop->st->distance_m, 0, li);
    const char *names[] = {"origin", "distance", "group"};
    const char *values[] = {origin_title(kb, li, drop), dist, keep->st->group};
    keep->note = kb_strf(a, kb, li, S_NOTE_GROUP, names, values, 3);
}

static size_t resolve_groups(const relief_kb *kb, int li, cand *c, size_t n, arena *a, bool *moved)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        const char *g = c[i].st->group;
        if (!g) {
            c[out++] = c[i];
            continue;
        }
        size_t k;
        for (k = 0; k < out; k++)
            if (c[k].st->group && !strcmp(c[k].st->group, g))
                break;
        if (k == out) {
            c[out++] = c[i];
            continue;
        }
        /* c[k] is the kept one so far; keep the more protective. */
        cand *keep = &c[k], *drop = &c[i];
        bool swap = drop->st->distance_m > keep->st->distance_m;
        if (swap) {
            cand t = *keep;
            int phase = keep->phase < drop->phase ? keep->phase : drop->phase;
            *keep = *drop;
            *moved |= keep->phase != phase;
            keep->phase = phase; /* the measure keeps the earlier of the two times */
            drop = &t;
            if (drop->st->distance_m > 0)
                group_note(kb, li, keep, drop, a);
        } else if (drop->st->distance_m > 0 && keep->st->distance_m > drop->st->distance_m) {
            group_note(kb, li, keep, drop, a);
        }
    }
    return out;
}

/* The brief: first-30-minute steps marked with a brief kind, in the order
 * of kb/rules.kb's [brief] (kinds first, then precedence, priority and plan
 * order). A first pass takes each kind up to its limit, a second fills what
 * is left up to the maximum. */
static int select_brief(const relief_kb *kb, relief_plan *plan, const cand *c, arena *a)
{
    size_t n = plan->n_steps, max = (size_t)kb->brief_max;
    const relief_step **pick = arena_calloc(a, max ? max : 1, sizeof *pick);
    bool *taken = calloc(n ? n : 1, sizeof *taken);
    if (!pick || !taken) {
        free(taken);
        return -1;
    }
    /* Candidates in brief order: kind rank, then precedence rank, priority, plan order. */
    size_t *order = malloc((n ? n : 1) * sizeof *order), m = 0;
    if (!order) {
        free(taken);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (plan->steps[i].phase == RELIEF_PHASE_IMMEDIATE && plan->steps[i].brief_kind >= 0)
            order[m++] = i;
    for (size_t i = 1; i < m; i++) /* insertion sort: m is small */
        for (size_t j = i; j > 0; j--) {
            const relief_step *x = &plan->steps[order[j - 1]], *y = &plan->steps[order[j]];
            const cand *cx = &c[order[j - 1]], *cy = &c[order[j]];
            int d = kb->brief_rank[x->brief_kind] - kb->brief_rank[y->brief_kind];
            if (!d)
                d = cx->rank - cy->rank;
            if (!d)
                d = x->priority - y->priority;
            if (!d)
                d = x->number - y->number;
            if (d <= 0)
                break;
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t got = 0;
    int per_kind[RELIEF_BRIEF_COUNT] = {0};
    for (size_t i = 0; i < m && got < max; i++) {
        const relief_step *st = &plan->steps[order[i]];
        if (per_kind[st->brief_kind] < kb->brief_limit[st->brief_kind]) {
            per_kind[st->brief_kind]++;
            taken[order[i]] = true;
            pick[got++] = st;
        }
    }
    for (size_t i = 0; i < m && got < max; i++)
        if (!taken[order[i]]) {
            taken[order[i]] = true;
            pick[got++] = &plan->steps[order[i]];
        }
    free(order);
    free(taken);
    /* Kinds in their order (a stable sort: within a kind, the order above). */
    for (size_t i = 1; i < got; i++)
        for (size_t j = i; j > 0 && kb->brief_rank[pick[j - 1]->brief_kind] > kb->brief_rank[pick[j]->brief_kind];
             j--) {
            const relief_step *t = pick[j];
            pick[j] = pick[j - 1];
            pick[j - 1] = t;
        }
    assert(got <= max);
    plan->brief = pick;
    plan->n_brief = got;
    return 0;
}

static const char *format_duration(const relief_kb *kb, int li, arena *a, double s)
{
    char n[64];
    int str = S_DUR_DAYS;
    if (s < 3600) {
        i18n_format_number(n, sizeof n, ceil(s / 60), 0, li);
        str = S_DUR_MINUTES;
    } else {
        double v = s < 172800 ? s / 3600 : s / 86400;
        i18n_format_number(n, sizeof n, v, -1, li); /* one decimal, as ever: "2.0 hours" */
        if (s < 172800)
            str = S_DUR_HOURS;
    }
    const char *names[] = {"n"};
    const char *values[] = {n};
    return kb_strf(a, kb, li, str, names, values, 1);
}

int guide_plan_steps(const relief_kb *kb, relief_plan *plan, arena *a)
{
    const relief_facts *f = &plan->facts;
    int li = i18n_lang_index(plan->plan_lang);
    if (li < 0)
        li = 0;
    cond_env env = {.facts = f, .days = plan->days};
    for (size_t i = 0; i < plan->n_detections; i++) {
        env.hazards |= 1u << plan->detections[i].hazard;
        env.trauma |= !plan->detections[i].secondary && kb->hazards[plan->detections[i].hazard].trauma;
    }
    for (size_t i = 0; i < f->n_tags; i++)
        for (uint32_t t = 0; t < kb->tags.n; t++)
            if (f->tags[i] == kb->tags.names[t])
                env.tags |= 1ull << t;

    const char *notes[8];
    size_t n_notes = 0;
    if (plan->plan_lang_wanted) {
        /* In English, for whoever reads this plan instead of one in the report's language. */
        const char *name = plan->plan_lang_wanted;
        for (size_t i = 0; i < kb->n_langs; i++)
            if (!strcmp(kb->langs[i].code, name))
                name = kb->langs[i].name;
        const char *lang = arena_printf(a, "%s (%s)", name, plan->plan_lang_wanted);
        const char *names[] = {"language"};
        const char *values[] = {lang};
        notes[n_notes++] = kb_strf(a, kb, 0, S_LANG_FALLBACK, names, values, 1);
    }
    if (plan->n_detections == 0) {
        /* No hazard, no plan: a drill, a film, a figure of speech, or too
         * little to go on. Say what a useful report holds instead. */
        notes[n_notes++] = kb_str(kb, li, S_NOTE_NO_HAZARD);
        notes[n_notes++] = kb_str(kb, li, S_NOTE_CALL);
        plan->steps = arena_calloc(a, 1, sizeof *plan->steps);
        plan->brief = arena_calloc(a, 1, sizeof *plan->brief);
        plan->notes = arena_calloc(a, n_notes, sizeof *plan->notes);
        if (!plan->steps || !plan->brief || !plan->notes)
            return -1;
        memcpy(plan->notes, notes, n_notes * sizeof *notes);
        plan->n_notes = n_notes;
        return a->failed ? -1 : 0;
    }
    if (f->time_s.known && f->time_s.value <= SHORT_TIME_S) {
        const char *d = format_duration(kb, li, a, f->time_s.value);
        const char *names[] = {"time"};
        const char *values[] = {d ? d : "?"};
        notes[n_notes++] = kb_strf(a, kb, li, S_NOTE_TIME_SHORT, names, values, 1);
    }
    if (!f->people.known)
        notes[n_notes++] = kb_str(kb, li, S_NOTE_NO_PEOPLE);

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
                    if (ph->secondary[s].hazard == d->hazard && !plan->detections[k].secondary) {
                        const char *names[] = {"hazard", "note"};
                        const char *values[] = {kb_str(kb, li, S_HZ_WILDFIRE + plan->detections[k].hazard),
                                                kb_tr(ph->secondary[s].note, ph->secondary[s].note_tr, li)};
                        note = kb_strf(a, kb, li, S_NOTE_SECONDARY, names, values, 2);
                    }
            }
        }
        /* Precedence in the brief: people leave a zone about to be hit
         * before anything else happens inside it. */
        int rank = d->secondary ? 100 + (int)i : hz->zone_leave ? 0 : 1 + (int)i;
        rc = add_steps(&v, hz->steps, hz->n_steps, &env, relief_hazard_name(d->hazard), note,
                       d->secondary ? 2 : 0, d->hazard, rank, f);
    }
    for (size_t i = 0; i < kb->n_protocols && rc == 0; i++) {
        const kb_protocol *p = &kb->protocols[i];
        if (!cond_eval(p->applies, &env))
            continue;
        const char *origin = arena_printf(a, "protocol:%s", p->id);
        rc = origin ? add_steps(&v, p->steps, p->n_steps, &env, origin, NULL, 1, -1, 50, f) : -1;
    }
    if (rc < 0) {
        free(v.c);
        return -1;
    }
    apply_rules(kb, li, &env, v.c, v.n, a);
    if (v.n)
        qsort(v.c, v.n, sizeof *v.c, cmp_cand);
    uint8_t *seen = calloc(kb->n_dedup / 8 + 1, 1);
    if (!seen) {
        free(v.c);
        return -1;
    }
    size_t n = dedupe(v.c, v.n, seen);
    free(seen);
    bool moved = false;
    n = resolve_groups(kb, li, v.c, n, a, &moved);
    if (moved) /* a kept group step took an earlier phase */
        qsort(v.c, n, sizeof *v.c, cmp_cand);
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
        s->text = kb_tr(c->st->text, c->st->text_tr, li);
        s->short_text = c->st->short_text ? kb_tr(c->st->short_text, c->st->short_tr, li) : NULL;
        s->brief_kind = c->st->brief;
        s->source = c->st->source;
        s->origin = c->origin;
        if (c->moved && c->st->phase != RELIEF_PHASE_IMMEDIATE) {
            const char *names[] = {"phase"};
            const char *values[] = {kb_str(kb, li, S_PHASE_IMMEDIATE + c->st->phase)};
            s->note = kb_strf(a, kb, li, S_NOTE_MOVED, names, values, 1);
        } else
            s->note = c->note;
        assert(i == 0 || s->phase >= plan->steps[i - 1].phase); /* phases in time order */
    }
    plan->n_steps = n;
    rc = select_brief(kb, plan, v.c, a);
    free(v.c);
    if (rc < 0)
        return -1;
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
        cond_env env = {.facts = &plan->facts, .days = plan->days};
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

/* The plan's language: the one asked for, else the report's, when its
 * plans are complete; else English, saying which language was wanted. */
static void choose_language(const relief_kb *kb, const relief_options *opt, relief_plan *plan, arena *a)
{
    const char *want = opt && opt->lang && *opt->lang ? opt->lang : NULL;
    const char *reason = want ? (opt->lang_reason ? opt->lang_reason : "requested") : "detected";
    if (!want)
        want = plan->lang;
    plan->plan_lang = "en";
    plan->plan_lang_wanted = NULL;
    if (!strcmp(want, "en")) {
        plan->plan_lang_reason = !strcmp(reason, "detected") ? "default" : reason;
    } else if (relief_kb_plan_language(kb, want)) {
        plan->plan_lang = i18n_lang_code(i18n_lang_index(want));
        plan->plan_lang_reason = reason;
    } else {
        plan->plan_lang_reason = "not-translated";
        /* A kb language's own code (static for the kb's life); the code
         * asked for is the caller's and must not outlive the call. */
        for (size_t i = 0; i < kb->n_langs && !plan->plan_lang_wanted; i++)
            if (!strcmp(kb->langs[i].code, want))
                plan->plan_lang_wanted = kb->langs[i].code;
        if (!plan->plan_lang_wanted)
            plan->plan_lang_wanted = arena_strndup(a, want, strnlen(want, 16));
    }
}

relief_plan *relief_plan_build(const relief_kb *kb, const char *report, size_t len, const relief_options *opt)
{
    double t0 = (clock_now() * 1e6);
    arena a;
    arena_init(&a, 1 << 15);
    relief_plan *plan = arena_alloc(&a, sizeof *plan + sizeof(arena));
    if (!plan) {
        arena_free(&a);
        return NULL;
    }
    plan->days = opt && opt->days > 0 ? (opt->days > 365 ? 365 : opt->days) : 3;
    plan->household_size = kb->household_size;
    plan->kb = kb;
    char *copy = arena_strndup(&a, report ? report : "", report ? len : 0);
    plan->report = copy;
    plan->report_len = report ? len : 0;

    token_list toks = {0};
    detect_result dr;
    int rc = copy ? 0 : -1;
    if (rc == 0)
        rc = text_tokenize(copy, plan->report_len, &toks);
    if (rc == 0)
        rc = guide_language(kb, &toks, &plan->lang, &plan->lang_hits);
    if (rc == 0)
        choose_language(kb, opt, plan, &a);
    /* Detection reads misspelt cue words as the cues they stand for;
     * extraction reads the report as written. */
    token_list fixed = {0};
    if (rc == 0 && guide_spell_fix(kb, copy, &toks, plan->lang, &fixed) < 0)
        rc = -1;
    if (rc == 0)
        rc = guide_detect(kb, fixed.tok ? &fixed : &toks, &a, &dr);
    token_list_free(&fixed);
    if (rc == 0)
        rc = guide_extract(kb, copy, &toks, plan->lang, &a, opt ? opt->now : 0, &plan->facts);
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
    plan->elapsed_us = (clock_now() * 1e6) - t0;
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
