#!/usr/bin/env bash
# bench/serve-batching.sh — what continuous batching buys in `edgellm serve`: aggregate generation
# throughput of 4 concurrent streams against one stream alone, on the same server (--parallel 4),
# on a synthesized DeepSeek-R1-Distill-Qwen-1.5B file (`edgellm synth`; cached in $TMPDIR).
# Every request asks for exactly N tokens (ignore_eos). Prints one JSON line.
# usage: bench/serve-batching.sh [TYPE=q4_0] [THREADS=nproc] [N=64]     (env EDGELLM_BIN, EDGELLM_SHARED, MODEL)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${EDGELLM_BIN:-$ROOT/build/edgellm}
SHARED=${EDGELLM_SHARED:-$ROOT/../shared}
TYPE=${1:-q4_0}
THREADS=${2:-$(nproc)}
N=${3:-64}
MODEL=${MODEL:-${TMPDIR:-/tmp}/edgellm-bench-r1-qwen-1.5b-$TYPE.gguf}
if [ ! -f "$MODEL" ]; then
  echo "synthesizing $MODEL ..." >&2
  "$BIN" synth --preset r1-qwen-1.5b --type "$TYPE" -o "$MODEL" --shared "$SHARED" >&2
fi
LOG=$(mktemp)
"$BIN" serve -m "$MODEL" --port 0 --parallel 4 -c 512 -t "$THREADS" 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 600); do
  URL=$(grep -o 'http://[^ ]*' "$LOG" | head -1 || true)
  [ -n "$URL" ] && break
  kill -0 $PID 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "server did not start" >&2; exit 1; }

node - "$URL" "$N" "$TYPE" "$THREADS" <<'JS'
const [url, n, type, threads] = [process.argv[2], +process.argv[3], process.argv[4], +process.argv[5]];
// one request, streamed: time from its first token to its last (generation only)
async function one(i) {
  const r = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: `Count from ${i} upwards.` }], max_tokens: n,
                           ignore_eos: true, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = r.body.getReader();
  let first = 0, last = 0, tokens = 0, buf = "";
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const now = performance.now();
    if (!first) first = now;
    last = now;
    buf += dec.decode(value, { stream: true });
  }
  for (const ev of buf.split("\n\n")) {
    if (!ev.startsWith("data: {")) continue;
    const j = JSON.parse(ev.slice(6));
    if (j.usage) tokens = j.usage.completion_tokens;
  }
  return { first, last, tokens };
}
await one(0); // warm-up: page the weights in
const s = await one(1);
const single = (s.tokens - 1) / ((s.last - s.first) / 1000);
const many = await Promise.all([2, 3, 4, 5].map(one));
// all tokens after the first one of each stream, over the span from the earliest first token to the last one
const span = (Math.max(...many.map((m) => m.last)) - Math.min(...many.map((m) => m.first))) / 1000;
const agg = many.reduce((a, m) => a + m.tokens - 1, 0) / span;
console.log(JSON.stringify({ model: `r1-qwen-1.5b-${type}`, threads, tokens_per_stream: n,
  single_stream_tok_s: +single.toFixed(2), four_streams_aggregate_tok_s: +agg.toFixed(2), ratio: +(agg / single).toFixed(2) }));
JS
