/*
 * lexicon.c - phrase lists indexed by their first word, and finding their
 * phrases in a report's tokens (whole words, '*' prefixes, hashtag halves).
 * Detection, extraction, language guessing and number words all look up
 * through here.
 */
#include "guide_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- first-word hash index ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static kb_bucket *index_slot(kb_index *ix, const char *key)
{
    size_t mask = ix->cap - 1;
    uint64_t h = hash_str(key);
    for (size_t i = h & mask;; i = (i + 1) & mask)
        if (!ix->slots[i].key || (ix->slots[i].hash == h && !strcmp(ix->slots[i].key, key)))
            return &ix->slots[i];
}

const kb_bucket *kb_index_find(const kb_index *ix, const char *key)
{
    if (!ix->cap)
        return NULL;
    const kb_bucket *b = index_slot((kb_index *)ix, key);
    return b->key ? b : NULL;
}

int kb_index_add(kb_index *ix, const char *key, uint32_t id)
{
    kb_bucket *b = index_slot(ix, key);
    if (!b->key) {
        b->key = key;
        b->hash = hash_str(key);
        ix->used++;
    }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        uint32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p)
            return -1;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return 0;
}

void kb_index_free(kb_index *ix)
{
    for (size_t i = 0; i < ix->cap; i++)
        free(ix->slots[i].ids);
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

int lexicon_build_index(kb_lexicon *lx)
{
    size_t cap = 64;
    while (cap < lx->n_phrases * 2 + 16)
        cap *= 2;
    lx->exact.slots = calloc(cap, sizeof(kb_bucket));
    lx->prefix.slots = calloc(cap, sizeof(kb_bucket));
    if (!lx->exact.slots || !lx->prefix.slots)
        return -1;
    lx->exact.cap = lx->prefix.cap = cap;
    for (size_t i = 0; i < lx->n_phrases; i++) {
        const kb_phrase *p = &lx->phrases[i];
        kb_index *ix = p->prefix[0] ? &lx->prefix : &lx->exact;
        if (kb_index_add(ix, p->words[0], (uint32_t)i) < 0)
            return -1;
        if (p->prefix[0]) {
            size_t n = strlen(p->words[0]);
            bool seen = false;
            for (size_t k = 0; k < lx->n_prefix_lens; k++)
                seen |= lx->prefix_lens[k] == n;
            if (!seen) {
                if (n > 255 || lx->n_prefix_lens == sizeof lx->prefix_lens)
                    return -2;
                lx->prefix_lens[lx->n_prefix_lens++] = (uint8_t)n;
            }
        }
    }
    return 0;
}

void lexicon_free_index(kb_lexicon *lx)
{
    kb_index_free(&lx->exact);
    kb_index_free(&lx->prefix);
}

/* ---- finding phrases in tokens ---- */

/* Matches are pushed in token order (lexicon_find walks the tokens once),
 * so the vector is sorted by start; only the matches of the current token
 * can repeat this one. */
static int push_match(lex_match_vec *v, uint32_t phrase, size_t start, size_t end)
{
    for (size_t i = v->n; i > 0 && v->m[i - 1].start == start; i--) /* hashtag halves can repeat a match */
        if (v->m[i - 1].phrase == phrase)
            return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        lex_match *p = realloc(v->m, cap * sizeof *p);
        if (!p)
            return -1;
        v->m = p;
        v->cap = cap;
    }
    v->m[v->n++] = (lex_match){phrase, (uint32_t)start, (uint32_t)end, false};
    return 0;
}

bool lexicon_word_eq(const char *tok, const char *word, bool prefix)
{
    return prefix ? strncmp(tok, word, strlen(word)) == 0 : strcmp(tok, word) == 0;
}

/* Does phrase p match at token i? Returns the end token or 0. The first
 * word was already matched by the index lookup. */
size_t lexicon_match_rest(const kb_phrase *p, const token_list *t, size_t i)
{
    size_t j = i + 1;
    for (size_t w = 1; w < p->n_words; w++, j++) {
        if (j >= t->n || t->tok[j].sentence != t->tok[i].sentence)
            return 0;
        if (!lexicon_word_eq(tok_str(t, j), p->words[w], p->prefix[w]))
            return 0;
    }
    return j;
}

static int try_bucket(const kb_lexicon *kb, const kb_bucket *b, const token_list *t, size_t i,
                      bool single_only, lex_match_vec *out)
{
    if (!b)
        return 0;
    for (uint32_t k = 0; k < b->n; k++) {
        const kb_phrase *p = &kb->phrases[b->ids[k]];
        if (single_only && p->n_words != 1)
            continue;
        size_t end = lexicon_match_rest(p, t, i);
        if (end && push_match(out, b->ids[k], i, end) < 0)
            return -1;
    }
    return 0;
}

int lexicon_find(const kb_lexicon *kb, const token_list *t, lex_match_vec *out)
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
void lexicon_mark(const kb_phrase *list, size_t n, const token_list *t, uint8_t *start_at,
                         uint8_t *end_at)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *w = tok_str(t, i);
        for (size_t k = 0; k < n; k++) {
            const kb_phrase *p = &list[k];
            if (w[0] != p->words[0][0] || !lexicon_word_eq(w, p->words[0], p->prefix[0]))
                continue;
            size_t end = p->n_words == 1 ? i + 1 : lexicon_match_rest(p, t, i);
            if (!end)
                continue;
            start_at[i] = 1;
            end_at[end - 1] = 1;
        }
    }
}

