/*
 * test_hybrid.c - the hybrid responder with the built-in engine on the tiny
 * oracle model: the plan comes first and on time, the model text streams
 * and stops at the deadline, the prefix KV cache is written, reused,
 * detected as corrupt or stale and rebuilt, and greedy output with the
 * cached prefix equals output without it; plain chat maps its roles and
 * reports usage counts equal to independent ones.
 *
 * usage: test_hybrid TINY_MODEL.gguf
 */
#include "check.h"
#include "hybrid/prompt.h"
#include "relief/hybrid.h"
#include "relief/llm.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char cache_dir[256], model_copy[512];

typedef struct {
    double t0, plan_at, first_text_at;
    int n_text;
    char text[65536];
    size_t len;
} trace;

static int on_text(const char *s, size_t n, void *user)
{
    trace *t = user;
    if (t->n_text++ == 0)
        t->first_text_at = relief_llm_now() - t->t0;
    if (t->len + n < sizeof t->text) {
        memcpy(t->text + t->len, s, n);
        t->len += n;
    }
    return 0;
}

static char *cache_file(void)
{
    static char path[1024];
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    path[0] = '\0';
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".relief-prefix-") && !strstr(e->d_name, ".tmp"))
            snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
    if (d)
        closedir(d);
    return path[0] ? path : NULL;
}

static const relief_kb *kb_of_test;

/* relief_hybrid_result_json: what the CLI and the server both write. */
static void check_result_json(const relief_hybrid_result *res)
{
    relief_hybrid_json_opts o = {.backend = "builtin:x", .with_text = true, .queue_ms = -1};
    char *js = relief_hybrid_result_json(res, &o);
    CHECK(js != NULL);
    char *whole = malloc(strlen(js) + 3);
    CHECK(whole != NULL);
    sprintf(whole, "{%s}", js);
    json_error_t e;
    json_t *root = json_loads(whole, JSON_ALLOW_NUL, &e);
    CHECK_MSG(root != NULL, "result JSON does not parse: %s: %s", e.text, whole);
    if (!root)
        return;
    json_t *m = json_object_get(root, "model"), *t = json_object_get(root, "timings");
    json_t *text = json_object_get(m, "text"), *err = json_object_get(m, "error");
    /* The tiny model's words are noise, NULs included: compared as bytes. */
    CHECK(json_is_string(text) && json_string_length(text) == res->model_text_len &&
          !memcmp(json_string_value(text), res->model_text, res->model_text_len));
    CHECK(json_is_boolean(json_object_get(m, "complete")));
    CHECK(res->model_error ? json_is_string(err) && !strcmp(json_string_value(err), res->model_error)
                           : json_is_null(err));
    CHECK(!strcmp(json_string_value(json_object_get(m, "backend")), "builtin:x"));
    CHECK(json_integer_value(json_object_get(t, "tokens")) == (json_int_t)res->timings.model_tokens);
    CHECK(json_integer_value(json_object_get(t, "prompt_tokens")) == (json_int_t)res->timings.prompt_tokens);
    CHECK(json_is_number(json_object_get(t, "ttft_ms")) && !json_object_get(t, "queue_ms"));
    json_decref(root);
    free(js);
    /* Withheld (a busy server): no text, not complete, the caller's error. */
    o = (relief_hybrid_json_opts){.backend = "b", .with_text = true, .withheld = true, .error = "busy",
                                  .queue_ms = 12.5};
    js = relief_hybrid_result_json(res, &o);
    CHECK(js && strstr(js, "\"text\":null") && strstr(js, "\"complete\":false") &&
          strstr(js, "\"error\":\"busy\"") && strstr(js, "\"queue_ms\":12.5"));
    free(js);
    free(whole);
}

/* The two steps' contracts apart from the model: elaborate needs a plan;
 * without a backend it says so and leaves the plan alone. */
static void test_steps_without_model(const relief_kb *kb)
{
    relief_hybrid_result res;
    memset(&res, 0, sizeof res);
    CHECK(relief_hybrid_elaborate(NULL, NULL, &res) == -1);
    const char *report = "Flash flood in the valley, 40 people on roofs";
    CHECK(relief_hybrid_plan(kb, report, strlen(report), NULL, &res) == 0 && res.plan);
    CHECK(relief_hybrid_elaborate(NULL, NULL, &res) == 0);
    CHECK(res.model_error && strstr(res.model_error, "no model backend") && res.model_text == NULL);
    CHECK(res.plan && res.plan->n_steps > 0 && res.timings.total_ms >= res.timings.plan_ms);
    relief_hybrid_result_free(&res);
    relief_hybrid_result_free(&res); /* zeroed: a second free is harmless */
}

static relief_hybrid *make(const relief_kb *kb, float temperature)
{
    relief_hybrid_config cfg = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = model_copy, .cache_dir = cache_dir,
                                .temperature = temperature, .quiet = true, .max_tokens = 24, .seed = 7};
    char err[512];
    relief_hybrid *h = relief_hybrid_new(kb, &cfg, err, sizeof err);
    CHECK_MSG(h != NULL, "%s", err);
    return h;
}

static void respond(relief_hybrid *h, double deadline, trace *t, relief_hybrid_result *res)
{
    memset(t, 0, sizeof *t);
    relief_hybrid_request rq = {.deadline_s = deadline, .on_text = on_text, .user = t};
    const char *report = "River rising in Riverside, 3,000 residents, levee may fail within 2 hours";
    t->t0 = relief_llm_now();
    CHECK(relief_hybrid_plan(kb_of_test, report, strlen(report), &rq, res) == 0);
    t->plan_at = relief_llm_now() - t->t0;
    CHECK(res->plan && res->model_text == NULL && res->timings.plan_ms >= 0);
    CHECK(relief_hybrid_elaborate(h, &rq, res) == 0);
}

static int count_cache_files(void)
{
    int n = 0;
    DIR *d = opendir(cache_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".relief-prefix-") && !strstr(e->d_name, ".tmp");
    if (d)
        closedir(d);
    return n;
}

static void count_warm(const char *hazard, size_t tokens, double seconds, bool was_cached, void *user)
{
    (void)hazard, (void)seconds, (void)was_cached;
    CHECK(tokens > 0);
    ++*(int *)user;
}

static void count_cached(const char *hazard, size_t tokens, double seconds, bool was_cached, void *user)
{
    (void)hazard, (void)tokens, (void)seconds;
    *(int *)user += was_cached;
}

/* The prompt's layout: what depends on the hazards only in the developer
 * message (identical for two reports of the same hazard), the report, its
 * facts and the brief by label in the user message, and the answer's
 * language asked for when the reader's is not English. */
static void test_prompt(const relief_kb *kb)
{
    const char *a = "River flooding in Riverside, 3000 residents, levee may fail in 2 hours";
    const char *b = "flash flood on main street, cars floating";
    relief_options o = {0};
    relief_plan *pa = relief_plan_build(kb, a, strlen(a), &o), *pb = relief_plan_build(kb, b, strlen(b), &o);
    CHECK(pa && pb);
    if (!pa || !pb)
        return;
    uint32_t ha = prompt_hazard_set(pa), hb = prompt_hazard_set(pb);
    CHECK(ha == hb && ha == 1u << relief_hazard_from_name("flood"));
    char *da = prompt_developer(kb, ha), *db = prompt_developer(kb, hb), *ua = prompt_user(kb, pa, ha);
    CHECK(da && db && ua && !strcmp(da, db));
    CHECK(da && strstr(da, "# First-30-minute steps for flood") && strstr(da, "\n[flood 1] "));
    CHECK(da && strstr(da, "\n[ics 1] ") && strstr(da, "\n[triage 1] ")); /* the protocols' too */
    CHECK(da && !strstr(da, "Riverside"));
    CHECK_MSG(ua && strstr(ua, "Report:\nRiver flooding in Riverside") && strstr(ua, "Facts: flood") &&
                  strstr(ua, "time to impact about 120 min") && strstr(ua, "\nBrief: flood "),
              "%s", ua ? ua : "(null)");
    CHECK(ua && !strstr(ua, "Write your answer in"));
    /* Every brief step is named by a label the developer message defines:
     * the fresh part of the prompt stays short. */
    const char *list = ua ? strstr(ua, "Brief: ") : NULL;
    size_t labels = 0;
    for (const char *c = list; c && *c && *c != '\n'; c++) {
        labels += *c == ',' || *c == '.';
        CHECK(*c != '(');
    }
    CHECK_MSG(list && labels == pa->n_brief, "%zu labels for a brief of %zu: %s", labels, pa->n_brief,
              list ? list : "(none)");
    /* Labels of one group in a row share its name: "flood 1, 2". */
    CHECK_MSG(list && !strstr(list, "flood 1, flood 2"), "%s", list ? list : "(none)");
    CHECK(da && strstr(da, "\"Brief:\"") && !strstr(ua, "Elaborate"));
    free(da), free(db), free(ua);
    relief_plan_free(pa), relief_plan_free(pb);

    const char *fr = "Inondation à Lyon, la digue va céder, 300 personnes dans le quartier";
    relief_plan *pf = relief_plan_build(kb, fr, strlen(fr), &o);
    char *uf = pf ? prompt_user(kb, pf, prompt_hazard_set(pf)) : NULL;
    CHECK_MSG(uf && strstr(uf, "Write your answer in Français (language code fr)"), "%s", uf ? uf : "(null)");
    free(uf);
    relief_plan_free(pf);
    /* An Italian report: no Italian plan, but the model can answer in Italian. */
    const char *it = "Alluvione a Genova, il fiume è esondato, 200 persone bloccate nelle case";
    relief_plan *pi = relief_plan_build(kb, it, strlen(it), &o);
    char *ui = pi ? prompt_user(kb, pi, prompt_hazard_set(pi)) : NULL;
    CHECK_MSG(ui && strstr(ui, "(language code it)"), "%s", ui ? ui : "(null)");
    free(ui);
    relief_plan_free(pi);
    /* Asked for Spanish: the answer too. */
    relief_options es = {.lang = "es"};
    relief_plan *pe = relief_plan_build(kb, a, strlen(a), &es);
    char *ue = pe ? prompt_user(kb, pe, prompt_hazard_set(pe)) : NULL;
    CHECK_MSG(ue && strstr(ue, "(language code es)"), "%s", ue ? ue : "(null)");
    free(ue);
    relief_plan_free(pe);
}


/* Plain chat (relief_hybrid_chat): roles mapped for harmony (system and
 * developer joined into the instructions, an earlier assistant turn on the
 * final channel), and the usage counts equal independent ones: the prompt
 * is the harmony text written out here by hand and tokenized through the
 * public tokenizer, the completion a greedy generation through the public
 * engine API on that prompt. */
static void test_chat_usage(const relief_kb *kb, const char *dir)
{
    relief_hybrid_config cfg = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = model_copy, .cache_dir = dir,
                                .temperature = 0, .quiet = true, .seed = 7};
    char err[512];
    relief_hybrid *h = relief_hybrid_new(kb, &cfg, err, sizeof err);
    CHECK_MSG(h != NULL, "%s", err);
    relief_model_params mp = {.quiet = true};
    relief_model *m = relief_model_load(model_copy, &mp, err, sizeof err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!h || !m) {
        relief_hybrid_free(h);
        relief_model_free(m);
        return;
    }
    const relief_chat_message msgs[] = {
        {RELIEF_CHAT_SYSTEM, "Be brief."},      {RELIEF_CHAT_DEVELOPER, "Answer in English."},
        {RELIEF_CHAT_USER, "Hello"},            {RELIEF_CHAT_ASSISTANT, "Hi."},
        {RELIEF_CHAT_USER, "Flood rising. What first?"},
    };
    const int max_tokens = 6;
    trace t;
    memset(&t, 0, sizeof t);
    relief_chat_request rq = {.msgs = msgs, .n = 5, .deadline_s = 60, .max_tokens = max_tokens,
                              .on_text = on_text, .user = &t};
    relief_chat_result res;
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&now, &tm));
    int rc = relief_hybrid_chat(h, &rq, &res);
    CHECK_MSG(rc == 0, "chat: %s", res.error ? res.error : "?");
    CHECK(res.text && res.text_len == t.len && !memcmp(res.text, t.text, t.len));

    char prompt[2048];
    snprintf(prompt, sizeof prompt,
             "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
             "Knowledge cutoff: 2024-06\n\nReasoning: low\n\n"
             "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
             "<|start|>developer<|message|># Instructions\n\nBe brief.\n\nAnswer in English.<|end|>"
             "<|start|>user<|message|>(Current date: %s)\n\nHello<|end|>"
             "<|start|>assistant<|channel|>final<|message|>Hi.<|end|>"
             "<|start|>user<|message|>Flood rising. What first?<|end|>"
             "<|start|>assistant",
             date);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    CHECK(relief_model_tokenize(m, prompt, strlen(prompt), true, &ids, &n_ids) == 0);
    CHECK_MSG(res.prompt_tokens == n_ids && n_ids > 50, "prompt_tokens %zu, the prompt has %zu tokens",
              res.prompt_tokens, n_ids);

    relief_llm_ctx *c = relief_llm_ctx_new(m, 1024, 0, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    if (c && ids) {
        relief_sampler_params sp = relief_llm_sampler_defaults();
        sp.temperature = 0;
        sp.max_new_tokens = max_tokens;
        int32_t ends[2] = {relief_model_token_id(m, "<|return|>"), relief_model_token_id(m, "<|call|>")};
        relief_gen_result gr;
        CHECK(relief_llm_generate(c, ids, n_ids, &sp, ends, 2, NULL, NULL, NULL, &gr) == RELIEF_LLM_OK);
        CHECK_MSG(res.completion_tokens == gr.n_generated && gr.n_generated > 0,
                  "completion_tokens %zu, the engine generated %zu", res.completion_tokens, gr.n_generated);
        CHECK(res.complete == (gr.stop_token >= 0) || res.error); /* cut by max_tokens unless it ended */
    }
    printf("chat usage: prompt_tokens %zu (independent count %zu), completion_tokens %zu of max %d, complete %d\n",
           res.prompt_tokens, n_ids, res.completion_tokens, max_tokens, res.complete);
    relief_llm_ctx_free(c);
    free(ids);
    relief_chat_result_free(&res);
    CHECK(res.text == NULL && res.completion_tokens == 0);
    /* Roles parse from their OpenAI names only. */
    CHECK(relief_chat_role_parse("system") == RELIEF_CHAT_SYSTEM);
    CHECK(relief_chat_role_parse("developer") == RELIEF_CHAT_DEVELOPER);
    CHECK(relief_chat_role_parse("user") == RELIEF_CHAT_USER);
    CHECK(relief_chat_role_parse("assistant") == RELIEF_CHAT_ASSISTANT);
    CHECK(relief_chat_role_parse("tool") < 0 && relief_chat_role_parse("User") < 0 && relief_chat_role_parse(NULL) < 0);
    relief_model_free(m);
    relief_hybrid_free(h);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_hybrid TINY_MODEL.gguf\n");
        return 2;
    }
    snprintf(cache_dir, sizeof cache_dir, "/tmp/relief-hybrid-XXXXXX");
    if (!mkdtemp(cache_dir))
        return 2;
    /* Work on a copy so the test can touch it (staleness) without writing to shared/. */
    snprintf(model_copy, sizeof model_copy, "%s/model.gguf", cache_dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", argv[1], model_copy);
    if (system(cmd) != 0)
        return 2;
    char *err = NULL;
    relief_kb *kb = relief_kb_load_embedded(&err);
    if (!kb)
        return 2;
    kb_of_test = kb;
    test_prompt(kb);
    test_steps_without_model(kb);

    /* Plan first, fast; model text follows; the prefix for this report's
     * hazards is computed on first use and written to the cache. */
    relief_hybrid *h = make(kb, 0);
    CHECK(h && !strncmp(relief_hybrid_backend_name(h), "builtin:", 8));
    CHECK(cache_file() == NULL);
    trace t;
    relief_hybrid_result res;
    respond(h, 5, &t, &res);
    CHECK(res.plan && res.plan->n_steps > 0);
    CHECK_MSG(t.plan_at < 0.010, "plan after %.1f ms", t.plan_at * 1e3);
    CHECK(t.n_text > 0 && res.model_text_len == t.len && !memcmp(res.model_text, t.text, t.len));
    CHECK(!res.timings.prefix_cached && res.timings.prompt_cached == 0);
    CHECK(res.timings.model_tokens > 0 && res.timings.prompt_tokens > 0);
    CHECK(t.first_text_at > t.plan_at);
    CHECK(cache_file() != NULL);
    check_result_json(&res);
    char first[65536];
    size_t first_len = t.len;
    memcpy(first, t.text, t.len);
    relief_hybrid_result_free(&res);
    /* Same hazards again in the same process: the in-memory copy serves,
     * the fresh part is a small share of the prompt, the text is the same. */
    respond(h, 5, &t, &res);
    CHECK(res.timings.prefix_cached && res.timings.prompt_cached > 0);
    CHECK(res.timings.prompt_cached < res.timings.prompt_tokens);
    CHECK(t.len == first_len && !memcmp(t.text, first, first_len));
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);

    /* A new process: the file serves, same greedy text, file untouched. */
    struct stat st1, st2;
    char *cf = cache_file();
    CHECK(cf && stat(cf, &st1) == 0);
    h = make(kb, 0);
    respond(h, 5, &t, &res);
    CHECK(res.timings.prefix_cached);
    CHECK(t.len == first_len && !memcmp(t.text, first, first_len));
    CHECK(cf && stat(cf, &st2) == 0 && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec && st1.st_mtime == st2.st_mtime);
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);

    /* Corrupt: a flipped byte is detected; the prefix is recomputed, the
     * file rewritten and the output unchanged. */
    FILE *f = cf ? fopen(cf, "r+b") : NULL;
    CHECK(f != NULL);
    if (f) {
        fseek(f, -10, SEEK_END);
        int c = fgetc(f);
        fseek(f, -10, SEEK_END);
        fputc(c ^ 0x55, f);
        fclose(f);
    }
    h = make(kb, 0);
    respond(h, 5, &t, &res);
    CHECK(!res.timings.prefix_cached);
    CHECK(t.len == first_len && !memcmp(t.text, first, first_len));
    CHECK(stat(cf, &st2) == 0 && (st2.st_mtime != st1.st_mtime || st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec));
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);
    /* Truncated cache: recomputed and rewritten whole. */
    CHECK(truncate(cf, 100) == 0);
    h = make(kb, 0);
    respond(h, 5, &t, &res);
    CHECK(!res.timings.prefix_cached);
    CHECK(stat(cf, &st2) == 0 && st2.st_size > 100);
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);

    /* Stale: the model file changed (mtime) -> the old cache no longer matches. */
    sleep(1);
    snprintf(cmd, sizeof cmd, "touch '%s'", model_copy);
    CHECK(system(cmd) == 0);
    stat(cf, &st1);
    h = make(kb, 0);
    respond(h, 5, &t, &res);
    CHECK(!res.timings.prefix_cached);
    relief_hybrid_result_free(&res);
    stat(cf, &st2);
    CHECK(st2.st_mtime >= st1.st_mtime && (st2.st_mtime != st1.st_mtime || st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec));

    /* Warm: every single hazard's prefix computed once, then all cached. */
    {
        int calls = 0;
        int computed = relief_hybrid_warm(h, NULL, count_warm, &calls);
        /* the flood prefix of the stale check above is the one already there */
        CHECK_MSG(computed == 21, "%d prefixes computed by warm", computed);
        CHECK_MSG(calls == 22, "%d hazards warmed", calls);
        int files = count_cache_files();
        CHECK_MSG(files >= 22, "%d cache files after warm", files);
        int cached = 0;
        CHECK(relief_hybrid_warm(h, NULL, count_cached, &cached) == 0);
        /* a report of one hazard now needs only its own tokens evaluated */
        CHECK_MSG(cached == 22, "%d of 22 already cached on the second warm", cached);
    }

    /* Deadline: a 50 ms budget ends the response within 100 ms of it.
     * Under the sanitizers (RELIEF_TEST_NO_TIMING=1, set by tests.cmake in
     * build-asan) one layer of a prompt batch can take longer than the
     * 100 ms of slack, so the time is reported, not asserted. */
    respond(h, 0.05, &t, &res);
    double total = relief_llm_now() - t.t0;
    if (getenv("RELIEF_TEST_NO_TIMING"))
        printf("response took %.1f ms for a 50 ms deadline (not asserted under sanitizers)\n", total * 1e3);
    else
        CHECK_MSG(total <= 0.05 + 0.1, "response took %.1f ms for a 50 ms deadline", total * 1e3);
    CHECK(res.plan != NULL);
    relief_hybrid_result_free(&res);
    relief_hybrid_free(h);

    /* A deadline too short for the prefix: a server's request leaves it
     * uncomputed; a caller that waits anyway (prefix_unbounded, the CLI)
     * computes it whole, and the next request finds it. */
    {
        char sub[300];
        snprintf(sub, sizeof sub, "%s/unbounded", cache_dir);
        CHECK(mkdir(sub, 0700) == 0);
        relief_hybrid_config cfg = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = model_copy, .cache_dir = sub,
                                    .temperature = 0, .quiet = true, .max_tokens = 4, .seed = 7};
        char herr[512];
        relief_hybrid *hu = relief_hybrid_new(kb, &cfg, herr, sizeof herr);
        CHECK_MSG(hu != NULL, "%s", herr);
        const char *report = "Chemical truck leaking on the highway, 20 people nearby";
        relief_hybrid_request rq = {.deadline_s = 0.001};
        relief_hybrid_result r1, r2, r3;
        CHECK(hu && relief_hybrid_respond(hu, report, strlen(report), &rq, &r1) == 0);
        CHECK(hu && !r1.timings.prefix_cached && r1.model_cut);
        rq.prefix_unbounded = true;
        CHECK(hu && relief_hybrid_respond(hu, report, strlen(report), &rq, &r2) == 0);
        CHECK(hu && !r2.timings.prefix_cached);
        rq.prefix_unbounded = false;
        CHECK(hu && relief_hybrid_respond(hu, report, strlen(report), &rq, &r3) == 0);
        CHECK_MSG(hu && r3.timings.prefix_cached, "the prefix computed by the unbounded request is kept");
        relief_hybrid_result_free(&r1), relief_hybrid_result_free(&r2), relief_hybrid_result_free(&r3);
        relief_hybrid_free(hu);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
        CHECK(system(cmd) == 0);
    }

    /* Plain chat and its usage counts. */
    {
        char sub[300];
        snprintf(sub, sizeof sub, "%s/chat", cache_dir);
        CHECK(mkdir(sub, 0700) == 0);
        test_chat_usage(kb, sub);
    }

    /* No backend: plan only, with a clear note. */
    relief_hybrid_config none = {.kind = RELIEF_BACKEND_NONE};
    char e2[256];
    h = relief_hybrid_new(kb, &none, e2, sizeof e2);
    respond(h, 1, &t, &res);
    CHECK(res.plan && res.model_error && t.n_text == 0);
    relief_hybrid_result_free(&res);
    relief_chat_message hi = {RELIEF_CHAT_USER, "hi"};
    relief_chat_request crq = {.msgs = &hi, .n = 1};
    relief_chat_result cres;
    CHECK(relief_hybrid_chat(h, &crq, &cres) == -1 && cres.error && !cres.text); /* chat needs a backend */
    relief_hybrid_free(h);
    /* A missing model is an error at creation, not a crash. */
    relief_hybrid_config bad = {.kind = RELIEF_BACKEND_BUILTIN, .model_path = "/nonexistent.gguf"};
    CHECK(relief_hybrid_new(kb, &bad, e2, sizeof e2) == NULL && strstr(e2, "nonexistent"));

    relief_kb_free(kb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", cache_dir);
    return check_summary("test_hybrid");
}
