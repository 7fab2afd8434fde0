#!/usr/bin/env bash
# bench/conversation.sh — does a conversation stay fast? A 12-turn chat through `edgellm serve
# --parallel 2 -c 8192`: streaming /v1/chat/completions at temperature 0, max_tokens 48, each user
# turn 95 random words (~120 tokens), the client sending back only the assistant's `content` (as
# the OpenAI clients do). TTFT = request sent -> first SSE chunk with a non-empty delta.content or
# delta.reasoning_content. Runs the conversation twice on one server: with the slots' prefix cache
# (the default) and with "cache_prompt": false on every request (what the server did before: every
# turn evaluates the whole conversation). Then save -> kill -> restart -> restore: turn 12 again
# on a restarted server whose slot was restored from the file saved after turn 11 (model load
# reported separately). Bars: turn 12 <= 1.5 x turn 1 (cached); restored turn 12 <= 1.2 x turn 12.
# usage: bench/conversation.sh [MODEL.gguf] [THREADS=2]   (default model: synth r1-qwen-1.5b q4_0)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${EDGELLM_BIN:-$ROOT/build/edgellm}
SHARED=${EDGELLM_SHARED:-$ROOT/../shared}
MODEL=${1:-${TMPDIR:-/tmp}/edgellm-bench-r1-qwen-1.5b-q4_0.gguf}
THREADS=${2:-2}
if [ ! -f "$MODEL" ]; then
  echo "synthesizing $MODEL ..." >&2
  "$BIN" synth --preset r1-qwen-1.5b --type q4_0 -o "$MODEL" --shared "$SHARED" >&2
fi
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # starts the server, sets URL and PID, prints the load time
  local t0=$(date +%s.%N)
  "$BIN" serve -m "$MODEL" --port 0 --parallel 2 -c 8192 -t "$THREADS" --slot-save-path "$WORK" 2>"$WORK/log" &
  PID=$!
  URL=""
  for _ in $(seq 1200); do
    URL=$(grep -o 'http://[^ ]*' "$WORK/log" | head -1 || true)
    [ -n "$URL" ] && break
    kill -0 $PID 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }
    sleep 0.1
  done
  # the weights are mapped lazily: a one-token request pages them in (counted as model load)
  curl -s -o /dev/null "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":1,"cache_prompt":false}'
  echo "server up (model load, start and a first token) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s" >&2
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

cat > "$WORK/client.py" <<'PY'
import http.client, json, random, sys, time, urllib.parse, subprocess
mode, url, work = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(url)
random.seed(16)
VOCAB = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "government company number group problem fact river stone music garden window engine forest bridge "
         "candle ocean market planet winter summer letter doctor island mirror pocket ladder button castle").split()
users = [" ".join(random.choice(VOCAB) for _ in range(95)) for _ in range(12)]

def turn(messages, cache=True):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"messages": messages, "stream": True, "temperature": 0, "max_tokens": 48,
            "stream_options": {"include_usage": True}}
    if not cache: body["cache_prompt"] = False
    t0 = time.time()
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    ttft, content, usage, buf = None, "", None, b""
    while True:
        line = r.readline()
        if not line: break
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]": continue
        j = json.loads(line[6:])
        if j.get("usage"): usage = j["usage"]
        for ch in j.get("choices", []):
            d = ch.get("delta", {})
            if ttft is None and (d.get("content") or d.get("reasoning_content")): ttft = time.time() - t0
            content += d.get("content") or ""
    c.close()
    return ttft, content, usage

def conversation(cache, upto=12, save_after=None):
    msgs, rows = [], []
    for i in range(upto):
        msgs.append({"role": "user", "content": users[i]})
        ttft, content, usage = turn(msgs, cache)
        rows.append((i + 1, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"], ttft))
        msgs.append({"role": "assistant", "content": content})
        if save_after == i + 1:
            c = http.client.HTTPConnection(u.hostname, u.port)
            # the slot that served this conversation: the one holding the most tokens
            c.request("GET", "/slots"); sl = json.loads(c.getresponse().read())
            best = max(sl, key=lambda s: s["n_cached"])["id"]
            c.request("POST", f"/slots/{best}?action=save", json.dumps({"filename": "bench.slot"}), {"Content-Type": "application/json"})
            print(f"saved slot {best} after turn {i + 1}: {c.getresponse().read().decode()}", file=sys.stderr)
    return rows, msgs

def restored_turn12(attempt):
    st = json.load(open(work + "/conv.json"))
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.time()
    c.request("POST", "/slots/0?action=restore", json.dumps({"filename": "bench.slot"}), {"Content-Type": "application/json"})
    print(f"restore ({attempt}): {c.getresponse().read().decode()} in {time.time() - t0:.2f} s", file=sys.stderr)
    ttft, _, usage = turn(st["msgs"] + [{"role": "user", "content": st["users"][11]}])
    print(f"turn 12 after save -> kill -> restart -> restore ({attempt}): TTFT {ttft:.2f} s (cached "
          f"{usage['prompt_tokens_details']['cached_tokens']} of {usage['prompt_tokens']}), uninterrupted {st['ttft12']:.2f} s: "
          f"{ttft / st['ttft12']:.2f}x (bar 1.2x)")

if mode == "conversation":
    after, msgs = conversation(True, save_after=11)
    before, _ = conversation(False)
    print("turn  prompt_tokens  cached  TTFT_cached_s  TTFT_no_cache_s")
    for a, b in zip(after, before):
        print(f"{a[0]:4d}  {a[1]:13d}  {a[2]:6d}  {a[3]:13.2f}  {b[3]:15.2f}")
    r12 = after[11][3] / after[0][3]
    print(f"turn 12 / turn 1: cached {r12:.2f}x (bar 1.5x), without cache {before[11][3] / before[0][3]:.2f}x")
    json.dump({"msgs": msgs[:22], "ttft12": after[11][3], "users": users}, open(work + "/conv.json", "w"))
else:
    restored_turn12("first request after the restart")
    restored_turn12("restored again, second request")
PY
start
python3 "$WORK/client.py" conversation "$URL" "$WORK"
stop
start
python3 "$WORK/client.py" restore "$URL" "$WORK"
