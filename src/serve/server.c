/* server.c - relief serve: start (options, kb, listener, background model load), wait for a signal, stop. */
#include "serve_int.h"

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

static void on_warm(const char *hazard, size_t tokens, double seconds, bool was_cached, void *user)
{
    (void)hazard, (void)tokens, (void)seconds, (void)was_cached;
    atomic_fetch_add(&((server *)user)->warm_done, 1);
}

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
    if (s->hc.kind != RELIEF_BACKEND_BUILTIN)
        return NULL;
    /* Every hazard's prompt prefix, so that a report's first token waits
     * only for its own tokens. Requests go first: the warm-up yields to
     * them between and within prefixes. */
    if (!s->o.no_warm) {
        atomic_store(&s->warm_state, WARM_RUNNING);
        t0 = clock_now();
        int n = relief_hybrid_warm(h, &s->stopping, on_warm, s);
        atomic_store(&s->warm_state, n < 0 ? WARM_FAILED : WARM_DONE);
        if (!atomic_load(&s->stopping))
            fprintf(stderr, n < 0 ? "relief serve: computing the prompt prefixes failed; each is computed on first use\n"
                                  : "relief serve: %d prompt prefixes computed in %.1f s, the others were cached\n",
                    n, clock_now() - t0);
    }
    /* Then the prefixes requests asked for and did not find. */
    for (;;) {
        pthread_mutex_lock(&s->wanted_mu);
        while (!s->n_wanted && !s->wanted_stop)
            pthread_cond_wait(&s->wanted_cv, &s->wanted_mu);
        if (s->wanted_stop) {
            pthread_mutex_unlock(&s->wanted_mu);
            break;
        }
        uint32_t hazards = s->wanted[0];
        atomic_store(&s->warm_state, WARM_RUNNING); /* before the slot frees: shutdown sees the work */
        pthread_mutex_unlock(&s->wanted_mu);
        int rc = relief_hybrid_warm_hazards(h, hazards, &s->stopping);
        pthread_mutex_lock(&s->wanted_mu);
        memmove(s->wanted, s->wanted + 1, (size_t)--s->n_wanted * sizeof *s->wanted);
        atomic_store(&s->warm_state, rc < 0 ? WARM_FAILED : WARM_DONE);
        pthread_mutex_unlock(&s->wanted_mu);
    }
    return NULL;
}

void serve_want_prefix(server *s, uint32_t hazards)
{
    if (!hazards || s->hc.kind != RELIEF_BACKEND_BUILTIN)
        return;
    pthread_mutex_lock(&s->wanted_mu);
    bool queued = false;
    for (int i = 0; i < s->n_wanted; i++)
        queued |= s->wanted[i] == hazards;
    if (!queued && s->n_wanted < SERVE_WANTED_MAX && !s->wanted_stop) {
        s->wanted[s->n_wanted++] = hazards;
        pthread_cond_signal(&s->wanted_cv);
    }
    pthread_mutex_unlock(&s->wanted_mu);
}

/* The model id shown by /v1/models and in chat answers. */
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
    int rc = serve_parse_opts(argc, argv, &s->o);
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
    pthread_mutex_init(&s->reg.mu, NULL);
    pthread_mutex_init(&s->wanted_mu, NULL);
    if (lim_init(&s->lim, s->o.max_parallel, s->o.serve_queue) || serve_cond_init_mono(&s->reg.cv) ||
        pthread_cond_init(&s->wanted_cv, NULL)) {
        fprintf(stderr, "relief serve: out of memory\n");
        return 1;
    }
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
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, serve_on_access, s, MHD_OPTION_EXTERNAL_LOGGER, serve_on_mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)s->o.per_ip,
                            MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
                            MHD_OPTION_NOTIFY_COMPLETED, serve_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                            serve_on_connection, s, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "relief serve: cannot start the HTTP daemon\n");
        close(s->listen_fd);
        relief_hybrid_free(s->hy_plan);
        relief_kb_free(s->kb);
        return 1;
    }
    if (pthread_create(&s->reg.th, NULL, serve_reaper_main, s) == 0)
        s->reg.started = true;
    else
        fprintf(stderr, "relief serve: cannot start the read-timeout thread; slow clients rely on the idle timeout\n");
    fprintf(stderr, "relief serve: backend %s; deadline %gs; %d model slot(s), queue %d%s\n", s->backend_name,
            s->o.deadline, s->o.max_parallel, s->o.serve_queue, s->o.token ? "; bearer token required" : "");
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
    lim_stop(&s->lim);
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
    /* The loader thread computes prefixes only with warm_state RUNNING, set
     * under wanted_mu; once wanted_stop is set it starts no more. */
    pthread_mutex_lock(&s->wanted_mu);
    s->wanted_stop = true;
    pthread_cond_broadcast(&s->wanted_cv);
    bool busy = atomic_load(&s->warm_state) == WARM_RUNNING;
    pthread_mutex_unlock(&s->wanted_mu);
    if (s->loader_started && (atomic_load(&s->model_state) == MODEL_LOADING || busy)) {
        /* The model is still loading (a prefix evaluation can take a minute
         * on two cores): stop now rather than wait for it. The loader thread
         * still uses the kb, so nothing is freed; exiting ends it. */
        fprintf(stderr, "relief serve: stopped (model load or prefix warm-up abandoned)\n");
        fflush(stderr);
        _exit(0);
    }
    if (s->loader_started)
        pthread_join(s->loader, NULL);
    relief_hybrid_free(atomic_load(&s->hy_model));
    relief_hybrid_free(s->hy_plan);
    relief_kb_free(s->kb);
    lim_destroy(&s->lim);
    pthread_cond_destroy(&s->reg.cv);
    pthread_mutex_destroy(&s->reg.mu);
    pthread_mutex_destroy(&s->m.mu);
    pthread_cond_destroy(&s->wanted_cv);
    pthread_mutex_destroy(&s->wanted_mu);
    fprintf(stderr, "relief serve: stopped\n");
    return 0;
}
