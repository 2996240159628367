/*
 * speller.c - typo-tolerant cue matching: a report word that is not a cue
 * but lies within one edit of a cue word of 5 or more letters (two edits
 * for 9 or more: insert, delete, substitute, transpose) is read as that
 * cue word, unless a dictionary of the report's language or English knows
 * it as a word of its own ("floor" is not a misspelt "flood"). The
 * dictionaries are Debian's hunspell ones, loaded on first need.
 *
 * Candidates come from a symmetric-delete index built once per kb: every
 * cue word with up to its allowed number of letters deleted. A report word
 * with its own deletions looked up there finds every cue word within reach
 * without comparing against all of them.
 */
#include "guide_int.h"

#include <hunspell.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPELL_MIN_CUE 5   /* shorter cue words are never matched loosely */
#define SPELL_TWO_EDITS 9 /* cue words this long allow two edits */
#define SPELL_MAX_WORD 40 /* longer words are not looked at */

/* ---- the delete index ---- */

static int allowed_edits(size_t cue_len)
{
    return cue_len >= SPELL_TWO_EDITS ? 2 : cue_len >= SPELL_MIN_CUE ? 1 : 0;
}

/* Calls fn(key) for word and every string made by deleting up to d bytes
 * of it, never the first (candidates must share the first letter), so
 * duplicates are possible. Returns -1 when fn fails. */
static int each_delete(const char *w, size_t n, int d, int (*fn)(void *, const char *, size_t), void *u)
{
    char buf[SPELL_MAX_WORD + 1];
    if (fn(u, w, n) < 0)
        return -1;
    if (d == 0 || n <= 2)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (i > 0 && w[i] == w[i - 1])
            continue; /* deleting either of a double letter gives the same string */
        memcpy(buf, w, i);
        memcpy(buf + i, w + i + 1, n - i - 1);
        buf[n - 1] = '\0';
        if (each_delete(buf, n - 1, d - 1, fn, u) < 0)
            return -1;
    }
    return 0;
}

typedef struct {
    relief_kb *kb;
    uint32_t word;        /* index into kb->spell_words */
} add_ctx;

static uint64_t hash_key(const char *s, size_t n)
{
    /* Eight bytes at a time, mixed by multiplication: this runs for every
     * deletion of every report word. */
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t k;
        memcpy(&k, s + i, 8);
        h = (h ^ k) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t k = 0;
    memcpy(&k, s + i, n - i);
    h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static int add_key(void *u, const char *key, size_t n)
{
    add_ctx *c = u;
    spell_index *ix = &c->kb->spell;
    if (ix->used * 2 >= ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 1024;
        spell_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->slots[i].key) {
                size_t k = ix->slots[i].hash & (cap - 1);
                while (slots[k].key)
                    k = (k + 1) & (cap - 1);
                slots[k] = ix->slots[i];
            }
        free(ix->slots);
        ix->slots = slots;
        ix->cap = cap;
    }
    uint64_t h = hash_key(key, n);
    ix->bloom[(h >> 40) % SPELL_BLOOM_BITS / 64] |= 1ull << ((h >> 40) % 64);
    ix->bloom[(h >> 12) % SPELL_BLOOM_BITS / 64] |= 1ull << ((h >> 12) % 64);
    size_t k = h & (ix->cap - 1);
    while (ix->slots[k].key) {
        spell_slot *s = &ix->slots[k];
        if (s->hash == h && s->len == n && !memcmp(s->key, key, n)) {
            for (uint32_t i = 0; i < s->n_words; i++)
                if (s->words[i] == c->word)
                    return 0;
            uint32_t *p = realloc(s->words, (s->n_words + 1) * sizeof *p);
            if (!p)
                return -1;
            s->words = p;
            s->words[s->n_words++] = c->word;
            return 0;
        }
        k = (k + 1) & (ix->cap - 1);
    }
    char *copy = arena_strndup(&c->kb->mem, key, n);
    uint32_t *words = malloc(sizeof *words);
    if (!copy || !words) {
        free(words);
        return -1;
    }
    words[0] = c->word;
    ix->slots[k] = (spell_slot){copy, n, h, words, 1};
    ix->used++;
    return 0;
}

void speller_free(relief_kb *kb)
{
    for (size_t i = 0; i < kb->spell.cap; i++)
        free(kb->spell.slots[i].words);
    free(kb->spell.slots);
    free(kb->spell.bloom);
    memset(&kb->spell, 0, sizeof kb->spell);
}

/* Optimal string alignment distance (edits and adjacent transpositions),
 * or max + 1 as soon as it exceeds max. */
static int osa_distance(const char *a, size_t n, const char *b, size_t m, int max)
{
    if ((n > m ? n - m : m - n) > (size_t)max)
        return max + 1;
    int d[SPELL_MAX_WORD + 2][SPELL_MAX_WORD + 2];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int row_min = max + 1;
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
            if (v < row_min)
                row_min = v;
        }
        if (row_min > max)
            return max + 1;
    }
    return d[n][m];
}

typedef struct {
    const relief_kb *kb;
    const char *token;
    size_t len;
    const char *lang;     /* the report's language: cue words of other languages are out of reach */
    bool exact;           /* the word is itself a cue word */
    int best;             /* distance of the best candidate so far */
    int n_best;           /* candidates at that distance (2+: ambiguous) */
    const char *word;
} find_ctx;

static int look_up(void *u, const char *key, size_t n)
{
    find_ctx *c = u;
    const spell_index *ix = &c->kb->spell;
    if (!ix->cap)
        return 0;
    uint64_t h = hash_key(key, n);
    if (!(ix->bloom[(h >> 40) % SPELL_BLOOM_BITS / 64] >> ((h >> 40) % 64) & 1) ||
        !(ix->bloom[(h >> 12) % SPELL_BLOOM_BITS / 64] >> ((h >> 12) % 64) & 1))
        return 0;
    for (size_t k = h & (ix->cap - 1); ix->slots[k].key; k = (k + 1) & (ix->cap - 1)) {
        const spell_slot *s = &ix->slots[k];
        if (s->hash != h || s->len != n || memcmp(s->key, key, n))
            continue;
        for (uint32_t i = 0; i < s->n_words; i++) {
            const char *w = c->kb->spell_words[s->words[i]];
            const char *wlang = c->kb->spell_langs[s->words[i]];
            size_t wl = strlen(w);
            int allow = allowed_edits(wl);
            /* People rarely mistype the first letter; a different first
             * letter is more often another word ("rana" is not "frana"). */
            if (w[0] != c->token[0])
                continue;
            int d = osa_distance(c->token, c->len, w, wl, allow);
            if (d == 0)
                c->exact = true;
            if (d == 0 || d > allow)
                continue;
            /* A misspelling is read only as a cue of the report's language,
             * of English or of every language ("frape", Haitian for hit, is
             * not the Italian "frane"). */
            if (c->lang && wlang[0] && strcmp(wlang, "en") && strcmp(wlang, c->lang))
                continue;
            if (d < c->best) {
                c->best = d;
                c->n_best = 1;
                c->word = w;
            } else if (d == c->best && w != c->word && strcmp(w, c->word)) {
                c->n_best++;
            }
        }
        break;
    }
    return 0;
}

int speller_build(relief_kb *kb)
{
    /* Single-word cues long enough to be matched loosely: the words inside
     * longer phrases are often common words ("there", "makes"). */
    size_t cap = 0;
    for (size_t i = 0; i < kb->cues.n_phrases; i++)
        cap += kb->cues.phrases[i].hazard >= 0 && kb->cues.phrases[i].n_words == 1;
    kb->spell_words = arena_calloc(&kb->mem, cap ? cap : 1, sizeof *kb->spell_words);
    kb->spell_langs = arena_calloc(&kb->mem, cap ? cap : 1, sizeof *kb->spell_langs);
    kb->spell.bloom = calloc(SPELL_BLOOM_BITS / 64, sizeof(uint64_t));
    if (!kb->spell_words || !kb->spell_langs || !kb->spell.bloom)
        return -1;
    for (size_t i = 0; i < kb->cues.n_phrases; i++) {
        const kb_phrase *p = &kb->cues.phrases[i];
        if (p->hazard < 0 || p->n_words != 1 || p->prefix[0])
            continue;
        const char *word = p->words[0];
        size_t n = strlen(word);
        if (n < SPELL_MIN_CUE || n > SPELL_MAX_WORD)
            continue;
        /* A word seen before is already in the index under its exact form. */
        find_ctx probe = {kb, word, n, NULL, false, 3, 0, NULL};
        if (kb->spell.cap && look_up(&probe, word, n) == 0 && probe.exact) {
            /* The same word in another language: any language may reach it. */
            for (size_t k = 0; k < kb->n_spell_words; k++)
                if (!strcmp(kb->spell_words[k], word) && strcmp(kb->spell_langs[k], p->lang))
                    kb->spell_langs[k] = "";
            continue;
        }
        add_ctx c = {kb, (uint32_t)kb->n_spell_words};
        kb->spell_langs[kb->n_spell_words] = p->lang;
        kb->spell_words[kb->n_spell_words++] = word;
        if (each_delete(word, n, allowed_edits(n), add_key, &c) < 0)
            return -1;
    }
    return 0;
}

const char *speller_candidate(const relief_kb *kb, const char *token, const char *lang)
{
    size_t n = strlen(token);
    if (n < SPELL_MIN_CUE - 1 || n > SPELL_MAX_WORD)
        return NULL;
    find_ctx c = {kb, token, n, lang, false, 3, 0, NULL};
    each_delete(token, n, n >= SPELL_TWO_EDITS - 1 ? 2 : 1, look_up, &c);
    return c.n_best == 1 && !c.exact ? c.word : NULL;
}

/* ---- dictionaries ---- */

typedef struct {
    const char *lang;
    const char *names[3];  /* hunspell dictionaries to try, in order */
    pthread_once_t once;
    pthread_mutex_t mu;    /* a hunspell handle is not shared between threads unguarded */
    Hunhandle *h;
} dictionary;

static dictionary dicts[] = {
    {"en", {"en_US", "en_GB", NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
    {"es", {"es_ES", "es_MX", NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
    {"fr", {"fr_FR", "fr", NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
    {"pt", {"pt_PT", "pt_BR", NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
    {"it", {"it_IT", NULL, NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
    {"tl", {"tl", "tl_PH", NULL}, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, NULL},
};

static void open_dictionary(dictionary *d)
{
    const char *dir = getenv("RELIEF_DICT_DIR");
    if (!dir || !*dir)
        dir = "/usr/share/hunspell";
    for (int i = 0; i < 3 && d->names[i] && !d->h; i++) {
        char aff[1024], dic[1024];
        int a = snprintf(aff, sizeof aff, "%s/%s.aff", dir, d->names[i]);
        int b = snprintf(dic, sizeof dic, "%s/%s.dic", dir, d->names[i]);
        if (a < 0 || b < 0 || (size_t)a >= sizeof aff || (size_t)b >= sizeof dic)
            continue;
        FILE *f = fopen(dic, "rb"); /* hunspell itself prints to stderr for a missing file */
        if (!f)
            continue;
        fclose(f);
        d->h = Hunspell_create(aff, dic);
    }
}

#define DICT_ONCE(i)                                                                                       \
    static void open_##i(void) { open_dictionary(&dicts[i]); }
DICT_ONCE(0)
DICT_ONCE(1)
DICT_ONCE(2)
DICT_ONCE(3)
DICT_ONCE(4)
DICT_ONCE(5)
static void (*const openers[])(void) = {open_0, open_1, open_2, open_3, open_4, open_5};

/* Hunspell takes up to several milliseconds to rule a word out (it tries
 * every affix and compound), so its answers are remembered: a small table
 * of word hashes with, per language, "checked" and "known" bits. When it
 * fills up it is emptied. */
#define MEMO_SIZE 65536 /* words; half full, it is emptied */
static struct {
    pthread_mutex_t mu;
    uint64_t hash[MEMO_SIZE];
    uint8_t checked[MEMO_SIZE], known[MEMO_SIZE];
    size_t used;
} memo = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t word_hash(const char *w)
{
    uint64_t h = 1469598103934665603ull;
    for (; *w; w++)
        h = (h ^ (unsigned char)*w) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

/* Returns the slot of h (existing or new), or -1 when the table was full
 * and has been emptied for next time. Called with memo.mu held. */
static long memo_slot(uint64_t h)
{
    size_t k = h & (MEMO_SIZE - 1);
    while (memo.hash[k] && memo.hash[k] != h)
        k = (k + 1) & (MEMO_SIZE - 1);
    if (!memo.hash[k]) {
        if (memo.used >= MEMO_SIZE / 2) {
            memset(memo.hash, 0, sizeof memo.hash);
            memset(memo.checked, 0, sizeof memo.checked);
            memo.used = 0;
            return -1;
        }
        memo.hash[k] = h;
        memo.checked[k] = memo.known[k] = 0;
        memo.used++;
    }
    return (long)k;
}

int speller_known_word(const char *lang, const char *word)
{
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) {
        dictionary *d = &dicts[i];
        if (strcmp(d->lang, lang))
            continue;
        pthread_once(&d->once, openers[i]);
        if (!d->h)
            return -1;
        uint64_t h = word_hash(word);
        uint8_t bit = (uint8_t)(1u << i);
        pthread_mutex_lock(&memo.mu);
        long k = memo_slot(h);
        if (k >= 0 && (memo.checked[k] & bit)) {
            int r = (memo.known[k] & bit) != 0;
            pthread_mutex_unlock(&memo.mu);
            return r;
        }
        pthread_mutex_unlock(&memo.mu);
        pthread_mutex_lock(&d->mu);
        int r = Hunspell_spell(d->h, word) != 0;
        pthread_mutex_unlock(&d->mu);
        pthread_mutex_lock(&memo.mu);
        k = memo_slot(h);
        if (k >= 0) {
            memo.checked[k] |= bit;
            if (r)
                memo.known[k] |= bit;
        }
        pthread_mutex_unlock(&memo.mu);
        return r;
    }
    return -1;
}

int speller_known_anywhere(const char *word)
{
    int known = -1;
    for (size_t d = 0; d < sizeof dicts / sizeof *dicts && known != 1; d++) {
        int k = speller_known_word(dicts[d].lang, word);
        if (k >= 0)
            known = k;
    }
    return known;
}

/* ---- correcting a report's tokens ---- */

/* Words the kb knows for another reason are never "corrected" into cues. */
bool speller_kb_word(const relief_kb *kb, const char *w)
{
    double v;
    if (kb_index_find(&kb->cues.exact, w) || kb_index_find(&kb->lex.exact, w) || kb_number_word(kb, w, &v) >= 0)
        return true;
    return kb_index_find(&kb->langwords.exact, w) != NULL;
}

int guide_spell_fix(const relief_kb *kb, const char *report, const token_list *toks, const char *lang,
                    token_list *fixed)
{
    memset(fixed, 0, sizeof *fixed);
    int n_fixed = 0;
    for (size_t i = 0; i < toks->n; i++) {
        const token *t = &toks->tok[i];
        if (t->kind != TOK_WORD || t->hashtag || t->norm_len < SPELL_MIN_CUE - 1 || t->norm_len > SPELL_MAX_WORD)
            continue;
        /* "@BlizzardCS", "#LAX": handles and tags are names, not misspellings. */
        if ((t->start > 0 && (report[t->start - 1] == '@')) || t->sep == '@')
            continue;
        const char *w = tok_str(toks, i);
        if (speller_kb_word(kb, w))
            continue;
        const char *cue = speller_candidate(kb, w, lang);
        if (!cue)
            continue;
        /* The guard: a real word of any language relief reads is not a typo
         * ("siamo" is Italian, not a misspelt "sismo"). With no dictionary
         * installed at all, nothing is guessed. */
        char orig[4 * SPELL_MAX_WORD + 1];
        size_t on = t->end - t->start;
        if (on >= sizeof orig)
            continue;
        memcpy(orig, report + t->start, on);
        orig[on] = '\0';
        if (speller_known_anywhere(orig) != 0)
            continue;
        if (!fixed->tok) {
            /* First correction: copy the list (norm strings of corrections are appended). */
            fixed->tok = malloc(toks->n * sizeof *fixed->tok);
            fixed->norm = malloc(toks->norm_len + 64);
            if (!fixed->tok || !fixed->norm) {
                token_list_free(fixed);
                return -1;
            }
            memcpy(fixed->tok, toks->tok, toks->n * sizeof *fixed->tok);
            memcpy(fixed->norm, toks->norm, toks->norm_len);
            fixed->n = fixed->cap = toks->n;
            fixed->norm_len = toks->norm_len;
            fixed->norm_cap = toks->norm_len + 64;
        }
        size_t cl = strlen(cue) + 1;
        if (fixed->norm_len + cl > fixed->norm_cap) {
            size_t cap = (fixed->norm_cap + cl) * 2;
            char *p = realloc(fixed->norm, cap);
            if (!p) {
                token_list_free(fixed);
                return -1;
            }
            fixed->norm = p;
            fixed->norm_cap = cap;
        }
        memcpy(fixed->norm + fixed->norm_len, cue, cl);
        fixed->tok[i].norm = fixed->norm_len;
        fixed->tok[i].norm_len = (uint32_t)(cl - 1);
        fixed->tok[i].corrected = true;
        fixed->norm_len += cl;
        n_fixed++;
    }
    return n_fixed;
}
