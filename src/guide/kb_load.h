/* kb_load.h - what the knowledge-base loader's files share: loader state, line and phrase helpers, section parsers. */
#ifndef RELIEF_KB_LOAD_H
#define RELIEF_KB_LOAD_H

#include "guide_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/embedded.h"

#define KB_MAX_FILE (64u << 20)   /* no kb file may exceed 64 MiB */
#define KB_MAX_FIELDS 4096        /* lines in one section */
#define KB_MAX_SHORT 110          /* characters in a brief line (one line on a phone) */
#define KB_MAX_SHORT_TR 135       /* characters in a translated one: Romance languages run ~20 % longer */
#define KB_MAX_PHRASE_WORDS 16



typedef struct {
    void *p;
    size_t n, cap, elem;
} vec;

typedef struct {
    char key[64];
    const char *value;    /* arena copy */
    size_t len, cap;      /* bytes of value, and of its arena block (continuation lines grow it) */
    size_t line;
} field;

typedef struct {
    relief_kb *kb;
    const char *file;     /* name used in messages */
    char *err;            /* malloc'd message, set once */
    vec phrases, lexphrases, negation, nonevent, protocols, needs, rules, numbers, langwords;
    vec steps[RELIEF_HZ_COUNT], secondary[RELIEF_HZ_COUNT];
    bool have_detect, have_needs, have_extract, have_rules, have_brief, have_lang_dir;
    char lang[3];         /* the language file being read ("it") */
    const char *file_kept; /* the file's name in the kb's arena (steps keep it for kb-check) */
    vec tr_issues;        /* const char *: kb-check's findings on translations */
    bool tr_oom;
    const char *string_file[I18N_LANGS];          /* the file each plan language's [strings] came from */
    uint32_t string_line[I18N_LANGS][S_COUNT];    /* and the line of each string */
} loader;

/* Section being collected. */
typedef struct {
    char name[16];
    size_t line;
    field *f;
    size_t n, cap;
} section;

typedef enum { FILE_HAZARD, FILE_PROTOCOL, FILE_DETECT, FILE_NEEDS, FILE_EXTRACT, FILE_RULES, FILE_LANG } file_kind;

typedef struct {
    loader *L;
    file_kind kind;
    const char *expect_id;
    int hazard;           /* for FILE_HAZARD once the header is read */
    int n_sections;
    bool have_cues;
    vec steps;            /* for FILE_PROTOCOL */
    kb_protocol proto;
} file_state;

/* One embedded file read from other bytes instead (kb_load_embedded_with). */
typedef struct {
    const char *path;
    const char *data;
    size_t len;
} kb_override;

/* Shared between kb.c and kb_sections.c. */
/* The field of section s named key, or NULL. */
const field *kb_get(const section *s, const char *key);
/* The field named key; NULL (the error reported) when it is missing. */
const field *kb_require(loader *L, const section *s, const char *key);
void *kb_vec_push(vec *v);
int kb_fail(loader *L, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kb_oom(loader *L);
int kb_check_keys(loader *L, const section *s, const char *const *allowed, const char *const *repeatable);
int kb_parse_int(const char *s, long lo, long hi, long *out);
const cond *kb_parse_cond(loader *L, const field *f);
int kb_parse_phrase_list(loader *L, size_t line, const char *list, int hazard, int weight, vec *into);
int kb_finish(loader *L);
int kb_parse_step(loader *L, const section *s, vec *into);
int kb_parse_hazard_header(loader *L, const section *s, int *hazard_out, const char *expect_id);
int kb_parse_cues(loader *L, const section *s, int hazard);
int kb_parse_detect(loader *L, const section *s);
int kb_parse_need(loader *L, const section *s);
int kb_parse_brief(loader *L, const section *s);
int kb_parse_rule(loader *L, const section *s);
int kb_parse_lexicon(loader *L, const section *s);
int kb_parse_protocol_header(loader *L, const section *s, kb_protocol *p);
int kb_parse_language(loader *L, const section *s, const char *expect_code);
int kb_parse_lang_cues(loader *L, const section *s);
int kb_parse_numbers(loader *L, const section *s);
int kb_parse_lang_detect(loader *L, const section *s);

/* Translations (kb_i18n.c). */
/* Records a kb-check finding about a translation, naming the file being
 * read and line; never fails the load. */
void kb_tr_issue(loader *L, const char *file, size_t line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reads KEY.es, KEY.fr and KEY.pt of section s into out (kb_tr_langs
 * order): a translation whose numbers differ from the English field en is
 * recorded as an issue and refused (kb_tr_refused). A translation without
 * its English field is an error, as is one longer than max_chars
 * characters (0: no limit). Returns -1 after reporting an error. */
int kb_parse_tr(loader *L, const section *s, const char *key, const field *en, const char **out, size_t max_chars);
/* 'secondary.LANG: HAZARD | NOTE' lines of a [hazard] section: the note
 * of that hazard's secondary line in LANG. -1 after reporting an error. */
int kb_parse_secondary_tr(loader *L, const section *s, vec *secondary);
/* [strings] of a language file. */
int kb_parse_strings(loader *L, const section *s);
/* After loading: the English strings are all there (else an error), the
 * translated ones keep the English numbers and placeholders, and every
 * plan text has a translation in each language declared complete. */
int kb_finish_translations(loader *L);

#endif
