/* strbuf.c - the one growable string: appends, printf, JSON strings. */
#include "strbuf.h"
#include "utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

bool strbuf_reserve(strbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SIZE_MAX / 4 - b->n) {
        b->failed = true;
        return false;
    }
    if (b->n + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        b->failed = true;
    else if (strbuf_reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
        b->n += (size_t)n;
    }
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void strbuf_json_str(strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    strbuf_lit(b, "\"");
    size_t run = 0; /* bytes [i - run, i) are copied as they are */
    size_t i = 0;
    while (i < n) {
        /* Eight plain bytes at a time: none below 0x20, '"', '\\', DEL or
         * non-ASCII among them (SWAR tests on a 64-bit word). */
        if (i + 8 <= n) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
            uint64_t q = x ^ (ones * '"'), k = x ^ (ones * '\\'), d = x ^ (ones * 0x7f);
            uint64_t special = ((x - ones * 0x20) | ((q - ones) & ~q) | ((k - ones) & ~k) | ((d - ones) & ~d) | x) &
                               highs;
            if (!special) {
                run += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            run++;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)s + i, n - i);
            if (k) {
                run += k;
                i += k;
                continue;
            }
        }
        strbuf_add(b, s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"': strbuf_lit(b, "\\\""); break;
        case '\\': strbuf_lit(b, "\\\\"); break;
        case '\n': strbuf_lit(b, "\\n"); break;
        case '\t': strbuf_lit(b, "\\t"); break;
        case '\r': strbuf_lit(b, "\\r"); break;
        default:
            if (c >= 0x80) {
                strbuf_lit(b, "\\ufffd"); /* an invalid UTF-8 byte */
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                strbuf_add(b, esc, 6);
            }
        }
        i++;
    }
    strbuf_add(b, s + i - run, run);
    strbuf_lit(b, "\"");
}

void strbuf_json_cstr(strbuf *b, const char *s)
{
    if (s)
        strbuf_json_str(b, s, strlen(s));
    else
        strbuf_lit(b, "null");
}

void strbuf_num(strbuf *b, double v, int prec)
{
    if (isfinite(v))
        strbuf_printf(b, "%.*f", prec, v);
    else
        strbuf_lit(b, "null");
}

char *strbuf_finish(strbuf *b)
{
    if (b->failed) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    return b->p ? b->p : calloc(1, 1);
}
