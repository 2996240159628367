/*
 * text.h - splits report text into normalised word and number tokens.
 *
 * Shared by detection (cue matching) and fact extraction. Each token keeps
 * the byte span it came from, so every fact can point back into the report.
 * Words are case-folded and stripped of accents ("Inundación" -> "inundacion")
 * with utf8proc; invalid UTF-8 bytes are treated as separators.
 */
#ifndef RELIEF_TEXT_H
#define RELIEF_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TOK_WORD, TOK_NUMBER } tok_kind;

typedef struct {
    size_t start, end;       /* byte span in the source */
    size_t norm;             /* offset of the NUL-terminated form in list->norm */
    uint32_t norm_len;
    uint32_t sentence;       /* index of the sentence the token is in */
    uint8_t kind;            /* tok_kind */
    bool hashtag;            /* word came right after '#' */
    bool glued;              /* no blank between previous token and this one */
    bool capital;            /* original starts with an upper-case letter */
    bool corrected;          /* norm is a cue word the original was read as (speller.c) */
    char sep;                /* last non-blank char between previous token and this ('\0' if none) */
    double num;              /* value of a TOK_NUMBER */
} token;

typedef struct {
    token *tok;
    size_t n, cap;
    char *norm;
    size_t norm_len, norm_cap;
} token_list;

/* Tokenises len bytes of s (any bytes). Returns 0, or -1 when memory runs
 * out (the list then holds what was tokenised so far). The list must be
 * zero-initialised before the first call and released with
 * token_list_free(). */
int text_tokenize(const char *s, size_t len, token_list *out);
void token_list_free(token_list *l);

static inline const char *tok_str(const token_list *l, size_t i)
{
    return l->norm + l->tok[i].norm;
}

/* Normalises a kb phrase word the same way as report text into buf
 * (NUL-terminated, truncated to cap). Returns the length written. */
size_t text_fold_word(const char *s, size_t len, char *buf, size_t cap);

#endif
