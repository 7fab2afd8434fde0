#!/usr/bin/env bash
# Bad input at every door of the edgellm program: missing / directory / empty / non-GGUF /
# truncated files, unsupported architecture and tensor type, out-of-range and unknown flags,
# a prompt longer than the context, invalid UTF-8, a messages file that is not a list, templates
# that loop or nest without end, plus --help on every subcommand and --version. A usage error
# must exit 2, a runtime error 1, each with exactly one line on stderr; never a crash (exit >= 128)
# or a hang (every command runs under timeout).
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:-../shared}
BUILD=${EDGELLM_BUILD:-$(dirname "$BIN")}
MODEL=$SHARED/models/aidreams260K-q8_0.gguf
F32=$SHARED/models/aidreams260K-f32.gguf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# sanitizer builds run several times slower
TMO=20
[ -n "${EDGELLM_SANITIZED:-}" ] && TMO=90
pass=0 fail=0
. "$(dirname "$0")/skip.sh"

# expect CODES WORDS NAME -- CMD...: exit code one of CODES (e.g. "1", "2", "12"), exactly one
# line on stderr that matches the extended regex WORDS (case-insensitive; empty = any).
expect() {
    local codes=$1 words=$2 name=$3
    shift 4
    timeout -k 5 "$TMO" "$@" >"$T/out" 2>"$T/err" <"${STDIN:-/dev/null}"
    local rc=$? msg lines
    msg=$(head -c 300 "$T/err" | tr '\n' '|')
    lines=$(wc -l <"$T/err")
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "FAIL $name: timed out after ${TMO}s"; fail=$((fail + 1)); return; fi
    if [ $rc -ge 128 ]; then echo "FAIL $name: crashed (exit $rc): $msg"; fail=$((fail + 1)); return; fi
    case "$codes" in *"$rc"*) ;; *) echo "FAIL $name: exit $rc (want $codes): $msg"; fail=$((fail + 1)); return ;; esac
    if [ "$rc" -ne 0 ]; then
        if [ "$lines" -ne 1 ] || [ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" != '\n' ]; then
            echo "FAIL $name: want one line on stderr, got $lines: $msg"; fail=$((fail + 1)); return
        fi
        if [ -n "$words" ] && ! grep -qiE -e "$words" "$T/err"; then
            echo "FAIL $name: message does not match '$words': $msg"; fail=$((fail + 1)); return
        fi
    fi
    [ -n "${VERBOSE:-}" ] && echo "ok $name (exit $rc): $msg"
    pass=$((pass + 1))
}

# --- files ------------------------------------------------------------------------------------
mkdir "$T/dir.gguf"
: >"$T/empty.gguf"
printf 'just some text, not a model\n' >"$T/text.gguf"
head -c 200000 "$MODEL" >"$T/cut.gguf"
printf '[{"role":"user","content":"hi"}]' >"$T/msgs.json"
GEN=$BUILD/tests/test_gguf
[ -x "$GEN" ] || GEN=$BUILD/test_gguf
have_gen=0
if [ -x "$GEN" ] && "$GEN" --rewrite "$F32" "$T/arch.gguf" --arch mamba 2>/dev/null \
   && "$GEN" --rewrite "$F32" "$T/type.gguf" --retype blk.0.attn_q.weight 9 2>/dev/null; then
    have_gen=1
else
    echo "FAIL cannot craft the unsupported models with $GEN"; fail=$((fail + 1))
fi

# serve is listed only when the program was built with it
have_serve=0
"$BIN" --help 2>/dev/null | grep -q '^  serve ' && have_serve=1
[ $have_serve = 1 ] || skip_part "edgellm was built without serve (EDGELLM_SERVER=OFF): its bad inputs not tested"
for f in "nonexistent:$T/nope.gguf:no such file|cannot open|not found" "directory:$T/dir.gguf:directory" \
         "empty:$T/empty.gguf:empty" "text:$T/text.gguf:not a GGUF|magic" "truncated:$T/cut.gguf:past the end|truncated"; do
    IFS=: read -r what path words <<<"$f"
    expect 1 "$words" "info $what" -- "$BIN" info "$path"
    expect 1 "$words" "run $what" -- "$BIN" run -m "$path" -p hello -n 4
    expect 1 "$words" "tokenize $what" -- "$BIN" tokenize -m "$path" -p hello
    expect 1 "$words" "logits $what" -- "$BIN" logits -m "$path" --tokens "1 2 3" -o "$T/l.f32"
    expect 1 "$words" "template $what" -- "$BIN" template -m "$path" --messages "$T/msgs.json"
    expect 1 "$words" "bench $what" -- "$BIN" bench -m "$path"
    expect 1 "$words" "chat $what" -- "$BIN" chat -m "$path"
    if [ $have_serve = 1 ]; then
        expect 1 "$words" "serve $what" -- "$BIN" serve -m "$path" --port 0
    fi
done
if [ $have_gen = 1 ]; then
    expect 1 "architecture.*mamba|mamba.*architecture" "run unsupported arch" -- "$BIN" run -m "$T/arch.gguf" -p hello -n 4
    expect 1 "mamba" "logits unsupported arch" -- "$BIN" logits -m "$T/arch.gguf" --tokens "1 2" -o "$T/l.f32"
    expect 0 "" "info unsupported arch" -- "$BIN" info "$T/arch.gguf"
    expect 1 "q8_1|type" "run unsupported type" -- "$BIN" run -m "$T/type.gguf" -p hello -n 4
    expect 1 "q8_1|type" "logits unsupported type" -- "$BIN" logits -m "$T/type.gguf" --tokens "1 2" -o "$T/l.f32"
    expect 1 "mamba" "chat unsupported arch" -- "$BIN" chat -m "$T/arch.gguf"
    expect 1 "q8_1|type" "bench unsupported type" -- "$BIN" bench -m "$T/type.gguf"
    if [ $have_serve = 1 ]; then
        expect 1 "mamba" "serve unsupported arch" -- "$BIN" serve -m "$T/arch.gguf" --port 0
    fi
fi
if [ $have_serve = 1 ]; then
    expect 2 "port" "serve --port 70000" -- "$BIN" serve -m "$MODEL" --port 70000
    expect 2 "-t" "serve -t 0" -- "$BIN" serve -m "$MODEL" -t 0
    expect 2 "--bogus" "serve unknown flag" -- "$BIN" serve -m "$MODEL" --bogus
fi

# --- flags ------------------------------------------------------------------------------------
expect 2 "-t" "run -t 0" -- "$BIN" run -m "$MODEL" -p hello -n 4 -t 0
expect 2 "-t" "run -t 10000" -- "$BIN" run -m "$MODEL" -p hello -n 4 -t 10000
expect 2 "-t" "run -t abc" -- "$BIN" run -m "$MODEL" -p hello -n 4 -t abc
expect 2 "-t" "logits -t 0" -- "$BIN" logits -m "$MODEL" --tokens "1 2" -o "$T/l.f32" -t 0
expect 2 "-n" "run -n -5" -- "$BIN" run -m "$MODEL" -p hello -n -5
expect 2 "-c" "run -c -1" -- "$BIN" run -m "$MODEL" -p hello -c -1
expect 2 "temp" "run --temp x" -- "$BIN" run -m "$MODEL" -p hello --temp x
expect 2 "" "run -m without value" -- "$BIN" run -m
expect 2 "" "run without a model" -- "$BIN" run -p hello
expect 2 "--bogus" "run unknown flag" -- "$BIN" run -m "$MODEL" -p hello --bogus
expect 2 "--bogus" "info unknown flag" -- "$BIN" info "$MODEL" --bogus
expect 2 "--bogus" "tokenize unknown flag" -- "$BIN" tokenize -m "$MODEL" -p hi --bogus
expect 2 "--bogus" "template unknown flag" -- "$BIN" template -m "$MODEL" --messages "$T/msgs.json" --bogus
expect 2 "--bogus" "logits unknown flag" -- "$BIN" logits -m "$MODEL" --tokens 1 -o "$T/l.f32" --bogus
expect 2 "--bogus" "bench unknown flag" -- "$BIN" bench -m "$MODEL" --bogus
expect 2 "--bogus" "chat unknown flag" -- "$BIN" chat -m "$MODEL" --bogus
expect 2 "nosuchcommand" "unknown command" -- "$BIN" nosuchcommand
# without a command the whole usage text goes to stderr (several lines): only the exit code counts
timeout "$TMO" "$BIN" >/dev/null 2>&1 </dev/null; rc=$?
[ $rc -eq 2 ] && pass=$((pass + 1)) || { echo "FAIL no command: exit $rc (want 2)"; fail=$((fail + 1)); }
expect 2 "" "logits bad token list" -- "$BIN" logits -m "$MODEL" --tokens "1 x 3" -o "$T/l.f32"
expect 12 "" "logits token out of range" -- "$BIN" logits -m "$MODEL" --tokens "1 99999 3" -o "$T/l.f32"
expect 12 "" "logits no tokens" -- "$BIN" logits -m "$MODEL" --tokens "" -o "$T/l.f32"

# --- prompts ----------------------------------------------------------------------------------
long=$(printf 'Once upon a time there was a little robot who liked to count the stars. %.0s' {1..10})
expect 1 "context" "prompt longer than the context" -- "$BIN" run -m "$MODEL" -c 16 -p "$long" -n 4 --no-context-shift
# a misspelled kernel path is an error, never a silent fallback to another path
expect 1 "EDGELLM_ISA" "misspelled EDGELLM_ISA" -- env EDGELLM_ISA=avx3 "$BIN" run -m "$MODEL" -p hello -n 4
# invalid UTF-8: refused with one line, or tokenized byte-wise; never a crash
expect 012 "" "run invalid UTF-8 prompt" -- "$BIN" run -m "$MODEL" -p "$(printf 'bad \xff\xfe \xc3\x28 \xed\xa0\x80 end')" -n 4 --temp 0
expect 012 "" "tokenize invalid UTF-8" -- "$BIN" tokenize -m "$MODEL" -p "$(printf '\xc3\x28\xf8\x88\x80\x80\x80')"
expect 01 "" "run empty prompt" -- "$BIN" run -m "$MODEL" -p "" -n 4 --temp 0

# --- templates --------------------------------------------------------------------------------
printf '{"role":"user","content":"hi"}' >"$T/obj.json"
printf '"just a string"' >"$T/str.json"
printf '[{"role":"user","content":"hi"' >"$T/broken.json"
printf '[{"role":"user","content":"\xff"}]' >"$T/badutf8.json"
printf '{{ messages[0].content }}' >"$T/ok.jinja"
for j in obj str broken badutf8; do
    expect 12 "" "template messages $j" -- "$BIN" template --template "$T/ok.jinja" --messages "$T/$j.json"
done
expect 1 "" "template messages missing" -- "$BIN" template --template "$T/ok.jinja" --messages "$T/none.json"
printf '{%% for i in range(1000000000) %%}{{ i }}{%% endfor %%}' >"$T/loop.jinja"
printf '{%% for i in range(100000) %%}{%% for j in range(100000) %%}{{ i }}{%% endfor %%}{%% endfor %%}' >"$T/loop2.jinja"
printf '{%% macro f(n) %%}{{ f(n + 1) }}{%% endmacro %%}{{ f(0) }}' >"$T/recurse.jinja"
printf '{%% set ns = namespace(s="x") %%}{%% for i in range(64) %%}{%% set ns.s = ns.s + ns.s %%}{%% endfor %%}{{ ns.s }}' >"$T/grow.jinja"
{ for _ in $(seq 2000); do printf '{%% if true %%}'; done; printf 'x'; for _ in $(seq 2000); do printf '{%% endif %%}'; done; } >"$T/deep.jinja"
{ printf '{{ '; for _ in $(seq 5000); do printf '('; done; printf '1'; for _ in $(seq 5000); do printf ')'; done; printf ' }}'; } >"$T/deepexpr.jinja"
printf '{%% for %%}' >"$T/syntax.jinja"
printf '{{ raise_exception("no system role") }}' >"$T/raise.jinja"
for j in loop loop2 recurse grow deep deepexpr syntax; do
    expect 1 "" "template $j" -- "$BIN" template --template "$T/$j.jinja" --messages "$T/msgs.json"
done
expect 1 "no system role" "template raise" -- "$BIN" template --template "$T/raise.jinja" --messages "$T/msgs.json"
expect 2 "" "template without messages" -- "$BIN" template --template "$T/ok.jinja"
expect 2 "" "template bad --kwarg" -- "$BIN" template --template "$T/ok.jinja" --messages "$T/msgs.json" --kwarg novalue
expect 12 "" "template bad --date" -- "$BIN" template --template "$T/ok.jinja" --messages "$T/msgs.json" --date 2026-13-45

# --- help and version -------------------------------------------------------------------------
expect 0 "" "--version" -- "$BIN" --version
grep -qE '^edgellm [0-9]+\.[0-9]+' "$T/out" && pass=$((pass + 1)) || { echo "FAIL --version output: $(head -c 100 "$T/out")"; fail=$((fail + 1)); }
expect 0 "" "--help" -- "$BIN" --help
cmds=$(sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p' "$T/out")
[ -n "$cmds" ] || { echo "FAIL no subcommands listed by --help"; fail=$((fail + 1)); }
for c in $cmds; do
    expect 0 "" "$c --help" -- "$BIN" "$c" --help
    if [ -s "$T/out" ] && grep -q "$c" "$T/out"; then pass=$((pass + 1)); else echo "FAIL $c --help prints no usage naming '$c'"; fail=$((fail + 1)); fi
done

echo "$pass passed, $fail failed"
finish_test "$fail"
