#!/usr/bin/env bash
# `edgellm template` end to end: renderings of shared/templates/expected.json byte for byte (from
# a .jinja file and from the template stored in a GGUF), --kwarg / --date / no added newline,
# a template that raises (stderr message, exit 1), bad input (exit 1) and usage errors (exit 2).
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN must point at the edgellm binary}
SHARED=${EDGELLM_SHARED:-$(dirname "$0")/../../shared}
T="$SHARED/templates"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_rc() { # name got want
    if [ "$2" = "$3" ]; then ok; else bad "$1: exit code $2, want $3"; fi
}

# Writes the conversation files and, for case i, its argument list and expected output.
python3 - "$T/expected.json" "$TMP" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
out = sys.argv[2]
for name, conv in d["conversations"].items():
    with open(f"{out}/{name}.json", "w", encoding="utf-8") as f:
        json.dump(conv, f, ensure_ascii=False)
for i, c in enumerate(d["cases"]):
    args = ["--messages", f"{out}/{c['conversation']}.json", "--date", d["date"]]
    if c["add_generation_prompt"]:
        args.append("--add-generation-prompt")
    if c.get("bos_token") is not None:
        args += ["--bos-token", c["bos_token"]]
    if c.get("eos_token") is not None:
        args += ["--eos-token", c["eos_token"]]
    for k, v in c.get("kwargs", {}).items():
        args += ["--kwarg", f"{k}={json.dumps(v)}"]
    with open(f"{out}/case{i}.args", "w", encoding="utf-8") as f:
        f.write("\0".join(args))
    with open(f"{out}/case{i}.template", "w") as f:
        f.write(c["template"])
    if c["expected"] is not None:
        with open(f"{out}/case{i}.want", "wb") as f:
            f.write(c["expected"].encode("utf-8"))
    else:
        with open(f"{out}/case{i}.error", "w", encoding="utf-8") as f:
            f.write(c["error"])
EOF

run_case() { # case-index source-flag source
    local i=$1
    local -a args
    mapfile -d '' args < "$TMP/case$i.args"
    "$BIN" template "$2" "$3" "${args[@]}" > "$TMP/got" 2> "$TMP/err"
}

# A few cases from every template family, from the .jinja files.
for i in 0 3 7 14 17 20 26 29 30 33 36 41; do
    tname=$(cat "$TMP/case$i.template")
    run_case "$i" --template "$T/$tname"
    rc=$?
    expect_rc "case $i ($tname)" "$rc" 0
    if cmp -s "$TMP/got" "$TMP/case$i.want"; then ok; else bad "case $i ($tname): output differs"; diff "$TMP/got" "$TMP/case$i.want" | head -5 >&2; fi
done

# Gemma has no system role: the template raises; the message goes to stderr, exit 1.
for i in 38 39; do
    run_case "$i" --template "$T/google-gemma-2-2b-it.jinja"
    rc=$?
    expect_rc "case $i raises" "$rc" 1
    want=$(cat "$TMP/case$i.error")
    if grep -qF "$want" "$TMP/err"; then ok; else bad "case $i: stderr '$(cat "$TMP/err")' lacks '$want'"; fi
    if [ ! -s "$TMP/got" ]; then ok; else bad "case $i: printed output despite the error"; fi
done

# The template stored in the GGUF files (official DeepSeek-R1-Distill-Qwen, Llama 3.2).
for spec in "qwen2-mini-q8_0:2" "qwen2-mini-q8_0:5" "llama3-mini-f16:26"; do
    model=${spec%%:*}
    i=${spec##*:}
    run_case "$i" -m "$SHARED/models/$model.gguf"
    rc=$?
    expect_rc "-m $model case $i" "$rc" 0
    if cmp -s "$TMP/got" "$TMP/case$i.want"; then ok; else bad "-m $model case $i: output differs"; fi
done
"$BIN" template -m "$SHARED/models/aidreams260K-f32.gguf" --messages "$TMP/single.json" > "$TMP/got" 2> "$TMP/err"
expect_rc "model without a template" "$?" 1
if grep -q "no chat template" "$TMP/err"; then ok; else bad "no-template message: $(cat "$TMP/err")"; fi

# --kwarg variables, --date, and no newline added.
printf '%s' "{{ x + 1 }}-{{ y.k }}-{{ z is defined }}-{{ strftime_now('%d %B %Y') }}" > "$TMP/t.jinja"
"$BIN" template --template "$TMP/t.jinja" --messages "$TMP/single.json" --kwarg x=41 --kwarg 'y={"k": "v"}' --date 2024-02-29 > "$TMP/got"
expect_rc "--kwarg" "$?" 0
printf '%s' "42-v-False-29 February 2024" > "$TMP/want"
if cmp -s "$TMP/got" "$TMP/want"; then ok; else bad "--kwarg/--date output '$(cat "$TMP/got")'"; fi
printf '%s\n' "{{ messages[0].role }}" > "$TMP/t2.jinja"
"$BIN" template --template "$TMP/t2.jinja" --messages "$TMP/single.json" > "$TMP/got"
if [ "$(wc -c < "$TMP/got")" -eq 4 ]; then ok; else bad "expected exactly 'user' (4 bytes), got $(wc -c < "$TMP/got")"; fi
# nothing implicit: bos_token and add_generation_prompt only from flags
printf '%s' "[{{ bos_token is defined }}{{ add_generation_prompt }}]" > "$TMP/t3.jinja"
got=$("$BIN" template --template "$TMP/t3.jinja" --messages "$TMP/single.json")
if [ "$got" = "[FalseFalse]" ]; then ok; else bad "implicit variables: '$got'"; fi

# Bad input: exit 1 with one line on stderr.
printf '%s' '{"role": "user", "content": "hi"}' > "$TMP/obj.json"
"$BIN" template --template "$T/google-gemma-2-2b-it.jinja" --messages "$TMP/obj.json" > /dev/null 2> "$TMP/err"
expect_rc "messages not a list" "$?" 1
if [ "$(wc -l < "$TMP/err")" -eq 1 ] && grep -q "JSON list" "$TMP/err"; then ok; else bad "not-a-list message: $(cat "$TMP/err")"; fi
printf '%s' '[{"role": "user", "content": "hi"' > "$TMP/trunc.json"
"$BIN" template --template "$T/google-gemma-2-2b-it.jinja" --messages "$TMP/trunc.json" > /dev/null 2>&1
expect_rc "truncated JSON" "$?" 1
printf '%s' "{{ x|frobnicate }}" > "$TMP/bad.jinja"
"$BIN" template --template "$TMP/bad.jinja" --messages "$TMP/single.json" > /dev/null 2> "$TMP/err"
expect_rc "unsupported filter" "$?" 1
if grep -q "unsupported filter 'frobnicate' at line 1" "$TMP/err"; then ok; else bad "unsupported message: $(cat "$TMP/err")"; fi
"$BIN" template --template "$TMP/missing.jinja" --messages "$TMP/single.json" > /dev/null 2>&1
expect_rc "missing template file" "$?" 1

# Usage errors: exit 2.
"$BIN" template --template "$TMP/t.jinja" --messages "$TMP/single.json" --bogus > /dev/null 2>&1
expect_rc "unknown flag" "$?" 2
"$BIN" template --template "$TMP/t.jinja" > /dev/null 2>&1
expect_rc "no --messages" "$?" 2
"$BIN" template --messages "$TMP/single.json" > /dev/null 2>&1
expect_rc "no template source" "$?" 2
"$BIN" template -m x.gguf --template "$TMP/t.jinja" --messages "$TMP/single.json" > /dev/null 2>&1
expect_rc "both -m and --template" "$?" 2
"$BIN" template --template "$TMP/t.jinja" --messages "$TMP/single.json" --date 2026-02-30 > /dev/null 2>&1
expect_rc "bad --date" "$?" 2
"$BIN" template --template "$TMP/t.jinja" --messages "$TMP/single.json" --kwarg 'x=[1' > /dev/null 2>&1
expect_rc "bad --kwarg JSON" "$?" 2
"$BIN" template --template "$TMP/t.jinja" --messages "$TMP/single.json" --kwarg '1x=1' > /dev/null 2>&1
expect_rc "bad --kwarg name" "$?" 2
"$BIN" template --help > "$TMP/got"
expect_rc "--help" "$?" 0
if grep -q "usage: edgellm template" "$TMP/got"; then ok; else bad "--help text"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
