/*
 * hybrid.c - the hybrid responder (relief/hybrid.h): plan first, always;
 * then a harmony prompt built from the report, the extracted facts and the
 * plan's brief, answered by the configured backend under a deadline.
 */
#include "backend.h"
#include "prompt.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DEADLINE_S 5.0

struct relief_hybrid {
    const relief_kb *kb;
    relief_hybrid_config cfg;
    backend *be;
    char name[1100];
};

relief_hybrid *relief_hybrid_new(const relief_kb *kb, const relief_hybrid_config *cfg, char *err, size_t cap)
{
    relief_hybrid *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    h->kb = kb;
    relief_hybrid_config none = {.kind = RELIEF_BACKEND_NONE};
    h->cfg = cfg ? *cfg : none;
    switch (h->cfg.kind) {
    case RELIEF_BACKEND_NONE:
        snprintf(h->name, sizeof h->name, "none");
        break;
    case RELIEF_BACKEND_BUILTIN:
        if (!h->cfg.model_path) {
            snprintf(err, cap, "the built-in backend needs a model file");
            free(h);
            return NULL;
        }
    {
        char *fixed = prompt_developer(kb, 0); /* for chat clients that bring no instructions */
        h->be = fixed ? backend_builtin_new(&h->cfg, NULL, fixed, err, cap) : NULL;
        if (!fixed)
            snprintf(err, cap, "out of memory");
        free(fixed);
        break;
    }
    case RELIEF_BACKEND_REMOTE:
        if (!h->cfg.remote_url) {
            snprintf(err, cap, "the remote backend needs a URL");
            free(h);
            return NULL;
        }
        if (h->cfg.lora && *h->cfg.lora) {
            snprintf(err, cap, "LoRA adapters apply to the built-in engine only (the remote server loads its own)");
            free(h);
            return NULL;
        }
        h->be = backend_remote_new(h->cfg.remote_url, h->cfg.remote_model, h->cfg.remote_token, err, cap);
        break;
    }
    if (h->cfg.kind != RELIEF_BACKEND_NONE) {
        if (!h->be) {
            free(h);
            return NULL;
        }
        snprintf(h->name, sizeof h->name, "%s", h->be->name);
    }
    return h;
}

void relief_hybrid_free(relief_hybrid *h)
{
    if (!h)
        return;
    if (h->be)
        h->be->destroy(h->be);
    free(h);
}

const char *relief_hybrid_backend_name(const relief_hybrid *h)
{
    return h->name;
}

/* ---- responding ---- */

typedef struct {
    strbuf text;
    int (*on_text)(const char *, size_t, void *);
    void *user;
} collect;

static int collect_text(const char *t, size_t n, void *user)
{
    collect *c = user;
    strbuf_add(&c->text, t, n);
    return c->on_text ? c->on_text(t, n, c->user) : 0;
}

int relief_hybrid_plan(const relief_kb *kb, const char *report, size_t len, const relief_hybrid_request *req,
                       relief_hybrid_result *res)
{
    relief_hybrid_request def = {0};
    if (!req)
        req = &def;
    memset(res, 0, sizeof *res);
    res->started = clock_now();
    res->timings.ttft_ms = -1;
    res->timings.first_token_ms = -1;
    relief_options opt = {.days = req->days, .lang = req->lang, .lang_reason = req->lang_reason};
    res->plan = relief_plan_build(kb, report, len, &opt);
    if (!res->plan)
        return -1;
    res->timings.plan_ms = (clock_now() - res->started) * 1e3;
    res->timings.total_ms = res->timings.plan_ms;
    return 0;
}

int relief_hybrid_elaborate(relief_hybrid *h, const relief_hybrid_request *req, relief_hybrid_result *res)
{
    relief_hybrid_request def = {0};
    if (!req)
        req = &def;
    if (!res->plan)
        return -1;
    double t0 = clock_now();
    double deadline_s = req->deadline_s > 0 ? req->deadline_s : DEFAULT_DEADLINE_S;
    if (!h || !h->be || req->no_model) {
        res->model_error = h && h->be ? NULL : "no model backend configured";
        res->timings.total_ms = (clock_now() - res->started) * 1e3;
        return 0;
    }
    uint32_t hazards = prompt_hazard_set(res->plan);
    char *developer = prompt_developer(h->kb, hazards);
    char *user = developer ? prompt_user(h->kb, res->plan, hazards) : NULL;
    collect c = {.on_text = req->on_text, .user = req->user};
    if (!user) {
        res->model_error = "out of memory";
    } else {
        relief_chat_message msgs[2] = {{RELIEF_CHAT_DEVELOPER, developer}, {RELIEF_CHAT_USER, user}};
        backend_opts o = {.deadline = t0 + deadline_s, .cancel = req->cancel, .max_tokens = h->cfg.max_tokens,
                          .temperature = h->cfg.kind == RELIEF_BACKEND_BUILTIN ? -1 : h->cfg.temperature,
                          .reasoning = h->cfg.reasoning, .final_only = h->cfg.final_only,
                          .persist_prefix = true, .prefix_unbounded = req->prefix_unbounded,
                          .on_progress = req->on_progress, .progress_user = req->user};
        backend_result br;
        int rc = h->be->chat(h->be, msgs, 2, &o, collect_text, &c, &br);
        /* Times that count "from the request" count from the plan's start. */
        double before_model = t0 - res->started;
        res->timings.model_ms = (clock_now() - t0) * 1e3;
        res->timings.model_tokens = br.n_tokens;
        res->timings.prompt_tokens = br.prompt_tokens;
        res->timings.prefix_cached = br.prefix_cached;
        res->timings.prompt_cached = br.prompt_cached;
        res->timings.tokens_per_s = res->timings.model_ms > 0 ? br.n_tokens / (res->timings.model_ms / 1e3) : 0;
        if (br.ttft >= 0)
            res->timings.ttft_ms = (before_model + br.ttft) * 1e3;
        if (br.first_token >= 0)
            res->timings.first_token_ms = (before_model + br.first_token) * 1e3;
        else
            res->timings.first_token_ms = res->timings.ttft_ms;
        res->model_complete = br.complete;
        res->model_cut = br.cut;
        res->model_error = rc < 0 ? (br.error ? br.error : "model backend failed") : br.error;
    }
    free(developer);
    free(user);
    if (c.text.failed) {
        free(c.text.p);
        c.text.p = NULL;
        c.text.n = 0;
    }
    free(res->model_text);
    res->model_text = c.text.p ? c.text.p : strdup("");
    res->model_text_len = c.text.p ? c.text.n : 0;
    res->timings.total_ms = (clock_now() - res->started) * 1e3;
    return 0;
}

int relief_hybrid_respond(relief_hybrid *h, const char *report, size_t len, const relief_hybrid_request *req,
                          relief_hybrid_result *res)
{
    relief_hybrid_request rq = req ? *req : (relief_hybrid_request){0};
    double t0 = clock_now();
    if (relief_hybrid_plan(h->kb, report, len, &rq, res) < 0)
        return -1;
    /* The deadline covers the plan too. */
    double deadline_s = rq.deadline_s > 0 ? rq.deadline_s : DEFAULT_DEADLINE_S;
    rq.deadline_s = fmax(deadline_s - (clock_now() - t0), 1e-6);
    return relief_hybrid_elaborate(h, &rq, res);
}

uint32_t relief_hybrid_prefix_hazards(const relief_plan *plan)
{
    return plan ? prompt_hazard_set(plan) : 0;
}

int relief_hybrid_warm_hazards(relief_hybrid *h, uint32_t hazards, const atomic_int *stop)
{
    if (!h->be || !h->be->warm)
        return 0;
    char *developer = prompt_developer(h->kb, hazards);
    if (!developer)
        return -1;
    size_t n = 0;
    bool was_cached = false;
    int rc = h->be->warm(h->be, developer, stop, &n, &was_cached);
    free(developer);
    return rc;
}

int relief_hybrid_warm(relief_hybrid *h, const atomic_int *stop, relief_warm_fn progress, void *user)
{
    if (!h->be || !h->be->warm)
        return 0;
    int computed = 0;
    /* Reports with no hazard recognised get no brief; those of one hazard
     * are the common case; sets of several are cached when first seen. */
    for (int hz = 0; hz < RELIEF_HZ_COUNT && !(stop && atomic_load(stop)); hz++) {
        char *developer = prompt_developer(h->kb, 1u << hz);
        if (!developer)
            return -1;
        size_t n = 0;
        bool was_cached = false;
        double t0 = clock_now();
        int rc = h->be->warm(h->be, developer, stop, &n, &was_cached);
        free(developer);
        if (rc < 0)
            return -1;
        computed += rc;
        if (progress && !(stop && atomic_load(stop)))
            progress(relief_hazard_name(hz), n, clock_now() - t0, was_cached, user);
    }
    return computed;
}

void relief_hybrid_result_free(relief_hybrid_result *res)
{
    if (!res)
        return;
    relief_plan_free(res->plan);
    free(res->model_text);
    memset(res, 0, sizeof *res);
}

int relief_chat_role_parse(const char *name)
{
    static const char *const names[] = {[RELIEF_CHAT_SYSTEM] = "system", [RELIEF_CHAT_DEVELOPER] = "developer",
                                        [RELIEF_CHAT_USER] = "user", [RELIEF_CHAT_ASSISTANT] = "assistant"};
    for (int i = 0; name && i < (int)(sizeof names / sizeof *names); i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

/* Stop sequences over a streamed answer: text that could be the start of
 * one is held back until the next piece shows whether it is; the answer
 * ends before the first stop sequence found. */
typedef struct {
    collect *out;
    const char *const *stop;
    size_t n_stop;
    size_t longest;             /* the longest stop sequence's length */
    strbuf hold;                /* text not passed on yet (shorter than longest + the last piece) */
    bool stopped;               /* a stop sequence ended the answer */
} stop_filter;

/* The first occurrence of needle (k > 0 bytes) in hay (n bytes), or NULL
 * (memmem is a GNU extension). */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, k))
            return hay + i;
    return NULL;
}

/* Passes n bytes of f->hold on to the collector and keeps the rest. */
static int stop_pass(stop_filter *f, size_t n)
{
    int rc = n ? collect_text(f->hold.p, n, f->out) : 0;
    memmove(f->hold.p, f->hold.p + n, f->hold.n - n);
    f->hold.n -= n;
    return rc;
}

static int stop_text(const char *t, size_t n, void *user)
{
    stop_filter *f = user;
    strbuf_add(&f->hold, t, n);
    if (f->hold.failed)
        return 1;
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < f->n_stop; i++) {
        const char *at = find_bytes(f->hold.p, f->hold.n, f->stop[i], strlen(f->stop[i]));
        if (at && (size_t)(at - f->hold.p) < first)
            first = (size_t)(at - f->hold.p);
    }
    if (first != SIZE_MAX) {
        f->stopped = true;
        f->hold.n = first;
        stop_pass(f, first);
        return 1;
    }
    /* Keep the last longest - 1 bytes (a stop sequence may begin there),
     * moved back to a character boundary: pieces stay whole characters. */
    if (f->hold.n < f->longest)
        return 0;
    size_t pass = f->hold.n - (f->longest - 1);
    while (pass > 0 && ((unsigned char)f->hold.p[pass] & 0xC0) == 0x80)
        pass--;
    return stop_pass(f, pass);
}

int relief_hybrid_chat(relief_hybrid *h, const relief_chat_request *req, relief_chat_result *res)
{
    memset(res, 0, sizeof *res);
    if (!h->be) {
        res->error = "no model backend configured";
        return -1;
    }
    collect c = {.on_text = req->on_text, .user = req->user};
    size_t n_stop = req->stop ? req->n_stop : 0;
    stop_filter sf = {.out = &c, .stop = req->stop, .n_stop = n_stop};
    for (size_t i = 0; i < n_stop; i++) {
        assert(req->stop[i] && req->stop[i][0]);
        if (strlen(req->stop[i]) > sf.longest)
            sf.longest = strlen(req->stop[i]);
    }
    backend_opts o = {.deadline = clock_now() + (req->deadline_s > 0 ? req->deadline_s : 60.0),
                      .max_tokens = req->max_tokens,
                      .temperature = req->has_temperature ? req->temperature : -1,
                      .top_p = req->has_top_p ? req->top_p : -1,
                      .has_seed = req->has_seed, .seed = req->seed,
                      .stop = req->stop, .n_stop = n_stop,
                      .reasoning = h->cfg.reasoning, .final_only = h->cfg.final_only};
    backend_result br;
    int rc = h->be->chat(h->be, req->msgs, req->msgs ? req->n : 0, &o, n_stop ? stop_text : collect_text,
                         n_stop ? (void *)&sf : (void *)&c, &br);
    if (n_stop && !sf.stopped && !sf.hold.failed)
        stop_pass(&sf, sf.hold.n); /* the answer ended without one: the held tail is text */
    if (sf.hold.failed)
        c.text.failed = true;
    free(sf.hold.p);
    res->complete = br.complete || sf.stopped;
    res->completion_tokens = br.n_tokens;
    res->prompt_tokens = br.prompt_tokens;
    if (c.text.failed) {
        free(c.text.p);
        res->error = "out of memory";
        return -1;
    }
    if (rc < 0 && !sf.stopped) {
        free(c.text.p);
        res->error = br.error ? br.error : "model backend failed";
        return -1;
    }
    res->text = c.text.p ? c.text.p : strdup("");
    if (!res->text) {
        res->error = "out of memory";
        return -1;
    }
    res->text_len = c.text.p ? c.text.n : 0;
    res->error = sf.stopped ? NULL : br.error;
    return 0;
}

void relief_chat_result_free(relief_chat_result *res)
{
    if (!res)
        return;
    free(res->text);
    memset(res, 0, sizeof *res);
}
