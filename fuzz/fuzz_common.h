/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in fuzz/: the
 * tiny test vocabulary loaded once per process, and a data cursor that
 * splits one fuzz input into parameters and payload.
 *
 * The vocabulary (a whole tiny model, also loaded as one for the adapter
 * paths) comes from RELIEF_FUZZ_VOCAB, else the default
 * tests/data/oracle/tiny/tiny-f32.gguf relative to the working directory
 * (the repository root under `make fuzz`). A missing vocabulary aborts the
 * fuzzer at start-up with a message: a fuzzer that silently tests nothing
 * would be worse.
 */
#ifndef RELIEF_FUZZ_COMMON_H
#define RELIEF_FUZZ_COMMON_H

#include "llm/gguf.h"
#include "llm/tokenizer.h"
#include "relief/llm.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_DEFAULT_VOCAB "tests/data/oracle/tiny/tiny-f32.gguf"

/* Loads the tokenizer of the vocabulary file once; never returns NULL. */
static inline relief_tokenizer *fuzz_vocab(void)
{
    static relief_tokenizer *tok;
    if (tok)
        return tok;
    const char *path = getenv("RELIEF_FUZZ_VOCAB");
    if (!path || !*path)
        path = FUZZ_DEFAULT_VOCAB;
    char err[512];
    gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "fuzz: cannot open the vocabulary (set RELIEF_FUZZ_VOCAB): %s\n", err);
        abort();
    }
    tok = tok_load(g, err, sizeof err);
    gguf_close(g);
    if (!tok) {
        fprintf(stderr, "fuzz: %s: %s\n", path, err);
        abort();
    }
    return tok;
}

/* The vocabulary file loaded as a model (the tiny oracle is a whole
 * model), once, for the adapter paths; never returns NULL. */
static inline relief_model *fuzz_model(void)
{
    static relief_model *m;
    if (m)
        return m;
    const char *path = getenv("RELIEF_FUZZ_VOCAB");
    if (!path || !*path)
        path = FUZZ_DEFAULT_VOCAB;
    char err[512];
    relief_model_params params = {.quiet = true, .no_warmup = true};
    m = relief_model_load(path, &params, err, sizeof err);
    if (!m) {
        fprintf(stderr, "fuzz: cannot load the model (set RELIEF_FUZZ_VOCAB): %s\n", err);
        abort();
    }
    return m;
}

/* With RELIEF_FUZZ_VERBOSE set, prints why an input was refused (to see
 * what seeds reach); otherwise silent. */
static inline void fuzz_note(const char *what, const char *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("RELIEF_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%s: %s\n", what, err);
}

/* Reads parameters off the front of an input; past the end it yields 0. */
typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_cursor;

static inline uint8_t fuzz_u8(fuzz_cursor *c)
{
    if (!c->n)
        return 0;
    c->n--;
    return *c->p++;
}

static inline uint16_t fuzz_u16(fuzz_cursor *c)
{
    uint16_t lo = fuzz_u8(c);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(c) << 8);
}

#endif
