#!/bin/sh
# Installs the Debian packages relief needs to build and test, only when one
# is missing (nothing is installed or upgraded when all are present).
# usage: scripts/deps.sh [build|test]
set -eu
# libhunspell-dev and the hunspell dictionaries: the spelling guard of
# typo-tolerant hazard detection (src/guide/speller.c).
# libxml2-dev: CAP 1.2 alerts, written and read (src/formats).
pkgs="build-essential cmake pkg-config libjansson-dev libutf8proc-dev libpcre2-dev libmicrohttpd-dev libcurl4-openssl-dev
  libhunspell-dev hunspell-en-us hunspell-es hunspell-fr hunspell-pt-pt hunspell-it myspell-tl libxml2-dev"
if [ "${1:-build}" = test ]; then
  # clang + its runtime libraries (libclang_rt.fuzzer): the libFuzzer
  # targets of `make fuzz` / `make fuzz-smoke` (fuzz/).
  # faketime: the serve test moves the wall clock across midnight.
  # libxml2-utils (xmllint) and poppler-utils (pdfinfo, pdftoppm): the CAP
  # alerts against the OASIS schema and the printed ICS 201 page.
  pkgs="$pkgs python3 python3-jsonschema valgrind chromium clang libclang-rt-dev faketime libxml2-utils poppler-utils"
  # nodejs and npm: the official OpenAI Node client against relief serve
  # (tests/test_openai_node.sh). npm only where no npm runs already: NodeSource's
  # nodejs carries its own and conflicts with Debian's npm package.
  pkgs="$pkgs nodejs"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends $missing
