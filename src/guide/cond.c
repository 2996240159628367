/*
 * cond.c - the small condition language of kb steps ("trapped and time < 1h");
 * grammar in docs/kb-format.md. Parsed once at kb load, evaluated per plan.
 */
#include "guide_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    arena *a;
    kb_tags *tags;
    const char *s;
    size_t pos;
    char *err;
    size_t cap;
    int failed;
    int depth;
} cparser;

static void cp_skip(cparser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

/* Reads the next word: an identifier (letters, digits, '_', '.'), an
 * operator, or a parenthesis. Returns its length (0 at end). */
static size_t cp_peek(cparser *p, const char **w)
{
    cp_skip(p);
    const char *s = p->s + p->pos;
    *w = s;
    if (!*s)
        return 0;
    if (*s == '(' || *s == ')')
        return 1;
    if (*s == '<' || *s == '>' || *s == '=')
        return s[1] == '=' ? 2 : 1;
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.')
        n++;
    return n ? n : 1;
}

static bool cp_accept(cparser *p, const char *word)
{
    const char *w;
    size_t n = cp_peek(p, &w);
    if (n == strlen(word) && strncmp(w, word, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static void cp_error(cparser *p, const char *msg, const char *w, size_t n)
{
    if (!p->failed)
        snprintf(p->err, p->cap, "%s '%.*s' in condition", msg, (int)(n > 40 ? 40 : n), w);
    p->failed = 1;
}

static cond *cp_node(cparser *p, cond_kind k)
{
    cond *c = arena_alloc(p->a, sizeof *c);
    if (!c) {
        if (!p->failed)
            snprintf(p->err, p->cap, "out of memory");
        p->failed = 1;
    } else {
        c->kind = k;
    }
    return c;
}


int kb_tag_intern(kb_tags *t, arena *a, const char *name, size_t n)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (strlen(t->names[i]) == n && !strncmp(t->names[i], name, n))
            return (int)i;
    if (t->n == KB_MAX_TAGS)
        return -1;
    char *copy = arena_strndup(a, name, n);
    if (!copy)
        return -1;
    t->names[t->n] = copy;
    return (int)t->n++;
}

static int fact_lookup(cparser *p, const char *w, size_t n)
{
    static const struct { const char *name; int fact; } simple[] = {
        {"time", F_TIME}, {"people", F_PEOPLE}, {"days", F_DAYS}, {"injured", F_INJURED},
        {"dead", F_DEAD}, {"missing", F_MISSING}, {"trapped", F_TRAPPED},
        {"coastal", F_COASTAL}, {"night", F_NIGHT}, {"trauma", F_TRAUMA},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strlen(simple[i].name) == n && !strncmp(simple[i].name, w, n))
            return simple[i].fact;
    for (int i = 0; i < RELIEF_VG_COUNT; i++)
        if (strlen(relief_vulnerable_name(i)) == n && !strncmp(relief_vulnerable_name(i), w, n))
            return F_VG_FIRST + i;
    for (int i = 0; i < RELIEF_INFRA_COUNT; i++)
        if (strlen(relief_infra_name(i)) == n && !strncmp(relief_infra_name(i), w, n))
            return F_INFRA_FIRST + i;
    if (n > 7 && !strncmp(w, "hazard.", 7)) {
        char name[64];
        if (n - 7 < sizeof name) {
            memcpy(name, w + 7, n - 7);
            name[n - 7] = '\0';
            int h = relief_hazard_from_name(name);
            if (h >= 0)
                return F_HAZARD_FIRST + h;
        }
    }
    if (n > 4 && !strncmp(w, "tag.", 4) && p->tags) {
        int t = kb_tag_intern(p->tags, p->a, w + 4, n - 4);
        if (t < 0)
            return -2;
        p->tags->used |= 1ull << t;
        return F_TAG_FIRST + t;
    }
    return -1;
}

static cond *cp_or(cparser *p);

static bool parse_value(cparser *p, int fact, double *out)
{
    cp_skip(p);
    const char *s = p->s + p->pos;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || *s == '-' || *s == '+' || (s[0] == '0' && (s[1] | 32) == 'x')) {
        const char *w;
        size_t n = cp_peek(p, &w);
        cp_error(p, "expected a number, found", w, n);
        return false;
    }
    size_t ulen = 0;
    while (isalpha((unsigned char)end[ulen]))
        ulen++;
    double mult = 1;
    if (ulen) {
        if (fact != F_TIME) {
            cp_error(p, "units are only allowed on time:", end, ulen);
            return false;
        }
        if (ulen == 1 && *end == 's') mult = 1;
        else if ((ulen == 3 && !strncmp(end, "min", 3)) || (ulen == 1 && *end == 'm')) mult = 60;
        else if (ulen == 1 && *end == 'h') mult = 3600;
        else if (ulen == 1 && *end == 'd') mult = 86400;
        else {
            cp_error(p, "unknown time unit", end, ulen);
            return false;
        }
    }
    p->pos = (size_t)(end + ulen - p->s);
    *out = v * mult;
    return true;
}

static cond *cp_term(cparser *p)
{
    if (++p->depth > 64) {
        cp_error(p, "condition nested too deeply at", p->s + p->pos, 1);
        return NULL;
    }
    cond *r = NULL;
    if (cp_accept(p, "not")) {
        cond *inner = cp_term(p);
        if (inner && (r = cp_node(p, C_NOT)))
            r->a = inner;
    } else if (cp_accept(p, "(")) {
        r = cp_or(p);
        if (r && !cp_accept(p, ")")) {
            const char *w;
            size_t n = cp_peek(p, &w);
            cp_error(p, "expected ')' before", w, n ? n : 3);
            r = NULL;
        }
    } else {
        const char *w;
        size_t n = cp_peek(p, &w);
        int fact = n ? fact_lookup(p, w, n) : -1;
        if (fact == -2) {
            cp_error(p, "too many tags (64 at most) or out of memory at", w, n);
        } else if (fact < 0) {
            cp_error(p, n ? "unknown fact" : "missing fact at end", n ? w : "", n);
        } else {
            p->pos += n;
            static const struct { const char *s; cond_op op; } ops[] = {
                {"<=", OP_LE}, {">=", OP_GE}, {"==", OP_EQ}, {"<", OP_LT}, {">", OP_GT}};
            size_t k;
            for (k = 0; k < 5; k++)
                if (cp_accept(p, ops[k].s))
                    break;
            if (k == 5) {
                r = cp_node(p, C_FACT);
                if (r)
                    r->fact = fact;
            } else {
                double v;
                if (fact > F_TRAPPED) {
                    cp_error(p, "this fact cannot be compared:", w, n);
                } else if (parse_value(p, fact, &v) && (r = cp_node(p, C_CMP))) {
                    r->fact = fact;
                    r->op = ops[k].op;
                    r->value = v;
                }
            }
        }
    }
    p->depth--;
    return p->failed ? NULL : r;
}

static cond *cp_and(cparser *p)
{
    cond *l = cp_term(p);
    while (l && cp_accept(p, "and")) {
        cond *r = cp_term(p);
        cond *n = r ? cp_node(p, C_AND) : NULL;
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static cond *cp_or(cparser *p)
{
    cond *l = cp_and(p);
    while (l && cp_accept(p, "or")) {
        cond *r = cp_and(p);
        cond *n = r ? cp_node(p, C_OR) : NULL;
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

cond *cond_parse(arena *a, const char *text, kb_tags *tags, char *err, size_t cap)
{
    cparser p = {a, tags, text, 0, err, cap, 0, 0};
    if (!strcmp(text, "always"))
        return cp_node(&p, C_TRUE);
    cond *c = cp_or(&p);
    if (c) {
        const char *w;
        size_t n = cp_peek(&p, &w);
        if (n) {
            cp_error(&p, "unexpected", w, n);
            return NULL;
        }
    }
    return c;
}

/* Returns the numeric value of a fact, or NAN when unknown. */
static double fact_value(int fact, const cond_env *env)
{
    const relief_facts *f = env->facts;
    const relief_quantity *q = NULL;
    switch (fact) {
    case F_TIME: q = &f->time_s; break;
    case F_PEOPLE: q = &f->people; break;
    case F_DAYS: return env->days;
    case F_INJURED: q = &f->injured; break;
    case F_DEAD: q = &f->dead; break;
    case F_MISSING: q = &f->missing; break;
    case F_TRAPPED: q = &f->trapped; break;
    default: return NAN;
    }
    return q->known ? q->value : NAN;
}

static bool fact_present(int fact, const cond_env *env)
{
    const relief_facts *f = env->facts;
    if (fact >= F_TAG_FIRST)
        return (env->tags >> (fact - F_TAG_FIRST)) & 1u;
    if (fact == F_TRAUMA)
        return env->trauma;
    if (fact >= F_HAZARD_FIRST)
        return (env->hazards >> (fact - F_HAZARD_FIRST)) & 1u;
    if (fact == F_COASTAL)
        return f->coastal.present;
    if (fact == F_NIGHT)
        return f->night.present;
    if (fact >= F_INFRA_FIRST)
        return f->infra[fact - F_INFRA_FIRST].present;
    if (fact >= F_VG_FIRST)
        return f->vulnerable[fact - F_VG_FIRST].present;
    if (fact == F_TIME)
        return f->time_s.known;
    if (fact == F_DAYS)
        return env->days > 0;
    const relief_quantity *q = fact == F_PEOPLE ? &f->people : fact == F_INJURED ? &f->injured
                             : fact == F_DEAD ? &f->dead : fact == F_MISSING ? &f->missing
                             : &f->trapped;
    return q->mentioned || (q->known && q->value > 0);
}

bool cond_eval(const cond *c, const cond_env *env)
{
    if (!c)
        return true;
    switch (c->kind) {
    case C_TRUE: return true;
    case C_FACT: return fact_present(c->fact, env);
    case C_NOT: return !cond_eval(c->a, env);
    case C_AND: return cond_eval(c->a, env) && cond_eval(c->b, env);
    case C_OR: return cond_eval(c->a, env) || cond_eval(c->b, env);
    case C_CMP: {
        double v = fact_value(c->fact, env);
        if (isnan(v))
            return false;
        switch (c->op) {
        case OP_LT: return v < c->value;
        case OP_LE: return v <= c->value;
        case OP_GT: return v > c->value;
        case OP_GE: return v >= c->value;
        case OP_EQ: return v == c->value;
        }
        return false;
    }
    }
    return false;
}
