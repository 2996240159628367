/* guidance.c - POST /v1/guidance: the plan at once, then the model's elaboration, as JSON or SSE. */
#include "serve_int.h"

/* ------------------------------------------------------------------ */
/* POST /v1/guidance                                                   */
/* ------------------------------------------------------------------ */

enum { ADM_NONE, ADM_WAITING, ADM_RUNNING, ADM_DONE };

typedef struct {
    server *s;
    char *report;
    size_t report_len;
    double deadline_s;
    int days;
    double t0;           /* request dispatch (monotonic) */
    int adm;             /* ADM_* */
    bool busy;           /* the model got no slot */
    atomic_int stop_model;
    double queue_ms;
    stream_job *job;     /* NULL when not streaming */
    bool plan_sent;
    const char *lang;        /* the plan's language asked for (a static code), NULL: the report's */
    const char *lang_reason; /* "requested" (the body's lang) or "accept-language" */
} gcall;

/* The codes a plan may be asked in; static, so a request may keep them. */
static const char *const plan_langs[] = {"en", "es", "fr", "pt", NULL};

const char *serve_plan_lang_code(const char *s, size_t n)
{
    for (const char *const *c = plan_langs; *c; c++)
        if (strlen(*c) == n && !strncasecmp(*c, s, n))
            return *c;
    return NULL;
}

const char *serve_accept_language(const relief_kb *kb, const char *h)
{
    const char *best = NULL;
    double best_q = 0;
    while (h && *h) {
        size_t n = strcspn(h, ",");
        const char *item = h, *end = h + n;
        h = *end ? end + 1 : end;
        while (item < end && (*item == ' ' || *item == '\t'))
            item++;
        size_t tag = 0;
        while (item + tag < end && ((item[tag] >= 'a' && item[tag] <= 'z') || (item[tag] >= 'A' && item[tag] <= 'Z')))
            tag++;
        double q = 1;
        const char *semi = memchr(item, ';', (size_t)(end - item));
        if (semi) {
            const char *v = semi + 1;
            while (v < end && *v == ' ')
                v++;
            if (end - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                char num[8] = {0};
                size_t k = (size_t)(end - v - 2) < sizeof num - 1 ? (size_t)(end - v - 2) : sizeof num - 1;
                memcpy(num, v + 2, k);
                char *stop;
                q = strtod(num, &stop);
                if (stop == num || !(q >= 0 && q <= 1))
                    continue;
            }
        }
        const char *code = serve_plan_lang_code(item, tag);
        if (!code || q <= 0 || q <= best_q || !relief_kb_plan_language(kb, code))
            continue;
        best = code;
        best_q = q;
    }
    return best;
}

static void gcall_free(void *arg)
{
    gcall *g = arg;
    if (!g)
        return;
    if (g->adm == ADM_WAITING)
        lim_unadmit(&g->s->lim);
    if (g->adm == ADM_RUNNING)
        lim_release(&g->s->lim);
    free(g->report);
    free(g);
}

/* A stream's "plan" event: the plan before any model work. Returns false
 * when it could not be sent (out of memory, or the client went away). */
static bool g_send_plan(gcall *g, const relief_plan *plan)
{
    char *js = relief_plan_render(plan, RELIEF_FMT_JSON, 0);
    bool sent = js && job_event(g->job, "plan", js, strlen(js)) == 0;
    free(js);
    return sent;
}

/* Waits for a model slot (the request was admitted to the queue when it
 * arrived) until the request's deadline; a request that gets none is
 * answered with its plan alone and the model part says "busy". */
static void g_admit(gcall *g)
{
    if (g->adm != ADM_WAITING)
        return;
    double t = clock_now();
    if (lim_acquire(&g->s->lim, g->t0 + g->deadline_s, g->job ? &g->job->gone : NULL)) {
        g->adm = ADM_RUNNING;
    } else {
        g->adm = ADM_DONE;
        g->busy = true;
    }
    g->queue_ms = (clock_now() - t) * 1e3;
}

static int g_on_text(const char *text, size_t len, void *user)
{
    gcall *g = user;
    if (atomic_load(&g->s->stopping))
        return 1;
    if (!g->job)
        return 0;
    strbuf b = {0};
    strbuf_str(&b, "{\"text\":");
    strbuf_json_str(&b, text, len);
    strbuf_str(&b, "}");
    int rc = b.failed ? -1 : job_event(g->job, "token", b.p, b.n);
    free(b.p);
    return rc < 0;
}

/* A stream's "progress" event while the model reads its prompt:
 * {"reading": 0.42}, the share read, so that a page can show the model
 * working before its first word. */
static void g_on_progress(double done, void *user)
{
    gcall *g = user;
    if (!g->job || atomic_load(&g->s->stopping))
        return;
    char data[48];
    int n = snprintf(data, sizeof data, "{\"reading\":%.2f}", done);
    if (job_event(g->job, "progress", data, (size_t)n) < 0)
        atomic_store(&g->stop_model, 1);
}

/* The answer's model part ("model" and "timings" members); NULL when
 * memory runs out. */
static char *g_model_json(const gcall *g, const relief_hybrid_result *res, bool with_text)
{
    int st = atomic_load(&g->s->model_state);
    relief_hybrid_json_opts o = {
        .backend = g->s->backend_name,
        .with_text = with_text,
        .withheld = g->busy,
        .error = g->busy ? "busy" : st == MODEL_LOADING ? "the model is still loading"
               : st == MODEL_FAILED ? "model backend unavailable" : NULL,
        .queue_ms = g->queue_ms,
    };
    return relief_hybrid_result_json(res, &o);
}

/* The request's path, in order: plan → send the plan (streams) → admit to
 * the model → elaborate. The plan never waits for admission; a busy model
 * only means no elaboration. The slot, if any, is released on return.
 * Returns 0, or -1 when memory ran out before the plan existed. */
static int g_respond(gcall *g, relief_hybrid_result *res)
{
    server *s = g->s;
    relief_hybrid_request rq = {.days = g->days,
                                .cancel = &g->stop_model,
                                .on_text = g_on_text,
                                .on_progress = g_on_progress,
                                .user = g,
                                .lang = g->lang,
                                .lang_reason = g->lang_reason};
    if (relief_hybrid_plan(s->kb, g->report, g->report_len, &rq, res) < 0)
        return -1;
    metrics_plan(&s->m, res->timings.plan_ms);
    if (g->job)
        g->plan_sent = g_send_plan(g, res->plan);
    if (g->job && !g->plan_sent)
        atomic_store(&g->stop_model, 1); /* the client is gone: no model for nobody */
    else
        g_admit(g);
    bool model = g->adm == ADM_RUNNING && serve_model_ready(s);
    /* The deadline counts from the request's arrival: the plan and the
     * wait for a slot came out of it. */
    rq.deadline_s = fmax(g->deadline_s - (clock_now() - g->t0), 1e-3);
    rq.no_model = !model;
    relief_hybrid_elaborate(serve_responder(s), &rq, res);
    if (g->adm == ADM_RUNNING) {
        lim_release(&s->lim);
        g->adm = ADM_DONE;
    }
    if (g->busy)
        metrics_busy(&s->m);
    else if (model) {
        metrics_generation(&s->m, res->timings.model_tokens, res->timings.model_ms, res->model_cut,
                           res->model_error != NULL);
        /* A hard deadline may have cut its prefix short: have it computed
         * for the next report of these hazards (the loader thread). */
        if (!res->timings.prefix_cached)
            serve_want_prefix(s, relief_hybrid_prefix_hazards(res->plan));
    }
    return 0;
}

static void g_stream_run(stream_job *j)
{
    gcall *g = j->arg;
    relief_hybrid_result res;
    if (g_respond(g, &res) < 0) {
        static const char e[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        job_event(j, "error", e, sizeof e - 1);
        return;
    }
    if (!g->plan_sent) {
        /* The plan could not be rendered before: try once more, then give up. */
        char *js = relief_plan_render(res.plan, RELIEF_FMT_JSON, 0);
        if (js)
            job_event(j, "plan", js, strlen(js));
        free(js);
    }
    strbuf b = {0};
    char *model = g_model_json(g, &res, false);
    strbuf_str(&b, "{");
    strbuf_str(&b, model ? model : "");
    strbuf_str(&b, "}");
    if (model && !b.failed)
        job_event(j, "done", b.p, b.n);
    free(model);
    free(b.p);
    relief_hybrid_result_free(&res);
}

enum MHD_Result serve_handle_guidance(server *s, struct MHD_Connection *c, req_ctx *r)
{
    if (serve_guidance_format_wanted(c)) /* CAP or ICS 201 (formats.c) */
        return serve_handle_guidance_format(s, c, r);
    enum MHD_Result rc;
    json_t *root = serve_parse_body(s, c, r, JSON_ALLOW_NUL, &rc);
    if (!root)
        return rc;
    json_t *rep = json_object_get(root, "report");
    bool deadline_given = json_object_get(root, "deadline") != NULL;
    double deadline = s->o.deadline;
    long long days = 0;
    bool stream = false;
    const char *bad = NULL, *why = NULL;
    const char *lang = NULL, *lang_reason = "requested";
    json_t *jl = json_object_get(root, "lang");
    if (!rep || json_is_null(rep))
        bad = "report", why = "is required (the situation report as a string)";
    else if (!json_is_string(rep))
        bad = "report", why = "must be a string";
    else if (json_string_length(rep) == 0)
        bad = "report", why = "is empty";
    else if (!serve_opt_number(root, "deadline", 0, MAX_DEADLINE_S, true, &deadline))
        bad = "deadline", why = "must be a number of seconds greater than 0 and at most 300";
    else if (!serve_opt_int(root, "days", 1, 365, &days))
        bad = "days", why = "must be a whole number of days from 1 to 365";
    else if (!serve_opt_bool(root, "stream", &stream))
        bad = "stream", why = "must be true or false";
    else if (jl && !json_is_null(jl) &&
             (!json_is_string(jl) || (strcmp(json_string_value(jl), "auto") &&
                                      !(lang = serve_plan_lang_code(json_string_value(jl), json_string_length(jl))))))
        bad = "lang", why = "must be \"en\", \"es\", \"fr\", \"pt\" or \"auto\" (the report's language)";
    if (!bad && !lang && !(jl && json_is_string(jl))) {
        /* No lang in the body: the browser's languages, else the report's. */
        lang = serve_accept_language(s->kb, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language"));
        lang_reason = "accept-language";
    }
    if (bad) {
        json_decref(root);
        return serve_reply_error(s, c, r, 400, "invalid_request_error", bad, "%s %s", bad, why);
    }
    gcall *g = calloc(1, sizeof *g);
    size_t len = json_string_length(rep);
    char *report = g ? malloc(len + 1) : NULL;
    if (!report) {
        free(g);
        json_decref(root);
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    memcpy(report, json_string_value(rep), len);
    report[len] = '\0';
    json_decref(root);
    g->s = s;
    g->report = report;
    g->report_len = len;
    /* A stream is read as it comes: the model may go on for the budget
     * (the client stops it by going away). A whole answer waits for the
     * model, so its deadline is hard. A "deadline" in the body wins. */
    g->deadline_s = stream && !deadline_given ? s->o.budget : deadline;
    g->days = (int)days;
    g->lang = lang;
    g->lang_reason = lang_reason;
    g->t0 = clock_now();
    if (serve_model_ready(s)) {
        if (lim_admit(&s->lim))
            g->adm = ADM_WAITING;
        else
            g->busy = true; /* plan only; the model part says "busy" */
    }
    if (stream)
        return serve_start_stream(s, c, r, g_stream_run, gcall_free, g, &g->job, &g->stop_model, g->deadline_s);

    relief_hybrid_result res;
    if (g_respond(g, &res) < 0) {
        gcall_free(g);
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    }
    char *js = relief_plan_render(res.plan, RELIEF_FMT_JSON, 0);
    strbuf b = {0};
    if (!js)
        b.failed = true;
    char *model = g_model_json(g, &res, true);
    strbuf_str(&b, ",");
    strbuf_str(&b, model ? model : "");
    strbuf_str(&b, "}");
    if (!model)
        b.failed = true;
    free(model);
    char retry[32];
    snprintf(retry, sizeof retry, "%.0f", ceil(s->o.deadline));
    bool busy = g->busy;
    relief_hybrid_result_free(&res);
    gcall_free(g);
    /* {"plan": PLAN ,"model":...}: the plan's JSON (tens of KB) goes out as
     * it was rendered, without a copy into the response. */
    if (!js || b.failed) {
        free(js);
        return serve_reply_sbuf(s, c, r, 200, "application/json", &b, busy ? retry : NULL);
    }
    return serve_reply_parts(s, c, r, 200, "{\"plan\":", js, &b, busy ? retry : NULL);
}
