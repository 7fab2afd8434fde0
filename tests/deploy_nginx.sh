#!/usr/bin/env bash
# deploy/nginx/edgellm.conf end to end, on loopback: nginx (run as this user with its own prefix,
# pid and logs in a temp dir; never the system service) in front of three `edgellm serve
# --parallel 4` replicas of a tiny model. 60 conversations of 4 turns, 6 at a time, each with its
# X-Conversation-Id; one replica is killed (SIGKILL) after 20 conversations finished; the client
# retries a failed or cut request once. Pass: every conversation finishes; for conversations whose
# replica survived, >= 90% of the turns after the first report cached_tokens > 0; the killed
# replica's conversations finish on the survivors (its turns started after the kill are answered by
# the others). Prints the counts.
set -u
src=${EDGELLM_SRC:?set EDGELLM_SRC}
shared=${EDGELLM_SHARED:?set EDGELLM_SHARED}
bin=${EDGELLM_BIN:?set EDGELLM_BIN}
. "$src/tests/skip.sh"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || skip_test "nginx is not installed (apt-get install nginx)"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
command -v node >/dev/null 2>&1 || skip_test "node is not installed"
model="$shared/models/qwen2-mini-q4_0.gguf"
[ -f "$model" ] || skip_test "no $model"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy_nginx.XXXXXX")
chmod 755 "$tmp" # nginx workers (nobody, when started as root) read and write below it
pids=()
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  [ -f "$tmp/nginx.pid" ] && kill -9 "$(cat "$tmp/nginx.pid")" 2>/dev/null
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# three replicas on free ports (--port 0: the port is read from "listening on")
ports=()
for i in 1 2 3; do
  "$bin" serve -m "$model" --port 0 --parallel 4 -c 1024 -t 1 2>"$tmp/replica$i.log" &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 100); do
    p=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/replica$i.log")
    [ -n "$p" ] && break
    sleep 0.1
  done
  [ -n "$p" ] || { echo "FAIL: replica $i did not start:"; cat "$tmp/replica$i.log"; exit 1; }
  ports+=("$p")
done

# nginx: the deploy config with these ports, in a main config that keeps everything in $tmp
front=$(( 20000 + RANDOM % 20000 ))
sed -e "s/127.0.0.1:8081/127.0.0.1:${ports[0]}/; s/127.0.0.1:8082/127.0.0.1:${ports[1]}/" \
    -e "s/127.0.0.1:8083/127.0.0.1:${ports[2]}/; s/listen 127.0.0.1:8080;/listen 127.0.0.1:$front;/" \
    "$src/deploy/nginx/edgellm.conf" >"$tmp/edgellm.conf"
cat >"$tmp/nginx.conf" <<EOF
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log $tmp/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/edgellm.conf;
}
EOF
"$nginx" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" || { echo "FAIL: nginx did not start"; cat "$tmp/error.log"; exit 1; }
for _ in $(seq 50); do [ -f "$tmp/nginx.pid" ] && break; sleep 0.1; done

cat >"$tmp/client.mjs" <<'EOF'
const [base, pidList, ...replicas] = process.argv.slice(2);
const pids = pidList.split(",").map(Number);
let killAddr = "";
const N = 60, TURNS = 4, AT_ONCE = 6, KILL_AFTER = 20;
let requests = 0, retries = 0, finished = 0, killed = false;
const convs = [];
const words = ["river", "lamp", "garden", "rocket", "violin", "harbor", "pepper", "glacier", "comet", "meadow"];

async function turn(id, messages) {
  const started = killed;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt) retries++;
    requests++;
    try {
      const r = await fetch(base + "/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Conversation-Id": id },
        body: JSON.stringify({ model: "m", messages, max_tokens: 24, temperature: 0 }),
        signal: AbortSignal.timeout(30000),
      });
      const up = r.headers.get("x-edgellm-upstream") || "";
      const body = await r.json();
      if (r.status === 200 && body.choices) return { up: up.split(", ").pop(), body, started };
    } catch { /* cut or refused: retry once */ }
  }
  return null;
}

async function conversation(i) {
  const id = `conv-${i}-${words[i % 10]}`;
  const c = { id, turns: [], ok: false };
  convs.push(c);
  const messages = [];
  for (let t = 0; t < TURNS; t++) {
    messages.push({ role: "user", content: `Conversation ${i} turn ${t}: tell me about the ${words[(i + t) % 10]} number ${i * 7 + t}.` });
    const r = await turn(id, messages);
    if (!r) return c;
    const u = r.body.usage;
    c.turns.push({ up: r.up, cached: u.prompt_tokens_details?.cached_tokens ?? 0, prompt: u.prompt_tokens, afterKill: r.started });
    messages.push({ role: "assistant", content: r.body.choices[0].message.content ?? "" });
    maybeKill(c);
  }
  c.ok = true;
  return c;
}

// Once KILL_AFTER conversations have finished, the first conversation to complete a turn with
// at least two turns still to start has its replica killed (so that some conversations move).
// Checked at every turn: checking only when a conversation finished could find none in that
// state at those moments, and then nothing was killed.
function maybeKill(c) {
  if (killed || finished < KILL_AFTER || c.turns.length >= TURNS - 1) return;
  const a = c.turns[c.turns.length - 1].up;
  if (!replicas.includes(a)) return;
  killAddr = a;
  killed = true;
  process.kill(pids[replicas.indexOf(killAddr)], "SIGKILL");
  console.log(`killed the replica at ${killAddr} after ${finished} conversations`);
}

let next = 0;
async function worker() {
  while (next < N) {
    await conversation(next++);
    finished++;
  }
}
await Promise.all(Array.from({ length: AT_ONCE }, worker));

// streaming passes through unbuffered: the events of one answer arrive in several reads
const sr = await fetch(base + "/v1/chat/completions", {
  method: "POST", headers: { "Content-Type": "application/json", "X-Conversation-Id": "stream" },
  body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "Stream a story." }], max_tokens: 32, temperature: 0, stream: true }),
});
let reads = 0, text = "";
for await (const chunk of sr.body) { reads++; text += Buffer.from(chunk).toString(); }
const events = text.split("\n\n").filter((e) => e.startsWith("data: ")).length;

let fail = 0;
const check = (cond, what) => { if (!cond) { fail++; console.log("FAIL: " + what); } };
const done = convs.filter((c) => c.ok).length;
check(done === N, `every conversation finishes (${done} of ${N})`);
// per replica: turns after the first whose conversation stayed on it
const per = Object.fromEntries(replicas.map((a) => [a, { turns: 0, hits: 0, ratio: 0, convs: 0 }]));
let moved = 0, movedOk = 0;
for (const c of convs) {
  const ups = new Set(c.turns.map((t) => t.up));
  const onKilled = c.turns.some((t) => t.up === killAddr);
  // on the killed replica, and not finished there: the rest of it must have gone elsewhere
  if (onKilled && (ups.size > 1 || !c.ok)) {
    moved++;
    if (c.ok && c.turns.every((t) => !t.afterKill || t.up !== killAddr)) movedOk++;
  }
  if (ups.size !== 1 || onKilled) continue;
  const st = per[[...ups][0]];
  if (!st) continue;
  st.convs++;
  for (let t = 1; t < c.turns.length; t++) {
    st.turns++;
    if (c.turns[t].cached > 0) st.hits++;
    st.ratio += Math.min(1, c.turns[t].cached / c.turns[t - 1].prompt);
  }
}
let turns = 0, hits = 0;
for (const [a, st] of Object.entries(per)) {
  turns += st.turns;
  hits += st.hits;
  const share = st.turns ? (100 * st.hits / st.turns).toFixed(1) : "-";
  const cover = st.turns ? (100 * st.ratio / st.turns).toFixed(1) : "-";
  console.log(`replica ${a}${a === killAddr ? " (killed)" : ""}: ${st.convs} conversations stayed on it, ${st.turns} later turns, ` +
              `cached_tokens > 0 in ${share}%, cached tokens cover ${cover}% of the previous turn's prompt on average`);
}
console.log(`requests ${requests}, retries ${retries}, conversations ${done}/${N}, killed replica's conversations finished on survivors ${movedOk}/${moved}`);
check(turns > 0 && hits / turns >= 0.9, `>= 90% of the survivors' later turns report cached tokens (${hits}/${turns})`);
check(movedOk === moved, `the killed replica's conversations finish on the survivors (${movedOk}/${moved})`);
check(moved > 0, "the killed replica held conversations in flight");
console.log(`streamed answer through nginx: ${events} events in ${reads} reads`);
check(sr.status === 200 && events > 4 && text.includes("data: [DONE]"), "a streamed answer passes through nginx");
process.exit(fail ? 1 : 0);
EOF
node "$tmp/client.mjs" "http://127.0.0.1:$front" "${pids[0]},${pids[1]},${pids[2]}" \
  "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}"
rc=$?
[ $rc = 0 ] && echo "PASS" || { echo "--- nginx error.log"; tail -20 "$tmp/error.log"; }
exit $rc
