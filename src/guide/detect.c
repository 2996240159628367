/*
 * detect.c - multi-label hazard detection from the kb cue lexicons.
 *
 * Cues are matched on folded word tokens (whole words, '*' prefixes, hashtag
 * halves). A cue is dropped when it sits inside a `not:` phrase of its own
 * hazard or inside a longer cue of any hazard, or is negated ("no fire"); it counts a third when a non-event
 * or past-time phrase is near ("fire drill", "last year's flood"). Each
 * distinct cue counts once; a hazard is reported when its summed weight
 * reaches the kb threshold.
 */
#include "guide_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEG_WINDOW 3
#define NONEVENT_WINDOW 4 /* at most three words between the phrase and the cue it modifies */

typedef lex_match match;
typedef lex_match_vec match_vec;

static bool is_contraction_not(const token_list *t, size_t i)
{
    /* "don't", "isn't", "can't": tokenised as "don" + "t". */
    if (i == 0 || strcmp(tok_str(t, i), "t") || t->tok[i].sep != '\'' || !t->tok[i].glued)
        return false;
    const char *prev = tok_str(t, i - 1);
    size_t n = t->tok[i - 1].norm_len;
    return n && prev[n - 1] == 'n';
}

int guide_detect(const relief_kb *kb, const token_list *t, arena *a, detect_result *out)
{
    memset(out, 0, sizeof *out);
    if (t->n == 0)
        return 0;
    match_vec mv = {0};
    uint8_t *flags = calloc(t->n, 4);
    if (!flags || lexicon_find(&kb->cues, t, &mv) < 0) {
        free(flags);
        free(mv.m);
        return -1;
    }
    uint8_t *neg_end = flags, *ne_start = flags + t->n, *ne_end = flags + 2 * t->n;
    uint8_t *scratch = flags + 3 * t->n;
    lexicon_mark(kb->negation, kb->n_negation, t, scratch, neg_end);
    for (size_t i = 0; i < t->n; i++)
        if (is_contraction_not(t, i))
            neg_end[i] = 1;
    lexicon_mark(kb->nonevent, kb->n_nonevent, t, ne_start, ne_end);

    /* Drop cues inside not-phrases and inside longer cues. The matches are
     * sorted by start and none spans more than `span` tokens, so only those
     * starting in [start - span, end) can contain or lie inside match i:
     * linear in the report's length, not quadratic. */
    size_t span = 0;
    for (size_t i = 0; i < mv.n; i++)
        if (mv.m[i].end - mv.m[i].start > span)
            span = mv.m[i].end - mv.m[i].start;
    for (size_t i = 0; i < mv.n; i++) {
        match *m = &mv.m[i];
        const kb_phrase *p = &kb->cues.phrases[m->phrase];
        size_t lo = i;
        while (lo > 0 && mv.m[lo - 1].start + span >= m->start)
            lo--;
        if (p->hazard < 0) {
            m->dropped = true;
            for (size_t j = lo; j < mv.n && mv.m[j].start < m->end; j++) {
                match *c = &mv.m[j];
                if (kb->cues.phrases[c->phrase].hazard == p->owner && c->start >= m->start && c->end <= m->end)
                    c->dropped = true;
            }
            continue;
        }
        for (size_t j = lo; j < mv.n && mv.m[j].start <= m->start; j++) {
            const match *o = &mv.m[j];
            if (j == i || kb->cues.phrases[o->phrase].hazard < 0)
                continue;
            if (o->start <= m->start && o->end >= m->end && (o->end - o->start) > (m->end - m->start))
                m->dropped = true;
        }
    }

    /* Count each distinct cue phrase once per hazard. */
    for (size_t i = 0; i < mv.n; i++) {
        match *m = &mv.m[i];
        if (m->dropped)
            continue;
        const kb_phrase *p = &kb->cues.phrases[m->phrase];
        uint32_t sent = t->tok[m->start].sentence;
        bool negated = false;
        for (size_t k = m->start > NEG_WINDOW ? m->start - NEG_WINDOW : 0; k < m->start; k++)
            if (neg_end[k] && t->tok[k].sentence == sent)
                negated = true;
        if (negated)
            continue;
        const char *modifier = NULL;
        size_t lo = m->start > NONEVENT_WINDOW ? m->start - NONEVENT_WINDOW : 0;
        size_t hi = m->end + NONEVENT_WINDOW < t->n ? m->end + NONEVENT_WINDOW : t->n;
        for (size_t k = lo; k < hi && !modifier; k++) {
            if (t->tok[k].sentence != sent)
                continue;
            if ((ne_end[k] && k < m->start) || (ne_start[k] && k >= m->end))
                modifier = "non-event or past";
        }
        double w = p->weight / (modifier ? 3.0 : 1.0);
        for (size_t k = m->start; k < m->end && !modifier; k++)
            if (t->tok[k].corrected)
                modifier = "spelling corrected"; /* full weight: a typo is still the word */
        int h = p->hazard;
        /* Same phrase already counted for this hazard, or another phrase
         * over exactly the same words (a cue listed in two languages or
         * spellings: "incendio" es and "incêndio" pt)? Keep the larger
         * weight: one piece of text is one cue. */
        bool dup = false;
        size_t span_lo = t->tok[m->start].start, span_hi = t->tok[m->end - 1].end;
        for (size_t k = 0; k < out->n_hits[h]; k++) {
            if (out->hits[h][k].cue == p->display ||
                (out->hits[h][k].span.start == span_lo && out->hits[h][k].span.end == span_hi)) {
                if (w > out->hits[h][k].weight) {
                    out->score[h] += w - out->hits[h][k].weight;
                    out->hits[h][k].weight = w;
                    out->hits[h][k].modifier = modifier;
                }
                dup = true;
            }
        }
        if (dup)
            continue;
        relief_cue_hit *nh = arena_calloc(a, out->n_hits[h] + 1, sizeof *nh);
        if (!nh) {
            free(flags);
            free(mv.m);
            return -1;
        }
        if (out->n_hits[h])
            memcpy(nh, out->hits[h], out->n_hits[h] * sizeof *nh);
        nh[out->n_hits[h]] = (relief_cue_hit){p->display, {span_lo, span_hi}, w, modifier};
        out->hits[h] = nh;
        out->n_hits[h]++;
        out->score[h] += w;
    }
    free(flags);
    free(mv.m);
    return 0;
}
