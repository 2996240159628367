/*
 * guide_int.h - internal structures of the guidance engine shared by its
 * modules (kb loader, detector, extractor, planner, needs, renderer).
 */
#ifndef RELIEF_GUIDE_INT_H
#define RELIEF_GUIDE_INT_H

#include "relief/guide.h"
#include "../util/arena.h"
#include "text.h"
#include "i18n.h"

#include <stdint.h>

/* ---- names (names.c) ---- */

/* kb keyword -> enum value, or -1 when unknown. */
int guide_phase_from_name(const char *s);
int guide_role_from_name(const char *s);
int guide_brief_from_name(const char *s);

/* ---- conditions ("when:" and "applies:" in kb files) ---- */

enum {
    F_TIME, F_PEOPLE, F_DAYS, F_INJURED, F_DEAD, F_MISSING, F_TRAPPED,
    F_VG_FIRST,                                   /* + relief_vulnerable */
    F_INFRA_FIRST = F_VG_FIRST + RELIEF_VG_COUNT, /* + relief_infra */
    F_COASTAL = F_INFRA_FIRST + RELIEF_INFRA_COUNT,
    F_NIGHT,
    F_HAZARD_FIRST,                               /* + relief_hazard */
    F_TRAUMA = F_HAZARD_FIRST + RELIEF_HZ_COUNT,  /* a detected hazard with `trauma: yes` */
    F_TAG_FIRST,                                  /* + tag index (tag.NAME) */
    F_COUNT = F_TAG_FIRST + 64
};

/* Report tags: the `tag.NAME` lexicon classes of kb/extract.kb ("tag.gas",
 * "tag.cholera"), named in conditions as facts. Interned in first-use order
 * by the loader (conditions may name a tag before extract.kb defines it);
 * every used tag must be defined, checked when the kb is complete. */
#define KB_MAX_TAGS 64
typedef struct {
    const char *names[KB_MAX_TAGS];
    uint32_t n;
    uint64_t defined;     /* bit i: extract.kb has a tag.names[i] class */
    uint64_t used;        /* bit i: some condition names it */
} kb_tags;

/* Interns a tag name of n bytes; returns its index or -1 when the table is
 * full or memory runs out. */
int kb_tag_intern(kb_tags *t, arena *a, const char *name, size_t n);

typedef enum { C_TRUE, C_FACT, C_CMP, C_NOT, C_AND, C_OR } cond_kind;
typedef enum { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ } cond_op;

typedef struct cond {
    cond_kind kind;
    int fact;
    cond_op op;
    double value;
    struct cond *a, *b;
} cond;

/* What conditions are evaluated against. */
typedef struct {
    const relief_facts *facts;
    int days;
    uint32_t hazards;   /* bit h set when hazard h is in the plan */
    uint64_t tags;      /* bit i set when tag i is in the report */
    bool trauma;        /* a primary hazard with `trauma: yes` is detected */
} cond_env;

/* Parses a condition into the arena; tag.NAME facts are interned in tags.
 * Returns NULL and writes a message to err (cap bytes) on a syntax error
 * or when memory runs out. */
cond *cond_parse(arena *a, const char *text, kb_tags *tags, char *err, size_t cap);
/* Evaluates a parsed condition; NULL means "always". Never fails. */
bool cond_eval(const cond *c, const cond_env *env);

/* ---- knowledge base ---- */

/* Languages a plan can be written in besides English: a step's text in one
 * of them is the field 'do.LANG' ('short.LANG' for the brief line). */
#define KB_TR_LANGS 3
extern const char *const kb_tr_langs[KB_TR_LANGS]; /* "es", "fr", "pt" */

typedef struct {
    const char *id;       /* may be NULL */
    int phase, role, priority;
    bool urgent;
    const cond *when;     /* NULL = always */
    const char *text;
    const char *short_text; /* one-line form for the brief, or NULL */
    const char *source;
    int brief;            /* relief_brief_kind, or -1: never in the brief */
    const char *group;    /* same measure across files (isolation distance...), or NULL */
    double distance_m;    /* distance the step sets (group conflicts), 0 = none */
    uint32_t dedup;       /* equal for steps that are the same action (same id or same text) */
    const char *text_tr[KB_TR_LANGS];  /* 'do.LANG:' translations, kb_tr_langs order; NULL = none */
    const char *short_tr[KB_TR_LANGS]; /* 'short.LANG:' translations; NULL = none */
    const char *file;     /* where the step is written (kb-check's messages) */
    uint32_t line;
} kb_step;

/* A translation kb-check refused (its numbers or placeholders differ from
 * the English): never shown, the English is, but it is not "missing". */
extern const char kb_tr_refused[];
/* The text of a translation in plan language li (0 English), falling back
 * to the English en when there is none or it was refused. */
const char *kb_tr(const char *en, const char *const *tr, int li);

/* A cross-hazard rule of kb/rules.kb: when `when` holds, first-30-minute
 * steps of the `from` hazards whose brief kind is in `defer` wait until the
 * second phase, with the note. */
typedef struct {
    const char *id;
    const cond *when;
    uint32_t defer;       /* bit k: brief kind k */
    uint32_t from;        /* bit h: hazard h */
    const char *note;
    const char *source;
    const char *note_tr[KB_TR_LANGS];
    const char *file;
    uint32_t line;
} kb_rule;

typedef struct {
    int hazard;
    const cond *when;
    const char *note;
    const char *note_tr[KB_TR_LANGS];  /* 'secondary.LANG: HAZARD | NOTE' */
    uint32_t line;
} kb_secondary;

typedef struct {
    bool loaded;
    bool trauma;          /* injures by physical force (blast, collapse, crash, weapons) */
    bool zone_leave;      /* protective action: leave a zone about to be hit */
    const char *name;
    const char *name_tr[KB_TR_LANGS];
    const char *glide;
    const char *file;
    uint32_t line;        /* of [hazard] */
    kb_secondary *secondary;
    size_t n_secondary;
    kb_step *steps;
    size_t n_steps;
} kb_hazard;

typedef struct {
    const char *id, *name;
    const char *name_tr[KB_TR_LANGS];
    const char *file;
    uint32_t line;
    const cond *applies;
    kb_step *steps;
    size_t n_steps;
} kb_protocol;

/* A lexicon phrase: words in folded form; prefix[i] when word i ended in '*'. */
typedef struct {
    int hazard;           /* -1 for a `not:` phrase */
    int owner;            /* for a `not:` phrase: the hazard whose cues it cancels */
    uint8_t weight;
    uint8_t n_words;
    char lang[3];         /* cues: the language they are written in ("en", "ht"), "" for any */
    double value;         /* number words (kb->numbers): the value or multiplier */
    const char **words;
    bool *prefix;
    const char *display;  /* as written in the kb */
} kb_phrase;

/* Index of phrases by their first word (exact or prefix). */
typedef struct {
    const char *key;
    uint64_t hash;        /* of key: compared before the string */
    uint32_t *ids;        /* phrase indices */
    uint32_t n, cap;
} kb_bucket;

typedef struct {
    kb_bucket *slots;     /* open addressing, power of two */
    size_t cap, used;
} kb_index;

/* A phrase list with its first-word index. */
typedef struct {
    kb_phrase *phrases;
    size_t n_phrases;
    kb_index exact, prefix;
    uint8_t prefix_lens[64]; /* first-word lengths used by prefix phrases */
    size_t n_prefix_lens;
} kb_lexicon;

/* Word classes of kb/extract.kb, used by fact extraction. */
typedef enum {
    LX_VG_FIRST = 0,                              /* + relief_vulnerable */
    LX_INFRA_FIRST = LX_VG_FIRST + RELIEF_VG_COUNT, /* + relief_infra */
    LX_DAMAGE = LX_INFRA_FIRST + RELIEF_INFRA_COUNT,
    LX_INFRA_OUT,     /* phrases that alone say a system is out ("blackout") -> see kb */
    LX_COASTAL, LX_NIGHT,
    LX_PEOPLE, LX_HOUSEHOLD,
    LX_INJURED, LX_DEAD, LX_MISSING, LX_TRAPPED,
    LX_RESOURCE, LX_HAVE,
    LX_TIME_BEFORE,   /* within, in, next, dans, en ... */
    LX_AGO,           /* ago, hace, il y a */
    LX_UNIT_MIN, LX_UNIT_HOUR, LX_UNIT_DAY,
    LX_LOC_PREP,      /* in, at, near, en, a, pres de ... */
    LX_STREET,        /* street, st, avenue, calle, rue ... */
    LX_PLACE_NOUN,    /* coast, city, province ... ("the coast of X") */
    LX_OBJECT,        /* things that "die" without a death: phone, battery, car, engine */
    LX_AWAY,          /* "away", "out" after a duration: "1 hr away" */
    LX_FILLER,        /* words that may stand between a number and its noun: "of", "more", "di", "ng" */
    LX_NAME_PREP,     /* before a capitalised name only: "from Paradise", "de Caracas", "no Recife" */
    LX_COUNT
} lex_class;

typedef struct {
    const char *id, *label, *unit, *basis, *standard, *note;
    double rate;          /* amount per unit of population */
    double per_n;         /* "1 per 50 people": per_n = 50 */
    bool per_household;
    int time;             /* 0 none, 1 per day, 2 per month */
    bool count;           /* a count (ceil) rather than an amount */
    double round_to;      /* 0 = none */
    const char *label_tr[KB_TR_LANGS], *note_tr[KB_TR_LANGS], *standard_tr[KB_TR_LANGS];
    const char *file;
    uint32_t line;
} kb_need;

/* A language of kb/lang/CODE.kb: its function words identify reports
 * written in it. */
#define KB_MAX_LANGS 16
typedef struct {
    const char *code;     /* "it" */
    const char *name;     /* "Italiano" */
    bool plans_complete;  /* `plans: complete`: every plan text has this translation (kb-check) */
} kb_language;

/* Symmetric-delete index of cue words for typo tolerance (speller.c). */
typedef struct {
    const char *key;      /* a cue word with some letters deleted (arena) */
    size_t len;
    uint64_t hash;
    uint32_t *words;      /* indices into relief_kb.spell_words (malloc'd) */
    uint32_t n_words;
} spell_slot;

#define SPELL_BLOOM_BITS (1u << 21)
typedef struct {
    spell_slot *slots;    /* open addressing, power of two */
    size_t cap, used;
    uint64_t *bloom;      /* SPELL_BLOOM_BITS bits: most report deletions miss here, in cache */
} spell_index;

struct relief_kb {
    arena mem;
    spell_index spell;
    const char **spell_words;  /* distinct cue words of 5+ letters */
    const char **spell_langs;  /* each one's language ("" when any or several) */
    size_t n_spell_words;
    kb_language langs[KB_MAX_LANGS];
    size_t n_langs;
    kb_lexicon langwords; /* function words of every language (hazard = index in langs) */
    kb_hazard hazards[RELIEF_HZ_COUNT];
    kb_protocol *protocols;
    size_t n_protocols;

    kb_lexicon cues;      /* hazard cues (hazard >= 0) and not-phrases (-1) */
    kb_lexicon lex;       /* extraction word classes (hazard = lex_class) */
    kb_lexicon numbers;   /* number words of every language (hazard = NUM_*; value) */

    kb_phrase *negation;  /* single or multi-word negators */
    size_t n_negation;
    kb_phrase *nonevent;  /* non-event and past-time phrases */
    size_t n_nonevent;
    double threshold;

    uint32_t n_dedup;     /* number of distinct dedup keys */
    kb_tags tags;
    kb_rule *rules;
    size_t n_rules;
    int brief_max;                          /* most actions in the brief */
    int brief_rank[RELIEF_BRIEF_COUNT];     /* place of each kind in the brief's order */
    int brief_limit[RELIEF_BRIEF_COUNT];    /* most actions of each kind in the first pass */
    kb_need *needs;
    size_t n_needs;
    double household_size;

    /* Plans in other languages (i18n.h): [strings] of kb/lang/CODE.kb by
     * plan language (0 English, never NULL once loaded), which languages
     * are declared complete, and what kb-check found wrong with the
     * translations (messages naming file and line; they never stop a load:
     * a refused translation shows the English instead). */
    const char *strings[I18N_LANGS][S_COUNT];
    bool plan_complete[I18N_LANGS];
    const char **tr_issues;
    size_t n_tr_issues;
};

/* The [strings] text s in plan language li, English when that language
 * has none. */
const char *kb_str(const relief_kb *kb, int li, int s);
/* kb_str with its {name} placeholders filled in (n names and values), in
 * the arena; NULL when memory runs out. */
const char *kb_strf(arena *a, const relief_kb *kb, int li, int s, const char *const *names, const char *const *values,
                    size_t n);

/* The embedded kb with the file at kb-relative PATH ("hazards/flood.kb",
 * "detect.kb") read from len bytes of data instead: one file parsed from
 * memory through exactly the validation a kb file gets (fuzz/fuzz_kb.c and
 * tests use it). A PATH that names no embedded file changes nothing.
 * Returns NULL and sets *err (malloc'd, caller frees) like
 * relief_kb_load_embedded, with messages naming "kb/PATH" and the line. */
relief_kb *kb_load_embedded_with(const char *path, const char *data, size_t len, char **err);


/* Kinds of number words ([numbers] in kb/lang files). */
enum { NUM_VALUE, NUM_MULT, NUM_ARTICLE, NUM_VAGUE };

/* Looks a single folded word up among the number words: returns its kind
 * (NUM_*) and sets *value, or -1 when it is not a number word. */
int kb_number_word(const relief_kb *kb, const char *word, double *value);

/* Returns the lex_class for an extract.kb class name, or -1. Tag classes
 * ("tag.gas") are LX_COUNT + the tag's index. */
int lex_class_from_name(const char *name);

/* A phrase found in a token list. */
typedef struct {
    uint32_t phrase;
    uint32_t start, end;   /* token range [start, end) */
    bool dropped;
} lex_match;

typedef struct {
    lex_match *m;
    size_t n, cap;
} lex_match_vec;

/* ---- lexicon.c: phrase lists indexed by first word ---- */

/* Finds the bucket for key, or NULL (also in an index never built). */
const kb_bucket *kb_index_find(const kb_index *ix, const char *key);
/* Adds phrase id under key (not copied: it must outlive the index); the
 * index must have room (cap > used). Returns 0, or -1 when memory runs out. */
int kb_index_add(kb_index *ix, const char *key, uint32_t id);
/* Frees the index's buckets and zeroes it. */
void kb_index_free(kb_index *ix);
/* Indexes lx->phrases by their first word. Returns 0, -1 when memory runs
 * out, -2 when the phrases' prefix first words have more distinct lengths
 * than prefix_lens holds. Free with lexicon_free_index (also after a failure). */
int lexicon_build_index(kb_lexicon *lx);
void lexicon_free_index(kb_lexicon *lx);
/* True when token tok is word (or, when prefix, starts with it). */
bool lexicon_word_eq(const char *tok, const char *word, bool prefix);
/* Does phrase p match at token i (its first word already matched)? Returns
 * the end token (exclusive), or 0. Words of a phrase stay in one sentence. */
size_t lexicon_match_rest(const kb_phrase *p, const token_list *t, size_t i);
/* Finds every phrase of lex in the tokens (whole words, prefixes, hashtag
 * halves), pushed in token order. The caller frees out->m. Returns -1 on OOM. */
int lexicon_find(const kb_lexicon *lex, const token_list *t, lex_match_vec *out);
/* Marks token positions where any of the n phrases in list starts
 * (start_at[i] = 1) or ends (end_at[last token] = 1); a plain scan for the
 * short negation and non-event lists. */
void lexicon_mark(const kb_phrase *list, size_t n, const token_list *t, uint8_t *start_at, uint8_t *end_at);

/* ---- pipeline stages ---- */

typedef struct {
    double score[RELIEF_HZ_COUNT];
    relief_cue_hit *hits[RELIEF_HZ_COUNT];
    size_t n_hits[RELIEF_HZ_COUNT];
} detect_result;

/* Detects hazards; hit arrays go into the arena. Returns -1 on OOM. */
int guide_detect(const relief_kb *kb, const token_list *toks, arena *a, detect_result *out);

/* Extracts facts from the tokens; strings go into the arena. lang is the
 * report's language (guide_language): a lower-case place name is a word its
 * dictionary does not know. -1 on OOM. */
int guide_extract(const relief_kb *kb, const char *text, const token_list *toks, const char *lang, arena *a,
                  long long now, relief_facts *out);

/* Fills plan->steps and plan->notes from detections and facts. -1 on OOM. */
int guide_plan_steps(const relief_kb *kb, relief_plan *plan, arena *a);

/* Builds kb->spell from the cue words; -1 on OOM. speller_free releases it. */
int speller_build(relief_kb *kb);
void speller_free(relief_kb *kb);

/* The one cue word within the allowed edits of a folded report word (one
 * edit for cue words of 5+ letters, two for 9+), or NULL when there is none,
 * when two are equally close, or when the word is itself a cue word. */
const char *speller_candidate(const relief_kb *kb, const char *token, const char *lang);

/* Whether word is a word of language lang ("en", "es", ...) by its hunspell
 * dictionary: 1 yes, 0 no, -1 when that dictionary is not installed. Loads
 * the dictionary on first use; thread-safe. */
int speller_known_word(const char *lang, const char *word);

/* 1 when any installed dictionary (en, es, fr, pt, it, tl) knows word, 0
 * when none does, -1 when none is installed. */
int speller_known_anywhere(const char *word);

/* True when the kb knows folded word w as a cue, lexicon, number or
 * function word. */
bool speller_kb_word(const relief_kb *kb, const char *w);

/* Copies toks into fixed with misspelt cue words replaced by the cue word
 * they stand for (see speller.c), marking those tokens `corrected`. report
 * is the text the tokens point into; lang the report's language. Returns
 * the number of corrections, or -1 on OOM (fixed is then freed). */
int guide_spell_fix(const relief_kb *kb, const char *report, const token_list *toks, const char *lang,
                    token_list *fixed);

/* The report's language by function words (kb/lang/CODE.kb): sets *code to a
 * kb language code ("en" when nothing else wins) and *hits to the words
 * that matched. Returns -1 on OOM. */
int guide_language(const relief_kb *kb, const token_list *toks, const char **code, int *hits);

/* Fills plan->needs for the facts' population. -1 on OOM. */
int guide_needs(const relief_kb *kb, relief_plan *plan, arena *a);


#endif
