/* strbuf.h - the one growable string: appends, printf, JSON strings. */
#ifndef RELIEF_UTIL_STRBUF_H
#define RELIEF_UTIL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A growable NUL-terminated string. Zero-initialise it. Every append is a
 * no-op once an allocation failed (the error flag sticks); the owner checks
 * `failed` once at the end, and frees p either way (or calls
 * strbuf_finish). */
typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} strbuf;

/* Makes room for extra more bytes and a NUL. Returns false (and sets
 * failed) when memory runs out or the size would overflow. */
bool strbuf_reserve(strbuf *b, size_t extra);

/* Appends n bytes of s (any bytes). Inline: JSON output calls it thousands
 * of times per plan. */
static inline void strbuf_add(strbuf *b, const char *s, size_t n)
{
    if (b->failed || (b->n + n + 1 > b->cap && !strbuf_reserve(b, n)))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* A string literal, its length known at compile time. */
#define strbuf_lit(b, lit) strbuf_add((b), "" lit, sizeof(lit) - 1)

static inline void strbuf_str(strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Appends s (len bytes, any bytes) as a quoted JSON string: control
 * characters and DEL escaped, invalid UTF-8 as \ufffd one per bad byte. */
void strbuf_json_str(strbuf *b, const char *s, size_t len);
/* A C string as a JSON string, or null for NULL. */
void strbuf_json_cstr(strbuf *b, const char *s);
/* A number with prec decimals, or null when not finite. */
void strbuf_num(strbuf *b, double v, int prec);

/* Hands over the string (malloc'd; "" when nothing was added), or NULL
 * when an allocation failed (the buffer is then freed). */
char *strbuf_finish(strbuf *b);

#endif
