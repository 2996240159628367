/*
 * i18n.h - plans in the reporter's language: the plan languages, the
 * [strings] of kb/lang/CODE.kb the renderer and planner write with, the
 * numbers a translation must keep, and numbers written the way each
 * language writes them. Data only lives in the kb; this names it.
 */
#ifndef RELIEF_I18N_H
#define RELIEF_I18N_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* Plan languages: index 0 is English, 1 + k is kb_tr_langs[k] (es, fr, pt). */
#define I18N_LANGS 4

/* The keys of [strings] (docs/kb-format.md, "Translations"). The English
 * text of each is in kb/lang/en.kb; X(ENUM, "key"). */
#define I18N_STRINGS(X)                                                          \
    X(S_TITLE, "plan.title")                                                     \
    X(S_SUBTITLE, "plan.subtitle")                                               \
    X(S_TITLE_MD, "plan.title_md")                                               \
    X(S_HAZARDS, "hazards")                                                      \
    X(S_HAZARDS_NONE, "hazards.none")                                            \
    X(S_SECONDARY, "hazards.secondary")                                          \
    X(S_WHY, "explain.why")                                                      \
    X(S_FACTS, "facts")                                                          \
    X(S_FACTS_HEADING, "facts.heading")                                          \
    X(S_FACTS_NONE, "facts.none")                                                \
    X(S_FACTS_NOTHING, "facts.nothing")                                          \
    X(S_FACT_TIME, "fact.time")                                                  \
    X(S_FACT_PEOPLE, "fact.people")                                              \
    X(S_FACT_PEOPLE_HH, "fact.people_households")                                \
    X(S_FACT_INJURED, "fact.injured")                                            \
    X(S_FACT_DEAD, "fact.dead")                                                  \
    X(S_FACT_MISSING, "fact.missing")                                            \
    X(S_FACT_TRAPPED, "fact.trapped")                                            \
    X(S_FACT_UNKNOWN, "fact.unknown")                                            \
    X(S_FACT_PLACE, "fact.place")                                                \
    X(S_FACT_ADDRESS, "fact.address")                                            \
    X(S_FACT_COORDS, "fact.coordinates")                                         \
    X(S_FACT_VULNERABLE, "fact.vulnerable")                                      \
    X(S_FACT_INFRA, "fact.infrastructure")                                       \
    X(S_FACT_RESOURCE, "fact.resource")                                          \
    X(S_FACT_COASTAL, "fact.coastal")                                            \
    X(S_KEY_BEFORE_IMPACT, "key.before_impact")                                  \
    X(S_KEY_COUNT, "key.count")                                                  \
    X(S_KEY_UNKNOWN, "key.unknown")                                              \
    X(S_KEY_INFRA, "key.infrastructure")                                         \
    X(S_WORD_PEOPLE, "word.people")                                              \
    X(S_WORD_INJURED, "word.injured")                                            \
    X(S_WORD_DEAD, "word.dead")                                                  \
    X(S_WORD_MISSING, "word.missing")                                            \
    X(S_WORD_TRAPPED, "word.trapped")                                            \
    X(S_GROUP_CHILDREN, "group.children")                                        \
    X(S_GROUP_ELDERLY, "group.elderly")                                          \
    X(S_GROUP_PATIENTS, "group.patients")                                        \
    X(S_GROUP_DISABLED, "group.disabled")                                        \
    X(S_GROUP_PREGNANT, "group.pregnant")                                        \
    X(S_GROUP_HOMELESS, "group.homeless")                                        \
    X(S_GROUP_PRISONERS, "group.prisoners")                                      \
    X(S_INFRA_POWER, "infra.power")                                              \
    X(S_INFRA_WATER, "infra.water")                                              \
    X(S_INFRA_ROADS, "infra.roads")                                              \
    X(S_INFRA_BRIDGES, "infra.bridges")                                          \
    X(S_INFRA_COMMS, "infra.comms")                                              \
    X(S_INFRA_HOSPITAL, "infra.hospital")                                        \
    X(S_ROLE_COMMAND, "role.command")                                            \
    X(S_ROLE_OPERATIONS, "role.operations")                                      \
    X(S_ROLE_LOGISTICS, "role.logistics")                                        \
    X(S_ROLE_PLANNING, "role.planning")                                          \
    X(S_ROLE_PUBLIC_INFO, "role.public_info")                                    \
    X(S_ROLE_MEDICAL, "role.medical")                                            \
    X(S_ROLE_PUBLIC, "role.public")                                              \
    X(S_PHASE_IMMEDIATE, "phase.immediate")                                      \
    X(S_PHASE_2H, "phase.2h")                                                    \
    X(S_PHASE_24H, "phase.24h")                                                  \
    X(S_PHASE_72H, "phase.72h")                                                  \
    X(S_PHASE_RECOVERY, "phase.recovery")                                        \
    X(S_HZ_WILDFIRE, "hazard.wildfire")                                          \
    X(S_HZ_STRUCTURE_FIRE, "hazard.structure_fire")                              \
    X(S_HZ_FLOOD, "hazard.flood")                                                \
    X(S_HZ_TROPICAL_CYCLONE, "hazard.tropical_cyclone")                          \
    X(S_HZ_TORNADO, "hazard.tornado")                                            \
    X(S_HZ_SEVERE_STORM, "hazard.severe_storm")                                  \
    X(S_HZ_WINTER_STORM, "hazard.winter_storm")                                  \
    X(S_HZ_EXTREME_HEAT, "hazard.extreme_heat")                                  \
    X(S_HZ_EARTHQUAKE, "hazard.earthquake")                                      \
    X(S_HZ_TSUNAMI, "hazard.tsunami")                                            \
    X(S_HZ_LANDSLIDE, "hazard.landslide")                                        \
    X(S_HZ_VOLCANO, "hazard.volcano")                                            \
    X(S_HZ_DROUGHT, "hazard.drought")                                            \
    X(S_HZ_EPIDEMIC, "hazard.epidemic")                                          \
    X(S_HZ_HAZMAT, "hazard.hazmat")                                              \
    X(S_HZ_RADIOLOGICAL, "hazard.radiological")                                  \
    X(S_HZ_EXPLOSION, "hazard.explosion")                                        \
    X(S_HZ_BUILDING_COLLAPSE, "hazard.building_collapse")                        \
    X(S_HZ_TRANSPORT_ACCIDENT, "hazard.transport_accident")                      \
    X(S_HZ_VIOLENCE, "hazard.violence")                                          \
    X(S_HZ_POWER_OUTAGE, "hazard.power_outage")                                  \
    X(S_HZ_DAM_FAILURE, "hazard.dam_failure")                                    \
    X(S_BRIEF, "brief.heading")                                                  \
    X(S_BRIEF_CAPS, "brief.heading_caps")                                        \
    X(S_BRIEF_STEP, "brief.step")                                                \
    X(S_SOURCE, "step.source")                                                   \
    X(S_NOTE, "step.note")                                                       \
    X(S_FULL_MORE, "plan.more")                                                  \
    X(S_NEEDS_HEADING, "needs.heading")                                          \
    X(S_NEEDS_ITEM, "needs.item")                                                \
    X(S_NEEDS_AMOUNT, "needs.amount")                                            \
    X(S_NEEDS_BASIS, "needs.basis")                                              \
    X(S_NEEDS_STANDARD, "needs.standard")                                        \
    X(S_NEEDS_ASSUMPTIONS, "needs.assumptions")                                  \
    X(S_NEEDS_FROM_HH, "needs.from_households")                                  \
    X(S_NEEDS_HOUSEHOLDS, "needs.households")                                    \
    X(S_PER_PERSON, "per.person")                                                \
    X(S_PER_PEOPLE, "per.people")                                                \
    X(S_PER_HOUSEHOLD, "per.household")                                          \
    X(S_PER_HOUSEHOLDS, "per.households")                                        \
    X(S_PER_DAY, "per.day")                                                      \
    X(S_PER_MONTH, "per.month")                                                  \
    X(S_DUR_MIN, "duration.min")                                                 \
    X(S_DUR_H, "duration.h")                                                     \
    X(S_DUR_DAYS, "duration.days")                                               \
    X(S_DUR_MINUTES, "duration.minutes")                                         \
    X(S_DUR_HOURS, "duration.hours")                                             \
    X(S_NOTE_NO_HAZARD, "note.no_hazard")                                        \
    X(S_NOTE_CALL, "note.call")                                                  \
    X(S_NOTE_TIME_SHORT, "note.time_short")                                      \
    X(S_NOTE_NO_PEOPLE, "note.no_people")                                        \
    X(S_NOTE_WAITS, "note.waits")                                                \
    X(S_NOTE_SECONDARY, "note.secondary")                                        \
    X(S_NOTE_MOVED, "note.moved")                                                \
    X(S_NOTE_GROUP, "note.group")                                                \
    X(S_MODEL_HEADING, "model.heading")                                          \
    X(S_MODEL_NONE, "model.none")                                                \
    X(S_MODEL_READING, "model.reading")                                          \
    X(S_LANG_FALLBACK, "lang.fallback")

#define I18N_ENUM(e, k) e,
typedef enum { I18N_STRINGS(I18N_ENUM) S_COUNT } i18n_string;
#undef I18N_ENUM

/* The [strings] key of s ("plan.title"); "?" when out of range. */
const char *i18n_key(int s);
/* The string for a key, or -1 when [strings] has no such key. */
int i18n_from_key(const char *key);
/* Strings written only in English whatever the plan's language: the
 * notice that a language has no complete translation is for whoever
 * cannot read that language's plan. Their translations are not required. */
bool i18n_english_only(int s);

/* Plan language index of a code: 0 "en", 1 + k for kb_tr_langs[k], -1 for
 * any other code (including NULL). */
int i18n_lang_index(const char *code);
/* The code of a plan language index ("en" for 0 or out of range). */
const char *i18n_lang_code(int li);

/* The numbers a text carries, as a list a translation must match: values
 * read the way language li writes them (English: 2.5 and 15,000; es, pt:
 * 2,5 and 15.000; fr: 2,5 and "15 000"; 1000 everywhere), and designations
 * kept verbatim (N95, H5N1, 1:10, 24/7). Returns a malloc'd text "[2.5,
 * 15000, N95]" in a canonical order (equal lists are equal strings), or
 * NULL when memory runs out. */
char *i18n_numbers(const char *text, int li);

/* True when a and b use the same set of {name} placeholders. */
bool i18n_same_placeholders(const char *a, const char *b);

/* Writes tmpl to b with each {name} replaced by the value of the same name
 * in names/values (n pairs); an unknown {name} is written as it stands. */
void i18n_expand(strbuf *b, const char *tmpl, const char *const *names, const char *const *values, size_t n);

/* Formats v the way language li writes numbers: thousands grouped (15,000
 * en; 15.000 es, pt; 15 000 fr) and the decimal point or comma (2.5 / 2,5).
 * decimals >= 0: at most that many decimals, trailing zeros dropped (a
 * whole v has none); decimals < 0: exactly -decimals of them ("2.0"). */
void i18n_format_number(char *out, size_t cap, double v, int decimals, int li);

#endif
