/*
 * text.c - text helpers the output formats share (text.h): every string a
 * report brings in passes formats_clean before it reaches XML or HTML, so
 * that no byte sequence can make an invalid document.
 */
#include "formats/text.h"
#include "guide/guide_int.h"
#include "util/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One cleaned character of s at i (n bytes): its replacement text in out
 * (at most 4 bytes); returns the bytes consumed (>= 1). */
static size_t clean_char(const unsigned char *s, size_t n, char out[4], size_t *out_n)
{
    size_t k = utf8_seq(s, n);
    if (k == 0) {
        memcpy(out, "\xEF\xBF\xBD", 3); /* U+FFFD for each bad byte */
        *out_n = 3;
        return 1;
    }
    unsigned c = s[0];
    if (k == 1) {
        out[0] = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ? ' ' : (char)c;
        *out_n = 1;
        return 1;
    }
    if (k == 2 && c == 0xC2 && s[1] < 0xA0) { /* C1 controls U+0080..U+009F */
        out[0] = ' ';
        *out_n = 1;
        return 2;
    }
    if (k == 3 && c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF)) { /* U+FFFE, U+FFFF */
        memcpy(out, "\xEF\xBF\xBD", 3);
        *out_n = 3;
        return 3;
    }
    memcpy(out, s, k);
    *out_n = k;
    return k;
}

void formats_clean(strbuf *b, const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t start = b->n, used = 0;
    size_t safe = 0; /* bytes written at the last boundary that leaves room for "..." */
    for (size_t i = 0; i < len;) {
        char ch[4];
        size_t cn;
        i += clean_char(u + i, len - i, ch, &cn);
        if (used + cn > max) {
            /* Too long: back to the last boundary with room, then "...". */
            if (b->failed)
                return;
            if (b->p) {
                b->n = start + safe;
                b->p[b->n] = '\0';
            }
            if (max >= 3)
                strbuf_lit(b, "...");
            return;
        }
        strbuf_add(b, ch, cn);
        used += cn;
        if (max >= 3 && used <= max - 3)
            safe = used;
    }
}

void formats_html(strbuf *b, const char *s)
{
    strbuf clean = {0};
    formats_clean(&clean, s, strlen(s), (size_t)-1);
    if (clean.failed) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < clean.n; i++) {
        switch (clean.p[i]) {
        case '&': strbuf_lit(b, "&amp;"); break;
        case '<': strbuf_lit(b, "&lt;"); break;
        case '>': strbuf_lit(b, "&gt;"); break;
        case '"': strbuf_lit(b, "&quot;"); break;
        case '\'': strbuf_lit(b, "&#39;"); break;
        default: strbuf_add(b, clean.p + i, 1);
        }
    }
    free(clean.p);
}

void formats_hazard_title(strbuf *b, const relief_kb *kb, int h)
{
    const char *name = NULL;
    if (kb && h >= 0 && h < RELIEF_HZ_COUNT)
        name = kb->hazards[h].name;
    if (!name || !*name) {
        strbuf_str(b, relief_hazard_name(h));
        return;
    }
    const char *paren = strstr(name, " (");
    size_t n = paren ? (size_t)(paren - name) : strlen(name);
    formats_clean(b, name, n, 200);
}

void formats_amount(strbuf *b, double v)
{
    if (!isfinite(v)) {
        strbuf_lit(b, "?");
        return;
    }
    if (v >= 100 || v == floor(v)) {
        char digits[64];
        int n = snprintf(digits, sizeof digits, "%.0f", fabs(v) < 1e15 ? v : 0);
        if (n <= 0 || (size_t)n >= sizeof digits)
            return;
        size_t start = digits[0] == '-';
        strbuf_add(b, digits, start);
        for (size_t i = start; i < (size_t)n; i++) {
            if (i > start && ((size_t)n - i) % 3 == 0)
                strbuf_lit(b, ",");
            strbuf_add(b, digits + i, 1);
        }
    } else {
        strbuf_printf(b, "%.1f", v);
    }
}

void formats_duration(strbuf *b, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    if (s < 3600)
        strbuf_printf(b, "%.0f min", ceil(s / 60));
    else if (s < 172800)
        strbuf_printf(b, "%.1f h", s / 3600);
    else
        strbuf_printf(b, "%.1f days", s / 86400);
}

void formats_span(strbuf *b, const relief_plan *p, relief_span sp, size_t max)
{
    if (sp.end > p->report_len || sp.start >= sp.end)
        return;
    formats_clean(b, p->report + sp.start, sp.end - sp.start, max);
}

/* "Time available: 2.0 h. People affected: 3,000. ..." - the facts a
 * reader of the alert needs, each with the number the report gave. */
void formats_facts(strbuf *b, const relief_plan *p)
{
    const relief_facts *f = &p->facts;
    if (f->time_s.known) {
        strbuf_lit(b, "Time available: ");
        formats_duration(b, f->time_s.value);
        strbuf_lit(b, ". ");
    }
    const struct { const char *label; const relief_quantity *q; } qs[] = {
        {"People affected", &f->people}, {"Dead", &f->dead}, {"Injured", &f->injured},
        {"Missing", &f->missing}, {"Trapped", &f->trapped}};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        if (qs[i].q->known) {
            strbuf_printf(b, "%s: ", qs[i].label);
            formats_amount(b, qs[i].q->value);
            strbuf_lit(b, ". ");
        } else if (qs[i].q->mentioned) {
            strbuf_printf(b, "%s: reported, number unknown. ", qs[i].label);
        }
    }
    const char *sep = "Vulnerable groups: ";
    for (int g = 0; g < RELIEF_VG_COUNT; g++)
        if (f->vulnerable[g].present) {
            strbuf_printf(b, "%s%s", sep, relief_vulnerable_name(g));
            sep = ", ";
        }
    if (strcmp(sep, "Vulnerable groups: "))
        strbuf_lit(b, ". ");
    sep = "Infrastructure affected: ";
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        if (f->infra[s].present) {
            strbuf_printf(b, "%s%s", sep, relief_infra_name(s));
            sep = ", ";
        }
    if (strcmp(sep, "Infrastructure affected: "))
        strbuf_lit(b, ". ");
    while (b->n && b->p[b->n - 1] == ' ')
        b->p[--b->n] = '\0';
}

void formats_agency(strbuf *b, const char *source, size_t max)
{
    if (!source)
        return;
    size_t n = strcspn(source, ",;");
    const char *paren = strstr(source, " (");
    if (paren && (size_t)(paren - source) < n)
        n = (size_t)(paren - source);
    formats_clean(b, source, n, max);
}
