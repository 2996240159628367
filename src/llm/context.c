/*
 * context.c - a model context's lifetime: the KV cache and scratch memory
 * it owns, its thread pool and numeric path, snapshots of its first
 * positions (prompt-prefix caches), and the LoRA adapters attached to it.
 * The arithmetic that runs in it is forward.c's.
 */
#include "kernels.h"
#include "llm_int.h"
#include "lora.h"
#include "quant.h"
#include "threads.h"
#include "util/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double relief_llm_now(void)
{
    return clock_now(); /* the one monotonic clock (src/util/clock.c) */
}

const char *relief_llm_status_str(relief_llm_status s)
{
    switch (s) {
    case RELIEF_LLM_OK: return "ok";
    case RELIEF_LLM_DEADLINE: return "deadline reached";
    case RELIEF_LLM_CANCELLED: return "cancelled";
    case RELIEF_LLM_CTX_FULL: return "context full";
    case RELIEF_LLM_BAD_TOKEN: return "token id out of range";
    case RELIEF_LLM_NOMEM: return "out of memory";
    }
    return "unknown";
}

/* True when environment variable name is set to anything but "" or "0". */
static bool env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0");
}

/* ---- lifetime ---- */

relief_llm_ctx *relief_llm_ctx_new(const relief_model *m, uint32_t n_ctx, uint32_t n_threads, char *err, size_t cap)
{
    const relief_model_info *h = &m->info;
    if (n_ctx < 1 || n_ctx > (1u << 22)) {
        snprintf(err, cap, "context length %u out of range (1 to 4194304)", n_ctx);
        return NULL;
    }
    relief_llm_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    c->m = m;
    c->n_ctx = n_ctx;
    /* A small model's matrices are too small to be worth splitting: the
     * synchronisation would cost more than the work. */
    if (n_threads == 0 && h->weight_bytes < (64u << 20))
        n_threads = 1;
    c->pool = pool_new(n_threads > 256 ? 256 : (int)n_threads);
    c->nth = pool_size(c->pool);
    size_t kvd = (size_t)h->n_head_kv * h->head_dim;
    c->kv_stride = kvd + 16;
    c->k = calloc(h->n_layer, sizeof *c->k);
    c->v = calloc(h->n_layer, sizeof *c->v);
    c->kv_cap = calloc(h->n_layer, sizeof *c->kv_cap);
    bool ok = c->k && c->v && c->kv_cap;
    for (uint32_t l = 0; ok && l < h->n_layer; l++) {
        /* Sliding layers keep a ring of the last W + LLM_MAX_BATCH - 1 positions. */
        uint32_t cap_l = n_ctx;
        if (m->layers[l].sliding && h->sliding_window + LLM_MAX_BATCH - 1 < n_ctx)
            cap_l = h->sliding_window + LLM_MAX_BATCH - 1;
        c->kv_cap[l] = cap_l;
        c->k[l] = malloc((size_t)cap_l * c->kv_stride * sizeof(float));
        c->v[l] = malloc((size_t)cap_l * c->kv_stride * sizeof(float));
        ok = c->k[l] && c->v[l];
    }
    size_t H = h->n_embd, QD = (size_t)h->n_head * h->head_dim, I = h->n_ff_expert;
    c->x = malloc(H * sizeof(float));
    c->xn = malloc(H * sizeof(float));
    c->q = malloc(QD * sizeof(float));
    c->kb = malloc(kvd * sizeof(float));
    c->vb = malloc(kvd * sizeof(float));
    c->attn = malloc(QD * sizeof(float));
    size_t T = (size_t)c->nth;
    c->scores = malloc(T * ((size_t)n_ctx + 1) * sizeof(float));
    c->router = malloc(h->n_expert * sizeof(float));
    c->gate = malloc(T * I * sizeof(float));
    c->up = malloc(T * I * sizeof(float));
    c->y = malloc(T * H * sizeof(float));
    c->acc = malloc(T * H * sizeof(float));
    c->rope_cos = malloc(h->head_dim / 2 * sizeof(float));
    c->rope_sin = malloc(h->head_dim / 2 * sizeof(float));
    c->logits = malloc((size_t)h->n_vocab * sizeof(float));
    c->recent = malloc(LLM_MAX_RECENT * sizeof(int32_t));
    size_t B = LLM_MAX_BATCH, E = h->n_expert, K = h->n_expert_used, maxc = H > QD ? H : QD;
    maxc = maxc > I ? maxc : I;
    c->bx = malloc(B * H * sizeof(float));
    c->bxn = malloc(B * H * sizeof(float));
    c->bq = malloc(B * QD * sizeof(float));
    c->bk = malloc(B * kvd * sizeof(float));
    c->bv = malloc(B * kvd * sizeof(float));
    c->batt = malloc(B * QD * sizeof(float));
    c->by = malloc(B * H * sizeof(float));
    c->bacc = malloc(B * H * sizeof(float));
    c->brouter = malloc(B * E * sizeof(float));
    c->bgather = malloc(B * H * sizeof(float));
    c->bgate = malloc(B * I * sizeof(float));
    c->bup = malloc(B * I * sizeof(float));
    c->btop = malloc(B * K * sizeof(uint32_t));
    c->bw = malloc(B * K * sizeof(float));
    c->elist = malloc(E * B * sizeof(uint32_t));
    c->ecount = malloc(E * sizeof(uint32_t));
    c->wtile = malloc(T * 4 * maxc * sizeof(float));
    c->bscores = malloc(T * ((size_t)n_ctx + 1) * sizeof(float));
    c->ld_multi = ((size_t)n_ctx + 15) / 16 * 16 + 16;
    c->bkt = malloc(T * h->head_dim * c->ld_multi * sizeof(float));
    c->bprob = malloc(T * KERN_MULTI * c->ld_multi * sizeof(float));
    ok = ok && c->bx && c->bxn && c->bq && c->bk && c->bv && c->batt && c->by && c->bacc && c->brouter &&
         c->bgather && c->bgate && c->bup && c->btop && c->bw && c->elist && c->ecount && c->wtile && c->bscores &&
         c->bkt && c->bprob;
    ok = ok && c->pool && c->x && c->xn && c->q && c->kb && c->vb && c->attn && c->scores && c->router && c->gate && c->up &&
         c->y && c->acc && c->rope_cos && c->rope_sin && c->logits && c->recent;
    /* The fast path by default: two terms (8-bit activations and an 8-bit
     * residual), one with RELIEF_Q8, none (exact f32) with RELIEF_EXACT. */
    c->terms = env_flag("RELIEF_EXACT") ? 0 : env_flag("RELIEF_Q8") ? 1 : 2;
    c->fast = c->terms > 0;
    if (ok && c->fast) {
        size_t q_max = c->terms * Q_Q8_BYTES(maxc), q_e = c->terms * Q_Q8_BYTES(H > I ? H : I);
        c->qscratch_size = (kern_qgemm_scratch(maxc, B) + 63) / 64 * 64;
        c->xq = aligned_alloc(64, q_max);
        c->gq = aligned_alloc(64, T * c->terms * Q_Q8_BYTES(I));
        c->bxq = aligned_alloc(64, B * q_max);
        c->beq = aligned_alloc(64, B * q_e);
        c->qscratch = aligned_alloc(64, T * c->qscratch_size);
        ok = c->xq && c->gq && c->bxq && c->beq && c->qscratch;
    }
    if (!ok) {
        relief_llm_ctx_free(c);
        snprintf(err, cap, "out of memory for a context of %u positions", n_ctx);
        return NULL;
    }
    return c;
}

void relief_llm_ctx_free(relief_llm_ctx *c)
{
    if (!c)
        return;
    for (uint32_t l = 0; c->k && c->v && l < c->m->info.n_layer; l++) {
        free(c->k[l]);
        free(c->v[l]);
    }
    free(c->k);
    free(c->v);
    free(c->kv_cap);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->kb);
    free(c->vb);
    free(c->attn);
    free(c->scores);
    free(c->router);
    free(c->gate);
    free(c->up);
    free(c->y);
    free(c->acc);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->logits);
    free(c->recent);
    float *bufs[] = {c->bx, c->bxn, c->bq, c->bk, c->bv, c->batt, c->by, c->bacc, c->brouter, c->bgather,
                     c->bgate, c->bup, c->bw, c->wtile, c->bscores, c->bkt, c->bprob};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c->xq);
    free(c->gq);
    free(c->bxq);
    free(c->beq);
    free(c->qscratch);
    free(c->btop);
    free(c->elist);
    free(c->ecount);
    free(c->lora);
    free(c->lora_off);
    free(c->lora_u);
    pool_free(c->pool);
    free(c);
}

void relief_llm_ctx_reset(relief_llm_ctx *c)
{
    c->pos = 0;
}

const char *relief_llm_ctx_numerics(const relief_llm_ctx *c)
{
    return c->terms == 0 ? "exact" : c->terms == 1 ? "q8" : "q8x2";
}

uint32_t relief_llm_ctx_pos(const relief_llm_ctx *c)
{
    return c->pos;
}

/* ---- prefix snapshots ---- */

/* Positions of layer l that a snapshot of n_pos positions holds: the last
 * min(n_pos, cap) of them, where a sliding layer's cap is its window (the
 * queries that follow, at n_pos and after, see no key before n_pos - W). */
static uint32_t state_first(const relief_llm_ctx *c, uint32_t l, uint32_t n_pos)
{
    uint32_t keep = c->kv_cap[l], w = c->m->info.sliding_window;
    if (c->m->layers[l].sliding && w < keep)
        keep = w;
    return n_pos > keep ? n_pos - keep : 0;
}

size_t llm_state_size(const relief_llm_ctx *c, uint32_t n_pos, bool half)
{
    const relief_model_info *h = &c->m->info;
    if (n_pos > c->n_ctx)
        return 0;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim, total = 0;
    for (uint32_t l = 0; l < h->n_layer; l++)
        total += (size_t)(n_pos - state_first(c, l, n_pos)) * kvd * 2;
    return total * (half ? sizeof(uint16_t) : sizeof(float));
}

int llm_state_save(const relief_llm_ctx *c, uint32_t n_pos, bool half, void *buf, size_t size)
{
    const relief_model_info *h = &c->m->info;
    if (n_pos > c->pos || size != llm_state_size(c, n_pos, half))
        return -1;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim, width = half ? sizeof(uint16_t) : sizeof(float);
    kern_to_f16_fn to_f16 = kern_to_f16();
    char *o = buf;
    bool fits = true;
    for (uint32_t l = 0; l < h->n_layer; l++)
        for (uint32_t j = state_first(c, l, n_pos); j < n_pos; j++) {
            size_t slot = (size_t)(j % c->kv_cap[l]) * c->kv_stride;
            const float *kv[2] = {c->k[l] + slot, c->v[l] + slot};
            for (int i = 0; i < 2; i++, o += kvd * width) {
                if (half)
                    fits &= to_f16(kv[i], (uint16_t *)(void *)o, kvd);
                else
                    memcpy(o, kv[i], kvd * sizeof(float));
            }
        }
    assert(o == (char *)buf + size);
    return fits ? 0 : -2;
}

int llm_state_load(relief_llm_ctx *c, uint32_t n_pos, bool half, const void *buf, size_t size)
{
    const relief_model_info *h = &c->m->info;
    if (size != llm_state_size(c, n_pos, half) || (n_pos && size == 0))
        return -1;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim, width = half ? sizeof(uint16_t) : sizeof(float);
    kern_from_f16_fn from_f16 = kern_from_f16();
    const char *in = buf;
    for (uint32_t l = 0; l < h->n_layer; l++)
        for (uint32_t j = state_first(c, l, n_pos); j < n_pos; j++) {
            size_t slot = (size_t)(j % c->kv_cap[l]) * c->kv_stride;
            assert(j < c->n_ctx && j % c->kv_cap[l] < c->kv_cap[l]);
            float *kv[2] = {c->k[l] + slot, c->v[l] + slot};
            for (int i = 0; i < 2; i++, in += kvd * width) {
                if (half)
                    from_f16((const uint16_t *)(const void *)in, kv[i], kvd);
                else
                    memcpy(kv[i], in, kvd * sizeof(float));
            }
        }
    assert(n_pos <= c->n_ctx); /* llm_state_size refused anything larger */
    c->pos = n_pos;
    return 0;
}

/* ---- adapters ---- */

int relief_llm_ctx_add_lora(relief_llm_ctx *c, const relief_lora *l, char *err, size_t cap)
{
    const relief_model_info *h = &c->m->info;
    if (l->n_layer != h->n_layer || l->n_embd != h->n_embd || l->q_dim != h->n_head * h->head_dim ||
        l->kv_dim != h->n_head_kv * h->head_dim) {
        snprintf(err, cap, "the adapter was loaded for a model of another shape");
        return -1;
    }
    relief_llm_ctx_reset(c);
    if (l->multiplier == 0)
        return 0; /* contributes nothing: the output stays bit-identical to the base model */
    size_t off = 0;
    for (uint32_t i = 0; i < c->n_lora; i++)
        off += (size_t)LORA_NPROJ * c->lora[i]->max_rank;
    size_t total = off + (size_t)LORA_NPROJ * l->max_rank;
    const relief_lora **list = realloc(c->lora, (c->n_lora + 1) * sizeof *list);
    if (list)
        c->lora = list;
    size_t *offs = list ? realloc(c->lora_off, (c->n_lora + 1) * sizeof *offs) : NULL;
    if (offs)
        c->lora_off = offs;
    float *u = offs ? malloc(total * LLM_MAX_BATCH * sizeof *u) : NULL;
    if (!u) {
        snprintf(err, cap, "out of memory for the adapter's scratch memory");
        return -1;
    }
    free(c->lora_u);
    c->lora_u = u;
    c->lora[c->n_lora] = l;
    c->lora_off[c->n_lora] = off;
    c->n_lora++;
    return 0;
}

void relief_llm_ctx_clear_loras(relief_llm_ctx *c)
{
    relief_llm_ctx_reset(c);
    free(c->lora);
    free(c->lora_off);
    free(c->lora_u);
    c->lora = NULL;
    c->lora_off = NULL;
    c->lora_u = NULL;
    c->n_lora = 0;
}
