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

/* Matches are pushed in token order (lexicon_find walks the tokens once),
 * so the vector is sorted by start; only the matches of the current token
 * can repeat this one. */
static int push_match(match_vec *v, uint32_t phrase, size_t start, size_t end)
{
    for (size_t i = v->n; i > 0 && v->m[i - 1].start == start; i--) /* hashtag halves can repeat a match */
        if (v->m[i - 1].phrase == phrase)
            return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        match *p = realloc(v->m, cap * sizeof *p);
        if (!p)
            return -1;
        v->m = p;
        v->cap = cap;
    }
    v->m[v->n++] = (match){phrase, (uint32_t)start, (uint32_t)end, false};
    return 0;
}

static bool word_eq(const char *tok, const char *word, bool prefix)
{
    return prefix ? strncmp(tok, word, strlen(word)) == 0 : strcmp(tok, word) == 0;
}

/* Does phrase p match at token i? Returns the end token or 0. The first
 * word was already matched by the index lookup. */
static size_t match_rest(const kb_phrase *p, const token_list *t, size_t i)
{
    size_t j = i + 1;
    for (size_t w = 1; w < p->n_words; w++, j++) {
        if (j >= t->n || t->tok[j].sentence != t->tok[i].sentence)
            return 0;
        if (!word_eq(tok_str(t, j), p->words[w], p->prefix[w]))
            return 0;
    }
    return j;
}

static int try_bucket(const kb_lexicon *kb, const kb_bucket *b, const token_list *t, size_t i,
                      bool single_only, match_vec *out)
{
    if (!b)
        return 0;
    for (uint32_t k = 0; k < b->n; k++) {
        const kb_phrase *p = &kb->phrases[b->ids[k]];
        if (single_only && p->n_words != 1)
            continue;
        size_t end = match_rest(p, t, i);
        if (end && push_match(out, b->ids[k], i, end) < 0)
            return -1;
    }
    return 0;
}

int lexicon_find(const kb_lexicon *kb, const token_list *t, match_vec *out)
{
    char key[256];
    for (size_t i = 0; i < t->n; i++) {
        if (t->tok[i].kind != TOK_WORD && t->tok[i].norm_len == 0)
            continue;
        const char *w = tok_str(t, i);
        size_t len = t->tok[i].norm_len;
        if (try_bucket(kb, kb_index_find(&kb->exact, w), t, i, false, out) < 0)
            return -1;
        for (size_t k = 0; k < kb->n_prefix_lens; k++) {
            size_t pl = kb->prefix_lens[k];
            if (pl > len || pl >= sizeof key)
                continue;
            memcpy(key, w, pl);
            key[pl] = '\0';
            if (try_bucket(kb, kb_index_find(&kb->prefix, key), t, i, false, out) < 0)
                return -1;
        }
        /* "#yycflood", "#prayforboston": a hashtag's head or tail may be a
         * cue; a head may be followed by a two-letter place code as short
         * as "#terremotocr", "#floodph" (tails stay 3 letters or more). */
        if (t->tok[i].hashtag && len >= 5 && len < sizeof key) {
            for (size_t cut = 3; cut + 2 <= len; cut++) {
                if (cut + 3 <= len && try_bucket(kb, kb_index_find(&kb->exact, w + cut), t, i, true, out) < 0)
                    return -1;
                memcpy(key, w, cut);
                key[cut] = '\0';
                if (try_bucket(kb, kb_index_find(&kb->exact, key), t, i, true, out) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Marks token positions where any of the phrases in list ends (end_at) or
 * starts (start_at); simple scan, the lists are short. */
static void mark_phrases(const kb_phrase *list, size_t n, const token_list *t, uint8_t *start_at,
                         uint8_t *end_at)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *w = tok_str(t, i);
        for (size_t k = 0; k < n; k++) {
            const kb_phrase *p = &list[k];
            if (w[0] != p->words[0][0] || !word_eq(w, p->words[0], p->prefix[0]))
                continue;
            size_t end = p->n_words == 1 ? i + 1 : match_rest(p, t, i);
            if (!end)
                continue;
            start_at[i] = 1;
            end_at[end - 1] = 1;
        }
    }
}

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
    mark_phrases(kb->negation, kb->n_negation, t, scratch, neg_end);
    for (size_t i = 0; i < t->n; i++)
        if (is_contraction_not(t, i))
            neg_end[i] = 1;
    mark_phrases(kb->nonevent, kb->n_nonevent, t, ne_start, ne_end);

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
