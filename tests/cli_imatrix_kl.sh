#!/usr/bin/env bash
# Does edgellm's own importance matrix serve the quantizer as well as llama-imatrix's?
# qwen2-mini-f32 is quantized (edgellm quantize) to each type that has a "+imatrix" reference in
# ../shared/quant/expected.json, once with the matrix `edgellm imatrix` computes on calib.txt and
# once with llama-imatrix's qwen2-mini.imatrix.gguf; both results are run on the shared prompt
# (refs/qwen2-mini-f16.json prompt_tokens, `edgellm logits`, all positions) and compared with the
# F32 base: mean KL(base || result) with edgellm's matrix must be within 1.02x of the one with
# llama.cpp's. Also prints how many tensors match expected.json's +imatrix sha256 (information).
# Skips (77) while `edgellm quantize` does not exist.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
Q=$SHARED/quant
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" quantize --help >/dev/null 2>&1 || { echo "SKIP: edgellm quantize is not built"; exit 77; }
for f in "$Q/calib.txt" "$Q/qwen2-mini-f32.gguf" "$Q/qwen2-mini.imatrix.gguf" "$Q/expected.json" "$SHARED/refs/qwen2-mini-f16.json"; do
    [ -f "$f" ] || { echo "SKIP: $f missing"; exit 77; }
done
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

(cd "$Q" && "$BIN" imatrix -m qwen2-mini-f32.gguf -f calib.txt -c 128 -t 2 -o "$TMP/own.imatrix.gguf" >/dev/null 2>"$TMP/err") ||
    { bad "imatrix: $(cat "$TMP/err")"; echo "$pass passed, $fail failed"; exit 1; }
TOKENS=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_tokens"])))' "$SHARED/refs/qwen2-mini-f16.json")
"$BIN" logits -m "$Q/qwen2-mini-f32.gguf" --tokens "$TOKENS" -o "$TMP/base.f32" -t 2 2>"$TMP/err" || bad "logits of the base: $(cat "$TMP/err")"

# mean over positions of KL(softmax(base) || softmax(q)), in double
kl() {
    python3 - "$TMP/base.f32" "$1" <<'EOF'
import array, math, sys
n_vocab = 4008
def rows(p):
    a = array.array('f'); a.frombytes(open(p, 'rb').read())
    return [a[i:i + n_vocab] for i in range(0, len(a), n_vocab)]
def logp(r):
    m = max(r); s = math.log(sum(math.exp(x - m) for x in r)); return [x - m - s for x in r]
B, Qr = rows(sys.argv[1]), rows(sys.argv[2])
assert len(B) == len(Qr) and len(B) > 0
tot = 0.0
for b, q in zip(B, Qr):
    lb, lq = logp(b), logp(q)
    tot += sum(math.exp(x) * (x - y) for x, y in zip(lb, lq))
print(f"{tot / len(B):.6g}")
EOF
}

for type in Q4_K_M IQ4_XS Q2_K; do
    key="qwen2-mini-$(echo $type | tr A-Z a-z)+imatrix"
    for who in own llama; do
        im=$TMP/own.imatrix.gguf
        [ $who = llama ] && im=$Q/qwen2-mini.imatrix.gguf
        if ! "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$TMP/$who.gguf" $type --imatrix "$im" -t 2 >/dev/null 2>"$TMP/err"; then
            bad "quantize $type with the $who matrix: $(cat "$TMP/err")"
            continue 2
        fi
        "$BIN" logits -m "$TMP/$who.gguf" --tokens "$TOKENS" -o "$TMP/$who.f32" -t 2 2>"$TMP/err" || bad "logits $type $who: $(cat "$TMP/err")"
    done
    k_own=$(kl "$TMP/own.f32")
    k_llama=$(kl "$TMP/llama.f32")
    same=$(python3 - "$Q/expected.json" "$key" "$TMP/own.gguf" <<'EOF'
import hashlib, json, struct, sys
exp = {t["name"]: (t["sha256"], t["n_bytes"]) for t in json.load(open(sys.argv[1]))["files"][sys.argv[2]]["tensors"]}
b = open(sys.argv[3], 'rb').read(); o = 8
nt, nkv = struct.unpack_from('<QQ', b, o); o += 16
def skip_val(t, o):
    if t == 8: n, = struct.unpack_from('<Q', b, o); return o + 8 + n
    if t == 9:
        at, n = struct.unpack_from('<IQ', b, o); o += 12
        for _ in range(n): o = skip_val(at, o)
        return o
    return o + {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[t]
align = 32
for _ in range(nkv):
    n, = struct.unpack_from('<Q', b, o); k = b[o + 8:o + 8 + n].decode(); o += 8 + n
    t, = struct.unpack_from('<I', b, o); o += 4
    if k == "general.alignment": align, = struct.unpack_from('<I', b, o)
    o = skip_val(t, o)
infos = []
for _ in range(nt):
    n, = struct.unpack_from('<Q', b, o); name = b[o + 8:o + 8 + n].decode(); o += 8 + n
    nd, = struct.unpack_from('<I', b, o); o += 4 + 8 * nd
    ty, off = struct.unpack_from('<IQ', b, o); o += 12
    infos.append((name, off))
data = (o + align - 1) // align * align
same = 0
for name, off in infos:
    if name in exp and hashlib.sha256(b[data + off:data + off + exp[name][1]]).hexdigest() == exp[name][0]:
        same += 1
print(f"{same}/{len(infos)}")
EOF
)
    echo "$type: KL(F32 || quantized with edgellm's imatrix) $k_own, with llama-imatrix's $k_llama; tensors identical to llama-quantize +imatrix: $same"
    if python3 -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1.02 * float(sys.argv[2]))' "$k_own" "$k_llama"; then ok
    else bad "$type: KL with edgellm's matrix $k_own > 1.02 x $k_llama"; fi
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
