/*
 * formats_cli.c - the command line's options and I/O for CAP alerts and
 * the ICS 201 briefing (formats_cli.h); src/cli/main.c only calls in.
 */
#include "cli/formats_cli.h"
#include "cli/cli.h"
#include "formats/ics201.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_formats_usage[] =
    "  --format cap            a CAP 1.2 alert draft (XML) for the public-information part of the plan\n"
    "  --format ics201         the ICS 201 Incident Briefing as printable HTML (one page); ics201-json: as JSON\n"
    "  --cap FILE.xml          the report is a CAP alert (FILE or - for stdin): event, headline, description,\n"
    "                          instruction, areaDesc; time available from onset/expires against sent\n"
    "  --cap-status STATUS     CAP status: draft (default), actual, exercise, system, test\n"
    "  --cap-sender ID         CAP sender (default $RELIEF_CAP_SENDER, else relief@localhost)\n"
    "  --cap-web URL, --cap-contact TEXT   CAP web and contact (default $RELIEF_CAP_WEB, $RELIEF_CAP_CONTACT)\n";

bool cli_formats_format(const char *v, cli_formats *fo)
{
    int k = formats_from_name(v);
    if (k != FORMATS_NONE)
        fo->kind = k;
    return k != FORMATS_NONE;
}

int cli_formats_option(int argc, char **argv, int *i, cli_formats *fo)
{
    const char *a = argv[*i];
    static const char *const names[] = {"--cap", "--cap-status", "--cap-sender", "--cap-web", "--cap-contact"};
    size_t which = sizeof names / sizeof *names;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!strcmp(a, names[k]))
            which = k;
    if (which == sizeof names / sizeof *names || *i + 1 >= argc)
        return 0;
    const char *v = argv[++*i];
    switch (which) {
    case 0:
        fo->cap_file = v;
        break;
    case 1:
        if (!(fo->cap.status = cap_status_name(v))) {
            fprintf(stderr, "relief: --cap-status must be draft, actual, exercise, system or test, not '%s'\n", v);
            return -1;
        }
        break;
    case 2:
        if (!cap_token_ok(v)) {
            fprintf(stderr, "relief: --cap-sender must be printable ASCII without spaces, commas, '<' or '&' "
                            "(e.g. ops@county.example.org)\n");
            return -1;
        }
        fo->cap.sender = v;
        break;
    case 3:
        fo->cap.web = v;
        break;
    default:
        fo->cap.contact = v;
        break;
    }
    return 1;
}

int cli_formats_read_cap(const char *path, char **text, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "relief: cannot read the CAP alert '%s': %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    /* One byte past the limit tells "too large" from "exactly the limit". */
    char *buf = malloc(CAP_MAX_BYTES + 1);
    size_t n = 0;
    if (buf) {
        size_t got;
        while (n <= CAP_MAX_BYTES && (got = fread(buf + n, 1, CAP_MAX_BYTES + 1 - n, f)) > 0)
            n += got;
    }
    bool bad = !buf || ferror(f);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (bad) {
        fprintf(stderr, "relief: cannot read the CAP alert '%s': %s\n", path, buf ? strerror(saved) : "out of memory");
        free(buf);
        return EXIT_FAIL;
    }
    cap_report r;
    char err[300];
    int rc = cap_read(buf, n, &r, err, sizeof err);
    free(buf);
    if (rc < 0) {
        fprintf(stderr, "relief: %s: %s\n", path, err);
        return EXIT_FAIL;
    }
    *text = r.report;
    *len = r.len;
    r.report = NULL;
    cap_report_free(&r);
    return EXIT_OK;
}

int cli_formats_print(const relief_kb *kb, const relief_plan *plan, const cli_formats *fo, const relief_options *ro)
{
    char err[300];
    char *s = formats_render(kb, plan, fo->kind, ro, &fo->cap, err, sizeof err);
    if (!s) {
        fprintf(stderr, "relief: %s\n", err);
        return EXIT_FAIL;
    }
    fputs(s, stdout);
    if (fo->kind == FORMATS_ICS201_JSON)
        fputc('\n', stdout);
    free(s);
    fflush(stdout);
    return EXIT_OK;
}
