/*
 * test_cond.c - the kb condition language (src/guide/cond.c, grammar in
 * docs/kb-format.md): every fact, unit and operator, precedence and
 * parentheses, unknown numbers, and every syntax error with its message,
 * on facts built by hand.
 */
#include "check.h"
#include "guide/guide_int.h"

#include <stdlib.h>
#include <string.h>

static arena A;
static kb_tags T; /* the tag table conditions intern into */

/* Parses text (expected to be valid): 1 or 0 as it holds in env, or -1
 * when it did not parse (the error is printed). */
static int eval(const char *text, const cond_env *env)
{
    char err[256] = "";
    cond *c = cond_parse(&A, text, &T, err, sizeof err);
    if (!c) {
        fprintf(stderr, "'%s' did not parse: %s\n", text, err);
        return -1;
    }
    return cond_eval(c, env) ? 1 : 0;
}

#define CHECK_COND(text, env, expect) \
    CHECK_MSG(eval(text, env) == (expect), "'%s' should be %s", text, (expect) ? "true" : "false")

/* Parsing text must fail with exactly the message msg. */
static void check_error_in(kb_tags *tags, const char *text, const char *msg)
{
    char err[256] = "";
    cond *c = cond_parse(&A, text, tags, err, sizeof err);
    CHECK_MSG(c == NULL && !strcmp(err, msg), "'%s': got %s, message \"%s\"; want \"%s\"", text,
              c ? "a condition" : "NULL", err, msg);
}
#define CHECK_ERROR(text, msg) check_error_in(&T, text, msg)

static relief_quantity qty(double v)
{
    return (relief_quantity){.known = true, .value = v};
}

static void test_numbers(void)
{
    relief_facts f = {0};
    cond_env env = {.facts = &f, .days = 3};

    /* time: seconds, and each unit (s, min, h, d; "m" is read as minutes too). */
    f.time_s = qty(1800);
    CHECK_COND("time", &env, 1);
    CHECK_COND("time == 1800", &env, 1);
    CHECK_COND("time == 1800s", &env, 1);
    CHECK_COND("time == 30min", &env, 1);
    CHECK_COND("time == 30m", &env, 1);
    CHECK_COND("time == 0.5h", &env, 1);
    CHECK_COND("time <= 30min", &env, 1);
    CHECK_COND("time < 30min", &env, 0);
    CHECK_COND("time < 31min", &env, 1);
    CHECK_COND("time > 29min", &env, 1);
    CHECK_COND("time >= 30min", &env, 1);
    CHECK_COND("time > 30min", &env, 0);
    CHECK_COND("time < 1h", &env, 1);
    CHECK_COND("time > 1h", &env, 0);
    CHECK_COND("time < 1801s", &env, 1);
    CHECK_COND("time < 1800s", &env, 0);
    CHECK_COND("time == 30", &env, 0); /* bare numbers are seconds */
    f.time_s = qty(2 * 86400);
    CHECK_COND("time == 2d", &env, 1);
    CHECK_COND("time == 48h", &env, 1);
    CHECK_COND("time > 1d", &env, 1);
    CHECK_COND("time < 1.5d", &env, 0);
    CHECK_COND("time < 2.5d", &env, 1);
    CHECK_COND("time == 172800", &env, 1);
    /* A known time of 0 is still a stated time. */
    f.time_s = qty(0);
    CHECK_COND("time", &env, 1);
    CHECK_COND("time <= 0", &env, 1);
    CHECK_COND("time < 0", &env, 0);
    /* No time stated: the fact is false and every comparison too. */
    f.time_s = (relief_quantity){0};
    CHECK_COND("time", &env, 0);
    CHECK_COND("time < 1h", &env, 0);
    CHECK_COND("time > 1h", &env, 0);
    CHECK_COND("time >= 0", &env, 0);
    CHECK_COND("time == 0", &env, 0);
    CHECK_COND("not time < 1h", &env, 1);
    CHECK_COND("not time >= 1h", &env, 1);

    /* Counts: alone = mentioned or > 0; compared only when known. */
    static const char *const names[] = {"people", "injured", "dead", "missing", "trapped"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        relief_facts g = {0};
        relief_quantity *q[] = {&g.people, &g.injured, &g.dead, &g.missing, &g.trapped};
        cond_env e = {.facts = &g, .days = 3};
        char t[64];
        const char *n = names[i];
#define EXPECT(expect, ...)                                                                                   \
    do {                                                                                                    \
        snprintf(t, sizeof t, __VA_ARGS__);                                                                 \
        CHECK_COND(t, &e, expect);                                                                          \
    } while (0)
        EXPECT(0, "%s", n);                /* not reported */
        EXPECT(0, "%s < 1000000", n);      /* unknown number: every comparison false */
        EXPECT(0, "%s >= 0", n);
        EXPECT(0, "%s == 0", n);
        EXPECT(1, "not %s > 0", n);
        q[i]->mentioned = true;            /* "people trapped", no count */
        EXPECT(1, "%s", n);
        EXPECT(0, "%s > 0", n);
        EXPECT(0, "%s <= 1000000", n);
        q[i]->mentioned = false;
        *q[i] = qty(0);                    /* "no one injured" */
        EXPECT(0, "%s", n);
        EXPECT(1, "%s == 0", n);
        EXPECT(1, "%s <= 0", n);
        EXPECT(0, "%s > 0", n);
        *q[i] = qty(12);
        EXPECT(1, "%s", n);
        EXPECT(1, "%s == 12", n);
        EXPECT(0, "%s == 12.5", n);
        EXPECT(1, "%s > 11", n);
        EXPECT(0, "%s > 12", n);
        EXPECT(1, "%s >= 12", n);
        EXPECT(0, "%s >= 12.001", n);
        EXPECT(1, "%s < 13", n);
        EXPECT(0, "%s < 12", n);
        EXPECT(1, "%s <= 12", n);
        EXPECT(0, "%s <= 11.99", n);
        EXPECT(1, "%s > 1e1", n);
        EXPECT(0, "%s > 1.2e1", n);
        /* Only this count is set: every other count is still unknown. */
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
            if (j != i)
                EXPECT(0, "%s or %s > 0", names[j], names[j]);
#undef EXPECT
    }

    /* days: the planning horizon, always known. */
    env.days = 0;
    CHECK_COND("days", &env, 0);
    CHECK_COND("days == 0", &env, 1);
    env.days = 7;
    CHECK_COND("days", &env, 1);
    CHECK_COND("days >= 7", &env, 1);
    CHECK_COND("days > 7", &env, 0);
    CHECK_COND("days < 8", &env, 1);
    CHECK_COND("days == 3", &env, 0);
    CHECK_COND("days<=7", &env, 1); /* no blanks needed around an operator */
    f.people = qty(250);
    CHECK_COND("people>200", &env, 1);
    CHECK_COND("(people>=250)and(days==7)", &env, 1);
}

static void test_flags(void)
{
    /* Each name against the public enum it must select (docs/kb-format.md). */
    static const struct { const char *name; int id; } vg[] = {
        {"children", RELIEF_VG_CHILDREN}, {"elderly", RELIEF_VG_ELDERLY}, {"patients", RELIEF_VG_PATIENTS},
        {"disabled", RELIEF_VG_DISABLED}, {"pregnant", RELIEF_VG_PREGNANT}, {"homeless", RELIEF_VG_HOMELESS},
        {"prisoners", RELIEF_VG_PRISONERS}};
    static const struct { const char *name; int id; } infra[] = {
        {"power", RELIEF_INFRA_POWER}, {"water", RELIEF_INFRA_WATER}, {"roads", RELIEF_INFRA_ROADS},
        {"bridges", RELIEF_INFRA_BRIDGES}, {"comms", RELIEF_INFRA_COMMS}, {"hospital", RELIEF_INFRA_HOSPITAL}};
    CHECK(sizeof vg / sizeof vg[0] == RELIEF_VG_COUNT);
    CHECK(sizeof infra / sizeof infra[0] == RELIEF_INFRA_COUNT);

    for (int set = 0; set < RELIEF_VG_COUNT; set++) {
        relief_facts f = {0};
        cond_env env = {.facts = &f, .days = 3};
        f.vulnerable[vg[set].id].present = true;
        for (int k = 0; k < RELIEF_VG_COUNT; k++)
            CHECK_MSG(eval(vg[k].name, &env) == (k == set), "%s with only %s reported", vg[k].name, vg[set].name);
        for (int k = 0; k < RELIEF_INFRA_COUNT; k++)
            CHECK_COND(infra[k].name, &env, 0);
        CHECK_COND("coastal or night or trauma", &env, 0);
    }
    for (int set = 0; set < RELIEF_INFRA_COUNT; set++) {
        relief_facts f = {0};
        cond_env env = {.facts = &f, .days = 3};
        f.infra[infra[set].id].present = true;
        for (int k = 0; k < RELIEF_INFRA_COUNT; k++)
            CHECK_MSG(eval(infra[k].name, &env) == (k == set), "%s with only %s reported", infra[k].name,
                      infra[set].name);
        for (int k = 0; k < RELIEF_VG_COUNT; k++)
            CHECK_COND(vg[k].name, &env, 0);
    }

    relief_facts f = {0};
    cond_env env = {.facts = &f, .days = 3};
    CHECK_COND("coastal", &env, 0);
    CHECK_COND("night", &env, 0);
    f.coastal.present = true;
    CHECK_COND("coastal", &env, 1);
    CHECK_COND("night", &env, 0);
    f.coastal.present = false;
    f.night.present = true;
    CHECK_COND("coastal", &env, 0);
    CHECK_COND("night", &env, 1);

    CHECK_COND("trauma", &env, 0);
    env.trauma = true;
    CHECK_COND("trauma", &env, 1);
    CHECK_COND("not trauma", &env, 0);
    env.trauma = false;

    /* hazard.ID: spelled out for two, then every taxonomy id by its name. */
    env.hazards = 1u << RELIEF_HZ_FLOOD;
    CHECK_COND("hazard.flood", &env, 1);
    CHECK_COND("hazard.dam_failure", &env, 0);
    CHECK_COND("hazard.wildfire", &env, 0);
    env.hazards = 1u << RELIEF_HZ_DAM_FAILURE;
    CHECK_COND("hazard.dam_failure", &env, 1);
    CHECK_COND("hazard.flood", &env, 0);
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        env.hazards = 1u << h;
        for (int k = 0; k < RELIEF_HZ_COUNT; k++) {
            char t[64];
            snprintf(t, sizeof t, "hazard.%s", relief_hazard_name(k));
            CHECK_MSG(eval(t, &env) == (k == h), "%s with only hazard %d", t, h);
        }
        /* A hazard is not the trauma fact, nor a tag. */
        CHECK_COND("trauma", &env, 0);
    }
    env.hazards = 0;
}

static void test_tags(void)
{
    relief_facts f = {0};
    cond_env env = {.facts = &f, .days = 3};
    CHECK(T.n == 0);
    /* Interned in first-use order; the condition marks them used. */
    CHECK_COND("tag.gas", &env, 0);
    CHECK(T.n == 1 && !strcmp(T.names[0], "gas") && T.used == 1);
    CHECK_COND("tag.device and not tag.gas", &env, 0);
    CHECK(T.n == 2 && !strcmp(T.names[1], "device") && T.used == 3);
    CHECK_COND("tag.gas", &env, 0); /* seen again: the same index */
    CHECK(T.n == 2);
    env.tags = 1u << 1; /* the report has a device word */
    CHECK_COND("tag.device", &env, 1);
    CHECK_COND("tag.gas", &env, 0);
    CHECK_COND("tag.device and not tag.gas", &env, 1);
    env.tags = 1u << 0;
    CHECK_COND("tag.device and not tag.gas", &env, 0);
    CHECK_COND("tag.gas", &env, 1);
    /* A tag the loader interned first keeps its index; not marked used until named. */
    CHECK(kb_tag_intern(&T, &A, "cholera", 7) == 2);
    CHECK(T.used == 3);
    env.tags = 1u << 2;
    CHECK_COND("tag.cholera", &env, 1);
    CHECK_COND("tag.gas or tag.device", &env, 0);
    CHECK(T.used == 7);
    /* Tags are not hazards nor flags. */
    CHECK_COND("coastal or night or trauma or hazard.epidemic", &env, 0);
    /* Without a tag table a tag is an unknown fact. */
    check_error_in(NULL, "tag.gas", "unknown fact 'tag.gas' in condition");

    /* 64 tags fit; the 65th is refused; names already in still parse. */
    kb_tags full = {0};
    for (int i = 0; i < KB_MAX_TAGS; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "t%d", i);
        CHECK(kb_tag_intern(&full, &A, name, (size_t)n) == i);
    }
    char err[256];
    cond *c = cond_parse(&A, "tag.t63 and tag.t0", &full, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    env.tags = 1ull << 63 | 1u;
    CHECK(c && cond_eval(c, &env));
    env.tags = 1ull << 63;
    CHECK(c && !cond_eval(c, &env));
    CHECK(full.used == (1ull << 63 | 1u));
    check_error_in(&full, "tag.t1 or tag.more",
                   "too many tags (64 at most) or out of memory at 'tag.more' in condition");
    CHECK(full.n == KB_MAX_TAGS);
}

/* not > and > or, parentheses override, over every truth assignment of
 * three facts (trapped, children, night), against C's own operators. */
static void test_precedence(void)
{
    for (int m = 0; m < 8; m++) {
        bool a = m & 1, b = m & 2, c = m & 4;
        relief_facts f = {0};
        f.trapped.mentioned = a;
        f.vulnerable[RELIEF_VG_CHILDREN].present = b;
        f.night.present = c;
        cond_env env = {.facts = &f, .days = 3};
        static const char *const fmt[] = {
            "trapped or children and night",        /* a || (b && c) */
            "trapped and children or night",        /* (a && b) || c */
            "(trapped or children) and night",      /* (a || b) && c */
            "trapped and (children or night)",      /* a && (b || c) */
            "not trapped and children",             /* !a && b */
            "not (trapped and children)",           /* !(a && b) */
            "not trapped or children",              /* !a || b */
            "not (trapped or children) and night",  /* !(a || b) && c */
            "not not trapped",                      /* a */
            "not ((trapped))",                      /* !a */
            "trapped or children or night",         /* a || b || c */
            "trapped and children and night",       /* a && b && c */
            "trapped and not children or not night and trapped", /* (a && !b) || (!c && a) */
            "((trapped or (children and not night)))", /* a || (b && !c) */
            "not(trapped)and(children)",            /* !a && b: parentheses need no blanks */
            "always",                               /* true */
        };
        bool want[] = {
            a || (b && c), (a && b) || c, (a || b) && c, a && (b || c), !a && b, !(a && b), !a || b,
            !(a || b) && c, a, !a, a || b || c, a && b && c, (a && !b) || (!c && a), a || (b && !c), !a && b, true,
        };
        CHECK(sizeof fmt / sizeof fmt[0] == sizeof want / sizeof want[0]);
        for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++)
            CHECK_MSG(eval(fmt[i], &env) == want[i], "'%s' with trapped=%d children=%d night=%d", fmt[i], a, b, c);
    }
    /* Comparisons inside boolean structure. */
    relief_facts f = {0};
    f.time_s = qty(3600);
    f.people = qty(40);
    cond_env env = {.facts = &f, .days = 3};
    CHECK_COND("time <= 1h and people > 30", &env, 1);
    CHECK_COND("time < 1h or people > 50", &env, 0);
    CHECK_COND("not (time < 1h or people > 50) and days >= 3", &env, 1);
    CHECK_COND("hazard.flood or (time <= 2h and not trapped)", &env, 1);

    /* "always" holds with nothing known; a NULL condition is "always". */
    relief_facts none = {0};
    cond_env empty = {.facts = &none};
    CHECK_COND("always", &empty, 1);
    CHECK(cond_eval(NULL, &empty));
    char err[64];
    cond *c = cond_parse(&A, "always", &T, err, sizeof err);
    CHECK(c && c->kind == C_TRUE);
}

static void test_errors(void)
{
    CHECK_ERROR("", "missing fact at end '' in condition");
    CHECK_ERROR("trapped and", "missing fact at end '' in condition");
    CHECK_ERROR("trapped or", "missing fact at end '' in condition");
    CHECK_ERROR("not", "missing fact at end '' in condition");
    CHECK_ERROR("flooding", "unknown fact 'flooding' in condition");
    CHECK_ERROR("trapped and nothing", "unknown fact 'nothing' in condition"); /* "not" is a whole word */
    CHECK_ERROR("Trapped", "unknown fact 'Trapped' in condition");          /* case matters */
    CHECK_ERROR("hazard.meteor", "unknown fact 'hazard.meteor' in condition");
    CHECK_ERROR("hazard.", "unknown fact 'hazard.' in condition");
    CHECK_ERROR("time < 1h and always", "unknown fact 'always' in condition"); /* only alone */
    CHECK_ERROR("()", "unknown fact ')' in condition");
    CHECK_ERROR("a_very_long_unknown_fact_name_that_goes_on_and_on",
                "unknown fact 'a_very_long_unknown_fact_name_that_goes_' in condition"); /* 40 bytes shown */

    CHECK_ERROR("time < 1w", "unknown time unit 'w' in condition");
    CHECK_ERROR("time < 2hours", "unknown time unit 'hours' in condition");
    CHECK_ERROR("time < 1e", "unknown time unit 'e' in condition");
    CHECK_ERROR("people > 5h", "units are only allowed on time: 'h' in condition");
    CHECK_ERROR("days >= 2d", "units are only allowed on time: 'd' in condition");
    CHECK_ERROR("trapped > 0min", "units are only allowed on time: 'min' in condition");
    /* Letters right after a number are its unit, even "and". */
    CHECK_ERROR("people>=250and days==7", "units are only allowed on time: 'and' in condition");
    CHECK_ERROR("time<1hand days==7", "unknown time unit 'hand' in condition");

    CHECK_ERROR("children > 2", "this fact cannot be compared: 'children' in condition");
    CHECK_ERROR("hospital == 1", "this fact cannot be compared: 'hospital' in condition");
    CHECK_ERROR("coastal < 1", "this fact cannot be compared: 'coastal' in condition");
    CHECK_ERROR("night >= 1", "this fact cannot be compared: 'night' in condition");
    CHECK_ERROR("hazard.flood > 0", "this fact cannot be compared: 'hazard.flood' in condition");
    CHECK_ERROR("trauma <= 1", "this fact cannot be compared: 'trauma' in condition");
    CHECK_ERROR("tag.gas == 1", "this fact cannot be compared: 'tag.gas' in condition");

    CHECK_ERROR("people >", "expected a number, found '' in condition");
    CHECK_ERROR("people > many", "expected a number, found 'many' in condition");
    CHECK_ERROR("people > -1", "expected a number, found '-' in condition");
    CHECK_ERROR("people > +1", "expected a number, found '+' in condition");
    CHECK_ERROR("people > 0x10", "expected a number, found '0x10' in condition");
    CHECK_ERROR("people > inf", "expected a number, found 'inf' in condition");
    CHECK_ERROR("people > nan", "expected a number, found 'nan' in condition");

    CHECK_ERROR("(trapped", "expected ')' before '' in condition");
    CHECK_ERROR("(trapped or (night)", "expected ')' before '' in condition");
    CHECK_ERROR("(trapped night)", "expected ')' before 'night' in condition");
    CHECK_ERROR("trapped)", "unexpected ')' in condition");
    CHECK_ERROR("(trapped))", "unexpected ')' in condition");

    CHECK_ERROR("trapped night", "unexpected 'night' in condition");
    CHECK_ERROR("trapped order", "unexpected 'order' in condition"); /* "or" is a whole word */
    CHECK_ERROR("trapped andy", "unexpected 'andy' in condition");
    CHECK_ERROR("people = 5", "unexpected '=' in condition");
    CHECK_ERROR("people => 5", "unexpected '=' in condition");
    CHECK_ERROR("people != 5", "unexpected '!' in condition");
    CHECK_ERROR("people > 5 5", "unexpected '5' in condition");
    CHECK_ERROR("trapped;", "unexpected ';' in condition");
    CHECK_ERROR("always ", "unknown fact 'always' in condition"); /* "always" must be the whole text */

    /* Nesting: 64 levels of terms are allowed, the 65th is refused (with
     * parentheses, and with "not", which nests the same way). The message
     * shows the byte where the 65th level starts: the fact after 64
     * parentheses, the 65th parenthesis after more. */
    char buf[1024];
    for (int k = 62; k <= 66; k++) {
        size_t o = 0;
        for (int i = 0; i < k; i++)
            buf[o++] = '(';
        memcpy(buf + o, "trapped", 7);
        o += 7;
        for (int i = 0; i < k; i++)
            buf[o++] = ')';
        buf[o] = '\0';
        relief_facts f = {0};
        f.trapped.mentioned = true;
        cond_env env = {.facts = &f};
        if (k + 1 <= 64)
            CHECK_MSG(eval(buf, &env) == 1, "%d parentheses", k);
        else
            CHECK_ERROR(buf, k == 64 ? "condition nested too deeply at 't' in condition"
                                     : "condition nested too deeply at '(' in condition");
        o = 0;
        for (int i = 0; i < k; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "not ");
        snprintf(buf + o, sizeof buf - o, "trapped");
        if (k + 1 <= 64) {
            CHECK_MSG(eval(buf, &env) == !(k & 1), "%d nots", k);
        } else {
            /* (after "not" the byte shown is the blank that follows it) */
            char err[128] = "";
            CHECK(cond_parse(&A, buf, &T, err, sizeof err) == NULL);
            CHECK_MSG(!strncmp(err, "condition nested too deeply at ", 31), "%d nots: %s", k, err);
        }
    }
    /* Depth is nesting, not length: 60 terms side by side parse. */
    size_t o = 0;
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s(night)", i ? " or " : "");
    relief_facts f = {0};
    cond_env env = {.facts = &f};
    CHECK_COND(buf, &env, 0);
    f.night.present = true;
    CHECK_COND(buf, &env, 1);

    /* A message is cut to the buffer, never overrun. */
    char small[12];
    memset(small, 'x', sizeof small);
    CHECK(cond_parse(&A, "flooding", &T, small, 8) == NULL);
    CHECK(!strcmp(small, "unknown") && small[8] == 'x');
}

int main(void)
{
    arena_init(&A, 4096);
    test_numbers();
    test_flags();
    test_tags();
    test_precedence();
    test_errors();
    arena_free(&A);
    return check_summary("test_cond");
}
