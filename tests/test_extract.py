#!/usr/bin/env python3
"""Fact extraction against a gold set written for it (tests/data/extract_cases.jsonl:
reports in seven languages, a third of them messy phone text, each with the facts a
careful human reads in it). Runs `relief -i --format json` once over all reports and
prints, per field, precision and recall against the 95 % target; fails when a field
falls under its floor (95 %, or the current level of a field not yet there: BELOW_TARGET).

Scoring per field (people, injured, dead, missing, trapped, time_available_s, place,
hazards):
  - a number in the gold: a true positive when relief extracts that value, a false
    negative when it extracts nothing, a false positive and a false negative when it
    extracts another value;
  - null in the gold: a false positive when relief extracts anything;
  - a field absent from the gold is not scored;
  - place: the gold name must be one of the extracted locations (or inside one);
  - hazards: each gold hazard detected (primary) is a true positive, each missed a false
    negative, each other primary hazard a false positive.

usage: test_extract.py RELIEF_BINARY CASES.jsonl
"""
import json
import subprocess
import sys

FIELDS = ["people", "injured", "dead", "missing", "trapped", "time_available_s"]
TARGET = 0.95  # precision and recall each field must reach
# Fields not yet at the target are held at their current level so that they
# cannot fall further; each is reported against the 95 % target all the same.
# (people: counts bound through phrases such as "travelers stranded";
# trapped: vague counts across words; place: lower-case names that are also
# dictionary words of the report's language, all-capitals reports.)
BELOW_TARGET = {"people": 0.94, "trapped": 0.89, "place": 0.89}


def main():
    relief, path = sys.argv[1], sys.argv[2]
    cases = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if not line:
            continue
        c = json.loads(line)
        if "_comment" in c:
            continue
        if "\n" in c["text"]:
            print(f"{path}:{n}: a report must be one line")
            return 1
        cases.append(c)
    if len(cases) < 150:
        print(f"FAIL: {len(cases)} cases, the set must hold at least 150")
        return 1
    inp = "".join(c["text"] + "\n" for c in cases)
    p = subprocess.run([relief, "-i", "--format", "json"], input=inp.encode(), capture_output=True, timeout=300)
    plans = [json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")]
    if p.returncode != 0 or len(plans) != len(cases):
        print(f"FAIL: relief exited {p.returncode} with {len(plans)} plans for {len(cases)} reports: "
              f"{p.stderr.decode()[-300:]}")
        return 1
    tp = {f: 0 for f in FIELDS + ["place", "hazards"]}
    fp = dict.fromkeys(tp, 0)
    fn = dict.fromkeys(tp, 0)
    misses = []
    for c, plan in zip(cases, plans):
        facts = plan["facts"]
        gold = c.get("facts", {})
        for f in FIELDS:
            if f not in gold:
                continue
            q = facts.get(f)
            got = q.get("value") if q else None
            want = gold[f]
            if want is None:
                if got is not None:
                    fp[f] += 1
                    misses.append(f"{c['id']}: {f} should be none, got {got}")
            elif got is None:
                fn[f] += 1
                misses.append(f"{c['id']}: {f} missed (want {want})")
            elif abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want))):
                tp[f] += 1
            else:
                fp[f] += 1
                fn[f] += 1
                misses.append(f"{c['id']}: {f} = {got}, want {want}")
        if gold.get("place"):
            locs = [l["text"] for l in facts.get("locations", [])]
            if any(gold["place"] == l or gold["place"] in l for l in locs):
                tp["place"] += 1
            else:
                fn["place"] += 1
                if locs:
                    fp["place"] += 1
                misses.append(f"{c['id']}: place {gold['place']!r} not in {locs}")
        if "hazards" in c:
            det = {h["id"] for h in plan["hazards"] if not h["secondary"]}
            want = set(c["hazards"])
            tp["hazards"] += len(det & want)
            fn["hazards"] += len(want - det)
            fp["hazards"] += len(det - want)
            if det != want:
                misses.append(f"{c['id']}: hazards {sorted(det)}, want {sorted(want)}")
    langs = {}
    for c in cases:
        langs[c.get("lang", "?")] = langs.get(c.get("lang", "?"), 0) + 1
    print(f"{len(cases)} reports ({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}; "
          f"{sum(1 for c in cases if c.get('messy'))} messy)")
    fails = 0
    for f in tp:
        prec = tp[f] / (tp[f] + fp[f]) if tp[f] + fp[f] else 1.0
        rec = tp[f] / (tp[f] + fn[f]) if tp[f] + fn[f] else 1.0
        floor = BELOW_TARGET.get(f, TARGET)
        ok = prec >= floor and rec >= floor
        fails += not ok
        at_target = prec >= TARGET and rec >= TARGET
        print(f"  {f:18s} precision {prec:6.1%}  recall {rec:6.1%}  (tp {tp[f]}, fp {fp[f]}, fn {fn[f]})"
              f"{'' if at_target else '  below the 95 % target'}{'' if ok else f', under its floor {floor:.0%}: FAIL'}")
    for m in misses[:60]:
        print("  miss:", m)
    print(f"test_extract: {'FAIL' if fails else 'ok'} ({fails} fields under their floor)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
