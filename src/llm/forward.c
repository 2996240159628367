/*
 * forward.c - the gpt-oss forward pass, readable top to bottom: embedding,
 * per layer RMSNorm -> attention (biases, YaRN RoPE on q and k, sliding or
 * full causal window, per-head sinks) -> residual -> RMSNorm -> router top-k
 * -> clamped-SwiGLU experts -> residual; final norm; untied output.
 * Also the KV cache and the context that owns all per-token memory.
 * Reference: ../shared/docs/gpt-oss.md sections 6-8.
 */
#include "llm_int.h"
#include "kernels.h"
#include "threads.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWIGLU_ALPHA 1.702f
#define SWIGLU_LIMIT 7.0f

double relief_llm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
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

/* ---- context ---- */

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
        c->k[l] = malloc((size_t)cap_l * kvd * sizeof(float));
        c->v[l] = malloc((size_t)cap_l * kvd * sizeof(float));
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
    ok = ok && c->pool && c->x && c->xn && c->q && c->kb && c->vb && c->attn && c->scores && c->router && c->gate && c->up &&
         c->y && c->acc && c->rope_cos && c->rope_sin && c->logits && c->recent;
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
    pool_free(c->pool);
    free(c);
}

void relief_llm_ctx_reset(relief_llm_ctx *c)
{
    c->pos = 0;
}

uint32_t relief_llm_ctx_pos(const relief_llm_ctx *c)
{
    return c->pos;
}

/* ---- operations ---- */

static void rmsnorm(float *out, const float *x, const float *g, size_t n, float eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (size_t i = 0; i < n; i++)
        out[i] = g[i] * (x[i] * scale);
}

/* y[r] = W[r] x (+ b[r]) for rows [r0, r1) of expert e. */
static void matvec_rows(float *y, const qmat *w, uint32_t e, const float *x, const float *b, uint32_t r0, uint32_t r1)
{
    kern_dot_fn dot = w->dot;
    for (uint32_t r = r0; r < r1; r++)
        y[r] = dot(qmat_row(w, e, r), x, w->cols) + (b ? b[r] : 0.0f);
}

/* The share [*lo, *hi) of n items that thread ith of nth works on. */
static void share(uint32_t n, int ith, int nth, uint32_t *lo, uint32_t *hi)
{
    *lo = (uint32_t)((uint64_t)n * (uint64_t)ith / (uint64_t)nth);
    *hi = (uint32_t)((uint64_t)n * (uint64_t)(ith + 1) / (uint64_t)nth);
}

/* Rotates one head in place: pair (i, i + half), NeoX style, magnitude m
 * already folded into cos/sin. */
static void rope_head(float *v, const float *cs, const float *sn, uint32_t half)
{
    for (uint32_t i = 0; i < half; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = b * cs[i] + a * sn[i];
    }
}

static void rope_tables(relief_llm_ctx *c, uint32_t pos)
{
    const relief_model *m = c->m;
    uint32_t half = m->info.head_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        double ang = (double)pos * m->rope_freq[i];
        c->rope_cos[i] = (float)cos(ang) * m->rope_mscale;
        c->rope_sin[i] = (float)sin(ang) * m->rope_mscale;
    }
}

/* Attention of query heads [h0, h1) at position pos over the layer's cache;
 * scores is this thread's scratch row. */
static void attention_heads(relief_llm_ctx *c, uint32_t l, uint32_t pos, uint32_t h0, uint32_t h1, float *scores)
{
    const relief_model_info *h = &c->m->info;
    const llm_layer *ly = &c->m->layers[l];
    uint32_t d = h->head_dim, G = h->n_head / h->n_head_kv, cap = c->kv_cap[l];
    size_t kvd = (size_t)h->n_head_kv * d;
    uint32_t first = 0;
    if (ly->sliding && pos + 1 > h->sliding_window)
        first = pos + 1 - h->sliding_window; /* keys j with pos - W < j <= pos */
    float scale = 1.0f / sqrtf((float)d);
    for (uint32_t hd = h0; hd < h1; hd++) {
        const float *q = c->q + (size_t)hd * d;
        uint32_t g = hd / G;
        float mx = ly->sinks[hd];
        for (uint32_t j = first; j <= pos; j++) {
            const float *k = c->k[l] + (size_t)(j % cap) * kvd + (size_t)g * d;
            float s = 0;
            for (uint32_t i = 0; i < d; i++)
                s += q[i] * k[i];
            s *= scale;
            scores[j - first] = s;
            if (s > mx)
                mx = s;
        }
        float z = expf(ly->sinks[hd] - mx);
        for (uint32_t j = first; j <= pos; j++) {
            float e = expf(scores[j - first] - mx);
            scores[j - first] = e;
            z += e;
        }
        float *o = c->attn + (size_t)hd * d;
        memset(o, 0, d * sizeof *o);
        for (uint32_t j = first; j <= pos; j++) {
            const float *v = c->v[l] + (size_t)(j % cap) * kvd + (size_t)g * d;
            float w = scores[j - first] / z;
            for (uint32_t i = 0; i < d; i++)
                o[i] += w * v[i];
        }
    }
}

/* One clamped-SwiGLU expert: y = W_d (swiglu(W_g x + b_g, W_u x + b_u)) + b_d,
 * rows [r0, r1) of the down projection (all of gate/up when full). */
static void swiglu(float *gate, const float *up, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        float a = gate[i] < SWIGLU_LIMIT ? gate[i] : SWIGLU_LIMIT;
        float b = up[i] < -SWIGLU_LIMIT ? -SWIGLU_LIMIT : up[i] > SWIGLU_LIMIT ? SWIGLU_LIMIT : up[i];
        gate[i] = a / (1.0f + expf(-SWIGLU_ALPHA * a)) * (b + 1.0f);
    }
}

/* Parallel sections of one token's forward pass. */
typedef enum { JOB_QKV, JOB_HEADS, JOB_WO, JOB_MOE_EXPERTS, JOB_MOE_GATEUP, JOB_MOE_DOWN, JOB_OUTPUT } job_kind;

typedef struct {
    relief_llm_ctx *c;
    job_kind kind;
    uint32_t l, pos;
    uint32_t top[LLM_MAX_USED];
    float w[LLM_MAX_USED];
    uint32_t k, expert;   /* JOB_MOE_GATEUP/DOWN: the expert slot */
    float *out;
} job;

static void run_job(void *arg, int ith, int nth)
{
    job *jb = arg;
    relief_llm_ctx *c = jb->c;
    const relief_model *m = c->m;
    const relief_model_info *h = &m->info;
    const llm_layer *ly = jb->l < h->n_layer ? &m->layers[jb->l] : NULL;
    uint32_t H = h->n_embd, I = h->n_ff_expert, lo, hi;
    switch (jb->kind) {
    case JOB_QKV: {
        uint32_t QD = ly->wq.rows, KD = ly->wk.rows;
        share(QD + 2 * KD, ith, nth, &lo, &hi);
        if (lo < QD)
            matvec_rows(c->q, &ly->wq, 0, c->xn, ly->bq, lo, hi < QD ? hi : QD);
        if (hi > QD && lo < QD + KD)
            matvec_rows(c->kb, &ly->wk, 0, c->xn, ly->bk, lo > QD ? lo - QD : 0, (hi < QD + KD ? hi : QD + KD) - QD);
        if (hi > QD + KD)
            matvec_rows(c->vb, &ly->wv, 0, c->xn, ly->bv, lo > QD + KD ? lo - QD - KD : 0, hi - QD - KD);
        break;
    }
    case JOB_HEADS:
        share(h->n_head, ith, nth, &lo, &hi);
        attention_heads(c, jb->l, jb->pos, lo, hi, c->scores + (size_t)ith * (c->n_ctx + 1));
        break;
    case JOB_WO:
        share(H, ith, nth, &lo, &hi);
        matvec_rows(c->y, &ly->wo, 0, c->attn, ly->bo, lo, hi);
        break;
    case JOB_MOE_EXPERTS: {
        /* Whole experts per thread; each thread sums into its own acc. */
        float *gate = c->gate + (size_t)ith * I, *up = c->up + (size_t)ith * I;
        float *y = c->y + (size_t)ith * H, *acc = c->acc + (size_t)ith * H;
        memset(acc, 0, H * sizeof *acc);
        share(jb->k, ith, nth, &lo, &hi);
        for (uint32_t s = lo; s < hi; s++) {
            uint32_t e = jb->top[s];
            matvec_rows(gate, &ly->gate, e, c->xn, ly->gate_b + (size_t)e * I, 0, I);
            matvec_rows(up, &ly->up, e, c->xn, ly->up_b + (size_t)e * I, 0, I);
            swiglu(gate, up, I);
            matvec_rows(y, &ly->down, e, gate, ly->down_b + (size_t)e * H, 0, H);
            for (uint32_t i = 0; i < H; i++)
                acc[i] += jb->w[s] * y[i];
        }
        break;
    }
    case JOB_MOE_GATEUP: {
        uint32_t e = jb->top[jb->expert];
        share(I, ith, nth, &lo, &hi);
        matvec_rows(c->gate, &ly->gate, e, c->xn, ly->gate_b + (size_t)e * I, lo, hi);
        matvec_rows(c->up, &ly->up, e, c->xn, ly->up_b + (size_t)e * I, lo, hi);
        swiglu(c->gate + lo, c->up + lo, hi - lo);
        break;
    }
    case JOB_MOE_DOWN: {
        uint32_t e = jb->top[jb->expert];
        share(H, ith, nth, &lo, &hi);
        matvec_rows(c->y, &ly->down, e, c->gate, ly->down_b + (size_t)e * H, lo, hi);
        for (uint32_t i = lo; i < hi; i++)
            c->acc[i] += jb->w[jb->expert] * c->y[i];
        break;
    }
    case JOB_OUTPUT:
        share(h->n_vocab, ith, nth, &lo, &hi);
        matvec_rows(jb->out, &m->output, 0, c->xn, NULL, lo, hi);
        break;
    }
}

static void attention_block(relief_llm_ctx *c, uint32_t l, uint32_t pos)
{
    const relief_model_info *h = &c->m->info;
    const llm_layer *ly = &c->m->layers[l];
    uint32_t d = h->head_dim, half = d / 2;
    size_t kvd = (size_t)h->n_head_kv * d;
    job jb = {.c = c, .l = l, .pos = pos};
    rmsnorm(c->xn, c->x, ly->attn_norm, h->n_embd, h->rms_eps);
    jb.kind = JOB_QKV;
    pool_run(c->pool, run_job, &jb);
    for (uint32_t hd = 0; hd < h->n_head; hd++)
        rope_head(c->q + (size_t)hd * d, c->rope_cos, c->rope_sin, half);
    for (uint32_t g = 0; g < h->n_head_kv; g++)
        rope_head(c->kb + (size_t)g * d, c->rope_cos, c->rope_sin, half);
    size_t slot = (size_t)(pos % c->kv_cap[l]) * kvd;
    memcpy(c->k[l] + slot, c->kb, kvd * sizeof(float));
    memcpy(c->v[l] + slot, c->vb, kvd * sizeof(float));
    jb.kind = JOB_HEADS;
    pool_run(c->pool, run_job, &jb);
    jb.kind = JOB_WO;
    pool_run(c->pool, run_job, &jb);
    for (uint32_t i = 0; i < h->n_embd; i++)
        c->x[i] += c->y[i];
}

/* Indices of the k largest of v[0..n) into top (lowest index first on ties). */
static void top_k(const float *v, uint32_t n, uint32_t k, uint32_t *top)
{
    for (uint32_t s = 0; s < k; s++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t e = 0; e < n; e++) {
            bool taken = false;
            for (uint32_t t = 0; t < s; t++)
                taken |= top[t] == e;
            if (!taken && (best == UINT32_MAX || v[e] > v[best]))
                best = e;
        }
        top[s] = best;
    }
}

static void moe_block(relief_llm_ctx *c, uint32_t l)
{
    const relief_model_info *h = &c->m->info;
    const llm_layer *ly = &c->m->layers[l];
    uint32_t H = h->n_embd, K = h->n_expert_used;
    job jb = {.c = c, .l = l, .k = K};
    rmsnorm(c->xn, c->x, ly->moe_norm, H, h->rms_eps);
    matvec_rows(c->router, &ly->router, 0, c->xn, ly->router_b, 0, h->n_expert);
    top_k(c->router, h->n_expert, K, jb.top);
    float mx = c->router[jb.top[0]], sum = 0;
    for (uint32_t s = 1; s < K; s++)
        mx = c->router[jb.top[s]] > mx ? c->router[jb.top[s]] : mx;
    for (uint32_t s = 0; s < K; s++)
        sum += jb.w[s] = expf(c->router[jb.top[s]] - mx);
    for (uint32_t s = 0; s < K; s++)
        jb.w[s] /= sum;
    if (K % (uint32_t)c->nth == 0) {
        /* Experts divide evenly: each thread runs whole experts. */
        jb.kind = JOB_MOE_EXPERTS;
        pool_run(c->pool, run_job, &jb);
        for (int t = 0; t < c->nth; t++) {
            const float *acc = c->acc + (size_t)t * H;
            for (uint32_t i = 0; i < H; i++)
                c->x[i] += acc[i];
        }
        return;
    }
    memset(c->acc, 0, H * sizeof(float));
    for (uint32_t s = 0; s < K; s++) {
        jb.expert = s;
        jb.kind = JOB_MOE_GATEUP;
        pool_run(c->pool, run_job, &jb);
        jb.kind = JOB_MOE_DOWN;
        pool_run(c->pool, run_job, &jb);
    }
    for (uint32_t i = 0; i < H; i++)
        c->x[i] += c->acc[i];
}

static relief_llm_status check_limits(const relief_llm_limits *lim)
{
    if (!lim)
        return RELIEF_LLM_OK;
    if (lim->cancel && atomic_load(lim->cancel))
        return RELIEF_LLM_CANCELLED;
    if (lim->deadline > 0 && relief_llm_now() >= lim->deadline)
        return RELIEF_LLM_DEADLINE;
    return RELIEF_LLM_OK;
}

/* One token at the next position; logits into out when not NULL. */
static relief_llm_status forward_token(relief_llm_ctx *c, int32_t tok, float *out, const relief_llm_limits *lim)
{
    const relief_model *m = c->m;
    const relief_model_info *h = &m->info;
    if (tok < 0 || (uint32_t)tok >= h->n_vocab)
        return RELIEF_LLM_BAD_TOKEN;
    if (c->pos >= c->n_ctx)
        return RELIEF_LLM_CTX_FULL;
    uint32_t pos = c->pos;
    q_dequant_row(m->tok_embd.type, qmat_row(&m->tok_embd, 0, (uint32_t)tok), c->x, h->n_embd);
    rope_tables(c, pos);
    for (uint32_t l = 0; l < h->n_layer; l++) {
        relief_llm_status st = check_limits(lim);
        if (st != RELIEF_LLM_OK)
            return st;
        attention_block(c, l, pos);
        moe_block(c, l);
    }
    c->pos++;
    if (out) {
        rmsnorm(c->xn, c->x, m->out_norm, h->n_embd, h->rms_eps);
        job jb = {.c = c, .kind = JOB_OUTPUT, .l = UINT32_MAX, .out = out};
        pool_run(c->pool, run_job, &jb);
    }
    return RELIEF_LLM_OK;
}

relief_llm_status relief_llm_eval(relief_llm_ctx *c, const int32_t *tokens, size_t n, float *logits, bool all_logits,
                                  const relief_llm_limits *lim)
{
    size_t V = c->m->info.n_vocab;
    for (size_t i = 0; i < n; i++) {
        float *out = NULL;
        if (logits && all_logits)
            out = logits + i * V;
        else if (logits && i + 1 == n)
            out = logits;
        relief_llm_status st = forward_token(c, tokens[i], out, lim);
        if (st != RELIEF_LLM_OK)
            return st;
    }
    return RELIEF_LLM_OK;
}

/* ---- prefix snapshots ---- */

/* Positions of layer l that a snapshot of n_pos positions holds: the last
 * min(n_pos, cap) of them. */
static uint32_t state_first(const relief_llm_ctx *c, uint32_t l, uint32_t n_pos)
{
    return n_pos > c->kv_cap[l] ? n_pos - c->kv_cap[l] : 0;
}

size_t llm_state_size(const relief_llm_ctx *c, uint32_t n_pos)
{
    const relief_model_info *h = &c->m->info;
    if (n_pos > c->n_ctx)
        return 0;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim, total = 0;
    for (uint32_t l = 0; l < h->n_layer; l++)
        total += (size_t)(n_pos - state_first(c, l, n_pos)) * kvd * 2 * sizeof(float);
    return total;
}

int llm_state_save(const relief_llm_ctx *c, uint32_t n_pos, void *buf, size_t size)
{
    const relief_model_info *h = &c->m->info;
    if (n_pos > c->pos || size != llm_state_size(c, n_pos))
        return -1;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim;
    char *o = buf;
    for (uint32_t l = 0; l < h->n_layer; l++)
        for (uint32_t j = state_first(c, l, n_pos); j < n_pos; j++) {
            size_t slot = (size_t)(j % c->kv_cap[l]) * kvd;
            memcpy(o, c->k[l] + slot, kvd * sizeof(float));
            o += kvd * sizeof(float);
            memcpy(o, c->v[l] + slot, kvd * sizeof(float));
            o += kvd * sizeof(float);
        }
    return 0;
}

int llm_state_load(relief_llm_ctx *c, uint32_t n_pos, const void *buf, size_t size)
{
    const relief_model_info *h = &c->m->info;
    if (size != llm_state_size(c, n_pos) || (n_pos && size == 0))
        return -1;
    size_t kvd = (size_t)h->n_head_kv * h->head_dim;
    const char *in = buf;
    for (uint32_t l = 0; l < h->n_layer; l++)
        for (uint32_t j = state_first(c, l, n_pos); j < n_pos; j++) {
            size_t slot = (size_t)(j % c->kv_cap[l]) * kvd;
            memcpy(c->k[l] + slot, in, kvd * sizeof(float));
            in += kvd * sizeof(float);
            memcpy(c->v[l] + slot, in, kvd * sizeof(float));
            in += kvd * sizeof(float);
        }
    c->pos = n_pos;
    return 0;
}
