/*
 * prompt.c - the model's prompt, laid out for prefix caches: what depends
 * only on the hazards (the fixed instructions and the hazards' candidate
 * brief steps) comes first, in the developer message; the report, the
 * facts and the brief's choice among the candidates come last, in the user
 * message. Reports of the same hazards then share every token of the
 * developer message, so its KV state (ours, or a remote server's prompt
 * cache) is computed once and reused.
 */
#include "prompt.h"

#include "util/strbuf.h"
#include "util/utf8.h"

#include <assert.h>
#include <string.h>

#define MAX_REPORT_IN_PROMPT 4000 /* bytes of the report quoted to the model */
#define MAX_CANDIDATES 64         /* brief steps listed per hazard (kb files hold at most 13 today) */

/* The fixed instructions: identical for every request. */
static const char *const instructions =
    "You are the elaboration layer of relief, an offline emergency-guidance system. A protocol engine has "
    "already given the responders a numbered action plan built from established guidance (FEMA, WHO, CDC, "
    "Sphere). Your job is to make that plan concrete for the situation reported.\n"
    "- Stay consistent with the plan. Never contradict or weaken a life-safety step.\n"
    "- Be concrete about the place, the people and the time reported.\n"
    "- Refer to plan steps by their number (\"step 3\").\n"
    "- Say plainly what is uncertain or missing in the report and what to verify first.\n"
    "- Do not invent numbers, resources or facts that the report does not give.\n"
    "- Be brief: at most eight short bullet points, no preamble.\n"
    "The user message gives the report, then \"Facts:\" (what the protocol engine read in it) and "
    "\"Brief:\" (the plan's first actions as labels of the steps listed below, step 1 first; \"flood 1, 2\" "
    "is flood 1 then flood 2). Elaborate that plan for the situation reported.";

uint32_t prompt_hazard_set(const relief_plan *p)
{
    uint32_t set = 0;
    for (size_t i = 0; i < p->n_detections; i++) {
        int h = p->detections[i].hazard;
        assert(h >= 0 && h < RELIEF_HZ_COUNT);
        if (!p->detections[i].secondary)
            set |= 1u << h;
    }
    return set;
}

static void add_candidate(strbuf *s, const char *group, size_t number, const relief_step *st)
{
    strbuf_printf(s, "\n[%s %zu] (%s) %s", group, number, relief_role_title(st->role),
                  st->short_text ? st->short_text : st->text);
}

/* Whether two steps are the same kb step: a plan's step keeps the kb's
 * source pointer (guide.h) whatever language its text is in; ids are
 * optional in the kb, so the role, priority and kind confirm it. */
static bool same_step(const relief_step *a, const relief_step *b)
{
    return a->source == b->source && a->role == b->role && a->priority == b->priority &&
           a->brief_kind == b->brief_kind;
}

char *prompt_developer(const relief_kb *kb, uint32_t hazards)
{
    strbuf s = {0};
    strbuf_add(&s, instructions, strlen(instructions));
    relief_step cand[MAX_CANDIDATES];
    /* The protocols' steps first: the same for every hazard set, so they
     * sit in every prefix and a brief that takes one names it by label. */
    strbuf_str(&s, "\n\n# First-30-minute steps any incident's brief may take\nThe user message names "
                   "the plan's brief by these labels and those of its hazards below.");
    for (size_t pr = 0; pr < relief_kb_protocol_count(kb); pr++) {
        size_t n = relief_kb_protocol_brief_steps(kb, pr, cand, MAX_CANDIDATES);
        for (size_t i = 0; i < n && i < MAX_CANDIDATES; i++)
            add_candidate(&s, relief_kb_protocol_id(kb, pr), i + 1, &cand[i]);
    }
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        if (!(hazards >> h & 1))
            continue;
        size_t n = relief_kb_brief_steps(kb, h, cand, MAX_CANDIDATES);
        if (n > MAX_CANDIDATES)
            n = MAX_CANDIDATES;
        if (!n)
            continue;
        strbuf_printf(&s, "\n\n# First-30-minute steps for %s", relief_hazard_name(h));
        for (size_t i = 0; i < n; i++)
            add_candidate(&s, relief_hazard_name(h), i + 1, &cand[i]);
    }
    if (s.failed) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

/* Writes the label of a brief step listed in the developer message for
 * `hazards` (a protocol's or one of the hazards'), or nothing and false
 * when it is not listed there. The group's name is left out when it is
 * *prev, the group of the label before ("flood 1, 2"); *prev becomes this
 * label's group (a static or kb-owned string). */
static void put_label(strbuf *s, const char *group, size_t number, const char **prev)
{
    if (*prev && !strcmp(*prev, group))
        strbuf_printf(s, "%zu", number);
    else
        strbuf_printf(s, "%s %zu", group, number);
    *prev = group;
}

static bool candidate_label(strbuf *s, const relief_kb *kb, uint32_t hazards, const relief_step *st,
                            const char **prev)
{
    relief_step cand[MAX_CANDIDATES];
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        if (!(hazards >> h & 1))
            continue;
        size_t n = relief_kb_brief_steps(kb, h, cand, MAX_CANDIDATES);
        for (size_t i = 0; i < n && i < MAX_CANDIDATES; i++)
            if (same_step(&cand[i], st)) {
                put_label(s, relief_hazard_name(h), i + 1, prev);
                return true;
            }
    }
    for (size_t pr = 0; pr < relief_kb_protocol_count(kb); pr++) {
        size_t n = relief_kb_protocol_brief_steps(kb, pr, cand, MAX_CANDIDATES);
        for (size_t i = 0; i < n && i < MAX_CANDIDATES; i++)
            if (same_step(&cand[i], st)) {
                put_label(s, relief_kb_protocol_id(kb, pr), i + 1, prev);
                return true;
            }
    }
    return false;
}

/* The language the model should answer in: the plan's when it was asked
 * for (--lang, the API's lang, Accept-Language), else the report's when one
 * was recognised (a model can answer in Italian or Tagalog although the
 * plan is in English), else the plan's. */
static const char *answer_language(const relief_plan *p)
{
    const char *why = p->plan_lang_reason ? p->plan_lang_reason : "";
    const char *plan = p->plan_lang ? p->plan_lang : "en";
    if (!strcmp(why, "requested") || !strcmp(why, "accept-language"))
        return plan;
    if (!strcmp(why, "not-translated") && p->plan_lang_wanted)
        return p->plan_lang_wanted;
    if (p->lang && p->lang_hits > 0)
        return p->lang;
    return plan;
}

char *prompt_user(const relief_kb *kb, const relief_plan *p, uint32_t hazards)
{
    strbuf s = {0};
    strbuf_str(&s, "Report:\n");
    size_t n = utf8_cut(p->report, p->report_len, MAX_REPORT_IN_PROMPT);
    strbuf_add(&s, p->report, n);
    if (n < p->report_len)
        strbuf_str(&s, " [report shortened]");
    /* Every token from here on is evaluated afresh for each report (the
     * prefix cache ends before it), so the facts and the brief are terse. */
    strbuf_str(&s, "\n\nFacts: ");
    if (!p->n_detections)
        strbuf_str(&s, "no hazard recognised");
    for (size_t i = 0, k = 0; i < p->n_detections; i++)
        if (!p->detections[i].secondary)
            strbuf_printf(&s, "%s%s", k++ ? ", " : "", relief_hazard_name(p->detections[i].hazard));
    for (size_t i = 0, k = 0; i < p->n_detections; i++)
        if (p->detections[i].secondary)
            strbuf_printf(&s, "%s%s", k++ ? ", " : "; possible secondary: ",
                          relief_hazard_name(p->detections[i].hazard));
    /* The numbers, times and places are words of the report, which the
     * model reads itself: only what the engine inferred is added. */
    const relief_facts *f = &p->facts;
    if (f->time_s.known) /* the engine's reading of "within the hour", "by 6pm", "imminent" */
        strbuf_printf(&s, "; time to impact about %.0f min", f->time_s.value / 60);
    for (int g = 0, k = 0; g < RELIEF_VG_COUNT; g++)
        if (f->vulnerable[g].present)
            strbuf_printf(&s, "%s%s", k++ ? ", " : "; vulnerable: ", relief_vulnerable_name(g));
    for (int i = 0, k = 0; i < RELIEF_INFRA_COUNT; i++)
        if (f->infra[i].present)
            strbuf_printf(&s, "%s%s", k++ ? ", " : "; infrastructure hit: ", relief_infra_name(i));
    strbuf_str(&s, ".");
    /* The brief is what the responder acts on first; the model elaborates
     * on it rather than on an arbitrary slice of the phased plan. Steps the
     * developer message lists go by label (their text is in the cached
     * prefix); any other in full. */
    if (p->n_brief)
        strbuf_str(&s, "\nBrief:");
    const char *group = NULL; /* the previous label's group: "flood 1, 2" for flood 1, flood 2 */
    for (size_t i = 0; i < p->n_brief; i++) {
        strbuf_str(&s, i ? ", " : " ");
        if (!candidate_label(&s, kb, hazards, p->brief[i], &group)) {
            group = NULL;
            strbuf_printf(&s, "(%s) %s", relief_role_title(p->brief[i]->role),
                          p->brief[i]->short_text ? p->brief[i]->short_text : p->brief[i]->text);
        }
    }
    if (p->n_brief)
        strbuf_str(&s, ".");
    /* The reporter reads the answer: their language, or the one asked for. */
    const char *code = answer_language(p);
    const char *name = relief_kb_language_name(kb, code);
    if (strcmp(code, "en"))
        strbuf_printf(&s, "\nWrite your answer in %s (language code %s), the language of the reader.",
                      name ? name : code, code);
    if (s.failed) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
