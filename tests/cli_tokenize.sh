#!/usr/bin/env bash
# `edgellm tokenize` against the reference: for every shared model, the ids of its `prompt`
# (BOS included) must equal `prompt_tokens` of ../shared/refs/<model>.json. Also checks stdin
# input, --no-bos, --parse-special, vocabulary-only files and the usage exit codes.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN must point at the edgellm binary}
SHARED=${EDGELLM_SHARED:-$(dirname "$0")/../../shared}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_eq() { # name got want
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

n_models=0
for model in "$SHARED"/models/*.gguf; do
    name=$(basename "$model" .gguf)
    ref="$SHARED/refs/$name.json"
    [ -f "$ref" ] || { bad "$name: no reference $ref"; continue; }
    n_models=$((n_models + 1))
    prompt=$(python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["prompt"])' "$ref")
    want=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_tokens"])))' "$ref")
    got=$("$BIN" tokenize -m "$model" -p "$prompt")
    expect_eq "$name -p" "$got" "$want"
    # the same prompt through stdin, byte for byte (no trailing newline added)
    got=$(python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["prompt"])' "$ref" | "$BIN" tokenize -m "$model")
    expect_eq "$name stdin" "$got" "$want"
done
expect_eq "number of models" "$n_models" 21

# --no-bos drops exactly the leading BOS of the reference
ref="$SHARED/refs/qwen2-mini-q8_0.json"
prompt=$(python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["prompt"])' "$ref")
want=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_tokens"][1:])))' "$ref")
got=$("$BIN" tokenize -m "$SHARED/models/qwen2-mini-q8_0.gguf" --no-bos -p "$prompt")
expect_eq "--no-bos" "$got" "$want"

# control tokens: text unless --parse-special; USER_DEFINED <think> (4004) always matched whole
m="$SHARED/models/qwen2-mini-q8_0.gguf"
got=$("$BIN" tokenize -m "$m" --no-bos --parse-special -p "<｜User｜><think>")
expect_eq "--parse-special" "$got" "4002 4004"
got=$("$BIN" tokenize -m "$m" --no-bos -p "<think>")
expect_eq "user-defined token" "$got" "4004"
got=$("$BIN" tokenize -m "$m" --no-bos -p "<｜User｜>")
case " $got " in *" 4002 "*) bad "control token parsed without --parse-special: $got" ;; *) ok ;; esac

# vocabulary-only file (Llama 2 SentencePiece: BOS 1 by metadata); "Hello world" = 15043 3186
got=$("$BIN" tokenize -m "$SHARED/vocab/ggml-vocab-llama-spm.gguf" -p "Hello world")
expect_eq "vocab-only spm" "$got" "1 15043 3186"
# stdin with a trailing newline is kept: 13 is <0x0A>
got=$(printf 'Hello world\n' | "$BIN" tokenize -m "$SHARED/vocab/ggml-vocab-llama-spm.gguf" --no-bos)
expect_eq "stdin newline" "$got" "15043 3186 13"

# exit codes: --help 0, usage error 2, runtime error 1
"$BIN" tokenize --help >/dev/null; expect_eq "--help exit" "$?" 0
"$BIN" tokenize -p x 2>/dev/null; expect_eq "missing -m exit" "$?" 2
"$BIN" tokenize -m "$m" --bogus 2>/dev/null; expect_eq "unknown option exit" "$?" 2
"$BIN" tokenize -m /nonexistent.gguf -p x 2>/dev/null; expect_eq "missing file exit" "$?" 1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
