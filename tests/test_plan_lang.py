#!/usr/bin/env python3
"""test_plan_lang.py RELIEF KB_DIR - plans in the reporter's language (issue 17).

For every language kb-check reports complete ("plans in: en es ..."), and failing when
none but English is: `relief --lang L --example --full` in text and JSON has each step in
L (its own function words from kb/lang/L.kb outnumber English ones) with the numbers of
the English plan's step (read here independently of the C code, by the rule of
docs/kb-format.md), and no English sentence left in the text; the JSON says which
language and why. Then `relief serve`: the API's lang field, Accept-Language, and a
report in a language without plans.
"""
import json
import os
import re
import subprocess
import sys
import urllib.request

relief, kbdir = sys.argv[1], sys.argv[2]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def function_words(lang):
    text = open(os.path.join(kbdir, "lang", lang + ".kb"), encoding="utf-8").read()
    m = re.search(r"^words:(.*(?:\n  .*)*)", text, re.M)
    return {w.strip().lower() for w in m.group(1).replace("\n", " ").split(",") if w.strip()}


def words(text):
    return re.findall(r"[^\W\d_]+", text.lower())


def numbers(text, lang):
    """The numbers of a text as language lang writes them, sorted (designations as written)."""
    out = []
    grp = {"en": r",", "es": r"\.", "pt": r"\.", "fr": r"[ \u00a0\u202f]"}[lang]
    dec = "." if lang == "en" else ","
    tok = re.compile(r"(?:standard|norma|norme|padrão) (\d+\.\d+(?:\.\d+)*)|([A-Za-z][A-Za-z0-9]*\d[A-Za-z0-9]*)"
                     r"|(\d+[:/]\d+(?:[:/]\d+)*)|(\d{1,3}(?:" + grp + r"\d{3})+(?!\d)|\d+)(" + re.escape(dec) + r"\d+)?"
                     r"|[A-Za-z]+", re.I)
    for m in tok.finditer(text):
        sec, des, ratio, num, frac = m.groups()
        if sec:
            out.append("§" + sec)
        elif des:
            out.append(re.sub(r"(\d)s$", r"\1", des))
        elif ratio:
            out.append(ratio)
        elif num:
            v = float(re.sub(grp, "", num) + ("." + frac[1:] if frac else ""))
            out.append("%g" % v)
    return sorted(out)


def run(*args):
    p = subprocess.run([relief, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def needs_rows(text):
    """The rows of the needs table that hold an amount (text output)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("== ") and re.search(r"\b3[ .,\u202f\u00a0]?000\b", l)
                  and i > 10), None)
    rows = []
    for l in lines[start + 1:] if start is not None else []:
        if not l.strip():
            break
        if re.search(r"\d\s+\S+\s{2,}|\d\s{2,}", l[40:]):
            rows.append(l)
    return rows


def amount_ends_at(row, col):
    """Whether the row's amount (right-aligned after the 2 + 52 character
    label column and a blank) has its last digit just before col."""
    return len(row) > col and row[col - 1].isdigit() and row[col] == " " and row[col - 15] == " "


rc, out, _ = run("kb-check")
m = re.search(r"^plans in: (.*)$", out, re.M)
langs = [l for l in (m.group(1).split() if m else []) if l != "en"]
check(rc == 0, "kb-check passes (translations keep their numbers, complete languages lack nothing)")
check(langs, "some language besides English is declared complete (kb/lang/*.kb 'plans: complete')")

english = function_words("en")
rc, out, _ = run("--lang", "en", "--example", "--format", "json")
en_plan = json.loads(out)
for lang in langs:
    own = function_words(lang) - english
    rc, out, err = run("--lang", lang, "--example", "--format", "json")
    check(rc == 0, "%s: plan written (%s)" % (lang, err.strip()))
    plan = json.loads(out)
    check(plan["plan_language"] == {"code": lang, "reason": "requested"}, "%s: plan_language %r" % (lang, plan["plan_language"]))
    check(len(plan["steps"]) == len(en_plan["steps"]), "%s: the same steps as in English" % lang)
    bad_lang = bad_num = with_own = 0
    for s, e in zip(plan["steps"], en_plan["steps"]):
        w = words(s["text"])
        n_own, n_en = sum(x in own for x in w), sum(x in english for x in w)
        with_own += n_own > 0
        if n_en > n_own or s["text"] == e["text"]:
            bad_lang += 1
            print("  %s step %d reads English: %s" % (lang, s["number"], s["text"][:100]))
        if numbers(s["text"], lang) != numbers(e["text"], "en"):
            bad_num += 1
            print("  %s step %d numbers %s vs English %s" % (lang, s["number"], numbers(s["text"], lang),
                                                           numbers(e["text"], "en")))
    check(bad_lang == 0, "%s: every step in %s (%d are not)" % (lang, lang, bad_lang))
    check(with_own >= 0.9 * len(plan["steps"]), "%s: %d of %d steps hold %s function words" %
          (lang, with_own, len(plan["steps"]), lang))
    check(bad_num == 0, "%s: every step has the English step's numbers (%d differ)" % (lang, bad_num))
    # The text: no English sentence left (source citations stay as written).
    rc, text, _ = run("--lang", lang, "--example", "--full", "--no-color")
    left = []
    for line in text.splitlines():
        if re.match(r"\s*(Source|Fuente|Fonte)\b", line):
            continue
        line = re.sub(r"\([^)]*\)$", "", line)  # "(FEMA, step 3)": the cited agency
        w = words(line)
        if sum(x in english for x in w) >= 3 and sum(x in english for x in w) > sum(x in own for x in w):
            left.append(line)
    check(not left, "%s: no English sentence left in the text (%d lines: %s)" % (lang, len(left), left[:3]))
    sep = {"es": "3.000", "pt": "3.000", "fr": "3 000"}[lang]
    check(sep in text, "%s: numbers written as %s" % (lang, sep))
    # The needs table: every amount ends in the same column (counted in
    # characters: accented labels and French narrow no-break spaces are more
    # bytes than characters), long labels on a line of their own.
    rows = needs_rows(text)
    off = [r for r in rows if not amount_ends_at(r, 69)]
    check(len(rows) >= 10 and not off, "%s: the needs table's amounts end in column 69 (%d rows; not: %s)" %
          (lang, len(rows), off[:2]))

# A report in Italian: plans are not written in Italian, so English with a line saying so.
rc, out, _ = run("--format", "json", "Alluvione a Genova: il fiume è esondato, 200 persone sono sui tetti e la "
                 "gente chiede aiuto.")
plan = json.loads(out)
check(plan["plan_language"].get("reason") == "not-translated" and plan["plan_language"].get("wanted") == "it",
      "Italian report: English plan, not-translated (%r)" % plan["plan_language"])
check(plan["notes"] and "this plan is in English" in plan["notes"][0], "Italian report: the first note says so")
rc, _, err = run("--lang", "it", "--example")
check(rc == 2 and "--lang" in err, "--lang it is a usage error")

# relief serve: lang, Accept-Language.
srv = subprocess.Popen([relief, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    base = None
    for _ in range(100):
        line = srv.stdout.readline()
        if "listening on" in line:
            base = line.split("listening on", 1)[1].strip()
            break
    check(base, "serve started")

    def post(body, headers=None):
        req = urllib.request.Request(base + "/v1/guidance", json.dumps(body).encode(),
                                     {"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    report = "Flash flood in Riverside, 300 people, water rising fast."
    st, j = post({"report": report})
    check(st == 200 and j["plan"]["plan_language"] == {"code": "en", "reason": "default"}, "serve: English by default")
    for lang in langs:
        st, j = post({"report": report, "lang": lang})
        check(st == 200 and j["plan"]["plan_language"] == {"code": lang, "reason": "requested"},
              "serve: lang %s (%r)" % (lang, j.get("plan", {}).get("plan_language")))
        st, j = post({"report": report}, {"Accept-Language": "de-DE, %s-XX;q=0.9, en;q=0.5" % lang})
        check(st == 200 and j["plan"]["plan_language"] == {"code": lang, "reason": "accept-language"},
              "serve: Accept-Language %s (%r)" % (lang, j.get("plan", {}).get("plan_language")))
        st, j = post({"report": report, "lang": "en"}, {"Accept-Language": lang})
        check(st == 200 and j["plan"]["plan_language"]["code"] == "en", "serve: lang beats Accept-Language")
    st, j = post({"report": report, "lang": "de"})
    check(st == 400 and "lang" in json.dumps(j), "serve: an unknown lang is refused")
    st, j = post({"report": report}, {"Accept-Language": "*;q=0.5, xx"})
    check(st == 200 and j["plan"]["plan_language"]["code"] == "en", "serve: Accept-Language of no plan language")
finally:
    srv.terminate()
    srv.wait(timeout=10)

print("plan_lang: %d failed" % failures)
sys.exit(1 if failures else 0)
