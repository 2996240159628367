/*
 * relief/llm.h - relief's gpt-oss inference engine: load a GGUF model
 * (llama.cpp conversions and Ollama blobs), tokenize, evaluate prompts,
 * generate tokens with streaming, cancellation and an absolute deadline.
 *
 * No globals and no signals: any number of models and contexts can live in
 * one process. A model is immutable after loading and may be shared by
 * contexts on different threads; one context is used by one thread at a
 * time. Weights are used in place from a read-only memory map.
 */
#ifndef RELIEF_LLM_H
#define RELIEF_LLM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct relief_model relief_model;
typedef struct relief_llm_ctx relief_llm_ctx;

/* Hyper-parameters read from the file (see relief_model_info). */
typedef struct {
    char arch[32];            /* "gpt-oss" or Ollama's "gptoss" */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim;
    uint32_t n_expert, n_expert_used, n_ff_expert;
    uint32_t sliding_window, swa_pattern, n_vocab, ctx_train, yarn_orig_ctx;
    float rms_eps, rope_base, rope_scale, yarn_beta_fast, yarn_beta_slow, attn_factor;
    bool yarn_round_like_llamacpp;  /* false: reference (HF/OpenAI) ramp bounds */
    uint64_t file_bytes, weight_bytes;
} relief_model_info;

typedef struct {
    bool yarn_round_like_llamacpp;  /* match llama.cpp's rounded YaRN ramp (tests only) */
    bool quiet;                     /* no progress bar while paging in */
    bool no_warmup;                 /* do not page the weights in at load (model-info) */
} relief_model_params;

/* Loads and validates a model. Returns NULL and writes a message to err
 * (cap bytes) naming what is wrong. params may be NULL. Free with
 * relief_model_free. */
relief_model *relief_model_load(const char *path, const relief_model_params *params, char *err, size_t cap);
void relief_model_free(relief_model *m);
const relief_model_info *relief_model_get_info(const relief_model *m);

/* Tokenizer access. relief_model_tokenize returns 0 and a malloc'd array
 * (caller frees) or -1 on OOM. relief_model_token_id returns the id of a
 * token's exact text ("<|start|>") or -1. */
int relief_model_tokenize(const relief_model *m, const char *text, size_t len, bool special, int32_t **ids,
                          size_t *n);
int32_t relief_model_token_id(const relief_model *m, const char *text);
size_t relief_model_vocab(const relief_model *m);

/* Result codes of evaluation and generation. */
typedef enum {
    RELIEF_LLM_OK = 0,
    RELIEF_LLM_DEADLINE = 1,   /* the deadline passed; the context holds what was done */
    RELIEF_LLM_CANCELLED = 2,  /* *cancel became non-zero */
    RELIEF_LLM_CTX_FULL = 3,   /* no room left in the context */
    RELIEF_LLM_BAD_TOKEN = 4,  /* a token id outside the vocabulary */
    RELIEF_LLM_NOMEM = 5,
} relief_llm_status;

const char *relief_llm_status_str(relief_llm_status s);

/* Limits checked between tokens, and between layers while evaluating a
 * prompt, so no caller waits past the deadline by more than one layer. */
typedef struct {
    double deadline;             /* CLOCK_MONOTONIC seconds; 0 = none */
    const atomic_int *cancel;    /* non-zero cancels; NULL = never */
} relief_llm_limits;

/* Seconds on CLOCK_MONOTONIC, the clock deadlines are measured on. */
double relief_llm_now(void);

/* A context: KV cache for up to n_ctx positions, scratch memory and a
 * persistent pool of n_threads threads (0 = one per online CPU; the caller
 * is one of them); all memory is allocated here, none per token. NULL with
 * a message on error. */
relief_llm_ctx *relief_llm_ctx_new(const relief_model *m, uint32_t n_ctx, uint32_t n_threads, char *err,
                                   size_t cap);
void relief_llm_ctx_free(relief_llm_ctx *c);
/* Forgets every cached position. */
void relief_llm_ctx_reset(relief_llm_ctx *c);
/* Number of positions cached. */
uint32_t relief_llm_ctx_pos(const relief_llm_ctx *c);

/* Evaluates n tokens continuing the cache. When logits is not NULL it
 * receives the logits of every position (all_logits, n x vocab floats) or
 * of the last one only (vocab floats). On DEADLINE/CANCELLED the cache
 * keeps the tokens completed before the stop. */
relief_llm_status relief_llm_eval(relief_llm_ctx *c, const int32_t *tokens, size_t n, float *logits,
                                  bool all_logits, const relief_llm_limits *lim);

/* Sampling parameters (defaults from the model card: temperature 1,
 * top_p 1; see relief_llm_sampler_defaults). */
typedef struct {
    float temperature;        /* 0 = greedy */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    float repeat_penalty;     /* 1 = off */
    int repeat_window;        /* last N tokens penalised */
    int min_new_tokens;       /* end tokens masked until this many were generated */
    int max_new_tokens;       /* hard stop */
    uint64_t seed;
} relief_sampler_params;

relief_sampler_params relief_llm_sampler_defaults(void);

/* Called for every generated token; return non-zero to stop. */
typedef int (*relief_token_cb)(int32_t token, void *user);

typedef struct {
    size_t n_generated;
    int32_t stop_token;        /* end token that stopped generation, or -1 */
    relief_llm_status status;  /* OK (end token or max tokens), DEADLINE, CANCELLED, CTX_FULL */
    double prompt_seconds, gen_seconds;
} relief_gen_result;

/* Evaluates the prompt then samples until an end token (any of end_ids),
 * max_new_tokens, the deadline, cancellation, a full context, or the
 * callback asking to stop. Returns the status (also in *res). */
relief_llm_status relief_llm_generate(relief_llm_ctx *c, const int32_t *prompt, size_t n_prompt,
                                      const relief_sampler_params *sp, const int32_t *end_ids, size_t n_end,
                                      relief_token_cb cb, void *user, const relief_llm_limits *lim,
                                      relief_gen_result *res);

#ifdef __cplusplus
}
#endif
#endif
