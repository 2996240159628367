#!/bin/sh
# Builds every target in the given build types with the given compilers,
# warnings as errors, each in build-matrix/COMPILER-TYPE/.
# usage: scripts/build-matrix.sh "gcc clang" "Debug Release RelWithDebInfo MinSizeRel"
set -eu
compilers=${1:-"gcc clang"}
types=${2:-"Debug Release RelWithDebInfo MinSizeRel"}
jobs=$(nproc 2>/dev/null || echo 2)
for cc in $compilers; do
  command -v "$cc" >/dev/null || { echo "build-matrix: $cc not installed (Debian package $cc)" >&2; exit 1; }
  for t in $types; do
    dir=build-matrix/$cc-$t
    echo "== $cc $t"
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$t" -DRELIEF_WERROR=ON >/dev/null
    cmake --build "$dir" -j "$jobs" >"$dir.log" 2>&1 || { tail -30 "$dir.log"; echo "build-matrix: $cc $t FAILED" >&2; exit 1; }
    "$dir/relief" --example >/dev/null || { echo "build-matrix: $cc $t: relief --example failed" >&2; exit 1; }
  done
done
echo "build-matrix: all builds OK"
