/*
 * test_remote.c - tests the remote model backend (src/hybrid/remote.c)
 * against tests/mock_openai.py, a mock OpenAI-compatible server started as
 * a child process: streamed answers split at awkward bytes, the request as
 * the server sees it, non-streaming answers, HTTP errors, malformed and
 * truncated streams, over-long lines, the deadline, cancellation, a
 * callback stop, an unreachable server, bad URLs and concurrent calls.
 *
 * usage: test_remote PATH/TO/mock_openai.py
 */
#include "check.h"
#include "hybrid/backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pid_t mock_pid = -1;
static int mock_in = -1; /* the mock's stdin: it exits when this closes */
static int mock_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Starts the mock; returns its port, or -1. */
static int mock_start(const char *script)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char *argv[] = {"/usr/bin/python3", (char *)script, NULL};
    int rc = posix_spawn(&mock_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    mock_in = in[1];
    if (rc != 0) {
        close(out[0]);
        return -1;
    }
    char line[32];
    size_t n = 0;
    while (n + 1 < sizeof line) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(out[0]);
    int port = atoi(line);
    return port > 0 && port < 65536 ? port : -1;
}

static void mock_stop(void)
{
    if (mock_in >= 0)
        close(mock_in);
    if (mock_pid > 0) {
        kill(mock_pid, SIGTERM);
        waitpid(mock_pid, NULL, 0);
    }
}

/* True when s[0..n) is whole, valid UTF-8 (checked independently of remote.c). */
static bool utf8_whole(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

typedef struct {
    char buf[8192];
    size_t len;
    int pieces;
    int stop_after;   /* return 1 after this many pieces; 0: never */
    bool bad_piece;   /* a piece was not whole UTF-8 */
    bool overflow;
} collect;

static int collect_fn(const char *t, size_t n, void *user)
{
    collect *c = user;
    if (n == 0 || !utf8_whole(t, n))
        c->bad_piece = true;
    if (n >= sizeof c->buf - c->len) {
        c->overflow = true;
    } else {
        memcpy(c->buf + c->len, t, n);
        c->len += n;
        c->buf[c->len] = '\0';
    }
    c->pieces++;
    return c->stop_after && c->pieces >= c->stop_after;
}

static const relief_chat_message default_msgs[] = {
    {RELIEF_CHAT_SYSTEM, "You are a helper."},
    {RELIEF_CHAT_USER, "Flood rising. What first?"},
};

typedef struct {
    const char *scen;
    const char *token;
    double deadline_s;      /* from the call; 0: none */
    const atomic_int *cancel;
    float temperature;
    int max_tokens;
    float top_p;
    bool has_seed;
    uint64_t seed;
    const char *const *stop;
    size_t n_stop;
    const relief_chat_message *msgs;
    size_t n_msgs;
} call_spec;

/* Runs one chat; returns its value, fills c, res and *elapsed. */
static int run(const call_spec *s, collect *c, backend_result *res, double *elapsed)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", mock_port, s->scen);
    backend *b = backend_remote_new(url, "mock-model", s->token, err, sizeof err);
    CHECK_MSG(b != NULL, "%s: %s", s->scen, err);
    if (!b)
        return -2;
    backend_opts o = {
        .deadline = s->deadline_s > 0 ? now_s() + s->deadline_s : 0,
        .cancel = s->cancel,
        .max_tokens = s->max_tokens ? s->max_tokens : 64,
        .temperature = s->temperature,
        .top_p = s->top_p,
        .has_seed = s->has_seed,
        .seed = s->seed,
        .stop = s->stop,
        .n_stop = s->n_stop,
        .reasoning = "low",
    };
    double t0 = now_s();
    int rc = b->chat(b, s->msgs ? s->msgs : default_msgs, s->msgs ? s->n_msgs : 2, &o, collect_fn, c, res);
    if (elapsed)
        *elapsed = now_s() - t0;
    b->destroy(b);
    CHECK_MSG(!c->bad_piece, "%s: a piece was not whole UTF-8", s->scen);
    CHECK(!c->overflow);
    return rc;
}

static bool streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void test_urls(void)
{
    const char *bad[] = {"", "ftp://127.0.0.1/", "file:///etc/passwd", "http://", "https://", "127.0.0.1:8080",
                         "http://host:8080/?q=1", "http://ho st/", "http://host/\r\nX: y", "gopher://x",
                         "http://host/#frag"};
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        backend *b = backend_remote_new(bad[i], NULL, NULL, err, sizeof err);
        CHECK_MSG(b == NULL, "accepted '%s'", bad[i]);
        CHECK_MSG(err[0] != '\0', "no message for '%s'", bad[i]);
        if (b)
            b->destroy(b);
    }
    CHECK(backend_remote_new(NULL, NULL, NULL, err, sizeof err) == NULL);
    CHECK(backend_remote_new("http://127.0.0.1:1", NULL, "tok\r\nX: y", err, sizeof err) == NULL);
    CHECK(backend_remote_new("ftp://x", NULL, NULL, NULL, 0) == NULL); /* no message buffer: no crash */

    backend *b = backend_remote_new("HTTP://user:pw@127.0.0.1:8080/", NULL, "t", err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (b) {
        CHECK_MSG(streq(b->name, "remote:http://127.0.0.1:8080"), "%s", b->name);
        b->destroy(b);
    }
    b = backend_remote_new("https://example.org/ollama/v1/", "m", NULL, err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (b) {
        CHECK_MSG(streq(b->name, "remote:https://example.org/ollama/v1"), "%s", b->name);
        b->destroy(b);
    }
}

static void test_normal(void)
{
    collect c = {0};
    backend_result r;
    call_spec s = {.scen = "normal", .temperature = -1};
    int rc = run(&s, &c, &r, NULL);
    CHECK(rc == 0);
    CHECK_MSG(streq(c.buf, "H\u00e9llo, w\u00f6rld \u2014 \u65e5\u672c\U0001F692 ready!"), "got '%s'", c.buf);
    CHECK(r.complete && !r.cut && r.error == NULL);
    /* Five pieces of text, but the server's usage counts are what pass on. */
    CHECK_MSG(r.n_tokens == 7, "%zu", r.n_tokens);
    CHECK_MSG(r.prompt_tokens == 42, "%zu", r.prompt_tokens);
    CHECK(r.ttft >= 0 && r.ttft < 5);
}

/* The request as the server saw it (the echo scenario). */
static void test_request(void)
{
    const relief_chat_message msgs[] = {
        {RELIEF_CHAT_SYSTEM, "sys"},
        {RELIEF_CHAT_DEVELOPER, "dev \"quoted\"\n"},
        {RELIEF_CHAT_USER, "bad \xff byte and cut \xe6\x97"},
        {RELIEF_CHAT_ASSISTANT, "said"},
    };
    collect c = {0};
    backend_result r;
    static const char *const stops[] = {"\n\n", "END"};
    call_spec s = {.scen = "echo", .token = "sekrit", .temperature = 0.7f, .max_tokens = 77, .msgs = msgs,
                   .n_msgs = 4, .top_p = 0.9f, .has_seed = true, .seed = 1234, .stop = stops, .n_stop = 2};
    int rc = run(&s, &c, &r, NULL);
    CHECK(rc == 0 && r.complete && r.n_tokens == 1);
    json_error_t e;
    json_t *seen = json_loads(c.buf, 0, &e);
    CHECK_MSG(seen != NULL, "echo not JSON: %s", c.buf);
    if (seen) {
        json_t *body = json_object_get(seen, "body");
        CHECK(streq(json_string_value(json_object_get(seen, "path")), "/echo/v1/chat/completions"));
        CHECK(streq(json_string_value(json_object_get(seen, "auth")), "Bearer sekrit"));
        CHECK(streq(json_string_value(json_object_get(seen, "ctype")), "application/json"));
        CHECK(json_is_null(json_object_get(seen, "expect")));
        CHECK(streq(json_string_value(json_object_get(body, "model")), "mock-model"));
        CHECK(json_is_true(json_object_get(body, "stream")));
        CHECK(json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage")));
        CHECK(json_integer_value(json_object_get(body, "max_tokens")) == 77);
        CHECK_NEAR(json_number_value(json_object_get(body, "temperature")), 0.7, 1e-6);
        CHECK_NEAR(json_number_value(json_object_get(body, "top_p")), 0.9, 1e-6);
        CHECK(json_integer_value(json_object_get(body, "seed")) == 1234);
        json_t *st = json_object_get(body, "stop");
        CHECK(json_array_size(st) == 2 && streq(json_string_value(json_array_get(st, 0)), "\n\n") &&
              streq(json_string_value(json_array_get(st, 1)), "END"));
        json_t *m = json_object_get(body, "messages");
        CHECK(json_array_size(m) == 4);
        /* Roles as OpenAI servers know them: developer instructions go as "system". */
        CHECK(streq(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system"));
        CHECK(streq(json_string_value(json_object_get(json_array_get(m, 1), "role")), "system"));
        CHECK(streq(json_string_value(json_object_get(json_array_get(m, 2), "role")), "user"));
        CHECK(streq(json_string_value(json_object_get(json_array_get(m, 3), "role")), "assistant"));
        CHECK(streq(json_string_value(json_object_get(json_array_get(m, 1), "content")), "dev \"quoted\"\n"));
        CHECK_MSG(streq(json_string_value(json_object_get(json_array_get(m, 2), "content")),
                        "bad \uFFFD byte and cut \uFFFD\uFFFD"),
                  "%s", json_string_value(json_object_get(json_array_get(m, 2), "content")));
        json_decref(seen);
    }

    /* No token, default temperature: neither header nor field is sent; a base ending in /v1 works. */
    memset(&c, 0, sizeof c);
    char url[128], err[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo/v1/", mock_port);
    backend *b = backend_remote_new(url, NULL, "", err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (!b)
        return;
    backend_opts o = {.temperature = -1};
    rc = b->chat(b, default_msgs, 2, &o, collect_fn, &c, &r);
    b->destroy(b);
    CHECK(rc == 0);
    seen = json_loads(c.buf, 0, &e);
    CHECK(seen != NULL);
    if (seen) {
        json_t *body = json_object_get(seen, "body");
        CHECK(streq(json_string_value(json_object_get(seen, "path")), "/echo/v1/chat/completions"));
        CHECK(json_is_null(json_object_get(seen, "auth")));
        CHECK(json_object_get(body, "temperature") == NULL);
        CHECK(json_object_get(body, "max_tokens") == NULL);
        CHECK(!json_object_get(body, "top_p") && !json_object_get(body, "seed") && !json_object_get(body, "stop"));
        CHECK(streq(json_string_value(json_object_get(body, "model")), "gpt-oss"));
        json_decref(seen);
    }
}

static void test_outcomes(void)
{
    struct {
        const char *scen;
        const char *token;
        int rc;
        const char *text;      /* NULL: none */
        bool complete;
        const char *error;     /* NULL: none expected; "*": any */
    } cases[] = {
        {"length", NULL, 0, "cut short", false, NULL},
        {"sloppy", NULL, 0, "ABC", true, NULL},
        {"nodone", NULL, 0, "Fine", true, NULL},
        {"json", NULL, 0, "Plain answer \u2713", true, NULL},
        {"auth", NULL, -1, NULL, false, "remote server returned HTTP 401"},
        {"auth", "wrong", -1, NULL, false, "remote server returned HTTP 401"},
        {"auth", "sekrit", 0, "ok", true, NULL},
        {"e500", NULL, -1, NULL, false, "remote server returned HTTP 500"},
        {"redirect", NULL, -1, NULL, false, "*"},
        {"nosuch", NULL, -1, NULL, false, "remote server returned HTTP 404"},
        {"malformed", NULL, 0, "A", false, "remote server sent a malformed event"},
        {"badfirst", NULL, -1, NULL, false, "remote server sent a malformed event"},
        {"errevent", NULL, -1, NULL, false, "remote server reported an error"},
        {"drop", NULL, 0, "Partial", false, "remote stream ended early"},
        {"dropraw", NULL, 0, "Partial", false, "remote stream ended early"},
        {"longline", NULL, 0, "x", false, "remote server sent an over-long line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        collect c = {0};
        backend_result r;
        call_spec s = {.scen = cases[i].scen, .token = cases[i].token, .temperature = -1, .deadline_s = 20};
        int rc = run(&s, &c, &r, NULL);
        const char *sc = cases[i].scen;
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d", sc, rc);
        CHECK_MSG(streq(c.buf, cases[i].text ? cases[i].text : ""), "%s: got '%s'", sc, c.buf);
        CHECK_MSG(r.complete == cases[i].complete, "%s: complete %d", sc, r.complete);
        CHECK_MSG(!r.cut, "%s: cut", sc);
        if (!strcmp(sc, "json")) /* a whole JSON answer's usage passes on too */
            CHECK_MSG(r.prompt_tokens == 11 && r.n_tokens == 3, "json: usage %zu + %zu", r.prompt_tokens, r.n_tokens);
        if (!cases[i].error)
            CHECK_MSG(r.error == NULL, "%s: error '%s'", sc, r.error);
        else if (!strcmp(cases[i].error, "*"))
            CHECK_MSG(r.error != NULL, "%s: no error", sc);
        else
            CHECK_MSG(streq(r.error, cases[i].error), "%s: error '%s'", sc, r.error ? r.error : "(null)");
    }
}

static void test_deadline(void)
{
    /* Slow stream: a 1 s deadline returns on time with the text so far. */
    collect c = {0};
    backend_result r;
    double el;
    call_spec s = {.scen = "slow", .temperature = -1, .deadline_s = 1.0};
    int rc = run(&s, &c, &r, &el);
    CHECK(rc == 0);
    CHECK(r.cut && !r.complete && r.error == NULL);
    CHECK_MSG(el >= 0.95 && el <= 1.2, "slow: returned after %.3f s", el);
    CHECK_MSG(!strncmp(c.buf, "p0 p1 p2 ", 9) && c.pieces >= 3 && c.pieces <= 5, "slow: got '%s'", c.buf);
    CHECK(r.n_tokens == (size_t)c.pieces);

    /* No response headers at all: still on time, no text. */
    memset(&c, 0, sizeof c);
    s.scen = "slowhead";
    rc = run(&s, &c, &r, &el);
    CHECK(rc == 0 && r.cut && !r.complete && c.len == 0 && r.error == NULL && r.ttft < 0);
    CHECK_MSG(el >= 0.95 && el <= 1.2, "slowhead: returned after %.3f s", el);

    /* Deadline already past: at once. */
    memset(&c, 0, sizeof c);
    s.scen = "normal";
    s.deadline_s = 1e-9;
    rc = run(&s, &c, &r, &el);
    CHECK(rc == 0 && r.cut && c.len == 0);
    CHECK_MSG(el < 0.2, "past deadline: %.3f s", el);
}

typedef struct {
    atomic_int *flag;
    double after;
} cancel_arg;

static void *cancel_later(void *p)
{
    cancel_arg *a = p;
    struct timespec ts = {.tv_sec = (time_t)a->after, .tv_nsec = (long)((a->after - (time_t)a->after) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(a->flag, 1);
    return NULL;
}

static void test_cancel_and_stop(void)
{
    atomic_int flag = 0;
    cancel_arg a = {&flag, 0.5};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, cancel_later, &a) == 0);
    collect c = {0};
    backend_result r;
    double el;
    call_spec s = {.scen = "slow", .temperature = -1, .deadline_s = 10, .cancel = &flag};
    int rc = run(&s, &c, &r, &el);
    pthread_join(t, NULL);
    CHECK(rc == 0 && !r.cut && !r.complete);
    CHECK_MSG(el >= 0.45 && el <= 0.7, "cancel: returned after %.3f s", el);
    CHECK_MSG(!strncmp(c.buf, "p0 p1 ", 6), "cancel: got '%s'", c.buf);

    /* The callback asks to stop after two pieces. */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    s.cancel = NULL;
    rc = run(&s, &c, &r, &el);
    CHECK(rc == 0 && !r.cut && !r.complete && r.error == NULL);
    CHECK_MSG(streq(c.buf, "p0 p1 "), "stop: got '%s'", c.buf);
    CHECK_MSG(el < 0.6, "stop: returned after %.3f s", el);
}

static void test_unreachable(void)
{
    /* A port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
          getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char url[64], err[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    backend *b = backend_remote_new(url, NULL, NULL, err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (!b)
        return;
    collect c = {0};
    backend_result r;
    backend_opts o = {.deadline = now_s() + 5, .temperature = -1};
    int rc = b->chat(b, default_msgs, 2, &o, collect_fn, &c, &r);
    CHECK(rc == -1 && streq(r.error, "cannot reach the remote server") && !r.cut && !r.complete);
    b->destroy(b);
}

static void *concurrent_one(void *p)
{
    backend *b = p;
    collect c = {0};
    backend_result r;
    backend_opts o = {.deadline = now_s() + 10, .temperature = -1};
    int rc = b->chat(b, default_msgs, 2, &o, collect_fn, &c, &r);
    return (void *)(intptr_t)(rc == 0 && r.complete && !strcmp(c.buf, "H\u00e9llo, w\u00f6rld \u2014 \u65e5\u672c\U0001F692 ready!"));
}

/* One backend shared by several threads at once. */
static void test_concurrent(void)
{
    char url[64], err[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/normal", mock_port);
    backend *b = backend_remote_new(url, NULL, NULL, err, sizeof err);
    CHECK_MSG(b != NULL, "%s", err);
    if (!b)
        return;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, concurrent_one, b) == 0);
    for (int i = 0; i < 4; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        CHECK_MSG(ok != NULL, "thread %d", i);
    }
    b->destroy(b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_remote mock_openai.py\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* The mock is on loopback; a proxy from the environment must not be used. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    test_urls();
    mock_port = mock_start(argv[1]);
    CHECK_MSG(mock_port > 0, "cannot start %s", argv[1]);
    if (mock_port > 0) {
        test_normal();
        test_request();
        test_outcomes();
        test_deadline();
        test_cancel_and_stop();
        test_unreachable();
        test_concurrent();
    }
    mock_stop();
    return check_summary("remote");
}
