/*
 * ics201.h - the ICS 201 Incident Briefing, the form the first hour of an
 * incident is handed over on, filled from a plan as far as a plan can:
 * printable HTML (one A4 or Letter page) and JSON. Fields a plan cannot
 * know (the map, names, signatures) stay blank for the hand. Field
 * mapping: docs/formats.md.
 */
#ifndef RELIEF_FORMATS_ICS201_H
#define RELIEF_FORMATS_ICS201_H

#include "relief/guide.h"

#define ICS201_JSON_SCHEMA "relief.ics201/1"

/* The form as an HTML document (self-contained: no script, no external
 * resource; a print stylesheet that keeps it on one page). now is the
 * time prepared (Unix; 0: the clock), shown in local time. Returns a
 * malloc'd string the caller frees, or NULL when memory runs out. */
char *ics201_html(const relief_kb *kb, const relief_plan *plan, long long now);

/* The same fields as JSON (schema "relief.ics201/1", documented in
 * docs/formats.md); blank fields are null. Returns a malloc'd string the
 * caller frees, or NULL when memory runs out. */
char *ics201_json(const relief_kb *kb, const relief_plan *plan, long long now);

#endif
