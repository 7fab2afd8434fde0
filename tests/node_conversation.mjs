// Conversations through `edgellm serve` (issue "Conversations that stay fast") on qwen2-mini:
// the slots' prefix cache (greedy answers with the cache equal those without it; cached_tokens;
// Ollama prompt_eval_count), /metrics counts before and after a known workload, a conversation
// three times the context with context shift on (completes) and off (ends: a prompt that no
// longer fits is a 400, a reply that reaches the end of the context stops with length),
// POST /slots save -> kill -> restart -> restore (identical greedy answer, served from the cache)
// with every refusal's status, and spilling 6 conversations over 2 slots.
import { mkdtempSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { check, done, model, startServer } from "./node/lib.mjs";

const QWEN = model("qwen2-mini-q8_0.gguf");
const post = (url, body, headers = {}) =>
  fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers },
               body: typeof body === "string" ? body : JSON.stringify(body) });
const chat = async (base, messages, extra = {}) => {
  const r = await post(base + "/v1/chat/completions", { messages, temperature: 0, max_tokens: 24, ...extra });
  const j = await r.json();
  return { status: r.status, j };
};
const slots = async (base) => (await fetch(base + "/slots")).json();

let seed = 7;
const WORDS = "apple river stone cloud music paper garden window engine silver forest yellow bridge candle ocean market " +
  "planet winter summer letter doctor island mirror pocket rabbit ladder button castle dragon feather";
const W = WORDS.split(" ");
const words = (n) => Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) % 2147483648; return W[seed % W.length]; }).join(" ");

// 1. the cache does not change greedy answers; it serves the previous turns
async function cacheEquality() {
  const srv = await startServer(["-m", QWEN, "--parallel", "2", "-c", "2048", "-t", "2"]);
  const base = srv.url;
  const msgs = [{ role: "system", content: "You answer briefly." }];
  let prevPrompt = 0, differ = 0, hits = 0;
  for (let t = 0; t < 5; t++) {
    msgs.push({ role: "user", content: words(30) });
    const a = await chat(base, msgs);
    const b = await chat(base, msgs, { cache_prompt: false });
    const ma = a.j.choices[0].message, mb = b.j.choices[0].message;
    if (ma.content !== mb.content || (ma.reasoning_content || "") !== (mb.reasoning_content || "")) differ++;
    check(b.j.usage.prompt_tokens_details.cached_tokens === 0, `turn ${t + 1}: cache_prompt false evaluates everything`, b.j.usage);
    const cached = a.j.usage.prompt_tokens_details.cached_tokens;
    if (t > 0) {
      // the client sends back only content: the hit reaches at least the previous prompt's assistant header
      check(cached >= prevPrompt - 4 && a.j.timings.prompt_n === a.j.usage.prompt_tokens - cached,
            `turn ${t + 1}: cached_tokens ${cached} of ${a.j.usage.prompt_tokens} (previous prompt ${prevPrompt})`, a.j.timings);
      hits += cached > 0;
    }
    prevPrompt = a.j.usage.prompt_tokens;
    msgs.push({ role: "assistant", content: ma.content });
  }
  // near-tie steps: none needed when every answer is equal
  console.log(`greedy with cache vs without: ${5 - differ}/5 turns identical, ${differ} differing (near-tie exemptions used: 0)`);
  check(differ === 0, "greedy answers with the cache equal those without it", differ);
  check(hits === 4, "turns 2..5 hit the cache", hits);
  // Ollama: prompt_eval_count counts only the evaluated tokens
  const o = await (await post(base + "/api/chat", { model: "x", messages: msgs.slice(0, 3), stream: false,
                                                    options: { temperature: 0, num_predict: 4 } })).json();
  const full = await chat(base, msgs.slice(0, 3), { cache_prompt: false, max_tokens: 4 });
  check(o.prompt_eval_count > 0 && o.prompt_eval_count < full.j.usage.prompt_tokens,
        "ollama prompt_eval_count counts only what was evaluated", { ollama: o.prompt_eval_count, prompt: full.j.usage.prompt_tokens });
  const sl = await slots(base);
  check(Array.isArray(sl) && sl.length === 2 && sl.every((s) => s.n_ctx === 2048 && (s.state === "idle" || s.state === "busy") &&
        typeof s.conversation_hits === "number" && typeof s.cached_tokens_total === "number" &&
        typeof s.evaluated_tokens_total === "number" && typeof s.n_cached === "number" && typeof s.id === "number"),
        "GET /slots lists every slot with its fields", sl);
  check(sl.reduce((n, s) => n + s.conversation_hits, 0) >= 5, "/slots counts the hits", sl);

  // 2. /metrics before and after a known workload
  const scrape = async () => {
    const r = await fetch(base + "/metrics");
    const text = await r.text();
    const v = (re) => { const m = re.exec(text); return m ? +m[1] : 0; };
    return {
      status: r.status, type: r.headers.get("content-type"), text,
      req: v(/^edgellm_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} (\d+)/m),
      req400: v(/^edgellm_requests_total\{endpoint="\/v1\/chat\/completions",status="400"\} (\d+)/m),
      prompt: v(/^edgellm_tokens_total\{kind="prompt"\} (\d+)/m), evaluated: v(/^edgellm_tokens_total\{kind="evaluated"\} (\d+)/m),
      cached: v(/^edgellm_tokens_total\{kind="cached"\} (\d+)/m), generated: v(/^edgellm_tokens_total\{kind="generated"\} (\d+)/m),
      ttft: v(/^edgellm_time_to_first_token_seconds_count (\d+)/m), itl: v(/^edgellm_inter_token_latency_seconds_count (\d+)/m),
      queue: v(/^edgellm_queue_depth (\d+)/m), busy: v(/^edgellm_slots_busy (\d+)/m),
      kv: v(/^edgellm_kv_cache_used_ratio ([0-9.]+)/m), bytes: v(/^edgellm_model_loaded_bytes\{model="qwen2-mini-q8_0"\} (\d+)/m),
    };
  };
  const m0 = await scrape();
  const u = [];
  for (let i = 0; i < 3; i++) u.push((await chat(base, [{ role: "user", content: "metrics " + words(10) }], { max_tokens: 8, ignore_eos: true })).j.usage);
  await post(base + "/v1/chat/completions", { messages: "not a list" });
  const m1 = await scrape();
  const sum = (k) => u.reduce((n, x) => n + k(x), 0);
  check(m1.status === 200 && /text\/plain; version=0.0.4/.test(m1.type), "/metrics: Prometheus text 0.0.4", m1.type);
  for (const name of ["edgellm_requests_total", "edgellm_tokens_total", "edgellm_time_to_first_token_seconds",
    "edgellm_inter_token_latency_seconds", "edgellm_queue_depth", "edgellm_slots_busy", "edgellm_kv_cache_used_ratio",
    "edgellm_model_loaded_bytes"])
    check(m1.text.includes(`# HELP ${name} `) && m1.text.includes(`# TYPE ${name} `), `/metrics has HELP and TYPE of ${name}`);
  check(m1.req - m0.req === 3 && m1.req400 - m0.req400 === 1, "/metrics: requests_total by endpoint and status", { m0: m0.req, m1: m1.req });
  check(m1.generated - m0.generated === 24, "/metrics: 24 generated tokens", m1.generated - m0.generated);
  check(m1.prompt - m0.prompt === sum((x) => x.prompt_tokens), "/metrics: prompt tokens", m1.prompt - m0.prompt);
  check(m1.cached - m0.cached === sum((x) => x.prompt_tokens_details.cached_tokens) &&
        m1.evaluated - m0.evaluated === sum((x) => x.prompt_tokens - x.prompt_tokens_details.cached_tokens),
        "/metrics: cached + evaluated tokens", { cached: m1.cached - m0.cached, evaluated: m1.evaluated - m0.evaluated });
  check(m1.ttft - m0.ttft === 3 && m1.itl - m0.itl === 21, "/metrics: TTFT and inter-token histograms counted", { ttft: m1.ttft - m0.ttft, itl: m1.itl - m0.itl });
  check(m1.queue === 0 && m1.busy === 0 && m1.kv > 0 && m1.kv <= 1 && m1.bytes > 1000, "/metrics gauges", m1);
  check((await srv.stop()) === 0, "server exits 0");
}

// 3. a conversation three times the context: shift on -> completes, off -> ends with length / 400
async function longConversation(shift) {
  const srv = await startServer(["-m", QWEN, "--parallel", "1", "-c", "256", "-t", "2", ...(shift ? [] : ["--no-context-shift"])]);
  const base = srv.url;
  const msgs = [{ role: "system", content: "Be brief." }];
  let turns = 0, shifted = 0, total = 0, end = "", hitsAfterShift = 0, afterShift = 0;
  seed = 99;
  for (let t = 0; t < 20; t++) {
    msgs.push({ role: "user", content: words(20) });
    const r = await chat(base, msgs, { max_tokens: 16, ignore_eos: true });
    if (r.status !== 200) { end = `HTTP ${r.status}`; break; }
    turns++;
    const c = r.j.choices[0];
    total = r.j.usage.prompt_tokens + r.j.usage.completion_tokens;
    if (shifted) { afterShift++; hitsAfterShift += r.j.usage.prompt_tokens_details.cached_tokens > 0; }
    if (r.j.timings.context_shifted) shifted++;
    if (c.finish_reason === "length" && r.j.usage.completion_tokens < 16) { end = "length"; break; }
    msgs.push({ role: "assistant", content: c.message.content });
  }
  if (shift) {
    console.log(`shift on: ${turns} turns, conversation ${total} tokens (context 256), ${shifted} turns shifted, ${hitsAfterShift}/${afterShift} later turns hit the cache`);
    check(turns === 20 && total > 3 * 256 && shifted > 0, "3x-context conversation completes with context shift", { turns, total, shifted });
    check(afterShift > 0 && hitsAfterShift === afterShift, "turns after a shift still hit the cache (the dropped range is remembered)",
          { hitsAfterShift, afterShift });
    const o = await (await post(base + "/api/chat", { model: "x", messages: msgs, stream: false, options: { temperature: 0, num_predict: 4 } })).json();
    check(o.done === true && o.context_shifted === true && o.n_discarded > 0, "Ollama's final chunk says the context was shifted",
          { context_shifted: o.context_shifted, n_discarded: o.n_discarded });
  } else {
    console.log(`shift off: ended after ${turns} turns with ${end}`);
    check(turns < 20 && (end === "length" || end === "HTTP 400"), "without context shift the conversation ends (length / 400)", { turns, end });
    // the same conversation asked to go on without a max_tokens cap: the reply runs into the
    // end of the context and stops there with `length` (a prompt that does not fit is the 400)
    const hist = msgs.slice(0, end === "length" ? -1 : -3);
    const r = await chat(base, [...hist, { role: "user", content: "go on" }], { max_tokens: 4096, ignore_eos: true });
    const c = r.status === 200 ? r.j.choices[0] : {};
    console.log(`shift off, going on: HTTP ${r.status}, finish ${c.finish_reason}, ${r.j?.usage?.prompt_tokens}+${r.j?.usage?.completion_tokens} tokens`);
    check(r.status === 200 && c.finish_reason === "length" && r.j.usage.prompt_tokens + r.j.usage.completion_tokens >= 255 &&
          !r.j.timings.context_shifted, "without context shift a reply reaching the end of the context ends with length", r.j);
  }
  check((await srv.stop()) === 0, "server exits 0");
}

// 4. save -> kill -> restart -> restore; refusals
async function saveRestore() {
  const dir = mkdtempSync(path.join(tmpdir(), "edgellm-slots-"));
  const args = ["-m", QWEN, "--parallel", "1", "-c", "1024", "-t", "2", "--slot-save-path", dir];
  let srv = await startServer(args);
  let base = srv.url;
  seed = 5;
  const msgs = [{ role: "user", content: words(40) }];
  msgs.push({ role: "assistant", content: (await chat(base, msgs)).j.choices[0].message.content });
  msgs.push({ role: "user", content: words(40) });
  msgs.push({ role: "assistant", content: (await chat(base, msgs)).j.choices[0].message.content });
  const sv = await post(base + "/slots/0?action=save", { filename: "conv-1.slot" });
  const svj = await sv.json();
  check(sv.status === 200 && svj.n_written > 0, "save: 200", svj);
  msgs.push({ role: "user", content: words(40) });
  const t0 = Date.now();
  const ref = await chat(base, msgs);
  const refMs = Date.now() - t0;
  const refTime = ref.j.timings.prompt_ms;
  // refusals
  const st = async (url, body, h) => (await post(base + url, body, h)).status;
  check(await st("/slots/0?action=restore", { filename: "missing.slot" }) === 404, "restore of a missing file: 404");
  check(await st("/slots/0?action=save", { filename: "../x" }) === 400, "filename with ..: 400");
  check(await st("/slots/0?action=save", { filename: "a/b" }) === 400, "filename with /: 400");
  check(await st("/slots/0?action=save", { filename: "x".repeat(129) }) === 400, "filename of 129 characters: 400");
  check(await st("/slots/0?action=save", {}) === 400, "no filename: 400");
  check(await st("/slots/0?action=bogus", { filename: "x" }) === 400, "unknown action: 400");
  check(await st("/slots/7?action=save", { filename: "x" }) === 404, "unknown slot: 404");
  writeFileSync(path.join(dir, "junk.slot"), "not a state");
  check(await st("/slots/0?action=restore", { filename: "junk.slot" }) === 400, "restore of a junk file: 400");
  // busy: a long answer in flight
  const long = post(base + "/v1/chat/completions", { messages: [{ role: "user", content: "go" }], max_tokens: 900, ignore_eos: true, temperature: 0 });
  let busy = 0;
  for (let i = 0; i < 50 && !busy; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const s = await st("/slots/0?action=save", { filename: "busy.slot" });
    if (s === 409) busy = 1;
  }
  await (await long).json();
  check(busy === 1, "save of a busy slot: 409");
  check((await srv.stop()) === 0, "server exits 0");

  // a restarted server restores on request: the next turn is served from the cache, same answer
  srv = await startServer(args);
  base = srv.url;
  const rs = await post(base + "/slots/0?action=restore", { filename: "conv-1.slot" });
  const rsj = await rs.json();
  check(rs.status === 200 && rsj.n_restored > 0, "restore after restart: 200", rsj);
  const t1 = Date.now();
  const again = await chat(base, msgs);
  const againMs = Date.now() - t1;
  console.log(`turn 3: uninterrupted prompt ${refTime.toFixed(1)} ms (request ${refMs} ms), after restart+restore ${again.j.timings.prompt_ms.toFixed(1)} ms (request ${againMs} ms), cached ${again.j.usage.prompt_tokens_details.cached_tokens} vs ${ref.j.usage.prompt_tokens_details.cached_tokens}`);
  check(again.j.choices[0].message.content === ref.j.choices[0].message.content &&
        (again.j.choices[0].message.reasoning_content || "") === (ref.j.choices[0].message.reasoning_content || ""),
        "the restored conversation's greedy answer is identical", { again: again.j.choices[0].message, ref: ref.j.choices[0].message });
  check(again.j.usage.prompt_tokens_details.cached_tokens === ref.j.usage.prompt_tokens_details.cached_tokens,
        "the restored slot serves the same cached prefix", again.j.usage);
  check((await srv.stop()) === 0, "server exits 0");

  // another KV type: 400 with the library's message; no save path: 400; API key needed
  srv = await startServer([...args, "--kv-type", "q8_0", "--api-key", "k"]);
  base = srv.url;
  check(await st("/slots/0?action=restore", { filename: "conv-1.slot" }) === 401, "slot POST without the API key: 401");
  const kv = await post(base + "/slots/0?action=restore", { filename: "conv-1.slot" }, { Authorization: "Bearer k" });
  const kvj = await kv.json();
  check(kv.status === 400 && /KV cache type/.test(kvj.error.message), "restore of another KV type: 400 with the library's message", kvj);
  check((await fetch(base + "/metrics")).status === 200 && (await fetch(base + "/slots")).status === 200, "/metrics and GET /slots need no key");
  await srv.stop();
  srv = await startServer(["-m", QWEN, "--parallel", "1", "-c", "256", "-t", "2"]);
  base = srv.url;
  const np = await post(base + "/slots/0?action=save", { filename: "x" });
  check(np.status === 400 && /slot-save-path/.test((await np.json()).error.message), "without --slot-save-path: 400 naming it");
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
}

// 5. spill: 6 conversations interleaved over 2 slots all keep hitting the cache
async function spill() {
  const dir = mkdtempSync(path.join(tmpdir(), "edgellm-spill-"));
  const srv = await startServer(["-m", QWEN, "--parallel", "2", "-c", "1024", "-t", "2", "--slot-save-path", dir, "--slot-spill-max", "8"]);
  const base = srv.url;
  seed = 11;
  const convs = Array.from({ length: 6 }, () => ({ m: [], prev: 0 }));
  let misses = 0, later = 0;
  for (let t = 0; t < 3; t++)
    for (const c of convs) {
      c.m.push({ role: "user", content: words(25) });
      const r = await chat(base, c.m, { max_tokens: 8 });
      // a hit: the cache served the conversation up to the previous prompt's assistant header
      if (t > 0) { later++; misses += r.j.usage.prompt_tokens_details.cached_tokens < c.prev - 4; }
      c.prev = r.j.usage.prompt_tokens;
      c.m.push({ role: "assistant", content: r.j.choices[0].message.content });
    }
  const sl = await slots(base);
  const files = readdirSync(dir).filter((f) => f.startsWith("spill-"));
  console.log(`spill: ${later - misses}/${later} later turns hit, ${files.length} spill files, /slots spilled ${sl.map((s) => s.spilled)}`);
  check(misses === 0, "6 conversations over 2 slots keep hitting the cache (spilled and restored)", { misses, later });
  check(sl.reduce((n, s) => n + s.spilled, 0) > 0 && files.length <= 8, "/slots shows spills; at most --slot-spill-max files", sl);
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
}

try {
  await cacheEquality();
  await longConversation(true);
  await longConversation(false);
  await saveRestore();
  await spill();
} catch (e) {
  check(false, "exception", e.stack || String(e));
}
done();
