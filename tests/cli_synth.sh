#!/usr/bin/env bash
# `edgellm synth`: the layouts it derives equal the reference quantizer's (../shared/presets), and the
# full-size Q4_0 file it writes (~1 GB, a few seconds) is read back by `edgellm info --json` with the
# tensor count, parameter count and type histogram of the preset TSV, and the qwen2 / R1 metadata.
# Also the usage errors. Needs EDGELLM_BIN and EDGELLM_SHARED.
set -u
bin=${EDGELLM_BIN:?set EDGELLM_BIN}
shared=${EDGELLM_SHARED:?set EDGELLM_SHARED}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_synth.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
. "$(dirname "$0")/skip.sh"
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2" >&2; fi; }

# 1. layouts: derived (no TSV folder) and read from the TSV, both equal to the reference TSV
for t in q4_0 q8_0 q4_k_m; do
  ref=$shared/presets/r1-qwen-1.5b-$t.tsv
  "$bin" synth --layout --preset r1-qwen-1.5b --type "$t" --presets "$tmp/none" --shared "$shared" >"$tmp/derived.tsv"
  cmp -s "$tmp/derived.tsv" "$ref"; ok $? "derived $t layout differs from $ref"
  "$bin" synth --layout --preset r1-qwen-1.5b --type "$t" --shared "$shared" >"$tmp/read.tsv"
  cmp -s "$tmp/read.tsv" "$ref"; ok $? "layout read from $ref does not round-trip"
done

# 2. the full-size q4_0 file, seen by `edgellm info --json` (1 GiB: needs the disk space)
f=$tmp/r1-qwen-1.5b-q4_0.gguf
free_kib=$(df -Pk "$tmp" | awk 'NR == 2 {print $4}')
if [ "${free_kib:-0}" -lt 3000000 ]; then
  skip_part "cli_synth: only ${free_kib} KiB free in $tmp; the full-size file check needs 3 GB"
else
start=$(date +%s)
"$bin" synth --preset r1-qwen-1.5b --type q4_0 -o "$f" --seed 5 --shared "$shared" >"$tmp/synth.out"; ok $? "synth q4_0 failed"
echo "synth q4_0: $(cat "$tmp/synth.out") (wall $(( $(date +%s) - start )) s)"
"$bin" info --json "$f" >"$tmp/info.json"; ok $? "info --json failed on the synthesized file"
python3 - "$tmp/info.json" "$shared/presets/r1-qwen-1.5b-q4_0.tsv" "$(stat -c %s "$f")" <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[2]) if not l.startswith('#')]
hist, params = {}, 0
for name, typ, shape in rows:
    hist[typ.lower()] = hist.get(typ.lower(), 0) + 1
    n = 1
    for d in shape.split(','):
        n *= int(d)
    params += n
expect = {
    'architecture': 'qwen2', 'n_tensors': len(rows), 'n_params': params, 'file_size': int(sys.argv[3]),
    'gguf_version': 3, 'context_length': 131072, 'n_embd': 1536, 'n_layer': 28, 'n_head': 12, 'n_head_kv': 2,
    'n_ff': 8960, 'rope_freq_base': 10000, 'norm_eps': 1e-6, 'n_vocab': 151936, 'tokenizer_model': 'gpt2',
    'tokenizer_pre': 'deepseek-r1-qwen', 'tied_output': False, 'chat_template': True, 'add_bos': True,
}
bad = 0
for k, v in expect.items():
    got = info.get(k)
    same = abs(got - v) <= 1e-9 * abs(v) if isinstance(v, float) and isinstance(got, (int, float)) else got == v
    if not same:
        print(f"FAIL: info.{k} = {got!r}, expected {v!r}", file=sys.stderr); bad += 1
types = {k.lower(): v for k, v in info.get('tensor_types', {}).items()}
if types != hist:
    print(f"FAIL: tensor types {types}, the TSV has {hist}", file=sys.stderr); bad += 1
st = info.get('special_tokens', {})
bos, eos = st.get('bos'), st.get('eos')
def tid(x): return x.get('id') if isinstance(x, dict) else x
if tid(bos) != 151646 or tid(eos) != 151643 or bos.get('text') != '<｜begin▁of▁sentence｜>':
    print(f"FAIL: special tokens {st}", file=sys.stderr); bad += 1
print(f"info checks: {len(expect) + 2 - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
EOF
ok $? "info --json does not match the preset"
rm -f "$f"
fi

# 3. usage errors: exit code 2 and a message naming the problem, and no file left behind
"$bin" synth --preset r1-qwen-1.5b --type q3_k -o "$tmp/x.gguf" --shared "$shared" 2>"$tmp/err"
[ $? = 2 ] && grep -q q3_k "$tmp/err" && [ ! -e "$tmp/x.gguf" ]; ok $? "bad --type not reported"
"$bin" synth --preset nope --type q4_0 -o "$tmp/x.gguf" --shared "$shared" 2>"$tmp/err"
[ $? = 2 ] && grep -q nope "$tmp/err"; ok $? "bad --preset not reported"
"$bin" synth --type q4_0 -o "$tmp/x.gguf" 2>/dev/null
[ $? = 2 ]; ok $? "missing --preset not a usage error"
"$bin" synth --preset r1-qwen-1.5b --type q4_0 --seed -3 -o "$tmp/x.gguf" 2>/dev/null
[ $? = 2 ]; ok $? "negative seed accepted"

echo "$pass passed, $fail failed"
finish_test "$fail"
