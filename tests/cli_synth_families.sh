#!/usr/bin/env bash
# `edgellm synth` presets of the other families (qwen3-1.7b, gemma3-1b, phi4-mini): every layout
# equals its ../shared/presets TSV; one real file (gemma3-1b q4_0: placeholder vocabulary of 262,144
# tokens, control tokens at Gemma 3's ids) loads, describes itself as the README says, renders its
# chat template and evaluates tokens to finite logits.
set -u
: "${EDGELLM_BIN:?EDGELLM_BIN not set}" "${EDGELLM_SHARED:?EDGELLM_SHARED not set}"
bin=$EDGELLM_BIN shared=$EDGELLM_SHARED
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { if [ "$1" -ne 0 ]; then echo "FAIL: $2" >&2; fail=1; fi; }
for p in qwen3-1.7b gemma3-1b phi4-mini; do
  for t in q4_0 q8_0 q4_k_m; do
    "$bin" synth --layout --preset "$p" --type "$t" --shared "$shared" >"$tmp/l.tsv"; ok $? "synth --layout $p $t"
    diff <(grep -v '^#' "$tmp/l.tsv") <(grep -v '^#' "$shared/presets/$p-$t.tsv") >/dev/null; ok $? "$p $t layout differs from its TSV"
  done
done
f=$tmp/gemma3-1b-q4_0.gguf
"$bin" synth --preset gemma3-1b --type q4_0 -o "$f" --shared "$shared" >/dev/null; ok $? "synth gemma3-1b q4_0"
"$bin" info --json "$f" >"$tmp/info.json"; ok $? "info gemma3-1b"
python3 - "$tmp/info.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
want = {"family": "gemma3", "n_vocab": 262144, "n_layer": 26, "head_dim_k": 256, "supported": True,
        "tensor_types": {"f32": 157, "q4_0": 182, "q8_0": 1}, "tokenizer_model": "llama", "add_bos": True}
bad = {k: d.get(k) for k, v in want.items() if d.get(k) != v}
st = d["special_tokens"]
if (st["bos"]["id"], st["eos"]["id"], st["eot"]["id"]) != (2, 1, 106): bad["special"] = st
if [l["attn"] for l in d["layers"]][:6] != ["swa"] * 5 + ["full"] or d["layers"][0]["window"] != 512: bad["layers"] = d["layers"][:6]
if bad:
    print("FAIL: gemma3-1b info:", bad, file=sys.stderr); sys.exit(1)
PY
ok $? "gemma3-1b describes itself"
echo '[{"role":"user","content":"Hi"}]' >"$tmp/m.json"
"$bin" template -m "$f" --messages "$tmp/m.json" --add-generation-prompt >"$tmp/r.txt"; ok $? "template"
grep -q '<start_of_turn>model' "$tmp/r.txt"; ok $? "gemma template renders the model turn"
"$bin" logits -m "$f" --tokens "2 105 1000 106" -o "$tmp/l.f32" -t 2 --last 1; ok $? "logits on the synthetic gemma3"
python3 -c "
import array, math, sys
a = array.array('f'); a.frombytes(open('$tmp/l.f32', 'rb').read())
sys.exit(0 if len(a) == 262144 and all(math.isfinite(x) for x in a) else 1)"; ok $? "finite logits"
[ $fail -eq 0 ] && echo "cli_synth_families: ok"
exit $fail
