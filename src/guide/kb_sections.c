/* kb_sections.c - the sections of knowledge-base files: steps, hazard headers, cues, detect, needs, lexicons, rules, languages. */
#include "kb_load.h"

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

/* ---- sections ---- */

int kb_parse_step(loader *L, const section *s, vec *into)
{
    static const char *const keys[] = {"id", "phase", "role", "priority", "when", "urgent", "do", "source",
                                       "brief", "short", "group", "distance", "do.es", "do.fr", "do.pt",
                                       "short.es", "short.fr", "short.pt", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *phase = kb_require(L, s, "phase"), *role = kb_require(L, s, "role");
    const field *text = kb_require(L, s, "do"), *source = kb_require(L, s, "source");
    if (!phase || !role || !text || !source)
        return -1;
    kb_step *st = kb_vec_push(into);
    if (!st)
        return kb_oom(L);
    st->file = L->file_kept;
    st->line = (uint32_t)s->line;
    st->phase = guide_phase_from_name(phase->value);
    if (st->phase < 0)
        return kb_fail(L, phase->line, "unknown phase '%s' (expected immediate, 2h, 24h, 72h, recovery)",
                    phase->value);
    st->role = guide_role_from_name(role->value);
    if (st->role < 0)
        return kb_fail(L, role->line,
                    "unknown role '%s' (expected command, operations, logistics, planning, public_info, medical, public)",
                    role->value);
    st->priority = 3;
    const field *f;
    if ((f = kb_get(s, "priority"))) {
        long v;
        if (kb_parse_int(f->value, 1, 5, &v) < 0)
            return kb_fail(L, f->line, "priority must be 1 to 5, not '%s'", f->value);
        st->priority = (int)v;
    }
    if ((f = kb_get(s, "urgent"))) {
        if (strcmp(f->value, "yes") && strcmp(f->value, "no"))
            return kb_fail(L, f->line, "urgent must be yes or no, not '%s'", f->value);
        st->urgent = !strcmp(f->value, "yes");
    }
    if ((f = kb_get(s, "when")) && !(st->when = kb_parse_cond(L, f)))
        return -1;
    if ((f = kb_get(s, "id")))
        st->id = f->value;
    st->text = text->value;
    st->source = source->value;
    st->brief = -1;
    if ((f = kb_get(s, "brief"))) {
        st->brief = guide_brief_from_name(f->value);
        if (st->brief < 0)
            return kb_fail(L, f->line,
                        "unknown brief kind '%s' (expected protect, lifesave, command, warn, rescue, medical, care)",
                        f->value);
    }
    if ((f = kb_get(s, "short"))) {
        if (f->len > KB_MAX_SHORT)
            return kb_fail(L, f->line, "short is %zu characters; a brief line holds at most %d", f->len, KB_MAX_SHORT);
        st->short_text = f->value;
    }
    /* Translations (do.es, short.fr...): a brief line may run ~20 % longer
     * in a Romance language. */
    if (kb_parse_tr(L, s, "do", text, st->text_tr, 0) < 0 ||
        kb_parse_tr(L, s, "short", kb_get(s, "short"), st->short_tr, KB_MAX_SHORT_TR) < 0)
        return -1;
    if (st->brief >= 0 && !st->short_text)
        return kb_fail(L, s->line, "a step with 'brief:' needs 'short:' (the action in one line)");
    if ((f = kb_get(s, "group")))
        st->group = f->value;
    if ((f = kb_get(s, "distance"))) {
        char *end;
        double d = strtod(f->value, &end);
        while (*end == ' ')
            end++;
        if (!(d > 0 && d < 1e6) || strcmp(end, "m"))
            return kb_fail(L, f->line, "distance must read 'N m' (metres, more than 0), not '%s'", f->value);
        if (!st->group)
            return kb_fail(L, f->line, "distance needs a group: it only decides between steps of one group");
        st->distance_m = d;
    }
    return 0;
}

int kb_parse_hazard_header(loader *L, const section *s, int *hazard_out, const char *expect_id)
{
    static const char *const keys[] = {"id", "name", "glide", "secondary", "trauma", "zone", "name.es", "name.fr",
                                       "name.pt", "secondary.es", "secondary.fr", "secondary.pt", NULL};
    static const char *const rep[] = {"secondary", "secondary.es", "secondary.fr", "secondary.pt", NULL};
    if (kb_check_keys(L, s, keys, rep) < 0)
        return -1;
    const field *id = kb_require(L, s, "id"), *name = kb_require(L, s, "name");
    if (!id || !name)
        return -1;
    int h = relief_hazard_from_name(id->value);
    if (h < 0)
        return kb_fail(L, id->line, "unknown hazard id '%s'", id->value);
    if (expect_id && strcmp(expect_id, id->value))
        return kb_fail(L, id->line, "hazard id '%s' does not match the file name '%s.kb'", id->value, expect_id);
    kb_hazard *hz = &L->kb->hazards[h];
    if (hz->loaded)
        return kb_fail(L, id->line, "hazard '%s' is defined twice", id->value);
    hz->loaded = true;
    hz->name = name->value;
    hz->file = L->file_kept;
    hz->line = (uint32_t)s->line;
    if (kb_parse_tr(L, s, "name", name, hz->name_tr, 0) < 0)
        return -1;
    const field *g = kb_get(s, "glide");
    hz->glide = g ? g->value : NULL;
    if ((g = kb_get(s, "trauma"))) {
        if (strcmp(g->value, "yes") && strcmp(g->value, "no"))
            return kb_fail(L, g->line, "trauma must be yes or no, not '%s'", g->value);
        hz->trauma = !strcmp(g->value, "yes");
    }
    if ((g = kb_get(s, "zone"))) {
        if (strcmp(g->value, "leave"))
            return kb_fail(L, g->line, "zone must be 'leave' (people leave a zone about to be hit), not '%s'", g->value);
        hz->zone_leave = true;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->f[i].key, "secondary"))
            continue;
        const field *f = &s->f[i];
        const char *bar1 = strchr(f->value, '|');
        const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2)
            return kb_fail(L, f->line, "secondary must be 'HAZARD | CONDITION | NOTE'");
        char idbuf[64], condbuf[512];
        size_t n1 = (size_t)(bar1 - f->value), n2 = (size_t)(bar2 - bar1 - 1);
        if (n1 >= sizeof idbuf || n2 >= sizeof condbuf)
            return kb_fail(L, f->line, "secondary hazard or condition too long");
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
        kb_secondary *sec = kb_vec_push(&L->secondary[h]);
        if (!sec)
            return kb_oom(L);
        sec->line = (uint32_t)f->line;
        sec->hazard = relief_hazard_from_name(a);
        if (sec->hazard < 0)
            return kb_fail(L, f->line, "unknown secondary hazard '%s'", a);
        if (sec->hazard == h)
            return kb_fail(L, f->line, "hazard '%s' cannot be its own secondary", a);
        char msg[256];
        if (!(sec->when = cond_parse(&L->kb->mem, b, &L->kb->tags, msg, sizeof msg)))
            return kb_fail(L, f->line, "%s", msg);
        if (!*note)
            return kb_fail(L, f->line, "secondary '%s' has no note", a);
        sec->note = note;
    }
    if (kb_parse_secondary_tr(L, s, &L->secondary[h]) < 0)
        return -1;
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

int kb_parse_cues(loader *L, const section *s, int hazard)
{
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        if (!strcmp(f->key, "not")) {
            size_t first = L->phrases.n;
            if (kb_parse_phrase_list(L, f->line, f->value, -1, 0, &L->phrases) < 0)
                return -1;
            for (size_t k = first; k < L->phrases.n; k++)
                ((kb_phrase *)L->phrases.p)[k].owner = hazard;
            continue;
        }
        char lang[16];
        int weight, used = 0;
        if (sscanf(f->key, "%15s %d%n", lang, &weight, &used) != 2 || f->key[used] != '\0')
            return kb_fail(L, f->line, "cue line must be 'LANG WEIGHT: phrases' or 'not: phrases', not '%s:'", f->key);
        if (!known_cue_lang(lang))
            return kb_fail(L, f->line, "unknown cue language '%s' (expected en, es, fr, pt, it, ht, tl or any)", lang);
        if (weight < 1 || weight > 3)
            return kb_fail(L, f->line, "cue weight must be 1, 2 or 3, not %d", weight);
        size_t first = L->phrases.n;
        if (kb_parse_phrase_list(L, f->line, f->value, hazard, weight, &L->phrases) < 0)
            return -1;
        set_lang(L, first, strcmp(lang, "any") ? lang : "");
    }
    return 0;
}

int kb_parse_detect(loader *L, const section *s)
{
    static const char *const keys[] = {"threshold", "negation", "nonevent", "past", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *t = kb_require(L, s, "threshold"), *neg = kb_require(L, s, "negation");
    if (!t || !neg)
        return -1;
    char *end;
    double v = strtod(t->value, &end);
    if (*end || !(v > 0 && v <= 100))
        return kb_fail(L, t->line, "threshold must be a number in (0, 100], not '%s'", t->value);
    L->kb->threshold = v;
    if (kb_parse_phrase_list(L, neg->line, neg->value, -1, 0, &L->negation) < 0)
        return -1;
    const field *f;
    if ((f = kb_get(s, "nonevent")) && kb_parse_phrase_list(L, f->line, f->value, -1, 0, &L->nonevent) < 0)
        return -1;
    if ((f = kb_get(s, "past")) && kb_parse_phrase_list(L, f->line, f->value, -1, 1, &L->nonevent) < 0)
        return -1;
    L->have_detect = true;
    return 0;
}

/* "15 L per person per day", "1 per 50 people", "5 people per household". */
static int parse_quantity(loader *L, const field *f, kb_need *n)
{
    char buf[256];
    if (strlen(f->value) >= sizeof buf)
        return kb_fail(L, f->line, "quantity too long");
    strcpy(buf, f->value);
    char *w[12];
    int nw = 0;
    for (char *tok = strtok(buf, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (nw == 12)
            return kb_fail(L, f->line, "quantity has too many words");
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
            return kb_oom(L);
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
    return kb_fail(L, f->line,
                "quantity must read 'NUMBER [UNIT] per [N] person|people|household [per day|month]', not '%s'",
                f->value);
}

int kb_parse_need(loader *L, const section *s)
{
    static const char *const keys[] = {"id", "label", "quantity", "round", "standard", "note", "label.es", "label.fr",
                                       "label.pt", "standard.es", "standard.fr", "standard.pt", "note.es", "note.fr",
                                       "note.pt", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = kb_require(L, s, "id"), *label = kb_require(L, s, "label");
    const field *q = kb_require(L, s, "quantity"), *std = kb_require(L, s, "standard");
    if (!id || !label || !q || !std)
        return -1;
    kb_need *n = kb_vec_push(&L->needs);
    if (!n)
        return kb_oom(L);
    n->id = id->value;
    n->label = label->value;
    n->standard = std->value;
    n->basis = q->value;
    const field *f = kb_get(s, "note");
    n->note = f ? f->value : NULL;
    n->file = L->file_kept;
    n->line = (uint32_t)s->line;
    if (kb_parse_tr(L, s, "label", label, n->label_tr, 0) < 0 || kb_parse_tr(L, s, "note", f, n->note_tr, 0) < 0 ||
        kb_parse_tr(L, s, "standard", std, n->standard_tr, 0) < 0)
        return -1;
    if (parse_quantity(L, q, n) < 0)
        return -1;
    if ((f = kb_get(s, "round"))) {
        char *end;
        if (!strcmp(f->value, "none")) {
            n->round_to = 0;
        } else if (!strncmp(f->value, "up ", 3) && (n->round_to = strtod(f->value + 3, &end), !*end) &&
                   n->round_to > 0 && isfinite(n->round_to)) {
        } else {
            return kb_fail(L, f->line, "round must be 'up N' or 'none', not '%s'", f->value);
        }
    }
    if (!strcmp(n->id, "household_size")) {
        if (n->count || strcmp(n->unit, "people") || !n->per_household || n->time)
            return kb_fail(L, q->line, "household_size must read 'N people per household'");
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
    "time_before", "ago", "unit_min", "unit_hour", "unit_day", "loc_prep", "street", "place_noun", "object", "away", "filler",
    "name_prep"};

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
            return kb_fail(L, f->line, "bad hazard list '%s'", f->value);
        memcpy(id, s, n);
        id[n] = '\0';
        int h = relief_hazard_from_name(id);
        if (h < 0)
            return kb_fail(L, f->line, "unknown hazard id '%s'", id);
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
            return kb_fail(L, f->line, "bad list of brief kinds '%s'", f->value);
        memcpy(w, s, k);
        w[k] = '\0';
        int kind = guide_brief_from_name(w);
        if (kind < 0)
            return kb_fail(L, f->line, "unknown brief kind '%s'", w);
        kinds[n++] = kind;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return n;
}

/* [brief] of rules.kb: max, order (every kind once), limit per kind. */
int kb_parse_brief(loader *L, const section *s)
{
    static const char *const keys[] = {"max", "order", "limit", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    if (L->have_brief)
        return kb_fail(L, s->line, "[brief] appears twice");
    const field *mx = kb_require(L, s, "max"), *order = kb_require(L, s, "order"), *limit = kb_require(L, s, "limit");
    if (!mx || !order || !limit)
        return -1;
    long v;
    if (kb_parse_int(mx->value, 1, 20, &v) < 0)
        return kb_fail(L, mx->line, "max must be 1 to 20, not '%s'", mx->value);
    L->kb->brief_max = (int)v;
    int kinds[RELIEF_BRIEF_COUNT];
    int n = parse_kind_list(L, order, kinds, RELIEF_BRIEF_COUNT);
    if (n < 0)
        return -1;
    if (n != RELIEF_BRIEF_COUNT)
        return kb_fail(L, order->line, "order must name every brief kind once (%d named, %d kinds)", n,
                    RELIEF_BRIEF_COUNT);
    bool seen[RELIEF_BRIEF_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        if (seen[kinds[i]])
            return kb_fail(L, order->line, "brief kind '%s' is named twice", relief_brief_kind_name(kinds[i]));
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
            return kb_fail(L, limit->line, "limit must read 'KIND N, KIND N, ...', not '%s'", limit->value);
        int kind = guide_brief_from_name(w);
        if (kind < 0 || num < 0 || num > L->kb->brief_max)
            return kb_fail(L, limit->line, "bad limit '%s %d' (a brief kind and 0..max)", w, num);
        L->kb->brief_limit[kind] = num;
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return kb_fail(L, limit->line, "limit must read 'KIND N, KIND N, ...', not '%s'", limit->value);
    }
    L->have_brief = true;
    return 0;
}

/* [rule] of rules.kb. */
int kb_parse_rule(loader *L, const section *s)
{
    static const char *const keys[] = {"id", "when", "defer", "from", "note", "source", "note.es", "note.fr", "note.pt",
                                       NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = kb_require(L, s, "id"), *when = kb_require(L, s, "when"), *defer = kb_require(L, s, "defer");
    const field *from = kb_require(L, s, "from"), *note = kb_require(L, s, "note"), *source = kb_require(L, s, "source");
    if (!id || !when || !defer || !from || !note || !source)
        return -1;
    for (size_t i = 0; i < L->rules.n; i++)
        if (!strcmp(((kb_rule *)L->rules.p)[i].id, id->value))
            return kb_fail(L, id->line, "rule '%s' is defined twice", id->value);
    kb_rule *r = kb_vec_push(&L->rules);
    if (!r)
        return kb_oom(L);
    memset(r, 0, sizeof *r);
    r->id = id->value;
    r->note = note->value;
    r->source = source->value;
    r->file = L->file_kept;
    r->line = (uint32_t)s->line;
    if (kb_parse_tr(L, s, "note", note, r->note_tr, 0) < 0)
        return -1;
    if (!(r->when = kb_parse_cond(L, when)))
        return -1;
    int kinds[RELIEF_BRIEF_COUNT];
    int n = parse_kind_list(L, defer, kinds, RELIEF_BRIEF_COUNT);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        r->defer |= 1u << kinds[i];
    if (r->defer & (1u << RELIEF_BRIEF_PROTECT))
        return kb_fail(L, defer->line, "a rule may not defer 'protect' steps: moving people out of harm never waits");
    return parse_hazard_list(L, from, &r->from);
}

int kb_parse_lexicon(loader *L, const section *s)
{
    static const char *const keys[] = {"class", "words", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *c = kb_require(L, s, "class"), *w = kb_require(L, s, "words");
    if (!c || !w)
        return -1;
    int cls = lex_class_from_name(c->value);
    if (cls < 0 && !strncmp(c->value, "tag.", 4) && c->value[4]) {
        int t = kb_tag_intern(&L->kb->tags, &L->kb->mem, c->value + 4, strlen(c->value + 4));
        if (t < 0)
            return kb_fail(L, c->line, "too many tag classes (%d at most)", KB_MAX_TAGS);
        L->kb->tags.defined |= 1ull << t;
        cls = LX_COUNT + t;
    }
    if (cls < 0)
        return kb_fail(L, c->line, "unknown lexicon class '%s' (tag classes read 'tag.NAME')", c->value);
    L->have_extract = true;
    return kb_parse_phrase_list(L, w->line, w->value, cls, 1, &L->lexphrases);
}

int kb_parse_protocol_header(loader *L, const section *s, kb_protocol *p)
{
    static const char *const keys[] = {"id", "name", "applies", "name.es", "name.fr", "name.pt", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *id = kb_require(L, s, "id"), *name = kb_require(L, s, "name"), *ap = kb_require(L, s, "applies");
    if (!id || !name || !ap)
        return -1;
    p->id = id->value;
    p->name = name->value;
    p->file = L->file_kept;
    p->line = (uint32_t)s->line;
    if (kb_parse_tr(L, s, "name", name, p->name_tr, 0) < 0)
        return -1;
    return (p->applies = kb_parse_cond(L, ap)) ? 0 : -1;
}

/* ---- language files (kb/lang/CODE.kb) ---- */

/* [language]: code (must match the file name), name, function words. */
int kb_parse_language(loader *L, const section *s, const char *expect_code)
{
    static const char *const keys[] = {"code", "name", "words", "plans", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *code = kb_require(L, s, "code"), *name = kb_require(L, s, "name"), *words = kb_require(L, s, "words");
    if (!code || !name || !words)
        return -1;
    if (expect_code && strcmp(code->value, expect_code))
        return kb_fail(L, code->line, "language code '%s' does not match the file name '%s.kb'", code->value, expect_code);
    if (!known_cue_lang(code->value) || !strcmp(code->value, "any"))
        return kb_fail(L, code->line, "unknown language code '%s' (expected en, es, fr, pt, it, ht or tl)", code->value);
    relief_kb *kb = L->kb;
    for (size_t i = 0; i < kb->n_langs; i++)
        if (!strcmp(kb->langs[i].code, code->value))
            return kb_fail(L, code->line, "language '%s' is defined twice", code->value);
    if (kb->n_langs == KB_MAX_LANGS)
        return kb_fail(L, code->line, "too many languages (%d at most)", KB_MAX_LANGS);
    kb_language *lg = &kb->langs[kb->n_langs];
    size_t first = L->langwords.n;
    if (kb_parse_phrase_list(L, words->line, words->value, (int)kb->n_langs, 1, &L->langwords) < 0)
        return -1;
    for (size_t i = first; i < L->langwords.n; i++) {
        const kb_phrase *p = &((const kb_phrase *)L->langwords.p)[i];
        if (p->n_words != 1 || p->prefix[0])
            return kb_fail(L, words->line, "function words are single words without '*' ('%s')", p->display);
    }
    lg->code = code->value;
    const field *plans = kb_get(s, "plans");
    if (plans) {
        /* Plans are written in en, es, fr and pt only: their texts sit beside the English as FIELD.LANG. */
        if (strcmp(plans->value, "complete") && strcmp(plans->value, "partial"))
            return kb_fail(L, plans->line, "plans must be 'complete' or 'partial', not '%s'", plans->value);
        if (i18n_lang_index(code->value) < 0)
            return kb_fail(L, plans->line, "plans are written in en, es, fr and pt, not '%s'", code->value);
        lg->plans_complete = !strcmp(plans->value, "complete");
    }
    snprintf(L->lang, sizeof L->lang, "%s", code->value);
    lg->name = name->value;
    kb->n_langs++; /* its index is built in finish() */
    return 0;
}

/* [cues] of a language file: `hazard: ID`, then `1:`, `2:`, `3:` (weights)
 * and `not:` phrase lists in that language. */
int kb_parse_lang_cues(loader *L, const section *s)
{
    const field *hz = kb_require(L, s, "hazard");
    if (!hz)
        return -1;
    int hazard = relief_hazard_from_name(hz->value);
    if (hazard < 0)
        return kb_fail(L, hz->line, "unknown hazard id '%s'", hz->value);
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        if (!strcmp(f->key, "hazard"))
            continue;
        if (!strcmp(f->key, "not")) {
            size_t first = L->phrases.n;
            if (kb_parse_phrase_list(L, f->line, f->value, -1, 0, &L->phrases) < 0)
                return -1;
            for (size_t k = first; k < L->phrases.n; k++)
                ((kb_phrase *)L->phrases.p)[k].owner = hazard;
            continue;
        }
        if (strlen(f->key) != 1 || f->key[0] < '1' || f->key[0] > '3')
            return kb_fail(L, f->line, "a language file's cue line is 'WEIGHT: phrases' (1, 2 or 3) or 'not: phrases', not '%s:'",
                        f->key);
        size_t first = L->phrases.n;
        if (kb_parse_phrase_list(L, f->line, f->value, hazard, f->key[0] - '0', &L->phrases) < 0)
            return -1;
        set_lang(L, first, L->lang);
    }
    return 0;
}

/* [numbers] of a language file: `N: words` (value N), `mult N: words`
 * (multiplies the number before it: "hundred", "mil"), `article: words`
 * (one, but only before a multiplier: "a thousand"), `vague N: words`
 * (an unspecified count of about N: "dozens", "hundreds"). */
int kb_parse_numbers(loader *L, const section *s)
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
                return kb_fail(L, f->line, "a number line reads 'N:', 'mult N:', 'vague N:' or 'article:', not '%s:'", k);
        }
        size_t first = L->numbers.n;
        if (kb_parse_phrase_list(L, f->line, f->value, kind, 1, &L->numbers) < 0)
            return -1;
        for (size_t j = first; j < L->numbers.n; j++) {
            kb_phrase *p = &((kb_phrase *)L->numbers.p)[j];
            if (p->n_words != 1 || p->prefix[0])
                return kb_fail(L, f->line, "number words are single words without '*' ('%s')", p->display);
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
int kb_parse_lang_detect(loader *L, const section *s)
{
    static const char *const keys[] = {"negation", "nonevent", "past", NULL};
    if (kb_check_keys(L, s, keys, NULL) < 0)
        return -1;
    const field *f;
    if ((f = kb_get(s, "negation")) && kb_parse_phrase_list(L, f->line, f->value, -1, 0, &L->negation) < 0)
        return -1;
    if ((f = kb_get(s, "nonevent")) && kb_parse_phrase_list(L, f->line, f->value, -1, 0, &L->nonevent) < 0)
        return -1;
    if ((f = kb_get(s, "past")) && kb_parse_phrase_list(L, f->line, f->value, -1, 1, &L->nonevent) < 0)
        return -1;
    return 0;
}
