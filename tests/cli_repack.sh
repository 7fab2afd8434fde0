#!/usr/bin/env bash
# A model with its matrices repacked for decode (the default on AVX2 / AVX-512) gives the same
# logits as the same model kept in the mapped file (EDGELLM_REPACK=0), within float rounding,
# for every type that has a repacked layout. (test_golden checks both, token by token and as one
# batch, against the reference engine; this compares the two paths directly: the batch path
# works on rows unpacked from the repacked copy, so today the two are even bit-identical.)
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
TOKENS="1 17 300 42 7 1000 5 99 123 64 8 250 3 77 510 19 2 640 33 12"
for m in qwen2-mini-q4_0 qwen2-mini-q8_0 qwen2-mini-q5_0 qwen2-mini-q4_k_m qwen2-mini-q5_k_m qwen2-mini-q6_k \
         qwen2-mini-iq4_xs qwen2-mini-f16 llama3-mini-q4_k_m; do
    M=$SHARED/models/$m.gguf
    [ -f "$M" ] || { echo "skip $m (missing)"; continue; }
    EDGELLM_REPACK=0 "$BIN" logits -m "$M" --tokens "$TOKENS" -o "$TMP/a.f32" -t 2 2>"$TMP/err0"
    r0=$?
    EDGELLM_REPACK=1 "$BIN" logits -m "$M" --tokens "$TOKENS" -o "$TMP/b.f32" -t 2 2>"$TMP/err1"
    r1=$?
    if [ $r0 -ne 0 ] || [ $r1 -ne 0 ]; then
        fail=$((fail + 1)); echo "FAIL: $m: logits exit $r0 / $r1: $(cat "$TMP/err0" "$TMP/err1")" >&2; continue
    fi
    if out=$(python3 - "$TMP/a.f32" "$TMP/b.f32" <<'PY'
import struct, sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
if len(a) != len(b) or not a: print("sizes %d / %d" % (len(a), len(b))); sys.exit(1)
x = struct.unpack('%df' % (len(a) // 4), a); y = struct.unpack('%df' % (len(b) // 4), b)
scale = max(abs(v) for v in x)
d = max(abs(p - q) for p, q in zip(x, y))
print("max |diff| %.3g (max |logit| %.3g)" % (d, scale))
sys.exit(0 if d <= 2e-3 * scale else 1)
PY
    ); then pass=$((pass + 1)); echo "$m: $out"; else fail=$((fail + 1)); echo "FAIL: $m: $out" >&2; fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
