/*
 * backend.h - the interface every model backend implements for the hybrid
 * responder: chat messages in, final-channel text streamed out, under an
 * absolute deadline and a cancellation flag. Messages carry a
 * relief_chat_role; each backend maps the roles to its own format.
 */
#ifndef RELIEF_BACKEND_H
#define RELIEF_BACKEND_H

#include "relief/hybrid.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    double deadline;            /* absolute, relief_llm_now() clock (CLOCK_MONOTONIC seconds); 0 = none */
    const atomic_int *cancel;   /* non-zero stops; NULL = never */
    int max_tokens;
    float temperature;          /* < 0: backend default */
    float top_p;                /* <= 0: backend default */
    bool has_seed;
    uint64_t seed;
    const char *const *stop;    /* stop sequences for a remote server (the responder also applies them) */
    size_t n_stop;
    const char *reasoning;      /* "low", "medium", "high" */
    bool final_only;            /* skip the analysis channel where the backend can */
    bool persist_prefix;        /* keep the prompt prefix's state on disk (the responder's own prompts) */
    bool prefix_unbounded;      /* compute an uncached prefix to its end whatever the deadline, which then
                                   counts from when the prefix is ready (a caller that waits anyway) */
    /* Reading the prompt: the share of the tokens to evaluate done so far,
     * in whole-percent steps, before the first token is generated. NULL = none. */
    void (*on_progress)(double done, void *user);
    void *progress_user;
} backend_opts;

typedef struct {
    size_t n_tokens;            /* tokens generated (remote: the server's usage count, else content pieces) */
    size_t prompt_tokens;       /* the prompt's tokens as the model read it; 0 when unknown */
    bool complete;              /* the answer ended normally */
    bool cut;                   /* stopped by the deadline */
    bool prefix_cached;         /* the prompt's prefix came from a snapshot */
    size_t prompt_cached;       /* prompt tokens it stood for (0 when none) */
    const char *error;          /* static string, or NULL */
    double ttft;                /* seconds from call to first text; < 0 none */
    double first_token;         /* seconds from call to the first generated token, whatever its
                                   channel (the engine's latency; remote: as ttft); < 0 none */
} backend_result;

/* Text callback: whole UTF-8 characters; return non-zero to stop. */
typedef int (*backend_text_fn)(const char *text, size_t len, void *user);

typedef struct backend backend;
struct backend {
    const char *name;           /* "builtin:PATH", "remote:URL" */
    /* Streams the answer to msgs. Returns 0 when text was produced or the
     * stop was orderly (deadline/cancel: see res), -1 on a backend failure
     * (res->error says why). Must return within about 100 ms of the deadline. */
    int (*chat)(backend *b, const relief_chat_message *msgs, size_t n, const backend_opts *o, backend_text_fn fn,
                void *user, backend_result *res);
    /* Computes and keeps the snapshot of the prompt prefix a developer
     * message makes (when it is not kept already), giving way to requests.
     * Returns 1 when computed, 0 when it was kept already (*was_cached) or
     * stop was raised, -1 on failure; *n_tokens: the prefix's length. NULL
     * for backends without a cache of their own. */
    int (*warm)(backend *b, const char *developer, const atomic_int *stop, size_t *n_tokens, bool *was_cached);
    void (*destroy)(backend *b);
};

/* Remote OpenAI-compatible server (libcurl, streaming). base_url such as
 * "http://127.0.0.1:8080"; "/v1/chat/completions" is appended. NULL with a
 * message on error (bad URL). */
backend *backend_remote_new(const char *base_url, const char *model, const char *token, char *err, size_t cap);

/* Built-in engine (src/hybrid/builtin.c). */
backend *backend_builtin_new(const relief_hybrid_config *cfg, const char *fixed_system, const char *fixed_developer,
                             char *err, size_t cap);

#endif
