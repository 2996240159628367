#!/bin/sh
# relief serve with the tiny model, driven by the official OpenAI Node client
# (npm "openai", version 6) through tests/openai_node.mjs: models, a chat
# answer, a streamed one with usage, and an unsupported field (tools); the
# usage numbers equal the tokens the server counted itself (/metrics).
# node and npm come from Debian (scripts/deps.sh test); the client from the
# npm registry, into a temporary directory. Exits 77 (skipped), saying why,
# when node or npm is missing or the client cannot be installed.
# usage: test_openai_node.sh RELIEF_BINARY SOURCE_DIR TINY_MODEL.gguf
set -u
relief=$1
src=$2
model=$3
. "$(dirname "$0")/lib.sh"
# Debian's npm conflicts with NodeSource's nodejs, which carries its own npm:
# ask for npm only when node is not there at all.
need_tool node nodejs npm
need_tool npm npm

use_scratch

if ! timeout 240 npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error openai@6 >"$tmp/npm.log" 2>&1; then
  echo "SKIP: npm could not install the openai client (no registry?):"
  tail -5 "$tmp/npm.log"
  exit 77
fi
echo "openai $(node -p "require('$tmp/node_modules/openai/package.json').version"), node $(node --version)"
cp "$src/tests/openai_node.mjs" "$tmp/" || fail "cannot copy openai_node.mjs"

mkdir "$tmp/cache"
start_server --model "$model" --cache-dir "$tmp/cache"
wait_model 60
timeout 240 node "$tmp/openai_node.mjs" "$base"
rc=$?
[ $rc -eq 0 ] || fail "the OpenAI client checks failed (exit $rc); server log: $(tail -20 "$tmp/srv.err")"
echo "PASS: the OpenAI Node client against relief serve"
