#!/usr/bin/env bash
# `edgellm run` end to end on the tiny aidreams model: greedy output equals the reference
# greedy_text of refs/aidreams260K-f32.json; stop strings cut it where the reference text says;
# a seed reproduces a sampled run; bad flags exit 2, runtime errors exit 1.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
MODEL=$SHARED/models/aidreams260K-f32.gguf
REF=$SHARED/refs/aidreams260K-f32.json
PROMPT="Echoes of vectors unfold, a gentle hum of precision,"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
. "$(dirname "$0")/skip.sh"
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
trim() { python3 -c 'import sys; sys.stdout.write(sys.stdin.read().strip())'; }
refget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$REF" "$1"; }

# 1. greedy = the reference's greedy text
want=$(refget greedy_text | trim)
got=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 32 --temp 0 -t 1 2>"$TMP/err" | trim)
if [ "$got" == "$want" ]; then ok; else bad "greedy: got '$got', want '$want' ($(cat "$TMP/err"))"; fi

# 2. fewer tokens: a prefix of the same text
got5=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 5 --temp 0 -t 1 2>/dev/null | trim)
case "$want" in "$got5"*) [ -n "$got5" ] && ok || bad "-n 5 printed nothing" ;; *) bad "-n 5: '$got5' is not a prefix of '$want'" ;; esac

# 3. a stop string: the text before it, never the stop itself
want_stop=$(python3 -c 'import sys; t=sys.argv[1]; print(t[:t.index("gentle")].strip(), end="")' "$want")
got=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 32 --temp 0 --stop gentle --stop "zzz" 2>/dev/null | trim)
if [ "$got" == "$want_stop" ]; then ok; else bad "--stop gentle: got '$got', want '$want_stop'"; fi

# 4. the same seed gives the same text; other seeds give other texts
a=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 32 --temp 0.8 --seed 7 2>/dev/null)
b=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 32 --temp 0.8 --seed 7 -t 2 2>/dev/null)
if [ -n "$a" ] && [ "$a" == "$b" ]; then ok; else bad "seed 7 twice: '$a' vs '$b'"; fi
differ=0
for s in 8 9 10; do
    c=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 32 --temp 0.8 --seed $s 2>/dev/null)
    [ "$c" != "$a" ] && differ=1
done
if [ $differ == 1 ]; then ok; else bad "seeds 8, 9, 10 all gave the text of seed 7"; fi

# 5. --verbose reports speeds on stderr, not on stdout
got=$("$BIN" run -m "$MODEL" -p "$PROMPT" -n 8 --temp 0 --verbose 2>"$TMP/err" | trim)
if grep -q "tok/s" "$TMP/err" && ! grep -q "tok/s" <<<"$got"; then ok; else bad "--verbose: no timing on stderr"; fi

# 6. usage errors: exit 2 with one line on stderr
usage_case() {
    "$BIN" run "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$? lines
    lines=$(wc -l <"$TMP/err")
    if [ $rc == 2 ] && [ "$lines" == 1 ]; then ok; else bad "run $*: exit $rc, $lines stderr lines: $(cat "$TMP/err")"; fi
}
usage_case -m "$MODEL" -p x -t 0
usage_case -m "$MODEL" -p x -t 10000
usage_case -m "$MODEL" -p x -n -5
usage_case -m "$MODEL" -p x --bogus
usage_case -p x
usage_case -m "$MODEL"
usage_case -m "$MODEL" -p x --temp abc
usage_case -m "$MODEL" -p x --top-p 2
usage_case -m "$MODEL" -p x --kv-type f8
usage_case -m "$MODEL" -p x --seed -1
usage_case -m "$MODEL" -p x -n
usage_case -m "$MODEL" -p x --system "no chat"

# 7. runtime errors: exit 1 with a clear message
"$BIN" run -m "$TMP/missing.gguf" -p x >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc == 1 ] && [ -s "$TMP/err" ]; then ok; else bad "missing model: exit $rc"; fi
"$BIN" run -m "$MODEL" -p "$PROMPT" -c 8 --no-context-shift >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc == 1 ] && grep -q "context" "$TMP/err"; then ok; else bad "prompt longer than -c 8 (--no-context-shift): exit $rc: $(cat "$TMP/err")"; fi
# with context shift (the default) the prompt is cut after --keep in whole halves of the context
"$BIN" run -m "$MODEL" -p "$PROMPT" -c 8 -n 2 --temp 0 >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc == 0 ] && grep -q "context shifted: .* dropped from it" "$TMP/err"; then ok; else bad "prompt longer than -c 8, shifted: exit $rc: $(cat "$TMP/err")"; fi

# 8. invalid UTF-8 in the prompt is tokenized as bytes, not a crash
"$BIN" run -m "$MODEL" -p $'\xff\xfe\xc3 abc \xe2\x82' -n 4 --temp 0 >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc == 0 ]; then ok; else bad "invalid UTF-8 prompt: exit $rc: $(cat "$TMP/err")"; fi

# 9. the context fills up: generation stops there, exit 0, a note on stderr
#    (without -n, or with --no-context-shift); with -n the context shifts and generation goes on
"$BIN" run -m "$MODEL" -p "$PROMPT" -n 1000 --temp 0 --ignore-eos -c 40 --no-context-shift >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc == 0 ] && grep -q "context is full" "$TMP/err"; then ok; else bad "full context: exit $rc: $(cat "$TMP/err")"; fi
"$BIN" run -m "$MODEL" -p "$PROMPT" --temp 0 --ignore-eos -c 40 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc == 0 ] && grep -q "context is full" "$TMP/err" && ! grep -q "shifted" "$TMP/err"; then ok; else bad "full context without -n: exit $rc: $(cat "$TMP/err")"; fi
"$BIN" run -m "$MODEL" -p "$PROMPT" -n 100 --temp 0 --ignore-eos -c 40 --keep 2 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc == 0 ] && grep -q "context shifted: .* tokens dropped" "$TMP/err" && ! grep -q "context is full" "$TMP/err"; then ok
else bad "-n past a full context shifts it: exit $rc: $(cat "$TMP/err")"; fi

# 10. --chat renders the model's template (or warns and falls back) and still generates
"$BIN" run -m "$MODEL" -p "Hello" --chat -n 8 --temp 0 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc == 0 ]; then ok; else bad "--chat: exit $rc: $(cat "$TMP/err")"; fi
QWEN=$SHARED/models/qwen2-mini-q8_0.gguf
if [ -f "$QWEN" ]; then
    "$BIN" run -m "$QWEN" -p "Hello" --chat --system "Be brief." -n 8 --temp 0 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc == 0 ] && [ -s "$TMP/out" ]; then ok; else bad "--chat on qwen2-mini: exit $rc: $(cat "$TMP/err")"; fi
    "$BIN" run -m "$QWEN" -p "Hello" --chat --no-think -n 8 --temp 0 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc == 0 ]; then ok; else bad "--chat --no-think on qwen2-mini: exit $rc: $(cat "$TMP/err")"; fi
else
    skip_part "$QWEN is missing: --chat on qwen2-mini not tested"
fi

echo "$pass passed, $fail failed"
finish_test "$fail"
