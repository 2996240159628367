/* utf8.h - the one UTF-8 validator and cutter. */
#ifndef RELIEF_UTIL_UTF8_H
#define RELIEF_UTIL_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (n bytes available), or 0
 * when the bytes there are not one: overlong forms, surrogates, values
 * past U+10FFFF, truncated or stray continuation bytes are invalid. */
size_t utf8_seq(const unsigned char *s, size_t n);

/* Bytes of the longest prefix of s (len bytes) of at most max bytes that
 * ends on a character boundary (never inside a sequence). */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
