#!/usr/bin/env bash
# `edgellm bench`: the keys of --json (with --depth), the bytes one decoded token reads, the membw
# cache it reads (a file written here, so no 1 GiB measurement runs in the suite), and usage errors.
# Needs EDGELLM_BIN and EDGELLM_SHARED.
set -u
bin=${EDGELLM_BIN:?set EDGELLM_BIN}
shared=${EDGELLM_SHARED:?set EDGELLM_SHARED}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2" >&2; fi; }
m=$shared/models/qwen2-mini-q4_0.gguf
export XDG_CACHE_HOME=$tmp/cache

# 1. --json with a depth: every key, and no membw keys while nothing is cached
out=$("$bin" bench -m "$m" --pp 24 --tg 4 --depth 600 -t 2 -r 1 --json); ok $? "bench --depth 600 failed"
for k in pp_tok_s tg_tok_s ttft_ms load_s peak_rss_mib start_to_first_s weights_gb_per_token decode_gb_s; do
  grep -q "\"$k\":[0-9]" <<<"$out"; ok $? "bench --json lacks $k: $out"
done
grep -q '"depth":600' <<<"$out"; ok $? "bench --json lacks depth 600: $out"
grep -q '"membw_gb_s"' <<<"$out"; [ $? = 1 ]; ok $? "membw_gb_s without a cached measurement: $out"
# qwen2-mini: 2 layers x (q 256x256 + k, v 256x128 + o 256x256 + gate, up, down 3 x 256x768) q4_0
# (18 bytes per 32) = 884,736 bytes, plus the q6_K output 4008 rows x 210 bytes = 841,680: 1,726,416
grep -q '"weights_gb_per_token":0.0017,' <<<"$out"; ok $? "weights_gb_per_token is not 0.0017 (1,726,416 bytes): $out"

# 2. a cached membw for this CPU and thread count gives membw_gb_s and decode_bw_frac
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1 | tr '"\\' '  ')
if [ -n "$cpu" ]; then
  mkdir -p "$tmp/cache/edgellm"
  printf '{"membw":[\n{"cpu":"%s","threads":1,"membw_gb_s_1t":4.00,"membw_gb_s":4.00},\n{"cpu":"%s","threads":2,"membw_gb_s_1t":4.00,"membw_gb_s":8.00}\n]}\n' \
    "$cpu" "$cpu" >"$tmp/cache/edgellm/membw.json"
  out=$("$bin" bench -m "$m" --pp 8 --tg 4 -t 2 -r 1 --json); ok $? "bench with a cached membw failed"
  grep -q '"membw_gb_s":8.00,' <<<"$out"; ok $? "the 2-thread cached membw is not reported: $out"
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert abs(j["decode_bw_frac"] - j["decode_gb_s"] / 8.0) < 0.01, j' "$out"
  ok $? "decode_bw_frac is not decode_gb_s / membw_gb_s"
fi

# 3. usage errors
"$bin" bench -m "$m" --depth -1 >/dev/null 2>&1; [ $? = 2 ]; ok $? "--depth -1 is not a usage error"
"$bin" bench --membw -m "$m" >/dev/null 2>&1; [ $? = 2 ]; ok $? "--membw with -m is not a usage error"
"$bin" bench --help | grep -q -- "--membw"; ok $? "--help does not mention --membw"

echo "cli_bench: $pass passed, $fail failed"
[ "$fail" = 0 ]
