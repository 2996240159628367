/*
 * kb.c - loads the protocol knowledge base (docs/kb-format.md) from the copy
 * embedded at build time or from a directory, validates every line, and
 * builds the cue index used by detection.
 *
 * Every error names the file and line. A kb is immutable after loading.
 */
#include "guide_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Provided by the build (generated from kb/ by tools/embed.c). */
typedef struct {
    const char *path;
    const unsigned char *data;
    size_t len;
} relief_embedded_file;
extern const relief_embedded_file relief_kb_files[];
extern const size_t relief_kb_n_files;

#define KB_MAX_FILE (64u << 20)   /* no kb file may exceed 64 MiB */
#define KB_MAX_FIELDS 4096        /* lines in one section */
#define KB_MAX_SHORT 110          /* characters in a brief line (one line on a phone) */
#define KB_MAX_PHRASE_WORDS 16

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

/* ---- growable arrays (malloc'd while loading, moved into the arena) ---- */

typedef struct {
    void *p;
    size_t n, cap, elem;
} vec;

static void *vec_push(vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        if (cap > SIZE_MAX / v->elem)
            return NULL;
        void *p = realloc(v->p, cap * v->elem);
        if (!p)
            return NULL;
        v->p = p;
        v->cap = cap;
    }
    void *e = (char *)v->p + v->n++ * v->elem;
    memset(e, 0, v->elem);
    return e;
}

/* Copies a vec into the arena and frees it. Returns NULL for an empty vec
 * or on OOM (check a->failed). */
static void *vec_to_arena(vec *v, arena *a, size_t *n)
{
    void *out = NULL;
    *n = v->n;
    if (v->n) {
        out = arena_calloc(a, v->n, v->elem);
        if (out)
            memcpy(out, v->p, v->n * v->elem);
    }
    free(v->p);
    memset(v, 0, sizeof *v);
    v->elem = 0;
    return out;
}

/* ---- loader state ---- */

typedef struct {
    char key[64];
    const char *value;    /* arena copy */
    size_t len, cap;      /* bytes of value, and of its arena block (continuation lines grow it) */
    size_t line;
} field;

typedef struct {
    relief_kb *kb;
    const char *file;     /* name used in messages */
    char *err;            /* malloc'd message, set once */
    vec phrases, lexphrases, negation, nonevent, protocols, needs, rules, numbers, langwords;
    vec steps[RELIEF_HZ_COUNT], secondary[RELIEF_HZ_COUNT];
    bool have_detect, have_needs, have_extract, have_rules, have_brief, have_lang_dir;
    char lang[3];         /* the language file being read ("it") */
} loader;

static int fail(loader *L, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(loader *L, size_t line, const char *fmt, ...)
{
    if (L->err)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(L->file) + strlen(msg) + 32;
    L->err = malloc(n);
    if (L->err) {
        if (line)
            snprintf(L->err, n, "%s:%zu: %s", L->file, line, msg);
        else
            snprintf(L->err, n, "%s: %s", L->file, msg);
    }
    return -1;
}

static int oom(loader *L)
{
    return fail(L, 0, "out of memory");
}

/* Section being collected. */
typedef struct {
    char name[16];
    size_t line;
    field *f;
    size_t n, cap;
} section;

static const field *get(const section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].key, key))
            return &s->f[i];
    return NULL;
}

static int check_keys(loader *L, const section *s, const char *const *allowed, const char *const *repeatable)
{
    for (size_t i = 0; i < s->n; i++) {
        bool ok = false, rep = false;
        for (const char *const *k = allowed; *k; k++)
            ok |= !strcmp(*k, s->f[i].key);
        for (const char *const *k = repeatable; k && *k; k++)
            rep |= !strcmp(*k, s->f[i].key);
        if (!ok)
            return fail(L, s->f[i].line, "unknown key '%s' in [%s]", s->f[i].key, s->name);
        if (!rep)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(s->f[j].key, s->f[i].key))
                    return fail(L, s->f[i].line, "key '%s' repeated in [%s]", s->f[i].key, s->name);
    }
    return 0;
}

static const field *require(loader *L, const section *s, const char *key)
{
    const field *f = get(s, key);
    if (!f)
        fail(L, s->line, "[%s] is missing required key '%s'", s->name, key);
    return f;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static const cond *parse_cond(loader *L, const field *f)
{
    char msg[256];
    cond *c = cond_parse(&L->kb->mem, f->value, &L->kb->tags, msg, sizeof msg);
    if (!c)
        fail(L, f->line, "%s", L->kb->mem.failed ? "out of memory" : msg);
    return c;
}

/* ---- phrases ---- */

/* Splits one phrase into folded words; '*' after a word marks a prefix. */
static int parse_phrase(loader *L, size_t line, const char *text, size_t len, int hazard,
                        int weight, vec *into)
{
    token_list tl = {0};
    if (text_tokenize(text, len, &tl) < 0) {
        token_list_free(&tl);
        return oom(L);
    }
    if (tl.n == 0) {
        token_list_free(&tl);
        return fail(L, line, "empty cue phrase");
    }
    if (tl.n > KB_MAX_PHRASE_WORDS) {
        token_list_free(&tl);
        return fail(L, line, "cue phrase '%.*s' has more than %d words", (int)(len > 60 ? 60 : len),
                    text, KB_MAX_PHRASE_WORDS);
    }
    kb_phrase *p = vec_push(into);
    arena *a = &L->kb->mem;
    if (!p) {
        token_list_free(&tl);
        return oom(L);
    }
    p->hazard = hazard;
    p->weight = (uint8_t)weight;
    p->n_words = (uint8_t)tl.n;
    p->words = arena_calloc(a, tl.n, sizeof(char *));
    p->prefix = arena_calloc(a, tl.n, sizeof(bool));
    p->display = arena_strndup(a, text, len);
    if (!p->words || !p->prefix || !p->display) {
        token_list_free(&tl);
        return oom(L);
    }
    for (size_t i = 0; i < tl.n; i++) {
        p->words[i] = arena_strdup(a, tok_str(&tl, i));
        if (!p->words[i]) {
            token_list_free(&tl);
            return oom(L);
        }
        size_t e = tl.tok[i].end;
        p->prefix[i] = e < len && text[e] == '*';
        if (p->prefix[i] && strlen(p->words[i]) < 3) {
            token_list_free(&tl);
            return fail(L, line, "prefix cue '%s*' is shorter than 3 letters", p->words[i]);
        }
    }
    token_list_free(&tl);
    return 0;
}

/* Parses "a, b, c" into phrases. */
static int parse_phrase_list(loader *L, size_t line, const char *list, int hazard, int weight, vec *into)
{
    const char *s = list;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            return fail(L, line, "empty phrase in list");
        if (parse_phrase(L, line, s, n, hazard, weight, into) < 0)
            return -1;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return 0;
}

/* ---- sections ---- */

static int parse_step(loader *L, const section *s, vec *into)
{
    static const char *const keys[] = {"id", "phase", "role", "priority", "when", "urgent", "do", "source",
                                       "brief", "short", "group", "distance", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *phase = require(L, s, "phase"), *role = require(L, s, "role");
    const field *text = require(L, s, "do"), *source = require(L, s, "source");
    if (!phase || !role || !text || !source)
        return -1;
    kb_step *st = vec_push(into);
    if (!st)
        return oom(L);
    st->phase = guide_phase_from_name(phase->value);
    if (st->phase < 0)
        return fail(L, phase->line, "unknown phase '%s' (expected immediate, 2h, 24h, 72h, recovery)",
                    phase->value);
    st->role = guide_role_from_name(role->value);
    if (st->role < 0)
        return fail(L, role->line,
                    "unknown role '%s' (expected command, operations, logistics, planning, public_info, medical, public)",
                    role->value);
    st->priority = 3;
    const field *f;
    if ((f = get(s, "priority"))) {
        long v;
        if (parse_int(f->value, 1, 5, &v) < 0)
            return fail(L, f->line, "priority must be 1 to 5, not '%s'", f->value);
        st->priority = (int)v;
    }
    if ((f = get(s, "urgent"))) {
        if (strcmp(f->value, "yes") && strcmp(f->value, "no"))
            return fail(L, f->line, "urgent must be yes or no, not '%s'", f->value);
        st->urgent = !strcmp(f->value, "yes");
    }
    if ((f = get(s, "when")) && !(st->when = parse_cond(L, f)))
        return -1;
    if ((f = get(s, "id")))
        st->id = f->value;
    st->text = text->value;
    st->source = source->value;
    st->brief = -1;
    if ((f = get(s, "brief"))) {
        st->brief = guide_brief_from_name(f->value);
        if (st->brief < 0)
            return fail(L, f->line,
                        "unknown brief kind '%s' (expected protect, lifesave, command, warn, rescue, medical, care)",
                        f->value);
    }
    if ((f = get(s, "short"))) {
        if (f->len > KB_MAX_SHORT)
            return fail(L, f->line, "short is %zu characters; a brief line holds at most %d", f->len, KB_MAX_SHORT);
        st->short_text = f->value;
    }
    if (st->brief >= 0 && !st->short_text)
        return fail(L, s->line, "a step with 'brief:' needs 'short:' (the action in one line)");
    if ((f = get(s, "group")))
        st->group = f->value;
    if ((f = get(s, "distance"))) {
        char *end;
        double d = strtod(f->value, &end);
        while (*end == ' ')
            end++;
        if (!(d > 0 && d < 1e6) || strcmp(end, "m"))
            return fail(L, f->line, "distance must read 'N m' (metres, more than 0), not '%s'", f->value);
        if (!st->group)
            return fail(L, f->line, "distance needs a group: it only decides between steps of one group");
        st->distance_m = d;
    }
    return 0;
}

static int parse_hazard_header(loader *L, const section *s, int *hazard_out, const char *expect_id)
{
    static const char *const keys[] = {"id", "name", "glide", "secondary", "trauma", "zone", NULL};
    static const char *const rep[] = {"secondary", NULL};
    if (check_keys(L, s, keys, rep) < 0)
        return -1;
    const field *id = require(L, s, "id"), *name = require(L, s, "name");
    if (!id || !name)
        return -1;
    int h = relief_hazard_from_name(id->value);
    if (h < 0)
        return fail(L, id->line, "unknown hazard id '%s'", id->value);
    if (expect_id && strcmp(expect_id, id->value))
        return fail(L, id->line, "hazard id '%s' does not match the file name '%s.kb'", id->value, expect_id);
    kb_hazard *hz = &L->kb->hazards[h];
    if (hz->loaded)
        return fail(L, id->line, "hazard '%s' is defined twice", id->value);
    hz->loaded = true;
    hz->name = name->value;
    const field *g = get(s, "glide");
    hz->glide = g ? g->value : NULL;
    if ((g = get(s, "trauma"))) {
        if (strcmp(g->value, "yes") && strcmp(g->value, "no"))
            return fail(L, g->line, "trauma must be yes or no, not '%s'", g->value);
        hz->trauma = !strcmp(g->value, "yes");
    }
    if ((g = get(s, "zone"))) {
        if (strcmp(g->value, "leave"))
            return fail(L, g->line, "zone must be 'leave' (people leave a zone about to be hit), not '%s'", g->value);
        hz->zone_leave = true;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->f[i].key, "secondary"))
            continue;
        const field *f = &s->f[i];
        const char *bar1 = strchr(f->value, '|');
        const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2)
            return fail(L, f->line, "secondary must be 'HAZARD | CONDITION | NOTE'");
        char idbuf[64], condbuf[512];
        size_t n1 = (size_t)(bar1 - f->value), n2 = (size_t)(bar2 - bar1 - 1);
        if (n1 >= sizeof idbuf || n2 >= sizeof condbuf)
            return fail(L, f->line, "secondary hazard or condition too long");
        memcpy(idbuf, f->value, n1);
        idbuf[n1] = '\0';
        memcpy(condbuf, bar1 + 1, n2);
        condbuf[n2] = '\0';
        char *a = idbuf, *b = condbuf;
        while (*a == ' ') a++;
        for (char *e = a + strlen(a); e > a && e[-1] == ' ';) *--e = '\0';
        while (*b == ' ') b++;
        for (char *e = b + strlen(b); e > b && e[-1] == ' ';) *--e = '\0';
        const char *note = bar2 + 1;
        while (*note == ' ') note++;
        kb_secondary *sec = vec_push(&L->secondary[h]);
        if (!sec)
            return oom(L);
        sec->hazard = relief_hazard_from_name(a);
        if (sec->hazard < 0)
            return fail(L, f->line, "unknown secondary hazard '%s'", a);
        if (sec->hazard == h)
            return fail(L, f->line, "hazard '%s' cannot be its own secondary", a);
        char msg[256];
        if (!(sec->when = cond_parse(&L->kb->mem, b, &L->kb->tags, msg, sizeof msg)))
            return fail(L, f->line, "%s", msg);
        if (!*note)
            return fail(L, f->line, "secondary '%s' has no note", a);
        sec->note = note;
    }
    *hazard_out = h;
    return 0;
}

/* Marks the cue phrases from index first on as written in lang. */
static void set_lang(loader *L, size_t first, const char *lang)
{
    for (size_t k = first; k < L->phrases.n; k++) {
        kb_phrase *p = &((kb_phrase *)L->phrases.p)[k];
        memset(p->lang, 0, sizeof p->lang);
        memcpy(p->lang, lang, strnlen(lang, sizeof p->lang - 1)); /* codes are two letters */
    }
}

static bool known_cue_lang(const char *lang)
{
    static const char *const langs[] = {"en", "es", "fr", "pt", "it", "ht", "tl", "any", NULL};
    for (const char *const *l = langs; *l; l++)
        if (!strcmp(*l, lang))
            return true;
    return false;
}

static int parse_cues(loader *L, const section *s, int hazard)
{
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        if (!strcmp(f->key, "not")) {
            size_t first = L->phrases.n;
            if (parse_phrase_list(L, f->line, f->value, -1, 0, &L->phrases) < 0)
                return -1;
            for (size_t k = first; k < L->phrases.n; k++)
                ((kb_phrase *)L->phrases.p)[k].owner = hazard;
            continue;
        }
        char lang[16];
        int weight, used = 0;
        if (sscanf(f->key, "%15s %d%n", lang, &weight, &used) != 2 || f->key[used] != '\0')
            return fail(L, f->line, "cue line must be 'LANG WEIGHT: phrases' or 'not: phrases', not '%s:'", f->key);
        if (!known_cue_lang(lang))
            return fail(L, f->line, "unknown cue language '%s' (expected en, es, fr, pt, it, ht, tl or any)", lang);
        if (weight < 1 || weight > 3)
            return fail(L, f->line, "cue weight must be 1, 2 or 3, not %d", weight);
        size_t first = L->phrases.n;
        if (parse_phrase_list(L, f->line, f->value, hazard, weight, &L->phrases) < 0)
            return -1;
        set_lang(L, first, strcmp(lang, "any") ? lang : "");
    }
    return 0;
}

static int parse_detect(loader *L, const section *s)
{
    static const char *const keys[] = {"threshold", "negation", "nonevent", "past", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *t = require(L, s, "threshold"), *neg = require(L, s, "negation");
    if (!t || !neg)
        return -1;
    char *end;
    double v = strtod(t->value, &end);
    if (*end || !(v > 0 && v <= 100))
        return fail(L, t->line, "threshold must be a number in (0, 100], not '%s'", t->value);
    L->kb->threshold = v;
    if (parse_phrase_list(L, neg->line, neg->value, -1, 0, &L->negation) < 0)
        return -1;
    const field *f;
    if ((f = get(s, "nonevent")) && parse_phrase_list(L, f->line, f->value, -1, 0, &L->nonevent) < 0)
        return -1;
    if ((f = get(s, "past")) && parse_phrase_list(L, f->line, f->value, -1, 1, &L->nonevent) < 0)
        return -1;
    L->have_detect = true;
    return 0;
}

/* "15 L per person per day", "1 per 50 people", "5 people per household". */
static int parse_quantity(loader *L, const field *f, kb_need *n)
{
    char buf[256];
    if (strlen(f->value) >= sizeof buf)
        return fail(L, f->line, "quantity too long");
    strcpy(buf, f->value);
    char *w[12];
    int nw = 0;
    for (char *tok = strtok(buf, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (nw == 12)
            return fail(L, f->line, "quantity has too many words");
        w[nw++] = tok;
    }
    char *end;
    int i = 0;
    if (nw < 3)
        goto bad;
    n->rate = strtod(w[i], &end);
    if (*end || !(n->rate > 0) || !isfinite(n->rate))
        goto bad;
    i++;
    if (strcmp(w[i], "per")) {
        n->unit = arena_strdup(&L->kb->mem, w[i]);
        if (!n->unit)
            return oom(L);
        i++;
    } else {
        n->unit = "";
        n->count = true;
    }
    if (i >= nw || strcmp(w[i], "per"))
        goto bad;
    i++;
    n->per_n = 1;
    if (i < nw && w[i][0] >= '0' && w[i][0] <= '9') {
        n->per_n = strtod(w[i], &end);
        if (*end || !(n->per_n >= 1) || !isfinite(n->per_n))
            goto bad;
        i++;
    }
    if (i >= nw)
        goto bad;
    if (!strcmp(w[i], "person") || !strcmp(w[i], "people") || !strcmp(w[i], "persons"))
        n->per_household = false;
    else if (!strcmp(w[i], "household") || !strcmp(w[i], "households"))
        n->per_household = true;
    else
        goto bad;
    i++;
    if (i + 1 < nw + 1 && i < nw) {
        if (strcmp(w[i], "per") || i + 1 >= nw)
            goto bad;
        if (!strcmp(w[i + 1], "day"))
            n->time = 1;
        else if (!strcmp(w[i + 1], "month"))
            n->time = 2;
        else
            goto bad;
        i += 2;
    }
    if (i != nw)
        goto bad;
    return 0;
bad:
    return fail(L, f->line,
                "quantity must read 'NUMBER [UNIT] per [N] person|people|household [per day|month]', not '%s'",
                f->value);
}

static int parse_need(loader *L, const section *s)
{
    static const char *const keys[] = {"id", "label", "quantity", "round", "standard", "note", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = require(L, s, "id"), *label = require(L, s, "label");
    const field *q = require(L, s, "quantity"), *std = require(L, s, "standard");
    if (!id || !label || !q || !std)
        return -1;
    kb_need *n = vec_push(&L->needs);
    if (!n)
        return oom(L);
    n->id = id->value;
    n->label = label->value;
    n->standard = std->value;
    n->basis = q->value;
    const field *f = get(s, "note");
    n->note = f ? f->value : NULL;
    if (parse_quantity(L, q, n) < 0)
        return -1;
    if ((f = get(s, "round"))) {
        char *end;
        if (!strcmp(f->value, "none")) {
            n->round_to = 0;
        } else if (!strncmp(f->value, "up ", 3) && (n->round_to = strtod(f->value + 3, &end), !*end) &&
                   n->round_to > 0 && isfinite(n->round_to)) {
        } else {
            return fail(L, f->line, "round must be 'up N' or 'none', not '%s'", f->value);
        }
    }
    if (!strcmp(n->id, "household_size")) {
        if (n->count || strcmp(n->unit, "people") || !n->per_household || n->time)
            return fail(L, q->line, "household_size must read 'N people per household'");
        L->kb->household_size = n->rate;
        L->needs.n--; /* a parameter, not a need */
    }
    L->have_needs = true;
    return 0;
}

static const char *const lex_names[LX_COUNT] = {
    "children", "elderly", "patients", "disabled", "pregnant", "homeless", "prisoners",
    "power", "water", "roads", "bridges", "comms", "hospital",
    "damage", "out", "coastal", "night", "people", "household",
    "injured", "dead", "missing", "trapped", "resource", "have",
    "time_before", "ago", "unit_min", "unit_hour", "unit_day", "loc_prep", "street", "place_noun", "object", "away", "filler"};

int lex_class_from_name(const char *name)
{
    return lookup(lex_names, LX_COUNT, name);
}

/* Names of the form "hazard.ID" are parsed elsewhere; this reads a list of
 * hazard ids "a, b, c" into a bit mask. */
static int parse_hazard_list(loader *L, const field *f, uint32_t *mask)
{
    *mask = 0;
    const char *s = f->value;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n && *s == ' ') {
            s++;
            n--;
        }
        while (n && s[n - 1] == ' ')
            n--;
        char id[64];
        if (n == 0 || n >= sizeof id)
            return fail(L, f->line, "bad hazard list '%s'", f->value);
        memcpy(id, s, n);
        id[n] = '\0';
        int h = relief_hazard_from_name(id);
        if (h < 0)
            return fail(L, f->line, "unknown hazard id '%s'", id);
        *mask |= 1u << h;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return 0;
}

/* Reads "protect, lifesave, ..." into kinds (in order); returns the count
 * or -1 after reporting the error. */
static int parse_kind_list(loader *L, const field *f, int *kinds, int cap)
{
    int n = 0;
    const char *s = f->value;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t k = comma ? (size_t)(comma - s) : strlen(s);
        while (k && *s == ' ') {
            s++;
            k--;
        }
        while (k && s[k - 1] == ' ')
            k--;
        char w[32];
        if (k == 0 || k >= sizeof w || n == cap)
            return fail(L, f->line, "bad list of brief kinds '%s'", f->value);
        memcpy(w, s, k);
        w[k] = '\0';
        int kind = guide_brief_from_name(w);
        if (kind < 0)
            return fail(L, f->line, "unknown brief kind '%s'", w);
        kinds[n++] = kind;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return n;
}

/* [brief] of rules.kb: max, order (every kind once), limit per kind. */
static int parse_brief(loader *L, const section *s)
{
    static const char *const keys[] = {"max", "order", "limit", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    if (L->have_brief)
        return fail(L, s->line, "[brief] appears twice");
    const field *mx = require(L, s, "max"), *order = require(L, s, "order"), *limit = require(L, s, "limit");
    if (!mx || !order || !limit)
        return -1;
    long v;
    if (parse_int(mx->value, 1, 20, &v) < 0)
        return fail(L, mx->line, "max must be 1 to 20, not '%s'", mx->value);
    L->kb->brief_max = (int)v;
    int kinds[RELIEF_BRIEF_COUNT];
    int n = parse_kind_list(L, order, kinds, RELIEF_BRIEF_COUNT);
    if (n < 0)
        return -1;
    if (n != RELIEF_BRIEF_COUNT)
        return fail(L, order->line, "order must name every brief kind once (%d named, %d kinds)", n,
                    RELIEF_BRIEF_COUNT);
    bool seen[RELIEF_BRIEF_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        if (seen[kinds[i]])
            return fail(L, order->line, "brief kind '%s' is named twice", relief_brief_kind_name(kinds[i]));
        seen[kinds[i]] = true;
        L->kb->brief_rank[kinds[i]] = i;
    }
    /* limit: "protect 3, lifesave 2, ..." (kinds left out: no first-pass limit) */
    for (int k = 0; k < RELIEF_BRIEF_COUNT; k++)
        L->kb->brief_limit[k] = L->kb->brief_max;
    const char *p = limit->value;
    while (*p) {
        char w[32];
        int num, used = 0;
        if (sscanf(p, " %31[a-z_] %d %n", w, &num, &used) != 2 || used == 0)
            return fail(L, limit->line, "limit must read 'KIND N, KIND N, ...', not '%s'", limit->value);
        int kind = guide_brief_from_name(w);
        if (kind < 0 || num < 0 || num > L->kb->brief_max)
            return fail(L, limit->line, "bad limit '%s %d' (a brief kind and 0..max)", w, num);
        L->kb->brief_limit[kind] = num;
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return fail(L, limit->line, "limit must read 'KIND N, KIND N, ...', not '%s'", limit->value);
    }
    L->have_brief = true;
    return 0;
}

/* [rule] of rules.kb. */
static int parse_rule(loader *L, const section *s)
{
    static const char *const keys[] = {"id", "when", "defer", "from", "note", "source", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = require(L, s, "id"), *when = require(L, s, "when"), *defer = require(L, s, "defer");
    const field *from = require(L, s, "from"), *note = require(L, s, "note"), *source = require(L, s, "source");
    if (!id || !when || !defer || !from || !note || !source)
        return -1;
    for (size_t i = 0; i < L->rules.n; i++)
        if (!strcmp(((kb_rule *)L->rules.p)[i].id, id->value))
            return fail(L, id->line, "rule '%s' is defined twice", id->value);
    kb_rule *r = vec_push(&L->rules);
    if (!r)
        return oom(L);
    memset(r, 0, sizeof *r);
    r->id = id->value;
    r->note = note->value;
    r->source = source->value;
    if (!(r->when = parse_cond(L, when)))
        return -1;
    int kinds[RELIEF_BRIEF_COUNT];
    int n = parse_kind_list(L, defer, kinds, RELIEF_BRIEF_COUNT);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        r->defer |= 1u << kinds[i];
    if (r->defer & (1u << RELIEF_BRIEF_PROTECT))
        return fail(L, defer->line, "a rule may not defer 'protect' steps: moving people out of harm never waits");
    return parse_hazard_list(L, from, &r->from);
}

static int parse_lexicon(loader *L, const section *s)
{
    static const char *const keys[] = {"class", "words", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *c = require(L, s, "class"), *w = require(L, s, "words");
    if (!c || !w)
        return -1;
    int cls = lex_class_from_name(c->value);
    if (cls < 0 && !strncmp(c->value, "tag.", 4) && c->value[4]) {
        int t = kb_tag_intern(&L->kb->tags, &L->kb->mem, c->value + 4, strlen(c->value + 4));
        if (t < 0)
            return fail(L, c->line, "too many tag classes (%d at most)", KB_MAX_TAGS);
        L->kb->tags.defined |= 1ull << t;
        cls = LX_COUNT + t;
    }
    if (cls < 0)
        return fail(L, c->line, "unknown lexicon class '%s' (tag classes read 'tag.NAME')", c->value);
    L->have_extract = true;
    return parse_phrase_list(L, w->line, w->value, cls, 1, &L->lexphrases);
}

static int parse_protocol_header(loader *L, const section *s, kb_protocol *p)
{
    static const char *const keys[] = {"id", "name", "applies", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = require(L, s, "id"), *name = require(L, s, "name"), *ap = require(L, s, "applies");
    if (!id || !name || !ap)
        return -1;
    p->id = id->value;
    p->name = name->value;
    return (p->applies = parse_cond(L, ap)) ? 0 : -1;
}

/* ---- language files (kb/lang/CODE.kb) ---- */

/* [language]: code (must match the file name), name, function words. */
static int parse_language(loader *L, const section *s, const char *expect_code)
{
    static const char *const keys[] = {"code", "name", "words", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *code = require(L, s, "code"), *name = require(L, s, "name"), *words = require(L, s, "words");
    if (!code || !name || !words)
        return -1;
    if (expect_code && strcmp(code->value, expect_code))
        return fail(L, code->line, "language code '%s' does not match the file name '%s.kb'", code->value, expect_code);
    if (!known_cue_lang(code->value) || !strcmp(code->value, "any"))
        return fail(L, code->line, "unknown language code '%s' (expected en, es, fr, pt, it, ht or tl)", code->value);
    relief_kb *kb = L->kb;
    for (size_t i = 0; i < kb->n_langs; i++)
        if (!strcmp(kb->langs[i].code, code->value))
            return fail(L, code->line, "language '%s' is defined twice", code->value);
    if (kb->n_langs == KB_MAX_LANGS)
        return fail(L, code->line, "too many languages (%d at most)", KB_MAX_LANGS);
    kb_language *lg = &kb->langs[kb->n_langs];
    size_t first = L->langwords.n;
    if (parse_phrase_list(L, words->line, words->value, (int)kb->n_langs, 1, &L->langwords) < 0)
        return -1;
    for (size_t i = first; i < L->langwords.n; i++) {
        const kb_phrase *p = &((const kb_phrase *)L->langwords.p)[i];
        if (p->n_words != 1 || p->prefix[0])
            return fail(L, words->line, "function words are single words without '*' ('%s')", p->display);
    }
    lg->code = code->value;
    snprintf(L->lang, sizeof L->lang, "%s", code->value);
    lg->name = name->value;
    kb->n_langs++; /* its index is built in finish() */
    return 0;
}

/* [cues] of a language file: `hazard: ID`, then `1:`, `2:`, `3:` (weights)
 * and `not:` phrase lists in that language. */
static int parse_lang_cues(loader *L, const section *s)
{
    const field *hz = require(L, s, "hazard");
    if (!hz)
        return -1;
    int hazard = relief_hazard_from_name(hz->value);
    if (hazard < 0)
        return fail(L, hz->line, "unknown hazard id '%s'", hz->value);
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        if (!strcmp(f->key, "hazard"))
            continue;
        if (!strcmp(f->key, "not")) {
            size_t first = L->phrases.n;
            if (parse_phrase_list(L, f->line, f->value, -1, 0, &L->phrases) < 0)
                return -1;
            for (size_t k = first; k < L->phrases.n; k++)
                ((kb_phrase *)L->phrases.p)[k].owner = hazard;
            continue;
        }
        if (strlen(f->key) != 1 || f->key[0] < '1' || f->key[0] > '3')
            return fail(L, f->line, "a language file's cue line is 'WEIGHT: phrases' (1, 2 or 3) or 'not: phrases', not '%s:'",
                        f->key);
        size_t first = L->phrases.n;
        if (parse_phrase_list(L, f->line, f->value, hazard, f->key[0] - '0', &L->phrases) < 0)
            return -1;
        set_lang(L, first, L->lang);
    }
    return 0;
}

/* [numbers] of a language file: `N: words` (value N), `mult N: words`
 * (multiplies the number before it: "hundred", "mil"), `article: words`
 * (one, but only before a multiplier: "a thousand"), `vague N: words`
 * (an unspecified count of about N: "dozens", "hundreds"). */
static int parse_numbers(loader *L, const section *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        int kind;
        double v;
        char *end;
        const char *k = f->key;
        if (!strcmp(k, "article")) {
            kind = NUM_ARTICLE;
            v = 1;
        } else {
            kind = !strncmp(k, "mult ", 5) ? NUM_MULT : !strncmp(k, "vague ", 6) ? NUM_VAGUE : NUM_VALUE;
            const char *num = kind == NUM_MULT ? k + 5 : kind == NUM_VAGUE ? k + 6 : k;
            v = strtod(num, &end);
            if (end == num || *end || !(v >= 0 && v <= 1e9))
                return fail(L, f->line, "a number line reads 'N:', 'mult N:', 'vague N:' or 'article:', not '%s:'", k);
        }
        size_t first = L->numbers.n;
        if (parse_phrase_list(L, f->line, f->value, kind, 1, &L->numbers) < 0)
            return -1;
        for (size_t j = first; j < L->numbers.n; j++) {
            kb_phrase *p = &((kb_phrase *)L->numbers.p)[j];
            if (p->n_words != 1 || p->prefix[0])
                return fail(L, f->line, "number words are single words without '*' ('%s')", p->display);
            p->value = v;
        }
    }
    return 0;
}

int kb_number_word(const relief_kb *kb, const char *word, double *value)
{
    const kb_bucket *b = kb_index_find(&kb->numbers.exact, word);
    if (!b)
        return -1;
    const kb_phrase *p = &kb->numbers.phrases[b->ids[0]];
    *value = p->value;
    return p->hazard;
}

/* [detect] of a language file: negation, non-event and past phrases added
 * to the shared lists (threshold stays in detect.kb). */
static int parse_lang_detect(loader *L, const section *s)
{
    static const char *const keys[] = {"negation", "nonevent", "past", NULL};
    if (check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *f;
    if ((f = get(s, "negation")) && parse_phrase_list(L, f->line, f->value, -1, 0, &L->negation) < 0)
        return -1;
    if ((f = get(s, "nonevent")) && parse_phrase_list(L, f->line, f->value, -1, 0, &L->nonevent) < 0)
        return -1;
    if ((f = get(s, "past")) && parse_phrase_list(L, f->line, f->value, -1, 1, &L->nonevent) < 0)
        return -1;
    return 0;
}

/* ---- file driver ---- */

typedef enum { FILE_HAZARD, FILE_PROTOCOL, FILE_DETECT, FILE_NEEDS, FILE_EXTRACT, FILE_RULES, FILE_LANG } file_kind;

typedef struct {
    loader *L;
    file_kind kind;
    const char *expect_id;
    int hazard;           /* for FILE_HAZARD once the header is read */
    int n_sections;
    bool have_cues;
    vec steps;            /* for FILE_PROTOCOL */
    kb_protocol proto;
} file_state;

static int end_section(file_state *fs, section *s)
{
    loader *L = fs->L;
    if (!s->name[0])
        return 0;
    const char *nm = s->name;
    fs->n_sections++;
    switch (fs->kind) {
    case FILE_HAZARD:
        if (fs->n_sections == 1) {
            if (strcmp(nm, "hazard"))
                return fail(L, s->line, "a hazard file must start with [hazard], not [%s]", nm);
            return parse_hazard_header(L, s, &fs->hazard, fs->expect_id);
        }
        if (!strcmp(nm, "cues")) {
            if (fs->have_cues)
                return fail(L, s->line, "[cues] appears twice");
            fs->have_cues = true;
            return parse_cues(L, s, fs->hazard);
        }
        if (!strcmp(nm, "step"))
            return parse_step(L, s, &L->steps[fs->hazard]);
        return fail(L, s->line, "section [%s] is not allowed in a hazard file (expected [cues] or [step])", nm);
    case FILE_PROTOCOL:
        if (fs->n_sections == 1) {
            if (strcmp(nm, "protocol"))
                return fail(L, s->line, "a protocol file must start with [protocol], not [%s]", nm);
            return parse_protocol_header(L, s, &fs->proto);
        }
        if (!strcmp(nm, "step"))
            return parse_step(L, s, &fs->steps);
        return fail(L, s->line, "section [%s] is not allowed in a protocol file (expected [step])", nm);
    case FILE_DETECT:
        if (strcmp(nm, "detect") || fs->n_sections > 1)
            return fail(L, s->line, "detect.kb holds exactly one [detect] section");
        return parse_detect(L, s);
    case FILE_EXTRACT:
        if (strcmp(nm, "lexicon"))
            return fail(L, s->line, "extract.kb holds only [lexicon] sections, not [%s]", nm);
        return parse_lexicon(L, s);
    case FILE_NEEDS:
        if (strcmp(nm, "need"))
            return fail(L, s->line, "needs.kb holds only [need] sections, not [%s]", nm);
        return parse_need(L, s);
    case FILE_LANG:
        if (fs->n_sections == 1) {
            if (strcmp(nm, "language"))
                return fail(L, s->line, "a language file must start with [language], not [%s]", nm);
            return parse_language(L, s, fs->expect_id);
        }
        if (!strcmp(nm, "cues"))
            return parse_lang_cues(L, s);
        if (!strcmp(nm, "detect"))
            return parse_lang_detect(L, s);
        if (!strcmp(nm, "lexicon"))
            return parse_lexicon(L, s);
        if (!strcmp(nm, "numbers"))
            return parse_numbers(L, s);
        return fail(L, s->line,
                    "section [%s] is not allowed in a language file (expected [cues], [detect], [lexicon], [numbers])",
                    nm);
    case FILE_RULES:
        L->have_rules = true;
        if (!strcmp(nm, "brief"))
            return parse_brief(L, s);
        if (!strcmp(nm, "rule"))
            return parse_rule(L, s);
        return fail(L, s->line, "rules.kb holds [brief] and [rule] sections, not [%s]", nm);
    }
    return 0;
}

static int add_field(loader *L, section *s, const char *key, size_t klen, const char *val, size_t vlen,
                     size_t line)
{
    if (!s->name[0])
        return fail(L, line, "'%.*s:' outside any section", (int)(klen > 40 ? 40 : klen), key);
    if (klen == 0)
        return fail(L, line, "missing key before ':'");
    if (klen >= sizeof s->f[0].key)
        return fail(L, line, "key too long");
    if (vlen == 0)
        return fail(L, line, "empty value for '%.*s'", (int)klen, key);
    if (s->n == KB_MAX_FIELDS)
        return fail(L, line, "too many lines in one section (limit %d)", KB_MAX_FIELDS);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        field *p = realloc(s->f, cap * sizeof *p);
        if (!p)
            return oom(L);
        s->f = p;
        s->cap = cap;
    }
    field *f = &s->f[s->n++];
    memcpy(f->key, key, klen);
    f->key[klen] = '\0';
    f->value = arena_strndup(&L->kb->mem, val, vlen);
    f->len = vlen;
    f->cap = vlen + 1;
    f->line = line;
    return f->value ? 0 : oom(L);
}

/* Appends a continuation line to the last field's value. */
static int continue_field(loader *L, section *s, const char *val, size_t vlen, size_t line)
{
    if (!s->n)
        return fail(L, line, "indented continuation line with no key above it");
    field *f = &s->f[s->n - 1];
    /* The value's block grows geometrically, so a value continued over
     * many lines costs time and arena memory linear in its length (a
     * fresh copy per line was quadratic: 100k lines took gigabytes). */
    size_t need = f->len + vlen + 2;
    if (need > f->cap) {
        size_t cap = f->cap * 2 > need ? f->cap * 2 : need;
        char *v = arena_alloc(&L->kb->mem, cap);
        if (!v)
            return oom(L);
        memcpy(v, f->value, f->len);
        f->value = v;
        f->cap = cap;
    }
    char *v = (char *)f->value;
    v[f->len] = ' ';
    memcpy(v + f->len + 1, val, vlen);
    f->len += 1 + vlen;
    v[f->len] = '\0';
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int load_text(loader *L, const char *name, const char *data, size_t len, file_kind kind,
                     const char *expect_id)
{
    L->file = name;
    if (len > KB_MAX_FILE)
        return fail(L, 0, "file larger than %u MiB", KB_MAX_FILE >> 20);
    if (memchr(data, '\0', len))
        return fail(L, 0, "file contains a NUL byte (not a text file)");
    file_state fs = {.L = L, .kind = kind, .expect_id = expect_id, .hazard = -1};
    fs.steps.elem = sizeof(kb_step);
    section s = {0};
    size_t line = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        const char *ln = data + i;
        const char *nl = memchr(ln, '\n', len - i);
        size_t n = nl ? (size_t)(nl - ln) : len - i;
        i += n + (nl ? 1 : 0);
        line++;
        size_t a = 0, b = n;
        while (a < b && is_blank(ln[a]))
            a++;
        while (b > a && is_blank(ln[b - 1]))
            b--;
        if (a == b || ln[a] == '#')
            continue;
        if (a >= 2 && s.n) { /* continuation */
            rc = continue_field(L, &s, ln + a, b - a, line);
            continue;
        }
        if (ln[a] == '[') {
            if (ln[b - 1] != ']' || b - a < 3 || b - a - 2 >= sizeof s.name) {
                /* Through the common exit below, which also frees a protocol's steps. */
                rc = fail(L, line, "malformed section header '%.*s'", (int)(b - a > 40 ? 40 : b - a), ln + a);
                break;
            }
            rc = end_section(&fs, &s);
            memcpy(s.name, ln + a + 1, b - a - 2);
            s.name[b - a - 2] = '\0';
            s.line = line;
            s.n = 0;
            static const char *const known[] = {"hazard", "protocol", "cues", "step", "detect", "need", "lexicon",
                                                "brief", "rule", "language", "numbers", NULL};
            bool ok = false;
            for (const char *const *k = known; *k; k++)
                ok |= !strcmp(*k, s.name);
            if (!ok && rc == 0)
                rc = fail(L, line, "unknown section [%s]", s.name);
            continue;
        }
        const char *colon = memchr(ln + a, ':', b - a);
        if (!colon) {
            rc = fail(L, line, "expected 'key: value', found '%.*s'", (int)(b - a > 60 ? 60 : b - a), ln + a);
            continue;
        }
        size_t ke = (size_t)(colon - ln), vs = ke + 1;
        while (ke > a && is_blank(ln[ke - 1]))
            ke--;
        while (vs < b && is_blank(ln[vs]))
            vs++;
        rc = add_field(L, &s, ln + a, ke - a, ln + vs, b - vs, line);
    }
    if (rc == 0)
        rc = end_section(&fs, &s);
    free(s.f);
    if (rc == 0 && fs.n_sections == 0)
        rc = fail(L, 0, "file has no sections");
    if (rc == 0 && kind == FILE_HAZARD && !fs.have_cues)
        rc = fail(L, 0, "hazard file has no [cues] section");
    if (kind == FILE_PROTOCOL) {
        if (rc == 0) {
            fs.proto.steps = vec_to_arena(&fs.steps, &L->kb->mem, &fs.proto.n_steps);
            if (L->kb->mem.failed)
                rc = oom(L);
            else if (fs.proto.n_steps == 0)
                rc = fail(L, 0, "protocol '%s' has no steps", fs.proto.id);
        }
        free(fs.steps.p);
        if (rc == 0) {
            for (size_t i = 0; i < L->protocols.n; i++)
                if (!strcmp(((kb_protocol *)L->protocols.p)[i].id, fs.proto.id))
                    return fail(L, 0, "protocol '%s' is defined twice", fs.proto.id);
            kb_protocol *p = vec_push(&L->protocols);
            if (!p)
                return oom(L);
            *p = fs.proto;
        }
    }
    return rc;
}

/* ---- cue index ---- */

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

static int index_add(kb_index *ix, const char *key, uint32_t id)
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

static void index_free(kb_index *ix)
{
    for (size_t i = 0; i < ix->cap; i++)
        free(ix->slots[i].ids);
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

static int build_index(loader *L, kb_lexicon *lx)
{
    size_t cap = 64;
    while (cap < lx->n_phrases * 2 + 16)
        cap *= 2;
    lx->exact.slots = calloc(cap, sizeof(kb_bucket));
    lx->prefix.slots = calloc(cap, sizeof(kb_bucket));
    if (!lx->exact.slots || !lx->prefix.slots)
        return oom(L);
    lx->exact.cap = lx->prefix.cap = cap;
    for (size_t i = 0; i < lx->n_phrases; i++) {
        const kb_phrase *p = &lx->phrases[i];
        kb_index *ix = p->prefix[0] ? &lx->prefix : &lx->exact;
        if (index_add(ix, p->words[0], (uint32_t)i) < 0)
            return oom(L);
        if (p->prefix[0]) {
            size_t n = strlen(p->words[0]);
            bool seen = false;
            for (size_t k = 0; k < lx->n_prefix_lens; k++)
                seen |= lx->prefix_lens[k] == n;
            if (!seen) {
                if (n > 255 || lx->n_prefix_lens == sizeof lx->prefix_lens)
                    return fail(L, 0, "too many distinct prefix-phrase lengths");
                lx->prefix_lens[lx->n_prefix_lens++] = (uint8_t)n;
            }
        }
    }
    return 0;
}

/* Gives every step a dedup key shared by steps with the same id or the
 * same text, so the planner de-duplicates with a bitmap instead of string
 * comparisons on every report. */
static int assign_dedup_keys(loader *L)
{
    relief_kb *kb = L->kb;
    size_t total = 0;
    for (int h = 0; h < RELIEF_HZ_COUNT; h++)
        total += kb->hazards[h].n_steps;
    for (size_t i = 0; i < kb->n_protocols; i++)
        total += kb->protocols[i].n_steps;
    size_t cap = 64;
    while (cap < total * 4 + 16)
        cap *= 2;
    kb_index ix = {calloc(cap, sizeof(kb_bucket)), cap, 0};
    if (!ix.slots)
        return oom(L);
    uint32_t next = 0;
    int rc = 0;
    for (size_t g = 0; g < RELIEF_HZ_COUNT + kb->n_protocols && rc == 0; g++) {
        kb_step *steps = g < RELIEF_HZ_COUNT ? kb->hazards[g].steps : kb->protocols[g - RELIEF_HZ_COUNT].steps;
        size_t n = g < RELIEF_HZ_COUNT ? kb->hazards[g].n_steps : kb->protocols[g - RELIEF_HZ_COUNT].n_steps;
        for (size_t i = 0; i < n && rc == 0; i++) {
            kb_step *st = &steps[i];
            /* ids and texts live in one table; prefix ids so they cannot
             * collide with a text. */
            char *idkey = st->id ? arena_printf(&kb->mem, "\x01%s", st->id) : NULL;
            if (st->id && !idkey) {
                rc = oom(L);
                break;
            }
            const kb_bucket *b = idkey ? kb_index_find(&ix, idkey) : NULL;
            if (!b)
                b = kb_index_find(&ix, st->text);
            st->dedup = b ? b->ids[0] : next++;
            if ((idkey && !kb_index_find(&ix, idkey) && index_add(&ix, idkey, st->dedup) < 0) ||
                (!kb_index_find(&ix, st->text) && index_add(&ix, st->text, st->dedup) < 0))
                rc = oom(L);
        }
    }
    index_free(&ix);
    kb->n_dedup = next;
    return rc;
}

/* ---- public entry points ---- */

static void loader_init(loader *L, relief_kb *kb)
{
    memset(L, 0, sizeof *L);
    L->kb = kb;
    L->phrases.elem = L->lexphrases.elem = L->negation.elem = L->nonevent.elem = sizeof(kb_phrase);
    L->protocols.elem = sizeof(kb_protocol);
    L->needs.elem = sizeof(kb_need);
    L->rules.elem = sizeof(kb_rule);
    L->numbers.elem = sizeof(kb_phrase);
    L->langwords.elem = sizeof(kb_phrase);
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        L->steps[h].elem = sizeof(kb_step);
        L->secondary[h].elem = sizeof(kb_secondary);
    }
}

static void loader_discard(loader *L)
{
    free(L->phrases.p);
    free(L->lexphrases.p);
    free(L->negation.p);
    free(L->nonevent.p);
    free(L->protocols.p);
    free(L->needs.p);
    free(L->rules.p);
    free(L->numbers.p);
    free(L->langwords.p);
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        free(L->steps[h].p);
        free(L->secondary[h].p);
    }
}

/* The brief's data: every hazard offers at least one first-30-minute step
 * for the brief, and a hazard whose people must leave a zone offers a
 * `protect` one (else the brief of that hazard could open with anything). */
static int check_brief_data(loader *L)
{
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        const kb_hazard *hz = &L->kb->hazards[h];
        bool any = false, protect = false;
        for (size_t i = 0; i < hz->n_steps; i++) {
            const kb_step *st = &hz->steps[i];
            if (st->phase != RELIEF_PHASE_IMMEDIATE || st->brief < 0)
                continue;
            any = true;
            protect |= st->brief == RELIEF_BRIEF_PROTECT;
        }
        if (!any)
            return fail(L, 0, "hazard '%s' has no first-30-minute step marked 'brief:'", relief_hazard_name(h));
        if (L->kb->hazards[h].zone_leave && !protect)
            return fail(L, 0, "hazard '%s' has 'zone: leave' but no first-30-minute 'brief: protect' step",
                        relief_hazard_name(h));
    }
    return 0;
}

/* Moves the loader's vectors into the kb and validates completeness. */
static int finish(loader *L)
{
    relief_kb *kb = L->kb;
    arena *a = &kb->mem;
    L->file = "kb";
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        kb_hazard *hz = &kb->hazards[h];
        if (!hz->loaded)
            return fail(L, 0, "no file for hazard '%s' (expected hazards/%s.kb)", relief_hazard_name(h), relief_hazard_name(h));
        hz->steps = vec_to_arena(&L->steps[h], a, &hz->n_steps);
        hz->secondary = vec_to_arena(&L->secondary[h], a, &hz->n_secondary);
        if (hz->n_steps == 0 && !a->failed)
            return fail(L, 0, "hazard '%s' has no steps", relief_hazard_name(h));
    }
    if (!L->have_detect)
        return fail(L, 0, "detect.kb is missing");
    if (!L->have_needs)
        return fail(L, 0, "needs.kb is missing");
    if (!L->have_extract)
        return fail(L, 0, "extract.kb is missing");
    if (!(kb->household_size > 0))
        return fail(L, 0, "needs.kb has no household_size");
    if (!L->have_rules || !L->have_brief)
        return fail(L, 0, "rules.kb is missing or has no [brief] section");
    for (uint32_t t = 0; t < kb->tags.n; t++)
        if ((kb->tags.used >> t & 1) && !(kb->tags.defined >> t & 1))
            return fail(L, 0, "condition names tag.%s, but extract.kb has no [lexicon] class 'tag.%s'",
                        kb->tags.names[t], kb->tags.names[t]);
    if (check_brief_data(L) < 0)
        return -1;
    kb->cues.phrases = vec_to_arena(&L->phrases, a, &kb->cues.n_phrases);
    kb->lex.phrases = vec_to_arena(&L->lexphrases, a, &kb->lex.n_phrases);
    kb->negation = vec_to_arena(&L->negation, a, &kb->n_negation);
    kb->nonevent = vec_to_arena(&L->nonevent, a, &kb->n_nonevent);
    kb->protocols = vec_to_arena(&L->protocols, a, &kb->n_protocols);
    kb->needs = vec_to_arena(&L->needs, a, &kb->n_needs);
    kb->rules = vec_to_arena(&L->rules, a, &kb->n_rules);
    kb->numbers.phrases = vec_to_arena(&L->numbers, a, &kb->numbers.n_phrases);
    if (a->failed)
        return oom(L);
    if (build_index(L, &kb->cues) < 0 || assign_dedup_keys(L) < 0)
        return -1;
    kb->langwords.phrases = vec_to_arena(&L->langwords, a, &kb->langwords.n_phrases);
    if (a->failed || build_index(L, &kb->langwords) < 0)
        return -1;
    if (build_index(L, &kb->numbers) < 0)
        return -1;
    if (speller_build(kb) < 0)
        return oom(L);
    return build_index(L, &kb->lex);
}

static relief_kb *kb_new(void)
{
    relief_kb *kb = calloc(1, sizeof *kb);
    if (kb)
        arena_init(&kb->mem, 1 << 16);
    return kb;
}

void relief_kb_free(relief_kb *kb)
{
    if (!kb)
        return;
    index_free(&kb->cues.exact);
    index_free(&kb->cues.prefix);
    index_free(&kb->lex.exact);
    index_free(&kb->lex.prefix);
    speller_free(kb);
    index_free(&kb->numbers.exact);
    index_free(&kb->numbers.prefix);
    index_free(&kb->langwords.exact);
    index_free(&kb->langwords.prefix);
    arena_free(&kb->mem);
    free(kb);
}

/* Classifies a kb-relative path ("hazards/flood.kb"); returns -1 for files
 * that are not part of the kb (README, other extensions). */
static int classify_path(const char *rel, char *id, size_t cap)
{
    size_t n = strlen(rel);
    if (n < 4 || strcmp(rel + n - 3, ".kb"))
        return -1;
    if (!strcmp(rel, "detect.kb"))
        return FILE_DETECT;
    if (!strcmp(rel, "needs.kb"))
        return FILE_NEEDS;
    if (!strcmp(rel, "extract.kb"))
        return FILE_EXTRACT;
    if (!strcmp(rel, "rules.kb"))
        return FILE_RULES;
    const char *base;
    int kind;
    if (!strncmp(rel, "hazards/", 8)) {
        base = rel + 8;
        kind = FILE_HAZARD;
    } else if (!strncmp(rel, "protocols/", 10)) {
        base = rel + 10;
        kind = FILE_PROTOCOL;
    } else if (!strncmp(rel, "lang/", 5)) {
        base = rel + 5;
        kind = FILE_LANG;
    } else {
        return -1;
    }
    size_t bn = strlen(base) - 3;
    if (strchr(base, '/') || bn == 0 || bn >= cap)
        return -1;
    memcpy(id, base, bn);
    id[bn] = '\0';
    return kind;
}

/* One embedded file read from other bytes instead (kb_load_embedded_with). */
typedef struct {
    const char *path;
    const char *data;
    size_t len;
} kb_override;

static int load_embedded_into(loader *L, bool skip_detect_needs, const kb_override *ov)
{
    for (size_t i = 0; i < relief_kb_n_files; i++) {
        char id[64], name[300];
        int kind = classify_path(relief_kb_files[i].path, id, sizeof id);
        if (kind < 0)
            continue;
        if (skip_detect_needs && kind != FILE_DETECT && kind != FILE_NEEDS && kind != FILE_EXTRACT &&
            kind != FILE_RULES && kind != FILE_LANG)
            continue;
        if (skip_detect_needs && kind == FILE_LANG && L->have_lang_dir)
            continue;
        if (skip_detect_needs && ((kind == FILE_DETECT && L->have_detect) || (kind == FILE_NEEDS && L->have_needs) ||
                                  (kind == FILE_EXTRACT && L->have_extract) || (kind == FILE_RULES && L->have_rules)))
            continue;
        snprintf(name, sizeof name, "kb/%s", relief_kb_files[i].path);
        const char *data = (const char *)relief_kb_files[i].data;
        size_t len = relief_kb_files[i].len;
        if (ov && !strcmp(ov->path, relief_kb_files[i].path)) {
            data = ov->data;
            len = ov->len;
        }
        if (load_text(L, name, data, len, kind, kind == FILE_HAZARD || kind == FILE_LANG ? id : NULL) < 0)
            return -1;
    }
    return 0;
}

relief_kb *relief_kb_load_embedded(char **err)
{
    return kb_load_embedded_with(NULL, NULL, 0, err);
}

relief_kb *kb_load_embedded_with(const char *path, const char *data, size_t len, char **err)
{
    kb_override ov = {path, data, len};
    *err = NULL;
    relief_kb *kb = kb_new();
    if (!kb) {
        *err = strdup("out of memory");
        return NULL;
    }
    loader L;
    loader_init(&L, kb);
    if (load_embedded_into(&L, false, path ? &ov : NULL) < 0 || finish(&L) < 0) {
        loader_discard(&L);
        *err = L.err ? L.err : strdup("out of memory");
        relief_kb_free(kb);
        return NULL;
    }
    loader_discard(&L);
    return kb;
}

static int read_file(loader *L, const char *path, char **data, size_t *len)
{
    L->file = path;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(L, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(L, 0, "not a regular file");
    }
    if ((unsigned long long)st.st_size > KB_MAX_FILE) {
        fclose(f);
        return fail(L, 0, "file larger than %u MiB", KB_MAX_FILE >> 20);
    }
    *len = (size_t)st.st_size;
    *data = malloc(*len + 1);
    if (!*data) {
        fclose(f);
        return oom(L);
    }
    size_t got = fread(*data, 1, *len, f);
    fclose(f);
    if (got != *len) {
        free(*data);
        return fail(L, 0, "short read");
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every .kb file of DIR/sub in name order. */
static int load_subdir(loader *L, const char *dir, const char *sub, file_kind kind)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d) {
        L->file = path;
        return fail(L, 0, "cannot open directory: %s", strerror(errno));
    }
    vec names = {.elem = sizeof(char *)};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".kb") || e->d_name[0] == '.')
            continue;
        char **slot = vec_push(&names);
        if (!slot || !(*slot = strdup(e->d_name))) {
            if (slot)
                names.n--;
            rc = oom(L);
            break;
        }
    }
    closedir(d);
    if (rc == 0 && names.n)
        qsort(names.p, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        char *nm = ((char **)names.p)[i];
        if (rc == 0) {
            char file[4600], id[64];
            snprintf(file, sizeof file, "%s/%s", path, nm);
            size_t bn = strlen(nm) - 3;
            snprintf(id, sizeof id, "%.*s", (int)(bn < 63 ? bn : 63), nm);
            char *data;
            size_t len;
            char *fname = arena_strdup(&L->kb->mem, file);
            if (!fname)
                rc = oom(L);
            else if ((rc = read_file(L, fname, &data, &len)) == 0) {
                rc = load_text(L, fname, data, len, kind, kind == FILE_HAZARD || kind == FILE_LANG ? id : NULL);
                free(data);
            }
        }
        free(nm);
    }
    free(names.p);
    return rc;
}

/* DIR/sub when it exists (else the embedded files of that folder are used). */
static int load_optional_subdir(loader *L, const char *dir, const char *sub, file_kind kind)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    L->have_lang_dir = true;
    return load_subdir(L, dir, sub, kind);
}

static int load_optional(loader *L, const char *dir, const char *name, file_kind kind)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) < 0)
        return 0; /* falls back to the embedded one */
    char *fname = arena_strdup(&L->kb->mem, path), *data;
    size_t len;
    if (!fname)
        return oom(L);
    if (read_file(L, fname, &data, &len) < 0)
        return -1;
    int rc = load_text(L, fname, data, len, kind, NULL);
    free(data);
    return rc;
}

relief_kb *relief_kb_load_dir(const char *dir, char **err)
{
    *err = NULL;
    relief_kb *kb = kb_new();
    if (!kb) {
        *err = strdup("out of memory");
        return NULL;
    }
    loader L;
    loader_init(&L, kb);
    int rc = load_subdir(&L, dir, "hazards", FILE_HAZARD);
    if (rc == 0)
        rc = load_subdir(&L, dir, "protocols", FILE_PROTOCOL);
    if (rc == 0)
        rc = load_optional(&L, dir, "detect.kb", FILE_DETECT);
    if (rc == 0)
        rc = load_optional(&L, dir, "needs.kb", FILE_NEEDS);
    if (rc == 0)
        rc = load_optional(&L, dir, "extract.kb", FILE_EXTRACT);
    if (rc == 0)
        rc = load_optional(&L, dir, "rules.kb", FILE_RULES);
    if (rc == 0)
        rc = load_optional_subdir(&L, dir, "lang", FILE_LANG);
    if (rc == 0)
        rc = load_embedded_into(&L, true, NULL);
    if (rc == 0)
        rc = finish(&L);
    loader_discard(&L);
    if (rc < 0) {
        *err = L.err ? L.err : strdup("out of memory");
        relief_kb_free(kb);
        return NULL;
    }
    return kb;
}

size_t relief_kb_step_count(const relief_kb *kb, int hazard)
{
    return hazard >= 0 && hazard < RELIEF_HZ_COUNT ? kb->hazards[hazard].n_steps : 0;
}

size_t relief_kb_phase_step_count(const relief_kb *kb, int hazard, int phase)
{
    size_t n = 0;
    for (size_t i = 0; i < relief_kb_step_count(kb, hazard); i++)
        n += kb->hazards[hazard].steps[i].phase == phase;
    return n;
}

size_t relief_kb_protocol_count(const relief_kb *kb)
{
    return kb->n_protocols;
}
