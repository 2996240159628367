/* chat.c - POST /v1/chat/completions, OpenAI-compatible, through the model backend. */
#include "serve_int.h"

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
    bool has_temperature, has_top_p, has_seed;
    double temperature, top_p;
    uint64_t seed;
    const char *stop[RELIEF_CHAT_MAX_STOP]; /* owned by root */
    size_t n_stop;
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

/* "seed": absent or null (no seed), else an integer, used as its 64 bits. */
static bool chat_seed(json_t *root, bool *has, uint64_t *seed)
{
    json_t *v = json_object_get(root, "seed");
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v))
        return false;
    *has = true;
    *seed = (uint64_t)json_integer_value(v);
    return true;
}

/* "stop": absent or null, a string, or an array of up to
 * RELIEF_CHAT_MAX_STOP strings; none may be empty. */
static bool chat_stop(ccall *cc, json_t *v)
{
    if (!v || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        cc->stop[0] = json_string_value(v);
        cc->n_stop = 1;
        return json_string_length(v) > 0 && strlen(cc->stop[0]) == json_string_length(v);
    }
    if (!json_is_array(v) || json_array_size(v) > RELIEF_CHAT_MAX_STOP)
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        /* A string with a NUL inside could never be matched as written. */
        if (!json_is_string(e) || json_string_length(e) == 0 || strlen(json_string_value(e)) != json_string_length(e))
            return false;
        cc->stop[cc->n_stop++] = json_string_value(e);
    }
    return true;
}

typedef struct {
    relief_chat_result res;
    int rc;
} chat_out;

static void chat_call(ccall *cc, chat_out *out)
{
    double t = clock_now();
    relief_chat_request rq = {.msgs = cc->msgs, .n = cc->n, .deadline_s = cc->deadline_s,
                              .max_tokens = cc->max_tokens,
                              .has_temperature = cc->has_temperature, .temperature = (float)cc->temperature,
                              .has_top_p = cc->has_top_p, .top_p = (float)cc->top_p,
                              .has_seed = cc->has_seed, .seed = cc->seed,
                              .stop = cc->stop, .n_stop = cc->n_stop,
                              .on_text = c_on_text, .user = cc};
    out->rc = relief_hybrid_chat(serve_responder(cc->s), &rq, &out->res);
    double ms = (clock_now() - t) * 1e3;
    if (cc->slot) {
        lim_release(&cc->s->lim);
        cc->slot = false;
    }
    metrics_generation(&cc->s->m, out->res.completion_tokens, ms, out->rc == 0 && !out->res.complete, out->rc < 0);
}

/* The OpenAI "usage" object: the prompt's tokens as the model read it and
 * the tokens it generated (the backend's counts, relief_chat_result). */
static void chat_usage(strbuf *b, const relief_chat_result *r)
{
    strbuf_printf(b, "{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"total_tokens\":%zu}", r->prompt_tokens,
                  r->completion_tokens, r->prompt_tokens + r->completion_tokens);
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
        serve_error_json(&b, "backend_error", NULL, out.res.error ? out.res.error : "model backend failed");
        if (!b.failed)
            job_event(j, NULL, b.p, b.n);
        free(b.p);
    } else {
        chat_emit(cc, "{}", out.res.complete ? "stop" : "length");
        if (cc->include_usage) {
            strbuf b = {0};
            chat_chunk_head(&b, cc);
            strbuf_str(&b, "],\"usage\":");
            chat_usage(&b, &out.res);
            strbuf_str(&b, "}");
            if (!b.failed)
                job_event(j, NULL, b.p, b.n);
            free(b.p);
        }
    }
    job_event(j, NULL, "[DONE]", 6);
    relief_chat_result_free(&out.res);
}

enum MHD_Result serve_handle_chat(server *s, struct MHD_Connection *c, req_ctx *r)
{
    if (!serve_model_ready(s))
        return serve_reply_error(s, c, r, 503, "unavailable", NULL, "%s",
                           atomic_load(&s->model_state) == MODEL_LOADING
                               ? "the model is still loading; try again shortly"
                           : atomic_load(&s->model_state) == MODEL_FAILED
                               ? "the model backend is unavailable (see the server log)"
                               : "no model backend is configured (start relief serve with --model or --backend)");
    enum MHD_Result rc;
    json_t *root = serve_parse_body(s, c, r, 0, &rc);
    if (!root)
        return rc;
    ccall *cc = calloc(1, sizeof *cc);
    if (!cc) {
        json_decref(root);
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
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
    bool json_deadline = json_object_get(root, "deadline") != NULL;
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
    else if (!serve_opt_bool(root, "stream", &stream))
        bad = "stream", why = "must be true or false";
    else if (!serve_opt_int(root, "max_tokens", 1, MAX_CHAT_TOKENS, &max_tokens))
        bad = "max_tokens", why = "must be a whole number from 1 to 100000";
    else if (!serve_opt_int(root, "max_completion_tokens", 1, MAX_CHAT_TOKENS, &max_tokens))
        bad = "max_completion_tokens", why = "must be a whole number from 1 to 100000";
    else if (!serve_opt_number(root, "temperature", 0, 2, false, &temperature))
        bad = "temperature", why = "must be a number from 0 to 2";
    else if (!serve_opt_int(root, "n", 1, 1, &n_choices))
        bad = "n", why = "must be 1 (one choice per request)";
    else if (!serve_opt_number(root, "deadline", 0, MAX_DEADLINE_S, true, &cc->deadline_s))
        bad = "deadline", why = "must be a number of seconds greater than 0 and at most 300";
    else if (so && !json_is_null(so) &&
             (!json_is_object(so) || !serve_opt_bool(so, "include_usage", &cc->include_usage)))
        bad = "stream_options", why = "must be an object like {\"include_usage\": true}";
    else if (!serve_opt_number(root, "top_p", 0, 1, true, &cc->top_p))
        bad = "top_p", why = "must be a number greater than 0 and at most 1";
    else if (!chat_seed(root, &cc->has_seed, &cc->seed))
        bad = "seed", why = "must be a whole number";
    else if (!chat_stop(cc, json_object_get(root, "stop")))
        bad = "stop", why = "must be a non-empty string or an array of up to 4 non-empty strings";
    cc->has_temperature = json_is_number(json_object_get(root, "temperature"));
    cc->temperature = temperature;
    cc->has_top_p = json_is_number(json_object_get(root, "top_p"));
    if (!bad) {
        cc->n = json_array_size(msgs);
        cc->msgs = calloc(cc->n, sizeof *cc->msgs);
        if (!cc->msgs) {
            ccall_free(cc);
            return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
        }
        for (size_t i = 0; i < cc->n && !bad; i++) {
            json_t *m = json_array_get(msgs, i);
            json_t *role = json_object_get(m, "role");
            int rl = relief_chat_role_parse(json_is_string(role) ? json_string_value(role) : NULL);
            bool oom = false;
            if (!json_is_object(m)) {
                snprintf(field, sizeof field, "messages[%zu]", i);
                bad = field, why = "must be an object with \"role\" and \"content\"";
            } else if (rl < 0) {
                snprintf(field, sizeof field, "messages[%zu].role", i);
                bad = field, why = "must be \"system\", \"developer\", \"user\" or \"assistant\"";
            } else if (!(cc->msgs[i].content = chat_content(cc, json_object_get(m, "content"), &oom))) {
                if (oom) {
                    ccall_free(cc);
                    return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
                }
                snprintf(field, sizeof field, "messages[%zu].content", i);
                bad = field, why = "must be a string or an array of text parts";
            }
            cc->msgs[i].role = rl < 0 ? RELIEF_CHAT_USER : (relief_chat_role)rl;
        }
    }
    if (bad) {
        enum MHD_Result e = serve_reply_error(s, c, r, 400, "invalid_request_error", bad, "%s %s", bad, why);
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
        return serve_reply_error(s, c, r, 429, "rate_limit_error", NULL,
                           "busy: every model slot and queue place is taken; retry later");
    }
    /* A stream with no deadline of its own runs for the budget once it has
     * a slot; the wait for the slot stays within the server's deadline. */
    double wait_s = cc->deadline_s;
    if (stream && !json_deadline) {
        wait_s = s->o.deadline;
        cc->deadline_s = s->o.budget;
    }
    if (!lim_acquire(&s->lim, t0 + wait_s, NULL)) {
        metrics_busy(&s->m);
        ccall_free(cc);
        return serve_reply_error(s, c, r, 429, "rate_limit_error", NULL, "busy: no model slot became free before the deadline");
    }
    cc->slot = true;
    cc->deadline_s -= clock_now() - t0;
    if (cc->deadline_s < 0.001)
        cc->deadline_s = 0.001;
    if (stream)
        return serve_start_stream(s, c, r, c_stream_run, ccall_free, cc, &cc->job, NULL, cc->deadline_s);

    chat_out out = {0};
    chat_call(cc, &out);
    if (out.rc < 0) {
        enum MHD_Result e = serve_reply_error(s, c, r, 502, "backend_error", NULL, "%s",
                                        out.res.error ? out.res.error : "model backend failed");
        ccall_free(cc);
        return e;
    }
    strbuf b = {0};
    strbuf_str(&b, "{\"id\":");
    strbuf_json_cstr(&b, cc->id);
    strbuf_printf(&b, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":", cc->created);
    strbuf_json_cstr(&b, s->model_id);
    strbuf_str(&b, ",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    strbuf_json_str(&b, out.res.text ? out.res.text : "", out.res.text ? out.res.text_len : 0);
    strbuf_printf(&b, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":", out.res.complete ? "stop" : "length");
    chat_usage(&b, &out.res);
    strbuf_str(&b, "}");
    relief_chat_result_free(&out.res);
    ccall_free(cc);
    return serve_reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}
