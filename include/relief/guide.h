/*
 * relief/guide.h - the deterministic guidance engine: report text in, phased
 * and cited action plan out.
 *
 * Data flows one way: report -> detections + facts -> plan -> rendering.
 * Nothing here depends on a language model, and nothing here can fail on
 * report text: every byte sequence (invalid UTF-8, NUL bytes, megabytes of
 * text) yields a plan. The only failures are out-of-memory (NULL return) and
 * a malformed knowledge base, which is rejected when it is loaded.
 *
 * Ownership: a relief_kb is immutable once loaded and may be shared by any
 * number of threads. A relief_plan owns every string and array it points to
 * (one arena) and is freed with relief_plan_free().
 */
#ifndef RELIEF_GUIDE_H
#define RELIEF_GUIDE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RELIEF_JSON_SCHEMA_VERSION "relief.plan/2"

/* Hazard ids, in the order of the taxonomy. "none" is the absence of any. */
typedef enum {
    RELIEF_HZ_WILDFIRE, RELIEF_HZ_STRUCTURE_FIRE, RELIEF_HZ_FLOOD,
    RELIEF_HZ_TROPICAL_CYCLONE, RELIEF_HZ_TORNADO, RELIEF_HZ_SEVERE_STORM,
    RELIEF_HZ_WINTER_STORM, RELIEF_HZ_EXTREME_HEAT, RELIEF_HZ_EARTHQUAKE,
    RELIEF_HZ_TSUNAMI, RELIEF_HZ_LANDSLIDE, RELIEF_HZ_VOLCANO,
    RELIEF_HZ_DROUGHT, RELIEF_HZ_EPIDEMIC, RELIEF_HZ_HAZMAT,
    RELIEF_HZ_RADIOLOGICAL, RELIEF_HZ_EXPLOSION, RELIEF_HZ_BUILDING_COLLAPSE,
    RELIEF_HZ_TRANSPORT_ACCIDENT, RELIEF_HZ_VIOLENCE, RELIEF_HZ_POWER_OUTAGE,
    RELIEF_HZ_DAM_FAILURE,
    RELIEF_HZ_COUNT
} relief_hazard;

/* Returns the taxonomy id ("flood"), or "none" for an out-of-range value. */
const char *relief_hazard_name(int hazard);
/* Returns the hazard for a taxonomy id, or -1 when the id is unknown. */
int relief_hazard_from_name(const char *name);

/* Plan phases, in time order. */
typedef enum {
    RELIEF_PHASE_IMMEDIATE, /* 0-30 min */
    RELIEF_PHASE_2H,        /* 30 min - 2 h */
    RELIEF_PHASE_24H,       /* 2 - 24 h */
    RELIEF_PHASE_72H,       /* 24 - 72 h */
    RELIEF_PHASE_RECOVERY,  /* after 72 h */
    RELIEF_PHASE_COUNT
} relief_phase;

/* Returns the kb keyword of a phase ("immediate", "2h", ...). */
const char *relief_phase_name(int phase);
/* Returns the human title of a phase ("First 30 minutes", ...). */
const char *relief_phase_title(int phase);

/* ICS roles. */
typedef enum {
    RELIEF_ROLE_COMMAND, RELIEF_ROLE_OPERATIONS, RELIEF_ROLE_LOGISTICS,
    RELIEF_ROLE_PLANNING, RELIEF_ROLE_PUBLIC_INFO, RELIEF_ROLE_MEDICAL,
    RELIEF_ROLE_PUBLIC,
    RELIEF_ROLE_COUNT
} relief_role;

/* A role's kb keyword ("operations") and its title ("Operations"): static
 * strings; "?" for a role out of range. */
const char *relief_role_name(int role);
const char *relief_role_title(int role);

/* Kinds of first-30-minute action, in the brief's default order: get
 * people out of the path, save a life now, take command, warn, rescue,
 * treat, care. */
typedef enum {
    RELIEF_BRIEF_PROTECT, RELIEF_BRIEF_LIFESAVE, RELIEF_BRIEF_COMMAND,
    RELIEF_BRIEF_WARN, RELIEF_BRIEF_RESCUE, RELIEF_BRIEF_MEDICAL,
    RELIEF_BRIEF_CARE,
    RELIEF_BRIEF_COUNT
} relief_brief_kind;

/* Returns the kb keyword of a brief kind ("protect"), or "none". */
const char *relief_brief_kind_name(int kind);

/* Vulnerable groups. */
typedef enum {
    RELIEF_VG_CHILDREN, RELIEF_VG_ELDERLY, RELIEF_VG_PATIENTS,
    RELIEF_VG_DISABLED, RELIEF_VG_PREGNANT, RELIEF_VG_HOMELESS,
    RELIEF_VG_PRISONERS,
    RELIEF_VG_COUNT
} relief_vulnerable;

/* The group's kb name ("elderly"): a static string; "?" out of range. */
const char *relief_vulnerable_name(int group);

/* Infrastructure systems whose status a report can mention. */
typedef enum {
    RELIEF_INFRA_POWER, RELIEF_INFRA_WATER, RELIEF_INFRA_ROADS,
    RELIEF_INFRA_BRIDGES, RELIEF_INFRA_COMMS, RELIEF_INFRA_HOSPITAL,
    RELIEF_INFRA_COUNT
} relief_infra;

/* The system's kb name ("power"): a static string; "?" out of range. */
const char *relief_infra_name(int system);

/* A byte range [start, end) of the report a fact or cue came from. */
typedef struct {
    size_t start, end;
} relief_span;

/* One cue that fired for a hazard. */
typedef struct {
    const char *cue;     /* the lexicon phrase, as written in the kb */
    relief_span span;    /* where it matched in the report */
    double weight;       /* weight actually counted (after modifiers) */
    const char *modifier; /* NULL, or why the weight was lowered */
} relief_cue_hit;

typedef struct {
    int hazard;          /* relief_hazard */
    double score;        /* summed cue weight */
    double confidence;   /* 0..1 */
    bool secondary;      /* added as a secondary hazard, not detected */
    size_t n_cues;
    relief_cue_hit *cues;
} relief_detection;

/* A number read from the report. known == false means no number was
 * stated; mentioned == true means the report speaks of it anyway
 * ("people trapped" with no count). */
typedef struct {
    bool known;
    bool mentioned;
    bool vague;          /* "hundreds of", "dozens": value is an order of magnitude */
    double value;        /* the number (the low end of a range) */
    double high;         /* the high end of a range ("200-300"), else 0 */
    relief_span span;
} relief_quantity;

typedef struct {
    bool present;
    relief_span span;
} relief_flag;

typedef enum { RELIEF_LOC_PLACE, RELIEF_LOC_ADDRESS, RELIEF_LOC_COORDS } relief_loc_kind;

typedef struct {
    relief_loc_kind kind;
    const char *text;    /* as written in the report */
    double lat, lon;     /* RELIEF_LOC_COORDS only */
    relief_span span;
} relief_location;

typedef struct {
    const char *text;    /* "2 boats", "generator" */
    relief_span span;
} relief_resource;

/* Everything extracted from the report. */
typedef struct {
    relief_quantity time_s;   /* time available before impact, seconds */
    relief_quantity people;   /* people affected */
    bool people_from_households; /* people = households x household size */
    relief_quantity injured, dead, missing, trapped;
    relief_flag vulnerable[RELIEF_VG_COUNT];
    relief_flag infra[RELIEF_INFRA_COUNT];
    relief_flag coastal, night;
    size_t n_locations;
    relief_location *locations;
    size_t n_resources;
    relief_resource *resources;
    size_t n_tags;
    const char **tags;        /* report tags found ("gas", "cholera"): kb/extract.kb tag classes */
} relief_facts;

typedef struct {
    int number;          /* 1-based, in plan order */
    int phase;           /* relief_phase */
    int role;            /* relief_role */
    int priority;        /* 1 (most urgent) .. 5 */
    const char *id;      /* kb step id or NULL */
    const char *text;    /* imperative sentence */
    const char *short_text; /* the same action in one line (for the brief), or NULL */
    int brief_kind;      /* relief_brief_kind, or -1 */
    const char *source;  /* agency and document */
    const char *origin;  /* "flood", "protocol:ics" */
    const char *note;    /* NULL, or why the step is here/moved */
} relief_step;

/* One line of the needs table. */
typedef struct {
    const char *id;
    const char *label;
    double amount;       /* rounded */
    const char *unit;    /* "L", "kcal", "m2", "" for counts */
    const char *basis;   /* "15 L per person per day" */
    const char *standard;
    const char *note;    /* may be NULL */
} relief_need;

typedef struct relief_plan {
    const char *report;  /* copy of the report text */
    size_t report_len;
    const char *lang;    /* the report's language ("en", "es", ...), by function words (kb/lang) */
    int lang_hits;       /* distinct function words of that language found; 0: the English default */
    /* The language the plan is written in ("en", "es", "fr", "pt") and why:
     * "requested" (relief_options.lang), "accept-language", "detected" (the
     * report's language), "default" (English report or none detected), or
     * "not-translated" (the language wanted, plan_lang_wanted, has no
     * complete translation: the plan is in English and its first note says
     * so, in English). */
    const char *plan_lang;
    const char *plan_lang_reason;
    const char *plan_lang_wanted; /* with "not-translated": that language's code; else NULL */
    const struct relief_kb *kb;   /* the kb the plan was built from (its texts and [strings]) */
    int days;            /* planning horizon */
    size_t n_detections;
    relief_detection *detections; /* detected first, by confidence; then secondary */
    relief_facts facts;
    size_t n_steps;
    relief_step *steps;
    size_t n_brief;
    const relief_step **brief; /* "do now": at most 8 first-30-minute steps, in order of action */
    size_t n_needs;             /* 0 when the report states no population */
    relief_need *needs;
    double household_size;
    size_t n_notes;
    const char **notes;  /* plan-level notes (compressed timeline, secondary hazards...) */
    double elapsed_us;   /* time spent building the plan */
} relief_plan;

typedef struct relief_kb relief_kb;

/* Loads the knowledge base embedded at build time. Returns NULL and sets
 * *err (malloc'd, caller frees) when it is malformed or memory runs out. */
relief_kb *relief_kb_load_embedded(char **err);

/* Loads a knowledge base from DIR (same layout as kb/: hazards/, protocols/,
 * detect.kb, needs.kb; detect.kb and needs.kb fall back to the embedded ones
 * when absent). Returns NULL and sets *err naming file and line on error. */
relief_kb *relief_kb_load_dir(const char *dir, char **err);

/* Frees a kb; NULL is allowed. */
void relief_kb_free(relief_kb *kb);

/* Counts for checks and the CLI's kb-check: steps of a hazard (0 for an
 * out-of-range hazard), of a hazard in one phase (0 when either is out of
 * range), and the cross-hazard protocols. Never fail. */
size_t relief_kb_step_count(const relief_kb *kb, int hazard);
size_t relief_kb_phase_step_count(const relief_kb *kb, int hazard, int phase);
size_t relief_kb_protocol_count(const relief_kb *kb);

/* Whether plans can be written in language code ("en", "es"): English
 * always; another only when its kb/lang file declares `plans: complete`. */
bool relief_kb_plan_language(const relief_kb *kb, const char *code);

/* What kb-check found wrong with the translations (a translation whose
 * numbers differ from the English, a language declared complete that
 * lacks one...): the count, and message i ("kb/hazards/flood.kb:42: ...",
 * owned by the kb), NULL when i is out of range. A kb with findings still
 * loads: refused translations show the English text. */
size_t relief_kb_translation_issue_count(const relief_kb *kb);
const char *relief_kb_translation_issue(const relief_kb *kb, size_t i);

/* The [strings] text named key ("model.heading") in plan language code,
 * English when that language has none or code is not a plan language;
 * NULL for an unknown key. Owned by the kb. */
const char *relief_kb_string(const relief_kb *kb, const char *code, const char *key);
/* The name a kb language file gives its language, in that language
 * ("Italiano" for "it"); NULL for a code no file defines. Owned by the kb. */
const char *relief_kb_language_name(const relief_kb *kb, const char *code);
/* The first-30-minute steps of a hazard that may enter a brief, in kb order
 * (English text), numbered from 1: what a model's cached prompt lists for
 * that hazard. Writes up to cap of them to out and returns how many there
 * are (0 for an out-of-range hazard). A plan's step taken from one of them
 * has the same `source` pointer: it identifies the kb step. */
size_t relief_kb_brief_steps(const relief_kb *kb, int hazard, relief_step *out, size_t cap);
/* The same for the protocol numbered `protocol` (0 .. relief_kb_protocol_count
 * - 1: triage, risk communication, ...), whose steps a brief of any hazard
 * may take. 0 for an out-of-range number. */
size_t relief_kb_protocol_brief_steps(const relief_kb *kb, size_t protocol, relief_step *out, size_t cap);
/* The protocol's id ("ics", "triage"); NULL when out of range. Owned by the kb. */
const char *relief_kb_protocol_id(const relief_kb *kb, size_t protocol);

typedef struct {
    int days;            /* planning horizon, 1..365; 0 means default (3) */
    long long now;       /* Unix time used for "by 3pm"; 0 means the clock */
    /* The plan's language: a kb language code ("es"), or NULL or "" for the
     * report's own language when its plans are complete, else English.
     * lang_reason says where lang came from, for the JSON: NULL means
     * "requested" (a --lang option, an API field); "accept-language". */
    const char *lang;
    const char *lang_reason;
} relief_options;

/* Builds the plan for a report of len bytes (any bytes). A report in which
 * no hazard is recognised gets no steps, only notes saying what to report.
 * Returns NULL only when memory runs out. The caller frees the result with
 * relief_plan_free; the kb must outlive the plan (steps point into it). */
relief_plan *relief_plan_build(const relief_kb *kb, const char *report,
                               size_t len, const relief_options *opt);

/* Frees a plan and everything it owns (its strings, steps and facts); NULL
 * is allowed. */
void relief_plan_free(relief_plan *plan);

typedef enum { RELIEF_FMT_TEXT, RELIEF_FMT_MARKDOWN, RELIEF_FMT_JSON } relief_format;

enum {
    RELIEF_RENDER_COLOR = 1,   /* ANSI colour (text format only) */
    RELIEF_RENDER_EXPLAIN = 2, /* include cues and fact spans */
    RELIEF_RENDER_FULL = 4,    /* text and Markdown: the whole phased plan, not only the brief */
};

/* Renders a plan. Text and Markdown show the hazards, the key facts and
 * the brief ("do now"), then the notes and needs, and the whole phased plan
 * only with RELIEF_RENDER_FULL; JSON always holds everything. Returns a
 * malloc'd NUL-terminated string the caller frees, or NULL when memory
 * runs out. */
char *relief_plan_render(const relief_plan *plan, relief_format fmt, int flags);

#ifdef __cplusplus
}
#endif
#endif
