/* stream.c - Server-Sent Events: a bounded ring buffer filled by a worker thread and drained by the connection. */
#include "serve_int.h"

/* ------------------------------------------------------------------ */
/* Streaming: a bounded ring buffer filled by a worker thread          */
/* ------------------------------------------------------------------ */


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
            serve_cond_wait_until(&j->cv, &j->mu, fmin(j->write_deadline, t + 0.1) + 1e-3);
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
int job_event(stream_job *j, const char *name, const char *data, size_t len)
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
        serve_cond_wait_until(&j->cv, &j->mu, clock_now() + 0.2);
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
enum MHD_Result serve_start_stream(server *s, struct MHD_Connection *c, req_ctx *r, void (*run)(stream_job *),
                                    void (*cleanup)(void *), void *arg, stream_job **jp, atomic_int *cancel_too,
                                    double deadline_s)
{
    stream_job *j = calloc(1, sizeof *j);
    char *ring = j ? malloc(RING_CAP) : NULL;
    if (!j || !ring || pthread_mutex_init(&j->mu, NULL)) {
        free(ring);
        free(j);
        cleanup(arg);
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    if (serve_cond_init_mono(&j->cv)) {
        pthread_mutex_destroy(&j->mu);
        free(ring);
        free(j);
        cleanup(arg);
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
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
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "cannot start a worker thread");
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16u << 10, job_read, j, job_free);
    if (!resp) {
        job_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return serve_queue(s, c, r, 200, resp);
}
