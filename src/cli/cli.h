/*
 * cli.h - shared pieces of the relief command line.
 */
#ifndef RELIEF_CLI_H
#define RELIEF_CLI_H

#include "relief/guide.h"
#include <stdbool.h>
#include <stdio.h>

/* Exit codes (documented in the README and the man page). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,   /* failure: unreadable or empty report, bad kb, failed write, out of memory */
    EXIT_USAGE = 2,  /* bad command line */
    EXIT_MODEL = 3,  /* the plan was written, but the model backend is unavailable */
};

/* relief cache ls|clear [--cache-dir DIR] (cache_cmd.c). */
int cli_cache(int argc, char **argv);

/* relief eval FILE.jsonl: prints per-hazard precision/recall/F1 and a last
 * line "macro-F1: 0.xxx". Returns an exit code. */
int cli_eval(const relief_kb *kb, const char *path, FILE *out);

/* Engine tools (llm_cmds.c); argv excludes the command name. */
int cli_model_info(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_chat(int argc, char **argv);

/* LoRA options shared by logits, chat and bench (llm_cmds.c): loads every
 * "--lora FILE_OR_DIR[:SCALE]" of argv for model m and attaches them, in
 * order, to c. Returns the number of adapters (stored in *out, freed with
 * cli_loras_free after the context) or -1 after printing the error.
 * verbose: describe each adapter on stderr. */
struct relief_model;
struct relief_llm_ctx;
struct relief_lora;
int cli_loras_attach(const struct relief_model *m, struct relief_llm_ctx *c, int argc, char **argv, bool verbose,
                     struct relief_lora ***out);
void cli_loras_free(struct relief_lora **l, int n);
/* Checks one --lora value before any model is loaded; prints why not. */
bool cli_lora_spec_ok(const char *spec);
/* relief bench --ttft (src/cli/bench_ttft.c): time to the model's first words. */
int cli_bench_ttft(int argc, char **argv);
/* relief warm (src/cli/warm.c): precompute the model's prompt prefixes. */
int cli_warm(int argc, char **argv);
/* If arg is --exact or --q8, chooses that numeric path for the contexts
 * created afterwards (the engine reads RELIEF_EXACT / RELIEF_Q8 when a
 * context is made, src/llm/forward.c) and returns true; false otherwise. */
bool cli_numerics_flag(const char *arg);
/* The numeric path contexts created now will take: "exact", "q8" or "q8x2". */
const char *cli_numerics(void);

#endif
