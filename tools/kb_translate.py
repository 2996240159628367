#!/usr/bin/env python3
"""kb_translate.py - list a knowledge base's steps for translation, and write translations back.

  tools/kb_translate.py dump LANG [FILE.kb ...]   steps lacking LANG, as JSON lines on stdout
  tools/kb_translate.py merge LANG FILE.jsonl      insert the translations into the kb files

A dumped line: {"file", "key", "do", "short"}; "key" identifies the step by its file and
the start of its English text (steps have no required id). A merge line carries the same
"file" and "key" with "do" (and "short" when the step has one) in LANG. merge adds
'do.LANG:' / 'short.LANG:' after the step's last field, wrapped at 100 columns, and skips
a step that already has LANG. It takes a lock (kb/.translate.lock) and rewrites each file
at once, so that several translators may merge into the same files. Run `relief kb-check`
afterwards: it checks that each translation carries the English step's numbers.
"""
import fcntl
import json
import os
import sys
import textwrap

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KB = os.path.join(ROOT, "kb")


def steps_of(lines):
    """Yields (first_line, end_line, fields) for each [step]; fields maps key -> value."""
    i = 0
    while i < len(lines):
        if lines[i].strip() == "[step]":
            start, fields, key = i, {}, None
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("["):
                ln = lines[i]
                if ln.strip() and not ln.lstrip().startswith("#"):
                    if ln.startswith("  ") and key:
                        fields[key] += " " + ln.strip()
                    elif ":" in ln:
                        key, val = ln.split(":", 1)
                        key = key.strip()
                        fields[key] = val.strip()
                i += 1
            end = i
            while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
                end -= 1
            yield start, end, fields
        else:
            i += 1


def step_key(fields):
    return fields["do"][:80]


def kb_files(args):
    if args:
        return args
    out = []
    for sub in ("hazards", "protocols"):
        d = os.path.join(KB, sub)
        out += [os.path.join("kb", sub, f) for f in sorted(os.listdir(d)) if f.endswith(".kb")]
    return out


def dump(lang, files):
    for rel in kb_files(files):
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        for _, _, fields in steps_of(lines):
            if "do." + lang in fields:
                continue
            print(json.dumps({"file": rel, "key": step_key(fields), "do": fields["do"],
                              "short": fields.get("short")}, ensure_ascii=False))


def wrap(key, value):
    return textwrap.wrap(f"{key}: {value}", width=100, subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def merge(lang, path):
    by_file = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            t = json.loads(line)
            if not t.get("do"):
                sys.exit(f"{path}:{n}: no 'do' translation")
            # Two steps of one file may start alike (the same action with and without a brief
            # line), so each key holds a list, taken in order by the steps that lack LANG.
            by_file.setdefault(t["file"], {}).setdefault(t["key"], []).append(t)
    with open(os.path.join(KB, ".translate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        added = 0
        for rel, tr in by_file.items():
            full = os.path.join(ROOT, rel)
            with open(full, encoding="utf-8") as f:
                lines = f.read().split("\n")
            inserts = []
            for start, end, fields in steps_of(lines):
                cands = tr.get(step_key(fields))
                if not cands:
                    continue
                # prefer the line whose short/no-short shape matches this step
                t = next((c for c in cands if bool(c.get("short")) == bool(fields.get("short"))), cands[0])
                cands.remove(t)
                if not cands:
                    del tr[step_key(fields)]
                if "do." + lang in fields:
                    continue
                new = []
                if fields.get("short"):
                    if not t.get("short"):
                        sys.exit(f"{rel}: step '{step_key(fields)}' has short: but its {lang} line has none")
                    new += wrap("short." + lang, t["short"])
                new += wrap("do." + lang, t["do"])
                inserts.append((end, new))
            for end, new in reversed(inserts):
                lines[end:end] = new
                added += 1
            tmp = full + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            os.replace(tmp, full)
            for key in tr:
                print(f"warning: {rel}: no step starts '{key[:50]}...' (edited meanwhile?)", file=sys.stderr)
        print(f"{added} steps translated to {lang}")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("dump", "merge"):
        sys.exit(__doc__)
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3:])
    else:
        merge(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
