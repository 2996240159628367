/*
 * test_kb.c - knowledge-base loading: the shipped kb loads from its
 * directory and matches the embedded copy; every class of malformed file is
 * rejected with an error naming the file and the line.
 *
 * usage: test_kb KB_DIR
 */
#include "check.h"
#include "test_util.h"
#include "relief/guide.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* out = a/b; a path too long for out is a test set-up error (exit 2). */
static void path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "path too long: %s/%s\n", a, b);
        exit(2);
    }
}
static const char *kbdir_arg; /* the shipped kb directory */


static void put(const char *rel, const char *data, size_t len)
{
    char path[1024];
    path_join(path, sizeof path, tmpdir, rel);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static void copy_dir(const char *src, const char *sub)
{
    char path[1024];
    path_join(path, sizeof path, src, sub);
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        exit(2);
    }
    char dst[512];
    path_join(dst, sizeof dst, tmpdir, sub);
    mkdir(dst, 0700);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char in[1024], rel[600];
        path_join(in, sizeof in, path, e->d_name);
        path_join(rel, sizeof rel, sub, e->d_name);
        size_t len;
        char *data = test_read_file(in, &len);
        if (data)
            put(rel, data, len);
        free(data);
    }
    closedir(d);
}

static void unlink_rel(const char *rel)
{
    char path[1024];
    path_join(path, sizeof path, tmpdir, rel);
    unlink(path);
}

/* Replaces hazards/flood.kb with content and expects an error containing want. */
static void expect_error(const char *rel, const char *content, const char *want)
{
    char orig_path[1024];
    path_join(orig_path, sizeof orig_path, tmpdir, rel);
    size_t olen = 0;
    char *orig = test_read_file(orig_path, &olen);
    put(rel, content, strlen(content));
    char *err = NULL;
    relief_kb *kb = relief_kb_load_dir(tmpdir, &err);
    CHECK_MSG(kb == NULL, "expected failure for %s", want);
    CHECK_MSG(err && strstr(err, want), "error '%s' lacks '%s'", err ? err : "(null)", want);
    relief_kb_free(kb);
    free(err);
    if (orig)
        put(rel, orig, olen);
    else
        unlink(orig_path);
    free(orig);
}

#define HEAD "[hazard]\nid: flood\nname: Flood\n\n[cues]\nen 3: flood\n\n"
#define STEP "[step]\nphase: immediate\nrole: operations\ndo: Move people to high ground.\nsource: NWS\n"
/* A step that may stand in the brief (every hazard needs one). */
#define BSTEP STEP "brief: protect\nshort: Move people to high ground.\n"

/* Loads tmpdir with hazards/flood.kb replaced by content and plans report;
 * NULL (with the error printed) when the kb does not load. */
static relief_plan *plan_with(const char *flood_kb, const char *report, relief_kb **kb_out)
{
    put("hazards/flood.kb", flood_kb, strlen(flood_kb));
    char *err = NULL;
    relief_kb *kb = relief_kb_load_dir(tmpdir, &err);
    CHECK_MSG(kb != NULL, "%s", err ? err : "");
    free(err);
    *kb_out = kb;
    return kb ? relief_plan_build(kb, report, strlen(report), NULL) : NULL;
}

static const relief_step *step_with(const relief_plan *p, const char *text)
{
    for (size_t i = 0; p && i < p->n_steps; i++)
        if (strstr(p->steps[i].text, text))
            return &p->steps[i];
    return NULL;
}

static bool in_brief(const relief_plan *p, const char *text)
{
    for (size_t i = 0; p && i < p->n_brief; i++)
        if (strstr(p->brief[i]->text, text))
            return true;
    return false;
}

/* The brief, rules, groups and scopes as mechanisms, on small kb files
 * written here (independent of the shipped content). */
static void test_brief_mechanics(void)
{
    relief_kb *k;
    /* A rule defers a rescue step of its `from` hazards to the second phase, with its note. */
    put("rules.kb", "[brief]\nmax: 8\norder: protect, lifesave, command, warn, rescue, medical, care\n"
        "limit: protect 3, lifesave 2, command 2, warn 1, rescue 2, medical 2, care 1\n\n"
        "[rule]\nid: test-rule\nwhen: hazard.flood and tag.testgas\ndefer: rescue, medical\nfrom: flood\n"
        "note: the test rule holds.\nsource: test\n",
        strlen("[brief]\nmax: 8\norder: protect, lifesave, command, warn, rescue, medical, care\n"
        "limit: protect 3, lifesave 2, command 2, warn 1, rescue 2, medical 2, care 1\n\n"
        "[rule]\nid: test-rule\nwhen: hazard.flood and tag.testgas\ndefer: rescue, medical\nfrom: flood\n"
        "note: the test rule holds.\nsource: test\n"));
    {
        /* The shipped extract.kb plus a test tag (hazard files may name its tags). */
        char path[1024];
        snprintf(path, sizeof path, "%s/extract.kb", kbdir_arg);
        size_t len = 0;
        char *ex = test_read_file(path, &len);
        const char *add = "\n[lexicon]\nclass: tag.testgas\nwords: zorgas\n";
        char *all = malloc(len + strlen(add) + 1);
        if (!ex || !all) {
            fprintf(stderr, "cannot read %s\n", path);
            exit(2);
        }
        memcpy(all, ex, len);
        memcpy(all + len, add, strlen(add) + 1);
        put("extract.kb", all, strlen(all));
        free(ex);
        free(all);
    }
    const char *kbtext = HEAD BSTEP "\n[step]\nphase: immediate\nrole: operations\ndo: Rescue the people in the water.\n"
                         "source: NWS\nbrief: rescue\nshort: Rescue people.\n"
                         "\n[step]\nphase: 2h\nrole: operations\ndo: Keep 50 m away.\nsource: A\ngroup: gap\ndistance: 50 m\n"
                         "\n[step]\nphase: 24h\nrole: operations\ndo: Keep 300 m away.\nsource: B\ngroup: gap\ndistance: 300 m\n"
                         "\n[step]\nphase: immediate\nrole: operations\ndo: Shut the zorgas valve.\nsource: C\nwhen: tag.testgas\n"
                         "brief: protect\nshort: Shut the valve.\n";
    relief_plan *p = plan_with(kbtext, "flood in the valley", &k);
    const relief_step *s = step_with(p, "Rescue the people");
    CHECK(s && s->phase == RELIEF_PHASE_IMMEDIATE && in_brief(p, "Rescue the people"));
    CHECK(step_with(p, "zorgas valve") == NULL); /* scoped to its tag */
    /* Groups: one step per group, the larger distance, in the earlier phase, with a note. */
    const relief_step *g = step_with(p, "Keep 300 m");
    CHECK(g && !step_with(p, "Keep 50 m") && g->phase == RELIEF_PHASE_2H && g->note && strstr(g->note, "50 m"));
    relief_plan_free(p);
    relief_kb_free(k);
    p = plan_with(kbtext, "flood in the valley, smell of zorgas", &k);
    s = step_with(p, "Rescue the people");
    CHECK(s && s->phase == RELIEF_PHASE_2H && s->note && strstr(s->note, "test-rule") && !in_brief(p, "Rescue the"));
    CHECK(step_with(p, "zorgas valve") && in_brief(p, "zorgas valve"));
    /* Brief order: kinds in rules.kb order (protect before rescue). */
    for (size_t i = 1; p && i < p->n_brief; i++)
        CHECK(p->brief[i - 1]->brief_kind <= p->brief[i]->brief_kind);
    relief_plan_free(p);
    relief_kb_free(k);
    unlink_rel("rules.kb");
    unlink_rel("extract.kb");

    /* Validation of the new data. */
    const char *F = "hazards/flood.kb";
    expect_error(F, HEAD STEP "brief: hurry\n", "flood.kb:13: unknown brief kind 'hurry'");
    expect_error(F, HEAD STEP "brief: protect\n", "needs 'short:'");
    expect_error(F, HEAD STEP "brief: protect\nshort: " "Move everyone who lives anywhere near the river to the highest ground "
                 "they can reach on foot, and keep them there until told\n", "a brief line holds at most");
    expect_error(F, HEAD BSTEP "distance: 100 m\n", "distance needs a group");
    expect_error(F, HEAD BSTEP "group: g\ndistance: 100 ft\n", "distance must read 'N m'");
    expect_error(F, HEAD STEP, "hazard 'flood' has no first-30-minute step marked 'brief:'");
    expect_error(F, "[hazard]\nid: flood\nname: x\nzone: leave\n[cues]\nen 3: x\n" STEP "brief: rescue\nshort: x\n",
                 "'zone: leave' but no first-30-minute 'brief: protect' step");
    expect_error(F, "[hazard]\nid: flood\nname: x\nzone: stay\n[cues]\nen 3: x\n" BSTEP, "flood.kb:4: zone must be 'leave'");
    expect_error(F, HEAD BSTEP "when: tag.nosuchtag\n", "tag.nosuchtag, but extract.kb has no [lexicon] class");
    const char *R = "rules.kb";
    expect_error(R, "[rule]\nid: r\nwhen: always\ndefer: protect\nfrom: flood\nnote: n\nsource: s\n",
                 "a rule may not defer 'protect' steps");
    expect_error(R, "[rule]\nid: r\nwhen: always\ndefer: rescue\nfrom: lava\nnote: n\nsource: s\n",
                 "rules.kb:5: unknown hazard id 'lava'");
    expect_error(R, "[brief]\nmax: 8\norder: protect, rescue\nlimit: protect 3\n", "order must name every brief kind once");
    expect_error(R, "[rule]\nid: r\nwhen: always\ndefer: rescue\nnote: n\nsource: s\n", "missing required key 'from'");
    put(F, HEAD BSTEP, strlen(HEAD BSTEP));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_kb KB_DIR\n");
        return 2;
    }
    const char *kbdir = argv[1];
    kbdir_arg = kbdir;
    char *err = NULL;

    /* The shipped kb loads from disk and from the embedded copy. */
    relief_kb *disk = relief_kb_load_dir(kbdir, &err);
    CHECK_MSG(disk != NULL, "%s", err ? err : "");
    free(err);
    relief_kb *emb = relief_kb_load_embedded(&err);
    CHECK_MSG(emb != NULL, "%s", err ? err : "");
    free(err);
    if (disk && emb) {
        for (int h = 0; h < RELIEF_HZ_COUNT; h++)
            CHECK(relief_kb_step_count(disk, h) == relief_kb_step_count(emb, h));
        CHECK(relief_kb_protocol_count(disk) == relief_kb_protocol_count(emb));
    }
    relief_kb_free(disk);
    relief_kb_free(emb);

    snprintf(tmpdir, sizeof tmpdir, "/tmp/relief-test-kb-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    copy_dir(kbdir, "hazards");
    copy_dir(kbdir, "protocols");

    /* A directory override changes the plan: a minimal flood file loads. */
    put("hazards/flood.kb", HEAD BSTEP, strlen(HEAD BSTEP));
    relief_kb *small = relief_kb_load_dir(tmpdir, &err);
    CHECK_MSG(small != NULL, "%s", err ? err : "");
    free(err);
    if (small)
        CHECK(relief_kb_step_count(small, RELIEF_HZ_FLOOD) == 1);
    relief_kb_free(small);

    const char *F = "hazards/flood.kb";
    expect_error(F, HEAD STEP "[step]\nphase: soon\nrole: operations\ndo: x.\nsource: y\n",
                 "flood.kb:14: unknown phase 'soon'");
    expect_error(F, HEAD "[step]\nphase: immediate\nrole: mayor\ndo: x.\nsource: y\n", "flood.kb:10: unknown role 'mayor'");
    expect_error(F, HEAD "[step]\nphase: immediate\nrole: operations\ndo: x.\n", "flood.kb:8: [step] is missing required key 'source'");
    expect_error(F, HEAD STEP "when: trapped and\n", "flood.kb:13: missing fact");
    expect_error(F, HEAD STEP "when: flooded\n", "flood.kb:13: unknown fact 'flooded'");
    expect_error(F, HEAD STEP "when: time < 1week\n", "flood.kb:13: unknown time unit");
    expect_error(F, HEAD STEP "when: (trapped\n", "flood.kb:13: expected ')'");
    expect_error(F, HEAD STEP "priority: 9\n", "flood.kb:13: priority must be 1 to 5");
    expect_error(F, HEAD STEP "color: red\n", "flood.kb:13: unknown key 'color'");
    expect_error(F, HEAD STEP "do: again\n", "flood.kb:13: key 'do' repeated");
    expect_error(F, HEAD "[stepp]\n", "flood.kb:8: unknown section [stepp]");
    expect_error(F, HEAD "[step\n", "flood.kb:8: malformed section header");
    expect_error(F, HEAD "just some words\n", "flood.kb:8: expected 'key: value'");
    expect_error(F, "phase: immediate\n", "flood.kb:1: 'phase:' outside any section");
    expect_error(F, HEAD "[step]\nphase:\n", "flood.kb:9: empty value");
    expect_error(F, "[hazard]\nid: tornado\nname: x\n[cues]\nen 3: x\n" STEP, "does not match the file name");
    expect_error(F, "[hazard]\nid: flood\nname: x\n" STEP, "hazard file has no [cues] section");
    expect_error(F, "[hazard]\nid: flood\nname: x\n[cues]\nen 3: x\n", "hazard 'flood' has no steps");
    expect_error(F, "[hazard]\nid: flood\nname: x\n[cues]\nde 3: flut\n" STEP, "flood.kb:5: unknown cue language 'de'");
    expect_error(F, "[hazard]\nid: flood\nname: x\n[cues]\nen 7: x\n" STEP, "flood.kb:5: cue weight must be 1, 2 or 3");
    expect_error(F, "[hazard]\nid: flood\nname: x\n[cues]\nen 3: a,, b\n" STEP, "flood.kb:5: empty phrase");
    expect_error(F, "[hazard]\nid: flood\nname: x\n[cues]\nen 3: fl*\n" STEP, "shorter than 3 letters");
    expect_error(F, "[hazard]\nid: flood\nname: x\nsecondary: lava | always | x\n[cues]\nen 3: x\n" STEP,
                 "flood.kb:4: unknown secondary hazard 'lava'");
    expect_error(F, "[hazard]\nid: flood\nname: x\nsecondary: tsunami | always\n[cues]\nen 3: x\n" STEP,
                 "flood.kb:4: secondary must be");
    /* NUL: strlen stops at the NUL, so write it explicitly. */
    {
        const char nul[] = HEAD "[step]\nphase: immediate\0\n";
        put(F, nul, sizeof nul - 1);
        relief_kb *k = relief_kb_load_dir(tmpdir, &err);
        CHECK(k == NULL && err && strstr(err, "NUL byte"));
        relief_kb_free(k);
        free(err);
        put(F, HEAD BSTEP, strlen(HEAD BSTEP));
    }
    expect_error("protocols/ics.kb", "[protocol]\nid: ics\nname: x\napplies: sometimes\n" STEP,
                 "ics.kb:4: unknown fact 'sometimes'");
    expect_error("protocols/ics.kb", "[hazard]\nid: flood\n", "a protocol file must start with [protocol]");
    /* A protocol's steps collected before a malformed header are freed (a
     * leak found by fuzz/fuzz_kb.c; LeakSanitizer in `make asan` checks). */
    expect_error("protocols/ics.kb", "[protocol]\nid: ics\nname: x\napplies: always\n\n" STEP "\n" STEP "\n[step\n",
                 "ics.kb:18: malformed section header");
    expect_error("needs.kb", "[need]\nid: w\nlabel: W\nquantity: lots of water\nstandard: S\n", "needs.kb:4: quantity must read");
    expect_error("needs.kb", "[need]\nid: w\nlabel: W\nquantity: 15 L per person per week\nstandard: S\n", "needs.kb:4: quantity must read");
    expect_error("detect.kb", "[detect]\nthreshold: -1\nnegation: no\n", "detect.kb:2: threshold must be");
    expect_error("extract.kb", "[lexicon]\nclass: robots\nwords: r2d2\n", "extract.kb:2: unknown lexicon class 'robots'");

    test_brief_mechanics();

    /* A missing hazard file is named. */
    char path[1024];
    snprintf(path, sizeof path, "%s/hazards/volcano.kb", tmpdir);
    unlink(path);
    relief_kb *k = relief_kb_load_dir(tmpdir, &err);
    CHECK(k == NULL && err && strstr(err, "no file for hazard 'volcano'"));
    relief_kb_free(k);
    free(err);
    /* A missing directory is named. */
    k = relief_kb_load_dir("/nonexistent/relief-kb", &err);
    CHECK(k == NULL && err && strstr(err, "/nonexistent/relief-kb/hazards"));
    relief_kb_free(k);
    free(err);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return check_summary("test_kb");
}
