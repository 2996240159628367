#!/bin/sh
# Installs the build into a temporary prefix and builds two small programs
# against it through pkg-config, as another project would: one linked with
# the shared librelief.so (pkg-config --libs), one with the static
# librelief.a (its Requires.private libraries linked as shared ones). Each plans a report and prints
# its first step. Also checks that the shared library exports exactly the
# functions the installed headers declare, and carries a SONAME.
# usage: test_install.sh BUILD_DIR
set -u
build=$1
fails=0 n=0
tmp=$(mktemp -d /tmp/relief-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ok()  { n=$((n+1)); }
bad() { n=$((n+1)); fails=$((fails+1)); echo "FAIL: $*" >&2; }
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config missing (Debian package pkg-config)"; exit 77; }
cc=${CC:-cc}

if cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/log" 2>&1; then ok; else bad "cmake --install: $(tail -5 "$tmp/log")"; fi
pc=$(find "$tmp/prefix" -name relief.pc | head -1)
[ -n "$pc" ] && ok || bad "relief.pc not installed"
export PKG_CONFIG_PATH="$(dirname "$pc")"
lib=$(pkg-config --variable=libdir relief)
[ -f "$lib/librelief.a" ] && ok || bad "librelief.a not installed in $lib"
so=$(ls "$lib"/librelief.so.*.*.* 2>/dev/null | head -1)
[ -n "$so" ] && ok || bad "librelief.so.X.Y.Z not installed in $lib"
objdump -p "$so" 2>/dev/null | grep -q "SONAME *librelief.so.0$" && ok || bad "SONAME librelief.so.0 missing"

# Exported functions == functions declared in the installed headers.
nm -D --defined-only "$so" | awk '$2 == "T" {sub(/@.*/, "", $3); print $3}' | sort -u >"$tmp/exported"
grep -ho 'relief_[a-z0-9_]*(' "$tmp/prefix/include/relief/"*.h | tr -d '(' | sort -u >"$tmp/declared"
if cmp -s "$tmp/exported" "$tmp/declared"; then ok; else
  bad "exports differ from the headers: $(diff "$tmp/declared" "$tmp/exported" | grep '^[<>]' | head -10 | tr '\n' ' ')"
fi

cat >"$tmp/prog.c" <<'C'
#include <relief/relief.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    char *err = NULL;
    relief_kb *kb = relief_kb_load_embedded(&err);
    if (!kb) { fprintf(stderr, "kb: %s\n", err ? err : "?"); return 1; }
    const char *r = "Flash flood in the valley, 200 people, water rising fast";
    relief_plan *p = relief_plan_build(kb, r, strlen(r), NULL);
    if (!p || p->n_steps == 0 || p->n_detections == 0) return 1;
    printf("relief %s: %s: %s\n", relief_version(), relief_hazard_name(p->detections[0].hazard), p->steps[0].text);
    relief_plan_free(p);
    relief_kb_free(kb);
    return 0;
}
C
if $cc -std=c17 -Wall -o "$tmp/prog_shared" "$tmp/prog.c" $(pkg-config --cflags --libs relief) 2>"$tmp/err"; then ok; else
  bad "link against librelief.so: $(head -c 400 "$tmp/err")"; fi
LD_LIBRARY_PATH="$lib" "$tmp/prog_shared" >"$tmp/out" 2>&1 && grep -q "^relief 0.1.0: flood: " "$tmp/out" && ok \
  || bad "shared program: $(head -c 300 "$tmp/out")"
ldd "$tmp/prog_shared" 2>/dev/null | grep -q "librelief.so.0 => $lib" || LD_LIBRARY_PATH="$lib" ldd "$tmp/prog_shared" | grep -q "librelief.so.0 => $lib" \
  && ok || bad "prog_shared does not load the installed librelief.so.0"

if $cc -std=c17 -Wall -o "$tmp/prog_static" "$tmp/prog.c" $(pkg-config --cflags relief) "$lib/librelief.a" \
     $(pkg-config --libs $(pkg-config --print-requires-private relief)) -lm -lpthread 2>"$tmp/err"; then ok; else
  bad "link against librelief.a: $(head -c 400 "$tmp/err")"; fi
"$tmp/prog_static" >"$tmp/out" 2>&1 && grep -q "^relief 0.1.0: flood: " "$tmp/out" && ok || bad "static program: $(head -c 300 "$tmp/out")"
ldd "$tmp/prog_static" | grep -q librelief && bad "prog_static loads librelief.so" || ok

echo "test_install: $n checks, $fails failed"
[ "$fails" -eq 0 ]
