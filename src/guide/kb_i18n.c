/*
 * kb_i18n.c - the translations of a knowledge base (docs/kb-format.md,
 * "Translations"): FIELD.LANG keys beside the English text, [strings] in
 * kb/lang/CODE.kb, and the checks kb-check reports: a translation carries
 * exactly the numbers of its English original, a translated string the
 * same {name} placeholders, and a language declared `plans: complete`
 * lacks no translation. Findings never stop a load (translators work on a
 * live kb): a refused translation is not shown, the English is, and
 * `relief kb-check` lists every finding and fails.
 */
#include "kb_load.h"

const char kb_tr_refused[] = "";

#define MAX_ISSUES 100000 /* findings kept; a hostile kb cannot grow the list without bound */

void kb_tr_issue(loader *L, const char *file, size_t line, const char *fmt, ...)
{
    if (L->tr_issues.n >= MAX_ISSUES)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char **slot = kb_vec_push(&L->tr_issues);
    char *text = line ? arena_printf(&L->kb->mem, "%s:%zu: %s", file, line, msg)
                      : arena_printf(&L->kb->mem, "%s: %s", file, msg);
    if (!slot || !text) {
        if (slot)
            L->tr_issues.n--;
        L->tr_oom = true;
        return;
    }
    *slot = text;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        n += (*c & 0xC0) != 0x80;
    return n;
}

/* Compares the numbers of a translation (language li) with its English
 * original; records a finding naming both lists when they differ. Returns
 * 1 when they match, 0 when not, -1 when memory runs out. */
static int check_numbers(loader *L, const char *file, size_t line, const char *what, const char *en, const char *tr,
                         int li)
{
    char *a = i18n_numbers(en, 0), *b = i18n_numbers(tr, li);
    int rc = -1;
    if (a && b) {
        rc = !strcmp(a, b);
        if (!rc)
            kb_tr_issue(L, file, line, "%s has the numbers %s, the English has %s", what, b, a);
    }
    free(a);
    free(b);
    if (rc < 0)
        L->tr_oom = true;
    return rc;
}

int kb_parse_tr(loader *L, const section *s, const char *key, const field *en, const char **out, size_t max_chars)
{
    for (int k = 0; k < KB_TR_LANGS; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", key, kb_tr_langs[k]);
        const field *f = kb_get(s, name);
        if (!f)
            continue;
        if (!en)
            return kb_fail(L, f->line, "'%s' translates '%s:', which this section does not have", name, key);
        size_t chars = utf8_chars(f->value);
        if (max_chars && chars > max_chars)
            return kb_fail(L, f->line, "%s is %zu characters; at most %zu", name, chars, max_chars);
        out[k] = f->value;
        if (check_numbers(L, L->file_kept, f->line, name, en->value, f->value, 1 + k) == 0)
            out[k] = kb_tr_refused;
    }
    return 0;
}

int kb_parse_secondary_tr(loader *L, const section *s, vec *secondary)
{
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        if (strncmp(f->key, "secondary.", 10))
            continue;
        int li = i18n_lang_index(f->key + 10);
        if (li < 1)
            return kb_fail(L, f->line, "unknown key '%s' in [%s]", f->key, s->name);
        const char *bar = strchr(f->value, '|');
        if (!bar)
            return kb_fail(L, f->line, "%s must read 'HAZARD | NOTE'", f->key);
        size_t n = (size_t)(bar - f->value);
        while (n && f->value[n - 1] == ' ')
            n--;
        char id[64];
        if (n == 0 || n >= sizeof id)
            return kb_fail(L, f->line, "%s must read 'HAZARD | NOTE'", f->key);
        memcpy(id, f->value, n);
        id[n] = '\0';
        const char *note = bar + 1;
        while (*note == ' ')
            note++;
        if (!*note)
            return kb_fail(L, f->line, "%s has no note", f->key);
        int h = relief_hazard_from_name(id);
        kb_secondary *sec = NULL;
        for (size_t k = 0; k < secondary->n && h >= 0; k++)
            if (((kb_secondary *)secondary->p)[k].hazard == h)
                sec = &((kb_secondary *)secondary->p)[k];
        if (!sec)
            return kb_fail(L, f->line, "%s names '%s', which no 'secondary:' line of this hazard names", f->key, id);
        if (sec->note_tr[li - 1])
            return kb_fail(L, f->line, "%s for '%s' is given twice", f->key, id);
        sec->note_tr[li - 1] = note;
        if (check_numbers(L, L->file_kept, f->line, f->key, sec->note, note, li) == 0)
            sec->note_tr[li - 1] = kb_tr_refused;
    }
    return 0;
}

int kb_parse_strings(loader *L, const section *s)
{
    int li = i18n_lang_index(L->lang);
    if (li < 0)
        return kb_fail(L, s->line, "[strings] are for plan languages (en, es, fr, pt), not '%s'", L->lang);
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        int id = i18n_from_key(f->key);
        if (id < 0)
            return kb_fail(L, f->line, "unknown string '%s' (docs/kb-format.md lists them)", f->key);
        if (L->kb->strings[li][id])
            return kb_fail(L, f->line, "string '%s' is given twice", f->key);
        L->kb->strings[li][id] = f->value;
        L->string_line[li][id] = (uint32_t)f->line;
    }
    L->string_file[li] = L->file_kept;
    return 0;
}

/* ---- after loading ---- */

static void missing(loader *L, const char *file, size_t line, const char *what, int k)
{
    kb_tr_issue(L, file, line, "no %s.%s (plans in '%s' are declared complete)", what, kb_tr_langs[k],
                kb_tr_langs[k]);
}

static void check_steps(loader *L, const kb_step *steps, size_t n, int k)
{
    for (size_t i = 0; i < n; i++) {
        const kb_step *st = &steps[i];
        if (!st->text_tr[k])
            missing(L, st->file, st->line, "do", k);
        if (st->short_text && !st->short_tr[k])
            missing(L, st->file, st->line, "short", k);
    }
}

/* Every plan text of the kb in language k (kb_tr_langs order). */
static void check_complete(loader *L, int k)
{
    relief_kb *kb = L->kb;
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        const kb_hazard *hz = &kb->hazards[h];
        if (!hz->name_tr[k])
            missing(L, hz->file, hz->line, "name", k);
        for (size_t i = 0; i < hz->n_secondary; i++)
            if (!hz->secondary[i].note_tr[k])
                missing(L, hz->file, hz->secondary[i].line, "secondary", k);
        check_steps(L, hz->steps, hz->n_steps, k);
    }
    for (size_t i = 0; i < kb->n_protocols; i++) {
        const kb_protocol *p = &kb->protocols[i];
        if (!p->name_tr[k])
            missing(L, p->file, p->line, "name", k);
        check_steps(L, p->steps, p->n_steps, k);
    }
    for (size_t i = 0; i < kb->n_rules; i++)
        if (!kb->rules[i].note_tr[k])
            missing(L, kb->rules[i].file, kb->rules[i].line, "note", k);
    for (size_t i = 0; i < kb->n_needs; i++) {
        const kb_need *n = &kb->needs[i];
        if (!n->label_tr[k])
            missing(L, n->file, n->line, "label", k);
        if (!n->standard_tr[k])
            missing(L, n->file, n->line, "standard", k);
        if (n->note && !n->note_tr[k])
            missing(L, n->file, n->line, "note", k);
    }
    const char *file = L->string_file[1 + k];
    for (int s = 0; s < S_COUNT; s++)
        if (!i18n_english_only(s) && !kb->strings[1 + k][s])
            kb_tr_issue(L, file ? file : "kb/lang", 0, "[strings] has no '%s' in '%s' (declared complete)",
                        i18n_key(s), kb_tr_langs[k]);
}

int kb_finish_translations(loader *L)
{
    relief_kb *kb = L->kb;
    for (int s = 0; s < S_COUNT; s++)
        if (!kb->strings[0][s]) {
            L->file = L->string_file[0] ? L->string_file[0] : "kb/lang/en.kb";
            return kb_fail(L, 0, "[strings] has no '%s': the plans need it", i18n_key(s));
        }
    for (int li = 1; li < I18N_LANGS; li++)
        for (int s = 0; s < S_COUNT; s++) {
            const char *t = kb->strings[li][s];
            if (!t)
                continue;
            const char *file = L->string_file[li];
            size_t line = L->string_line[li][s];
            if (!i18n_same_placeholders(kb->strings[0][s], t)) {
                kb_tr_issue(L, file, line, "string '%s' must use the placeholders of the English '%s'", i18n_key(s),
                            kb->strings[0][s]);
                kb->strings[li][s] = kb_tr_refused;
            } else if (check_numbers(L, file, line, i18n_key(s), kb->strings[0][s], t, li) == 0) {
                kb->strings[li][s] = kb_tr_refused;
            }
        }
    kb->plan_complete[0] = true;
    for (size_t i = 0; i < kb->n_langs; i++) {
        int li = i18n_lang_index(kb->langs[i].code);
        if (li > 0 && kb->langs[i].plans_complete) {
            kb->plan_complete[li] = true;
            check_complete(L, li - 1);
        }
    }
    if (L->tr_oom)
        return kb_oom(L);
    size_t n = L->tr_issues.n;
    kb->tr_issues = arena_calloc(&kb->mem, n ? n : 1, sizeof *kb->tr_issues);
    if (!kb->tr_issues)
        return kb_oom(L);
    if (n)
        memcpy(kb->tr_issues, L->tr_issues.p, n * sizeof *kb->tr_issues);
    kb->n_tr_issues = n;
    return 0;
}
