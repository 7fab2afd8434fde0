#!/usr/bin/env bash
# `edgellm perplexity` against llama-perplexity's figures (../shared/quant/refs/perplexity.json,
# the same commands with -c 128): PPL within 0.5 % for the real TinyStories model and for
# qwen2-mini-f16; then the KL-divergence mode (base = qwen2-mini-f16, saved with --kl-base-out)
# against qwen2-mini-q4_0 and -q4_k_m: every statistic within 5 % relative or 1e-4 absolute.
# Then bad input: exit 2 for bad arguments, 1 for bad files, one line, never a crash.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
REF=$SHARED/quant/refs/perplexity.json
TEXT=$SHARED/quant/ppl-text.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
for f in "$REF" "$TEXT" "$SHARED/models/qwen2-mini-f16.gguf" "$SHARED/quant/tinystories656K-q8_0.gguf"; do
    [ -f "$f" ] || { echo "SKIP: $f missing"; exit 77; }
done

# check JSON_LINE PY_EXPR_FOR_PAIRS: prints the comparison, exits 1 on a miss
compare() {
    python3 - "$REF" "$1" "$2" <<'EOF'
import json, sys
ref = json.load(open(sys.argv[1]))
got = json.loads(sys.argv[2])
mode = sys.argv[3]
bad = 0
def chk(name, g, r, rel, absol=0.0):
    global bad
    d = abs(g - r)
    okk = d <= max(rel * abs(r), absol)
    print(f"  {name:14s} edgellm {g:<14.6g} llama.cpp {r:<14.6g} rel {d / abs(r) if r else d:.2e} {'ok' if okk else 'MISS'}")
    bad |= not okk
if mode.startswith("ppl:"):
    r = ref["perplexity"][mode[4:]]
    chk("ppl", got["ppl"], r["ppl"], 0.005)
    chk("ppl_err", got["ppl_err"], r["ppl_err"], 0.05)
    bad |= got["n_chunks"] != r["n_chunks"] or got["n_tokens"] != r["n_chunks"] * r["scored_per_chunk"]
else:
    s = ref["kl_divergence"][mode[3:]]["stats"]
    v = lambda k: s[k]["value"]
    for key, rk, scale in [("kld_mean", "Mean KLD", 1), ("kld_median", "Median KLD", 1), ("kld_p99", "99.0% KLD", 1),
                           ("kld_max", "Maximum KLD", 1), ("same_top_pct", "Same top p", 1), ("rms_dp_pct", "RMS \u0394p", 1),
                           ("ppl_ratio", "Mean PPL(Q)/PPL(base)", 1), ("ln_ppl_ratio", "Mean ln(PPL(Q)/PPL(base))", 1)]:
        chk(key, got[key], v(rk) * scale, 0.05, 1e-4)
    chk("kld_mean_err", got["kld_mean_err"], s["Mean KLD"]["unc"], 0.05, 1e-4)
    chk("same_top_err", got["same_top_err"], s["Same top p"]["unc"], 0.05, 1e-4)
    chk("ppl", got["ppl"], s["Mean PPL(Q)"]["value"], 0.005)
sys.exit(1 if bad else 0)
EOF
}

# 1. perplexity, as `llama-perplexity -m M -f quant/ppl-text.txt -c 128`
for m in quant/tinystories656K-q8_0 models/qwen2-mini-f16; do
    key=$(basename $m)
    extra=""
    [ "$key" = qwen2-mini-f16 ] && extra="--kl-base-out $TMP/base.kld"
    out=$("$BIN" perplexity -m "$SHARED/$m.gguf" -f "$TEXT" -c 128 -t 2 --json $extra 2>"$TMP/err")
    rc=$?
    echo "$key: $out"
    if [ $rc -eq 0 ] && compare "$out" "ppl:$key"; then ok; else bad "perplexity $key (rc $rc): $(cat "$TMP/err")"; fi
done
[ -f "$TMP/base.kld" ] && [ ! -e "$TMP/base.kld.tmp" ] && ok || bad "--kl-base-out did not leave base.kld"

# 2. KL divergence against the saved base
for q in q4_0 q4_k_m; do
    out=$("$BIN" perplexity -m "$SHARED/models/qwen2-mini-$q.gguf" --kl-base "$TMP/base.kld" -t 2 --json 2>"$TMP/err")
    rc=$?
    echo "qwen2-mini-$q: $out"
    if [ $rc -eq 0 ] && compare "$out" "kl:qwen2-mini-$q"; then ok; else bad "kl $q (rc $rc): $(cat "$TMP/err")"; fi
done
# the text may be given again if it is the same one; the human-readable report has the table
out=$("$BIN" perplexity -m "$SHARED/models/qwen2-mini-q8_0.gguf" --kl-base "$TMP/base.kld" -f "$TEXT" -t 2 2>"$TMP/err")
if [ $? -eq 0 ] && grep -q "Mean    KLD" <<<"$out" && grep -q "Same top p" <<<"$out"; then ok; else bad "kl q8_0 report: $out $(cat "$TMP/err")"; fi

# 3. bad input: exit code and one line on stderr
expect() { # expect CODE DESCRIPTION ARGS...
    local want=$1 what=$2
    shift 2
    "$BIN" perplexity "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    local lines=$(wc -l <"$TMP/err")
    if [ $rc -eq "$want" ] && [ "$lines" -ge 1 ] && [ "$lines" -le 2 ]; then ok; else
        bad "$what: exit $rc (want $want), stderr: $(cat "$TMP/err")"
    fi
}
M=$SHARED/models/qwen2-mini-q4_0.gguf
printf 'Once upon a time there was a tiny text.\n' >"$TMP/short.txt"
head -c 100000 /dev/urandom >"$TMP/garbage.kld"
head -c 4000 "$TMP/base.kld" >"$TMP/trunc.kld"
cp "$TMP/base.kld" "$TMP/v2.kld" && printf '\x02' | dd of="$TMP/v2.kld" bs=1 seek=8 conv=notrunc 2>/dev/null
cp "$TMP/base.kld" "$TMP/chunks.kld" && printf '\xff\xff\xff\x00' | dd of="$TMP/chunks.kld" bs=1 seek=20 conv=notrunc 2>/dev/null
cp "$TMP/base.kld" "$TMP/tok.kld" && printf '\xff\xff\xff\x7f' | dd of="$TMP/tok.kld" bs=1 seek=44 conv=notrunc 2>/dev/null
expect 1 "base with a wrong chunk count" -m "$M" --kl-base "$TMP/chunks.kld"
expect 1 "base with a token out of range" -m "$M" --kl-base "$TMP/tok.kld"
expect 2 "no -m" -f "$TEXT"
expect 2 "no -f" -m "$M"
expect 2 "unknown option" -m "$M" -f "$TEXT" --bogus
expect 2 "-c 0" -m "$M" -f "$TEXT" -c 0
expect 2 "-c not a number" -m "$M" -f "$TEXT" -c abc
expect 2 "both kl modes" -m "$M" -f "$TEXT" --kl-base "$TMP/base.kld" --kl-base-out "$TMP/x.kld"
expect 2 "-c without value" -m "$M" -f "$TEXT" -c
expect 1 "missing model" -m "$TMP/none.gguf" -f "$TEXT"
expect 1 "model is not gguf" -m "$TEXT" -f "$TEXT"
expect 1 "missing text" -m "$M" -f "$TMP/none.txt"
expect 1 "text shorter than 2 chunks" -m "$M" -f "$TMP/short.txt" -c 128
expect 1 "missing base" -m "$M" --kl-base "$TMP/none.kld"
expect 1 "garbage base" -m "$M" --kl-base "$TMP/garbage.kld"
expect 1 "truncated base" -m "$M" --kl-base "$TMP/trunc.kld"
expect 1 "base of another version" -m "$M" --kl-base "$TMP/v2.kld"
expect 1 "base of another vocabulary" -m "$SHARED/models/aidreams260K-q8_0.gguf" --kl-base "$TMP/base.kld"
expect 1 "base with another text" -m "$M" --kl-base "$TMP/base.kld" -f "$SHARED/quant/calib.txt"
expect 1 "base with another -c" -m "$M" --kl-base "$TMP/base.kld" -c 64
expect 1 "unwritable base out" -m "$M" -f "$TEXT" -c 128 --kl-base-out "$TMP/no/such/dir/b.kld"
"$BIN" perplexity --help | grep -q "kl-base-out" && ok || bad "--help"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
