/*
 * remote.c - the remote model backend: streams a chat answer from any
 * OpenAI-compatible chat-completions server (Ollama, vLLM, llama-server,
 * another relief) over HTTP(S) with libcurl, under the caller's absolute
 * deadline and cancellation flag.
 *
 * Request: POST {base}/v1/chat/completions with a JSON body
 *   {"model", "messages": [{"role", "content"}...], "stream": true,
 *    "stream_options": {"include_usage": true},
 *    "max_tokens" (when > 0), "temperature" (when >= 0), "top_p" (when > 0),
 *    "seed" (when given), "stop" (when any)}
 * with the roles OpenAI servers know: developer messages go as "system"
 * (not every server accepts "developer").
 * and "Authorization: Bearer TOKEN" when a token is set. Message text that
 * is not valid UTF-8 is sent with each bad byte replaced by U+FFFD.
 *
 * Response: a Server-Sent Events stream ("data: {json}" events carrying
 * choices[0].delta.content, ended by "data: [DONE]"), or, from a server that
 * ignores "stream", one JSON object with choices[0].message.content. The
 * two are told apart by the first non-blank byte of the body ('{' or '['
 * means JSON), not by Content-Type, which some servers get wrong.
 *
 * SSE parsing follows the WHATWG rules where they matter: events may be
 * split across network reads at any byte; lines end in "\r\n", "\n" or
 * "\r"; lines starting with ':' are comments; an event's "data:" lines are
 * joined with '\n' and the event is dispatched at a blank line; fields other
 * than "data" are ignored. Two leniencies for sloppy servers: "data: [DONE]"
 * ends the stream at once even without a blank line, and an event whose
 * joined data is not one JSON value is tried line by line (servers that
 * separate events by a single newline). A line or an event's data longer
 * than REMOTE_LINE_MAX fails the request cleanly.
 *
 * The body parser (sniffing, SSE lines and events, chunks, UTF-8) is in
 * remote_sse.c, apart from the transport so that it can be fuzzed.
 *
 * A malformed event (not JSON, or not an object) stops the answer with an
 * error rather than being skipped: a gap in guidance text could silently
 * change its meaning ("do not enter" losing "not"), while a stopped answer
 * is flagged incomplete.
 *
 * Outcomes of chat (res->error is always a static string):
 *   0, complete          the answer ended normally: finish_reason "stop"
 *                        (or "eos"), or [DONE] with no finish_reason
 *   0, !complete         finish_reason "length" (or another), the callback
 *                        asked to stop, or *cancel was set (error NULL)
 *   0, cut               the deadline passed; the text so far was delivered
 *   0, error set         a failure after some text was delivered: the text
 *                        is kept and the answer is incomplete
 *   -1, error set        a failure before any text: "cannot reach the remote
 *                        server", "remote server returned HTTP 401", ...
 * res->n_tokens is the server's usage.completion_tokens when it sends one
 * (asked for by include_usage; most servers do), else the count of
 * non-empty content pieces; res->prompt_tokens is usage.prompt_tokens, 0
 * without it. o->reasoning and
 * o->final_only are not sent (not every server accepts them); reasoning
 * that a server streams separately (delta.reasoning_content) is ignored.
 * Each call opens its own connection; proxies follow libcurl's usual
 * environment variables; redirects are not followed.
 *
 * Timing: the transfer runs on a private curl multi handle polled at least
 * every REMOTE_POLL_MS, and the cancel flag and the deadline are checked
 * between polls, in the write callback and in the progress callback; curl's
 * own timeouts are set from the remaining time as a backstop. So a call
 * returns within about REMOTE_POLL_MS of the deadline or of a cancel.
 *
 * Thread safety: a backend is immutable after backend_remote_new; any number
 * of threads may call chat at once (each call has its own curl handles and
 * its own connection). curl_global_init runs once, under pthread_once.
 */
#include "hybrid/backend.h"
#include "hybrid/remote_sse.h"
#include "relief/llm.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REMOTE_ERRBODY_MAX ((size_t)64 << 10) /* error body read before the transfer is dropped */
#define REMOTE_POLL_MS 50                     /* longest wait between limit checks */
#define REMOTE_CONNECT_MS 30000L              /* connect timeout when no deadline is set */

typedef struct {
    backend base;
    char *name;   /* "remote:" + base URL without user credentials */
    char *url;    /* the chat-completions endpoint */
    char *model;
    char *auth;   /* "Authorization: Bearer TOKEN", or NULL */
} remote_backend;

/* ---- once-only libcurl initialisation ---- */

static pthread_once_t remote_once = PTHREAD_ONCE_INIT;
static CURLcode remote_init_rc = CURLE_FAILED_INIT;

static void remote_global_init(void)
{
    remote_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A JSON string of s (NULL: ""), with each byte of an invalid or cut-short
 * UTF-8 sequence replaced by U+FFFD. NULL when out of memory. */
static json_t *remote_jstring(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = remote_utf8_seq(u + i, n - i);
        if (k <= 0)
            break;
        i += (size_t)k;
    }
    if (i == n)
        return json_stringn(s, n);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *clean = malloc(n * 3 + 1);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (i = 0; i < n;) {
        int k = remote_utf8_seq(u + i, n - i);
        if (k > 0) {
            memcpy(clean + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(clean + o, REMOTE_FFFD, 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

/* ---- one transfer ---- */

/* One transfer: the body parser's state (remote_sse.h) and the transport's. */
typedef struct {
    remote_sse s;
    CURL *easy;
    const backend_opts *o;
    size_t errbody;            /* bytes of a non-2xx body read */
} remote_xfer;

static void remote_fail(remote_xfer *x, const char *why)
{
    remote_sse_fail(&x->s, why);
}

/* True when the transfer must stop: already stopped, cancelled, or past
 * the deadline (recorded in x->s.stop). */
static bool remote_limits(remote_xfer *x)
{
    if (x->s.stop)
        return true;
    if (x->o->cancel && atomic_load(x->o->cancel)) {
        x->s.stop = STOP_CANCEL;
        return true;
    }
    if (x->o->deadline > 0 && relief_llm_now() >= x->o->deadline) {
        x->s.stop = STOP_DEADLINE;
        return true;
    }
    return false;
}

/* curl write callback: the response body, as it arrives. Returning less
 * than the size given stops the transfer (CURLE_WRITE_ERROR). */
static size_t remote_write(char *p, size_t size, size_t nmemb, void *ud)
{
    remote_xfer *x = ud;
    size_t n = size * nmemb;
    if (remote_limits(x))
        return 0;
    if (x->s.mode == MODE_SNIFF) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code > 299)
            x->s.mode = MODE_ERRBODY;
    }
    if (x->s.mode == MODE_ERRBODY) {
        /* Read (and drop) a bounded amount; only the status is reported. */
        x->errbody += n;
        if (x->errbody >= REMOTE_ERRBODY_MAX) {
            x->s.stop = STOP_DONE;
            return 0;
        }
        return n;
    }
    remote_sse_feed(&x->s, p, n);
    return x->s.stop ? 0 : n;
}

/* curl progress callback: non-zero aborts (CURLE_ABORTED_BY_CALLBACK). */
static int remote_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return remote_limits(ud) ? 1 : 0;
}

/* The static message for a non-2xx HTTP status. */
static const char *remote_http_error(long code)
{
    switch (code) {
    case 400: return "remote server returned HTTP 400";
    case 401: return "remote server returned HTTP 401";
    case 402: return "remote server returned HTTP 402";
    case 403: return "remote server returned HTTP 403";
    case 404: return "remote server returned HTTP 404";
    case 405: return "remote server returned HTTP 405";
    case 408: return "remote server returned HTTP 408";
    case 409: return "remote server returned HTTP 409";
    case 413: return "remote server returned HTTP 413";
    case 415: return "remote server returned HTTP 415";
    case 422: return "remote server returned HTTP 422";
    case 429: return "remote server returned HTTP 429";
    case 500: return "remote server returned HTTP 500";
    case 501: return "remote server returned HTTP 501";
    case 502: return "remote server returned HTTP 502";
    case 503: return "remote server returned HTTP 503";
    case 504: return "remote server returned HTTP 504";
    default: break;
    }
    if (code >= 300 && code < 400)
        return "remote server returned an HTTP redirect (not followed)";
    if (code >= 400 && code < 500)
        return "remote server returned an HTTP 4xx error";
    if (code >= 500 && code < 600)
        return "remote server returned an HTTP 5xx error";
    return "remote server returned an unexpected HTTP status";
}

/* The static message for a curl failure; got_status: a response began. */
static const char *remote_curl_error(CURLcode c, bool got_status)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return REMOTE_E_REACH;
    case CURLE_OPERATION_TIMEDOUT:
        return got_status ? "remote server stopped responding" : REMOTE_E_REACH;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return "TLS failure with the remote server";
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return got_status ? REMOTE_E_EARLY : "remote server closed the connection";
    case CURLE_OUT_OF_MEMORY:
        return REMOTE_E_OOM;
    default:
        return REMOTE_E_FAILED;
    }
}

/* The OpenAI role name a message is sent with. */
static const char *remote_role(relief_chat_role r)
{
    switch (r) {
    case RELIEF_CHAT_SYSTEM:
    case RELIEF_CHAT_DEVELOPER:
        return "system";
    case RELIEF_CHAT_ASSISTANT:
        return "assistant";
    case RELIEF_CHAT_USER:
        break;
    }
    return "user";
}

/* The request body (malloc'd JSON text), or NULL when out of memory. */
static char *remote_request(const remote_backend *rb, const relief_chat_message *msgs, size_t n,
                            const backend_opts *o)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    int bad = !root || !arr;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *m = json_object();
        if (!m || json_object_set_new(m, "role", json_string(remote_role(msgs[i].role))) ||
            json_object_set_new(m, "content", remote_jstring(msgs[i].content))) {
            json_decref(m);
            bad = 1;
        } else {
            bad = json_array_append_new(arr, m) != 0; /* takes m even on failure */
        }
    }
    if (!bad) {
        bad = json_object_set_new(root, "messages", arr) != 0; /* takes arr even on failure */
        arr = NULL;
    }
    if (!bad)
        bad = json_object_set_new(root, "model", remote_jstring(rb->model)) ||
              json_object_set_new(root, "stream", json_true());
    if (!bad) {
        json_t *so = json_pack("{s:b}", "include_usage", 1);
        bad = !so || json_object_set_new(root, "stream_options", so); /* takes so even on failure */
    }
    if (!bad && o->max_tokens > 0)
        bad = json_object_set_new(root, "max_tokens", json_integer(o->max_tokens));
    if (!bad && o->temperature >= 0)
        bad = json_object_set_new(root, "temperature", json_real((double)o->temperature));
    if (!bad && o->top_p > 0)
        bad = json_object_set_new(root, "top_p", json_real((double)o->top_p));
    if (!bad && o->has_seed)
        bad = json_object_set_new(root, "seed", json_integer((json_int_t)(o->seed & 0x7fffffffffffffffull)));
    if (!bad && o->n_stop) {
        json_t *st = json_array();
        for (size_t i = 0; st && i < o->n_stop; i++)
            if (json_array_append_new(st, remote_jstring(o->stop[i])))
                bad = 1;
        bad = bad || !st || json_object_set_new(root, "stop", st); /* takes st even on failure */
    }
    /* Seven significant digits: a float's worth, so 0.7f is written 0.7. */
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(arr);
    json_decref(root);
    return s;
}

/* Sets the curl options for one transfer. Returns 0, or -1 when one failed. */
static int remote_setup(remote_backend *rb, remote_xfer *x, const char *body, size_t body_len,
                        struct curl_slist *hdr)
{
    CURL *e = x->easy;
    const backend_opts *o = x->o;
    long connect_ms = REMOTE_CONNECT_MS, total_ms = 0;
    if (o->deadline > 0) {
        double left = o->deadline - relief_llm_now();
        total_ms = left > 0 ? (long)(left * 1000.0) + 1 : 1;
        if (total_ms < connect_ms)
            connect_ms = total_ms;
    }
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, rb->url) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Do not wait for a pending DNS lookup thread when the transfer is dropped. */
    bad |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
#endif
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "relief") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, remote_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, remote_progress) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms) != CURLE_OK;
    return bad ? -1 : 0;
}

/* Runs the transfer until it ends or a limit stops it. Returns the curl
 * result when it ended; sets *ended. */
static CURLcode remote_run(CURLM *m, remote_xfer *x, bool *ended)
{
    *ended = false;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->easy) {
                *ended = true;
                return msg->data.result;
            }
        if (remote_limits(x))
            return CURLE_OK;
        if (!running) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
        int wait = REMOTE_POLL_MS;
        if (x->o->deadline > 0) {
            double ms = (x->o->deadline - relief_llm_now()) * 1000.0 + 1;
            if (ms < wait)
                wait = ms < 1 ? 1 : (int)ms;
        }
        if (curl_multi_poll(m, NULL, 0, wait, NULL) != CURLM_OK) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
    }
}

/* Works out the outcome once the transfer is over. Returns chat's value. */
static int remote_finish(remote_xfer *x, bool ended, CURLcode cres, long code)
{
    backend_result *res = x->s.res;
    bool http_ok = code >= 200 && code <= 299;
    if (ended && !x->s.stop && cres != CURLE_OK) {
        if (cres == CURLE_OPERATION_TIMEDOUT && x->o->deadline > 0)
            x->s.stop = STOP_DEADLINE; /* curl's timeout is the deadline */
        else
            remote_fail(x, remote_curl_error(cres, code != 0));
    }
    if (code != 0 && !http_ok && x->s.stop != STOP_CANCEL && x->s.stop != STOP_DEADLINE) {
        res->error = remote_http_error(code);
        return -1;
    }
    if (!x->s.stop || (x->s.stop == STOP_DONE && http_ok))
        remote_sse_end(&x->s, code != 0); /* the body ended (or [DONE] came): finish what is buffered */
    res->cut = x->s.stop == STOP_DEADLINE;
    if (x->s.stop == STOP_FAIL) {
        res->error = x->s.error;
        return x->s.emitted ? 0 : -1;
    }
    return 0;
}

static int remote_chat(backend *b, const relief_chat_message *msgs, size_t n, const backend_opts *o,
                       backend_text_fn fn, void *user, backend_result *res)
{
    static const backend_opts defaults = {.temperature = -1.0f};
    remote_backend *rb = (remote_backend *)b;
    if (!o)
        o = &defaults;
    memset(res, 0, sizeof *res);
    res->ttft = -1;
    res->first_token = -1;
    remote_xfer x = {.s = {.fn = fn, .user = user, .res = res, .t0 = relief_llm_now()}, .o = o};
    if (remote_limits(&x)) {
        res->cut = x.s.stop == STOP_DEADLINE;
        return 0;
    }
    if (!msgs)
        n = 0;

    int rc = -1;
    char *body = remote_request(rb, msgs, n, o);
    struct curl_slist *hdr = NULL;
    CURLM *m = NULL;
    x.easy = body ? curl_easy_init() : NULL;
    if (x.easy)
        m = curl_multi_init();
    if (!m) {
        res->error = REMOTE_E_OOM;
        goto out;
    }
    const char *lines[] = {"Content-Type: application/json", "Accept: text/event-stream, application/json",
                           "Expect:", rb->auth};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(hdr, lines[i]);
        if (!t) {
            res->error = REMOTE_E_OOM;
            goto out;
        }
        hdr = t;
    }
    if (remote_setup(rb, &x, body, strlen(body), hdr) != 0 || curl_multi_add_handle(m, x.easy) != CURLM_OK) {
        res->error = REMOTE_E_FAILED;
        goto out;
    }
    bool ended;
    CURLcode cres = remote_run(m, &x, &ended);
    long code = 0;
    curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(m, x.easy);
    rc = remote_finish(&x, ended, cres, code);
out:
    curl_multi_cleanup(m);
    curl_easy_cleanup(x.easy);
    curl_slist_free_all(hdr);
    free(body);
    remote_sse_free(&x.s);
    return rc;
}

static void remote_destroy(backend *b)
{
    remote_backend *rb = (remote_backend *)b;
    if (!rb)
        return;
    if (rb->auth) {
        explicit_bzero(rb->auth, strlen(rb->auth));
        free(rb->auth);
    }
    free(rb->name);
    free(rb->url);
    free(rb->model);
    free(rb);
}

/* malloc'd concatenation of a[0..na) and b, or NULL. */
static char *remote_concat(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* Checks base_url and builds the endpoint and display name. Returns 0, or
 * -1 with a message in err. */
static int remote_parse_url(remote_backend *rb, const char *base_url, char *err, size_t cap)
{
    size_t n = strlen(base_url);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)base_url[i];
        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, cap, "remote URL contains spaces or control characters");
            return -1;
        }
    }
    if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0) {
        snprintf(err, cap, "remote URL must start with http:// or https://");
        return -1;
    }
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    char *trimmed = remote_concat(base_url, n, "");
    CURLU *u = curl_url();
    char *host = NULL, *path = NULL, *clean = NULL, *extra = NULL;
    int rc = -1;
    if (!trimmed || !u) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, trimmed, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        snprintf(err, cap, "invalid remote URL '%s'", base_url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &extra, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &extra, 0) == CURLUE_OK) {
        snprintf(err, cap, "remote URL must not have a query or fragment");
        goto out;
    }
    /* A base that already ends in /v1 (as Ollama's documentation writes it) gets only the rest. */
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, cap, "invalid remote URL '%s'", base_url);
        goto out;
    }
    size_t pl = strlen(path);
    bool has_v1 = pl >= 3 && !strcmp(path + pl - 3, "/v1");
    rb->url = remote_concat(trimmed, n, has_v1 ? "/chat/completions" : "/v1/chat/completions");
    /* The display name leaves out any user:password@. */
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    size_t cl = strlen(clean);
    while (cl > 0 && clean[cl - 1] == '/')
        cl--;
    rb->name = malloc(7 + cl + 1);
    if (!rb->url || !rb->name) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    memcpy(rb->name, "remote:", 7);
    memcpy(rb->name + 7, clean, cl);
    rb->name[7 + cl] = '\0';
    rc = 0;
out:
    curl_free(host);
    curl_free(path);
    curl_free(clean);
    curl_free(extra);
    curl_url_cleanup(u);
    free(trimmed);
    return rc;
}

backend *backend_remote_new(const char *base_url, const char *model, const char *token, char *err, size_t cap)
{
    char dummy[1];
    if (!err || cap == 0)
        err = dummy, cap = sizeof dummy;
    if (!base_url || !*base_url) {
        snprintf(err, cap, "no remote URL given");
        return NULL;
    }
    if (token) {
        for (const char *t = token; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f) {
                snprintf(err, cap, "remote token contains control characters");
                return NULL;
            }
    }
    pthread_once(&remote_once, remote_global_init);
    if (remote_init_rc != CURLE_OK) {
        snprintf(err, cap, "cannot initialise libcurl");
        return NULL;
    }
    remote_backend *rb = calloc(1, sizeof *rb);
    if (!rb) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    rb->base.chat = remote_chat;
    rb->base.destroy = remote_destroy;
    if (remote_parse_url(rb, base_url, err, cap) != 0) {
        remote_destroy(&rb->base);
        return NULL;
    }
    rb->model = strdup(model && *model ? model : "gpt-oss");
    if (token && *token)
        rb->auth = remote_concat("Authorization: Bearer ", 22, token);
    if (!rb->model || (token && *token && !rb->auth)) {
        snprintf(err, cap, "out of memory");
        remote_destroy(&rb->base);
        return NULL;
    }
    rb->base.name = rb->name;
    return &rb->base;
}
