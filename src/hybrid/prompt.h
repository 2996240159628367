/* prompt.h - the model's prompt for a plan: a developer message per hazard set (cacheable), a user message per report. */
#ifndef RELIEF_PROMPT_H
#define RELIEF_PROMPT_H

#include "relief/guide.h"

#include <stdint.h>
#include <stdlib.h>

/* The plan's hazards that shape the cached prompt: bit h for each hazard
 * detected as a primary (not a possible secondary). Never fails. */
uint32_t prompt_hazard_set(const relief_plan *p);

/* The developer message for a hazard set: the fixed instructions, then for
 * each hazard its first-30-minute brief candidates labelled "[flood 3]".
 * Depends on nothing else, so every report of those hazards shares it.
 * Returns a malloc'd string (caller frees), NULL when memory runs out. */
char *prompt_developer(const relief_kb *kb, uint32_t hazards);

/* The user message for a plan: the report (cut at 4,000 bytes), the facts,
 * and the brief, naming candidates of prompt_developer(kb, hazards) by label
 * and other steps in full. Returns a malloc'd string, NULL when memory runs
 * out. */
char *prompt_user(const relief_kb *kb, const relief_plan *p, uint32_t hazards);

#endif
