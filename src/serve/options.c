/* options.c - relief serve's command line: options, their checks and the usage text. */
#include "serve_int.h"

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */


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
          "  --deadline SECONDS     hard deadline of an answer that is not streamed (default 5)\n"
          "  --budget SECONDS       how long a streamed answer's model text may run (default 90; the\n"
          "                         client ends it sooner by going away, or sets its own \"deadline\")\n"
          "  --token TOKEN          require 'Authorization: Bearer TOKEN' (also RELIEF_TOKEN)\n"
          "  --max-body BYTES       largest request body (default 65536; 413 beyond)\n"
          "  --max-parallel N       concurrent model generations (default 1)\n"
          "  --queue N              generations that may wait for a slot (default 8; 429 beyond)\n"
          "  --read-timeout SECONDS a request must arrive whole within this (default 10)\n"
          "  --max-tokens N         model tokens per guidance answer (default 512)\n"
          "  --final-only           ask the model for its answer directly, without analysis\n"
          "  --no-warm              do not compute the 22 hazards' prompt prefixes in the background\n"
          "                         after the model loads (they are then computed on first use)\n"
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
int serve_parse_opts(int argc, char **argv, serve_opts *o)
{
    *o = (serve_opts){.port = RELIEF_SERVE_PORT, .bind = "127.0.0.1", .deadline = 5, .max_body = 64u << 10,
                      .max_parallel = 1, .serve_queue = 8, .read_timeout = 10, .per_ip = 16, .budget = 90};
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
        if (!strcmp(a, "--no-warm")) {
            o->no_warm = true;
            continue;
        }
        static const char *const with_value[] = {"--port", "--bind", "--model", "--backend", "--backend-model",
                                                 "--deadline", "--token", "--max-body", "--max-parallel", "--queue",
                                                 "--kb", "--threads", "--read-timeout", "--max-tokens",
                                                 "--cache-dir", "--lora", "--host", "--allow-host", "--cors",
                                                 "--per-ip", "--budget"};
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
        } else if (!strcmp(a, "--budget")) {
            if (!parse_seconds_arg(a, v, 3600, &o->budget))
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
            o->serve_queue = (int)x;
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
