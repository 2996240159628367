/*
 * tokenizer.h - byte-level BPE tokenizer of gpt-oss (o200k_harmony) read
 * from GGUF tokenizer metadata: the o200k pre-tokenizer split (PCRE2),
 * merges by rank, special tokens found by name, and a streaming decoder
 * that never emits a partial UTF-8 sequence.
 */
#ifndef RELIEF_TOKENIZER_H
#define RELIEF_TOKENIZER_H

#include "gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct relief_tokenizer relief_tokenizer;

/* Builds a tokenizer from tokenizer.ggml.{model,pre,tokens,token_type,merges}
 * of f. The tokenizer copies what it needs; f may be closed afterwards.
 * Returns NULL and writes a message naming the key on error. */
relief_tokenizer *tok_load(const gguf_file *f, char *err, size_t cap);
void tok_free(relief_tokenizer *t);

size_t tok_vocab_size(const relief_tokenizer *t);

/* Encodes len bytes of text (any bytes; invalid UTF-8 is encoded byte by
 * byte). With special = true, the text of control tokens ("<|start|>") in
 * the input becomes those tokens; otherwise it is ordinary text. On success
 * returns 0 and sets *ids (malloc'd, caller frees) and *n; -1 on OOM. */
int tok_encode(const relief_tokenizer *t, const char *text, size_t len, bool special, int32_t **ids, size_t *n);

/* Id of a token given its exact text ("<|start|>"), or -1. */
int32_t tok_find(const relief_tokenizer *t, const char *text);

/* The raw bytes a token stands for (byte-level decoded), or NULL for an
 * out-of-range id. Control tokens return their text. */
const char *tok_bytes(const relief_tokenizer *t, int32_t id, size_t *len);

/* Streaming decoder: feed ids one at a time; complete UTF-8 characters are
 * written to out (at most cap bytes; a token's bytes are at most cap-4 in
 * practice, 256 is always enough) and the count returned. Incomplete
 * sequences are held until the next call; tok_decoder_flush emits what is
 * held as U+FFFD. */
typedef struct {
    unsigned char pending[8];
    size_t n_pending;
} tok_decoder;

size_t tok_decode_next(const relief_tokenizer *t, tok_decoder *d, int32_t id, char *out, size_t cap);
size_t tok_decoder_flush(tok_decoder *d, char *out, size_t cap);

#endif
