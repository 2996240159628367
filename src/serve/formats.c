/* formats.c - POST /v1/guidance in the field's formats: ?format=cap (a CAP
 * 1.2 alert draft), ?format=ics201 (the ICS 201 briefing as printable
 * HTML), ?format=ics201-json; and a CAP alert as the request body
 * (Content-Type: application/cap+xml). These answers are the plan alone:
 * no model text goes into an alert or a form. */
#include "serve_int.h"

#include "formats/formats.h"

/* The request's Content-Type is a CAP alert. */
static bool cap_body(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = ct ? strcspn(ct, "; ") : 0;
    return n == 19 && !strncasecmp(ct, "application/cap+xml", 19);
}

bool serve_guidance_format_wanted(struct MHD_Connection *c)
{
    const char *f = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    return (f && strcmp(f, "json")) || cap_body(c);
}

enum MHD_Result serve_handle_guidance_format(server *s, struct MHD_Connection *c, req_ctx *r)
{
    const char *fname = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    int kind = fname && strcmp(fname, "json") ? formats_from_name(fname) : FORMATS_NONE;
    if (fname && strcmp(fname, "json") && kind == FORMATS_NONE)
        return serve_reply_error(s, c, r, 400, "invalid_request_error", "format",
                                 "format must be json, cap, ics201 or ics201-json");
    cap_write_options co = {0};
    const char *status = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cap_status");
    if (status && !(co.status = cap_status_name(status)))
        return serve_reply_error(s, c, r, 400, "invalid_request_error", "cap_status",
                                 "cap_status must be draft, actual, exercise, system or test");
    relief_options ro = {.days = 0};
    char *report = NULL;
    size_t len = 0;
    char err[300];
    if (cap_body(c)) {
        cap_report cr;
        if (cap_read(r->body, r->len, &cr, err, sizeof err) < 0)
            return serve_reply_error(s, c, r, 400, "invalid_request_error", "body", "%s", err);
        report = cr.report;
        len = cr.len;
        ro.lang = serve_accept_language(s->kb, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language"));
        ro.lang_reason = "accept-language";
        cr.report = NULL;
        cap_report_free(&cr);
    } else {
        enum MHD_Result rc;
        json_t *root = serve_parse_body(s, c, r, JSON_ALLOW_NUL, &rc);
        if (!root)
            return rc;
        json_t *rep = json_object_get(root, "report"), *jl = json_object_get(root, "lang");
        long long days = 0;
        const char *bad = NULL, *why = NULL;
        if (!json_is_string(rep) || json_string_length(rep) == 0)
            bad = "report", why = "is required (the situation report as a non-empty string)";
        else if (!serve_opt_int(root, "days", 1, 365, &days))
            bad = "days", why = "must be a whole number of days from 1 to 365";
        else if (jl && !json_is_null(jl) &&
                 (!json_is_string(jl) ||
                  (strcmp(json_string_value(jl), "auto") &&
                   !(ro.lang = serve_plan_lang_code(json_string_value(jl), json_string_length(jl))))))
            bad = "lang", why = "must be \"en\", \"es\", \"fr\", \"pt\" or \"auto\" (the report's language)";
        if (!bad && !(jl && json_is_string(jl))) {
            ro.lang = serve_accept_language(s->kb, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language"));
            ro.lang_reason = "accept-language";
        }
        if (bad) {
            json_decref(root);
            return serve_reply_error(s, c, r, 400, "invalid_request_error", bad, "%s %s", bad, why);
        }
        ro.days = (int)days;
        len = json_string_length(rep);
        report = malloc(len + 1);
        if (report) {
            memcpy(report, json_string_value(rep), len);
            report[len] = '\0';
        }
        json_decref(root);
    }
    relief_plan *plan = report ? relief_plan_build(s->kb, report, len, &ro) : NULL;
    free(report);
    if (!plan)
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
    metrics_plan(&s->m, plan->elapsed_us / 1e3);
    strbuf b = {0};
    if (kind == FORMATS_NONE) {
        /* A CAP alert in, relief's JSON out: the plan alone. */
        char *js = relief_plan_render(plan, RELIEF_FMT_JSON, 0);
        relief_plan_free(plan);
        if (!js)
            return serve_reply_error(s, c, r, 500, "server_error", NULL, "out of memory");
        strbuf_lit(&b, "{\"plan\":");
        strbuf_str(&b, js);
        strbuf_lit(&b, ",\"model\":null}");
        free(js);
        return serve_reply_sbuf(s, c, r, 200, "application/json", &b, NULL);
    }
    char *out = formats_render(s->kb, plan, kind, &ro, &co, err, sizeof err);
    relief_plan_free(plan);
    if (!out)
        return serve_reply_error(s, c, r, 500, "server_error", NULL, "%s", err);
    b.p = out;
    b.n = b.cap = strlen(out);
    return serve_reply_sbuf(s, c, r, 200, formats_content_type(kind), &b, NULL);
}
