/* result_json.c - a hybrid result's model part as JSON, one writer for the CLI and the server. */
#include "relief/hybrid.h"
#include "util/strbuf.h"

#include <stdlib.h>

/* A duration in milliseconds, or null when it never happened (< 0). */
static void ms_or_null(strbuf *b, double ms)
{
    if (ms >= 0)
        strbuf_num(b, ms, 3);
    else
        strbuf_str(b, "null");
}

char *relief_hybrid_result_json(const relief_hybrid_result *res, const relief_hybrid_json_opts *opts)
{
    relief_hybrid_json_opts def = {.queue_ms = -1};
    const relief_hybrid_json_opts *o = opts ? opts : &def;
    const relief_hybrid_timings *t = &res->timings;
    bool ran = !o->withheld;
    strbuf b = {0};
    strbuf_str(&b, "\"model\":{");
    if (o->with_text) {
        strbuf_str(&b, "\"text\":");
        if (res->model_text && ran)
            strbuf_json_str(&b, res->model_text, res->model_text_len);
        else
            strbuf_str(&b, "null");
        strbuf_str(&b, ",");
    }
    strbuf_printf(&b, "\"complete\":%s,\"cut\":%s,\"backend\":", res->model_complete && ran ? "true" : "false",
                  res->model_cut && ran ? "true" : "false");
    strbuf_json_cstr(&b, o->backend);
    strbuf_str(&b, ",\"error\":");
    strbuf_json_cstr(&b, o->error ? o->error : res->model_error);
    strbuf_str(&b, "},\"timings\":{\"plan_ms\":");
    strbuf_num(&b, t->plan_ms, 3);
    strbuf_str(&b, ",\"ttft_ms\":");
    ms_or_null(&b, t->ttft_ms);
    strbuf_str(&b, ",\"first_token_ms\":");
    ms_or_null(&b, t->first_token_ms);
    strbuf_str(&b, ",\"model_ms\":");
    strbuf_num(&b, t->model_ms, 3);
    if (o->queue_ms >= 0) {
        strbuf_str(&b, ",\"queue_ms\":");
        strbuf_num(&b, o->queue_ms, 3);
    }
    strbuf_str(&b, ",\"total_ms\":");
    strbuf_num(&b, t->total_ms, 3);
    strbuf_printf(&b, ",\"tokens\":%zu,\"prompt_tokens\":%zu,\"prompt_cached\":%zu,\"tokens_per_s\":", t->model_tokens,
                  t->prompt_tokens, t->prompt_cached);
    strbuf_num(&b, t->tokens_per_s, 2);
    strbuf_printf(&b, ",\"prefix_cached\":%s}", t->prefix_cached ? "true" : "false");
    return strbuf_finish(&b);
}
