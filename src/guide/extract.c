/*
 * extract.c - reads the facts a plan depends on out of report text: time
 * available, people affected, casualties, places, vulnerable groups,
 * infrastructure status and resources on hand.
 *
 * Word classes come from kb/extract.kb; this file holds only the grammar
 * around them (numbers, units, windows). Every fact keeps the byte span it
 * came from. Household counts become people through the kb household size
 * (kb/needs.kb, id household_size).
 */
#include "guide_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW 4 /* tokens between a system and its damage word */

typedef struct {
    const relief_kb *kb;
    const char *text;
    const char *lang;  /* the report's language code */
    const token_list *t;
    lex_match_vec mv;
    uint32_t *first;   /* first[i]: index of the first match starting at token i, or UINT32_MAX */
    arena *a;
    relief_facts *f;
    time_t now;
    /* resource and location accumulators */
    relief_location locs[16];
    size_t n_locs;
    relief_resource res[16];
    size_t n_res;
    uint64_t tags;        /* bit i: a word of tag class i (kb->tags) */
    double vague_time;    /* "imminent", "any minute": used only when no figure is stated (0 none) */
    bool cur_vague;       /* the count being read is vague ("hundreds of") */
    double cur_high;      /* ... and the high end of its range, or 0 */
    relief_span vague_time_span;
} xctx;

static int match_cls(const xctx *x, const lex_match *m)
{
    return x->kb->lex.phrases[m->phrase].hazard;
}

/* Returns the end token of a class-cls phrase starting at i, or 0. */
static size_t class_at(const xctx *x, size_t i, int cls)
{
    if (i >= x->t->n || x->first[i] == UINT32_MAX)
        return 0;
    size_t best = 0;
    for (size_t k = x->first[i]; k < x->mv.n && x->mv.m[k].start == i; k++)
        if (match_cls(x, &x->mv.m[k]) == cls && x->mv.m[k].end > best)
            best = x->mv.m[k].end;
    return best;
}

/* Returns the start of a class-cls phrase ending exactly at token e (exclusive), or -1. */
static long class_ending(const xctx *x, size_t e, int cls, size_t max_back)
{
    for (size_t back = 1; back <= max_back && back <= e; back++) {
        size_t s = e - back;
        if (class_at(x, s, cls) == e)
            return (long)s;
    }
    return -1;
}

static int cmp_match(const void *a, const void *b)
{
    const lex_match *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

static relief_span span_of(const xctx *x, size_t from, size_t to_excl)
{
    return (relief_span){x->t->tok[from].start, x->t->tok[to_excl - 1].end};
}

static const char *W(const xctx *x, size_t i)
{
    return i < x->t->n ? tok_str(x->t, i) : "";
}

/* ---- numbers ---- */

/* Number words come from the kb ([numbers] of kb/lang/CODE.kb). */
static double small_numword(const xctx *x, const char *w)
{
    double v;
    int k = kb_number_word(x->kb, w, &v);
    return k == NUM_VALUE || k == NUM_ARTICLE ? v : -1;
}

static double multiplier(const xctx *x, const char *w)
{
    if (!strcmp(w, "k")) /* "3k", "15k": the same in every language */
        return 1000;
    double v;
    int k = kb_number_word(x->kb, w, &v);
    /* "trois cent", "dos mil": a hundred or a thousand after a number multiplies it. */
    return k == NUM_MULT || (k == NUM_VALUE && (v == 100 || v == 1000)) ? v : 0;
}

static bool is_article(const xctx *x, const char *w)
{
    double v;
    return kb_number_word(x->kb, w, &v) == NUM_ARTICLE;
}

/* Reads a number at token i: digits ("3,000", "2.5"), a glued or following
 * multiplier ("3k", "2 million"), or number words ("two hundred", "a
 * dozen"). Returns the token after it, or 0 when there is none. The bare
 * articles "a"/"an"/"un"/"une" only count before a multiplier or a unit word
 * handled by callers, so they are rejected here unless allow_article. */
static size_t read_number(const xctx *x, size_t i, double *value, bool allow_article, bool *vague)
{
    const token_list *t = x->t;
    if (i >= t->n)
        return 0;
    double v;
    size_t j = i + 1;
    if (t->tok[i].kind == TOK_NUMBER) {
        v = t->tok[i].num;
    } else {
        const char *w = tok_str(t, i);
        double vv;
        if (kb_number_word(x->kb, w, &vv) == NUM_VAGUE) {
            /* "hundreds of", "dozens": an order of magnitude, flagged vague */
            *value = vv;
            if (vague)
                *vague = true;
            return i + 1 < t->n && !strcmp(W(x, i + 1), "of") ? i + 2 : i + 1;
        }
        v = small_numword(x, w);
        if (v < 0)
            return 0;
        bool article = is_article(x, w);
        /* "twenty five" */
        if (v >= 20 && v < 100 && j < t->n) {
            double u = small_numword(x, W(x, j));
            if (u >= 1 && u <= 9) {
                v += u;
                j++;
            }
        }
        if (article && !allow_article && !(j < t->n && multiplier(x, W(x, j)) > 0))
            return 0;
    }
    while (j < t->n && t->tok[j].kind == TOK_WORD && t->tok[j].sentence == t->tok[i].sentence) {
        double m = multiplier(x, W(x, j));
        if (m == 0)
            break;
        /* "3k" must be glued; "3 thousand" spaced; both fine. */
        v *= m;
        j++;
    }
    if (!isfinite(v) || v > 1e10)
        return 0;
    *value = v;
    return j;
}

/* ---- time available ---- */

static void set_qty(relief_quantity *q, double v, relief_span sp, bool keep_max)
{
    if (q->known && keep_max && q->value >= v)
        return;
    if (q->known && !keep_max)
        return;
    q->known = true;
    q->value = v;
    q->span = sp;
}

/* set_qty for the count being read (extract_number): also records whether
 * it is vague and the high end of a range when this mention wins. */
static void set_count(xctx *x, relief_quantity *q, double v, relief_span sp, bool keep_max)
{
    set_qty(q, v, sp, keep_max);
    if (q->known && q->span.start == sp.start && q->value == v) {
        q->vague = x->cur_vague;
        q->high = x->cur_high;
    }
}

static void set_time(xctx *x, double seconds, relief_span sp)
{
    relief_quantity *q = &x->f->time_s;
    /* The tightest deadline stated is the one that matters. */
    if (q->known && q->value <= seconds)
        return;
    q->known = true;
    q->value = seconds;
    q->span = sp;
}

/* A vague word ("imminent") gives a time only when the report states no
 * figure: a stated "45 min" always wins (applied in guide_extract). */
static void set_vague_time(xctx *x, double seconds, relief_span sp)
{
    if (x->vague_time == 0 || seconds < x->vague_time) {
        x->vague_time = seconds;
        x->vague_time_span = sp;
    }
}

static double unit_seconds(const xctx *x, size_t j, size_t *end)
{
    size_t e;
    if ((e = class_at(x, j, LX_UNIT_MIN))) { *end = e; return 60; }
    if ((e = class_at(x, j, LX_UNIT_HOUR))) { *end = e; return 3600; }
    if ((e = class_at(x, j, LX_UNIT_DAY))) { *end = e; return 86400; }
    return 0;
}

/* "by 3pm", "before 15:00", "until 6 am": seconds from now, or -1. */
static double clock_deadline(const xctx *x, size_t i, size_t *end)
{
    const token_list *t = x->t;
    if (i >= t->n || t->tok[i].kind != TOK_NUMBER)
        return -1;
    double hh = t->tok[i].num, mm = 0;
    size_t j = i + 1;
    if (hh != floor(hh) || hh > 24)
        return -1;
    if (j < t->n && t->tok[j].kind == TOK_NUMBER && t->tok[j].sep == ':' && t->tok[j].num < 60) {
        mm = t->tok[j].num;
        j++;
    }
    bool clock = mm > 0 || (j < t->n && t->tok[j - 1].end < t->tok[j].start + 1 && j > i + 1);
    if (j < t->n) {
        const char *w = W(x, j);
        if (!strcmp(w, "pm") || !strcmp(w, "p")) {
            if (hh < 12) hh += 12;
            clock = true;
            j++;
        } else if (!strcmp(w, "am") || !strcmp(w, "a")) {
            if (hh == 12) hh = 0;
            clock = true;
            j++;
        } else if (!strcmp(w, "h") && t->tok[j].glued) {
            clock = true;
            j++;
        }
    }
    if (!clock)
        return -1;
    struct tm tm;
    localtime_r(&x->now, &tm);
    double now_s = tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec;
    double target = hh * 3600 + mm * 60;
    double d = target - now_s;
    if (d <= 0)
        d += 86400;
    *end = j;
    return d;
}

static double seconds_until_hour(const xctx *x, int hour)
{
    struct tm tm;
    localtime_r(&x->now, &tm);
    double now_s = tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec;
    double d = hour * 3600.0 - now_s;
    return d > 0 ? d : d + 86400;
}

/* "tomorrow": until 09:00 on the next calendar day. */
static double seconds_until_tomorrow_morning(const xctx *x)
{
    struct tm tm;
    localtime_r(&x->now, &tm);
    double d = seconds_until_hour(x, 9);
    return tm.tm_hour < 9 ? d + 86400 : d;
}

static void extract_time_words(xctx *x, size_t i)
{
    const token_list *t = x->t;
    const char *w = W(x, i);
    const char *n1 = W(x, i + 1), *n2 = W(x, i + 2);
    /* "within the hour", "half an hour", "any minute" */
    if ((!strcmp(w, "within") || !strcmp(w, "in")) && !strcmp(n1, "the") && !strcmp(n2, "hour"))
        set_time(x, 3600, span_of(x, i, i + 3));
    else if (!strcmp(w, "half") && (!strcmp(n1, "an") || !strcmp(n1, "a")) && !strcmp(n2, "hour"))
        set_time(x, 1800, span_of(x, i, i + 3));
    else if (!strcmp(w, "any") && (!strcmp(n1, "minute") || !strcmp(n1, "moment")))
        set_vague_time(x, 300, span_of(x, i, i + 2));
    else if (!strcmp(w, "imminent") || !strcmp(w, "imminently") || !strcmp(w, "inminente") ||
             !strcmp(w, "imminente") || !strcmp(w, "iminente"))
        set_vague_time(x, 900, span_of(x, i, i + 1));
    else if (!strcmp(w, "tonight") || ((!strcmp(w, "esta") || !strcmp(w, "cette")) &&
                                       (!strcmp(n1, "noche") || !strcmp(n1, "nuit"))))
        set_time(x, seconds_until_hour(x, 21), span_of(x, i, !strcmp(w, "tonight") ? i + 1 : i + 2));
    else if (!strcmp(w, "tomorrow") || !strcmp(w, "manana") || !strcmp(w, "demain"))
        set_time(x, seconds_until_tomorrow_morning(x), span_of(x, i, i + 1));
    else if ((!strcmp(w, "by") || !strcmp(w, "before") || !strcmp(w, "until") || !strcmp(w, "antes") ||
              !strcmp(w, "avant") || !strcmp(w, "vers")) && i + 1 < t->n) {
        size_t j = i + 1;
        if ((!strcmp(W(x, j), "de") || !strcmp(W(x, j), "las") || !strcmp(W(x, j), "la")) && j + 1 < t->n)
            j++;
        if (!strcmp(W(x, j), "las"))
            j++;
        size_t end;
        double d = clock_deadline(x, j, &end);
        if (d > 0)
            set_time(x, d, span_of(x, i, end));
    }
}

/* ---- counts ---- */

static void add_resource(xctx *x, size_t from, size_t to)
{
    if (x->n_res == sizeof x->res / sizeof x->res[0])
        return;
    relief_span sp = span_of(x, from, to);
    x->res[x->n_res].span = sp;
    x->res[x->n_res].text = arena_strndup(x->a, x->text + sp.start, sp.end - sp.start);
    if (x->res[x->n_res].text)
        x->n_res++;
}

static bool object_near(const xctx *x, size_t start, size_t end);

/* Token j is joined to the one before by a single hyphen ("200-300", "Port-au"). */
static bool hyphen_joined(const token_list *t, size_t j)
{
    return j > 0 && t->tok[j].sep == '-' && t->tok[j].start == t->tok[j - 1].end + 1;
}

static relief_quantity *casualty_after(xctx *x, size_t j, size_t *end)
{
    static const int cls[] = {LX_INJURED, LX_DEAD, LX_MISSING, LX_TRAPPED};
    relief_quantity *q[] = {&x->f->injured, &x->f->dead, &x->f->missing, &x->f->trapped};
    for (int k = 0; k < 4; k++) {
        size_t e = class_at(x, j, cls[k]);
        if (e && cls[k] == LX_DEAD && object_near(x, j, e))
            continue; /* "2 phones dead" */
        if (e) {
            *end = e;
            return q[k];
        }
    }
    return NULL;
}

/* True when a number ends right before token e ("3 dead": e = "dead"). */
static bool number_ends_at(const xctx *x, size_t e)
{
    const token_list *t = x->t;
    if (e == 0)
        return false;
    if (t->tok[e - 1].kind == TOK_NUMBER)
        return true;
    double v;
    return kb_number_word(x->kb, W(x, e - 1), &v) >= 0 && kb_number_word(x->kb, W(x, e - 1), &v) != NUM_ARTICLE;
}

/* A word that may stand between a number and its noun ("3,000 more
 * people", "centinaia di persone"): kb/extract.kb and kb/lang, class filler. */
static bool is_filler(const xctx *x, size_t k)
{
    return class_at(x, k, LX_FILLER) == k + 1;
}

static void extract_number(xctx *x, size_t i)
{
    const token_list *t = x->t;
    double v;
    bool vague = false;
    /* The second number of a range was read with the first. */
    if (i > 0 && t->tok[i].kind == TOK_NUMBER && t->tok[i - 1].kind == TOK_NUMBER && hyphen_joined(t, i) &&
        t->tok[i].num > t->tok[i - 1].num)
        return;
    if (i > 1 && t->tok[i].kind == TOK_NUMBER && t->tok[i - 2].kind == TOK_NUMBER && !strcmp(W(x, i - 1), "to") &&
        t->tok[i].num > t->tok[i - 2].num)
        return;
    size_t j = read_number(x, i, &v, true, &vague);
    if (!j)
        return;
    /* A range: "200-300", "200 to 300". */
    double high = 0;
    if (j < t->n && t->tok[j].kind == TOK_NUMBER && hyphen_joined(t, j) && t->tok[j].num > v)
        high = t->tok[j++].num;
    else if (j + 1 < t->n && !strcmp(W(x, j), "to") && t->tok[j + 1].kind == TOK_NUMBER && t->tok[j + 1].num > v)
        high = t->tok[(j += 2) - 1].num;
    x->cur_vague = vague;
    x->cur_high = high;
    bool from_article = t->tok[i].kind == TOK_WORD && is_article(x, W(x, i)) && j == i + 1;
    uint32_t sent = t->tok[i].sentence;

    /* Durations: "within 2 hours", "in 45 min", "next 3 days", "en 2 horas". */
    size_t ue;
    double unit = unit_seconds(x, j, &ue);
    if (unit > 0) {
        bool before = class_ending(x, i, LX_TIME_BEFORE, 4) >= 0 ||
                      (i >= 1 && (!strcmp(W(x, i - 1), "about") || !strcmp(W(x, i - 1), "approximately")) &&
                       class_ending(x, i - 1, LX_TIME_BEFORE, 4) >= 0);
        bool ago = class_at(x, ue, LX_AGO) || class_ending(x, i, LX_AGO, 2) >= 0;
        size_t away = class_at(x, ue, LX_AWAY); /* "1 hr away", "20 minutes out" */
        if (away && !ago) {
            set_time(x, v * unit, span_of(x, i, away));
            return;
        }
        /* "2-hour drive" style compounds and "for 3 hours" are not deadlines. */
        if (before && !ago) {
            long s = class_ending(x, i, LX_TIME_BEFORE, 4);
            size_t from = s >= 0 ? (size_t)s : i;
            set_time(x, v * unit, span_of(x, from, ue));
        }
        return;
    }
    if (from_article) {
        /* "a boat" is not a count, but "un muerto", "one dead" are */
        size_t e;
        relief_quantity *cq = casualty_after(x, j, &e);
        if (cq)
            set_count(x, cq, v, span_of(x, i, e), true);
        return;
    }
    /* Times of day and dates are not counts. */
    if (j < t->n && t->tok[j].kind == TOK_NUMBER && t->tok[j].sep == ':')
        return;
    if (j < t->n && (!strcmp(W(x, j), "pm") || !strcmp(W(x, j), "am")))
        return;

    /* "killing 12", "death toll rises to 40", "injuring 3". */
    /* Not across punctuation: "12 injured, 3 dead" gives 3 dead, not 3 injured. */
    for (size_t back = 1; back <= 4 && back <= i && !t->tok[i].sep; back++) {
        size_t s = i - back;
        if (t->tok[s].sentence != sent)
            break;
        size_t e, e_fwd;
        relief_quantity *cq = casualty_after(x, s, &e);
        /* "3 dead 12 hurt": "dead" belongs to the 3 before it, and 12 to the
         * "hurt" after it; "killing 12" has no number before its word. */
        if (cq && ((s > 0 && number_ends_at(x, s)) || casualty_after(x, j, &e_fwd)))
            cq = NULL;
        if (cq && e <= i && (e == i || !strcmp(W(x, e), "to") || !strcmp(W(x, e), "at") ||
                             !strcmp(W(x, e), "of") || !strcmp(W(x, e), "rises") || !strcmp(W(x, e), "reaches") ||
                             !strcmp(W(x, e), "climbs") || !strcmp(W(x, e), "stands"))) {
            set_count(x, cq, v, span_of(x, s, j), true);
            return;
        }
    }
    /* Skip up to two filler words: "3,000 more people", "12 of the residents". */
    size_t k = j;
    for (int skip = 0; skip < 3 && k < t->n && t->tok[k].sentence == sent; skip++) {
        size_t e;
        relief_quantity *cq;
        if ((e = class_at(x, k, LX_HOUSEHOLD))) {
            set_count(x, &x->f->people, v * x->kb->household_size, span_of(x, i, e), true);
            if (x->f->people.span.start == t->tok[i].start)
                x->f->people_from_households = true;
            return;
        }
        if ((cq = casualty_after(x, k, &e))) {
            set_count(x, cq, v, span_of(x, i, e), true);
            return;
        }
        if ((e = class_at(x, k, LX_PEOPLE))) {
            /* "5 people injured": casualty right after the people word. */
            size_t e2;
            size_t c = e;
            if (c < t->n && (!strcmp(W(x, c), "were") || !strcmp(W(x, c), "are") || !strcmp(W(x, c), "have")))
                c++;
            if (c < t->n && !strcmp(W(x, c), "been"))
                c++;
            if ((cq = casualty_after(x, c, &e2))) {
                set_count(x, cq, v, span_of(x, i, e2), true);
                return;
            }
            set_count(x, &x->f->people, v, span_of(x, i, e), true);
            if (x->f->people.span.start == t->tok[i].start)
                x->f->people_from_households = false; /* this mention won */
            return;
        }
        if ((e = class_at(x, k, LX_RESOURCE))) {
            add_resource(x, i, e);
            return;
        }
        if (!is_filler(x, k))
            break;
        k++;
    }
    /* "population of 3,000", "3,000 residents" handled above. */
    if (i >= 2 && !strcmp(W(x, i - 1), "of") && !strcmp(W(x, i - 2), "population"))
        set_count(x, &x->f->people, v, span_of(x, i - 2, j), true);
}

/* ---- places ---- */

static void add_location(xctx *x, relief_loc_kind kind, size_t from, size_t to, double lat, double lon)
{
    relief_span sp = span_of(x, from, to);
    for (size_t i = 0; i < x->n_locs; i++) /* overlapping mention already recorded */
        if (sp.start < x->locs[i].span.end && x->locs[i].span.start < sp.end)
            return;
    if (x->n_locs == sizeof x->locs / sizeof x->locs[0])
        return;
    relief_location *l = &x->locs[x->n_locs];
    l->kind = kind;
    l->span = sp;
    l->lat = lat;
    l->lon = lon;
    l->text = arena_strndup(x->a, x->text + sp.start, sp.end - sp.start);
    if (l->text)
        x->n_locs++;
}

static bool is_connector(const char *w)
{
    /* "Rio Grande do Sul", "Reggio di Calabria", "Saint-Jean-de-Luz" */
    static const char *const links[] = {"of", "de", "del", "la", "le", "du", "des", "el", "do", "da",
                                        "dos", "das", "di", "della", "dei", "les"};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (!strcmp(w, links[i]))
            return true;
    return false;
}

static bool is_month_or_day(const char *w)
{
    static const char *const names[] = {"january", "february", "march", "april", "may", "june", "july",
                                        "august", "september", "october", "november", "december", "monday",
                                        "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                        "the", "i", "we", "my", "our", "a", "an"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(w, names[i]))
            return true;
    return false;
}

/* Capitalised run starting at i: "Riverside", "San Juan de Dios". Returns end or 0. */
static size_t capital_run(const xctx *x, size_t i)
{
    const token_list *t = x->t;
    size_t j = i;
    while (j < t->n && t->tok[j].kind == TOK_WORD && t->tok[j].sentence == t->tok[i].sentence) {
        if (t->tok[j].capital && !is_month_or_day(W(x, j)) && !(j > i && t->tok[j].sep && t->tok[j].sep != '-' &&
                                                                 t->tok[j].sep != '\'' && t->tok[j].sep != '.')) {
            j++;
        } else if (j > i && hyphen_joined(t, j) && j + 1 < t->n && hyphen_joined(t, j + 1) &&
                   t->tok[j + 1].capital && t->tok[j + 1].sentence == t->tok[i].sentence) {
            /* "Port-au-Prince", "Saint-Jean-de-Luz": hyphens bind lower-case links */
            j++;
        } else if (j > i && is_connector(W(x, j))) {
            /* "San Juan de Dios", "Rue de la Paix": connectors count only
             * when a capitalised word follows them. */
            size_t k = j;
            while (k < t->n && k < j + 3 && is_connector(W(x, k)) && t->tok[k].sentence == t->tok[i].sentence)
                k++;
            if (k < t->n && k > j && t->tok[k].capital && t->tok[k].sentence == t->tok[i].sentence)
                j = k;
            else
                break;
        } else {
            break;
        }
    }
    return j > i ? j : 0;
}

/* A place written in lower case after a preposition, as hurried phone
 * text has it ("in norman", "em petropolis", "nan delmas"): words that the
 * kb does not know and that no installed dictionary knows in lower case
 * (a proper noun is in the dictionaries capitalised, or not at all).
 * Returns the end of the run, or 0. */
static size_t lowercase_name_run(const xctx *x, size_t i)
{
    const token_list *t = x->t;
    size_t j = i;
    while (j < t->n && j < i + 3 && t->tok[j].kind == TOK_WORD && !t->tok[j].capital &&
           t->tok[j].sentence == t->tok[i].sentence && (j == i || !t->tok[j].sep || hyphen_joined(t, j))) {
        const char *w = W(x, j);
        double v;
        if (t->tok[j].norm_len < 3 || t->tok[j].norm_len > 40 || x->first[j] != UINT32_MAX ||
            kb_number_word(x->kb, w, &v) >= 0 || speller_kb_word(x->kb, w))
            break;
        char orig[128];
        size_t on = t->tok[j].end - t->tok[j].start;
        if (on >= sizeof orig)
            break;
        memcpy(orig, x->text + t->tok[j].start, on);
        orig[on] = '\0';
        /* The report's own language decides ("sa tondo" is a place in a
         * Tagalog report though Italian has the word); a language without a
         * dictionary (Haitian Creole) asks every installed one. */
        int known = speller_known_word(x->lang, orig);
        if (known < 0)
            known = speller_known_anywhere(orig);
        if (known != 0)
            break; /* a word of the language, or no dictionary to tell */
        j++;
    }
    return j > i ? j : 0;
}

static void extract_places(xctx *x)
{
    const token_list *t = x->t;
    for (size_t i = 0; i < t->n; i++) {
        /* Street address: [number] Capitalised... street-word ("12 Elm St", "Elm Street"). */
        size_t se = class_at(x, i, LX_STREET);
        if (se && i > 0 && t->tok[i - 1].kind == TOK_WORD && t->tok[i - 1].capital &&
            t->tok[i - 1].sentence == t->tok[i].sentence && !t->tok[i].sep) {
            size_t s = i - 1;
            while (s > 0 && t->tok[s - 1].kind == TOK_WORD && t->tok[s - 1].capital && !t->tok[s].sep &&
                   t->tok[s - 1].sentence == t->tok[i].sentence && i - s < 4)
                s--;
            if (s > 0 && t->tok[s - 1].kind == TOK_NUMBER && !t->tok[s].sep)
                s--;
            if (t->tok[i].capital || t->tok[s].kind == TOK_NUMBER)
                add_location(x, RELIEF_LOC_ADDRESS, s, se, 0, 0);
        }
        /* Latitude, longitude: "40.71, -74.00" or "40.71N 74.00W". */
        if (t->tok[i].kind == TOK_NUMBER && i + 1 < t->n && t->tok[i + 1].kind == TOK_NUMBER &&
            strchr(W(x, i), '.') && strchr(W(x, i + 1), '.') && i + 1 < t->n) {
            double lat = t->tok[i].num, lon = t->tok[i + 1].num;
            if (t->tok[i].sep == '-')
                lat = -lat;
            if (t->tok[i + 1].sep == '-')
                lon = -lon;
            if (fabs(lat) <= 90 && fabs(lon) <= 180)
                add_location(x, RELIEF_LOC_COORDS, i, i + 2, lat, lon);
        } else if (t->tok[i].kind == TOK_NUMBER && i + 3 < t->n && t->tok[i + 2].kind == TOK_NUMBER &&
                   strchr(W(x, i), '.') && strchr(W(x, i + 2), '.')) {
            const char *ns = W(x, i + 1), *ew = W(x, i + 3);
            if ((!strcmp(ns, "n") || !strcmp(ns, "s")) && (!strcmp(ew, "e") || !strcmp(ew, "w"))) {
                double lat = t->tok[i].num * (!strcmp(ns, "s") ? -1 : 1);
                double lon = t->tok[i + 2].num * (!strcmp(ew, "w") ? -1 : 1);
                if (fabs(lat) <= 90 && fabs(lon) <= 180)
                    add_location(x, RELIEF_LOC_COORDS, i, i + 4, lat, lon);
            }
        }
        /* Street word first (Spanish, French): "Calle Prat", "Rue de la Paix". */
        if (se && t->tok[i].capital && se < t->n && t->tok[se].sentence == t->tok[i].sentence && !t->tok[se].sep) {
            size_t k = se;
            while (k < t->n && k < se + 3 && is_connector(W(x, k)))
                k++;
            size_t ce = k < t->n && t->tok[k].sentence == t->tok[i].sentence ? capital_run(x, k) : 0;
            if (ce)
                add_location(x, RELIEF_LOC_ADDRESS, i, ce, 0, 0);
        }
        /* "the coast of Valparaiso", "city of Lima", "provincia de Bohol". */
        if (i > 0 && (!strcmp(W(x, i), "of") || !strcmp(W(x, i), "de") || !strcmp(W(x, i), "du")) &&
            class_at(x, i - 1, LX_PLACE_NOUN) == i && i + 1 < t->n && !t->tok[i + 1].sep &&
            t->tok[i + 1].sentence == t->tok[i].sentence) {
            size_t ce = capital_run(x, i + 1);
            if (ce)
                add_location(x, RELIEF_LOC_PLACE, i + 1, ce, 0, 0);
        }
        /* Preposition + capitalised place: "in Riverside", "near San Marcos". */
        size_t pe = class_at(x, i, LX_LOC_PREP);
        if (pe && pe < t->n && t->tok[pe].sentence == t->tok[i].sentence) {
            size_t ce = capital_run(x, pe);
            if (ce) {
                size_t ae = ce < t->n ? class_at(x, ce, LX_STREET) : 0;
                add_location(x, ae && t->tok[ce].capital ? RELIEF_LOC_ADDRESS : RELIEF_LOC_PLACE, pe,
                             ae && t->tok[ce].capital ? ae : ce, 0, 0);
            } else if ((ce = lowercase_name_run(x, pe))) {
                add_location(x, RELIEF_LOC_PLACE, pe, ce, 0, 0);
            }
        }
        /* Words that introduce a place only before a capitalised name: "1 hr
         * away from Paradise", "calle Bolívar de Caracas", "no Recife". */
        size_t ne = class_at(x, i, LX_NAME_PREP);
        if (ne && ne < t->n && t->tok[ne].sentence == t->tok[i].sentence && !t->tok[ne].sep) {
            size_t ce = capital_run(x, ne);
            /* "on Elm St", "on Calle Prat": an address, left to the street rules. */
            for (size_t k = ne; ce && k <= ce && k < t->n; k++)
                if (class_at(x, k, LX_STREET))
                    ce = 0;
            if (ce)
                add_location(x, RELIEF_LOC_PLACE, ne, ce, 0, 0);
        }
    }
}

/* ---- flags ---- */

static void set_flag(relief_flag *fl, relief_span sp)
{
    if (!fl->present) {
        fl->present = true;
        fl->span = sp;
    }
}

/* True when a thing ("phone", "battery", "car") stands within two words
 * before a death word, or right after it, in the same sentence. */
static bool object_near(const xctx *x, size_t start, size_t end)
{
    const token_list *t = x->t;
    uint32_t sent = t->tok[start].sentence;
    for (size_t k = start > 3 ? start - 3 : 0; k < start; k++)
        if (t->tok[k].sentence == sent && class_at(x, k, LX_OBJECT))
            return true;
    return end < t->n && t->tok[end].sentence == sent && class_at(x, end, LX_OBJECT);
}

static void extract_flags(xctx *x)
{
    const token_list *t = x->t;
    for (size_t k = 0; k < x->mv.n; k++) {
        const lex_match *m = &x->mv.m[k];
        int cls = match_cls(x, m);
        relief_span sp = span_of(x, m->start, m->end);
        if (cls >= LX_COUNT) {
            x->tags |= 1ull << (cls - LX_COUNT);
        } else if (cls < LX_INFRA_FIRST) {
            set_flag(&x->f->vulnerable[cls - LX_VG_FIRST], sp);
        } else if (cls < LX_DAMAGE) {
            /* A system counts as affected when a damage word is near it. */
            uint32_t sent = t->tok[m->start].sentence;
            size_t lo = m->start > WINDOW ? m->start - WINDOW : 0;
            size_t hi = m->end + WINDOW < t->n ? m->end + WINDOW : t->n;
            for (size_t i = lo; i < hi; i++) {
                if (t->tok[i].sentence != sent || (i >= m->start && i < m->end))
                    continue;
                size_t e = class_at(x, i, LX_DAMAGE);
                if (e) {
                    size_t a = i < m->start ? i : m->start, b = e > m->end ? e : m->end;
                    set_flag(&x->f->infra[cls - LX_INFRA_FIRST], span_of(x, a, b));
                    break;
                }
            }
        } else if (cls == LX_INFRA_OUT) {
            set_flag(&x->f->infra[RELIEF_INFRA_POWER], sp);
        } else if (cls == LX_COASTAL) {
            set_flag(&x->f->coastal, sp);
        } else if (cls == LX_NIGHT) {
            set_flag(&x->f->night, sp);
        } else if (cls == LX_TRAPPED || cls == LX_MISSING || cls == LX_INJURED || cls == LX_DEAD) {
            relief_quantity *q = cls == LX_TRAPPED ? &x->f->trapped : cls == LX_MISSING ? &x->f->missing
                               : cls == LX_INJURED ? &x->f->injured : &x->f->dead;
            /* "my phone died", "the battery is dead", "dead battery": things die, people are not dead */
            if (cls == LX_DEAD && object_near(x, m->start, m->end))
                continue;
            /* "no one trapped", "nobody injured" */
            bool negated = false;
            for (size_t i = m->start > 3 ? m->start - 3 : 0; i < m->start; i++) {
                const char *w = tok_str(t, i);
                if (!strcmp(w, "no") || !strcmp(w, "nobody") || !strcmp(w, "not") || !strcmp(w, "none") ||
                    !strcmp(w, "without") || !strcmp(w, "zero") || !strcmp(w, "sin") || !strcmp(w, "aucun") ||
                    !strcmp(w, "personne"))
                    negated = true;
            }
            if (!negated && !q->mentioned) {
                q->mentioned = true;
                if (!q->known)
                    q->span = sp;
            }
        }
    }
}

int guide_extract(const relief_kb *kb, const char *text, const token_list *t, const char *lang, arena *a,
                  long long now, relief_facts *out)
{
    memset(out, 0, sizeof *out);
    xctx x;
    memset(&x, 0, sizeof x);
    x.kb = kb;
    x.text = text;
    x.lang = lang ? lang : "en";
    x.t = t;
    x.a = a;
    x.f = out;
    x.now = now ? (time_t)now : time(NULL);
    if (t->n == 0)
        return 0;
    if (lexicon_find(&kb->lex, t, &x.mv) < 0)
        return -1;
    if (x.mv.n)
        qsort(x.mv.m, x.mv.n, sizeof *x.mv.m, cmp_match);
    x.first = malloc(t->n * sizeof *x.first);
    if (!x.first) {
        free(x.mv.m);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++)
        x.first[i] = UINT32_MAX;
    for (size_t k = x.mv.n; k-- > 0;)
        x.first[x.mv.m[k].start] = (uint32_t)k;

    for (size_t i = 0; i < t->n; i++) {
        extract_time_words(&x, i);
        extract_number(&x, i);
    }
    extract_places(&x);
    extract_flags(&x);
    if (!out->time_s.known && x.vague_time > 0) {
        out->time_s.known = true;
        out->time_s.value = x.vague_time;
        out->time_s.span = x.vague_time_span;
    }
    if (out->trapped.known && out->trapped.value > 0)
        out->trapped.mentioned = true;

    size_t n_tags = 0;
    for (uint32_t i = 0; i < kb->tags.n; i++)
        n_tags += (x.tags >> i) & 1;
    out->tags = arena_calloc(a, n_tags ? n_tags : 1, sizeof *out->tags);
    if (out->tags)
        for (uint32_t i = 0; i < kb->tags.n; i++)
            if ((x.tags >> i) & 1)
                out->tags[out->n_tags++] = kb->tags.names[i];
    out->locations = arena_calloc(a, x.n_locs ? x.n_locs : 1, sizeof *out->locations);
    out->resources = arena_calloc(a, x.n_res ? x.n_res : 1, sizeof *out->resources);
    int rc = (out->locations && out->resources && out->tags) ? 0 : -1;
    if (rc == 0) {
        memcpy(out->locations, x.locs, x.n_locs * sizeof *x.locs);
        out->n_locations = x.n_locs;
        memcpy(out->resources, x.res, x.n_res * sizeof *x.res);
        out->n_resources = x.n_res;
    }
    free(x.first);
    free(x.mv.m);
    return rc;
}
