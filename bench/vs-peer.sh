#!/usr/bin/env bash
# edgellm against llama.cpp on the same files: synthesizes the layouts of each preset (default
# DeepSeek-R1-Distill-Qwen-1.5B) in each type (q4_0, q8_0, q4_k_m) once into $EDGELLM_BENCH_DIR,
# then for each file runs `edgellm bench --json` and ../shared/tools/peer-bench.sh alternately
# (which engine goes first alternates per pair), and prints a markdown table of both engines'
# medians over the pairs and the ratios. The one-thread table is `PP=128 TG=64 bench/vs-peer.sh 1`.
# usage: bench/vs-peer.sh [threads=2]
# env: EDGELLM_BIN (default build/edgellm), EDGELLM_BENCH_DIR (~/.cache/edgellm-bench),
#      PAIRS (5), PP (512), TG (128), REPS (runs per invocation after its warm-up, 1),
#      DEPTH (tokens in the KV cache before each prompt, 0), PRESETS ("r1-qwen-1.5b"),
#      TYPES ("q4_0 q8_0 q4_k_m"), PEER_DIR (where peer-bench.sh builds llama.cpp).
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
threads=${1:-2}
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "vs-peer: threads must be a positive number (usage: bench/vs-peer.sh [threads])" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${EDGELLM_SHARED:-$root/../shared}
peer=$shared/tools/peer-bench.sh
bin=${EDGELLM_BIN:-$root/build/edgellm}
dir=${EDGELLM_BENCH_DIR:-$HOME/.cache/edgellm-bench}
pairs=${PAIRS:-5} pp=${PP:-512} tg=${TG:-128} reps=${REPS:-1} depth=${DEPTH:-0}
types=${TYPES:-q4_0 q8_0 q4_k_m} presets=${PRESETS:-r1-qwen-1.5b}
files=()
for p in $presets; do for t in $types; do files+=("$p-$t"); done; done
[ -x "$bin" ] || bin=$(command -v edgellm || true)
[ -x "$bin" ] || { echo "vs-peer: no edgellm binary (build it, or set EDGELLM_BIN)" >&2; exit 1; }
[ -x "$peer" ] || { echo "vs-peer: $peer not found (set EDGELLM_SHARED)" >&2; exit 1; }

# llama.cpp's AMX path (picked by -march=native on Sapphire Rapids and later) crashes in
# ggml_backend_amx_mul_mat on such machines (ggml-org/llama.cpp#20824). There the peer is built
# without AMX in a separate folder, which leaves its AVX-512/VNNI paths - what it runs elsewhere.
peer_note="llama.cpp built by peer-bench.sh (-march=native)"
if [ -z "${PEER_DIR:-}" ] && grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  export PEER_DIR=$HOME/.cache/peer-llama-noamx
  export CFLAGS="${CFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16" CXXFLAGS="${CXXFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  peer_note="llama.cpp built by peer-bench.sh (-march=native without AMX: its AMX path crashes here) in $PEER_DIR"
fi

mkdir -p "$dir"
log=$dir/vs-peer-$(date +%Y%m%d-%H%M%S).jsonl
for p in $presets; do
  for t in $types; do
    f=$dir/$p-$t.gguf
    if [ ! -s "$f" ]; then
      echo "vs-peer: synthesizing $f" >&2
      "$bin" synth --preset "$p" --type "$t" --seed 1 -o "$f.part" --shared "$shared" >&2
      mv "$f.part" "$f"
    fi
  done
done

num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
run_ours() { "$bin" bench -m "$1" --pp "$pp" --tg "$tg" --depth "$depth" -t "$threads" -r "$reps" --json 2>>"$log.err" | tail -n 1; }
run_peer() { "$peer" "$1" "$threads" "$pp" "$tg" "$reps" "$depth" 2>>"$log.err" | tail -n 1; }

declare -A res
for t in "${files[@]}"; do
  f=$dir/$t.gguf
  ours=() theirs=()
  for ((i = 0; i < pairs; i++)); do
    echo "vs-peer: $t pair $((i + 1))/$pairs" >&2
    if ((i % 2 == 0)); then a=$(run_ours "$f" || true); b=$(run_peer "$f" || true)
    else b=$(run_peer "$f" || true); a=$(run_ours "$f" || true); fi
    echo "$a" >>"$log"; echo "$b" >>"$log"
    [ -n "$a" ] && ours+=("$a")
    [ -n "$b" ] && theirs+=("$b")
  done
  for k in pp_tok_s tg_tok_s ttft_ms load_s start_to_first_s peak_rss_mib decode_bw_frac; do
    res[$t,ours,$k]=$(for j in "${ours[@]}"; do num "$j" "$k"; done | median)
  done
  for k in pp_tok_s tg_tok_s load_s start_to_first_s peak_rss_mib; do
    res[$t,peer,$k]=$(for j in "${theirs[@]}"; do num "$j" "$k"; done | median)
  done
  # peer-bench reports no TTFT: its prompt time is pp / pp_tok_s
  res[$t,peer,ttft_ms]=$(for j in "${theirs[@]}"; do num "$j" pp_tok_s; done | awk -v pp="$pp" '{print 1000 * pp / $1}' | median)
  res[$t,n_ours]=${#ours[@]} res[$t,n_peer]=${#theirs[@]}
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan") print "n/a"; else printf "%.*f", d, x }'; }
echo "### edgellm vs llama.cpp — threads: $threads, pp$pp / tg$tg, depth $depth, medians of $pairs alternating pair(s)"
echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); edgellm $("$bin" --version 2>/dev/null | cut -d' ' -f2-); $peer_note."
echo
echo "| file | engine | pp$pp tok/s | tg$tg tok/s | TTFT ms | load s | start to first s | peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for t in "${files[@]}"; do
  for e in ours peer; do
    name=$([ $e = ours ] && echo edgellm || echo llama.cpp)
    echo "| $t | $name (n=${res[$t,n_$e]}) | $(fmt "${res[$t,$e,pp_tok_s]}" 2) | $(fmt "${res[$t,$e,tg_tok_s]}" 2) | $(fmt "${res[$t,$e,ttft_ms]}" 0) | $(fmt "${res[$t,$e,load_s]}" 3) | $(fmt "${res[$t,$e,start_to_first_s]}" 3) | $(fmt "${res[$t,$e,peak_rss_mib]}" 0) |"
  done
  echo "| $t | **edgellm ÷ llama.cpp** | **$(ratio "${res[$t,ours,pp_tok_s]}" "${res[$t,peer,pp_tok_s]}")** | **$(ratio "${res[$t,ours,tg_tok_s]}" "${res[$t,peer,tg_tok_s]}")** | $(ratio "${res[$t,ours,ttft_ms]}" "${res[$t,peer,ttft_ms]}") | $(ratio "${res[$t,ours,load_s]}" "${res[$t,peer,load_s]}") | $(ratio "${res[$t,ours,start_to_first_s]}" "${res[$t,peer,start_to_first_s]}") | $(ratio "${res[$t,ours,peak_rss_mib]}" "${res[$t,peer,peak_rss_mib]}") |"
done
echo
bw=""
for t in "${files[@]}"; do bw="$bw $t $(fmt "${res[$t,ours,decode_bw_frac]}" 2);"; done
echo "edgellm decode_bw_frac (decode GB/s over the cached \`edgellm bench --membw\`; n/a when it has not run):$bw"
echo
echo "Raw JSON lines: $log"
