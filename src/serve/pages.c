/* pages.c - the GET endpoints: the web page, health, models. */
#include "serve_int.h"

/* ------------------------------------------------------------------ */
/* GET endpoints                                                       */
/* ------------------------------------------------------------------ */

enum MHD_Result serve_handle_page(server *s, struct MHD_Connection *c, req_ctx *r)
{
    if (!s->page)
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "the web page was not embedded in this build");
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
    return serve_queue(s, c, r, 200, resp);
}

enum MHD_Result serve_handle_healthz(server *s, struct MHD_Connection *c, req_ctx *r)
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
    static const char *const warm_states[] = {"off", "running", "done", "failed"};
    pthread_mutex_lock(&s->wanted_mu);
    int wanted = s->n_wanted;
    pthread_mutex_unlock(&s->wanted_mu);
    strbuf_printf(&b, ",\"prefixes\":{\"state\":\"%s\",\"ready\":%d,\"of\":%d,\"wanted\":%d}",
                  warm_states[atomic_load(&s->warm_state)], atomic_load(&s->warm_done), RELIEF_HZ_COUNT, wanted);
    strbuf_str(&b, "}");
    return serve_reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}

enum MHD_Result serve_handle_models(server *s, struct MHD_Connection *c, req_ctx *r)
{
    strbuf b = {0};
    if (!strncmp(r->url, "/v1/models/", 11)) {
        const char *id = r->url + 11;
        if (!serve_model_ready(s) || strcmp(id, s->model_id))
            return serve_reply_error(s, c, r, 404, "not_found", "model", "no model '%.200s' here", id);
        strbuf_str(&b, "{\"id\":");
        strbuf_json_cstr(&b, s->model_id);
        strbuf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"relief\"}", s->started);
        return serve_reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
    }
    strbuf_str(&b, "{\"object\":\"list\",\"data\":[");
    if (serve_model_ready(s)) {
        strbuf_str(&b, "{\"id\":");
        strbuf_json_cstr(&b, s->model_id);
        strbuf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"relief\"}", s->started);
    }
    strbuf_str(&b, "]}");
    return serve_reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
}

