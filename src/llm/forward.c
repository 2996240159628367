/*
 * forward.c - the gpt-oss forward pass, readable top to bottom: embedding,
 * per layer RMSNorm -> attention (biases, YaRN RoPE on q and k, sliding or
 * full causal window, per-head sinks) -> residual -> RMSNorm -> router top-k
 * -> clamped-SwiGLU experts -> residual; final norm; untied output.
 * Also the LoRA deltas (s * B (A x) after the q, k, v and o projections,
 * for each attached adapter; see lora.h). The context it works in (KV
 * cache, scratch, threads, snapshots, attached adapters) is context.c's.
 * Reference: ../shared/docs/gpt-oss.md sections 6-8.
 */
#include "llm_int.h"
#include "util/clock.h"
#include "kernels.h"
#include "lora.h"
#include "threads.h"
#include "quant.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWIGLU_ALPHA 1.702f
#define SWIGLU_LIMIT 7.0f

/* True when environment variable name is set to anything but "" or "0". */
static bool env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0");
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

/* y[r] = W[r] x (+ b[r]) for rows [r0, r1) of expert e; with xq (x
 * quantized by fast_input into `terms` terms) the fast path's product. */
static void matvec_rows(float *y, const qmat *w, uint32_t e, const float *x, const uint8_t *xq, int terms,
                        const float *b, uint32_t r0, uint32_t r1)
{
    if (xq) {
        kern_qdot_fn qdot = w->qdot;
        for (uint32_t r = r0; r < r1; r++)
            y[r] = qdot(qmat_row(w, e, r), xq, w->cols, terms) + (b ? b[r] : 0.0f);
        return;
    }
    kern_dot_fn dot = w->dot;
    for (uint32_t r = r0; r < r1; r++)
        y[r] = dot(qmat_row(w, e, r), x, w->cols) + (b ? b[r] : 0.0f);
}

/* xq for a product with w: NULL when w has no fast kernel (an input shared
 * by matrices of different types). */
static const uint8_t *xq_for(const qmat *w, const uint8_t *xq)
{
    return w->qdot ? xq : NULL;
}

/* The fast path's input for matrix w: x (w->cols floats) quantized into
 * buf, or NULL (the exact product) when the path is off or w's type has
 * no fast kernel. */
static const uint8_t *fast_input(const relief_llm_ctx *c, const qmat *w, const float *x, uint8_t *buf)
{
    if (!c->fast || !w->qdot)
        return NULL;
    kern_quant_q8()(x, buf, w->cols, c->terms);
    return buf;
}

/* The share [*lo, *hi) of n items that thread ith of nth works on. */
static void share(uint32_t n, int ith, int nth, uint32_t *lo, uint32_t *hi)
{
    *lo = (uint32_t)((uint64_t)n * (uint64_t)ith / (uint64_t)nth);
    *hi = (uint32_t)((uint64_t)n * (uint64_t)(ith + 1) / (uint64_t)nth);
}

/* ---- LoRA deltas ---- */

static bool lora_active(const lora_mat *mt)
{
    return mt->rank && mt->scale != 0.0f;
}

/* Adapter i's scratch for projection p: LLM_MAX_BATCH rows of max_rank. */
static float *lora_scratch(const relief_llm_ctx *c, uint32_t i, int p)
{
    return c->lora_u + (c->lora_off[i] + (size_t)p * c->lora[i]->max_rank) * LLM_MAX_BATCH;
}

/* Thread ith's share of u = s * A x for projections [p0, p1) of layer l,
 * tokens [0, T) of X (row stride ldx). Work items are (adapter,
 * projection, rank row); each thread writes only its own items. */
static void lora_down(relief_llm_ctx *c, uint32_t l, int p0, int p1, const float *X, size_t ldx, uint32_t T, int ith,
                      int nth)
{
    uint32_t n = 0, lo, hi, it = 0;
    for (uint32_t i = 0; i < c->n_lora; i++)
        for (int p = p0; p < p1; p++)
            if (lora_active(lora_mat_at(c->lora[i], l, p)))
                n += lora_mat_at(c->lora[i], l, p)->rank;
    share(n, ith, nth, &lo, &hi);
    kern_vdot_fn vdot = kern_vdot();
    for (uint32_t i = 0; i < c->n_lora && it < hi; i++)
        for (int p = p0; p < p1 && it < hi; p++) {
            const lora_mat *mt = lora_mat_at(c->lora[i], l, p);
            if (!lora_active(mt))
                continue;
            float *u = lora_scratch(c, i, p);
            size_t R = c->lora[i]->max_rank;
            for (uint32_t k = 0; k < mt->rank; k++, it++) {
                if (it < lo || it >= hi)
                    continue;
                const float *a = mt->a + (size_t)k * mt->in;
                for (uint32_t t = 0; t < T; t++)
                    u[t * R + k] = mt->scale * vdot(a, X + t * ldx, mt->in);
            }
        }
}

/* Y[t][r] += sum_k u[t][k] B[r][k] for rows [r0, r1) of projection p of
 * layer l, tokens [0, T), every attached adapter in order. */
static void lora_up(const relief_llm_ctx *c, uint32_t l, int p, float *Y, size_t ldy, uint32_t T, uint32_t r0,
                    uint32_t r1)
{
    if (r0 >= r1)
        return;
    kern_vaxpy_fn vaxpy = kern_vaxpy();
    for (uint32_t i = 0; i < c->n_lora; i++) {
        const lora_mat *mt = lora_mat_at(c->lora[i], l, p);
        if (!lora_active(mt))
            continue;
        const float *u = lora_scratch(c, i, p);
        size_t R = c->lora[i]->max_rank;
        for (uint32_t t = 0; t < T; t++)
            for (uint32_t k = 0; k < mt->rank; k++)
                vaxpy(Y + t * ldy + r0, u[t * R + k], mt->bt + (size_t)k * mt->out + r0, r1 - r0);
    }
}

/* The part [*a, *b) of rows [lo, hi) that falls in [base, base + n), relative to base. */
static void sub_range(uint32_t lo, uint32_t hi, uint32_t base, uint32_t n, uint32_t *a, uint32_t *b)
{
    *a = lo > base ? (lo - base < n ? lo - base : n) : 0;
    *b = hi > base ? (hi - base < n ? hi - base : n) : 0;
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
static void attention_heads_at(relief_llm_ctx *c, uint32_t l, uint32_t pos, uint32_t h0, uint32_t h1, float *scores,
                               const float *qbase, float *obase)
{
    const relief_model_info *h = &c->m->info;
    const llm_layer *ly = &c->m->layers[l];
    uint32_t d = h->head_dim, G = h->n_head / h->n_head_kv, cap = c->kv_cap[l];
    uint32_t first = 0;
    if (ly->sliding && pos + 1 > h->sliding_window)
        first = pos + 1 - h->sliding_window; /* keys j with pos - W < j <= pos */
    float scale = 1.0f / sqrtf((float)d);
    kern_scores_fn score = kern_scores();
    kern_mix_fn mix = kern_mix();
    uint32_t n = pos - first + 1;
    for (uint32_t hd = h0; hd < h1; hd++) {
        const float *q = qbase + (size_t)hd * d;
        uint32_t g = hd / G;
        const float *kg = c->k[l] + (size_t)g * d, *vg = c->v[l] + (size_t)g * d;
        /* keys first..pos sit at ring slots j % cap: at most two runs */
        for (uint32_t j = first; j <= pos;) {
            uint32_t slot = j % cap, len = pos - j + 1 < cap - slot ? pos - j + 1 : cap - slot;
            score(q, kg + (size_t)slot * c->kv_stride, c->kv_stride, len, d, scale, scores + (j - first));
            j += len;
        }
        float mx = ly->sinks[hd];
        for (uint32_t i = 0; i < n; i++)
            mx = scores[i] > mx ? scores[i] : mx;
        float z = expf(ly->sinks[hd] - mx);
        for (uint32_t i = 0; i < n; i++) {
            float e = expf(scores[i] - mx);
            scores[i] = e;
            z += e;
        }
        for (uint32_t i = 0; i < n; i++)
            scores[i] /= z;
        float *o = obase + (size_t)hd * d;
        memset(o, 0, d * sizeof *o);
        for (uint32_t j = first; j <= pos;) {
            uint32_t slot = j % cap, len = pos - j + 1 < cap - slot ? pos - j + 1 : cap - slot;
            mix(o, scores + (j - first), vg + (size_t)slot * c->kv_stride, c->kv_stride, len, d);
            j += len;
        }
    }
}

/* Batched attention of KV group g on a layer without a sliding window,
 * for the batch's T tokens at positions p0..p0+T-1 (their keys and values
 * already in the cache): the group's keys are transposed once, and its
 * heads go KERN_MULTI at a time through kern_scores_multi/kern_mix_multi,
 * which load each key's values once for all of them (head by head, the
 * cached keys were read from L2 once per head and token). Same results as
 * attention_heads_at up to the order of f32 sums. */
static void attention_group_batch(relief_llm_ctx *c, uint32_t l, uint32_t p0, uint32_t T, uint32_t g, int ith)
{
    const relief_model_info *h = &c->m->info;
    const llm_layer *ly = &c->m->layers[l];
    uint32_t d = h->head_dim, G = h->n_head / h->n_head_kv, P = p0 + T;
    size_t QD = (size_t)h->n_head * d, ld = c->ld_multi;
    assert(!ly->sliding && c->kv_cap[l] >= P && P <= ld);
    float *kt = c->bkt + (size_t)ith * d * ld, *prob = c->bprob + (size_t)ith * KERN_MULTI * ld;
    const float *kg = c->k[l] + (size_t)g * d, *vg = c->v[l] + (size_t)g * d;
    for (uint32_t j = 0; j < P; j++)
        for (uint32_t i = 0; i < d; i++)
            kt[(size_t)i * ld + j] = kg[(size_t)j * c->kv_stride + i];
    float scale = 1.0f / sqrtf((float)d);
    kern_scores_multi_fn score = kern_scores_multi();
    kern_mix_multi_fn mix = kern_mix_multi();
    for (uint32_t t = 0; t < T; t++) {
        uint32_t n = p0 + t + 1; /* keys 0..p0+t */
        for (uint32_t h0 = g * G; h0 < (g + 1) * G; h0 += KERN_MULTI) {
            int nh = (int)((g + 1) * G - h0 < KERN_MULTI ? (g + 1) * G - h0 : KERN_MULTI);
            const float *qv[KERN_MULTI], *pv[KERN_MULTI];
            float *ov[KERN_MULTI];
            for (int k = 0; k < nh; k++) {
                qv[k] = c->bq + (size_t)t * QD + (size_t)(h0 + (uint32_t)k) * d;
                ov[k] = c->batt + (size_t)t * QD + (size_t)(h0 + (uint32_t)k) * d;
                pv[k] = prob + (size_t)k * ld;
            }
            score(qv, nh, kt, ld, n, d, scale, prob, ld);
            for (int k = 0; k < nh; k++) {
                float *s = prob + (size_t)k * ld, sink = ly->sinks[h0 + (uint32_t)k], mx = sink;
                for (uint32_t j = 0; j < n; j++)
                    mx = s[j] > mx ? s[j] : mx;
                float z = expf(sink - mx);
                for (uint32_t j = 0; j < n; j++) {
                    s[j] = expf(s[j] - mx);
                    z += s[j];
                }
                for (uint32_t j = 0; j < n; j++)
                    s[j] /= z;
                memset(ov[k], 0, d * sizeof(float));
            }
            mix(ov, nh, pv, vg, c->kv_stride, n, d);
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
typedef enum {
    JOB_LORA_DOWN, JOB_QKV, JOB_HEADS, JOB_WO, JOB_MOE_EXPERTS, JOB_MOE_GATEUP, JOB_MOE_DOWN, JOB_OUTPUT
} job_kind;

typedef struct {
    relief_llm_ctx *c;
    job_kind kind;
    uint32_t l, pos;
    uint32_t top[LLM_MAX_USED];
    float w[LLM_MAX_USED];
    uint32_t k, expert;   /* JOB_MOE_GATEUP/DOWN: the expert slot */
    bool lora_o;          /* JOB_LORA_DOWN: the o projection (else q, k, v) */
    float *out;
    const uint8_t *xq;    /* the quantized input (fast path), or NULL */
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
    case JOB_LORA_DOWN:
        if (jb->lora_o)
            lora_down(c, jb->l, LORA_O, LORA_O + 1, c->attn, 0, 1, ith, nth);
        else
            lora_down(c, jb->l, LORA_Q, LORA_V + 1, c->xn, 0, 1, ith, nth);
        break;
    case JOB_QKV: {
        uint32_t QD = ly->wq.rows, KD = ly->wk.rows, a, b;
        share(QD + 2 * KD, ith, nth, &lo, &hi);
        float *dst[3] = {c->q, c->kb, c->vb};
        const qmat *w[3] = {&ly->wq, &ly->wk, &ly->wv};
        const float *bias[3] = {ly->bq, ly->bk, ly->bv};
        uint32_t base[3] = {0, QD, QD + KD}, rows[3] = {QD, KD, KD};
        const uint8_t *xq[3];
        for (int p = 0; p < 3; p++) /* one input, quantized if any of the three has the fast path */
            xq[p] = xq_for(w[p], jb->xq);
        for (int p = 0; p < 3; p++) {
            sub_range(lo, hi, base[p], rows[p], &a, &b);
            if (a < b) {
                matvec_rows(dst[p], w[p], 0, c->xn, xq[p], c->terms, bias[p], a, b);
                if (c->n_lora)
                    lora_up(c, jb->l, LORA_Q + p, dst[p], 0, 1, a, b);
            }
        }
        break;
    }
    case JOB_HEADS:
        share(h->n_head, ith, nth, &lo, &hi);
        attention_heads_at(c, jb->l, jb->pos, lo, hi, c->scores + (size_t)ith * (c->n_ctx + 1), c->q, c->attn);
        break;
    case JOB_WO:
        share(H, ith, nth, &lo, &hi);
        matvec_rows(c->y, &ly->wo, 0, c->attn, jb->xq, c->terms, ly->bo, lo, hi);
        if (c->n_lora)
            lora_up(c, jb->l, LORA_O, c->y, 0, 1, lo, hi);
        break;
    case JOB_MOE_EXPERTS: {
        /* Whole experts per thread; each thread sums into its own acc. */
        float *gate = c->gate + (size_t)ith * I, *up = c->up + (size_t)ith * I;
        float *y = c->y + (size_t)ith * H, *acc = c->acc + (size_t)ith * H;
        uint8_t *gq = c->fast ? c->gq + (size_t)ith * c->terms * Q_Q8_BYTES(I) : NULL;
        memset(acc, 0, H * sizeof *acc);
        share(jb->k, ith, nth, &lo, &hi);
        for (uint32_t s = lo; s < hi; s++) {
            uint32_t e = jb->top[s];
            matvec_rows(gate, &ly->gate, e, c->xn, xq_for(&ly->gate, jb->xq), c->terms,
                        ly->gate_b + (size_t)e * I, 0, I);
            matvec_rows(up, &ly->up, e, c->xn, xq_for(&ly->up, jb->xq), c->terms, ly->up_b + (size_t)e * I, 0, I);
            swiglu(gate, up, I);
            matvec_rows(y, &ly->down, e, gate, fast_input(c, &ly->down, gate, gq), c->terms,
                        ly->down_b + (size_t)e * H, 0, H);
            for (uint32_t i = 0; i < H; i++)
                acc[i] += jb->w[s] * y[i];
        }
        break;
    }
    case JOB_MOE_GATEUP: {
        uint32_t e = jb->top[jb->expert];
        share(I, ith, nth, &lo, &hi);
        matvec_rows(c->gate, &ly->gate, e, c->xn, xq_for(&ly->gate, jb->xq), c->terms, ly->gate_b + (size_t)e * I,
                    lo, hi);
        matvec_rows(c->up, &ly->up, e, c->xn, xq_for(&ly->up, jb->xq), c->terms, ly->up_b + (size_t)e * I, lo,
                    hi);
        swiglu(c->gate + lo, c->up + lo, hi - lo);
        break;
    }
    case JOB_MOE_DOWN: {
        uint32_t e = jb->top[jb->expert];
        share(H, ith, nth, &lo, &hi);
        matvec_rows(c->y, &ly->down, e, c->gate, jb->xq, c->terms, ly->down_b + (size_t)e * H, lo, hi);
        for (uint32_t i = lo; i < hi; i++)
            c->acc[i] += jb->w[jb->expert] * c->y[i];
        break;
    }
    case JOB_OUTPUT:
        share(h->n_vocab, ith, nth, &lo, &hi);
        matvec_rows(jb->out, &m->output, 0, c->xn, jb->xq, c->terms, NULL, lo, hi);
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
    if (c->n_lora) {
        jb.kind = JOB_LORA_DOWN;
        pool_run(c->pool, run_job, &jb);
    }
    jb.kind = JOB_QKV;
    jb.xq = fast_input(c, ly->wq.qdot ? &ly->wq : ly->wk.qdot ? &ly->wk : &ly->wv, c->xn, c->xq);
    pool_run(c->pool, run_job, &jb);
    for (uint32_t hd = 0; hd < h->n_head; hd++)
        rope_head(c->q + (size_t)hd * d, c->rope_cos, c->rope_sin, half);
    for (uint32_t g = 0; g < h->n_head_kv; g++)
        rope_head(c->kb + (size_t)g * d, c->rope_cos, c->rope_sin, half);
    size_t slot = (size_t)(pos % c->kv_cap[l]) * c->kv_stride;
    memcpy(c->k[l] + slot, c->kb, kvd * sizeof(float));
    memcpy(c->v[l] + slot, c->vb, kvd * sizeof(float));
    jb.kind = JOB_HEADS;
    pool_run(c->pool, run_job, &jb);
    if (c->n_lora) {
        jb.kind = JOB_LORA_DOWN;
        jb.lora_o = true;
        pool_run(c->pool, run_job, &jb);
    }
    jb.kind = JOB_WO;
    jb.xq = fast_input(c, &ly->wo, c->attn, c->xq);
    pool_run(c->pool, run_job, &jb);
    for (uint32_t i = 0; i < h->n_embd; i++)
        c->x[i] += c->y[i];
}

/* Indices of the k largest of v[0..n) into top (lowest index first on ties). */
static void top_k(const float *v, uint32_t n, uint32_t k, uint32_t *top)
{
    assert(k <= n); /* the loader checks n_expert_used <= n_expert */
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
    matvec_rows(c->router, &ly->router, 0, c->xn, NULL, c->terms, ly->router_b, 0, h->n_expert);
    top_k(c->router, h->n_expert, K, jb.top);
    float mx = c->router[jb.top[0]], sum = 0;
    for (uint32_t s = 1; s < K; s++)
        mx = c->router[jb.top[s]] > mx ? c->router[jb.top[s]] : mx;
    for (uint32_t s = 0; s < K; s++)
        sum += jb.w[s] = expf(c->router[jb.top[s]] - mx);
    for (uint32_t s = 0; s < K; s++)
        jb.w[s] /= sum;
    const uint8_t *xq = fast_input(c, ly->gate.qdot ? &ly->gate : &ly->up, c->xn, c->xq);
    jb.xq = xq;
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
        jb.xq = xq;
        pool_run(c->pool, run_job, &jb);
        jb.kind = JOB_MOE_DOWN;
        jb.xq = fast_input(c, &ly->down, c->gate, c->gq);
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

/* Where a multi-token relief_llm_eval stands: tokens [base, base + T) are
 * in the batch now being read, of total. */
typedef struct {
    const relief_llm_limits *lim;
    size_t base, T, total;
} eval_progress;

static void report_progress(const eval_progress *p, uint32_t layers_done, uint32_t n_layer)
{
    if (!p || !p->lim || !p->lim->on_progress || p->total < 2)
        return;
    double done = ((double)p->base + (double)p->T * layers_done / n_layer) / (double)p->total;
    p->lim->on_progress(done > 1 ? 1 : done, p->lim->progress_user);
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
    assert(pos < c->n_ctx);
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
        jb.xq = fast_input(c, &m->output, c->xn, c->xq);
        pool_run(c->pool, run_job, &jb);
    }
    return RELIEF_LLM_OK;
}

/* RELIEF_NO_BATCH=1 evaluates prompts token by token (for comparisons). */
static bool getenv_batch_off(void)
{
    return env_flag("RELIEF_NO_BATCH");
}

/* ---- batched prompt evaluation ----
 * Many tokens per layer pass: each weight row is decoded once per batch
 * and multiplied with every token's activations (kern_gemm), and each
 * expert's matrices are read once for all the tokens routed to it. On the
 * fast path the batch's inputs are quantized once per projection and
 * kern_qgemm repacks 16 weight rows at a time for all the tokens. */

typedef enum {
    BJOB_LORA_DOWN, BJOB_QKV, BJOB_HEADS, BJOB_WO, BJOB_GATEUP, BJOB_DOWN, BJOB_OUTPUT, BJOB_QUANT
} bjob_kind;

typedef struct {
    relief_llm_ctx *c;
    bjob_kind kind;
    uint32_t l, T, p0, expert, n_tok;
    bool lora_o;              /* BJOB_LORA_DOWN: the o projection (else q, k, v) */
    float *out;               /* BJOB_OUTPUT: [T][vocab] */
    const uint8_t *xq;        /* the quantized inputs (fast path), or NULL; ldxq bytes apart */
    size_t ldxq;
    const float *qsrc;        /* BJOB_QUANT: T rows of qn floats, qld apart, into qdst (ldxq apart) */
    size_t qld, qn;
    uint8_t *qdst;
} bjob;

/* Y[t][r] = W[r] . X[t] + b[r] for rows [r0, r1), tokens [0, T); with XQ
 * (X quantized, ldxq bytes apart) the fast path's product. */
static void gemm_rows(relief_llm_ctx *c, int ith, const qmat *w, uint32_t e, const float *X, size_t ldx,
                      const uint8_t *XQ, size_t ldxq, uint32_t T, float *Y, size_t ldy, const float *bias, uint32_t r0,
                      uint32_t r1)
{
    if (XQ) {
        for (uint32_t t = 0; t < T; t++)
            for (uint32_t r = r0; r < r1; r++)
                Y[(size_t)t * ldy + r] = bias ? bias[r] : 0.0f;
        if (r0 < r1)
            w->qgemm(qmat_row(w, e, r0), w->row_stride, r1 - r0, XQ, ldxq, T, w->cols, Y + r0, ldy,
                     c->qscratch + (size_t)ith * c->qscratch_size, c->terms);
        return;
    }
    size_t maxc = c->m->info.n_embd;
    maxc = maxc > (size_t)c->m->info.n_head * c->m->info.head_dim ? maxc : (size_t)c->m->info.n_head * c->m->info.head_dim;
    maxc = maxc > c->m->info.n_ff_expert ? maxc : c->m->info.n_ff_expert;
    float *tile = c->wtile + (size_t)ith * 4 * maxc;
    kern_dequant_fn deq = kern_dequant(w->type);
    kern_gemm_fn gemm = kern_gemm();
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t r = r0; r < r1; r++)
            Y[(size_t)t * ldy + r] = bias ? bias[r] : 0.0f;
    for (uint32_t r = r0; r < r1; r += 4) {
        uint32_t nr = r1 - r < 4 ? r1 - r : 4;
        for (uint32_t i = 0; i < nr; i++)
            deq(qmat_row(w, e, r + i), tile + i * w->cols, w->cols);
        gemm(tile, w->cols, nr, X, ldx, T, w->cols, Y + r, ldy);
    }
}

static void run_bjob(void *arg, int ith, int nth);

/* The fast path's inputs for matrix w: T rows of X (w->cols floats, ldx
 * apart) quantized into buf, terms x Q_Q8_BYTES(w->cols) apart (*ldxq), by
 * the pool; NULL (the exact product) when the path is off or w's type has no
 * fast kernel. */
static const uint8_t *fast_inputs(relief_llm_ctx *c, const qmat *w, const float *X, size_t ldx, uint32_t T,
                                  uint8_t *buf, size_t *ldxq)
{
    *ldxq = (size_t)c->terms * Q_Q8_BYTES(w->cols);
    if (!c->fast || !w->qdot)
        return NULL;
    bjob q = {.c = c, .kind = BJOB_QUANT, .T = T, .qsrc = X, .qld = ldx, .qn = w->cols, .qdst = buf, .ldxq = *ldxq};
    pool_run(c->pool, run_bjob, &q);
    return buf;
}

static void run_bjob(void *arg, int ith, int nth)
{
    bjob *jb = arg;
    relief_llm_ctx *c = jb->c;
    const relief_model *m = c->m;
    const relief_model_info *h = &m->info;
    const llm_layer *ly = jb->l < h->n_layer ? &m->layers[jb->l] : NULL;
    uint32_t H = h->n_embd, I = h->n_ff_expert, T = jb->T, lo, hi;
    size_t QD = (size_t)h->n_head * h->head_dim, KD = (size_t)h->n_head_kv * h->head_dim;
    switch (jb->kind) {
    case BJOB_LORA_DOWN:
        if (jb->lora_o)
            lora_down(c, jb->l, LORA_O, LORA_O + 1, c->batt, QD, T, ith, nth);
        else
            lora_down(c, jb->l, LORA_Q, LORA_V + 1, c->bxn, H, T, ith, nth);
        break;
    case BJOB_QKV: {
        uint32_t q = ly->wq.rows, k = ly->wk.rows, a, b;
        share(q + 2 * k, ith, nth, &lo, &hi);
        float *dst[3] = {c->bq, c->bk, c->bv};
        const qmat *w[3] = {&ly->wq, &ly->wk, &ly->wv};
        const float *bias[3] = {ly->bq, ly->bk, ly->bv};
        uint32_t base[3] = {0, q, q + k}, rows[3] = {q, k, k};
        size_t ld[3] = {QD, KD, KD};
        for (int p = 0; p < 3; p++) {
            sub_range(lo, hi, base[p], rows[p], &a, &b);
            if (a < b) {
                gemm_rows(c, ith, w[p], 0, c->bxn, H, xq_for(w[p], jb->xq), jb->ldxq, T, dst[p], ld[p], bias[p], a, b);
                if (c->n_lora)
                    lora_up(c, jb->l, LORA_Q + p, dst[p], ld[p], T, a, b);
            }
        }
        break;
    }
    case BJOB_HEADS: {
        if (!ly->sliding && c->kv_cap[jb->l] >= jb->p0 + T) { /* KV groups, all tokens each */
            share(h->n_head_kv, ith, nth, &lo, &hi);
            for (uint32_t g = lo; g < hi; g++)
                attention_group_batch(c, jb->l, jb->p0, T, g, ith);
            break;
        }
        /* Work items are (head, token) pairs, head by head: a KV group's
         * keys and values (8 heads share them) stay in cache for all the
         * tokens (token by token, every token streamed the whole layer's
         * cache, 4.9 MB at 1,200 positions on gpt-oss-20b, from L3). */
        share(T * h->n_head, ith, nth, &lo, &hi);
        float *scores = c->bscores + (size_t)ith * (c->n_ctx + 1);
        for (uint32_t it = lo; it < hi; it++) {
            uint32_t hd = it / T, t = it % T;
            attention_heads_at(c, jb->l, jb->p0 + t, hd, hd + 1, scores, c->bq + t * QD, c->batt + t * QD);
        }
        break;
    }
    case BJOB_WO:
        share(H, ith, nth, &lo, &hi);
        gemm_rows(c, ith, &ly->wo, 0, c->batt, QD, jb->xq, jb->ldxq, T, c->by, H, ly->bo, lo, hi);
        if (c->n_lora)
            lora_up(c, jb->l, LORA_O, c->by, H, T, lo, hi);
        break;
    case BJOB_GATEUP: {
        uint32_t e = jb->expert, n = jb->n_tok;
        share(I, ith, nth, &lo, &hi);
        gemm_rows(c, ith, &ly->gate, e, c->bgather, H, xq_for(&ly->gate, jb->xq), jb->ldxq, n, c->bgate, I,
                  ly->gate_b + (size_t)e * I, lo, hi);
        gemm_rows(c, ith, &ly->up, e, c->bgather, H, xq_for(&ly->up, jb->xq), jb->ldxq, n, c->bup, I,
                  ly->up_b + (size_t)e * I, lo, hi);
        for (uint32_t t = 0; t < n; t++)
            swiglu(c->bgate + (size_t)t * I + lo, c->bup + (size_t)t * I + lo, hi - lo);
        break;
    }
    case BJOB_DOWN: {
        uint32_t e = jb->expert, n = jb->n_tok;
        share(H, ith, nth, &lo, &hi);
        gemm_rows(c, ith, &ly->down, e, c->bgate, I, jb->xq, jb->ldxq, n, c->by, H, ly->down_b + (size_t)e * H, lo, hi);
        /* Scatter into each token's sum with its routing weight. */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t t = c->elist[(size_t)e * LLM_MAX_BATCH + i];
            float wgt = 0;
            for (uint32_t s = 0; s < h->n_expert_used; s++)
                if (c->btop[(size_t)t * h->n_expert_used + s] == e)
                    wgt = c->bw[(size_t)t * h->n_expert_used + s];
            float *acc = c->bacc + (size_t)t * H;
            const float *y = c->by + (size_t)i * H;
            for (uint32_t r = lo; r < hi; r++)
                acc[r] += wgt * y[r];
        }
        break;
    }
    case BJOB_OUTPUT:
        share(h->n_vocab, ith, nth, &lo, &hi);
        gemm_rows(c, ith, &m->output, 0, c->bxn, H, jb->xq, jb->ldxq, T, jb->out, h->n_vocab, NULL, lo, hi);
        break;
    case BJOB_QUANT: {
        kern_quant_fn quant = kern_quant_q8();
        share(T, ith, nth, &lo, &hi);
        for (uint32_t t = lo; t < hi; t++)
            quant(jb->qsrc + (size_t)t * jb->qld, jb->qdst + (size_t)t * jb->ldxq, jb->qn, c->terms);
        break;
    }
    }
}

static relief_llm_status forward_batch(relief_llm_ctx *c, const int32_t *tokens, uint32_t T, float *out,
                                       bool all_logits, const relief_llm_limits *lim, const eval_progress *prog)
{
    const relief_model *m = c->m;
    const relief_model_info *h = &m->info;
    uint32_t H = h->n_embd, d = h->head_dim, half = d / 2, E = h->n_expert, K = h->n_expert_used;
    size_t QD = (size_t)h->n_head * d, KD = (size_t)h->n_head_kv * d;
    for (uint32_t t = 0; t < T; t++)
        if (tokens[t] < 0 || (uint32_t)tokens[t] >= h->n_vocab)
            return RELIEF_LLM_BAD_TOKEN;
    if (c->pos + T > c->n_ctx)
        return RELIEF_LLM_CTX_FULL;
    assert(T >= 1 && T <= LLM_MAX_BATCH); /* the batch buffers hold LLM_MAX_BATCH tokens */
    uint32_t p0 = c->pos;
    for (uint32_t t = 0; t < T; t++)
        q_dequant_row(m->tok_embd.type, qmat_row(&m->tok_embd, 0, (uint32_t)tokens[t]), c->bx + (size_t)t * H, H);
    bjob jb = {.c = c, .T = T, .p0 = p0};
    for (uint32_t l = 0; l < h->n_layer; l++) {
        relief_llm_status st = check_limits(lim);
        if (st != RELIEF_LLM_OK)
            return st;
        if (l > 0)
            report_progress(prog, l, h->n_layer);
        const llm_layer *ly = &m->layers[l];
        jb.l = l;
        for (uint32_t t = 0; t < T; t++)
            rmsnorm(c->bxn + (size_t)t * H, c->bx + (size_t)t * H, ly->attn_norm, H, h->rms_eps);
        if (c->n_lora) {
            jb.kind = BJOB_LORA_DOWN;
            jb.lora_o = false;
            pool_run(c->pool, run_bjob, &jb);
        }
        jb.kind = BJOB_QKV;
        jb.xq = fast_inputs(c, ly->wq.qdot ? &ly->wq : ly->wk.qdot ? &ly->wk : &ly->wv, c->bxn, H, T, c->bxq,
                            &jb.ldxq);
        pool_run(c->pool, run_bjob, &jb);
        /* A layer of a large batch takes long: check the limits between its
         * parts too. Stopping mid-layer is safe: the position is not
         * advanced, so what this batch wrote to the cache is rewritten by the
         * next evaluation. */
        if ((st = check_limits(lim)) != RELIEF_LLM_OK)
            return st;
        for (uint32_t t = 0; t < T; t++) {
            rope_tables(c, p0 + t);
            for (uint32_t hd = 0; hd < h->n_head; hd++)
                rope_head(c->bq + t * QD + (size_t)hd * d, c->rope_cos, c->rope_sin, half);
            for (uint32_t g = 0; g < h->n_head_kv; g++)
                rope_head(c->bk + t * KD + (size_t)g * d, c->rope_cos, c->rope_sin, half);
            size_t slot = (size_t)((p0 + t) % c->kv_cap[l]) * c->kv_stride;
            memcpy(c->k[l] + slot, c->bk + t * KD, KD * sizeof(float));
            memcpy(c->v[l] + slot, c->bv + t * KD, KD * sizeof(float));
        }
        jb.kind = BJOB_HEADS;
        pool_run(c->pool, run_bjob, &jb);
        if (c->n_lora) {
            jb.kind = BJOB_LORA_DOWN;
            jb.lora_o = true;
            pool_run(c->pool, run_bjob, &jb);
        }
        jb.kind = BJOB_WO;
        jb.xq = fast_inputs(c, &ly->wo, c->batt, QD, T, c->bxq, &jb.ldxq);
        pool_run(c->pool, run_bjob, &jb);
        if ((st = check_limits(lim)) != RELIEF_LLM_OK)
            return st;
        for (size_t i = 0; i < (size_t)T * H; i++)
            c->bx[i] += c->by[i];

        /* Router for every token, then the tokens of each expert together. */
        memset(c->ecount, 0, E * sizeof *c->ecount);
        for (uint32_t t = 0; t < T; t++) {
            float *xn = c->bxn + (size_t)t * H, *rl = c->brouter + (size_t)t * E;
            rmsnorm(xn, c->bx + (size_t)t * H, ly->moe_norm, H, h->rms_eps);
            matvec_rows(rl, &ly->router, 0, xn, NULL, c->terms, ly->router_b, 0, E);
            uint32_t *top = c->btop + (size_t)t * K;
            float *w = c->bw + (size_t)t * K;
            top_k(rl, E, K, top);
            float mx = rl[top[0]], sum = 0;
            for (uint32_t s = 1; s < K; s++)
                mx = rl[top[s]] > mx ? rl[top[s]] : mx;
            for (uint32_t s = 0; s < K; s++)
                sum += w[s] = expf(rl[top[s]] - mx);
            for (uint32_t s = 0; s < K; s++) {
                w[s] /= sum;
                c->elist[(size_t)top[s] * LLM_MAX_BATCH + c->ecount[top[s]]++] = t;
            }
        }
        memset(c->bacc, 0, (size_t)T * H * sizeof(float));
        /* Fast path: every token's input quantized once, then gathered per expert. */
        size_t ldxq;
        const uint8_t *xq = fast_inputs(c, ly->gate.qdot ? &ly->gate : &ly->up, c->bxn, H, T, c->bxq, &ldxq);
        bool need_f32 = !xq || !ly->gate.qdot || !ly->up.qdot;
        for (uint32_t e = 0; e < E; e++) {
            uint32_t n = c->ecount[e];
            if (!n)
                continue;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t t = c->elist[(size_t)e * LLM_MAX_BATCH + i];
                if (need_f32)
                    memcpy(c->bgather + (size_t)i * H, c->bxn + (size_t)t * H, H * sizeof(float));
                if (xq)
                    memcpy(c->beq + i * ldxq, xq + t * ldxq, ldxq);
            }
            jb.expert = e;
            jb.n_tok = n;
            jb.kind = BJOB_GATEUP;
            jb.xq = xq ? c->beq : NULL;
            jb.ldxq = ldxq;
            pool_run(c->pool, run_bjob, &jb);
            jb.kind = BJOB_DOWN;
            jb.xq = fast_inputs(c, &ly->down, c->bgate, h->n_ff_expert, n, c->beq, &jb.ldxq);
            pool_run(c->pool, run_bjob, &jb);
            if ((st = check_limits(lim)) != RELIEF_LLM_OK)
                return st;
        }
        for (size_t i = 0; i < (size_t)T * H; i++)
            c->bx[i] += c->bacc[i];
    }
    c->pos += T;
    if (out && all_logits) {
        for (uint32_t t = 0; t < T; t++)
            rmsnorm(c->bxn + (size_t)t * H, c->bx + (size_t)t * H, m->out_norm, H, h->rms_eps);
        jb.kind = BJOB_OUTPUT;
        jb.l = UINT32_MAX;
        jb.out = out;
        jb.xq = fast_inputs(c, &m->output, c->bxn, H, T, c->bxq, &jb.ldxq);
        pool_run(c->pool, run_bjob, &jb);
    } else if (out) {
        rmsnorm(c->xn, c->bx + (size_t)(T - 1) * H, m->out_norm, H, h->rms_eps);
        job j1 = {.c = c, .kind = JOB_OUTPUT, .l = UINT32_MAX, .out = out};
        j1.xq = fast_input(c, &m->output, c->xn, c->xq);
        pool_run(c->pool, run_job, &j1);
    }
    return RELIEF_LLM_OK;
}

relief_llm_status relief_llm_eval(relief_llm_ctx *c, const int32_t *tokens, size_t n, float *logits, bool all_logits,
                                  const relief_llm_limits *lim)
{
    if (n > 1 && !getenv_batch_off()) {
        size_t V = c->m->info.n_vocab;
        for (size_t i = 0; i < n;) {
            /* Under a near deadline, smaller batches keep the longest step
             * between two limit checks (one batched projection) short; a
             * far one (a streaming budget) does not need it, and every
             * extra batch reads all the experts' weights once more. */
            bool near = lim && lim->deadline > 0 && lim->deadline - relief_llm_now() < LLM_FAR_DEADLINE_S;
            uint32_t max_batch = near ? LLM_DEADLINE_BATCH : LLM_MAX_BATCH;
            uint32_t T = n - i > max_batch ? max_batch : (uint32_t)(n - i);
            if (T > c->n_ctx - c->pos)
                T = c->n_ctx - c->pos; /* fill what fits, then report the overflow */
            if (T == 0)
                return RELIEF_LLM_CTX_FULL;
            if (T == 1) {
                relief_llm_status st = forward_token(c, tokens[i], logits && (all_logits || i + 1 == n) ? (all_logits ? logits + i * V : logits) : NULL, lim);
                if (st != RELIEF_LLM_OK)
                    return st;
                i++;
                eval_progress prog = {lim, i, 0, n};
                report_progress(&prog, 0, 1);
                continue;
            }
            float *out = NULL;
            if (logits && all_logits)
                out = logits + i * V;
            else if (logits && i + T == n)
                out = logits;
            eval_progress prog = {lim, i, T, n};
            relief_llm_status st = forward_batch(c, tokens + i, T, out, all_logits, lim, &prog);
            if (st != RELIEF_LLM_OK)
                return st;
            i += T;
            prog = (eval_progress){lim, i, 0, n};
            report_progress(&prog, 0, 1);
        }
        return RELIEF_LLM_OK;
    }
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
        eval_progress prog = {lim, i + 1, 0, n};
        report_progress(&prog, 0, 1);
    }
    return RELIEF_LLM_OK;
}
