/* http.c - the HTTP side of relief serve: connections, routing, early refusals (Host, Origin, lengths), replies and request bodies. */
#include "serve_int.h"

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

int serve_cond_init_mono(pthread_cond_t *cv)
{
    return clock_cond_init(cv);
}

/* Waits on cv until signalled or until the monotonic time `until`. */
void serve_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until)
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
/* Connection registry and the slow-request reaper                     */
/* ------------------------------------------------------------------ */



/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */



/* The responder a request uses: the model's once it is loaded, else the
 * plan-only one (the plan never waits for a model). */
relief_hybrid *serve_responder(server *s)
{
    relief_hybrid *h = atomic_load(&s->hy_model);
    return h ? h : s->hy_plan;
}

bool serve_model_ready(server *s)
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

void serve_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
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

void *serve_reaper_main(void *arg)
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
        serve_cond_wait_until(&s->reg.cv, &s->reg.mu, t + 0.2);
    }
    pthread_mutex_unlock(&s->reg.mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests and responses                                              */
/* ------------------------------------------------------------------ */


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

enum MHD_Result serve_queue(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
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
enum MHD_Result serve_reply_sbuf(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                  const char *ctype, strbuf *b, const char *retry_after)
{
    struct MHD_Response *resp;
    if (b->failed || !b->p) {
        free(b->p);
        resp = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        return serve_queue(s, c, r, 500, resp);
    }
    resp = MHD_create_response_from_buffer(b->n, b->p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b->p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    return serve_queue(s, c, r, status, resp);
}


static void parts_free(void *cls)
{
    parts *p = cls;
    free(p->body);
    free(p->tail);
    free(p);
}

/* Queues JSON made of head (static), body (malloc'd, taken) and tail->p
 * (taken) without joining them. */
enum MHD_Result serve_reply_parts(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *head, char *body, strbuf *tail, const char *retry_after)
{
    parts *pc = malloc(sizeof *pc);
    if (!pc) {
        free(body);
        tail->failed = true; /* reply_sbuf answers 500 and frees it */
        return serve_reply_sbuf(s, c, r, 500, "application/json", tail, NULL);
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
    return serve_queue(s, c, r, status, resp);
}

/* The JSON error object {"error": {"message", "type", "field"?}} (field
 * also as OpenAI's "param"). */
void serve_error_json(strbuf *b, const char *type, const char *field, const char *msg)
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

enum MHD_Result serve_reply_error(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
enum MHD_Result serve_reply_error(server *s, struct MHD_Connection *c, req_ctx *r, unsigned status,
                                   const char *type, const char *field, const char *fmt, ...)
{
    strbuf msg = {0}, b = {0};
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    serve_error_json(&b, type, field, msg.failed ? "out of memory" : msg.p);
    free(msg.p);
    char retry[32];
    snprintf(retry, sizeof retry, "%.0f", ceil(s->o.deadline));
    struct MHD_Response *resp;
    if (b.failed || !b.p) {
        free(b.p);
        return serve_reply_sbuf(s, c, r, 500, NULL, &b, NULL);
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
    return serve_queue(s, c, r, status, resp);
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
json_t *serve_parse_body(server *s, struct MHD_Connection *c, req_ctx *r, size_t flags, enum MHD_Result *rc)
{
    json_error_t je;
    size_t fixed_len = 0;
    char *fixed = repair_json_text(r->body ? r->body : "", r->len, &fixed_len);
    if (!fixed) {
        *rc = serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
        return NULL;
    }
    free(r->body);
    r->body = fixed;
    r->len = fixed_len;
    r->cap = fixed_len + 1;
    json_t *root = json_loadb(r->body ? r->body : "", r->len, flags, &je);
    if (!root) {
        *rc = serve_reply_error(s, c, r, 400, "invalid_request_error", NULL, "malformed JSON: %s (line %d, column %d)",
                          je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = serve_reply_error(s, c, r, 400, "invalid_request_error", NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Optional field: absent or null leaves *out alone and returns 1; a value
 * of the right kind is stored (returns 1); otherwise returns 0. */
int serve_opt_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_boolean(v))
        return 0;
    *out = json_is_true(v);
    return 1;
}

int serve_opt_number(json_t *o, const char *key, double min, double max, bool min_open, double *out)
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

int serve_opt_int(json_t *o, const char *key, long long min, long long max, long long *out)
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
                     (n == 19 && !strncasecmp(ct, "application/cap+xml", 19))))
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
        return serve_reply_error(s, c, r, 403, "host_not_allowed", NULL,
                           "this server answers only for IP addresses, localhost and --allow-host names");
    case 4032:
        return serve_reply_error(s, c, r, 403, "origin_not_allowed", NULL,
                           "cross-origin requests are answered only for origins given with --cors");
    case 400:
        return serve_reply_error(s, c, r, 400, "invalid_request_error", NULL,
                           "conflicting message length (several Content-Length, or Content-Length with "
                           "Transfer-Encoding)");
    case 415:
        return serve_reply_error(s, c, r, 415, "unsupported_media_type", "Content-Type",
                           "POST bodies must be sent as Content-Type: application/json (or application/cap+xml "
                           "to /v1/guidance)");
    case 204: {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Authorization, Accept");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        return serve_queue(s, c, r, 204, resp);
    }
    case 404: {
        size_t ul = strlen(r->url);
        return serve_reply_error(s, c, r, 404, "not_found", NULL, "no such endpoint: %.*s%s",
                           (int)(ul > ERR_URL_MAX ? ERR_URL_MAX : ul), r->url, ul > ERR_URL_MAX ? "..." : "");
    }
    case 405:
        return serve_reply_error(s, c, r, 405, "method_not_allowed", NULL, "%s is not allowed here; use %s",
                           strlen(r->method) > 16 ? "this method" : r->method, post ? "POST" : "GET");
    case 401:
        return serve_reply_error(s, c, r, 401, "authentication_error", NULL,
                           "missing or wrong bearer token (send 'Authorization: Bearer TOKEN')");
    default:
        return serve_reply_error(s, c, r, 413, "request_too_large", NULL, "the request body exceeds %zu bytes",
                           s->o.max_body);
    }
}

/* MHD calls this first when the headers are in, then once per piece of
 * body, then once more with *upload_size == 0. Errors known from the
 * headers are answered at once when a body follows (MHD then closes the
 * connection instead of reading it); otherwise at the last call, which
 * keeps the connection alive. */
enum MHD_Result serve_on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
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
        return serve_reply_error(s, c, r, 413, "request_too_large", NULL, "the request body exceeds %zu bytes",
                           s->o.max_body);
    switch (r->ep) {
    case EP_PAGE: return serve_handle_page(s, c, r);
    case EP_HEALTHZ: return serve_handle_healthz(s, c, r);
    case EP_METRICS: return serve_handle_metrics(s, c, r);
    case EP_MODELS: return serve_handle_models(s, c, r);
    case EP_GUIDANCE: return serve_handle_guidance(s, c, r);
    default: return serve_handle_chat(s, c, r);
    }
}

void serve_on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
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

void serve_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("relief serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}
