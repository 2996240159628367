/*
 * kb.c - loads the protocol knowledge base (docs/kb-format.md) from the copy
 * embedded at build time or from a directory: the loader's helpers, the
 * file driver, the cue index and the public entry points. The sections of
 * each file are parsed in kb_sections.c.
 *
 * Every error names the file and line. A kb is immutable after loading.
 */
#include "kb_load.h"

/* ---- growable arrays (malloc'd while loading, moved into the arena) ---- */


void *kb_vec_push(vec *v)
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



int kb_fail(loader *L, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int kb_fail(loader *L, size_t line, const char *fmt, ...)
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

int kb_oom(loader *L)
{
    return kb_fail(L, 0, "out of memory");
}


const field *kb_get(const section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].key, key))
            return &s->f[i];
    return NULL;
}

int kb_check_keys(loader *L, const section *s, const char *const *allowed, const char *const *repeatable)
{
    for (size_t i = 0; i < s->n; i++) {
        bool ok = false, rep = false;
        for (const char *const *k = allowed; *k; k++)
            ok |= !strcmp(*k, s->f[i].key);
        for (const char *const *k = repeatable; k && *k; k++)
            rep |= !strcmp(*k, s->f[i].key);
        if (!ok)
            return kb_fail(L, s->f[i].line, "unknown key '%s' in [%s]", s->f[i].key, s->name);
        if (!rep)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(s->f[j].key, s->f[i].key))
                    return kb_fail(L, s->f[i].line, "key '%s' repeated in [%s]", s->f[i].key, s->name);
    }
    return 0;
}

const field *kb_require(loader *L, const section *s, const char *key)
{
    const field *f = kb_get(s, key);
    if (!f)
        kb_fail(L, s->line, "[%s] is missing required key '%s'", s->name, key);
    return f;
}

int kb_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

const cond *kb_parse_cond(loader *L, const field *f)
{
    char msg[256];
    cond *c = cond_parse(&L->kb->mem, f->value, &L->kb->tags, msg, sizeof msg);
    if (!c)
        kb_fail(L, f->line, "%s", L->kb->mem.failed ? "out of memory" : msg);
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
        return kb_oom(L);
    }
    if (tl.n == 0) {
        token_list_free(&tl);
        return kb_fail(L, line, "empty cue phrase");
    }
    if (tl.n > KB_MAX_PHRASE_WORDS) {
        token_list_free(&tl);
        return kb_fail(L, line, "cue phrase '%.*s' has more than %d words", (int)(len > 60 ? 60 : len),
                    text, KB_MAX_PHRASE_WORDS);
    }
    kb_phrase *p = kb_vec_push(into);
    arena *a = &L->kb->mem;
    if (!p) {
        token_list_free(&tl);
        return kb_oom(L);
    }
    p->hazard = hazard;
    p->weight = (uint8_t)weight;
    p->n_words = (uint8_t)tl.n;
    p->words = arena_calloc(a, tl.n, sizeof(char *));
    p->prefix = arena_calloc(a, tl.n, sizeof(bool));
    p->display = arena_strndup(a, text, len);
    if (!p->words || !p->prefix || !p->display) {
        token_list_free(&tl);
        return kb_oom(L);
    }
    for (size_t i = 0; i < tl.n; i++) {
        p->words[i] = arena_strdup(a, tok_str(&tl, i));
        if (!p->words[i]) {
            token_list_free(&tl);
            return kb_oom(L);
        }
        size_t e = tl.tok[i].end;
        p->prefix[i] = e < len && text[e] == '*';
        if (p->prefix[i] && strlen(p->words[i]) < 3) {
            token_list_free(&tl);
            return kb_fail(L, line, "prefix cue '%s*' is shorter than 3 letters", p->words[i]);
        }
    }
    token_list_free(&tl);
    return 0;
}

/* Parses "a, b, c" into phrases. */
int kb_parse_phrase_list(loader *L, size_t line, const char *list, int hazard, int weight, vec *into)
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
            return kb_fail(L, line, "empty phrase in list");
        if (parse_phrase(L, line, s, n, hazard, weight, into) < 0)
            return -1;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return 0;
}


/* ---- file driver ---- */



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
                return kb_fail(L, s->line, "a hazard file must start with [hazard], not [%s]", nm);
            return kb_parse_hazard_header(L, s, &fs->hazard, fs->expect_id);
        }
        if (!strcmp(nm, "cues")) {
            if (fs->have_cues)
                return kb_fail(L, s->line, "[cues] appears twice");
            fs->have_cues = true;
            return kb_parse_cues(L, s, fs->hazard);
        }
        if (!strcmp(nm, "step"))
            return kb_parse_step(L, s, &L->steps[fs->hazard]);
        return kb_fail(L, s->line, "section [%s] is not allowed in a hazard file (expected [cues] or [step])", nm);
    case FILE_PROTOCOL:
        if (fs->n_sections == 1) {
            if (strcmp(nm, "protocol"))
                return kb_fail(L, s->line, "a protocol file must start with [protocol], not [%s]", nm);
            return kb_parse_protocol_header(L, s, &fs->proto);
        }
        if (!strcmp(nm, "step"))
            return kb_parse_step(L, s, &fs->steps);
        return kb_fail(L, s->line, "section [%s] is not allowed in a protocol file (expected [step])", nm);
    case FILE_DETECT:
        if (strcmp(nm, "detect") || fs->n_sections > 1)
            return kb_fail(L, s->line, "detect.kb holds exactly one [detect] section");
        return kb_parse_detect(L, s);
    case FILE_EXTRACT:
        if (strcmp(nm, "lexicon"))
            return kb_fail(L, s->line, "extract.kb holds only [lexicon] sections, not [%s]", nm);
        return kb_parse_lexicon(L, s);
    case FILE_NEEDS:
        if (strcmp(nm, "need"))
            return kb_fail(L, s->line, "needs.kb holds only [need] sections, not [%s]", nm);
        return kb_parse_need(L, s);
    case FILE_LANG:
        if (fs->n_sections == 1) {
            if (strcmp(nm, "language"))
                return kb_fail(L, s->line, "a language file must start with [language], not [%s]", nm);
            return kb_parse_language(L, s, fs->expect_id);
        }
        if (!strcmp(nm, "cues"))
            return kb_parse_lang_cues(L, s);
        if (!strcmp(nm, "detect"))
            return kb_parse_lang_detect(L, s);
        if (!strcmp(nm, "lexicon"))
            return kb_parse_lexicon(L, s);
        if (!strcmp(nm, "numbers"))
            return kb_parse_numbers(L, s);
        if (!strcmp(nm, "strings"))
            return kb_parse_strings(L, s);
        return kb_fail(L, s->line,
                    "section [%s] is not allowed in a language file (expected [cues], [detect], [lexicon], [numbers], "
                    "[strings])",
                    nm);
    case FILE_RULES:
        L->have_rules = true;
        if (!strcmp(nm, "brief"))
            return kb_parse_brief(L, s);
        if (!strcmp(nm, "rule"))
            return kb_parse_rule(L, s);
        return kb_fail(L, s->line, "rules.kb holds [brief] and [rule] sections, not [%s]", nm);
    }
    return 0;
}

static int add_field(loader *L, section *s, const char *key, size_t klen, const char *val, size_t vlen,
                     size_t line)
{
    if (!s->name[0])
        return kb_fail(L, line, "'%.*s:' outside any section", (int)(klen > 40 ? 40 : klen), key);
    if (klen == 0)
        return kb_fail(L, line, "missing key before ':'");
    if (klen >= sizeof s->f[0].key)
        return kb_fail(L, line, "key too long");
    if (vlen == 0)
        return kb_fail(L, line, "empty value for '%.*s'", (int)klen, key);
    if (s->n == KB_MAX_FIELDS)
        return kb_fail(L, line, "too many lines in one section (limit %d)", KB_MAX_FIELDS);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        field *p = realloc(s->f, cap * sizeof *p);
        if (!p)
            return kb_oom(L);
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
    return f->value ? 0 : kb_oom(L);
}

/* Appends a continuation line to the last field's value. */
static int continue_field(loader *L, section *s, const char *val, size_t vlen, size_t line)
{
    if (!s->n)
        return kb_fail(L, line, "indented continuation line with no key above it");
    field *f = &s->f[s->n - 1];
    /* The value's block grows geometrically, so a value continued over
     * many lines costs time and arena memory linear in its length (a
     * fresh copy per line was quadratic: 100k lines took gigabytes). */
    size_t need = f->len + vlen + 2;
    if (need > f->cap) {
        size_t cap = f->cap * 2 > need ? f->cap * 2 : need;
        char *v = arena_alloc(&L->kb->mem, cap);
        if (!v)
            return kb_oom(L);
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
    if (!(L->file_kept = arena_strdup(&L->kb->mem, name)))
        return kb_oom(L);
    if (len > KB_MAX_FILE)
        return kb_fail(L, 0, "file larger than %u MiB", KB_MAX_FILE >> 20);
    if (memchr(data, '\0', len))
        return kb_fail(L, 0, "file contains a NUL byte (not a text file)");
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
                rc = kb_fail(L, line, "malformed section header '%.*s'", (int)(b - a > 40 ? 40 : b - a), ln + a);
                break;
            }
            rc = end_section(&fs, &s);
            memcpy(s.name, ln + a + 1, b - a - 2);
            s.name[b - a - 2] = '\0';
            s.line = line;
            s.n = 0;
            static const char *const known[] = {"hazard", "protocol", "cues", "step", "detect", "need", "lexicon",
                                                "brief", "rule", "language", "numbers", "strings", NULL};
            bool ok = false;
            for (const char *const *k = known; *k; k++)
                ok |= !strcmp(*k, s.name);
            if (!ok && rc == 0)
                rc = kb_fail(L, line, "unknown section [%s]", s.name);
            continue;
        }
        const char *colon = memchr(ln + a, ':', b - a);
        if (!colon) {
            rc = kb_fail(L, line, "expected 'key: value', found '%.*s'", (int)(b - a > 60 ? 60 : b - a), ln + a);
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
        rc = kb_fail(L, 0, "file has no sections");
    if (rc == 0 && kind == FILE_HAZARD && !fs.have_cues)
        rc = kb_fail(L, 0, "hazard file has no [cues] section");
    if (kind == FILE_PROTOCOL) {
        if (rc == 0) {
            fs.proto.steps = vec_to_arena(&fs.steps, &L->kb->mem, &fs.proto.n_steps);
            if (L->kb->mem.failed)
                rc = kb_oom(L);
            else if (fs.proto.n_steps == 0)
                rc = kb_fail(L, 0, "protocol '%s' has no steps", fs.proto.id);
        }
        free(fs.steps.p);
        if (rc == 0) {
            for (size_t i = 0; i < L->protocols.n; i++)
                if (!strcmp(((kb_protocol *)L->protocols.p)[i].id, fs.proto.id))
                    return kb_fail(L, 0, "protocol '%s' is defined twice", fs.proto.id);
            kb_protocol *p = kb_vec_push(&L->protocols);
            if (!p)
                return kb_oom(L);
            *p = fs.proto;
        }
    }
    return rc;
}

/* Builds lx's first-word index, reporting failures as the loader does. */
static int build_index(loader *L, kb_lexicon *lx)
{
    int rc = lexicon_build_index(lx);
    if (rc == -2)
        return kb_fail(L, 0, "too many distinct prefix-phrase lengths");
    return rc < 0 ? kb_oom(L) : 0;
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
        return kb_oom(L);
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
                rc = kb_oom(L);
                break;
            }
            const kb_bucket *b = idkey ? kb_index_find(&ix, idkey) : NULL;
            if (!b)
                b = kb_index_find(&ix, st->text);
            st->dedup = b ? b->ids[0] : next++;
            if ((idkey && !kb_index_find(&ix, idkey) && kb_index_add(&ix, idkey, st->dedup) < 0) ||
                (!kb_index_find(&ix, st->text) && kb_index_add(&ix, st->text, st->dedup) < 0))
                rc = kb_oom(L);
        }
    }
    kb_index_free(&ix);
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
    L->tr_issues.elem = sizeof(const char *);
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
    free(L->tr_issues.p);
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
            return kb_fail(L, 0, "hazard '%s' has no first-30-minute step marked 'brief:'", relief_hazard_name(h));
        if (L->kb->hazards[h].zone_leave && !protect)
            return kb_fail(L, 0, "hazard '%s' has 'zone: leave' but no first-30-minute 'brief: protect' step",
                        relief_hazard_name(h));
    }
    return 0;
}

/* Moves the loader's vectors into the kb and validates completeness. */
int kb_finish(loader *L)
{
    relief_kb *kb = L->kb;
    arena *a = &kb->mem;
    L->file = "kb";
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        kb_hazard *hz = &kb->hazards[h];
        if (!hz->loaded)
            return kb_fail(L, 0, "no file for hazard '%s' (expected hazards/%s.kb)", relief_hazard_name(h), relief_hazard_name(h));
        hz->steps = vec_to_arena(&L->steps[h], a, &hz->n_steps);
        hz->secondary = vec_to_arena(&L->secondary[h], a, &hz->n_secondary);
        if (hz->n_steps == 0 && !a->failed)
            return kb_fail(L, 0, "hazard '%s' has no steps", relief_hazard_name(h));
    }
    if (!L->have_detect)
        return kb_fail(L, 0, "detect.kb is missing");
    if (!L->have_needs)
        return kb_fail(L, 0, "needs.kb is missing");
    if (!L->have_extract)
        return kb_fail(L, 0, "extract.kb is missing");
    if (!(kb->household_size > 0))
        return kb_fail(L, 0, "needs.kb has no household_size");
    if (!L->have_rules || !L->have_brief)
        return kb_fail(L, 0, "rules.kb is missing or has no [brief] section");
    for (uint32_t t = 0; t < kb->tags.n; t++)
        if ((kb->tags.used >> t & 1) && !(kb->tags.defined >> t & 1))
            return kb_fail(L, 0, "condition names tag.%s, but extract.kb has no [lexicon] class 'tag.%s'",
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
        return kb_oom(L);
    if (build_index(L, &kb->cues) < 0 || assign_dedup_keys(L) < 0)
        return -1;
    kb->langwords.phrases = vec_to_arena(&L->langwords, a, &kb->langwords.n_phrases);
    if (a->failed || build_index(L, &kb->langwords) < 0)
        return -1;
    if (build_index(L, &kb->numbers) < 0)
        return -1;
    if (speller_build(kb) < 0)
        return kb_oom(L);
    if (kb_finish_translations(L) < 0)
        return -1;
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
    lexicon_free_index(&kb->cues);
    lexicon_free_index(&kb->lex);
    speller_free(kb);
    lexicon_free_index(&kb->numbers);
    lexicon_free_index(&kb->langwords);
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
    if (load_embedded_into(&L, false, path ? &ov : NULL) < 0 || kb_finish(&L) < 0) {
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
        return kb_fail(L, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return kb_fail(L, 0, "not a regular file");
    }
    if ((unsigned long long)st.st_size > KB_MAX_FILE) {
        fclose(f);
        return kb_fail(L, 0, "file larger than %u MiB", KB_MAX_FILE >> 20);
    }
    *len = (size_t)st.st_size;
    *data = malloc(*len + 1);
    if (!*data) {
        fclose(f);
        return kb_oom(L);
    }
    size_t got = fread(*data, 1, *len, f);
    fclose(f);
    if (got != *len) {
        free(*data);
        return kb_fail(L, 0, "short read");
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
        return kb_fail(L, 0, "cannot open directory: %s", strerror(errno));
    }
    vec names = {.elem = sizeof(char *)};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".kb") || e->d_name[0] == '.')
            continue;
        char **slot = kb_vec_push(&names);
        if (!slot || !(*slot = strdup(e->d_name))) {
            if (slot)
                names.n--;
            rc = kb_oom(L);
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
                rc = kb_oom(L);
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
        return kb_oom(L);
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
        rc = kb_finish(&L);
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

/* The immediate-phase, brief-eligible steps among steps[0..n), numbered
 * from 1, written to out (up to cap); returns how many there are. */
static size_t brief_steps(const kb_step *steps, size_t n_steps, const char *origin, relief_step *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < n_steps; i++) {
        const kb_step *st = &steps[i];
        if (st->brief < 0 || st->phase != RELIEF_PHASE_IMMEDIATE)
            continue;
        if (n < cap)
            out[n] = (relief_step){.number = (int)n + 1, .phase = st->phase, .role = st->role,
                                   .priority = st->priority, .id = st->id, .text = st->text,
                                   .short_text = st->short_text, .brief_kind = st->brief, .source = st->source,
                                   .origin = origin};
        n++;
    }
    return n;
}

size_t relief_kb_brief_steps(const relief_kb *kb, int hazard, relief_step *out, size_t cap)
{
    if (hazard < 0 || hazard >= RELIEF_HZ_COUNT)
        return 0;
    return brief_steps(kb->hazards[hazard].steps, kb->hazards[hazard].n_steps, relief_hazard_name(hazard), out, cap);
}

size_t relief_kb_protocol_brief_steps(const relief_kb *kb, size_t protocol, relief_step *out, size_t cap)
{
    if (protocol >= kb->n_protocols)
        return 0;
    const kb_protocol *p = &kb->protocols[protocol];
    return brief_steps(p->steps, p->n_steps, p->id, out, cap);
}

const char *relief_kb_protocol_id(const relief_kb *kb, size_t protocol)
{
    return protocol < kb->n_protocols ? kb->protocols[protocol].id : NULL;
}

const char *relief_kb_language_name(const relief_kb *kb, const char *code)
{
    for (size_t i = 0; code && i < kb->n_langs; i++)
        if (!strcmp(kb->langs[i].code, code))
            return kb->langs[i].name;
    return NULL;
}
