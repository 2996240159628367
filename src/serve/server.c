/*
 * server.c - `relief serve`: the HTTP service and web page over
 * libmicrohttpd (endpoints and options in server.h).
 *
 * Threading. MHD runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION with an internal thread that accepts), so
 * handlers may block: a non-streaming request runs the responder on its
 * connection's thread, and a streaming response's content-reader callback
 * blocks on a bounded ring buffer (stream_job) that a worker thread fills
 * with Server-Sent Events. When the response ends or the client goes away,
 * MHD frees the response; its free callback cancels and joins the worker.
 *
 * Model admission. Generations are limited by a FIFO `limiter`: at most
 * --max-parallel run, at most --queue wait. Beyond that a chat completion is
 * answered 429 with Retry-After (as is one that waited in the queue past its
 * deadline). A guidance request is never refused: the plan never waits for
 * the model queue, so beyond the queue it gets its plan at once with
 * model.error "busy" (and a Retry-After header when not streamed); a queued
 * guidance request that gets no slot before its deadline also ends with
 * model.error "busy". The streamed plan event is written before the request
 * joins the queue.
 *
 * Slow clients. MHD drops a connection idle for 30 s. Because a client
 * trickling one byte a second is never idle, a reaper thread also shuts
 * down (shutdown(2)) every connection whose request, headers and body, has
 * not fully arrived within --read-timeout seconds (default 10) of the
 * connection opening or of its previous response ending. The connection
 * registry is updated from MHD's connection callbacks, which run before MHD
 * closes the socket, so the reaper never touches a reused descriptor. A
 * streaming producer whose client stops reading gives up 5 s after the
 * request's deadline.
 *
 * Shutdown. SIGINT/SIGTERM are blocked in every thread and taken with
 * sigwait() in the main thread. The server then stops accepting, lets the
 * requests in flight finish (up to the deadline plus 2 s; a second signal
 * cuts this short), cancels what remains and returns 0.
 */
#include "serve/server.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include "relief/guide.h"
#include "relief/hybrid.h"

#include <arpa/inet.h>
#include <assert.h>
#include <utf8proc.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The web page, embedded at build time by tools/embed.c. */
typedef struct {
    const char *path;
    const unsigned char *data;
    size_t len;
} relief_embedded_file;
extern const relief_embedded_file relief_web_files[];
extern const size_t relief_web_n_files;

#define IDLE_TIMEOUT_S 30u         /* MHD drops connections idle this long */
#define MAX_CONNECTIONS 512u       /* one thread each */
#define RING_CAP (64u << 10)       /* bytes of SSE buffered per streaming response */
#define STREAM_GRACE_S 5.0         /* producer waits this long past the deadline for a stalled client */
#define SHUTDOWN_GRACE_S 2.0       /* beyond the deadline, for requests in flight at shutdown */
#define MAX_DEADLINE_S 300.0       /* request "deadline" field */
#define RELIEF_SERVE_PORT 8711 /* default port: no common neighbour (llama-server 8080, vLLM 8000, Ollama 11434) uses it */
#define MAX_CHAT_MESSAGES 1024
#define MAX_CHAT_TOKENS 100000
#define ERR_URL_MAX 200            /* bytes of a bad URL quoted in a 404 message */

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

static int cond_init_mono(pthread_cond_t *cv)
{
    return clock_cond_init(cv);
}

/* Waits on cv until signalled or until the monotonic time `until`. */
static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until)
{
    clock_cond_wait_until(cv, mu, until);
}

/* Constant-time equality of a (alen bytes) and b (blen bytes). */
static bool secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char d = (unsigned char)(alen != blen);
    size_t n = alen > blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0, y = i < blen ? (unsigned char)b[i] : 0;
        d |= (unsigned char)(x ^ y);
    }
    return d == 0;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    unsigned port;
    const char *bind;
    const char *model, *backend, *backend_model;
    double deadline;
    const char *token;
    size_t max_body;
    int max_parallel, queue;
    const char *kb_dir;
    int threads;
    double read_timeout;
    int max_tokens;
    bool final_only;
    const char *cache_dir;
    const char *lora;           /* adapter spec for the built-in engine */
    const char *allow_hosts;    /* --allow-host: further Host names accepted ("a,b") */
    const char *cors;           /* --cors: origins answered cross-origin ("https://x,https://y") */
    int per_ip;                 /* connections one address may hold */
} serve_opts;

static void serve_usage(FILE *f)
{
    fputs("usage: relief serve [OPTIONS]\n"
          "  --port N               TCP port (default 8711, which llama-server (8080), vLLM (8000) and\n"
          "                         Ollama (11434) leave free; 0 picks a free one)\n"
          "  --bind ADDR, --host ADDR  address to listen on (default 127.0.0.1)\n"
          "  --allow-host NAMES     Host names accepted besides IP addresses and localhost (comma-separated);\n"
          "                         any other Host is refused (403), against DNS rebinding\n"
          "  --cors ORIGINS         origins allowed to call the API from a web page (comma-separated);\n"
          "                         other cross-origin requests are refused (403)\n"
          "  --per-ip N             connections one client address may hold (default 16)\n"
          "  --model FILE.gguf      let the built-in engine elaborate with this gpt-oss model\n"
          "  --backend URL          ... or a remote OpenAI-compatible server (e.g. http://127.0.0.1:11434)\n"
          "  --backend-model NAME   model name sent to the remote server (default gpt-oss);\n"
          "                         its bearer token, if any, comes from RELIEF_BACKEND_TOKEN\n"
          "  --deadline SECONDS     default hard deadline of a response (default 5)\n"
          "  --token TOKEN          require 'Authorization: Bearer TOKEN' (also RELIEF_TOKEN)\n"
          "  --max-body BYTES       largest request body (default 65536; 413 beyond)\n"
          "  --max-parallel N       concurrent model generations (default 1)\n"
          "  --queue N              generations that may wait for a slot (default 8; 429 beyond)\n"
          "  --read-timeout SECONDS a request must arrive whole within this (default 10)\n"
          "  --max-tokens N         model tokens per guidance answer (default 512)\n"
          "  --final-only           ask the model for its answer directly, without analysis\n"
          "  --cache-dir DIR        where the built-in engine keeps its prompt-prefix cache\n"
          "                         (default: $RELIEF_CACHE_DIR, $XDG_CACHE_HOME/relief, ~/.cache/relief)\n"
          "  --lora SPEC            LoRA adapter(s) for the built-in engine: FILE_OR_DIR[:SCALE][,...]\n"
          "  --kb DIR               knowledge base directory instead of the built-in one\n"
          "  --threads N            built-in engine threads (default: one per CPU)\n",
          f);
}

static bool parse_long_arg(const char *name, const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "relief serve: %s must be a whole number from %ld to %ld, not '%s'\n", name, min, max, v);
        return false;
    }
    *out = x;
    return true;
}

static bool parse_seconds_arg(const char *name, const char *v, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0 && x <= max)) {
        fprintf(stderr, "relief serve: %s must be seconds in (0, %g], not '%s'\n", name, max, v);
        return false;
    }
    *out = x;
    return true;
}

/* Returns 0, or an exit code (2 usage, or -1 meaning "help printed, exit 0"). */
static int parse_opts(int argc, char **argv, serve_opts *o)
{
    *o = (serve_opts){.port = RELIEF_SERVE_PORT, .bind = "127.0.0.1", .deadline = 5, .max_body = 64u << 10,
                      .max_parallel = 1, .queue = 8, .read_timeout = 10, .per_ip = 16};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--final-only")) {
            o->final_only = true;
            continue;
        }
        static const char *const with_value[] = {"--port", "--bind", "--model", "--backend", "--backend-model",
                                                 "--deadline", "--token", "--max-body", "--max-parallel", "--queue",
                                                 "--kb", "--threads", "--read-timeout", "--max-tokens",
                                                 "--cache-dir", "--lora", "--host", "--allow-host", "--cors",
                                                 "--per-ip"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) {
            fprintf(stderr, "relief serve: unknown option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "relief serve: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--port")) {
            if (!parse_long_arg(a, v, 0, 65535, &x))
                return 2;
            o->port = (unsigned)x;
        } else if (!strcmp(a, "--bind") || !strcmp(a, "--host")) {
            o->bind = v;
        } else if (!strcmp(a, "--allow-host")) {
            o->allow_hosts = v;
        } else if (!strcmp(a, "--cors")) {
            o->cors = v;
        } else if (!strcmp(a, "--per-ip")) {
            if (!parse_long_arg(a, v, 1, 4096, &x))
                return 2;
            o->per_ip = (int)x;
        } else if (!strcmp(a, "--model")) {
            o->model = v;
        } else if (!strcmp(a, "--backend")) {
            o->backend = v;
        } else if (!strcmp(a, "--backend-model")) {
            o->backend_model = v;
        } else if (!strcmp(a, "--deadline")) {
            if (!parse_seconds_arg(a, v, 3600, &o->deadline))
                return 2;
        } else if (!strcmp(a, "--token")) {
            o->token = v;
        } else if (!strcmp(a, "--max-body")) {
            if (!parse_long_arg(a, v, 1, 64L << 20, &x))
                return 2;
            o->max_body = (size_t)x;
        } else if (!strcmp(a, "--max-parallel")) {
            if (!parse_long_arg(a, v, 1, 256, &x))
                return 2;
            o->max_parallel = (int)x;
        } else if (!strcmp(a, "--queue")) {
            if (!parse_long_arg(a, v, 0, 4096, &x))
                return 2;
            o->queue = (int)x;
        } else if (!strcmp(a, "--cache-dir")) {
            o->cache_dir = v;
        } else if (!strcmp(a, "--lora")) {
            o->lora = v;
        } else if (!strcmp(a, "--kb")) {
            o->kb_dir = v;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_long_arg(a, v, 0, 1024, &x))
                return 2;
            o->threads = (int)x;
        } else if (!strcmp(a, "--read-timeout")) {
            if (!parse_seconds_arg(a, v, 3600, &o->read_timeout))
                return 2;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!parse_long_arg(a, v, 1, MAX_CHAT_TOKENS, &x))
                return 2;
            o->max_tokens = (int)x;
        }
    }
    if (o->model && o->backend) {
        fprintf(stderr, "relief serve: give --model or --backend, not both\n");
        return 2;
    }
    if (o->backend_model && !o->backend) {
        fprintf(stderr, "relief serve: --backend-model needs --backend\n");
        return 2;
    }
    if (!o->token) {
        const char *t = getenv("RELIEF_TOKEN");
        if (t && *t)
            o->token = t;
    }
    if (o->token && !*o->token)
        o->token = NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

enum { EP_PAGE, EP_HEALTHZ, EP_METRICS, EP_MODELS, EP_GUIDANCE, EP_CHAT, EP_NOTFOUND, EP_COUNT };
static const char *const ep_names[EP_COUNT] = {"page",     "healthz",          "metrics",  "models",
                                               "guidance", "chat_completions", "not_found"};
static const double lat_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof lat_bounds / sizeof *lat_bounds)
#define N_CODES 500 /* HTTP status 100..599 */

typedef struct {
    pthread_mutex_t mu;
    unsigned long long requests[EP_COUNT][N_CODES];
    unsigned long long lat_bucket[EP_COUNT][N_BUCKETS + 1]; /* not cumulative; last = beyond the bounds */
    double lat_sum[EP_COUNT];
    unsigned long long plans;
    double plan_seconds;
    unsigned long long generations, model_tokens, cuts, model_errors, busy;
    double model_seconds, last_tokens_per_s;
    unsigned long long slow_dropped;
} metrics;

static void metrics_request(metrics *m, int ep, unsigned status, double seconds)
{
    if (ep < 0 || ep >= EP_COUNT)
        return;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > lat_bounds[b])
        b++;
    pthread_mutex_lock(&m->mu);
    if (status >= 100 && status < 100 + N_CODES)
        m->requests[ep][status - 100]++;
    m->lat_bucket[ep][b]++;
    m->lat_sum[ep] += seconds;
    pthread_mutex_unlock(&m->mu);
}

static void metrics_plan(metrics *m, double plan_ms)
{
    pthread_mutex_lock(&m->mu);
    m->plans++;
    m->plan_seconds += plan_ms / 1e3;
    pthread_mutex_unlock(&m->mu);
}

static void metrics_generation(metrics *m, size_t tokens, double model_ms, bool cut, bool error)
{
    pthread_mutex_lock(&m->mu);
    m->generations++;
    m->model_tokens += tokens;
    m->model_seconds += model_ms / 1e3;
    if (model_ms > 0 && tokens > 0)
        m->last_tokens_per_s = (double)tokens / (model_ms / 1e3);
    m->cuts += cut;
    m->model_errors += error;
    pthread_mutex_unlock(&m->mu);
}

static void metrics_busy(metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->busy++;
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------ */
/* Generation limiter: max_running at once, max_waiting in a FIFO      */
/* ------------------------------------------------------------------ */

typedef struct lim_waiter {
    struct lim_waiter *next;
    bool granted;
} lim_waiter;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int max_running, max_waiting;
    int running; /* holding a slot */
    int waiting; /* admitted, no slot yet */
    lim_waiter *head, *tail;
    bool stopping;
} limiter;

/* Reserves a place in the queue. Returns false when running + waiting is
 * already at its limit (the caller answers "busy"). */
static bool lim_admit(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stopping && l->running + l->waiting < l->max_running + l->max_waiting;
    if (ok)
        l->waiting++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* Gives up an admitted place that never asked for a slot. */
static void lim_unadmit(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->waiting--;
    pthread_mutex_unlock(&l->mu);
}

/* Hands free slots to the oldest waiters; called with mu held. */
static void lim_grant(limiter *l)
{
    bool any = false;
    while (l->head && l->running < l->max_running) {
        lim_waiter *w = l->head;
        l->head = w->next;
        if (!l->head)
            l->tail = NULL;
        w->granted = true;
        l->running++;
        l->waiting--;
        any = true;
    }
    if (any)
        pthread_cond_broadcast(&l->cv);
}

/* Turns an admitted place into a running slot, waiting in FIFO order until
 * the monotonic time `deadline`, *cancel becoming non-zero (NULL: never) or
 * shutdown. Returns true with a slot (release it with lim_release), false
 * without (the place is given up either way). */
static bool lim_acquire(limiter *l, double deadline, const atomic_int *cancel)
{
    pthread_mutex_lock(&l->mu);
    if (!l->head && l->running < l->max_running && !l->stopping) {
        l->waiting--;
        l->running++;
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    lim_waiter w = {0};
    if (l->tail)
        l->tail->next = &w;
    else
        l->head = &w;
    l->tail = &w;
    for (;;) {
        if (w.granted)
            break;
        double t = clock_now();
        if (l->stopping || (cancel && atomic_load(cancel)) || t >= deadline)
            break;
        /* cancel is not signalled on the condition variable: poll it. */
        cond_wait_until(&l->cv, &l->mu, fmin(deadline, t + 0.05));
    }
    if (w.granted) {
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    lim_waiter **pp = &l->head, *prev = NULL;
    while (*pp && *pp != &w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = w.next;
        if (l->tail == &w)
            l->tail = prev;
    }
    l->waiting--;
    pthread_mutex_unlock(&l->mu);
    return false;
}

static void lim_release(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->running--;
    lim_grant(l);
    pthread_mutex_unlock(&l->mu);
}

static void lim_counts(limiter *l, int *running, int *waiting)
{
    pthread_mutex_lock(&l->mu);
    *running = l->running;
    *waiting = l->waiting;
    pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------ */
/* Connection registry and the slow-request reaper                     */
/* ------------------------------------------------------------------ */

typedef struct conn_entry {
    struct conn_entry *prev, *next;
    int fd;
    double since;   /* when the current wait for a request began */
    bool receiving; /* between requests or reading one: the read timeout applies */
    bool dropped;
} conn_entry;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn_entry head; /* sentinel of a circular list */
    bool stop;
    bool started;
    pthread_t th;
} registry;

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

typedef enum { MODEL_NONE, MODEL_LOADING, MODEL_READY, MODEL_FAILED } model_state;

typedef struct {
    serve_opts o;
    relief_kb *kb;
    relief_hybrid *hy_plan;            /* plan-only responder, from the start */
    _Atomic(relief_hybrid *) hy_model; /* the model's responder once loaded (loader thread) */
    atomic_int model_state;            /* model_state */
    char model_error[512];             /* why loading failed (set before MODEL_FAILED) */
    pthread_t loader;
    bool loader_started;
    relief_hybrid_config hc;
    char model_id[256];
    char backend_label[300];
    long long started;                 /* Unix time the server started ("created" of its model) */
    const char *backend_name;
    struct MHD_Daemon *d;
    int listen_fd;
    metrics m;
    limiter lim;
    registry reg;
    atomic_int stopping;
    atomic_int active; /* requests between arrival and completion */
    atomic_ullong next_id;
    const unsigned char *page;
    size_t page_len;
} server;

/* The responder a request uses: the model's once it is loaded, else the
 * plan-only one (the plan never waits for a model). */
static relief_hybrid *responder(server *s)
{
    relief_hybrid *h = atomic_load(&s->hy_model);
    return h ? h : s->hy_plan;
}

static bool model_ready(server *s)
{
    return atomic_load(&s->model_state) == MODEL_READY;
}

static conn_entry *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_set_receiving(server *s, struct MHD_Connection *c, bool receiving)
{
    conn_entry *e = conn_of(c);
    if (!e)
        return;
    pthread_mutex_lock(&s->reg.mu);
    e->receiving = receiving;
    e->since = clock_now();
    pthread_mutex_unlock(&s->reg.mu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_entry *e = calloc(1, sizeof *e);
        if (!e)
            return; /* this connection simply has no read timeout */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        e->fd = ci ? ci->connect_fd : -1;
        e->since = clock_now();
        e->receiving = true;
        pthread_mutex_lock(&s->reg.mu);
        e->next = s->reg.head.next;
        e->prev = &s->reg.head;
        e->next->prev = e;
        s->reg.head.next = e;
        pthread_mutex_unlock(&s->reg.mu);
        *socket_context = e;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_entry *e = *socket_context;
        if (!e)
            return;
        pthread_mutex_lock(&s->reg.mu);
        e->prev->next = e->next;
        e->next->prev = e->prev;
        pthread_mutex_unlock(&s->reg.mu);
        free(e);
        *socket_context = NULL;
    }
}

static void *reaper_main(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->reg.mu);
    while (!s->reg.stop) {
        double t = clock_now();
        unsigned long long dropped = 0;
        for (conn_entry *e = s->reg.head.next; e != &s->reg.head; e = e->next) {
            if (e->receiving && !e->dropped && e->fd >= 0 && t - e->since > s->o.read_timeout) {
                /* MHD sees end-of-file and closes the connection itself. */
                shutdown(e->fd, SHUT_RDWR);
                e->dropped = true;
                dropped++;
            }
        }
        if (dropped) {
            pthread_mutex_lock(&s->m.mu);
            s->m.slow_dropped += dropped;
            pthread_mutex_unlock(&s->m.mu);
        }
        cond_wait_until(&s->reg.cv, &s->reg.mu, t + 0.2);
    }
    pthread_mutex_unlock(&s->reg.mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests and responses                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    int ep;
    double t0;
    unsigned status;
    bool queued; /* a response was queued */
    unsigned early; /* error status decided from the headers, or 0 */
    const char *url, *method; /* MHD's, valid for the whole request */
    char *body;
    size_t len, cap;
    bool too_big;
} req_ctx;

static const struct {
    const char *path;
    int ep;
    bool post;
} routes[] = {
    {"/", EP_PAGE, false},
    {"/index.html", EP_PAGE, false},
    {"/healthz", EP_HEALTHZ, false},
    {"/health", EP_HEALTHZ, false}, /* llama-server's name */
    {"/metrics", EP_METRICS, false},
    {"/v1/models", EP_MODELS, false},
    {"/v1/guidance", EP_GUIDANCE, true},
    {"/v1/chat/completions", EP_CHAT, true},
};

static int route(const char *url, bool *post)
{
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (!strcmp(url, routes[i].path)) {
            *post = routes[i].post;
            return routes[i].ep;
        }
    if (!strncmp(url, "/v1/models/", 11) && url[11]) { /* one model by id */
        *post = false;
        return EP_MODELS;
    }
    *post = false;
    return EP_NOTFOUND;
}

/* Adds the headers every response carries, queues it with `status` and
 * drops our reference. Returns MHD's verdict. */
/* True when item (n bytes) is one of the comma-separated entries of list
 * (case-insensitive, blanks around entries ignored). */
static bool in_list(const char *list, const char *item, size_t n)
{
    while (list && *list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t k = strcspn(list, ",");
        size_t e = k;
        while (e && list[e - 1] == ' ')
            e--;
        if (e && e == n && !strncasecmp(list, item, n))
            return true;
        list += k;
    }
    return false;
}

static enum MHD_Result queue(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                             struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (origin && s->o.cors && in_list(s->o.cors, origin, strlen(origin))) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (!MHD_get_response_header(resp, "Cache-Control"))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    r->status = status;
    r->queued = true;
    conn_set_receiving(s, c, false);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static const char oom_body[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";

/* Queues the malloc'd body b->p (taking it) as `status` with ctype; on an
 * earlier allocation failure answers 500 instead. */
static enum MHD_Result reply_sbuf(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                  const char *ctype, strbuf *b, const char *retry_after)
{
    struct MHD_Response *resp;
    if (b->failed || !b->p) {
        free(b->p);
        resp = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        return queue(s, c, r, 500, resp);
    }
    resp = MHD_create_response_from_buffer(b->n, b->p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b->p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    return queue(s, c, r, status, resp);
}

/* The buffers of a response sent from several pieces (reply_parts). */
typedef struct {
    char *body;
    char *tail;
} parts;

static void parts_free(void *cls)
{
    parts *p = cls;
    free(p->body);
    free(p->tail);
    free(p);
}

/* Queues JSON made of head (static), body (malloc'd, taken) and tail->p
 * (taken) without joining them. */
static enum MHD_Result reply_parts(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *head, char *body, strbuf *tail, const char *retry_after)
{
    parts *pc = malloc(sizeof *pc);
    if (!pc) {
        free(body);
        tail->failed = true; /* reply_sbuf answers 500 and frees it */
        return reply_sbuf(s, c, r, 500, "application/json", tail, NULL);
    }
    pc->body = body;
    pc->tail = tail->p;
    struct MHD_IoVec iov[3] = {{head, strlen(head)}, {body, strlen(body)}, {tail->p, tail->n}};
    struct MHD_Response *resp = MHD_create_response_from_iovec(iov, 3, parts_free, pc);
    if (!resp) {
        parts_free(pc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    return queue(s, c, r, status, resp);
}

/* The JSON error object {"error": {"message", "type", "field"?}} (field
 * also as OpenAI's "param"). */
static void error_json(strbuf *b, const char *type, const char *field, const char *msg)
{
    strbuf_str(b, "{\"error\":{\"message\":");
    strbuf_json_cstr(b, msg);
    strbuf_str(b, ",\"type\":");
    strbuf_json_cstr(b, type);
    if (field) {
        strbuf_str(b, ",\"field\":");
        strbuf_json_cstr(b, field);
        strbuf_str(b, ",\"param\":");
        strbuf_json_cstr(b, field);
    }
    strbuf_str(b, "}}");
}

static enum MHD_Result reply_error(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static enum MHD_Result reply_error(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *type, const char *field, const char *fmt, ...)
{
    strbuf msg = {0}, b = {0};
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    error_json(&b, type, field, msg.failed ? "out of memory" : msg.p);
    free(msg.p);
    char retry[32];
    snprintf(retry, sizeof retry, "%.0f", ceil(s->o.deadline));
    struct MHD_Response *resp;
    if (b.failed || !b.p) {
        free(b.p);
        return reply_sbuf(s, c, r, 500, NULL, &b, NULL);
    }
    resp = MHD_create_response_from_buffer(b.n, b.p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b.p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 429 || status == 503)
        MHD_add_response_header(resp, "Retry-After", retry);
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"relief\"");
    if (status == 405) {
        bool post = false;
        for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
            if (routes[i].ep == r->ep)
                post = routes[i].post;
        MHD_add_response_header(resp, "Allow", post ? "POST" : "GET, HEAD");
    }
    return queue(s, c, r, status, resp);
}

/* ------------------------------------------------------------------ */
/* Streaming: a bounded ring buffer filled by a worker thread          */
/* ------------------------------------------------------------------ */

typedef struct stream_job stream_job;
struct stream_job {
    server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* both directions; broadcast */
    char *ring;
    size_t head, len;
    bool finished;          /* the producer is done */
    atomic_int gone;        /* the client went away or stalled: stop producing */
    atomic_int *cancel_too; /* also set when the client goes away (the model's cancel flag), or NULL */
    double write_deadline;  /* the producer stops waiting for a stalled client after this */
    pthread_t th;
    void (*run)(stream_job *);
    void (*cleanup)(void *arg);
    void *arg;
};

/* Producer side: appends n bytes, waiting while the ring is full. Returns
 * 0, or -1 when the client is gone or stalled past write_deadline (nothing
 * more should be produced). */
static int job_write(stream_job *j, const char *d, size_t n)
{
    pthread_mutex_lock(&j->mu);
    while (n) {
        if (atomic_load(&j->gone)) {
            pthread_mutex_unlock(&j->mu);
            return -1;
        }
        if (j->len == RING_CAP) {
            double t = clock_now();
            if (t > j->write_deadline) {
                atomic_store(&j->gone, 1);
                continue;
            }
            cond_wait_until(&j->cv, &j->mu, fmin(j->write_deadline, t + 0.1) + 1e-3);
            continue;
        }
        size_t tail = (j->head + j->len) % RING_CAP;
        size_t chunk = RING_CAP - j->len;
        if (chunk > RING_CAP - tail)
            chunk = RING_CAP - tail;
        if (chunk > n)
            chunk = n;
        memcpy(j->ring + tail, d, chunk);
        j->len += chunk;
        d += chunk;
        n -= chunk;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* Writes one SSE event: "event: NAME" (when name is not NULL) and the data
 * split into "data:" lines. Returns job_write's result. */
static int job_event(stream_job *j, const char *name, const char *data, size_t len)
{
    strbuf b = {0};
    if (name)
        strbuf_printf(&b, "event: %s\n", name);
    size_t i = 0;
    do {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        strbuf_str(&b, "data: ");
        strbuf_add(&b, data + i, e - i);
        strbuf_add(&b, "\n", 1);
        i = e + 1;
    } while (i < len);
    strbuf_add(&b, "\n", 1);
    int rc = b.failed ? -1 : job_write(j, b.p, b.n);
    free(b.p);
    return rc;
}

/* MHD content reader: blocks (thread-per-connection mode) until bytes are
 * buffered or the producer finishes. */
static ssize_t job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_job *j = cls;
    pthread_mutex_lock(&j->mu);
    while (j->len == 0 && !j->finished && !atomic_load(&j->gone))
        cond_wait_until(&j->cv, &j->mu, clock_now() + 0.2);
    if (j->len > 0) {
        size_t n = j->len < max ? j->len : max;
        size_t first = RING_CAP - j->head < n ? RING_CAP - j->head : n;
        memcpy(buf, j->ring + j->head, first);
        memcpy(buf + first, j->ring, n - first);
        j->head = (j->head + n) % RING_CAP;
        j->len -= n;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return (ssize_t)n;
    }
    bool fin = j->finished;
    pthread_mutex_unlock(&j->mu);
    return fin ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void *job_main(void *arg)
{
    stream_job *j = arg;
    j->run(j);
    pthread_mutex_lock(&j->mu);
    j->finished = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static void job_destroy(stream_job *j)
{
    if (j->cleanup)
        j->cleanup(j->arg);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j->ring);
    free(j);
}

/* MHD frees the response: the client is done or gone. Stops and joins the
 * producer, then frees the job. */
static void job_free(void *cls)
{
    stream_job *j = cls;
    atomic_store(&j->gone, 1);
    if (j->cancel_too)
        atomic_store(j->cancel_too, 1);
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->th, NULL);
    job_destroy(j);
}

/* Starts a streaming (SSE) response whose producer is run(job) on a new
 * thread; arg is freed with cleanup(arg) when the job ends, whatever
 * happens (also when this fails). *jp receives the job before the thread
 * starts, so run() can find it through arg. cancel_too (or NULL) is set
 * when the client goes away, to stop a model that is not producing text. */
static enum MHD_Result start_stream(server *s, struct MHD_Connection *c, req_ctx *r, void (*run)(stream_job *),
                                    void (*cleanup)(void *), void *arg, stream_job **jp, atomic_int *cancel_too,
                                    double deadline_s)
{
    stream_job *j = calloc(1, sizeof *j);
    char *ring = j ? malloc(RING_CAP) : NULL;
    if (!j || !ring || pthread_mutex_init(&j->mu, NULL)) {
        free(ring);
        free(j);
        cleanup(arg);
        return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    if (cond_init_mono(&j->cv)) {
        pthread_mutex_destroy(&j->mu);
        free(ring);
        free(j);
        cleanup(arg);
        return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    j->s = s;
    j->ring = ring;
    j->run = run;
    j->cleanup = cleanup;
    j->arg = arg;
    j->cancel_too = cancel_too;
    j->write_deadline = clock_now() + deadline_s + STREAM_GRACE_S;
    *jp = j;
    if (pthread_create(&j->th, NULL, job_main, j)) {
        job_destroy(j);
        return reply_error(s, c, r, 500, "server_error", NULL, "cannot start a worker thread");
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16u << 10, job_read, j, job_free);
    if (!resp) {
        job_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return queue(s, c, r, 200, resp);
}

/* ------------------------------------------------------------------ */
/* JSON request helpers                                                */
/* ------------------------------------------------------------------ */

/* A report is planned whatever its bytes: invalid UTF-8 becomes U+FFFD
 * and a \\uD800-\\uDFFF escape without its pair becomes \\uFFFD, before
 * jansson (which refuses both) reads the body. Returns a malloc'd copy
 * (NUL-terminated, length in *out_len), or NULL when memory runs out. */
static char *repair_json_text(const char *in, size_t n, size_t *out_len)
{
    char *out = malloc(n * 3 + 1); /* one bad byte becomes three */
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)in[i];
        if (ch < 0x80) {
            if (ch == '"')
                in_string = !in_string;
            if (in_string && ch == '\\' && i + 1 < n) {
                if (in[i + 1] == 'u' && i + 6 <= n) {
                    unsigned v = 0;
                    bool hex = true;
                    for (int k = 2; k < 6; k++) {
                        int c = in[i + k], d = c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
                        hex &= d >= 0;
                        v = v * 16 + (unsigned)(d < 0 ? 0 : d);
                    }
                    bool paired = hex && v >= 0xd800 && v <= 0xdbff && i + 12 <= n && in[i + 6] == '\\' &&
                                  in[i + 7] == 'u' && (in[i + 8] | 32) == 'd' &&
                                  in[i + 9] && strchr("cdefCDEF", in[i + 9]) != NULL;
                    if (hex && v >= 0xd800 && v <= 0xdfff && !paired) {
                        memcpy(out + o, "\\ufffd", 6);
                        o += 6;
                        i += 6;
                        continue;
                    }
                    if (paired) { /* copy both escapes as they are */
                        memcpy(out + o, in + i, 12);
                        o += 12;
                        i += 12;
                        continue;
                    }
                }
                out[o++] = in[i++]; /* the backslash and the escaped character */
                out[o++] = in[i++];
                continue;
            }
            out[o++] = (char)ch;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)in + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k > 0) {
            memcpy(out + o, in + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Parses the body as a JSON object. On failure queues a 400 and returns
 * NULL with *rc set. */
static json_t *parse_body(server *s, struct MHD_Connection *c, req_ctx *r, size_t flags, enum MHD_Result *rc)
{
    json_error_t je;
    size_t fixed_len = 0;
    char *fixed = repair_json_text(r->body ? r->body : "", r->len, &fixed_len);
    if (!fixed) {
        *rc = reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
        return NULL;
    }
    free(r->body);
    r->body = fixed;
    r->len = fixed_len;
    r->cap = fixed_len + 1;
    json_t *root = json_loadb(r->body ? r->body : "", r->len, flags, &je);
    if (!root) {
        *rc = reply_error(s, c, r, 400, "invalid_request_error", NULL, "malformed JSON: %s (line %d, column %d)",
                          je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = reply_error(s, c, r, 400, "invalid_request_error", NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Optional field: absent or null leaves *out alone and returns 1; a value
 * of the right kind is stored (returns 1); otherwise returns 0. */
static int opt_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_boolean(v))
        return 0;
    *out = json_is_true(v);
    return 1;
}

static int opt_number(json_t *o, const char *key, double min, double max, bool min_open, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_number(v))
        return 0;
    double x = json_number_value(v);
    if (!isfinite(x) || x > max || x < min || (min_open && x == min))
        return 0;
    *out = x;
    return 1;
}

static int opt_int(json_t *o, const char *key, long long min, long long max, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_integer(v))
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return 0;
    *out = x;
    return 1;
}

/* ------------------------------------------------------------------ */
/* POST /v1/guidance                                                   */
/* ------------------------------------------------------------------ */

enum { ADM_NONE, ADM_WAITING, ADM_RUNNING, ADM_DONE };

typedef struct {
    server *s;
    char *report;
    size_t report_len;
    double deadline_s;
    int days;
    double t0;           /* request dispatch (monotonic) */
    int adm;             /* ADM_* */
    bool busy;           /* the model got no slot */
    atomic_int stop_model;
    double queue_ms;
    stream_job *job;     /* NULL when not streaming */
    bool plan_sent;
} gcall;

static void gcall_free(void *arg)
{
    gcall *g = arg;
    if (!g)
        return;
    if (g->adm == ADM_WAITING)
        lim_unadmit(&g->s->lim);
    if (g->adm == ADM_RUNNING)
        lim_release(&g->s->lim);
    free(g->report);
    free(g);
}

static void g_on_plan(const relief_plan *plan, void *user)
{
    gcall *g = user;
    server *s = g->s;
    if (g->job) {
        char *js = relief_plan_render(plan, RELIEF_FMT_JSON, 0);
        if (!js || job_event(g->job, "plan", js, strlen(js)) < 0)
            atomic_store(&g->stop_model, 1);
        else
            g->plan_sent = true;
        free(js);
    }
    if (g->adm == ADM_WAITING) {
        double t = clock_now();
        if (lim_acquire(&s->lim, g->t0 + g->deadline_s, g->job ? &g->job->gone : NULL)) {
            g->adm = ADM_RUNNING;
        } else {
            g->adm = ADM_DONE;
            g->busy = true;
            atomic_store(&g->stop_model, 1);
        }
        g->queue_ms = (clock_now() - t) * 1e3;
    }
}

static int g_on_text(const char *text, size_t len, void *user)
{
    gcall *g = user;
    if (atomic_load(&g->s->stopping))
        return 1;
    if (!g->job)
        return 0;
    strbuf b = {0};
    strbuf_str(&b, "{\"text\":");
    strbuf_json_str(&b, text, len);
    strbuf_str(&b, "}");
    int rc = b.failed ? -1 : job_event(g->job, "token", b.p, b.n);
    free(b.p);
    return rc < 0;
}

/* The "model" object of a guidance answer (with the text when with_text). */
static void g_model_json(strbuf *b, const gcall *g, const relief_hybrid_result *res, bool with_text)
{
    int st = atomic_load(&g->s->model_state);
    const char *err = g->busy ? "busy" : st == MODEL_LOADING ? "the model is still loading"
                    : st == MODEL_FAILED ? "model backend unavailable" : res->model_error;
    strbuf_str(b, "{");
    if (with_text) {
        strbuf_str(b, "\"text\":");
        if (res->model_text && !g->busy)
            strbuf_json_str(b, res->model_text, res->model_text_len);
        else
            strbuf_str(b, "null");
        strbuf_str(b, ",");
    }
    strbuf_printf(b, "\"complete\":%s,\"cut\":%s,\"backend\":", res->model_complete && !g->busy ? "true" : "false",
              res->model_cut && !g->busy ? "true" : "false");
    strbuf_json_cstr(b, g->s->backend_name);
    strbuf_str(b, ",\"error\":");
    strbuf_json_cstr(b, err);
    strbuf_str(b, "}");
}

static void g_timings_json(strbuf *b, const gcall *g, const relief_hybrid_result *res)
{
    const relief_hybrid_timings *t = &res->timings;
    strbuf_str(b, "{\"plan_ms\":");
    strbuf_num(b, t->plan_ms, 3);
    strbuf_str(b, ",\"ttft_ms\":");
    if (t->ttft_ms >= 0)
        strbuf_num(b, t->ttft_ms, 3);
    else
        strbuf_str(b, "null");
    strbuf_str(b, ",\"model_ms\":");
    strbuf_num(b, t->model_ms, 3);
    strbuf_str(b, ",\"queue_ms\":");
    strbuf_num(b, g->queue_ms, 3);
    strbuf_str(b, ",\"total_ms\":");
    strbuf_num(b, t->total_ms, 3);
    strbuf_printf(b, ",\"tokens\":%zu,\"prompt_tokens\":%zu,\"tokens_per_s\":", t->model_tokens, t->prompt_tokens);
    strbuf_num(b, t->tokens_per_s, 2);
    strbuf_printf(b, ",\"prefix_cached\":%s}", t->prefix_cached ? "true" : "false");
}

/* Runs the responder for g; the slot, if any, is released on return. */
static int g_respond(gcall *g, relief_hybrid_result *res)
{
    server *s = g->s;
    relief_hybrid_request rq = {.deadline_s = g->deadline_s,
                                .days = g->days,
                                .no_model = !model_ready(s) || g->adm != ADM_WAITING,
                                .cancel = &g->stop_model,
                                .on_plan = g_on_plan,
                                .on_text = g_on_text,
                                .user = g};
    int rc = relief_hybrid_respond(responder(s), g->report, g->report_len, &rq, res);
    if (g->adm == ADM_RUNNING) {
        lim_release(&s->lim);
        g->adm = ADM_DONE;
    }
    if (rc < 0)
        return -1;
    metrics_plan(&s->m, res->timings.plan_ms);
    if (g->busy)
        metrics_busy(&s->m);
    else if (model_ready(s) && !rq.no_model)
        metrics_generation(&s->m, res->timings.model_tokens, res->timings.model_ms, res->model_cut,
                           res->model_error != NULL);
    return 0;
}

static void g_stream_run(stream_job *j)
{
    gcall *g = j->arg;
    relief_hybrid_result res;
    if (g_respond(g, &res) < 0) {
        static const char e[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        job_event(j, "error", e, sizeof e - 1);
        return;
    }
    if (!g->plan_sent) {
        /* The plan could not be rendered before: try once more, then give up. */
        char *js = relief_plan_render(res.plan, RELIEF_FMT_JSON, 0);
        if (js)
            job_event(j, "plan", js, strlen(js));
        free(js);
    }
    strbuf b = {0};
    strbuf_str(&b, "{\"model\":");
    g_model_json(&b, g, &res, false);
    strbuf_str(&b, ",\"timings\":");
    g_timings_json(&b, g, &res);
    strbuf_str(&b, "}");
    if (!b.failed)
        job_event(j, "done", b.p, b.n);
    free(b.p);
    relief_hybrid_result_free(&res);
}

static enum MHD_Result handle_guidance(server *s, struct MHD_Connection *c, req_ctx *r)
{
    enum MHD_Result rc;
    json_t *root = parse_body(s, c, r, JSON_ALLOW_NUL, &rc);
    if (!root)
        return rc;
    json_t *rep = json_object_get(root, "report");
    double deadline = s->o.deadline;
    long long days = 0;
    bool stream = false;
    const char *bad = NULL, *why = NULL;
    if (!rep || json_is_null(rep))
        bad = "report", why = "is required (the situation report as a string)";
    else if (!json_is_string(rep))
        bad = "report", why = "must be a string";
    else if (json_string_length(rep) == 0)
        bad = "report", why = "is empty";
    else if (!opt_number(root, "deadline", 0, MAX_DEADLINE_S, true, &deadline))
        bad = "deadline", why = "must be a number of seconds greater than 0 and at most 300";
    else if (!opt_int(root, "days", 1, 365, &days))
        bad = "days", why = "must be a whole number of days from 1 to 365";
    else if (!opt_bool(root, "stream", &stream))
        bad = "stream", why = "must be true or false";
    if (bad) {
        json_decref(root);
        return reply_error(s, c, r, 400, "invalid_request_error", bad, "%s %s", bad, why);
    }
    gcall *g = calloc(1, sizeof *g);
    size_t len = json_string_length(rep);
    char *report = g ? malloc(len + 1) : NULL;
    if (!report) {
        free(g);
        json_decref(root);
        return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    memcpy(report, json_string_value(rep), len);
    report[len] = '\0';
    json_decref(root);
    g->s = s;
    g->report = report;
    g->report_len = len;
    g->deadline_s = deadline;
    g->days = (int)days;
    g->t0 = clock_now();
    if (model_ready(s)) {
        if (lim_admit(&s->lim))
            g->adm = ADM_WAITING;
        else
            g->busy = true; /* plan only; the model part says "busy" */
    }
    if (stream)
        return start_stream(s, c, r, g_stream_run, gcall_free, g, &g->job, &g->stop_model, deadline);

    relief_hybrid_result res;
    if (g_respond(g, &res) < 0) {
        gcall_free(g);
        return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    char *js = relief_plan_render(res.plan, RELIEF_FMT_JSON, 0);
    strbuf b = {0};
    if (!js)
        b.failed = true;
    strbuf_str(&b, ",\"model\":");
    g_model_json(&b, g, &res, true);
    strbuf_str(&b, ",\"timings\":");
    g_timings_json(&b, g, &res);
    strbuf_str(&b, "}");
    char retry[32];
    snprintf(retry, sizeof retry, "%.0f", ceil(s->o.deadline));
    bool busy = g->busy;
    relief_hybrid_result_free(&res);
    gcall_free(g);
    /* {"plan": PLAN ,"model":...}: the plan's JSON (tens of KB) goes out as
     * it was rendered, without a copy into the response. */
    if (!js || b.failed) {
        free(js);
        return reply_sbuf(s, c, r, 200, "application/json", &b, busy ? retry : NULL);
    }
    return reply_parts(s, c, r, 200, "{\"plan\":", js, &b, busy ? retry : NULL);
}

/* ------------------------------------------------------------------ */
/* POST /v1/chat/completions (OpenAI-compatible)                       */
/* ------------------------------------------------------------------ */

typedef struct {
    server *s;
    json_t *root;              /* owns the message strings */
    relief_chat_message *msgs;
    char **owned;              /* contents we joined from parts */
    size_t n, n_owned;
    int max_tokens;
    double deadline_s;
    bool include_usage;
    bool slot;
    char id[64];
    long long created;
    stream_job *job;
} ccall;

static void ccall_free(void *arg)
{
    ccall *cc = arg;
    if (!cc)
        return;
    if (cc->slot)
        lim_release(&cc->s->lim);
    for (size_t i = 0; i < cc->n_owned; i++)
        free(cc->owned[i]);
    free(cc->owned);
    free(cc->msgs);
    json_decref(cc->root);
    free(cc);
}

/* "content": a string, null, or an array of parts whose "text" parts are
 * joined. Returns the text (owned by root or by cc->owned), or NULL when
 * the value is of another kind or memory runs out (*oom). */
static const char *chat_content(ccall *cc, json_t *v, bool *oom)
{
    *oom = false;
    if (!v || json_is_null(v))
        return "";
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_array(v))
        return NULL;
    strbuf b = {0};
    size_t i;
    json_t *part;
    strbuf_str(&b, "");
    json_array_foreach(v, i, part)
    {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type))
            goto bad;
        if (strcmp(json_string_value(type), "text"))
            goto bad; /* images and audio are not supported */
        if (!json_is_string(text))
            goto bad;
        strbuf_str(&b, json_string_value(text));
    }
    if (b.failed)
        goto fail;
    char **owned = realloc(cc->owned, (cc->n_owned + 1) * sizeof *owned);
    if (!owned)
        goto fail;
    cc->owned = owned;
    cc->owned[cc->n_owned++] = b.p;
    return b.p;
fail:
    *oom = true;
bad:
    free(b.p);
    return NULL;
}

static void chat_chunk_head(strbuf *b, const ccall *cc)
{
    strbuf_str(b, "{\"id\":");
    strbuf_json_cstr(b, cc->id);
    strbuf_printf(b, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":", cc->created);
    strbuf_json_cstr(b, cc->s->model_id);
    strbuf_str(b, ",\"system_fingerprint\":null,\"choices\":[");
}

/* Writes one chunk whose choice has delta `delta_json` and finish_reason
 * (NULL: null). Returns 0, or -1 when the client is gone. */
static int chat_emit(ccall *cc, const char *delta_json, const char *finish)
{
    strbuf b = {0};
    chat_chunk_head(&b, cc);
    strbuf_str(&b, "{\"index\":0,\"delta\":");
    strbuf_str(&b, delta_json);
    strbuf_str(&b, ",\"logprobs\":null,\"finish_reason\":");
    strbuf_json_cstr(&b, finish);
    strbuf_str(&b, "}]}");
    int rc = b.failed ? -1 : job_event(cc->job, NULL, b.p, b.n);
    free(b.p);
    return rc;
}

static int c_on_text(const char *text, size_t len, void *user)
{
    ccall *cc = user;
    if (atomic_load(&cc->s->stopping))
        return 1;
    if (!cc->job)
        return 0;
    strbuf d = {0};
    strbuf_str(&d, "{\"content\":");
    strbuf_json_str(&d, text, len);
    strbuf_str(&d, "}");
    int rc = d.failed ? -1 : chat_emit(cc, d.p, NULL);
    free(d.p);
    return rc < 0;
}

typedef struct {
    char *text;
    size_t len, n_tokens;
    bool complete;
    const char *error;
    int rc;
} chat_out;

static void chat_call(ccall *cc, chat_out *out)
{
    double t = clock_now();
    out->rc = relief_hybrid_chat(responder(cc->s), cc->msgs, cc->n, cc->deadline_s, cc->max_tokens, c_on_text, cc, &out->text,
                                 &out->len, &out->complete, &out->n_tokens, &out->error);
    double ms = (clock_now() - t) * 1e3;
    if (cc->slot) {
        lim_release(&cc->s->lim);
        cc->slot = false;
    }
    metrics_generation(&cc->s->m, out->n_tokens, ms, out->rc == 0 && !out->complete, out->rc < 0);
}

static void chat_usage(strbuf *b, size_t n_tokens)
{
    strbuf_printf(b, "{\"prompt_tokens\":0,\"completion_tokens\":%zu,\"total_tokens\":%zu}", n_tokens, n_tokens);
}

static void c_stream_run(stream_job *j)
{
    ccall *cc = j->arg;
    if (chat_emit(cc, "{\"role\":\"assistant\",\"content\":\"\"}", NULL) < 0)
        return;
    chat_out out = {0};
    chat_call(cc, &out);
    if (out.rc < 0) {
        strbuf b = {0};
        error_json(&b, "backend_error", NULL, out.error ? out.error : "model backend failed");
        if (!b.failed)
            job_event(j, NULL, b.p, b.n);
        free(b.p);
    } else {
        chat_emit(cc, "{}", out.complete ? "stop" : "length");
        if (cc->include_usage) {
            strbuf b = {0};
            chat_chunk_head(&b, cc);
            strbuf_str(&b, "],\"usage\":");
            chat_usage(&b, out.n_tokens);
            strbuf_str(&b, "}");
            if (!b.failed)
                job_event(j, NULL, b.p, b.n);
            free(b.p);
        }
    }
    job_event(j, NULL, "[DONE]", 6);
    free(out.text);
}

static enum MHD_Result handle_chat(server *s, struct MHD_Connection *c, req_ctx *r)
{
    if (!model_ready(s))
        return reply_error(s, c, r, 503, "unavailable", NULL, "%s",
                           atomic_load(&s->model_state) == MODEL_LOADING
                               ? "the model is still loading; try again shortly"
                           : atomic_load(&s->model_state) == MODEL_FAILED
                               ? "the model backend is unavailable (see the server log)"
                               : "no model backend is configured (start relief serve with --model or --backend)");
    enum MHD_Result rc;
    json_t *root = parse_body(s, c, r, 0, &rc);
    if (!root)
        return rc;
    ccall *cc = calloc(1, sizeof *cc);
    if (!cc) {
        json_decref(root);
        return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    cc->s = s;
    cc->root = root;
    cc->deadline_s = s->o.deadline;
    bool stream = false;
    long long max_tokens = 0, n_choices = 1;
    double temperature = 1;
    char field[64];
    const char *bad = NULL, *why = NULL;
    json_t *msgs = json_object_get(root, "messages"), *model = json_object_get(root, "model");
    json_t *so = json_object_get(root, "stream_options");
    /* Fields of the OpenAI API that this server does not implement are
     * refused by name rather than silently ignored. */
    static const char *const unsupported[] = {"tools", "tool_choice", "functions", "function_call", "logprobs",
                                              "top_logprobs", "logit_bias", "audio", "modalities", "prediction",
                                              "parallel_tool_calls", "response_format", NULL};
    const char *unsup = NULL;
    for (const char *const *u = unsupported; *u && !unsup; u++) {
        json_t *v = json_object_get(root, *u);
        if (!v || json_is_null(v) || json_is_false(v))
            continue;
        if (!strcmp(*u, "response_format") && json_is_object(v) && json_is_string(json_object_get(v, "type")) &&
            !strcmp(json_string_value(json_object_get(v, "type")), "text"))
            continue; /* plain text is what this server answers anyway */
        unsup = *u;
    }
    if (unsup)
        bad = unsup, why = "is not supported by this server";
    else if (!json_is_array(msgs))
        bad = "messages", why = "must be an array of {\"role\", \"content\"} objects";
    else if (json_array_size(msgs) == 0 || json_array_size(msgs) > MAX_CHAT_MESSAGES)
        bad = "messages", why = "must hold 1 to 1024 messages";
    else if (model && !json_is_null(model) && !json_is_string(model))
        bad = "model", why = "must be a string";
    else if (!opt_bool(root, "stream", &stream))
        bad = "stream", why = "must be true or false";
    else if (!opt_int(root, "max_tokens", 1, MAX_CHAT_TOKENS, &max_tokens))
        bad = "max_tokens", why = "must be a whole number from 1 to 100000";
    else if (!opt_int(root, "max_completion_tokens", 1, MAX_CHAT_TOKENS, &max_tokens))
        bad = "max_completion_tokens", why = "must be a whole number from 1 to 100000";
    else if (!opt_number(root, "temperature", 0, 2, false, &temperature))
        bad = "temperature", why = "must be a number from 0 to 2";
    else if (!opt_int(root, "n", 1, 1, &n_choices))
        bad = "n", why = "must be 1 (one choice per request)";
    else if (!opt_number(root, "deadline", 0, MAX_DEADLINE_S, true, &cc->deadline_s))
        bad = "deadline", why = "must be a number of seconds greater than 0 and at most 300";
    else if (so && !json_is_null(so) &&
             (!json_is_object(so) || !opt_bool(so, "include_usage", &cc->include_usage)))
        bad = "stream_options", why = "must be an object like {\"include_usage\": true}";
    (void)temperature; /* validated; the backend's own sampling settings apply */
    if (!bad) {
        cc->n = json_array_size(msgs);
        cc->msgs = calloc(cc->n, sizeof *cc->msgs);
        if (!cc->msgs) {
            ccall_free(cc);
            return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
        }
        for (size_t i = 0; i < cc->n && !bad; i++) {
            json_t *m = json_array_get(msgs, i);
            json_t *role = json_object_get(m, "role");
            const char *rs = json_is_string(role) ? json_string_value(role) : NULL;
            bool oom = false;
            if (!json_is_object(m)) {
                snprintf(field, sizeof field, "messages[%zu]", i);
                bad = field, why = "must be an object with \"role\" and \"content\"";
            } else if (!rs || (strcmp(rs, "system") && strcmp(rs, "developer") && strcmp(rs, "user") &&
                               strcmp(rs, "assistant"))) {
                snprintf(field, sizeof field, "messages[%zu].role", i);
                bad = field, why = "must be \"system\", \"developer\", \"user\" or \"assistant\"";
            } else if (!(cc->msgs[i].content = chat_content(cc, json_object_get(m, "content"), &oom))) {
                if (oom) {
                    ccall_free(cc);
                    return reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
                }
                snprintf(field, sizeof field, "messages[%zu].content", i);
                bad = field, why = "must be a string or an array of text parts";
            }
            cc->msgs[i].role = rs;
        }
    }
    if (bad) {
        enum MHD_Result e = reply_error(s, c, r, 400, "invalid_request_error", bad, "%s %s", bad, why);
        ccall_free(cc);
        return e;
    }
    cc->max_tokens = (int)max_tokens;
    cc->created = (long long)time(NULL);
    snprintf(cc->id, sizeof cc->id, "chatcmpl-relief-%llx-%llx", (unsigned long long)cc->created,
             (unsigned long long)atomic_fetch_add(&s->next_id, 1));

    /* Chat has no protocol part, so it waits for its slot before answering. */
    double t0 = clock_now();
    if (!lim_admit(&s->lim)) {
        metrics_busy(&s->m);
        ccall_free(cc);
        return reply_error(s, c, r, 429, "rate_limit_error", NULL,
                           "busy: every model slot and queue place is taken; retry later");
    }
    if (!lim_acquire(&s->lim, t0 + cc->deadline_s, NULL)) {
        metrics_busy(&s->m);
        ccall_free(cc);
        return reply_error(s, c, r, 429, "rate_limit_error", NULL, "busy: no model slot became free before the deadline");
    }
    cc->slot = true;
    cc->deadline_s -= clock_now() - t0;
    if (cc->deadline_s < 0.001)
        cc->deadline_s = 0.001;
    if (stream)
        return start_stream(s, c, r, c_stream_run, ccall_free, cc, &cc->job, NULL, cc->deadline_s);

    chat_out out = {0};
    chat_call(cc, &out);
    if (out.rc < 0) {
        free(out.text);
        enum MHD_Result e = reply_error(s, c, r, 502, "backend_error", NULL, "%s",
                                        out.error ? out.error : "model backend failed");
        ccall_free(cc);
        return e;
    }
    strbuf b = {0};
    strbuf_str(&b, "{\"id\":");
    strbuf_json_cstr(&b, cc->id);
    strbuf_printf(&b, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":", cc->created);
    strbuf_json_cstr(&b, s->model_id);
    strbuf_str(&b, ",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    strbuf_json_str(&b, out.text ? out.text : "", out.text ? out.len : 0);
    strbuf_printf(&b, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":", out.complete ? "stop" : "length");
    chat_usage(&b, out.n_tokens);
    strbuf_str(&b, "}");
    free(out.text);
    ccall_free(cc);
    return reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}

/* ------------------------------------------------------------------ */
/* GET endpoints                                                       */
/* ------------------------------------------------------------------ */

static enum MHD_Result handle_page(server *s, struct MHD_Connection *c, req_ctx *r)
{
    if (!s->page)
        return reply_error(s, c, r, 500, "server_error", NULL, "the web page was not embedded in this build");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(s->page_len, (void *)s->page, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
                            "frame-ancestors 'none'");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return queue(s, c, r, 200, resp);
}

static enum MHD_Result handle_healthz(server *s, struct MHD_Connection *c, req_ctx *r)
{
    strbuf b = {0};
    /* The backend's kind and model name only: a file path or a server URL
     * tells a page in the user's browser more than it needs. */
    strbuf_str(&b, "{\"status\":\"ok\",\"backend\":");
    strbuf_json_cstr(&b, s->backend_name);
    strbuf_str(&b, ",\"model\":");
    strbuf_json_cstr(&b, s->model_id);
    static const char *const states[] = {"none", "loading", "ready", "failed"};
    int st = atomic_load(&s->model_state);
    strbuf_str(&b, ",\"model_state\":");
    strbuf_json_cstr(&b, states[st]);
    strbuf_str(&b, "}");
    return reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}

static enum MHD_Result handle_models(server *s, struct MHD_Connection *c, req_ctx *r)
{
    strbuf b = {0};
    if (!strncmp(r->url, "/v1/models/", 11)) {
        const char *id = r->url + 11;
        if (!model_ready(s) || strcmp(id, s->model_id))
            return reply_error(s, c, r, 404, "not_found", "model", "no model '%.200s' here", id);
        strbuf_str(&b, "{\"id\":");
        strbuf_json_cstr(&b, s->model_id);
        strbuf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"relief\"}", s->started);
        return reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
    }
    strbuf_str(&b, "{\"object\":\"list\",\"data\":[");
    if (model_ready(s)) {
        strbuf_str(&b, "{\"id\":");
        strbuf_json_cstr(&b, s->model_id);
        strbuf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"relief\"}", s->started);
    }
    strbuf_str(&b, "]}");
    return reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}

static enum MHD_Result handle_metrics(server *s, struct MHD_Connection *c, req_ctx *r)
{
    metrics *m = &s->m;
    strbuf b = {0};
    int running, waiting;
    lim_counts(&s->lim, &running, &waiting);
    pthread_mutex_lock(&m->mu);
    strbuf_str(&b, "# HELP relief_http_requests_total HTTP requests answered, by endpoint and status code.\n"
               "# TYPE relief_http_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int k = 0; k < N_CODES; k++)
            if (m->requests[e][k])
                strbuf_printf(&b, "relief_http_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", ep_names[e], k + 100,
                          m->requests[e][k]);
    strbuf_str(&b, "# HELP relief_http_request_duration_seconds Time from a request's arrival to the end of its "
               "response.\n# TYPE relief_http_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT; e++) {
        unsigned long long cum = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++)
            cum += m->lat_bucket[e][k];
        if (!cum)
            continue;
        unsigned long long total = cum;
        cum = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += m->lat_bucket[e][k];
            strbuf_printf(&b, "relief_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", ep_names[e],
                      lat_bounds[k], cum);
        }
        strbuf_printf(&b, "relief_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", ep_names[e],
                  total);
        strbuf_printf(&b, "relief_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ep_names[e], m->lat_sum[e]);
        strbuf_printf(&b, "relief_http_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e], total);
    }
    strbuf_printf(&b,
              "# HELP relief_plans_total Protocol plans built.\n# TYPE relief_plans_total counter\n"
              "relief_plans_total %llu\n"
              "# HELP relief_plan_seconds_total Time spent building plans.\n# TYPE relief_plan_seconds_total counter\n"
              "relief_plan_seconds_total %.6f\n"
              "# HELP relief_model_generations_total Model generations run.\n"
              "# TYPE relief_model_generations_total counter\nrelief_model_generations_total %llu\n"
              "# HELP relief_model_tokens_total Tokens generated by the model.\n"
              "# TYPE relief_model_tokens_total counter\nrelief_model_tokens_total %llu\n"
              "# HELP relief_model_seconds_total Time spent in model generations.\n"
              "# TYPE relief_model_seconds_total counter\nrelief_model_seconds_total %.6f\n"
              "# HELP relief_model_tokens_per_second Generation speed of the latest generation.\n"
              "# TYPE relief_model_tokens_per_second gauge\nrelief_model_tokens_per_second %.3f\n"
              "# HELP relief_model_deadline_cuts_total Generations cut at the deadline.\n"
              "# TYPE relief_model_deadline_cuts_total counter\nrelief_model_deadline_cuts_total %llu\n"
              "# HELP relief_model_errors_total Generations that ended with a backend error.\n"
              "# TYPE relief_model_errors_total counter\nrelief_model_errors_total %llu\n"
              "# HELP relief_model_busy_total Requests that got no model slot (429, or guidance model error busy).\n"
              "# TYPE relief_model_busy_total counter\nrelief_model_busy_total %llu\n"
              "# HELP relief_slow_clients_dropped_total Connections dropped for not sending a request in time.\n"
              "# TYPE relief_slow_clients_dropped_total counter\nrelief_slow_clients_dropped_total %llu\n",
              m->plans, m->plan_seconds, m->generations, m->model_tokens, m->model_seconds, m->last_tokens_per_s, m->cuts,
              m->model_errors, m->busy, m->slow_dropped);
    pthread_mutex_unlock(&m->mu);
    strbuf_printf(&b,
              "# HELP relief_queue_depth Generations waiting for a model slot.\n# TYPE relief_queue_depth gauge\n"
              "relief_queue_depth %d\n"
              "# HELP relief_generations_in_flight Generations holding a model slot.\n"
              "# TYPE relief_generations_in_flight gauge\nrelief_generations_in_flight %d\n"
              "# HELP relief_model_slots Concurrent generations allowed.\n# TYPE relief_model_slots gauge\n"
              "relief_model_slots %d\n"
              "# HELP relief_requests_in_progress HTTP requests being received or answered.\n"
              "# TYPE relief_requests_in_progress gauge\nrelief_requests_in_progress %d\n",
              waiting, running, s->o.max_parallel, atomic_load(&s->active));
    return reply_sbuf(s, c, r, 200, "text/plain; version=0.0.4; charset=utf-8", &b, NULL);
}

/* ------------------------------------------------------------------ */
/* MHD callbacks                                                       */
/* ------------------------------------------------------------------ */

/* Checks "Authorization: Bearer TOKEN" (scheme case-insensitive). */
static bool authorized(server *s, struct MHD_Connection *c)
{
    if (!s->o.token)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return secret_equal(h, n, s->o.token, strlen(s->o.token));
}

/* The answer to a request decided before its body is read: 0 (none), or an
 * error status with which reply_early() answers. */
/* The host part of a Host header or an origin's authority: "[::1]:8080"
 * -> "::1", "localhost:80" -> "localhost". */
static size_t host_part(const char *h, const char **start)
{
    if (*h == '[') {
        const char *e = strchr(h, ']');
        *start = h + 1;
        return e ? (size_t)(e - h - 1) : strlen(h + 1);
    }
    *start = h;
    return strcspn(h, ":");
}

static bool is_ip_literal(const char *h, size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    unsigned char addr[16];
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* DNS rebinding: a page of attacker.com that makes its name resolve to
 * 127.0.0.1 reaches this server with "Host: attacker.com". Only IP
 * literals, localhost and the names given with --allow-host are served. */
static bool host_allowed(const serve_opts *o, const char *host)
{
    if (!host)
        return true; /* HTTP/1.0 without Host: not a browser of today */
    const char *h;
    size_t n = host_part(host, &h);
    if (is_ip_literal(h, n))
        return true;
    if ((n == 9 && !strncasecmp(h, "localhost", 9)) || (n > 10 && !strncasecmp(h + n - 10, ".localhost", 10)))
        return true;
    return in_list(o->allow_hosts, h, n);
}

/* A cross-origin request (an Origin that is not this server's own) is
 * served only for origins given with --cors. */
static bool origin_allowed(const serve_opts *o, const char *origin, const char *host)
{
    if (!origin)
        return true; /* not from a browser page, or same-origin GET */
    const char *auth = strstr(origin, "://");
    if (auth && host && !strcasecmp(auth + 3, host))
        return true; /* same origin: the page this server serves */
    return in_list(o->cors, origin, strlen(origin));
}

/* Counts a header's occurrences (duplicate Content-Length is refused). */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct { const char *name; int n; } *c = cls;
    if (!strcasecmp(key, c->name))
        c->n++;
    return MHD_YES;
}

static unsigned early_error(server *s, struct MHD_Connection *c, req_ctx *r, const char *method, bool post)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (!host_allowed(&s->o, host))
        return 4031;
    if (!origin_allowed(&s->o, origin, host))
        return 4032;
    /* Request smuggling behind a proxy: one Content-Length, never with Transfer-Encoding. */
    struct { const char *name; int n; } cl_count = {MHD_HTTP_HEADER_CONTENT_LENGTH, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &cl_count);
    if (cl_count.n > 1 ||
        (cl_count.n == 1 && MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)))
        return 400;
    if (r->ep == EP_NOTFOUND)
        return 404;
    if (!strcmp(method, "OPTIONS") && origin)
        return 204; /* CORS preflight of an allowed origin */
    if (!(post ? !strcmp(method, "POST") : (!strcmp(method, "GET") || !strcmp(method, "HEAD"))))
        return 405;
    if (r->ep != EP_PAGE && r->ep != EP_HEALTHZ && !authorized(s, c))
        return 401;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (post && cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || n > s->o.max_body)
            return 413;
    }
    /* A web page can POST text/plain without a preflight; JSON (or a CAP
     * alert) needs one, which only --cors origins pass. */
    if (post) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        size_t n = ct ? strcspn(ct, "; ") : 0;
        if (!ct || !((n == 16 && !strncasecmp(ct, "application/json", 16)) ||
                     (n == 20 && !strncasecmp(ct, "application/cap+xml", 19))))
            return 415;
    }
    return 0;
}

static enum MHD_Result reply_early(server *s, struct MHD_Connection *c, req_ctx *r)
{
    bool post = false;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (routes[i].ep == r->ep)
            post = routes[i].post;
    switch (r->early) {
    case 4031:
        return reply_error(s, c, r, 403, "host_not_allowed", NULL,
                           "this server answers only for IP addresses, localhost and --allow-host names");
    case 4032:
        return reply_error(s, c, r, 403, "origin_not_allowed", NULL,
                           "cross-origin requests are answered only for origins given with --cors");
    case 400:
        return reply_error(s, c, r, 400, "invalid_request_error", NULL,
                           "conflicting message length (several Content-Length, or Content-Length with "
                           "Transfer-Encoding)");
    case 415:
        return reply_error(s, c, r, 415, "unsupported_media_type", "Content-Type",
                           "POST bodies must be sent as Content-Type: application/json");
    case 204: {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Authorization, Accept");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        return queue(s, c, r, 204, resp);
    }
    case 404: {
        size_t ul = strlen(r->url);
        return reply_error(s, c, r, 404, "not_found", NULL, "no such endpoint: %.*s%s",
                           (int)(ul > ERR_URL_MAX ? ERR_URL_MAX : ul), r->url, ul > ERR_URL_MAX ? "..." : "");
    }
    case 405:
        return reply_error(s, c, r, 405, "method_not_allowed", NULL, "%s is not allowed here; use %s",
                           strlen(r->method) > 16 ? "this method" : r->method, post ? "POST" : "GET");
    case 401:
        return reply_error(s, c, r, 401, "authentication_error", NULL,
                           "missing or wrong bearer token (send 'Authorization: Bearer TOKEN')");
    default:
        return reply_error(s, c, r, 413, "request_too_large", NULL, "the request body exceeds %zu bytes",
                           s->o.max_body);
    }
}

/* MHD calls this first when the headers are in, then once per piece of
 * body, then once more with *upload_size == 0. Errors known from the
 * headers are answered at once when a body follows (MHD then closes the
 * connection instead of reading it); otherwise at the last call, which
 * keeps the connection alive. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->t0 = clock_now();
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        bool post;
        r->ep = route(url, &post);
        r->url = url;
        r->method = method;
        r->early = early_error(s, c, r, method, post);
        bool has_body = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strspn(cl, "0") != strlen(cl))
            has_body = true;
        if (r->early && has_body)
            return reply_early(s, c, r);
        return MHD_YES;
    }
    if (r->queued)
        return MHD_NO; /* answered early; MHD should not call again */
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_big || r->early)
            return MHD_YES;
        if (n > s->o.max_body - r->len) {
            r->too_big = true; /* chunked body past the limit: discard the rest, answer 413 */
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 1024;
            while (cap < r->len + n + 1)
                cap *= 2;
            if (cap > s->o.max_body + 1)
                cap = s->o.max_body + 1;
            char *p = realloc(r->body, cap);
            if (!p)
                return MHD_NO;
            r->body = p;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    conn_set_receiving(s, c, false);
    if (r->early)
        return reply_early(s, c, r);
    if (r->too_big)
        return reply_error(s, c, r, 413, "request_too_large", NULL, "the request body exceeds %zu bytes",
                           s->o.max_body);
    switch (r->ep) {
    case EP_PAGE: return handle_page(s, c, r);
    case EP_HEALTHZ: return handle_healthz(s, c, r);
    case EP_METRICS: return handle_metrics(s, c, r);
    case EP_MODELS: return handle_models(s, c, r);
    case EP_GUIDANCE: return handle_guidance(s, c, r);
    default: return handle_chat(s, c, r);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r)
        return;
    metrics_request(&s->m, r->ep, r->status ? r->status : 500, clock_now() - r->t0);
    conn_set_receiving(s, c, true);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("relief serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

/* Opens the listening socket on bind:port. Returns the descriptor and
 * writes "ADDR:PORT" (IPv6 in brackets) to shown, or -1 with a message. */
static int open_listener(const serve_opts *o, char *shown, size_t cap, bool *v6)
{
    char port[16];
    snprintf(port, sizeof port, "%u", o->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int e = getaddrinfo(o->bind, port, &hints, &ai);
    if (e) {
        fprintf(stderr, "relief serve: cannot use address '%s': %s\n", o->bind, gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        fprintf(stderr, "relief serve: socket: %s\n", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
        fprintf(stderr, "relief serve: cannot listen on %s port %s: %s\n", o->bind, port, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl)) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            p = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            p = ntohs(a->sin6_port);
        }
    }
    *v6 = ss.ss_family == AF_INET6;
    snprintf(shown, cap, *v6 ? "[%s]:%u" : "%s:%u", host, p);
    return fd;
}

/* The model id shown by /v1/models and in chat answers. */
/* Loads the model backend (built-in engine or remote server) off the main
 * thread and publishes it when ready. */
static void *loader_main(void *arg)
{
    server *s = arg;
    double t0 = clock_now();
    char err[512] = "";
    relief_hybrid *h = relief_hybrid_new(s->kb, &s->hc, err, sizeof err);
    if (!h) {
        snprintf(s->model_error, sizeof s->model_error, "%s", err[0] ? err : "out of memory");
        fprintf(stderr, "relief serve: model backend unavailable (%s); answering from the protocols only\n",
                s->model_error);
        atomic_store(&s->model_state, MODEL_FAILED);
        return NULL;
    }
    atomic_store(&s->hy_model, h);
    atomic_store(&s->model_state, MODEL_READY);
    fprintf(stderr, "relief serve: model backend ready after %.1f s (%s)\n", clock_now() - t0, relief_hybrid_backend_name(h));
    return NULL;
}

static void set_model_id(server *s)
{
    const serve_opts *o = &s->o;
    if (o->backend) {
        snprintf(s->model_id, sizeof s->model_id, "%s", o->backend_model ? o->backend_model : "gpt-oss");
    } else if (o->model) {
        const char *b = strrchr(o->model, '/');
        b = b ? b + 1 : o->model;
        size_t n = strlen(b);
        if (n > 5 && !strcmp(b + n - 5, ".gguf"))
            n -= 5;
        snprintf(s->model_id, sizeof s->model_id, "%.*s", (int)(n < 200 ? n : 200), b);
    } else {
        snprintf(s->model_id, sizeof s->model_id, "none");
    }
}

int relief_serve_main(int argc, char **argv)
{
    static server srv; /* one per process; large (metrics tables), so not on the stack */
    server *s = &srv;
    memset(s, 0, sizeof *s);
    int rc = parse_opts(argc, argv, &s->o);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t block, waitset;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGTERM);

    pthread_mutex_init(&s->m.mu, NULL);
    pthread_mutex_init(&s->lim.mu, NULL);
    pthread_mutex_init(&s->reg.mu, NULL);
    if (cond_init_mono(&s->lim.cv) || cond_init_mono(&s->reg.cv)) {
        fprintf(stderr, "relief serve: out of memory\n");
        return 1;
    }
    s->lim.max_running = s->o.max_parallel;
    s->lim.max_waiting = s->o.queue;
    s->reg.head.next = s->reg.head.prev = &s->reg.head;
    s->listen_fd = -1;
    for (size_t i = 0; i < relief_web_n_files; i++)
        if (!strcmp(relief_web_files[i].path, "index.html")) {
            s->page = relief_web_files[i].data;
            s->page_len = relief_web_files[i].len;
        }

    char *err = NULL;
    s->kb = s->o.kb_dir ? relief_kb_load_dir(s->o.kb_dir, &err) : relief_kb_load_embedded(&err);
    if (!s->kb) {
        fprintf(stderr, "relief serve: knowledge base: %s\n", err ? err : "out of memory");
        free(err);
        return 1;
    }
    relief_hybrid_config hc = {.kind = s->o.model     ? RELIEF_BACKEND_BUILTIN
                                       : s->o.backend ? RELIEF_BACKEND_REMOTE
                                                      : RELIEF_BACKEND_NONE,
                               .model_path = s->o.model,
                               .remote_url = s->o.backend,
                               .remote_model = s->o.backend_model,
                               .remote_token = getenv("RELIEF_BACKEND_TOKEN"),
                               .cache_dir = s->o.cache_dir,
                               .lora = s->o.lora,
                               .threads = s->o.threads,
                               .final_only = s->o.final_only,
                               .max_tokens = s->o.max_tokens,
                               .temperature = -1,
                               .max_parallel = s->o.max_parallel,
                               .quiet = !isatty(STDERR_FILENO)};
    /* The plan-only responder first; the model loads in the background
     * once the server listens, so plans are served (and signals obeyed)
     * from the first moment whatever the model file is or does. */
    char herr[512] = "";
    relief_hybrid_config none = {.kind = RELIEF_BACKEND_NONE};
    s->hy_plan = relief_hybrid_new(s->kb, &none, herr, sizeof herr);
    if (!s->hy_plan) {
        fprintf(stderr, "relief serve: %s\n", herr[0] ? herr : "out of memory");
        relief_kb_free(s->kb);
        return 1;
    }
    s->hc = hc;
    s->started = (long long)time(NULL);
    atomic_store(&s->model_state, hc.kind == RELIEF_BACKEND_NONE ? MODEL_NONE : MODEL_LOADING);
    /* "builtin:NAME" / "remote:NAME": the model's name, never a file path
     * or a server URL (a page in the user's browser may read answers). */
    set_model_id(s);
    int bl = snprintf(s->backend_label, sizeof s->backend_label, "%s%.200s",
                      hc.kind == RELIEF_BACKEND_NONE ? "none" : s->o.backend ? "remote:" : "builtin:",
                      hc.kind == RELIEF_BACKEND_NONE ? "" : s->model_id);
    assert(bl > 0 && (size_t)bl < sizeof s->backend_label);
    (void)bl;
    s->backend_name = s->backend_label;

    char shown[INET6_ADDRSTRLEN + 16];
    bool v6 = false;
    s->listen_fd = open_listener(&s->o, shown, sizeof shown, &v6);
    if (s->listen_fd < 0) {
        relief_hybrid_free(s->hy_plan);
        relief_kb_free(s->kb);
        return 1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_AUTO |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)s->o.per_ip,
                            MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                            on_connection, s, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "relief serve: cannot start the HTTP daemon\n");
        close(s->listen_fd);
        relief_hybrid_free(s->hy_plan);
        relief_kb_free(s->kb);
        return 1;
    }
    if (pthread_create(&s->reg.th, NULL, reaper_main, s) == 0)
        s->reg.started = true;
    else
        fprintf(stderr, "relief serve: cannot start the read-timeout thread; slow clients rely on the idle timeout\n");
    fprintf(stderr, "relief serve: backend %s; deadline %gs; %d model slot(s), queue %d%s\n", s->backend_name,
            s->o.deadline, s->o.max_parallel, s->o.queue, s->o.token ? "; bearer token required" : "");
    printf("relief serve: listening on http://%s\n", shown);
    fflush(stdout);
    if (atomic_load(&s->model_state) == MODEL_LOADING) {
        fprintf(stderr, "relief serve: loading the model backend in the background; plans are served meanwhile\n");
        if (pthread_create(&s->loader, NULL, loader_main, s) == 0) {
            s->loader_started = true;
        } else {
            snprintf(s->model_error, sizeof s->model_error, "cannot start the loading thread");
            atomic_store(&s->model_state, MODEL_FAILED);
        }
    }

    int sig = 0;
    sigwait(&waitset, &sig);
    fprintf(stderr, "relief serve: %s received; finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_socket lfd = MHD_quiesce_daemon(s->d); /* stop accepting */
    double until = clock_now() + s->o.deadline + SHUTDOWN_GRACE_S;
    struct timespec step = {0, 50 * 1000 * 1000};
    while (atomic_load(&s->active) > 0 && clock_now() < until) {
        if (sigtimedwait(&waitset, NULL, &step) > 0) {
            fprintf(stderr, "relief serve: second signal; cancelling requests in flight\n");
            break;
        }
    }
    atomic_store(&s->stopping, 1);
    pthread_mutex_lock(&s->lim.mu);
    s->lim.stopping = true;
    pthread_cond_broadcast(&s->lim.cv);
    pthread_mutex_unlock(&s->lim.mu);
    MHD_stop_daemon(s->d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    if (s->reg.started) {
        pthread_mutex_lock(&s->reg.mu);
        s->reg.stop = true;
        pthread_cond_broadcast(&s->reg.cv);
        pthread_mutex_unlock(&s->reg.mu);
        pthread_join(s->reg.th, NULL);
    }
    if (s->loader_started && atomic_load(&s->model_state) == MODEL_LOADING) {
        /* The model is still loading (a prefix evaluation can take a minute
         * on two cores): stop now rather than wait for it. The loader thread
         * still uses the kb, so nothing is freed; exiting ends it. */
        fprintf(stderr, "relief serve: stopped (model load abandoned)\n");
        fflush(stderr);
        _exit(0);
    }
    if (s->loader_started)
        pthread_join(s->loader, NULL);
    relief_hybrid_free(atomic_load(&s->hy_model));
    relief_hybrid_free(s->hy_plan);
    relief_kb_free(s->kb);
    pthread_cond_destroy(&s->lim.cv);
    pthread_cond_destroy(&s->reg.cv);
    pthread_mutex_destroy(&s->lim.mu);
    pthread_mutex_destroy(&s->reg.mu);
    pthread_mutex_destroy(&s->m.mu);
    fprintf(stderr, "relief serve: stopped\n");
    return 0;
}
