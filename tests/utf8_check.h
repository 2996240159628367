/*
 * utf8_check.h - strict UTF-8 validity check (no overlongs, no surrogates,
 * nothing above U+10FFFF, no truncated sequence at the end), written apart
 * from the engine so tests and fuzz targets check its output independently.
 */
#ifndef RELIEF_UTF8_CHECK_H
#define RELIEF_UTF8_CHECK_H

#include <stdbool.h>
#include <stddef.h>

static inline bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t l;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80)
            l = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            l = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            l = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            l = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else
            return false;
        if (l > n - i)
            return false;
        for (size_t k = 1; k < l; k++) {
            if (s[i + k] < lo || s[i + k] > hi)
                return false;
            lo = 0x80;
            hi = 0xBF;
        }
        i += l;
    }
    return true;
}

#endif
