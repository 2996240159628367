/*
 * llm_int.h - internal state of an inference context: KV cache and the
 * scratch buffers the forward pass writes (allocated once per context).
 */
#ifndef RELIEF_LLM_INT_H
#define RELIEF_LLM_INT_H

#include "model.h"
#include "threads.h"

#define LLM_MAX_BATCH 512   /* tokens evaluated together (ring sizing of sliding layers) */
#define LLM_DEADLINE_BATCH 96 /* batch size when a deadline is less than LLM_FAR_DEADLINE_S away */
#define LLM_FAR_DEADLINE_S 20.0 /* beyond this, a stop up to one full batch's layer late is acceptable */
#define LLM_MAX_USED 64     /* experts per token, upper bound checked at load */
#define LLM_MAX_RECENT 4096 /* repetition-penalty window bound */

struct relief_llm_ctx {
    const relief_model *m;
    uint32_t n_ctx, pos;
    relief_pool *pool;
    int nth;                /* threads in the pool (1 = caller only) */
    /* Shapes: H = n_embd, QD = n_head * head_dim, KVD = n_head_kv * head_dim,
     * I = n_ff_expert, E = n_expert, K = n_expert_used, T = nth threads,
     * B = LLM_MAX_BATCH; [a][b] is row-major, b contiguous. */
    float **k, **v;         /* per layer: [kv_cap][kv_stride], keys rotated; KVD used per row */
    size_t kv_stride;       /* floats between positions: KVD + 16, so that one KV head's rows
                             * (2 KiB apart without it on gpt-oss) do not all fall in 1/8 of
                             * the cache's sets and evict each other */
    uint32_t *kv_cap;       /* [n_layer]: n_ctx, or the ring size on sliding layers */
    /* One token (decode). */
    float *x;               /* [H] the residual stream */
    float *xn;              /* [H] x normalised, the input of a projection */
    float *q;               /* [QD] queries, rotated */
    float *kb, *vb;         /* [KVD] this token's key and value before they enter the cache */
    float *attn;            /* [QD] attention output per head, before the output projection */
    float *router;          /* [E] router logits */
    float *scores;          /* [T][n_ctx + 1] attention scores, a slice per thread */
    float *gate, *up;       /* [T][I] one expert's gate and up projections, a slice per thread */
    float *y, *acc;         /* [T][H] one expert's output and the thread's sum of its experts */
    float *rope_cos, *rope_sin; /* [head_dim / 2] for the current position */
    float *logits;          /* [n_vocab] last logits (generation) */
    /* Batched prompt evaluation: rows for up to B tokens. */
    float *bx, *bxn;        /* [B][H] residual stream and its normalised copy */
    float *bq;              /* [B][QD] */
    float *bk, *bv;         /* [B][KVD] */
    float *batt;            /* [B][QD] attention outputs */
    float *by, *bacc;       /* [B][H] projection output; the experts' weighted sum */
    float *brouter;         /* [B][E] router logits */
    float *bgather;         /* [B][H] the inputs of the tokens routed to one expert, packed */
    float *bgate, *bup;     /* [B][I] one expert's gate and up projections of its tokens */
    uint32_t *btop;         /* [B][K] the experts each token uses */
    float *bw;              /* [B][K] routing weights */
    uint32_t *elist;        /* [E][B] tokens routed to each expert */
    uint32_t *ecount;       /* [E] */
    float *wtile;           /* [T][4][max(H, QD, I)] per thread: 4 decoded weight rows */
    float *bscores;         /* [T][n_ctx + 1] per thread: attention scores */
    size_t ld_multi;        /* n_ctx rounded up to 16, + 16 */
    float *bkt;             /* [T][head_dim][ld_multi] per thread: one KV group's keys transposed */
    float *bprob;           /* [T][KERN_MULTI][ld_multi] per thread: scores of several heads */
    int32_t *recent;        /* [LLM_MAX_RECENT] generated/prompt tokens for the repetition penalty */
    /* The fast path (kernels.h): products of Q8_0 and MXFP4 matrices take
     * their input quantized to 8 bits (terms x Q_Q8_BYTES per vector,
     * 64-byte aligned); fast is false with RELIEF_EXACT set, and the
     * buffers are then NULL. */
    bool fast;
    int terms;              /* 8-bit terms per activation: 2 (default), 1 (RELIEF_Q8), 0 (exact) */
    uint8_t *xq;            /* one token's input to the current projection */
    uint8_t *gq;            /* per thread: one expert's down-projection input */
    uint8_t *bxq;           /* [batch]: the batch's input to the current projection */
    uint8_t *beq;           /* [batch]: one expert's inputs (gate/up, then down) */
    uint8_t *qscratch;      /* per thread: kern_qgemm_scratch of the widest input */
    size_t qscratch_size;
    /* LoRA adapters (lora.c): attached in order, not owned. lora_u holds
     * the scaled down-projections s * A x: adapter i, projection p
     * (LORA_Q..LORA_O) uses the LLM_MAX_BATCH x max_rank floats from
     * (lora_off[i] + p * max_rank) * LLM_MAX_BATCH, token t at t * max_rank. */
    const relief_lora **lora;
    size_t *lora_off;
    uint32_t n_lora;
    float *lora_u;
};

/* Prefix snapshots: the KV state of positions [0, n_pos) as one flat
 * buffer (per layer, the slots those positions occupy), so a fixed prompt
 * prefix is computed once and restored into any context of the same model.
 * half: keys and values as f16 (rounded to nearest even), half the bytes
 * of f32; the fast paths use it (docs/performance.md: its effect is far
 * below their own), the exact path keeps f32. llm_state_size returns the
 * bytes needed (0 if n_pos > the context). save returns 0, -1 on a size
 * mismatch or n_pos beyond the context's position, -2 when half and a value
 * has no finite f16 (the buffer is then not to be used: save as f32).
 * load returns 0 or -1 on a size mismatch, and sets the context position to
 * n_pos. */
size_t llm_state_size(const relief_llm_ctx *c, uint32_t n_pos, bool half);
int llm_state_save(const relief_llm_ctx *c, uint32_t n_pos, bool half, void *buf, size_t size);
int llm_state_load(relief_llm_ctx *c, uint32_t n_pos, bool half, const void *buf, size_t size);

/* Picks the next token from logits (modified in place) under sp.
 * recent/n_recent: history for the repetition penalty; mask_ids/n_mask:
 * tokens forbidden (end tokens before min_new_tokens). rng: state. */
int32_t llm_sample(float *logits, size_t n_vocab, const relief_sampler_params *sp, const int32_t *recent,
                   size_t n_recent, const int32_t *mask_ids, size_t n_mask, uint64_t *rng);

#endif
