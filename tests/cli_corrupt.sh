#!/usr/bin/env bash
# `edgellm info` on corrupt GGUF files: the variants of tests/test_gguf.c (written by
# `test_gguf --write-corrupt DIR`, each with the word its message must contain), plus a
# nonexistent path, a directory, an empty file and a non-GGUF file. Each must print exactly one
# line on stderr, nothing on stdout, and exit 1 — never a crash (exit >= 128) or a hang.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
BUILD=${EDGELLM_BUILD:-$(dirname "$BIN")}
GEN=$BUILD/tests/test_gguf
[ -x "$GEN" ] || GEN=$BUILD/test_gguf
[ -x "$GEN" ] || { echo "cli_corrupt: test_gguf not found in $BUILD" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
. "$(dirname "$0")/skip.sh"

# check NAME EXPECT-WORDS (a|b) CMD...: exit 1, one stderr line containing a word, empty stdout
check() {
    local name=$1 expect=$2
    shift 2
    timeout 20 "$@" >"$T/out" 2>"$T/err"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    local msg
    msg=$(head -c 300 "$T/err")
    if [ $rc -ne 1 ]; then
        echo "FAIL $name: exit $rc (want 1): $msg"; fail=$((fail + 1)); return
    fi
    if [ "$lines" -ne 1 ] || [ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" != '\n' ]; then
        echo "FAIL $name: stderr has $lines lines: $msg"; fail=$((fail + 1)); return
    fi
    if [ -s "$T/out" ]; then
        echo "FAIL $name: stdout is not empty"; fail=$((fail + 1)); return
    fi
    if [ -n "$expect" ] && ! grep -qiE -e "$expect" "$T/err"; then
        echo "FAIL $name: message does not mention '$expect': $msg"; fail=$((fail + 1)); return
    fi
    pass=$((pass + 1))
}

mkdir "$T/c"
"$GEN" --write-corrupt "$T/c" >"$T/list" || { echo "cli_corrupt: $GEN --write-corrupt failed" >&2; exit 1; }
n=0
while IFS=$'\t' read -r file expect; do
    check "$(basename "$file")" "$expect" "$BIN" info "$file"
    n=$((n + 1))
done <"$T/list"
[ $n -ge 20 ] || { echo "FAIL only $n corrupt files written"; fail=$((fail + 1)); }

check nonexistent "no such file|not found|cannot open" "$BIN" info "$T/does-not-exist.gguf"
mkdir "$T/dir.gguf"
check directory "directory" "$BIN" info "$T/dir.gguf"
: >"$T/empty.gguf"
check empty "empty" "$BIN" info "$T/empty.gguf"
printf 'This is a README, not a model.\n%.0s' {1..20} >"$T/readme.gguf"
check not-gguf "not a GGUF|magic" "$BIN" info "$T/readme.gguf"
# a real model cut inside its tensor data
if [ -n "${EDGELLM_SHARED:-}" ] && [ -f "$EDGELLM_SHARED/models/aidreams260K-q8_0.gguf" ]; then
    head -c 300000 "$EDGELLM_SHARED/models/aidreams260K-q8_0.gguf" >"$T/cut.gguf"
    check cut-real-model "past the end|truncated" "$BIN" info "$T/cut.gguf"
else
    skip_part "the shared models are missing (EDGELLM_SHARED): a cut real model not tested"
fi

echo "$pass passed, $fail failed ($n corrupt GGUF files)"
finish_test "$fail"
