/*
 * fuzz_http.c - libFuzzer target: relief serve's HTTP request handling
 * (request line, headers, bearer token, routing, body limits, JSON bodies of
 * /v1/guidance and /v1/chat/completions) on arbitrary bytes.
 *
 * The server has no socket-free entry point (its handlers work on
 * libmicrohttpd connections), so LLVMFuzzerInitialize starts the real one
 * in-process on 127.0.0.1 at a free port, with bearer token "fuzz" and a
 * 64 KiB body limit, in a thread of its own (relief_serve_main blocks; the
 * process never signals it). It is plan-only unless RELIEF_FUZZ_MODEL
 * names a model (the tiny oracle: tests/data/oracle/tiny/tiny-q.gguf),
 * which the server then runs with --max-tokens 8 and a 0.3 s deadline (the
 * plan-sized prompt of a guidance answer is cut off there), so that chat
 * completions and model elaboration are reached too. Each input is
 * sent as raw bytes on a new loopback connection, the write side is shut
 * and the whole answer read until the server closes. Checks: a non-empty
 * answer starts with an HTTP/1.x status line (an answer cut by a connection
 * reset: its first bytes), and a JSON answer with a Content-Length parses
 * (not for HEAD, whose answer has no body). A server that never closes is
 * caught by libFuzzer's -timeout; a crash or sanitizer report anywhere in the server
 * is one in this process.
 */
#define _GNU_SOURCE /* memmem */
#include "serve/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static char port_arg[16];

static void *serve_thread(void *arg)
{
    (void)arg;
    char *args[] = {"--port", port_arg, "--bind", "127.0.0.1", "--token", "fuzz", "--max-body", "65536",
                    "--deadline", "2", "--read-timeout", "5", NULL, NULL, NULL, NULL, NULL};
    /* args[9] is the deadline's value */
    int n = 12;
    const char *model = getenv("RELIEF_FUZZ_MODEL");
    if (model && *model) {
        args[n++] = "--model";
        args[n++] = (char *)model;
        args[n++] = "--max-tokens";
        args[n++] = "8";
        args[9] = "0.3"; /* --deadline: the model's share of a guidance answer */
    }
    int rc = relief_serve_main(n, args);
    fprintf(stderr, "fuzz: relief_serve_main returned %d\n", rc);
    abort(); /* it must run for the whole process */
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A free port: bind port 0, read it back, release it for the server. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("fuzz: finding a free port");
        abort();
    }
    close(fd);
    snprintf(port_arg, sizeof port_arg, "%u", (unsigned)ntohs(addr.sin_port));
    pthread_t th;
    if (pthread_create(&th, NULL, serve_thread, NULL) != 0)
        abort();
    pthread_detach(th);
    for (int i = 0; i < 1000; i++) { /* up to 10 s for the server to listen */
        int c = connect_server();
        if (c >= 0) {
            close(c);
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "fuzz: the server did not start listening on port %s\n", port_arg);
    abort();
}

/* head: the request was HEAD (the answer has headers only); reset: the
 * read ended with an error, not EOF (a server that closes with unread
 * request bytes sends a reset, which can discard answer bytes not yet
 * read), so the answer may be cut anywhere. */
static void check_answer(const char *buf, size_t n, bool is_head, bool reset)
{
    if (n == 0)
        return; /* the server may close on garbage without answering */
    if (reset && n < 12) {
        if (memcmp(buf, "HTTP/1.", n < 7 ? n : 7)) {
            fprintf(stderr, "cut answer does not start like a status line: '%.*s'\n", (int)n, buf);
            abort();
        }
        return;
    }
    if (n < 12 || (memcmp(buf, "HTTP/1.1 ", 9) && memcmp(buf, "HTTP/1.0 ", 9))) {
        fprintf(stderr, "answer does not start with a status line: '%.*s'\n", (int)(n < 40 ? n : 40), buf);
        abort();
    }
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end)
        return; /* cut off (the answer may be larger than the buffer) */
    size_t hl = (size_t)(end - buf) + 4;
    char head[8192];
    size_t cl = hl < sizeof head ? hl : sizeof head - 1;
    for (size_t i = 0; i < cl; i++)
        head[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
    head[cl] = '\0';
    const char *ct = strstr(head, "\r\ncontent-type: application/json");
    const char *len = strstr(head, "\r\ncontent-length: ");
    if (!ct || !len || is_head)
        return;
    size_t body = strtoul(len + 18, NULL, 10);
    if (body == 0 || body > n - hl)
        return;
    json_error_t e;
    json_t *j = json_loadb(buf + hl, body, JSON_ALLOW_NUL, &e);
    if (!j) {
        fprintf(stderr, "JSON answer does not parse: %s: '%.*s'\n", e.text, (int)(body < 200 ? body : 200), buf + hl);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = connect_server();
    for (int i = 0; fd < 0 && i < 500; i++) { /* a full accept queue drains: retry for 5 s */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        fd = connect_server();
    }
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot connect to the server for 5 s: %s\n", strerror(errno));
        abort(); /* the server stopped accepting: a finding */
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server closed early (answered, or refused the request) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    static char buf[1 << 16];
    size_t n = 0;
    bool reset = false;
    for (;;) {
        ssize_t r = recv(fd, buf + n, sizeof buf - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        reset = r < 0;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf) { /* keep the head, drain the rest */
            char sink[4096];
            while (recv(fd, sink, sizeof sink, 0) > 0)
                ;
            break;
        }
    }
    close(fd);
    /* The first request's method, after the empty lines a server skips. */
    size_t m = 0;
    while (m < size && (data[m] == '\r' || data[m] == '\n'))
        m++;
    check_answer(buf, n, size - m >= 5 && !memcmp(data + m, "HEAD ", 5), reset);
    return 0;
}
