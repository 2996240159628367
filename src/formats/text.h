/*
 * text.h - what the output formats of src/formats share: report text made
 * safe for XML and HTML, hazard titles, numbers, times.
 */
#ifndef RELIEF_FORMATS_TEXT_H
#define RELIEF_FORMATS_TEXT_H

#include "relief/guide.h"
#include "util/strbuf.h"

#include <stddef.h>

/* Appends len bytes of s (any bytes) to b as text any XML 1.0 document can
 * hold: invalid UTF-8 becomes U+FFFD, control characters other than tab
 * and newline become spaces, as do C1 controls; U+FFFE and U+FFFF become
 * U+FFFD. At most max bytes are appended: longer text is cut at a
 * character boundary and ends with "..." (within max). */
void formats_clean(strbuf *b, const char *s, size_t len, size_t max);

/* Appends s (a NUL-terminated string, cleaned as by formats_clean) with
 * the five characters HTML gives meaning to escaped. */
void formats_html(strbuf *b, const char *s);

/* The hazard's display name from the kb in plan language lang ("en", "es";
 * English when the kb has none in lang), up to its parenthesis ("Flood
 * (riverine, flash, urban)" gives "Flood"): appended to b; the taxonomy
 * id when the kb has no name. */
void formats_hazard_title(strbuf *b, const relief_kb *kb, int hazard, const char *lang);

/* A count as language lang writes it ("3,000" en, "3.000" es, "3 000" fr);
 * values of 100 or more, and whole values, are rounded to an integer. */
void formats_amount(strbuf *b, double v, const char *lang);

/* A duration in words of lang (kb [strings] duration.*): "45 min", "2.0 h",
 * "3.0 days". */
void formats_duration(strbuf *b, const relief_kb *kb, double seconds, const char *lang);

/* The report's own text of a span, cleaned (formats_clean), at most max
 * bytes; nothing for a span outside the report. */
void formats_span(strbuf *b, const relief_plan *p, relief_span sp, size_t max);

/* The report's facts in one paragraph ("Time available: 2.0 h. People
 * affected: 3,000. Trapped: 2. ..."), each with the number the report
 * gave, in language lang (kb [strings]); nothing when it states none. */
void formats_facts(strbuf *b, const relief_kb *kb, const relief_plan *p, const char *lang);

/* The agency of a step's source: its text up to the first ',', ';' or
 * " (" ("NWS Chicago, hydrology ..." gives "NWS Chicago"), at most max
 * bytes (formats_clean). */
void formats_agency(strbuf *b, const char *source, size_t max);

#endif
