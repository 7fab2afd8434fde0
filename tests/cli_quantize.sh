#!/usr/bin/env bash
# `edgellm quantize` from the command line: a quantization whose bytes are checked against
# ../shared/quant/expected.json (sha256 of every tensor; the file is also re-read by
# `edgellm info`), the --json summary keys, the options, and bad inputs: exit 2 for
# bad arguments, 1 for a bad file, one line on stderr, no output file left behind.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:-../shared}
Q=$SHARED/quant
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# expect CODE WORDS NAME -- CMD...: exit CODE; on failure exactly one stderr line matching WORDS
expect() {
    local code=$1 words=$2 name=$3
    shift 4
    timeout -k 5 120 "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ]; then bad "$name: exit $rc (want $code): $(head -c 300 "$T/err")"; return; fi
    if [ "$code" -ne 0 ]; then
        [ "$(wc -l <"$T/err")" -eq 1 ] || { bad "$name: want one line on stderr: $(head -c 300 "$T/err")"; return; }
        grep -qiE -e "$words" "$T/err" || { bad "$name: message does not match '$words': $(cat "$T/err")"; return; }
    fi
    ok
}

# 1. Q4_K_M with --json, lower-case type; compare the tensor bytes with expected.json
expect 0 "" "q4_k_m --json" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/q.gguf" q4_k_m -t 2 --json
json=$(cat "$T/out")
for k in size_in size_out bpw n_tensors per_type; do
    case "$json" in *"\"$k\":"*) ok ;; *) bad "--json lacks $k: $json" ;; esac
done
case "$json" in *'"q4_K":'*'"q6_K":'*) ok ;; *) bad "--json per_type: $json" ;; esac
[ -f "$T/q.gguf" ] && [ ! -e "$T/q.gguf.tmp" ] && ok || bad "output missing or temp file left"
grep -q '\[' "$T/err" && ok || bad "no progress on stderr"
if command -v python3 >/dev/null; then
    python3 - "$Q/expected.json" "$T/q.gguf" qwen2-mini-q4_k_m <<'PY' && ok || bad "q4_k_m bytes differ from expected.json"
import json, struct, hashlib, sys
exp = json.load(open(sys.argv[1]))['files'][sys.argv[3]]
b = open(sys.argv[2], 'rb').read()
o = 8; nt, nkv = struct.unpack_from('<QQ', b, o); o += 16
def s(o):
    n, = struct.unpack_from('<Q', b, o); return b[o + 8:o + 8 + n], o + 8 + n
def skip(t, o):
    if t == 8: return s(o)[1]
    if t == 9:
        at, n = struct.unpack_from('<IQ', b, o); o += 12
        for _ in range(n): o = skip(at, o)
        return o
    return o + {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[t]
for _ in range(nkv):
    k, o = s(o); t, = struct.unpack_from('<I', b, o); o = skip(t, o + 4)
ts = []
for _ in range(nt):
    n, o = s(o); nd, = struct.unpack_from('<I', b, o); o += 4 + 8 * nd
    ty, off = struct.unpack_from('<IQ', b, o); o += 12; ts.append((n.decode(), off))
data = (o + 31) // 32 * 32
for (n, off), e in zip(ts, exp['tensors']):
    assert n == e['name'], n
    assert hashlib.sha256(b[data + off:data + off + e['n_bytes']]).hexdigest() == e['sha256'], n
assert len(ts) == len(exp['tensors'])
PY
fi
# our reader loads the result
expect 0 "" "info on the output" -- "$BIN" info "$T/q.gguf"
grep -qi "q4_K" "$T/out" && ok || bad "info does not list q4_K"

# 1b. whole files: every quantized model in ../shared/models made by llama-quantize from a base we
# have (qwen2-mini, llama3-mini, and aidreams260K — a third base, not in expected.json) must come
# out identical byte for byte, metadata and padding included
nfiles=0
for f in "$SHARED"/models/*.gguf; do
    k=$(basename "$f" .gguf)
    case $k in *-f32) continue ;; esac
    base=$Q/${k%-*}-f32.gguf
    [ -f "$base" ] || base=$SHARED/models/${k%-*}-f32.gguf
    [ -f "$base" ] || continue
    nfiles=$((nfiles + 1))
    if "$BIN" quantize "$base" "$T/w.gguf" "${k##*-}" -t 2 >/dev/null 2>"$T/err" && cmp -s "$T/w.gguf" "$f"; then ok
    else bad "$k: not identical to llama-quantize's file: $(head -c 200 "$T/err")"; fi
done
[ $nfiles -ge 18 ] && ok || bad "only $nfiles reference files found"
rm -f "$T/w.gguf"

# 2. options: imatrix, overrides, pure, a summary on stdout without --json
expect 0 "" "iq4_xs --imatrix" -- "$BIN" quantize --imatrix "$Q/qwen2-mini.imatrix.gguf" "$Q/qwen2-mini-f32.gguf" "$T/i.gguf" IQ4_XS -t 2
grep -q "importance matrix" "$T/out" && grep -q "bpw" "$T/out" && ok || bad "summary on stdout: $(cat "$T/out")"
expect 0 "" "overrides" -- "$BIN" quantize "$Q/llama3-mini-f32.gguf" "$T/o.gguf" Q4_0 --tensor-type attn_v=q8_0 \
    --tensor-type ffn_down=Q5_1 --token-embedding-type f16 --pure -t 1 --json
case "$(cat "$T/out")" in *'"f16":1'*'"q5_1":2'*'"q8_0":2'*) ok ;; *) bad "override counts: $(cat "$T/out")" ;; esac

# 3. bad input
expect 2 "usage|expected" "no args" -- "$BIN" quantize
expect 2 "file type" "unknown type" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q7_K
expect 2 "tensor-type" "bad --tensor-type" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0 --tensor-type attn_v
expect 2 "tensor-type" "bad --tensor-type type" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0 --tensor-type attn_v=q9_9
expect 2 "type" "bad --output-tensor-type" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0 --output-tensor-type iq2_xxs
expect 2 "unknown option" "unknown flag" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0 --frobnicate
expect 2 "-t" "bad -t" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0 -t 0
expect 1 "no such|cannot|open" "missing input" -- "$BIN" quantize "$T/missing.gguf" "$T/x.gguf" Q4_0
printf 'not a gguf file at all' >"$T/junk.gguf"
expect 1 "" "not a GGUF" -- "$BIN" quantize "$T/junk.gguf" "$T/x.gguf" Q4_0
expect 1 "requantiz" "quantized input" -- "$BIN" quantize "$SHARED/models/qwen2-mini-q4_0.gguf" "$T/x.gguf" Q8_0
expect 1 "imatrix" "imatrix not an imatrix" -- "$BIN" quantize --imatrix "$Q/qwen2-mini-f32.gguf" "$Q/qwen2-mini-f32.gguf" "$T/x.gguf" Q4_0
expect 1 "" "unwritable output" -- "$BIN" quantize "$Q/qwen2-mini-f32.gguf" "$T/nodir/x.gguf" Q4_0
[ ! -e "$T/x.gguf" ] && [ ! -e "$T/x.gguf.tmp" ] && ok || bad "a failed run left an output file"
expect 0 "" "requantize allowed" -- "$BIN" quantize "$SHARED/models/qwen2-mini-q4_0.gguf" "$T/r.gguf" Q8_0 --allow-requantize
expect 0 "" "--help" -- "$BIN" quantize --help

echo "cli_quantize: $pass passed, $fail failed"
[ $fail -eq 0 ]
