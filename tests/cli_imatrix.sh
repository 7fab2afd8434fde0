#!/usr/bin/env bash
# `edgellm imatrix` from the command line (its values against llama-imatrix are checked by
# test_imatrix.c): the JSON summary, the output.weight rule for tied embeddings, and bad input:
# exit 2 for bad arguments, 1 for bad files, one line on stderr, no output file left behind.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
Q=$SHARED/quant
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
for f in "$Q/calib.txt" "$Q/qwen2-mini-f32.gguf" "$Q/llama3-mini-f32.gguf"; do
    [ -f "$f" ] || { echo "SKIP: $f missing"; exit 77; }
done
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# 1. qwen2-mini: 7 chunks of 128, 14 matrices; the PPL llama-imatrix printed for this run is 16110.35
out=$("$BIN" imatrix -m "$Q/qwen2-mini-f32.gguf" -f "$Q/calib.txt" -c 128 -t 2 -o "$TMP/q.gguf" --json 2>"$TMP/err")
if [ $? -eq 0 ] && [ "$(jget "$out" n_chunks)" = 7 ] && [ "$(jget "$out" n_entries)" = 14 ] &&
    python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) / 16110.35 - 1) > 0.005)' "$(jget "$out" ppl)"; then ok
else bad "qwen2-mini imatrix: $out $(cat "$TMP/err")"; fi
[ -f "$TMP/q.gguf" ] && [ ! -e "$TMP/q.gguf.tmp" ] && ok || bad "output file"
"$BIN" info --meta "$TMP/q.gguf" | grep -q "imatrix.chunk_size = 128" && ok || bad "info --meta of the written file"

# 2. llama3-mini has tied embeddings: --process-output collects nothing more (llama-imatrix
#    collects only a weight named output.weight), qwen2-mini gets output.weight as a 15th entry
out=$("$BIN" imatrix -m "$Q/llama3-mini-f32.gguf" -f "$Q/calib.txt" -c 128 -t 2 -o "$TMP/l.gguf" --process-output --json 2>"$TMP/err")
[ $? -eq 0 ] && [ "$(jget "$out" n_entries)" = 14 ] && ok || bad "llama3-mini --process-output: $out $(cat "$TMP/err")"
out=$("$BIN" imatrix -m "$Q/qwen2-mini-f32.gguf" -f "$Q/calib.txt" -c 128 -t 2 -o "$TMP/o.gguf" --process-output --json 2>"$TMP/err")
[ $? -eq 0 ] && [ "$(jget "$out" n_entries)" = 15 ] && ok || bad "qwen2-mini --process-output: $out $(cat "$TMP/err")"

# 3. bad input
expect() { # expect CODE DESCRIPTION ARGS...
    local want=$1 what=$2
    shift 2
    rm -f "$TMP/x.gguf"
    "$BIN" imatrix "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    local lines=$(wc -l <"$TMP/err")
    if [ $rc -eq "$want" ] && [ "$lines" -ge 1 ] && [ "$lines" -le 2 ] && [ ! -e "$TMP/x.gguf" ]; then ok; else
        bad "$what: exit $rc (want $want), stderr: $(cat "$TMP/err")"
    fi
}
M=$Q/qwen2-mini-f32.gguf
printf 'A short text.\n' >"$TMP/short.txt"
expect 2 "no -m" -f "$Q/calib.txt" -o "$TMP/x.gguf"
expect 2 "no -f" -m "$M" -o "$TMP/x.gguf"
expect 2 "-c below 16" -m "$M" -f "$Q/calib.txt" -c 8 -o "$TMP/x.gguf"
expect 2 "-c not a number" -m "$M" -f "$Q/calib.txt" -c 1x -o "$TMP/x.gguf"
expect 2 "unknown option" -m "$M" -f "$Q/calib.txt" --in-file a.gguf -o "$TMP/x.gguf"
expect 2 "-o without value" -m "$M" -f "$Q/calib.txt" -o
expect 1 "missing model" -m "$TMP/none.gguf" -f "$Q/calib.txt" -o "$TMP/x.gguf"
expect 1 "model is not gguf" -m "$Q/calib.txt" -f "$Q/calib.txt" -o "$TMP/x.gguf"
expect 1 "imatrix file as model" -m "$Q/qwen2-mini.imatrix.gguf" -f "$Q/calib.txt" -o "$TMP/x.gguf"
expect 1 "missing text" -m "$M" -f "$TMP/none.txt" -o "$TMP/x.gguf"
expect 1 "text shorter than 2 chunks" -m "$M" -f "$TMP/short.txt" -c 128 -o "$TMP/x.gguf"
expect 1 "unwritable output" -m "$M" -f "$Q/calib.txt" -c 128 -o "$TMP/no/such/dir/x.gguf"
"$BIN" imatrix --help | grep -q "process-output" && ok || bad "--help"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
