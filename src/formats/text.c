/*
 * text.c - text helpers the output formats share (text.h): every string a
 * report brings in passes formats_clean before it reaches XML or HTML, so
 * that no byte sequence can make an invalid document.
 */
#include "formats/text.h"
#include "guide/guide_int.h"
#include "guide/i18n.h"
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

void formats_hazard_title(strbuf *b, const relief_kb *kb, int h, const char *lang)
{
    const char *name = NULL;
    int li = i18n_lang_index(lang);
    if (kb && h >= 0 && h < RELIEF_HZ_COUNT) {
        name = kb->hazards[h].name;
        if (li >= 1 && li <= KB_TR_LANGS && kb->hazards[h].name_tr[li - 1])
            name = kb->hazards[h].name_tr[li - 1];
    }
    if (!name || !*name) {
        strbuf_str(b, relief_hazard_name(h));
        return;
    }
    const char *paren = strstr(name, " (");
    size_t n = paren ? (size_t)(paren - name) : strlen(name);
    formats_clean(b, name, n, 200);
}

/* A [strings] text of language lang, "" when the kb has no such key. */
static const char *str(const relief_kb *kb, const char *lang, const char *key)
{
    const char *t = kb ? relief_kb_string(kb, lang, key) : NULL;
    return t ? t : "";
}

void formats_amount(strbuf *b, double v, const char *lang)
{
    char out[64];
    int li = i18n_lang_index(lang);
    i18n_format_number(out, sizeof out, v, v >= 100 || v == floor(v) ? 0 : 1, li < 0 ? 0 : li);
    strbuf_str(b, out);
}

void formats_duration(strbuf *b, const relief_kb *kb, double s, const char *lang)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    char n[64];
    int li = i18n_lang_index(lang);
    li = li < 0 ? 0 : li;
    const char *key;
    if (s < 3600) {
        i18n_format_number(n, sizeof n, ceil(s / 60), 0, li);
        key = "duration.min";
    } else if (s < 172800) {
        i18n_format_number(n, sizeof n, s / 3600, -1, li);
        key = "duration.h";
    } else {
        i18n_format_number(n, sizeof n, s / 86400, -1, li);
        key = "duration.days";
    }
    const char *names[] = {"n"}, *values[] = {n};
    const char *tmpl = str(kb, lang, key);
    if (*tmpl)
        i18n_expand(b, tmpl, names, values, 1);
    else
        strbuf_printf(b, "%s %s", n, key + 9);
}

void formats_span(strbuf *b, const relief_plan *p, relief_span sp, size_t max)
{
    if (sp.end > p->report_len || sp.start >= sp.end)
        return;
    formats_clean(b, p->report + sp.start, sp.end - sp.start, max);
}

/* "Time available: 2.0 h. People affected: 3,000. ..." - the facts a
 * reader of the alert needs, each with the number the report gave, in the
 * words of the kb's [strings] for lang. */
void formats_facts(strbuf *b, const relief_kb *kb, const relief_plan *p, const char *lang)
{
    const relief_facts *f = &p->facts;
    if (f->time_s.known) {
        strbuf_printf(b, "%s: ", str(kb, lang, "fact.time"));
        formats_duration(b, kb, f->time_s.value, lang);
        strbuf_lit(b, ". ");
    }
    const struct { const char *key; const relief_quantity *q; } qs[] = {
        {"fact.people", &f->people}, {"fact.dead", &f->dead}, {"fact.injured", &f->injured},
        {"fact.missing", &f->missing}, {"fact.trapped", &f->trapped}};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        if (qs[i].q->known) {
            strbuf_printf(b, "%s: ", str(kb, lang, qs[i].key));
            formats_amount(b, qs[i].q->value, lang);
            strbuf_lit(b, ". ");
        } else if (qs[i].q->mentioned) {
            strbuf_printf(b, "%s: %s. ", str(kb, lang, qs[i].key), str(kb, lang, "fact.unknown"));
        }
    }
    const char *sep = NULL;
    char key[64];
    for (int g = 0; g < RELIEF_VG_COUNT; g++)
        if (f->vulnerable[g].present) {
            if (!sep)
                strbuf_printf(b, "%s: ", str(kb, lang, "fact.vulnerable"));
            snprintf(key, sizeof key, "group.%s", relief_vulnerable_name(g));
            strbuf_printf(b, "%s%s", sep ? sep : "", str(kb, lang, key));
            sep = ", ";
        }
    if (sep)
        strbuf_lit(b, ". ");
    sep = NULL;
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        if (f->infra[s].present) {
            if (!sep)
                strbuf_printf(b, "%s: ", str(kb, lang, "fact.infrastructure"));
            snprintf(key, sizeof key, "infra.%s", relief_infra_name(s));
            strbuf_printf(b, "%s%s", sep ? sep : "", str(kb, lang, key));
            sep = ", ";
        }
    if (sep)
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
