#!/bin/sh
# The web page of `relief serve` in French, Spanish and Portuguese, in
# headless Chromium on a 390 x 844 phone viewport (issue 17). What it proves:
#  1. The browser's language decides: Chromium started with
#     --accept-lang=fr-FR,fr (what sets navigator.languages in headless
#     mode; --lang=fr and LANGUAGE=fr do not) loads /?report=...&autosubmit=1
#     with no lang parameter, and the page is French: <html lang="fr">, the
#     brief's heading, the buttons, the labels; the plan came back in French
#     because the page sent "lang": "fr" in the body (plan_language
#     fr:requested, recorded by &probe=1), its first action is the French
#     text of the knowledge base (the same as `relief --lang fr`), and no
#     English string of the page is left in its visible text.
#  2. ?lang=fr in an English browser gives the same French page; ?lang=es and
#     ?lang=pt give Spanish and Portuguese pages with the plan in that language.
#  3. With the tiny oracle model (when RELIEF_TESTDATA has it): the model's
#     reading progress is shown in French before its text ("Le modèle lit le
#     signalement… N %"), and Stop (pressed by the page at the first model
#     text, &autostop=1) ends the stream: the model line says, in French, that
#     the user stopped it, the Stop button is hidden again and the plan stays.
# Chromium is driven over --remote-debugging-pipe (cdp.py, written below) on a
# 390 x 844 mobile screen and waited for in real time: --dump-dom's virtual
# time runs out before a model's stream ends, and --screenshot catches the
# page mid-scroll. The screenshot of the French page, brief first, is
# OUTDIR/browser-fr-screenshot.png; OUTDIR/browser-fr-form-screenshot.png is
# the top of the page before a report (the language switch and the form).
# Chromium comes from Debian (scripts/deps.sh test); exits 77 (skipped) when
# it cannot be found or installed.
# usage: test_browser_lang.sh RELIEF_BINARY OUTDIR [TESTDATA]
set -u
relief=$1
outdir=$2
testdata=${3:-}
. "$(dirname "$0")/lib.sh"
need_tool chromium chromium

use_scratch

plain="Flash flood in Riverside, 200 families, the levee may fail within 2 hours. Nursing home with 40 elderly residents."
report="Flash%20flood%20in%20Riverside%2C%20200%20families%2C%20the%20levee%20may%20fail%20within%202%20hours.%20Nursing%20home%20with%2040%20elderly%20residents."

# page URL DOM [cdp.py options]: Chromium driven over --remote-debugging-pipe
# (tmp/cdp.py, below), in real time: --dump-dom's virtual time ends before a
# model's stream does.
page() {
  url_=$1
  dom_=$2
  shift 2
  timeout 150 /usr/bin/env python3 "$tmp/cdp.py" --profile "$(mktemp -d "$tmp/profile.XXXXXX")" --dom "$dom_" "$@" \
    "$url_" 2>>"$tmp/chrome.err"
}
cat >"$tmp/cdp.py" <<'EOF'
# Loads a page in headless Chromium driven over --remote-debugging-pipe,
# on a 390 x 844 phone screen (device metrics, mobile), waits in real time
# until <body data-state> is one of the states given, then writes the DOM
# and a screenshot of the screen.
import argparse, base64, json, os, subprocess, sys, tempfile, time
ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--accept-lang")
ap.add_argument("--dom")
ap.add_argument("--shot")
ap.add_argument("--until", default="done,stopped,error")
ap.add_argument("--scroll", help="the id of an element to scroll to the top before the screenshot")
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--profile", required=True)
a = ap.parse_args()
cmd_r, cmd_w = os.pipe()    # we write commands, Chromium reads them on fd 3
out_r, out_w = os.pipe()    # Chromium answers on fd 4
args = ["chromium", "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--user-data-dir=" + a.profile, "--window-size=390,844"]
if a.accept_lang:
    args.append("--accept-lang=" + a.accept_lang)
args.append("about:blank")
err = open(os.path.join(a.profile, "chrome.err"), "w")
proc = subprocess.Popen(["sh", "-c", 'exec "$@" 3<&%d 4>&%d' % (cmd_r, out_w), "sh"] + args,
                        pass_fds=(cmd_r, out_w), stdin=subprocess.DEVNULL, stdout=err, stderr=err)
os.close(cmd_r)
os.close(out_w)
buf = b""
next_id = 0
deadline = time.monotonic() + a.timeout

def call(method, params=None, session=None):
    global buf, next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(cmd_w, json.dumps(msg).encode() + b"\0")
    while True:
        while b"\0" not in buf:
            if time.monotonic() > deadline:
                raise SystemExit("cdp: no answer to %s in time" % method)
            chunk = os.read(out_r, 1 << 20)
            if not chunk:
                raise SystemExit("cdp: chromium closed the pipe (%s)" % method)
            buf += chunk
        raw, buf = buf.split(b"\0", 1)
        m = json.loads(raw)
        if m.get("id") == next_id:
            if "error" in m:
                raise SystemExit("cdp: %s: %s" % (method, m["error"]))
            return m.get("result", {})

def evaluate(expr, session):
    r = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    return r.get("result", {}).get("value")

rc = 0
try:
    page = [t for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page"][0]
    s = call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
    call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}, s)
    call("Page.enable", {}, s)
    call("Page.navigate", {"url": a.url}, s)
    want = set(a.until.split(","))
    state = None
    while time.monotonic() < deadline:
        state = evaluate("document.readyState === 'complete' && location.href !== 'about:blank' ? document.body.dataset.state : null", s)
        if state in want:
            break
        time.sleep(0.1)
    else:
        print("cdp: the page is still %r after %g s" % (state, a.timeout), file=sys.stderr)
        rc = 2
    if a.dom:
        with open(a.dom, "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html>\n" + evaluate("document.documentElement.outerHTML", s))
    if a.shot:
        if a.scroll:
            evaluate("document.getElementById(%s).scrollIntoView({block: 'start'})" % json.dumps(a.scroll), s)
        time.sleep(0.2)
        png = call("Page.captureScreenshot", {"format": "png"}, s)["data"]
        with open(a.shot, "wb") as f:
            f.write(base64.b64decode(png))
    try:
        call("Browser.close")
    except SystemExit:
        pass
finally:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
sys.exit(rc)
EOF

# judge DOM LANG EXPECTED_FIRST_ACTION [model]: the visible text of the
# dumped page (hidden elements, scripts and styles left out; closed
# <details> kept: they open with a click) against the language's strings.
judge() {
  /usr/bin/env python3 - "$@" <<'EOF'
import html.parser, re, sys
dom, lang, first_expected = sys.argv[1], sys.argv[2], sys.argv[3]
model = len(sys.argv) > 4 and sys.argv[4] == "model"
src = open(dom, encoding="utf-8").read()
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []            # (tag, hidden, id, classes)
        self.visible = []          # visible text pieces
        self.attrs_text = []       # placeholders, titles, aria-labels of visible elements
        self.by_id = {}            # id -> text
        self.acts = []             # texts of the brief's actions
        self.citations = []        # sources as published, in English
    def hidden(self):
        return any(h for _, h, _, _ in self.stack)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        hid = "hidden" in a or tag in ("script", "style", "title", "head")
        if tag in VOID:
            if not hid and not self.hidden():
                for k in ("placeholder", "title", "aria-label"):
                    if a.get(k):
                        self.attrs_text.append(a[k])
            return
        self.stack.append((tag, hid, a.get("id"), (a.get("class") or "").split()))
        if not self.hidden():
            for k in ("placeholder", "title", "aria-label"):
                if a.get(k):
                    self.attrs_text.append(a[k])
        if a.get("id"):
            self.by_id.setdefault(a["id"], "")
        if "act" in (a.get("class") or "").split():
            self.acts.append("")
    def handle_endtag(self, tag):
        while self.stack:
            t = self.stack.pop()
            if t[0] == tag:
                break
    def handle_data(self, data):
        for _, _, i, cls in self.stack:
            if i:
                self.by_id[i] += data
        if self.stack and "act" in self.stack[-1][3]:
            self.acts[-1] += data
        cls = self.stack[-1][3] if self.stack else []
        if "source" in cls:
            self.citations.append(re.sub(r"\s+", " ", data.split(":", 1)[-1]).strip())
        elif "meta" in cls and any(i == "brief" for _, _, i, _ in self.stack) and data.count(" · ") == 2:
            self.citations.append(data.split(" · ")[1].strip())
        if not self.hidden():
            self.visible.append(data)

p = Page()
p.feed(src)
text = re.sub(r"\s+", " ", " ".join(p.visible + p.attrs_text)).replace("\u00a0", " ").replace("\u202f", " ")
fails = []
def check(ok, what):
    if not ok:
        fails.append(what)

m = re.search(r"<html[^>]*\blang=\"([a-z]+)\"", src)
check(m and m.group(1) == lang, "<html lang> is %r, not %r" % (m and m.group(1), lang))
STR = {
    "fr": {"brief-h": "À faire maintenant (30 premières minutes)", "submit": "Obtenir les consignes",
           "ics201": "Imprimer l'ICS 201", "needs-h": "Besoins", "title": "relief - consignes d'urgence",
           "status": "Plan prêt en ", "words": [" les ", " de ", " des ", " la ", " à "],
           "labels": ["Signalement de la situation", "Horizon du plan (jours)",
                      "Limite d'écriture du modèle (s)", "Plan de protocole", "Aléas",
                      "Faits essentiels", "Plan complet : ", "Jeton d'accès", "Source : ", "Poste de commandement",
                      "Quantité", "Norme", "par défaut"],
           "reading": "Le modèle lit le signalement… ", "stop": "Arrêter",
           "stopped": "Modèle arrêté par l'utilisateur"},
    "es": {"brief-h": "Qué hacer ya (primeros 30 minutos)", "submit": "Obtener la guía", "ics201": "Imprimir ICS 201",
           "needs-h": "Necesidades", "title": "relief - guía de emergencia", "status": "Plan listo en ",
           "words": [" los ", " de ", " la ", " el ", " y "],
           "labels": ["Informe de situación", "Amenazas", "Datos clave", "Fuente: "]},
    "pt": {"brief-h": "O que fazer agora (primeiros 30 minutos)", "submit": "Obter orientação",
           "ics201": "Imprimir ICS 201", "needs-h": "Necessidades", "title": "relief - orientação de emergência",
           "status": "Plano pronto em ", "words": [" os ", " de ", " a ", " as ", " e ", " para "],
           "labels": ["Relato da situação", "Ameaças", "Fatos principais", "Fonte: "]},
}[lang]
for i in ("brief-h", "submit", "ics201", "needs-h"):
    got = re.sub(r"\s+", " ", p.by_id.get(i, "")).strip()
    check(got == STR[i], "#%s is %r, not %r" % (i, got, STR[i]))
m = re.search(r"<title>([^<]*)</title>", src)
check(m and html.unescape(m.group(1)) == STR["title"], "the title is %r" % (m and m.group(1)))
check(STR["status"] in p.by_id.get("status", ""), "status line %r" % p.by_id.get("status"))
for lab in STR["labels"]:
    check(lab in text, "the label %r is missing" % lab)
check(len(p.acts) >= 1, "no action in the brief")
first = p.acts[0].strip() if p.acts else ""
check(first == first_expected, "the first action is %r, not the %s text %r" % (first, lang, first_expected))
padded = " " + first.lower() + " "
check(sum(w in padded for w in STR["words"]) >= 2, "the first action does not read as %s: %r" % (lang, first))
check('data-plan-lang="%s:requested"' % lang in src, "the page did not ask for the plan in %s: %s"
      % (lang, re.findall(r'data-plan-lang="[^"]*"', src)))
# The page's English strings, none of which may be left on screen.
ENGLISH = ["Offline emergency guidance", "Situation report", "What is happening", "Planning horizon",
           "Model writing time", "Model deadline", "server default", "Get guidance", "Access token",
           "Bearer token (only", "Protocol plan", "Do now", "first 30 minutes", "Print ICS 201", "Full plan",
           "steps, from the", "Hazards", "Key facts", "Needs", "Item", "Amount", "Basis", "Standard",
           "Model elaboration", "AI-generated", "Written by a language model", "Plan ready in",
           "Building the plan", "waiting for the model", "The model is reading", "Stop", "Stopped",
           "stopped by the user", "The protocol plan is computed", "No model is configured", "Model text comes",
           "nothing is sent elsewhere", "no emergency recognised", "possible secondary hazard", "confidence",
           "before impact", "number unknown", "Time available", "People affected", "from households",
           "Injured", "Vulnerable groups", "Infrastructure affected", "Places", "Resources", "Coastal",
           "Source:", "priority", "step ", "Command", "Operations", "Logistics", "Planning",
           "Public information", "Medical", "elderly", "people", "Sphere minimum", "day", "cut at the",
           "complete", "Error:", "River rising fast"]
# Sources are cited as published ("NWS, ... flood safety guidance"): those
# citations (a step's source line, the agency in a brief action's line) are
# not the page's own strings and are left out of this check.
own = text
for c in sorted(set(p.citations), key=len, reverse=True):
    own = own.replace(c, " ")
for e in ENGLISH:
    if re.search(r"(?<!\w)" + re.escape(e) + (r"(?!\w)" if e[-1].isalnum() else ""), own):
        fails.append("an English string is left on the page: %r" % e)
if model:
    reading = re.search(r'data-model-reading="([^"]*)"', src)
    check(reading and re.fullmatch(re.escape(STR["reading"]) + r"\d{1,3}[ \u00a0]%", html.unescape(reading.group(1))),
          "reading progress was not shown in %s: %r" % (lang, reading and reading.group(1)))
    check('data-stop-shown="true"' in src, "the Stop button was not on screen while the model wrote")
    check('data-state="stopped"' in src, "Stop did not stop the stream: %s" % re.findall(r'data-state="[^"]*"', src))
    check(STR["stopped"] in p.by_id.get("model-status", ""), "model status after Stop: %r" % p.by_id.get("model-status"))
    check(re.search(r'<button id="stop"[^>]*\bhidden\b', src) is not None, "the Stop button is still shown")
    check(re.search(r'<section id="plan"[^>]*\bhidden\b', src) is None and len(p.acts) >= 1,
          "the plan left the screen after Stop")
    check(re.search(r'<section id="model"[^>]*\bhidden\b', src) is None, "the model section is hidden")
for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
EOF
}

# The French (and Spanish, Portuguese) first action, as relief writes it.
first_action() {
  "$relief" --lang "$1" --format json "$plain" |
    /usr/bin/env python3 -c 'import json, sys; p = json.load(sys.stdin); print((p["brief"][0].get("short") or p["brief"][0]["text"]).strip())'
}
fr_first=$(first_action fr) || fail "relief --lang fr failed"
[ -n "$fr_first" ] || fail "relief --lang fr gave no brief"

start_server
url="$base/?report=$report&autosubmit=1&probe=1"

# 1. The browser's language (navigator.languages), no lang parameter.
page "$url" "$tmp/fr.html" --accept-lang fr-FR,fr --shot "$tmp/fr.png" || fail "chromium failed: $(tail -5 "$tmp/chrome.err")"
grep -q 'data-state="done"' "$tmp/fr.html" || fail "the French page did not finish ($(grep -o 'data-state="[a-z]*"' "$tmp/fr.html"))"
judge "$tmp/fr.html" fr "$fr_first" || fail "the page in a French browser is not French"
echo "browser-lang: a French browser gets the French page and plan: $fr_first"

# 2. ?lang= in an English browser: French, Spanish, Portuguese.
page "$url&lang=fr" "$tmp/fr-q.html" --accept-lang en-US,en || fail "chromium failed: $(tail -5 "$tmp/chrome.err")"
judge "$tmp/fr-q.html" fr "$fr_first" || fail "?lang=fr is not French"
for l in es pt; do
  first=$(first_action $l) || fail "relief --lang $l failed"
  page "$url&lang=$l" "$tmp/$l.html" --accept-lang en-US,en || fail "chromium failed: $(tail -5 "$tmp/chrome.err")"
  judge "$tmp/$l.html" $l "$first" || fail "?lang=$l is not in that language"
done
echo "browser-lang: ?lang=fr, ?lang=es and ?lang=pt give pages and plans in those languages"

mkdir -p "$outdir"
shot="$outdir/browser-fr-screenshot.png"
rm -f "$shot"
cp "$tmp/fr.png" "$shot" && [ -s "$shot" ] || fail "no screenshot written"
# The top of the page before a report: the language switch and the form.
page "$base/" "$tmp/form.html" --accept-lang fr-FR,fr --until idle --shot "$outdir/browser-fr-form-screenshot.png" ||
  fail "chromium failed: $(tail -5 "$tmp/chrome.err")"
echo "browser-lang: screenshots $shot ($(wc -c <"$shot") bytes), $outdir/browser-fr-form-screenshot.png"
stop_server

# 3. Progress and Stop, with the tiny oracle model.
tiny="$testdata/oracle/tiny/tiny-q.gguf"
if [ -z "$testdata" ] || [ ! -f "$tiny" ]; then
  echo "browser-lang: no tiny model ($tiny): progress and Stop not tested"
  exit 0
fi
start_server --model "$tiny" --no-warm --cache-dir "$tmp/cache" --budget 60 --max-tokens 4000
/usr/bin/env python3 - "$base/healthz" <<'EOF' || fail "the tiny model did not load: $(cat "$tmp/srv.err")"
import json, sys, time, urllib.request
for _ in range(300):
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        if json.load(opener.open(sys.argv[1], timeout=5)).get("model_state") == "ready":
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
page "$base/?report=$report&autosubmit=1&probe=1&autostop=1" "$tmp/stop.html" --accept-lang fr-FR,fr ||
  fail "chromium failed: $(tail -5 "$tmp/chrome.err")"
judge "$tmp/stop.html" fr "$fr_first" model || fail "progress or Stop in French"
echo "browser-lang: the model's reading progress and Stop, in French: $(sed -n 's/.*data-model-reading="\([^"]*\)".*/\1/p' "$tmp/stop.html")"
