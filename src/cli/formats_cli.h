/*
 * formats_cli.h - the command line's side of the field's formats
 * (src/formats): `--format cap|ics201|ics201-json`, `--cap FILE.xml` and
 * the CAP output options.
 */
#ifndef RELIEF_CLI_FORMATS_H
#define RELIEF_CLI_FORMATS_H

#include "formats/formats.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int kind;               /* FORMATS_*; FORMATS_NONE: relief's own text, md or json */
    const char *cap_file;   /* --cap FILE ("-": stdin): the report is this CAP alert */
    cap_write_options cap;  /* --cap-status, --cap-sender, --cap-web, --cap-contact */
} cli_formats;

/* Usage lines for relief --help (options of the field's formats). */
extern const char cli_formats_usage[];

/* For --format V: true (and fo->kind set) when V names one of these formats. */
bool cli_formats_format(const char *v, cli_formats *fo);

/* Takes argv[*i] when it is --cap, --cap-status, --cap-sender, --cap-web or
 * --cap-contact with its value (advancing *i). Returns 1 when taken, 0
 * when the option is not one of them, -1 on a bad value (message printed:
 * a usage error). */
int cli_formats_option(int argc, char **argv, int *i, cli_formats *fo);

/* Reads the CAP alert of path ("-": stdin) into report text (*text
 * malloc'd, the caller frees). Returns 0, or EXIT_FAIL with the reason on
 * stderr (unreadable, too large, not a valid CAP alert). */
int cli_formats_read_cap(const char *path, char **text, size_t *len);

/* Writes plan in fo->kind to stdout. Returns 0, or EXIT_FAIL with the
 * reason on stderr (out of memory, a CAP option the writer refused). */
int cli_formats_print(const relief_kb *kb, const relief_plan *plan, const cli_formats *fo, const relief_options *ro);

#endif
