/*
 * builtin.c - the built-in engine as a hybrid backend: renders chat
 * messages in harmony, restores the prompt's prefix (system + developer
 * messages: the same for every report of the same hazards, prompt.c) from
 * a KV snapshot, generates under the deadline, and streams the final
 * channel.
 *
 * Prefix snapshots: up to PREFIX_LRU of them in memory, least recently used
 * first out; the ones asked for (the hybrid responder's own prompts, not
 * arbitrary chat clients') also on disk, one file per prefix:
 * <dir>/<model file name>.relief-prefix-<key>.bin, where key hashes the
 * prefix tokens, the LoRA adapters' combined fingerprint and the context's
 * numeric path (q8x2, q8, exact: their KV states differ). Fast-path
 * snapshots hold f16 keys and values (half the bytes; docs/performance.md
 * measures the effect), the exact path's f32. The header names
 * the model file's identity (size, mtime, hash of its first MiB), the key
 * and sizes; a checksum covers the payload. Anything that does not match is
 * ignored and rebuilt (written to a temporary file and renamed, so a crash
 * never leaves a half-written cache).
 */
#include "backend.h"
#include "llm/harmony.h"
#include "llm/llm_int.h"
#include "util/clock.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "RLFXPFX3"

#define PREFIX_LRU 8 /* snapshots kept in memory (about 30 MB each, f16, for gpt-oss-20b's 1,100-token prefixes) */

typedef struct {
    uint64_t key;            /* prefix tokens + adapters + numeric path; 0 = empty slot */
    int32_t *tokens;         /* [n] */
    size_t n;
    void *state;             /* llm_state_save of n positions, [size] bytes */
    size_t size;
    bool half;               /* keys and values as f16 */
    uint64_t used;           /* LRU clock */
} prefix_entry;

typedef struct {
    backend base;
    char name[1100];
    char cache_dir[1024];   /* prefix cache directory; a longer path is cut (the cache then misses) */
    relief_model *m;
    harmony *h;
    relief_llm_ctx **ctx;
    bool *busy;
    int n_ctx;
    pthread_mutex_t mu;     /* guards busy, lru, clock, waiting, seed */
    pthread_cond_t cv;
    prefix_entry lru[PREFIX_LRU];
    uint64_t clock;
    int waiting;            /* requests waiting for a context */
    atomic_int warm_yield;  /* set when a request waits: a warm-up in progress stops and gives way */
    uint64_t model_size, model_mtime, model_head; /* the model file's identity, for cache headers */
    char *fixed_developer;
    uint64_t seed;
    relief_lora **loras;       /* attached to every context, in order */
    int n_lora;
    uint64_t lora_hash;        /* combined fingerprints; 0 = none */
    relief_hybrid_config cfg;
} builtin;

static uint64_t fnv64(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

typedef struct {
    char magic[8];
    uint64_t model_size, model_mtime, model_head_hash;
    uint64_t prefix_hash, n_prefix, state_size, payload_hash;
    uint64_t adapter_hash;
    uint64_t kv_width;      /* bytes per key or value element: 2 (f16) or 4 (f32) */
} cache_header;

/* Opens a file for reading only if it is a regular file, without ever
 * blocking (a FIFO planted at a cache or model path). NULL otherwise. */
static FILE *open_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, 0) == 0)
        f = fdopen(fd, "rb");
    if (!f)
        close(fd);
    return f;
}

static uint64_t model_head_hash(const char *path)
{
    FILE *f = open_regular(path);
    if (!f)
        return 0;
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    uint64_t h = fnv64(buf, n, 1469598103934665603ull);
    free(buf);
    return h;
}

static void cache_path(const builtin *b, uint64_t prefix_hash, char *out, size_t cap)
{
    const char *path = b->cfg.model_path, *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s/%s.relief-prefix-%016llx.bin", b->cache_dir, base, (unsigned long long)prefix_hash);
}

static void fill_header(const builtin *b, cache_header *h, uint64_t key, size_t n, size_t size, bool half)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->model_size = b->model_size;
    h->model_mtime = b->model_mtime;
    h->model_head_hash = b->model_head;
    h->prefix_hash = key;
    h->n_prefix = n;
    h->state_size = size;
    h->adapter_hash = b->lora_hash;
    h->kv_width = half ? 2 : 4;
}

/* Reads the snapshot of key (n positions) for c from disk into a new
 * buffer of *size bytes, *half telling its element type; NULL when absent,
 * stale or unreadable. An f16 snapshot is taken only by a fast-path context. */
static void *cache_read(const builtin *b, const relief_llm_ctx *c, uint64_t key, size_t n, bool *half,
                        size_t *size)
{
    char path[2400];
    cache_path(b, key, path, sizeof path);
    FILE *f = open_regular(path);
    if (!f)
        return NULL;
    cache_header got;
    void *state = NULL;
    bool ok = fread(&got, sizeof got, 1, f) == 1 && (got.kv_width == 4 || (got.kv_width == 2 && c->fast));
    if (ok) {
        *half = got.kv_width == 2;
        *size = llm_state_size(c, (uint32_t)n, *half);
        cache_header want;
        fill_header(b, &want, key, n, *size, *half);
        ok = *size && !memcmp(got.magic, want.magic, 8) && got.model_size == want.model_size &&
             got.model_mtime == want.model_mtime && got.model_head_hash == want.model_head_hash &&
             got.prefix_hash == want.prefix_hash && got.n_prefix == want.n_prefix &&
             got.state_size == want.state_size && got.adapter_hash == want.adapter_hash;
    }
    if (ok) {
        state = malloc(*size);
        ok = state && fread(state, 1, *size, f) == *size && fgetc(f) == EOF &&
             fnv64(state, *size, 1469598103934665603ull) == got.payload_hash;
    }
    fclose(f);
    if (!ok) {
        free(state);
        return NULL;
    }
    return state;
}

static void cache_write(const builtin *b, uint64_t key, size_t n, const void *state, size_t size, bool half)
{
    char path[2400], tmp[2500];
    cache_path(b, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cache_header h;
    fill_header(b, &h, key, n, size, half);
    h.payload_hash = fnv64(state, size, 1469598103934665603ull);
    if (relief_cache_mkdir(b->cache_dir) != 0)
        return; /* no writable cache directory just means no persistent cache */
    /* A fresh file of our own (O_EXCL after removing any leftover), never
     * an existing FIFO or link at that name. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(state, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

/* The key of a prefix: its tokens, the adapters and the numeric path. */
static uint64_t prefix_key(const builtin *b, const relief_llm_ctx *c, const int32_t *ids, size_t n)
{
    uint64_t k = fnv64(ids, n * sizeof *ids, 1469598103934665603ull);
    if (b->lora_hash)
        k = fnv64(&b->lora_hash, sizeof b->lora_hash, k);
    const char *numerics = relief_llm_ctx_numerics(c);
    k = fnv64(numerics, strlen(numerics), k);
    return k ? k : 1;
}

/* The in-memory entry for key with these tokens, or NULL. Caller holds mu. */
static prefix_entry *lru_find(builtin *b, uint64_t key, const int32_t *ids, size_t n)
{
    for (int i = 0; i < PREFIX_LRU; i++) {
        prefix_entry *e = &b->lru[i];
        if (e->key == key && e->n == n && !memcmp(e->tokens, ids, n * sizeof *ids))
            return e;
    }
    return NULL;
}

/* Takes ownership of state (size bytes, n positions, f16 when half): into an
 * empty slot or the least recently used one. Frees state when memory runs
 * out. Caller holds mu. */
static void lru_insert(builtin *b, uint64_t key, const int32_t *ids, size_t n, void *state, size_t size,
                       bool half)
{
    if (lru_find(b, key, ids, n)) {
        free(state);
        return;
    }
    prefix_entry *victim = &b->lru[0];
    for (int i = 0; i < PREFIX_LRU; i++) {
        if (!b->lru[i].key) {
            victim = &b->lru[i];
            break;
        }
        if (b->lru[i].used < victim->used)
            victim = &b->lru[i];
    }
    int32_t *copy = malloc(n * sizeof *ids);
    if (!copy) {
        free(state);
        return;
    }
    memcpy(copy, ids, n * sizeof *ids);
    free(victim->tokens);
    free(victim->state);
    *victim = (prefix_entry){.key = key, .tokens = copy, .n = n, .state = state, .size = size, .half = half,
                            .used = ++b->clock};
}

/* Restores the prefix ids[0..n) into c from memory or disk; true when done
 * (c then holds n positions), false when it must be computed. */
static bool prefix_restore(builtin *b, relief_llm_ctx *c, uint64_t key, const int32_t *ids, size_t n)
{
    if (!n || !llm_state_size(c, (uint32_t)n, false))
        return false;
    pthread_mutex_lock(&b->mu);
    prefix_entry *e = lru_find(b, key, ids, n);
    bool ok = e && (!e->half || c->fast) && llm_state_load(c, (uint32_t)n, e->half, e->state, e->size) == 0;
    if (ok)
        e->used = ++b->clock;
    pthread_mutex_unlock(&b->mu);
    if (ok)
        return true;
    bool half;
    size_t size;
    void *state = cache_read(b, c, key, n, &half, &size);
    if (!state)
        return false;
    ok = llm_state_load(c, (uint32_t)n, half, state, size) == 0;
    pthread_mutex_lock(&b->mu);
    lru_insert(b, key, ids, n, state, size, half);
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* Saves the n positions c holds as the snapshot of key (memory, and disk
 * when persist). A fast-path context's snapshot is f16 (f32 when a value
 * does not fit), and c is reloaded from it, so that what follows the prefix
 * is the same whether the prefix was computed now or restored later.
 * Failures only mean no cache. */
static void prefix_store(builtin *b, relief_llm_ctx *c, uint64_t key, const int32_t *ids, size_t n, bool persist)
{
    bool half = c->fast;
    size_t size = llm_state_size(c, (uint32_t)n, half);
    void *state = size ? malloc(size) : NULL;
    int rc = state ? llm_state_save(c, (uint32_t)n, half, state, size) : -1;
    if (rc == -2) { /* a value beyond f16's range: keep f32 */
        half = false;
        size = llm_state_size(c, (uint32_t)n, false);
        void *wider = realloc(state, size);
        if (wider)
            state = wider;
        rc = wider ? llm_state_save(c, (uint32_t)n, false, state, size) : -1;
    }
    if (rc < 0) {
        free(state);
        return;
    }
    int reloaded = half ? llm_state_load(c, (uint32_t)n, true, state, size) : 0;
    assert(reloaded == 0); /* the sizes were checked by the save */
    (void)reloaded;
    if (persist)
        cache_write(b, key, n, state, size, half);
    pthread_mutex_lock(&b->mu);
    lru_insert(b, key, ids, n, state, size, half);
    pthread_mutex_unlock(&b->mu);
}

static harmony_effort effort_of(const char *r)
{
    return r && !strcmp(r, "medium") ? HARMONY_EFFORT_MEDIUM : r && !strcmp(r, "high") ? HARMONY_EFFORT_HIGH
                                                                                        : HARMONY_EFFORT_LOW;
}

static void today(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    strftime(buf, cap, "%Y-%m-%d", gmtime_r(&now, &tm));
}

/* Harmony has one place for instructions, the developer message: a chat's
 * system and developer messages both go there (its system message is the
 * model's own: identity, reasoning effort, channels). */
static bool builtin_instructs(relief_chat_role r)
{
    return r == RELIEF_CHAT_SYSTEM || r == RELIEF_CHAT_DEVELOPER;
}

/* Renders the conversation into *ids (malloc'd) and counts in *n_pre the
 * tokens of its prefix: the system and developer messages, which a snapshot
 * can stand for (0 when they are not a prefix of the whole). The developer
 * text is the messages' system and developer texts, else the fixed
 * instructions. -1 when memory runs out. */
static int render(builtin *b, const relief_chat_message *msgs, size_t n, const backend_opts *o, int32_t **ids,
                  size_t *n_ids, size_t *n_pre)
{
    /* The date goes into the first user message, after the cached prefix:
     * a prefix with the date in it would miss the cache every new day. */
    harmony_system sys = {.date = NULL, .effort = effort_of(o->reasoning ? o->reasoning : b->cfg.reasoning)};
    harmony_message *hm = calloc(n ? n : 1, sizeof *hm);
    if (!hm)
        return -1;
    char *dated = NULL;
    size_t k = 0, dev_len = 0;
    for (size_t i = 0; i < n; i++)
        if (builtin_instructs(msgs[i].role))
            dev_len += strlen(msgs[i].content) + 2;
    char *dev = NULL;
    if (dev_len) {
        dev = malloc(dev_len + 1);
        if (!dev) {
            free(hm);
            return -1;
        }
        dev[0] = '\0';
        for (size_t i = 0; i < n; i++)
            if (builtin_instructs(msgs[i].role)) {
                if (dev[0])
                    strcat(dev, "\n\n");
                strcat(dev, msgs[i].content);
            }
    }
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].role == RELIEF_CHAT_USER && !dated) {
            char date[16];
            today(date, sizeof date);
            size_t len = strlen(msgs[i].content) + 64;
            if (!(dated = malloc(len))) {
                free(dev);
                free(hm);
                return -1;
            }
            snprintf(dated, len, "(Current date: %s)\n\n%s", date, msgs[i].content);
            hm[k++] = (harmony_message){.author = "user", .content = dated};
        } else if (msgs[i].role == RELIEF_CHAT_USER)
            hm[k++] = (harmony_message){.author = "user", .content = msgs[i].content};
        else if (msgs[i].role == RELIEF_CHAT_ASSISTANT)
            hm[k++] = (harmony_message){.author = "assistant", .channel = "final", .content = msgs[i].content};
    }
    harmony_convo cv = {.system = &sys, .instructions = dev ? dev : b->fixed_developer, .messages = hm,
                        .n_messages = k, .open = (o->final_only || b->cfg.final_only) ? HARMONY_OPEN_FINAL
                                                                                       : HARMONY_OPEN_ASSISTANT};
    int rc = harmony_render(b->h, &cv, ids, n_ids);
    *n_pre = 0;
    harmony_convo head = {.system = &sys, .instructions = cv.instructions, .open = HARMONY_OPEN_NONE};
    int32_t *pre = NULL;
    size_t np = 0;
    if (rc == 0 && harmony_render(b->h, &head, &pre, &np) == 0 && np < *n_ids && !memcmp(pre, *ids, np * sizeof *pre))
        *n_pre = np;
    free(pre);
    free(dated);
    free(dev);
    free(hm);
    return rc;
}

/* Takes a free context, waiting until the deadline; -1 when none freed up.
 * A warm-up holding a context is asked to give it up. */
static int acquire(builtin *b, double deadline)
{
    pthread_mutex_lock(&b->mu);
    int got = -1;
    b->waiting++;
    for (;;) {
        for (int i = 0; i < b->n_ctx && got < 0; i++)
            if (!b->busy[i]) {
                b->busy[i] = true;
                got = i;
            }
        if (got >= 0)
            break;
        atomic_store(&b->warm_yield, 1);
        double now = clock_now();
        if (deadline > 0 && now >= deadline)
            break;
        double until = deadline > 0 && deadline - now < 1.0 ? deadline : now + 1.0;
        clock_cond_wait_until(&b->cv, &b->mu, until);
    }
    b->waiting--;
    pthread_mutex_unlock(&b->mu);
    return got;
}

/* Takes a context for a warm-up: only when no request waits for one. */
static int acquire_for_warm(builtin *b, const atomic_int *stop)
{
    pthread_mutex_lock(&b->mu);
    int got = -1;
    while (got < 0 && !(stop && atomic_load(stop))) {
        if (!b->waiting)
            for (int i = 0; i < b->n_ctx && got < 0; i++)
                if (!b->busy[i]) {
                    b->busy[i] = true;
                    got = i;
                }
        if (got < 0)
            clock_cond_wait_until(&b->cv, &b->mu, clock_now() + 0.5);
    }
    if (got >= 0)
        atomic_store(&b->warm_yield, 0);
    pthread_mutex_unlock(&b->mu);
    return got;
}

static void release(builtin *b, int i)
{
    pthread_mutex_lock(&b->mu);
    b->busy[i] = false;
    pthread_cond_broadcast(&b->cv); /* requests and a warm-up may both wait */
    pthread_mutex_unlock(&b->mu);
}

typedef struct {
    harmony_parser *parser;
    const relief_tokenizer *tok;
    tok_decoder raw;           /* used once the output stops following harmony */
    backend_text_fn fn;
    void *user;
    backend_result *res;
    double t0;
    bool stopped_by_caller, malformed;
} gen_state;

static int deliver(gen_state *g, const char *t, size_t n)
{
    if (g->res->ttft < 0)
        g->res->ttft = clock_now() - g->t0;
    if (g->fn(t, n, g->user)) {
        g->stopped_by_caller = true;
        return 1;
    }
    return 0;
}

static int on_token(int32_t id, void *user)
{
    gen_state *g = user;
    if (g->res->first_token < 0)
        g->res->first_token = clock_now() - g->t0;
    if (g->malformed) {
        /* Not harmony: pass the decoded text through rather than nothing,
         * so a fine-tuned or small model still gets heard (labelled by the
         * error in the result). */
        char buf[512];
        size_t n = tok_decode_next(g->tok, &g->raw, id, buf, sizeof buf);
        return n ? deliver(g, buf, n) : 0;
    }
    harmony_event ev;
    int rc = harmony_parser_feed(g->parser, id, &ev);
    if (rc < 0) {
        g->malformed = true;
        return on_token(id, user);
    }
    size_t n;
    const harmony_parsed *msgs = harmony_parser_messages(g->parser, &n);
    if (ev.text && n && !strcmp(msgs[n - 1].channel, "final") && deliver(g, ev.text, ev.text_len))
        return 1;
    return rc == 1;
}

/* The user's view of the prompt being read: one share over the prefix (when
 * it must be computed) and the fresh tokens, in whole-percent steps. */
typedef struct {
    void (*fn)(double done, void *user);
    void *user;
    size_t total;        /* tokens to evaluate in all */
    size_t before;       /* of them, done before the current relief_llm_eval call */
    size_t call_tokens;  /* evaluated by the current call */
    int last_percent;
} read_progress;

static void on_eval_progress(double done, void *user)
{
    read_progress *rp = user;
    if (!rp->total)
        return;
    double all = ((double)rp->before + done * (double)rp->call_tokens) / (double)rp->total;
    int percent = (int)(all * 100);
    if (percent > 100)
        percent = 100;
    if (percent <= rp->last_percent)
        return;
    rp->last_percent = percent;
    rp->fn(percent / 100.0, rp->user);
}

static int builtin_chat(backend *base, const relief_chat_message *msgs, size_t n, const backend_opts *o,
                        backend_text_fn fn, void *user, backend_result *res)
{
    builtin *b = (builtin *)base;
    memset(res, 0, sizeof *res);
    res->ttft = -1;
    res->first_token = -1;
    double t0 = clock_now();
    int32_t *ids = NULL;
    size_t n_ids = 0, n_pre = 0;
    if (render(b, msgs, n, o, &ids, &n_ids, &n_pre) < 0) {
        res->error = "out of memory";
        return -1;
    }
    res->prompt_tokens = n_ids;
    int slot = acquire(b, o->deadline);
    if (slot < 0) {
        free(ids);
        res->cut = true;
        res->error = "busy: no model context became free before the deadline";
        return 0;
    }
    relief_llm_ctx *c = b->ctx[slot];
    size_t start = 0;
    relief_llm_ctx_reset(c);
    read_progress rp = {.fn = o->on_progress, .user = o->progress_user, .total = n_ids, .last_percent = -1};
    relief_llm_limits lim = {o->deadline, o->cancel, o->on_progress ? on_eval_progress : NULL, &rp};
    uint64_t key = n_pre ? prefix_key(b, c, ids, n_pre) : 0;
    if (n_pre && prefix_restore(b, c, key, ids, n_pre)) {
        start = n_pre;
        res->prefix_cached = true;
        rp.total = n_ids - n_pre;
    } else if (n_pre) {
        /* Computed once for every later prompt with the same prefix; a stop
         * in the middle leaves what was done in c, and generate goes on. */
        relief_llm_ctx_reset(c);
        rp.call_tokens = n_pre;
        relief_llm_limits pre_lim = lim;
        double t_pre = clock_now();
        if (o->prefix_unbounded)
            pre_lim.deadline = 0;
        relief_llm_status pst = relief_llm_eval(c, ids, n_pre, NULL, false, &pre_lim);
        if (o->prefix_unbounded && lim.deadline > 0)
            lim.deadline += clock_now() - t_pre; /* the answer's own time starts now */
        if (pst == RELIEF_LLM_OK) {
            prefix_store(b, c, key, ids, n_pre, o->persist_prefix);
            start = n_pre;
        } else {
            start = relief_llm_ctx_pos(c);
        }
    }
    res->prompt_cached = res->prefix_cached ? n_pre : 0;
    int max_tokens = o->max_tokens > 0 ? o->max_tokens : (b->cfg.max_tokens > 0 ? b->cfg.max_tokens : 512);
    uint32_t room = c->n_ctx > n_ids ? c->n_ctx - (uint32_t)n_ids : 0;
    int rc = 0;
    if (room < 2) {
        res->error = "the prompt does not fit the model context";
        rc = -1;
    } else {
        if ((uint32_t)max_tokens > room - 1)
            max_tokens = (int)room - 1;
        relief_sampler_params sp = relief_llm_sampler_defaults();
        float temp = o->temperature >= 0 ? o->temperature : b->cfg.temperature;
        if (temp >= 0)
            sp.temperature = temp;
        sp.max_new_tokens = max_tokens;
        if (o->top_p > 0)
            sp.top_p = o->top_p;
        pthread_mutex_lock(&b->mu);
        sp.seed = b->cfg.seed ? b->cfg.seed + b->seed++ : (uint64_t)time(NULL) ^ b->seed++;
        pthread_mutex_unlock(&b->mu);
        if (o->has_seed)
            sp.seed = o->seed;
        gen_state g = {.fn = fn, .user = user, .res = res, .t0 = t0, .tok = model_tokenizer(b->m)};
        harmony_open open = (o->final_only || b->cfg.final_only) ? HARMONY_OPEN_FINAL : HARMONY_OPEN_ASSISTANT;
        g.parser = harmony_parser_new(b->h, open);
        int32_t ends[2] = {harmony_special(b->h, "<|return|>"), harmony_special(b->h, "<|call|>")};
        relief_gen_result gr;
        if (!g.parser) {
            res->error = "out of memory";
            rc = -1;
        } else {
            rp.before = rp.total - (n_ids - start);
            rp.call_tokens = n_ids - start;
            relief_llm_generate(c, ids + start, n_ids - start, &sp, ends, 2, on_token, &g, &lim, &gr);
            harmony_event ev;
            if (!g.malformed && harmony_parser_finish(g.parser, &ev) == 0 && ev.text) {
                size_t nm;
                const harmony_parsed *pm = harmony_parser_messages(g.parser, &nm);
                if (nm && !strcmp(pm[nm - 1].channel, "final"))
                    fn(ev.text, ev.text_len, user);
            }
            res->n_tokens = gr.n_generated;
            res->cut = gr.status == RELIEF_LLM_DEADLINE;
            res->complete = gr.status == RELIEF_LLM_OK && (gr.stop_token >= 0 || g.stopped_by_caller) && !g.malformed;
            if (gr.status == RELIEF_LLM_CANCELLED)
                res->error = "cancelled";
            else if (g.malformed)
                res->error = "the model's output did not follow the harmony format; its raw text was passed through";
            else if (gr.status == RELIEF_LLM_CTX_FULL)
                res->error = "the model context is full";
            harmony_parser_free(g.parser);
        }
    }
    release(b, slot);
    free(ids);
    return rc;
}

static int builtin_warm(backend *base, const char *developer, const atomic_int *stop, size_t *n_tokens,
                        bool *was_cached)
{
    builtin *b = (builtin *)base;
    *n_tokens = 0;
    *was_cached = false;
    relief_chat_message dev = {RELIEF_CHAT_DEVELOPER, developer};
    backend_opts o = {.reasoning = b->cfg.reasoning};
    int32_t *ids = NULL;
    size_t n_ids = 0, n_pre = 0;
    if (render(b, &dev, 1, &o, &ids, &n_ids, &n_pre) < 0)
        return -1;
    *n_tokens = n_pre;
    int rc = -1;
    while (n_pre) {
        int slot = acquire_for_warm(b, stop);
        if (slot < 0) { /* stopped */
            rc = 0;
            break;
        }
        relief_llm_ctx *c = b->ctx[slot];
        relief_llm_ctx_reset(c);
        uint64_t key = prefix_key(b, c, ids, n_pre);
        if (prefix_restore(b, c, key, ids, n_pre)) {
            *was_cached = true;
            rc = 0;
        } else {
            relief_llm_limits lim = {.cancel = &b->warm_yield};
            relief_llm_status st = relief_llm_eval(c, ids, n_pre, NULL, false, &lim);
            if (st == RELIEF_LLM_OK) {
                prefix_store(b, c, key, ids, n_pre, true);
                rc = 1;
            }
            else if (st != RELIEF_LLM_CANCELLED) /* cancelled: a request came; try again when it is done */
                rc = -1, n_pre = 0;
        }
        relief_llm_ctx_reset(c);
        release(b, slot);
        if (rc >= 0)
            break;
    }
    free(ids);
    return rc;
}

static void builtin_destroy(backend *base)
{
    builtin *b = (builtin *)base;
    if (!b)
        return;
    for (int i = 0; i < b->n_ctx; i++)
        relief_llm_ctx_free(b->ctx ? b->ctx[i] : NULL);
    for (int i = 0; i < b->n_lora; i++)
        relief_lora_free(b->loras[i]);
    free(b->loras);
    free(b->ctx);
    free(b->busy);
    for (int i = 0; i < PREFIX_LRU; i++) {
        free(b->lru[i].tokens);
        free(b->lru[i].state);
    }
    free(b->fixed_developer);
    harmony_free(b->h);
    relief_model_free(b->m);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

/* Loads the adapters of cfg.lora ("SPEC[,SPEC...]") into b->loras and
 * combines their fingerprints; -1 with a message naming the adapter. */
static int load_loras(builtin *b, char *err, size_t cap)
{
    const char *spec = b->cfg.lora;
    if (!spec || !*spec)
        return 0;
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    if (!(b->loras = calloc((size_t)n, sizeof *b->loras))) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *p = spec; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char one[4200], path[4096], msg[1024];
        float mult;
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one - 1 ? len : sizeof one - 1), p);
        if (len >= sizeof one - 1 || relief_lora_parse_spec(one, path, sizeof path, &mult) < 0) {
            snprintf(err, cap, "bad LoRA specification '%.200s' (FILE_OR_DIR[:SCALE], SCALE within +-%g, comma-separated)",
                     one, RELIEF_LORA_MAX_SCALE);
            return -1;
        }
        if (!(b->loras[b->n_lora] = relief_lora_load(b->m, path, mult, msg, sizeof msg))) {
            snprintf(err, cap, "LoRA adapter: %s", msg);
            return -1;
        }
        uint64_t fp = relief_lora_fingerprint(b->loras[b->n_lora++]);
        h = fnv64(&fp, sizeof fp, h);
        p = e ? e + 1 : p + len;
    }
    b->lora_hash = h ? h : 1;
    return 0;
}

backend *backend_builtin_new(const relief_hybrid_config *cfg, const char *fixed_system, const char *fixed_developer,
                             char *err, size_t cap)
{
    (void)fixed_system;
    builtin *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    if (clock_cond_init(&b->cv) != 0) { /* timed waits on the monotonic clock */
        free(b);
        snprintf(err, cap, "cannot set up a condition variable");
        return NULL;
    }
    b->cfg = *cfg;
    /* The cache goes where it was asked to, else to the user's cache
     * directory; never beside the model (an Ollama blob store, a read-only
     * disk or someone else's folder). */
    if (cfg->cache_dir)
        snprintf(b->cache_dir, sizeof b->cache_dir, "%s", cfg->cache_dir);
    else if (relief_cache_dir(b->cache_dir, sizeof b->cache_dir) != 0)
        snprintf(b->cache_dir, sizeof b->cache_dir, "/tmp/relief-cache-%ld", (long)getuid());
    relief_cache_clean_unfinished(b->cache_dir);
    b->base.chat = builtin_chat;
    b->base.warm = builtin_warm;
    b->base.destroy = builtin_destroy;
    snprintf(b->name, sizeof b->name, "builtin:%s", cfg->model_path);
    b->base.name = b->name;
    relief_model_params mp = {.quiet = cfg->quiet};
    b->fixed_developer = strdup(fixed_developer ? fixed_developer : "");
    if (!b->fixed_developer || !(b->m = relief_model_load(cfg->model_path, &mp, err, cap)) ||
        !(b->h = harmony_new(model_tokenizer(b->m), err, cap))) {
        if (!b->fixed_developer)
            snprintf(err, cap, "out of memory");
        builtin_destroy(&b->base);
        return NULL;
    }
    struct stat st;
    if (stat(cfg->model_path, &st) == 0) {
        b->model_size = (uint64_t)st.st_size;
        b->model_mtime = (uint64_t)st.st_mtime;
    }
    b->model_head = model_head_hash(cfg->model_path);
    if (load_loras(b, err, cap) < 0) {
        builtin_destroy(&b->base);
        return NULL;
    }
    b->n_ctx = cfg->max_parallel > 0 ? cfg->max_parallel : 1;
    b->ctx = calloc((size_t)b->n_ctx, sizeof *b->ctx);
    b->busy = calloc((size_t)b->n_ctx, sizeof *b->busy);
    if (!b->ctx || !b->busy) {
        snprintf(err, cap, "out of memory");
        builtin_destroy(&b->base);
        return NULL;
    }
    for (int i = 0; i < b->n_ctx; i++)
        if (!(b->ctx[i] = relief_llm_ctx_new(b->m, cfg->ctx_len ? cfg->ctx_len : 4096, (uint32_t)cfg->threads, err,
                                             cap))) {
            builtin_destroy(&b->base);
            return NULL;
        }
    for (int i = 0; i < b->n_ctx; i++)
        for (int k = 0; k < b->n_lora; k++)
            if (relief_llm_ctx_add_lora(b->ctx[i], b->loras[k], err, cap) < 0) {
                builtin_destroy(&b->base);
                return NULL;
            }
    return &b->base;
}
