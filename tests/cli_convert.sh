#!/usr/bin/env bash
# `edgellm convert` from the command line: TinyStories-656K converted to Q8_0, then
# `edgellm tokenize --no-bos` on the result gives Hugging Face's ids for all nine strings of
# hf/tinystories-656k/tokenize-expected.json; usage errors exit 2, bad input exits 1 and leaves
# no output file. (The tensor- and metadata-level bars are in tests/test_convert.c.)
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN must point at the edgellm binary}
SHARED=${EDGELLM_SHARED:-$(dirname "$0")/../../shared}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
HF=$SHARED/hf/tinystories-656k

"$BIN" convert "$HF" -o "$T/ts.gguf" --outtype q8_0 -t 2 2>"$T/log"
expect_eq "convert exit" "$?" 0
exp=$HF/tokenize-expected.json
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$exp")
for i in $(seq 0 $((n - 1))); do
    text=$(python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]["text"])' "$exp" "$i")
    want=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]["ids"])))' "$exp" "$i")
    got=$("$BIN" tokenize -m "$T/ts.gguf" --no-bos -p "$text")
    expect_eq "tokenize case $i" "$got" "$want"
done
# with BOS, as tokenizer_config.json's add_bos_token says
got=$("$BIN" tokenize -m "$T/ts.gguf" -p "Once upon a time")
case "$got" in "1 "*) ok ;; *) bad "BOS not added: $got" ;; esac

# usage errors: exit 2
"$BIN" convert "$HF" 2>/dev/null; expect_eq "no -o" "$?" 2
"$BIN" convert -o "$T/x.gguf" 2>/dev/null; expect_eq "no dir" "$?" 2
"$BIN" convert "$HF" -o "$T/x.gguf" --outtype q9 2>/dev/null; expect_eq "bad outtype" "$?" 2
"$BIN" convert "$HF" -o "$T/x.gguf" --bogus 2>/dev/null; expect_eq "bad flag" "$?" 2
"$BIN" convert --help >/dev/null; expect_eq "--help" "$?" 0
# bad input: exit 1, one line, no output
mkdir "$T/bad"
cp "$HF"/*.json "$T/bad/"
head -c 100000 "$HF/model.safetensors" > "$T/bad/model.safetensors"
msg=$("$BIN" convert "$T/bad" -o "$T/bad.gguf" 2>&1); expect_eq "truncated exit" "$?" 1
expect_eq "one line" "$(printf '%s\n' "$msg" | wc -l)" 1
[ ! -e "$T/bad.gguf" ] && [ ! -e "$T/bad.gguf.part" ] && ok || bad "output left after a failed conversion"
"$BIN" convert "$T/nonexistent" -o "$T/x.gguf" 2>/dev/null; expect_eq "missing dir" "$?" 1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
