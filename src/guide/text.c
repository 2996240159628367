/*
 * text.c - tokeniser and case/accent folding for report text; see text.h.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int push_norm(token_list *l, const char *s, size_t n)
{
    if (l->norm_len + n + 1 > l->norm_cap) {
        size_t cap = l->norm_cap ? l->norm_cap : 256;
        while (cap < l->norm_len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        char *p = realloc(l->norm, cap);
        if (!p)
            return -1;
        l->norm = p;
        l->norm_cap = cap;
    }
    memcpy(l->norm + l->norm_len, s, n);
    l->norm_len += n;
    l->norm[l->norm_len] = '\0';
    return 0;
}

static token *push_token(token_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(token))
            return NULL;
        token *p = realloc(l->tok, cap * sizeof(token));
        if (!p)
            return NULL;
        l->tok = p;
        l->cap = cap;
    }
    token *t = &l->tok[l->n++];
    memset(t, 0, sizeof *t);
    return t;
}

void token_list_free(token_list *l)
{
    free(l->tok);
    free(l->norm);
    memset(l, 0, sizeof *l);
}

typedef enum { CC_OTHER, CC_LETTER, CC_MARK, CC_DIGIT, CC_SPACE } char_class;

static char_class classify(utf8proc_int32_t cp)
{
    if (cp < 128) {
        if ((cp | 32) >= 'a' && (cp | 32) <= 'z')
            return CC_LETTER;
        if (cp >= '0' && cp <= '9')
            return CC_DIGIT;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v')
            return CC_SPACE;
        return CC_OTHER;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CC_LETTER;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return CC_MARK;
    case UTF8PROC_CATEGORY_ND:
        return CC_DIGIT;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CC_SPACE;
    default:
        return CC_OTHER;
    }
}

/* Decodes one code point at s[i]; invalid bytes decode as -1, length 1. */
static size_t decode(const char *s, size_t len, size_t i, utf8proc_int32_t *cp)
{
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(len - i > 8 ? 8 : len - i), cp);
    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    return (size_t)n;
}

/* Appends the folded form of one letter/mark code point to out. */
static int fold_cp(utf8proc_int32_t cp, char *out, size_t *n, size_t cap)
{
    if (cp < 128) {
        if (*n + 1 > cap)
            return -1;
        out[(*n)++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        return 0;
    }
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char(
        cp, buf, 8, UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_COMPAT, &last);
    if (k < 0 || k > 8)
        return 0; /* unfoldable: drop it */
    for (utf8proc_ssize_t j = 0; j < k; j++) {
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t m = utf8proc_encode_char(buf[j], enc);
        if (*n + (size_t)m > cap)
            return -1;
        memcpy(out + *n, enc, (size_t)m);
        *n += (size_t)m;
    }
    return 0;
}

size_t text_fold_word(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        i += decode(s, len, i, &cp);
        if (cp >= 0 && fold_cp(cp, buf, &n, cap - 1) < 0)
            break;
    }
    buf[n] = '\0';
    return n;
}

static bool is_apostrophe(utf8proc_int32_t cp)
{
    return cp == '\'' || cp == 0x2019;
}

static bool ends_sentence(utf8proc_int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == ';' || cp == '\n';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* True when s[i..] is exactly three digits followed by a non-digit. */
static bool three_digits_at(const char *s, size_t len, size_t i)
{
    return i + 3 <= len && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
           (i + 3 == len || !is_digit(s[i + 3]));
}

/* Parses the digits of a number token starting at s[i]; returns its end.
 * Thousands are grouped as people write them: "15,000", "15.000" and
 * "15 000" (a space, no-break space or narrow no-break space), one kind of
 * separator per number, each followed by exactly three digits, after at
 * most three leading digits. Otherwise a dot followed by digits is a
 * decimal point ("2.5"), and so is a comma followed by one or two digits
 * ("1,4 millones"). */
static size_t scan_number(const char *s, size_t len, size_t i, double *value, char *digits, size_t *dn, size_t dcap)
{
    double v = 0, scale = 0;
    size_t n = 0, lead = 0;
    char group = '\0'; /* the separator this number groups thousands with */
    while (i < len) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (scale > 0) {
                v += (c - '0') * scale;
                scale /= 10;
            } else {
                v = v * 10 + (c - '0');
                if (!group)
                    lead++;
            }
            if (n + 1 < dcap)
                digits[n++] = c;
            i++;
            continue;
        }
        size_t w = 0; /* width of a separator at i */
        char kind = '\0';
        if (c == ',' || c == '.' || c == ' ') {
            w = 1;
            kind = c;
        } else if ((unsigned char)c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] == 0xA0) {
            w = 2; /* U+00A0 */
            kind = ' ';
        } else if ((unsigned char)c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                   (unsigned char)s[i + 2] == 0xAF) {
            w = 3; /* U+202F */
            kind = ' ';
        }
        if (w && scale == 0 && (group ? group == kind : lead <= 3) && three_digits_at(s, len, i + w)) {
            group = kind;
            i += w; /* thousands separator */
        } else if (c == ',' && scale == 0 && !group && i + 1 < len && is_digit(s[i + 1]) &&
                   (i + 2 >= len || !is_digit(s[i + 2]) || i + 3 >= len || !is_digit(s[i + 3]))) {
            /* "1,4 millones", "2,5 m": a comma before one or two digits is a decimal comma */
            scale = 0.1;
            if (n + 1 < dcap)
                digits[n++] = '.';
            i++;
        } else if (c == '.' && scale == 0 && group != '.' && i + 1 < len && is_digit(s[i + 1])) {
            scale = 0.1;
            if (n + 1 < dcap)
                digits[n++] = '.';
            i++;
        } else {
            break;
        }
    }
    digits[n] = '\0';
    *dn = n;
    *value = v;
    return i;
}

int text_tokenize(const char *s, size_t len, token_list *out)
{
    uint32_t sentence = 0;
    size_t prev_end = 0;
    bool have_prev = false;
    char sep = '\0';
    bool pending_hash = false;
    char word[256];

    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        size_t n = decode(s, len, i, &cp);
        char_class cc = cp < 0 ? CC_OTHER : classify(cp);
        if (cc == CC_DIGIT && cp < 128) {
            char digits[64];
            size_t dn;
            double v;
            size_t end = scan_number(s, len, i, &v, digits, &dn, sizeof digits);
            token *t = push_token(out);
            if (!t)
                return -1;
            t->kind = TOK_NUMBER;
            t->start = i;
            t->end = end;
            t->num = v;
            t->sentence = sentence;
            t->glued = have_prev && prev_end == i;
            t->sep = sep;
            t->norm = out->norm_len;
            t->norm_len = (uint32_t)dn;
            if (push_norm(out, digits, dn + 1) < 0)
                return -1;
            prev_end = end;
            have_prev = true;
            sep = '\0';
            pending_hash = false;
            i = end;
            continue;
        }
        if (cc == CC_LETTER || cc == CC_MARK) {
            size_t start = i, wn = 0;
            bool capital = cp < 128 ? (cp >= 'A' && cp <= 'Z')
                                    : utf8proc_category(cp) == UTF8PROC_CATEGORY_LU;
            while (i < len) {
                utf8proc_int32_t c2;
                size_t m = decode(s, len, i, &c2);
                char_class k = c2 < 0 ? CC_OTHER : classify(c2);
                if (k != CC_LETTER && k != CC_MARK)
                    break;
                if (fold_cp(c2, word, &wn, sizeof word - 1) < 0) {
                    /* Over-long word: keep the prefix, skip the rest. */
                }
                i += m;
            }
            word[wn] = '\0';
            token *t = push_token(out);
            if (!t)
                return -1;
            t->kind = TOK_WORD;
            t->start = start;
            t->end = i;
            t->sentence = sentence;
            t->hashtag = pending_hash;
            t->glued = have_prev && prev_end == start;
            t->capital = capital;
            t->sep = sep;
            t->norm = out->norm_len;
            t->norm_len = (uint32_t)wn;
            if (push_norm(out, word, wn + 1) < 0)
                return -1;
            prev_end = i;
            have_prev = true;
            sep = '\0';
            pending_hash = false;
            continue;
        }
        /* Separator. */
        if (cp == '@' && i + 1 < len && (((s[i + 1] | 32) >= 'a' && (s[i + 1] | 32) <= 'z') || s[i + 1] == '_')) {
            /* "@nababaha", "@FloodWatchNews": a user name says who is
             * addressed, not what happened; its letters are no cue, number
             * or place. Skipped whole (names are ASCII letters, digits and
             * '_'), so are the domains of e-mail addresses. */
            i++;
            while (i < len && (((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') || is_digit(s[i]) || s[i] == '_'))
                i++;
            sep = '@';
            pending_hash = false;
            continue;
        }
        if (cc != CC_SPACE) {
            if (cp == '#')
                pending_hash = true;
            else
                pending_hash = false;
            if (cp >= 0 && cp < 128)
                sep = (char)cp;
            else if (is_apostrophe(cp))
                sep = '\'';
            else
                sep = '?';
            if (cp >= 0 && ends_sentence(cp) &&
                !(cp == '.' && i + 1 < len && s[i + 1] != ' ' && s[i + 1] != '\n'))
                sentence++;
        } else {
            if (cp == '\n')
                sentence++;
            pending_hash = false;
        }
        i += n;
    }
    return 0;
}
