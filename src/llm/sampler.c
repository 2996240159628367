/*
 * sampler.c - next-token choice: repetition penalty over a window, masking
 * of end tokens before min_new_tokens, then greedy (temperature 0) or
 * temperature -> top-k -> softmax -> top-p -> min-p -> seeded draw.
 * Also relief_llm_generate, the prompt-then-sample loop.
 */
#include "llm_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

relief_sampler_params relief_llm_sampler_defaults(void)
{
    /* Model card (gpt-oss.md 12): temperature 1.0, top_p 1.0. */
    relief_sampler_params p = {
        .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repeat_penalty = 1.0f,
        .repeat_window = 64, .min_new_tokens = 0, .max_new_tokens = 512, .seed = 0x5eed,
    };
    return p;
}

/* splitmix64: small, seedable, good enough for sampling. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
    return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct {
    float p;
    int32_t id;
} cand;

static int cmp_cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

int32_t llm_sample(float *logits, size_t n, const relief_sampler_params *sp, const int32_t *recent,
                   size_t n_recent, const int32_t *mask_ids, size_t n_mask, uint64_t *rng)
{
    if (sp->repeat_penalty != 1.0f && sp->repeat_penalty > 0) {
        size_t from = sp->repeat_window > 0 && n_recent > (size_t)sp->repeat_window
                          ? n_recent - (size_t)sp->repeat_window : 0;
        for (size_t i = from; i < n_recent; i++) {
            int32_t t = recent[i];
            if (t < 0 || (size_t)t >= n)
                continue;
            /* penalise each token once even if repeated in the window */
            bool seen = false;
            for (size_t j = from; j < i && !seen; j++)
                seen = recent[j] == t;
            if (seen)
                continue;
            logits[t] = logits[t] > 0 ? logits[t] / sp->repeat_penalty : logits[t] * sp->repeat_penalty;
        }
    }
    for (size_t i = 0; i < n_mask; i++)
        if (mask_ids[i] >= 0 && (size_t)mask_ids[i] < n)
            logits[mask_ids[i]] = -INFINITY;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    if (!(sp->temperature > 0) || !isfinite(logits[best]))
        return (int32_t)best;

    /* Candidates: everything within 40 nats of the best at this temperature
     * (beyond that the probability is below e^-40 and cannot matter). */
    float mx = logits[best], inv_t = 1.0f / sp->temperature;
    size_t nc = 0;
    cand *c = malloc(n * sizeof *c);
    if (!c)
        return (int32_t)best; /* degrade to greedy rather than fail */
    for (size_t i = 0; i < n; i++) {
        float z = (logits[i] - mx) * inv_t;
        if (z > -40.0f)
            c[nc++] = (cand){z, (int32_t)i};
    }
    bool sorted = false;
    if (sp->top_k > 0 && (size_t)sp->top_k < nc) {
        qsort(c, nc, sizeof *c, cmp_cand_desc);
        sorted = true;
        nc = (size_t)sp->top_k;
    }
    double sum = 0;
    for (size_t i = 0; i < nc; i++)
        sum += c[i].p = expf(c[i].p);
    for (size_t i = 0; i < nc; i++)
        c[i].p = (float)(c[i].p / sum);
    if (sp->top_p > 0 && sp->top_p < 1) {
        if (!sorted)
            qsort(c, nc, sizeof *c, cmp_cand_desc);
        sorted = true;
        double cum = 0;
        size_t keep = 0;
        while (keep < nc) {
            cum += c[keep++].p;
            if (cum >= sp->top_p)
                break;
        }
        nc = keep;
    }
    if (sp->min_p > 0) {
        float pmax = 0;
        for (size_t i = 0; i < nc; i++)
            pmax = c[i].p > pmax ? c[i].p : pmax;
        size_t k = 0;
        for (size_t i = 0; i < nc; i++)
            if (c[i].p >= sp->min_p * pmax)
                c[k++] = c[i];
        nc = k;
    }
    double total = 0;
    for (size_t i = 0; i < nc; i++)
        total += c[i].p;
    double r = rng_uniform(rng) * total, acc = 0;
    int32_t pick = c[nc ? nc - 1 : 0].id;
    for (size_t i = 0; i < nc; i++) {
        acc += c[i].p;
        if (r < acc) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    return pick;
}

relief_llm_status relief_llm_generate(relief_llm_ctx *c, const int32_t *prompt, size_t n_prompt,
                                      const relief_sampler_params *sp_in, const int32_t *end_ids, size_t n_end,
                                      relief_token_cb cb, void *user, const relief_llm_limits *lim,
                                      relief_gen_result *res)
{
    relief_sampler_params sp = sp_in ? *sp_in : relief_llm_sampler_defaults();
    relief_gen_result r = {0, -1, RELIEF_LLM_OK, 0, 0};
    size_t V = c->m->info.n_vocab;
    double t0 = relief_llm_now();
    uint64_t rng = sp.seed;
    size_t n_recent = 0;
    for (size_t i = n_prompt > LLM_MAX_RECENT ? n_prompt - LLM_MAX_RECENT : 0; i < n_prompt; i++)
        c->recent[n_recent++] = prompt[i];
    relief_llm_status st = relief_llm_eval(c, prompt, n_prompt, c->logits, false, lim);
    r.prompt_seconds = relief_llm_now() - t0;
    double t1 = relief_llm_now();
    while (st == RELIEF_LLM_OK) {
        if (sp.max_new_tokens >= 0 && r.n_generated >= (size_t)sp.max_new_tokens)
            break;
        bool mask = r.n_generated < (size_t)(sp.min_new_tokens > 0 ? sp.min_new_tokens : 0);
        int32_t tok = llm_sample(c->logits, V, &sp, c->recent, n_recent, mask ? end_ids : NULL, mask ? n_end : 0, &rng);
        r.n_generated++;
        if (n_recent == LLM_MAX_RECENT) {
            memmove(c->recent, c->recent + 1, (LLM_MAX_RECENT - 1) * sizeof *c->recent);
            n_recent--;
        }
        c->recent[n_recent++] = tok;
        bool is_end = false;
        for (size_t i = 0; i < n_end; i++)
            is_end |= end_ids[i] == tok;
        if (cb && cb(tok, user)) {
            if (is_end)
                r.stop_token = tok;
            break;
        }
        if (is_end) {
            r.stop_token = tok;
            break;
        }
        if (sp.max_new_tokens >= 0 && r.n_generated >= (size_t)sp.max_new_tokens)
            break; /* the last token need not be evaluated */
        if ((st = (lim ? (lim->cancel && atomic_load(lim->cancel) ? RELIEF_LLM_CANCELLED
                          : lim->deadline > 0 && relief_llm_now() >= lim->deadline ? RELIEF_LLM_DEADLINE
                          : RELIEF_LLM_OK) : RELIEF_LLM_OK)) != RELIEF_LLM_OK)
            break;
        st = relief_llm_eval(c, &tok, 1, c->logits, false, lim);
    }
    r.gen_seconds = relief_llm_now() - t1;
    r.status = st;
    if (res)
        *res = r;
    return st;
}
