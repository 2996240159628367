/* serve_int.h - what the files of relief serve share: options, the server, requests, and their helpers. */
#ifndef RELIEF_SERVE_INT_H
#define RELIEF_SERVE_INT_H

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

#include "util/embedded.h"

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


typedef struct {
    unsigned port;
    const char *bind;
    const char *model, *backend, *backend_model;
    double deadline;            /* --deadline: hard limit of answers that are not streamed */
    double budget;              /* --budget: how long a streamed answer's model text may run */
    const char *token;
    size_t max_body;
    int max_parallel, serve_queue;
    const char *kb_dir;
    int threads;
    double read_timeout;
    int max_tokens;
    bool final_only;
    bool no_warm;               /* --no-warm: leave the prefixes to be computed on first use */
    const char *cache_dir;
    const char *lora;           /* adapter spec for the built-in engine */
    const char *allow_hosts;    /* --allow-host: further Host names accepted ("a,b") */
    const char *cors;           /* --cors: origins answered cross-origin ("https://x,https://y") */
    int per_ip;                 /* connections one address may hold */
} serve_opts;

enum { EP_PAGE, EP_HEALTHZ, EP_METRICS, EP_MODELS, EP_GUIDANCE, EP_CHAT, EP_NOTFOUND, EP_COUNT };

#define N_BUCKETS 13 /* latency buckets: lat_bounds in metrics.c */
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

typedef enum { MODEL_NONE, MODEL_LOADING, MODEL_READY, MODEL_FAILED } model_state;
typedef enum { WARM_OFF, WARM_RUNNING, WARM_DONE, WARM_FAILED } warm_state;
#define SERVE_WANTED_MAX 8 /* hazard sets waiting for their prefix; more are dropped (asked again later) */

typedef struct {
    serve_opts o;
    relief_kb *kb;
    relief_hybrid *hy_plan;            /* plan-only responder, from the start */
    _Atomic(relief_hybrid *) hy_model; /* the model's responder once loaded (loader thread) */
    atomic_int model_state;            /* model_state */
    char model_error[512];             /* why loading failed (set before MODEL_FAILED) */
    pthread_t loader;
    bool loader_started;
    atomic_int warm_state;             /* warm_state: the prefixes computed after the model loads */
    atomic_int warm_done;              /* hazards whose prefix is ready (of RELIEF_HZ_COUNT) */
    /* Hazard sets whose prefix a request needed and did not find (a hard
     * deadline may cut its computation): the loader thread computes them
     * after the warm-up, one at a time, yielding to requests. */
    pthread_mutex_t wanted_mu;
    pthread_cond_t wanted_cv;
    uint32_t wanted[SERVE_WANTED_MAX];
    int n_wanted;                      /* under wanted_mu */
    bool wanted_stop;                  /* under wanted_mu: the server is stopping */
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

/* The buffers of a response sent from several pieces (reply_parts). */
typedef struct {
    char *body;
    char *tail;
} parts;

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

/* Functions shared between the files of relief serve. */
int serve_parse_opts(int argc, char **argv, serve_opts *o);
void metrics_request(metrics *m, int ep, unsigned status, double seconds);
void metrics_plan(metrics *m, double plan_ms);
void metrics_generation(metrics *m, size_t tokens, double model_ms, bool cut, bool error);
void metrics_busy(metrics *m);
/* limiter.c: at most max_running generations, max_waiting more queued in
 * FIFO order (contracts in limiter.c). lim_init returns 0 or -1 (out of
 * resources); lim_stop makes every waiter and later admission fail;
 * lim_destroy frees the lock (no thread may still use the limiter). */
int lim_init(limiter *l, int max_running, int max_waiting);
void lim_stop(limiter *l);
void lim_destroy(limiter *l);
bool lim_admit(limiter *l);
void lim_unadmit(limiter *l);
bool lim_acquire(limiter *l, double deadline, const atomic_int *cancel);
void lim_release(limiter *l);
void lim_counts(limiter *l, int *running, int *waiting);
relief_hybrid *serve_responder(server *s);
bool serve_model_ready(server *s);
void serve_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);
void *serve_reaper_main(void *arg);
enum MHD_Result serve_queue(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                             struct MHD_Response *resp);
enum MHD_Result serve_reply_sbuf(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                  const char *ctype, strbuf *b, const char *retry_after);
enum MHD_Result serve_reply_parts(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *head, char *body, strbuf *tail, const char *retry_after);
void serve_error_json(strbuf *b, const char *type, const char *field, const char *msg);
enum MHD_Result serve_reply_error(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
json_t *serve_parse_body(server *s, struct MHD_Connection *c, req_ctx *r, size_t flags, enum MHD_Result *rc);
int serve_opt_bool(json_t *o, const char *key, bool *out);
int serve_opt_number(json_t *o, const char *key, double min, double max, bool min_open, double *out);
int serve_opt_int(json_t *o, const char *key, long long min, long long max, long long *out);
enum MHD_Result serve_on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls);
void serve_on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe);
void serve_on_mhd_log(void *cls, const char *fmt, va_list ap);
int serve_cond_init_mono(pthread_cond_t *cv);
void serve_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until);
int job_event(stream_job *j, const char *name, const char *data, size_t len);
enum MHD_Result serve_start_stream(server *s, struct MHD_Connection *c, req_ctx *r, void (*run)(stream_job *),
                                    void (*cleanup)(void *), void *arg, stream_job **jp, atomic_int *cancel_too,
                                    double deadline_s);
enum MHD_Result serve_handle_guidance(server *s, struct MHD_Connection *c, req_ctx *r);
/* formats.c: whether a guidance request asks for a field format (?format=cap,
 * ics201, ics201-json) or sends a CAP alert; then its answer. */
bool serve_guidance_format_wanted(struct MHD_Connection *c);
/* Asks the loader thread to compute the prompt prefix for hazard mask
 * `hazards` (relief_hybrid_prefix_hazards) when it is not queued already;
 * a full queue drops it. Never blocks for long; cannot fail. */
void serve_want_prefix(server *s, uint32_t hazards);
/* The plan language code ("en", "es", "fr", "pt", static) that the n bytes
 * at s name, case-insensitively; NULL for any other. */
const char *serve_plan_lang_code(const char *s, size_t n);
/* The language an Accept-Language header asks the plan in: of its
 * languages (primary subtag: "fr-CA" is fr) that plans can be written in,
 * the one of highest q, the first of equals; NULL when none is, and the
 * report's own language decides. q=0 refuses a language; '*' names none.
 * Malformed items are skipped: the header is a preference, never an error. */
const char *serve_accept_language(const relief_kb *kb, const char *h);
enum MHD_Result serve_handle_guidance_format(server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result serve_handle_chat(server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result serve_handle_page(server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result serve_handle_healthz(server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result serve_handle_models(server *s, struct MHD_Connection *c, req_ctx *r);
enum MHD_Result serve_handle_metrics(server *s, struct MHD_Connection *c, req_ctx *r);

#endif
