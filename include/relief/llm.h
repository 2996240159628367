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
/* Frees a model (NULL is allowed); every context of it must be freed first. */
void relief_model_free(relief_model *m);
/* The model's architecture and hyper-parameters, owned by the model. */
const relief_model_info *relief_model_get_info(const relief_model *m);

/* Tokenizer access. relief_model_tokenize returns 0 and a malloc'd array
 * (caller frees) or -1 on OOM. relief_model_token_id returns the id of a
 * token's exact text ("<|start|>") or -1. */
int relief_model_tokenize(const relief_model *m, const char *text, size_t len, bool special, int32_t **ids,
                          size_t *n);
int32_t relief_model_token_id(const relief_model *m, const char *text);
/* The number of token ids (the embedding's rows). */
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

/* "ok", "deadline reached", ...: a static string; "unknown" for a value not listed. */
const char *relief_llm_status_str(relief_llm_status s);

/* Limits checked between tokens, and between layers while evaluating a
 * prompt, so no caller waits past the deadline by more than one layer. */
typedef struct {
    double deadline;             /* CLOCK_MONOTONIC seconds; 0 = none */
    const atomic_int *cancel;    /* non-zero cancels; NULL = never */
    /* While relief_llm_eval reads more than one token: called after each
     * layer of each batch with the share of the call's work done (0 < done
     * <= 1), so that a user sees a long prompt being read. NULL = none. */
    void (*on_progress)(double done, void *user);
    void *progress_user;
} relief_llm_limits;

/* Seconds on CLOCK_MONOTONIC, the clock deadlines are measured on. */
double relief_llm_now(void);

/* A context: KV cache for up to n_ctx positions, scratch memory and a
 * persistent pool of n_threads threads (0 = one per online CPU; the caller
 * is one of them); all memory is allocated here, none per token. NULL with
 * a message on error. */
relief_llm_ctx *relief_llm_ctx_new(const relief_model *m, uint32_t n_ctx, uint32_t n_threads, char *err,
                                   size_t cap);
/* Frees a context, its KV cache and its threads; NULL is allowed. Attached
 * adapters are not freed (they may serve other contexts). */
void relief_llm_ctx_free(relief_llm_ctx *c);
/* Forgets every cached position. */
void relief_llm_ctx_reset(relief_llm_ctx *c);
/* Number of positions cached. */
uint32_t relief_llm_ctx_pos(const relief_llm_ctx *c);
/* The context's numeric path, fixed when it was created from the
 * environment: "q8x2" (default: 8-bit activations plus an 8-bit residual,
 * integer dot products), "q8" (RELIEF_Q8=1) or "exact" (RELIEF_EXACT=1, f32
 * activations, the reference). A static string; never fails. KV states
 * computed on different paths differ, so caches of them carry this name. */
const char *relief_llm_ctx_numerics(const relief_llm_ctx *c);

/* ---- LoRA adapters ----
 *
 * An adapter adds scale * B (A x) after the attention projections q, k, v
 * and o (after their biases) at run time; the base weights stay memory-
 * mapped and untouched. scale = alpha / r (alpha / sqrt(r) with rsLoRA)
 * times the multiplier given at load; a GGUF adapter without
 * adapter.lora.alpha (or with 0) uses the multiplier alone, as llama.cpp
 * does.
 *
 * path may be:
 *  - a PEFT directory: adapter_config.json + adapter_model.safetensors;
 *  - a PEFT .safetensors file (its adapter_config.json in the same directory);
 *  - a llama.cpp GGUF adapter (general.type = adapter, adapter.type = lora,
 *    tensors blk.N.attn_{q,k,v,output}.weight.lora_{a,b}).
 * Supported: the attention projections of any layers, rank per projection
 * (PEFT rank_pattern / alpha_pattern with literal module names), rsLoRA,
 * weights F32, F16, BF16 (GGUF also Q8_0). Refused with an error: MLP /
 * expert / router / embedding / lm_head targets (including PEFT
 * target_parameters), DoRA, LoRA biases, modules_to_save, trainable tokens,
 * fan_in_fan_out, other PEFT types, regex patterns, another architecture,
 * shapes that do not fit the model, rank 0, other dtypes, unknown tensors,
 * malformed files. The adapter's weights are copied (as f32) at load; the
 * file is closed before returning.
 *
 * Returns NULL and writes a message naming the file and the problem to err
 * (cap bytes); the model is not modified either way. An adapter is
 * immutable, may be shared by any number of contexts (on any threads), and
 * must outlive every context it is attached to. Free with relief_lora_free. */
typedef struct relief_lora relief_lora;
relief_lora *relief_lora_load(const relief_model *m, const char *path, float multiplier, char *err, size_t cap);
/* Frees an adapter (NULL is allowed) once no context has it attached. */
void relief_lora_free(relief_lora *l);
/* The multiplier given at load (the user's scale on alpha / rank). */
float relief_lora_multiplier(const relief_lora *l);
/* A 64-bit hash of the adapter's effective content (every A, B and scale;
 * the same for the PEFT and GGUF forms of one adapter): caches of KV state
 * computed with adapters must be keyed by it. Never 0. */
uint64_t relief_lora_fingerprint(const relief_lora *l);
/* One line such as "peft LoRA: 96 projections (qkvo), rank 16, multiplier 1". */
void relief_lora_describe(const relief_lora *l, char *buf, size_t cap);
#define RELIEF_LORA_MAX_SCALE 16.0 /* |SCALE| allowed in a spec */
/* Splits "PATH[:SCALE]" (SCALE a number; default 1) into path (cap bytes)
 * and *multiplier. A suffix after the last ':' that is not a number is part
 * of the path. Returns 0, or -1 when the path is empty or too long or the
 * scale is outside [-RELIEF_LORA_MAX_SCALE, RELIEF_LORA_MAX_SCALE]. */
int relief_lora_parse_spec(const char *spec, char *path, size_t cap, float *multiplier);

/* Attaches an adapter to a context (after any attached before: several
 * stack, each with its own multiplier). The context is reset (its cached
 * positions were computed without the adapter). An adapter with multiplier 0
 * is accepted and contributes nothing (logits bit-identical to the base).
 * Returns 0, or -1 with a message (adapter loaded for a model of another
 * shape, out of memory) and the attached adapters unchanged. The context
 * does not own the adapter. */
int relief_llm_ctx_add_lora(relief_llm_ctx *c, const relief_lora *l, char *err, size_t cap);
/* Detaches every adapter (and resets the context). */
void relief_llm_ctx_clear_loras(relief_llm_ctx *c);

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

/* The model card's sampling (temperature 1, top-p 1, no other filter), a
 * 64-token repeat window, at most 512 new tokens; never fails. */
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
