#!/usr/bin/env bash
# Peak memory and time of `edgellm convert` on a DeepSeek-R1-Distill-Qwen-1.5B-shaped BF16
# checkpoint sharded in 4 (bench/mk_hf_checkpoint.py, ~3.6 GB), converted to Q4_0 (and F16).
# The bar: peak RSS <= 25% of the checkpoint's size. Not part of the default suite.
# With LLAMA_QUANTIZE=/path/to/llama-quantize it also times llama.cpp's quantizer on the
# equivalent F16 GGUF (written by edgellm convert --outtype f16) to Q4_0.
# usage: bench/convert-rss.sh [THREADS] [WORK_DIR]      (needs ~9 GB free in WORK_DIR)
set -eu
cd "$(dirname "$0")/.."
T=${1:-2}
W=${2:-${TMPDIR:-/tmp}/edgellm-convert-rss}
BIN=${EDGELLM_BIN:-build/edgellm}
SHARED=${EDGELLM_SHARED:-../shared}
[ -x "$BIN" ] || { echo "convert-rss: build edgellm first ($BIN)" >&2; exit 1; }
mkdir -p "$W"
[ -f "$W/ckpt/model.safetensors.index.json" ] || python3 bench/mk_hf_checkpoint.py "$W/ckpt" "$SHARED/hf/qwen2-mini" 4
ckpt_bytes=$(cat "$W"/ckpt/*.safetensors | wc -c)
# peak RSS of a child (ru_maxrss of the waited-for process), its wall time
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
rc = subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL).returncode
dt = time.time() - t
print(f"{rc} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024} {dt:.2f}")
PY
}
sync
for ty in q4_0 f16; do
    read -r rc rss secs < <(measure "$BIN" convert "$W/ckpt" -o "$W/out-$ty.gguf" --outtype "$ty" -t "$T")
    [ "$rc" = 0 ] || { echo "convert-rss: edgellm convert --outtype $ty failed (exit $rc)" >&2; exit 1; }
    pct=$(python3 -c "print(f'{100 * $rss / $ckpt_bytes:.1f}')")
    printf 'edgellm convert --outtype %-5s -t %s: %6.2f s, peak RSS %5d MiB = %5s%% of the %d MiB checkpoint (bar 25%%), output %d MiB\n' \
        "$ty" "$T" "$secs" $((rss >> 20)) "$pct" $((ckpt_bytes >> 20)) $(($(stat -c %s "$W/out-$ty.gguf") >> 20))
done
if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    read -r rc rss secs < <(measure "$LLAMA_QUANTIZE" "$W/out-f16.gguf" "$W/peer-q4_0.gguf" Q4_0 "$T")
    printf 'llama-quantize F16 -> Q4_0, %s threads:        %6.2f s, peak RSS %5d MiB (exit %s)\n' "$T" "$secs" $((rss >> 20)) "$rc"
fi
rm -f "$W"/out-*.gguf "$W"/peer-*.gguf
