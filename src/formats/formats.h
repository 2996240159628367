/*
 * formats.h - the field's own formats beside relief's text, Markdown and
 * JSON: CAP 1.2 alerts (cap.h) and the ICS 201 Incident Briefing
 * (ics201.h), by name, for the command line and the service.
 */
#ifndef RELIEF_FORMATS_FORMATS_H
#define RELIEF_FORMATS_FORMATS_H

#include "formats/cap.h"
#include "relief/guide.h"

#include <stddef.h>

enum { FORMATS_NONE, FORMATS_CAP, FORMATS_ICS201, FORMATS_ICS201_JSON };

/* The format named "cap", "ics201" or "ics201-json", or FORMATS_NONE. */
int formats_from_name(const char *name);

/* The media type of a format's output ("application/cap+xml"). */
const char *formats_content_type(int kind);

/* Writes plan (built from its report with ro) in format kind: for CAP, one
 * info block per language the plan can be written in (each language's
 * plan is built here from the same report). co may be NULL (defaults).
 * Returns the document (malloc'd; the caller frees), or NULL with a
 * message in err (cap bytes): a bad CAP option, or out of memory. */
char *formats_render(const relief_kb *kb, const relief_plan *plan, int kind, const relief_options *ro,
                     const cap_write_options *co, char *err, size_t cap);

#endif
