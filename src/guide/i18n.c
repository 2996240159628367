/*
 * i18n.c - what plans in several languages need at run time and at kb
 * load: the [strings] keys, plan language codes, the numbers of a text
 * (a translation must carry exactly those of its English original), the
 * {name} placeholders of a string, and numbers written the way each
 * language writes them.
 */
#include "guide_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define I18N_KEY(e, k) k,
static const char *const string_keys[S_COUNT] = {I18N_STRINGS(I18N_KEY)};
#undef I18N_KEY

const char *i18n_key(int s)
{
    return s >= 0 && s < S_COUNT ? string_keys[s] : "?";
}

int i18n_from_key(const char *key)
{
    for (int i = 0; i < S_COUNT; i++)
        if (!strcmp(string_keys[i], key))
            return i;
    return -1;
}

bool i18n_english_only(int s)
{
    return s == S_LANG_FALLBACK;
}

int i18n_lang_index(const char *code)
{
    if (!code)
        return -1;
    if (!strcmp(code, "en"))
        return 0;
    for (int k = 0; k < KB_TR_LANGS; k++)
        if (!strcmp(code, kb_tr_langs[k]))
            return 1 + k;
    return -1;
}

const char *i18n_lang_code(int li)
{
    return li >= 1 && li <= KB_TR_LANGS ? kb_tr_langs[li - 1] : "en";
}

const char *kb_tr(const char *en, const char *const *tr, int li)
{
    if (li >= 1 && li <= KB_TR_LANGS && tr[li - 1] && tr[li - 1] != kb_tr_refused)
        return tr[li - 1];
    return en;
}

const char *kb_str(const relief_kb *kb, int li, int s)
{
    if (s < 0 || s >= S_COUNT)
        return "";
    const char *t = li > 0 && li < I18N_LANGS ? kb->strings[li][s] : NULL;
    if (!t || t == kb_tr_refused || i18n_english_only(s))
        t = kb->strings[0][s];
    return t ? t : "";
}

const char *kb_strf(arena *a, const relief_kb *kb, int li, int s, const char *const *names, const char *const *values,
                    size_t n)
{
    strbuf b = {0};
    i18n_expand(&b, kb_str(kb, li, s), names, values, n);
    char *out = b.failed ? NULL : arena_strdup(a, b.p ? b.p : "");
    free(b.p);
    return out;
}

/* ---- the numbers of a text ---- */

typedef struct {
    bool designation;  /* kept verbatim: N95, 1:10 */
    double v;
    char *s;           /* malloc'd: the designation, or the number as listed */
} num_tok;

typedef struct {
    num_tok *t;
    size_t n, cap;
    bool failed;
} num_list;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static void add_tok(num_list *l, bool designation, double v, const char *s, size_t n)
{
    if (l->failed)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        num_tok *p = realloc(l->t, cap * sizeof *p);
        if (!p) {
            l->failed = true;
            return;
        }
        l->t = p;
        l->cap = cap;
    }
    char *copy;
    if (designation) {
        copy = malloc(n + 1);
        if (copy) {
            memcpy(copy, s, n);
            copy[n] = '\0';
        }
    } else {
        copy = malloc(32);
        if (copy)
            snprintf(copy, 32, "%.10g", v);
    }
    if (!copy) {
        l->failed = true;
        return;
    }
    l->t[l->n++] = (num_tok){designation, v, copy};
}

/* Length of a thousands separator of language li at s (n bytes left), 0
 * when there is none. */
static size_t group_sep(const char *s, size_t n, int li)
{
    if (!n)
        return 0;
    if (li == 0)
        return s[0] == ',';
    if (li == i18n_lang_index("fr")) {
        if (s[0] == ' ')
            return 1;
        if (n >= 2 && (unsigned char)s[0] == 0xC2 && (unsigned char)s[1] == 0xA0) /* no-break space */
            return 2;
        if (n >= 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0xAF)
            return 3; /* narrow no-break space */
        return 0;
    }
    return s[0] == '.';
}

/* True when the word before s[i] (one blank between) names a section of
 * a standard: standard, norma, norme, padrão (en, es, fr, pt). */
static bool after_section_word(const char *s, size_t i)
{
    static const char *const words[] = {"standard", "norma", "norme", "padrão", NULL};
    if (i < 2 || s[i - 1] != ' ')
        return false;
    size_t e = i - 1, b = e;
    while (b > 0 && s[b - 1] != ' ' && s[b - 1] != '(' && e - b < 16)
        b--;
    for (const char *const *w = words; *w; w++)
        if (strlen(*w) == e - b && !strncasecmp(s + b, *w, e - b))
            return true;
    return false;
}

/* Reads the number at s[i] (a digit) the way language li writes it; adds it
 * to l and returns the index after it. */
static size_t read_number(const char *s, size_t n, size_t i, int li, num_list *l)
{
    size_t start = i, j = i;
    while (j < n && is_digit(s[j]))
        j++;
    /* Ratios, times and the like (1:10, 24/7, 10:00) are designations. */
    if (j + 1 < n && (s[j] == ':' || s[j] == '/') && is_digit(s[j + 1])) {
        size_t k = j + 1;
        while (k < n && (is_digit(s[k]) || ((s[k] == ':' || s[k] == '/') && k + 1 < n && is_digit(s[k + 1]))))
            k++;
        add_tok(l, true, 0, s + start, k - start);
        return k;
    }
    /* A section of a standard ("standard 2.1", "norma 6.1") is a designation
     * in every language: its dot is no decimal point. */
    if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1]) && after_section_word(s, start)) {
        size_t k = j + 1;
        while (k < n && (is_digit(s[k]) || (s[k] == '.' && k + 1 < n && is_digit(s[k + 1]))))
            k++;
        char sec[40]; /* listed as "§2.1": never equal to the number 2.1 */
        int w = snprintf(sec, sizeof sec, "\xc2\xa7%.*s", (int)(k - start > 30 ? 30 : k - start), s + start);
        add_tok(l, true, 0, sec, (size_t)w);
        return k;
    }
    char buf[64];
    size_t b = 0;
    bool too_long = false;
#define PUT(c) (b + 1 < sizeof buf ? (void)(buf[b++] = (c)) : (void)(too_long = true))
    for (size_t k = start; k < j; k++)
        PUT(s[k]);
    /* Thousands groups: a separator and exactly three digits, after a
     * first group of at most three. */
    if (j - start <= 3) {
        for (;;) {
            size_t g = group_sep(s + j, n - j, li);
            if (!g || j + g + 3 > n || !is_digit(s[j + g]) || !is_digit(s[j + g + 1]) || !is_digit(s[j + g + 2]) ||
                (j + g + 3 < n && is_digit(s[j + g + 3])))
                break;
            for (size_t k = j + g; k < j + g + 3; k++)
                PUT(s[k]);
            j += g + 3;
        }
    }
    char dec = li == 0 ? '.' : ',';
    if (j + 1 < n && s[j] == dec && is_digit(s[j + 1])) {
        PUT('.');
        j++;
        while (j < n && is_digit(s[j])) {
            PUT(s[j]);
            j++;
        }
    }
#undef PUT
    buf[b] = '\0';
    if (too_long)
        add_tok(l, true, 0, s + start, j - start); /* absurdly long: compared as written */
    else
        add_tok(l, false, strtod(buf, NULL), NULL, 0);
    return j;
}

static int cmp_tok(const void *a, const void *b)
{
    const num_tok *x = a, *y = b;
    if (x->designation != y->designation)
        return x->designation - y->designation;
    if (!x->designation)
        return x->v < y->v ? -1 : x->v > y->v;
    return strcmp(x->s, y->s);
}

char *i18n_numbers(const char *text, int li)
{
    num_list l = {0};
    size_t n = strlen(text);
    for (size_t i = 0; i < n && !l.failed;) {
        char c = text[i];
        if (is_alpha(c)) {
            /* A word of letters and digits (N95, H5N1, m2) is a
             * designation; a word of letters alone carries no number. */
            size_t j = i;
            bool digit = false;
            while (j < n && (is_alpha(text[j]) || is_digit(text[j])))
                digit |= is_digit(text[j++]);
            /* An English plural of a designation ("N95s") is the designation. */
            size_t k = j;
            if (k - i >= 3 && text[k - 1] == 's' && is_digit(text[k - 2]))
                k--;
            if (digit)
                add_tok(&l, true, 0, text + i, k - i);
            i = j;
        } else if (is_digit(c)) {
            i = read_number(text, n, i, li, &l);
        } else {
            i++;
        }
    }
    strbuf b = {0};
    if (!l.failed) {
        if (l.n)
            qsort(l.t, l.n, sizeof *l.t, cmp_tok);
        strbuf_lit(&b, "[");
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                strbuf_lit(&b, ", ");
            strbuf_str(&b, l.t[i].s);
        }
        strbuf_lit(&b, "]");
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.t[i].s);
    free(l.t);
    if (l.failed) {
        free(b.p);
        return NULL;
    }
    return strbuf_finish(&b);
}

/* ---- placeholders ---- */

/* The placeholder at s ("{name}"): its name's length, 0 when s is not one. */
static size_t placeholder(const char *s)
{
    if (*s != '{')
        return 0;
    size_t k = 1;
    while ((s[k] >= 'a' && s[k] <= 'z') || s[k] == '_')
        k++;
    return s[k] == '}' && k > 1 ? k - 1 : 0;
}

/* True when every placeholder of a occurs in b. */
static bool placeholders_within(const char *a, const char *b)
{
    for (const char *p = a; *p; p++) {
        size_t k = placeholder(p);
        if (!k)
            continue;
        bool found = false;
        for (const char *q = b; *q && !found; q++)
            found = placeholder(q) == k && !memcmp(p + 1, q + 1, k);
        if (!found)
            return false;
        p += k + 1;
    }
    return true;
}

bool i18n_same_placeholders(const char *a, const char *b)
{
    return placeholders_within(a, b) && placeholders_within(b, a);
}

void i18n_expand(strbuf *b, const char *tmpl, const char *const *names, const char *const *values, size_t n)
{
    const char *p = tmpl, *run = tmpl;
    while (*p) {
        size_t k = placeholder(p);
        size_t i = n;
        if (k)
            for (i = 0; i < n; i++)
                if (strlen(names[i]) == k && !memcmp(names[i], p + 1, k))
                    break;
        if (i == n) {
            p++;
            continue;
        }
        strbuf_add(b, run, (size_t)(p - run));
        strbuf_str(b, values[i] ? values[i] : "");
        p += k + 2;
        run = p;
    }
    strbuf_add(b, run, (size_t)(p - run));
}

/* ---- numbers as each language writes them ---- */

void i18n_format_number(char *out, size_t cap, double v, int decimals, int li)
{
    if (!cap)
        return;
    if (!isfinite(v)) {
        snprintf(out, cap, "?");
        return;
    }
    bool exact = decimals < 0;
    if (exact)
        decimals = -decimals;
    if (decimals > 6 || (!exact && v == floor(v)))
        decimals = 0;
    char digits[400]; /* %.6f of the largest double fits in 320 bytes */
    snprintf(digits, sizeof digits, "%.*f", decimals, v);
    if (!exact && strchr(digits, '.')) { /* at most that many decimals: 0.600 is 0.6 */
        size_t k = strlen(digits);
        while (digits[k - 1] == '0')
            digits[--k] = '\0';
        if (digits[k - 1] == '.')
            digits[--k] = '\0';
    }
    const char *sep = li == 0 ? "," : li == i18n_lang_index("fr") ? " " : ".";
    char dec = li == 0 ? '.' : ',';
    const char *d = digits;
    size_t o = 0;
#define OUT(c) (o + 1 < cap ? (void)(out[o++] = (c)) : (void)0)
    if (*d == '-')
        OUT(*d++);
    size_t int_len = strcspn(d, ".");
    for (size_t i = 0; i < int_len; i++) {
        if (i && (int_len - i) % 3 == 0)
            for (const char *s = sep; *s; s++)
                OUT(*s);
        OUT(d[i]);
    }
    if (d[int_len] == '.') {
        OUT(dec);
        for (const char *s = d + int_len + 1; *s; s++)
            OUT(*s);
    }
#undef OUT
    out[o] = '\0';
}

/* ---- public ---- */

bool relief_kb_plan_language(const relief_kb *kb, const char *code)
{
    int li = i18n_lang_index(code);
    return li >= 0 && kb->plan_complete[li];
}

size_t relief_kb_translation_issue_count(const relief_kb *kb)
{
    return kb->n_tr_issues;
}

const char *relief_kb_translation_issue(const relief_kb *kb, size_t i)
{
    return i < kb->n_tr_issues ? kb->tr_issues[i] : NULL;
}

const char *relief_kb_string(const relief_kb *kb, const char *code, const char *key)
{
    int s = key ? i18n_from_key(key) : -1;
    if (s < 0)
        return NULL;
    int li = i18n_lang_index(code);
    return kb_str(kb, li < 0 ? 0 : li, s);
}
