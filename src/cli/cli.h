/*
 * cli.h - shared pieces of the relief command line.
 */
#ifndef RELIEF_CLI_H
#define RELIEF_CLI_H

#include "relief/guide.h"
#include <stdio.h>

/* Exit codes (documented in the README and the man page). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,   /* runtime failure: unreadable input, bad kb, out of memory */
    EXIT_USAGE = 2,  /* bad command line */
};

/* relief eval FILE.jsonl: prints per-hazard precision/recall/F1 and a last
 * line "macro-F1: 0.xxx". Returns an exit code. */
int cli_eval(const relief_kb *kb, const char *path, FILE *out);

/* Engine tools (llm_cmds.c); argv excludes the command name. */
int cli_model_info(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_chat(int argc, char **argv);

#endif
