/*
 * relief/hybrid.h - the hybrid responder: the protocol plan at once, then a
 * model's elaboration streamed under a hard deadline.
 *
 * Two steps: relief_hybrid_plan() builds the protocol plan (no model work,
 * never waits); the caller shows it, decides whether the model may run
 * (a server admits the request to its model here), and then
 * relief_hybrid_elaborate() streams the model's text (the final channel)
 * to on_text until it ends or the deadline passes; the result says whether
 * it was complete or cut. relief_hybrid_respond() is the two in a row, for
 * callers with nothing to do between them. relief_hybrid_result_json()
 * writes a result's model part the same way for every surface.
 *
 * Backends: the built-in engine (a gpt-oss GGUF file), a remote
 * OpenAI-compatible chat-completions server over HTTP (Ollama, vLLM,
 * llama-server, another relief), or none.
 *
 * Thread safety: a relief_hybrid may be used by several threads at once;
 * generations on the built-in engine are serialised per context internally
 * (see relief_hybrid_config.max_parallel).
 */
#ifndef RELIEF_HYBRID_H
#define RELIEF_HYBRID_H

#include "relief/guide.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { RELIEF_BACKEND_NONE, RELIEF_BACKEND_BUILTIN, RELIEF_BACKEND_REMOTE } relief_backend_kind;

typedef struct {
    relief_backend_kind kind;
    const char *model_path;     /* BUILTIN: GGUF file */
    const char *remote_url;     /* REMOTE: base URL, e.g. "http://127.0.0.1:11434" (…/v1/chat/completions is appended) */
    const char *remote_model;   /* REMOTE: model name sent in requests (NULL: "gpt-oss") */
    const char *remote_token;   /* REMOTE: bearer token or NULL */
    const char *cache_dir;      /* BUILTIN: where the prefix cache lives (NULL: relief_cache_dir()) */
    int threads;                /* BUILTIN: 0 = one per CPU */
    unsigned ctx_len;           /* BUILTIN: context length (0: 4096) */
    const char *reasoning;      /* "low" (default), "medium", "high" */
    bool final_only;            /* open the final channel directly, skipping the analysis */
    int max_tokens;             /* 0: 512 */
    float temperature;          /* < 0: model-card default (1.0); 0: greedy */
    unsigned long long seed;
    int max_parallel;           /* BUILTIN: concurrent generations (contexts); 0: 1 */
    bool quiet;                 /* no progress bar while loading */
    const char *lora;           /* BUILTIN: LoRA adapters, "FILE_OR_DIR[:SCALE]" comma-separated (applied in
                                   order to every context; see relief_lora_load); NULL or "": none */
} relief_hybrid_config;

typedef struct relief_hybrid relief_hybrid;

/* Creates a responder. The knowledge base must outlive it. With a BUILTIN
 * backend the model is loaded and the prefix cache built or read here.
 * Returns NULL and writes a message to err on failure. */
relief_hybrid *relief_hybrid_new(const relief_kb *kb, const relief_hybrid_config *cfg, char *err, size_t cap);
/* Frees the responder and its backend (the model, its contexts and cached
 * prefixes); NULL is allowed. No call on it may be in progress. */
void relief_hybrid_free(relief_hybrid *h);

/* "builtin:FILE", "remote:URL" or "none". */
const char *relief_hybrid_backend_name(const relief_hybrid *h);

typedef struct {
    double plan_ms;             /* building the plan */
    double ttft_ms;             /* request start to first model text; < 0 when none */
    double first_token_ms;      /* request start to the model's first token, analysis included
                                   (built-in engine; remote: as ttft_ms); < 0 when none */
    double model_ms;            /* model time in all */
    double total_ms;            /* the plan's start to the model's end (waits between the steps included) */
    size_t model_tokens;        /* tokens generated */
    double tokens_per_s;
    size_t prompt_tokens;
    bool prefix_cached;         /* the prompt's prefix (instructions + the hazards' steps) came from the cache */
    size_t prompt_cached;       /* prompt tokens the cache stood for; prompt_tokens - prompt_cached were fresh */
} relief_hybrid_timings;

typedef struct {
    relief_plan *plan;          /* owned by the result */
    char *model_text;           /* final-channel text (NUL-terminated, malloc'd), NULL when no backend */
    size_t model_text_len;
    bool model_complete;        /* the model finished its answer */
    bool model_cut;             /* cut at the deadline */
    const char *model_error;    /* NULL, or why the model gave nothing (static string) */
    relief_hybrid_timings timings;
    double started;             /* private: the clock when the plan was started (for total_ms) */
} relief_hybrid_result;

typedef struct {
    double deadline_s;          /* relief_hybrid_elaborate: seconds from its call for the model (0: 5);
                                   relief_hybrid_respond: from its call, the plan included */
    int days;                   /* needs horizon (0: 3) */
    bool no_model;              /* plan only */
    const atomic_int *cancel;   /* e.g. the client went away */
    /* Called with each piece of model text (whole UTF-8 characters); return
     * non-zero to stop the model. */
    int (*on_text)(const char *text, size_t len, void *user);
    /* Called while the model reads its prompt, before its first token, with
     * the share read (0 < done <= 1, whole-percent steps); the built-in
     * engine only (remote servers do not say). May be NULL. */
    void (*on_progress)(double done, void *user);
    void *user;
    const char *lang;           /* the plan's language (relief_options.lang): NULL follows the report */
    const char *lang_reason;    /* where lang came from (relief_options.lang_reason) */
    /* Built-in engine: when the prompt's prefix for the report's hazards is
     * not cached yet, compute it whole whatever the deadline (it serves every
     * later report of those hazards), and start the deadline when it is
     * ready. For a caller that waits anyway (the CLI); a server that owes
     * its client a hard deadline leaves it false (its background warm-up
     * computes the prefixes). */
    bool prefix_unbounded;
} relief_hybrid_request;

/* Step 1: the plan for a report (req's days, lang and lang_reason; req may
 * be NULL). Needs only the knowledge base, so a caller may show the plan
 * before any backend exists. Fills *res afresh (res->plan owned by it;
 * free with relief_hybrid_result_free, also after a failure); the model
 * part stays empty ("not asked"). Returns 0, or -1 when memory runs out
 * (res->plan is then NULL). */
int relief_hybrid_plan(const relief_kb *kb, const char *report, size_t len, const relief_hybrid_request *req,
                       relief_hybrid_result *res);

/* Step 2: the model's elaboration of res->plan (built by relief_hybrid_plan),
 * under req->deadline_s from this call; fills the model part and timings
 * of *res. With no backend, or req->no_model, only says so
 * (model_error "no model backend configured", or NULL when not asked).
 * A failing backend is reported in res->model_error, not as a failure.
 * Returns 0, or -1 when res holds no plan. */
int relief_hybrid_elaborate(relief_hybrid *h, const relief_hybrid_request *req, relief_hybrid_result *res);

/* relief_hybrid_plan then relief_hybrid_elaborate, the deadline counted from
 * this call. Returns 0, or -1 only when memory runs out before the plan
 * exists. */
int relief_hybrid_respond(relief_hybrid *h, const char *report, size_t len, const relief_hybrid_request *req,
                          relief_hybrid_result *res);

/* Frees what *res owns and zeroes it; NULL and zeroed results are fine. */
void relief_hybrid_result_free(relief_hybrid_result *res);

/* How relief_hybrid_result_json writes a result. */
typedef struct {
    const char *backend;        /* relief_hybrid_backend_name(), or what the caller calls it */
    bool with_text;             /* include the model's text ("text": string or null) */
    bool withheld;              /* the model was not run for this request (e.g. the server was busy):
                                   text null, complete and cut false */
    const char *error;          /* overrides res->model_error (e.g. "busy"); NULL: the result's */
    double queue_ms;            /* time waiting for the model between the steps; < 0: not written */
} relief_hybrid_json_opts;

/* The model part of a result as two JSON members, without the braces
 * around them:
 *   "model":{["text":…,]"complete":b,"cut":b,"backend":s,"error":s|null},
 *   "timings":{"plan_ms","ttft_ms"(null when no text),"first_token_ms",
 *              "model_ms",["queue_ms",]"total_ms","tokens","prompt_tokens",
 *              "prompt_cached","tokens_per_s","prefix_cached"}
 * so that the CLI and the server write the same thing. Returns a malloc'd
 * NUL-terminated string (caller frees), or NULL when memory runs out. */
char *relief_hybrid_result_json(const relief_hybrid_result *res, const relief_hybrid_json_opts *opts);

/* ---- plain chat (the OpenAI-compatible endpoint) ---- */

/* Who wrote a chat message. Each backend maps these itself: the built-in
 * engine joins system and developer messages into harmony's developer
 * instructions; a remote server gets developer messages as "system". (Not
 * relief_role, which names a plan step's responder.) */
typedef enum {
    RELIEF_CHAT_SYSTEM,
    RELIEF_CHAT_DEVELOPER,
    RELIEF_CHAT_USER,
    RELIEF_CHAT_ASSISTANT,
} relief_chat_role;

/* The role named by an OpenAI message's "role" string ("system",
 * "developer", "user", "assistant"; exact, case-sensitive). Returns it, or
 * -1 for NULL or any other string. */
int relief_chat_role_parse(const char *name);

#define RELIEF_CHAT_MAX_STOP 4

typedef struct {
    relief_chat_role role;
    const char *content;        /* NUL-terminated; any bytes (sent on as valid UTF-8) */
} relief_chat_message;

typedef struct {
    const relief_chat_message *msgs; /* the conversation, in order; the caller's, read during the call */
    size_t n;
    double deadline_s;          /* seconds from the call for the whole answer (<= 0: 60) */
    int max_tokens;             /* tokens to generate at most (<= 0: the backend's default; built-in engine:
                                   the config's max_tokens, else 512) */
    /* Sampling, each used only when its has_ flag is set (else the
     * backend's own setting); remote servers get them as the OpenAI fields
     * of the same names. */
    bool has_temperature;
    float temperature;          /* 0 (greedy) to 2 */
    bool has_top_p;
    float top_p;                /* (0, 1]: sample from the smallest set of tokens this likely */
    bool has_seed;
    uint64_t seed;              /* the same seed and prompt give the same answer (built-in engine) */
    /* Stop sequences (at most RELIEF_CHAT_MAX_STOP, none empty): the answer
     * ends before the first of them and counts as complete. */
    const char *const *stop;
    size_t n_stop;
    /* Called with each piece of the answer (whole UTF-8 characters); return
     * non-zero to stop the model. May be NULL. */
    int (*on_text)(const char *text, size_t len, void *user);
    void *user;
} relief_chat_request;

typedef struct {
    char *text;                 /* the whole answer (final channel), malloc'd and NUL-terminated; "" when the
                                   model said nothing; NULL after a failure */
    size_t text_len;
    bool complete;              /* the model ended its answer, or a stop sequence did (false: cut by max_tokens,
                                   the deadline or on_text) */
    size_t completion_tokens;   /* tokens the model generated (remote: the server's usage count when it sends
                                   one, else the answer's non-empty pieces) */
    size_t prompt_tokens;       /* the prompt's tokens as the model read it (the built-in engine's rendered
                                   harmony prompt; remote: the server's usage count, 0 when it sends none) */
    const char *error;          /* NULL, or why the answer failed or is incomplete (static string) */
} relief_chat_result;

/* Answers a conversation through the configured backend, streaming the
 * answer to req->on_text. Fills *res (always: zeroed first); free its text
 * with relief_chat_result_free. Returns 0 when the model answered (possibly
 * incomplete, with res->error saying why), or -1 with res->error set (no
 * backend configured, out of memory, the backend failed before any text)
 * and res->text NULL. The counts are filled in either case. */
int relief_hybrid_chat(relief_hybrid *h, const relief_chat_request *req, relief_chat_result *res);

/* Frees res->text and zeroes *res. res may be NULL. */
void relief_chat_result_free(relief_chat_result *res);

/* Called by relief_hybrid_warm after each hazard: the prefix's tokens, the
 * seconds it took, and whether it was kept already. */
typedef void (*relief_warm_fn)(const char *hazard, size_t tokens, double seconds, bool was_cached, void *user);

/* Precomputes the built-in engine's prompt prefix for each single hazard
 * (memory and disk cache), so that a report's first token needs only its own
 * tokens evaluated. Gives way to requests that want the engine meanwhile,
 * and returns early when *stop becomes non-zero (stop may be NULL). Returns
 * how many prefixes were computed (0 with a remote backend or none), -1 on
 * failure (out of memory, the model failed). */
int relief_hybrid_warm(relief_hybrid *h, const atomic_int *stop, relief_warm_fn progress, void *user);

/* The hazards whose first-30-minute steps a report's prompt prefix holds
 * (its primary detections), as a mask of 1u << hazard; 0 for none or NULL.
 * Reports with the same mask share one cached prefix. */
uint32_t relief_hybrid_prefix_hazards(const relief_plan *plan);

/* Computes and keeps (memory and disk) the prompt prefix for one hazard
 * mask, giving way to requests; for a server whose hard deadline cut a
 * request before its prefix was done. Returns 1 when computed, 0 when it was
 * kept already, stop was raised or the backend keeps no prefixes (remote),
 * -1 on failure. */
int relief_hybrid_warm_hazards(relief_hybrid *h, uint32_t hazards, const atomic_int *stop);

/* The default cache directory: $RELIEF_CACHE_DIR, else $XDG_CACHE_HOME/relief
 * (an absolute XDG_CACHE_HOME only, as the XDG spec says), else
 * $HOME/.cache/relief. Writes it to out; returns 0, or -1 when none can be
 * named (no HOME) or it does not fit in cap. Never beside a model file. */
int relief_cache_dir(char *out, size_t cap);

/* Creates dir and its parents (mode 0700). Returns 0 when dir exists as a
 * directory afterwards, -1 otherwise (errno set). */
int relief_cache_mkdir(const char *dir);

/* Lists (to out, when not NULL: size and path per line) and optionally
 * removes relief's cache files in dir, finished or left unfinished by a
 * killed writer; other files are never touched. Counts them in *n_files and
 * *bytes. A missing dir is empty (returns 0). Returns -1 when the directory
 * cannot be read or a file cannot be removed. */
int relief_cache_walk(const char *dir, bool remove_files, FILE *out, size_t *n_files, unsigned long long *bytes);

/* Removes the unfinished cache files in dir whose writer process no longer
 * runs (killed during a write). Returns how many were removed; never fails. */
int relief_cache_clean_unfinished(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
