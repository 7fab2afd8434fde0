// `edgellm serve` end to end with the official clients: the `openai` and `ollama` npm packages
// (pinned in tests/node/package.json) against qwen2-mini (DeepSeek-R1 template: reasoning split)
// and aidreams260K (no template: ChatML fallback). Greedy answers are compared with
// `edgellm run [--chat] --temp 0`, and answers decoded in a batch with the answers served alone;
// then bad requests (400/404/405/413), API keys (401), disconnects, a full wait queue (503),
// 16 concurrent streams over 4 slots, and RSS growth over 500 requests.
import { spawnSync } from "node:child_process";
import { BIN, SANITIZED, check, done, model, readEvents, requireDeps, rssKb, runChat, runPlain, sleep, startServer } from "./node/lib.mjs";

const require = requireDeps();
const { OpenAI } = require("openai");
const { Ollama } = require("ollama");

const QWEN = model("qwen2-mini-q8_0.gguf");
const AID = model("aidreams260K-q8_0.gguf");
const slow = SANITIZED ? 5 : 1;

const post = (url, body, headers = {}, signal = undefined) =>
  fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, signal,
               body: typeof body === "string" ? body : JSON.stringify(body) });

/* reasoning + "</think>" + content is the generated text when the answer opened a <think> block */
const joined = (reasoning, content, raw) =>
  raw.includes("</think>") ? (reasoning || "") + "</think>" + content : (reasoning || "") + content;
const sameAsRun = (run, text) => run === text || run === text + "\n";

async function flags() {
  const r1 = spawnSync(BIN, ["serve", "--bogus"], { encoding: "utf8" });
  check(r1.status === 2, "serve with an unknown flag exits 2", r1.status);
  const r2 = spawnSync(BIN, ["serve", "-m", "/nonexistent/model.gguf", "--port", "0"], { encoding: "utf8" });
  check(r2.status === 1, "serve with a model that cannot load exits 1", r2.status);
  const r3 = spawnSync(BIN, ["serve", "--help"], { encoding: "utf8" });
  check(r3.status === 0 && /--parallel/.test(r3.stdout), "serve --help lists its options", r3.status);
  const r4 = spawnSync(BIN, ["serve", "-m", QWEN, "--parallel", "0"], { encoding: "utf8" });
  check(r4.status === 2, "serve --parallel 0 exits 2", r4.status);
}

async function qwen() {
  const srv = await startServer(["-m", QWEN, "--parallel", "4", "-c", "2048"]);
  const base = srv.url;
  const client = new OpenAI({ baseURL: base + "/v1", apiKey: "unused" });
  const messages = [{ role: "user", content: "Why is the sky blue?" }];
  const N = 48;

  // non-streaming greedy chat, and the same text from `edgellm run --chat --temp 0`
  const c = await client.chat.completions.create({ model: "qwen2-mini-q8_0", messages, max_tokens: N, temperature: 0 });
  const msg = c.choices[0].message;
  check(typeof msg.content === "string", "openai: content is a string", msg);
  check(msg.reasoning_content === undefined || (typeof msg.reasoning_content === "string" && msg.reasoning_content.length > 0),
        "openai: reasoning_content omitted when empty", msg);
  check(["stop", "length"].includes(c.choices[0].finish_reason), "openai: finish_reason", c.choices[0].finish_reason);
  check(c.usage.completion_tokens > 0 && c.usage.completion_tokens <= N, "openai: completion_tokens within max_tokens", c.usage);
  check(c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens && c.usage.prompt_tokens > 5, "openai: usage adds up", c.usage);
  check(c.model === "qwen2-mini-q8_0" && c.object === "chat.completion", "openai: model id and object", c.model);
  const run = runChat(QWEN, messages[0].content, N);
  check(run.status === 0, "edgellm run --chat ran", run.err);
  check(sameAsRun(run.out, joined(msg.reasoning_content, msg.content, run.out)),
        "greedy chat equals `edgellm run --chat --temp 0` (qwen2-mini, R1 template)",
        { run: run.out, server: [msg.reasoning_content, msg.content] });

  // streaming: the deltas add up to the same message; usage chunk; [DONE]
  const stream = await client.chat.completions.create({ messages, max_tokens: N, temperature: 0, stream: true,
                                                        stream_options: { include_usage: true } });
  let sr = "", sc = "", finish = null, usage = null, nchunks = 0;
  for await (const ch of stream) {
    nchunks++;
    if (ch.usage) usage = ch.usage;
    const d = ch.choices[0];
    if (!d) continue;
    if (d.delta.reasoning_content) sr += d.delta.reasoning_content;
    if (d.delta.content) sc += d.delta.content;
    if (d.finish_reason) finish = d.finish_reason;
  }
  check(nchunks > 3, "openai stream: several chunks", nchunks);
  check(sr === (msg.reasoning_content || "") && sc === msg.content, "openai stream: deltas equal the non-streamed answer", { sr, sc });
  check(finish === c.choices[0].finish_reason, "openai stream: finish_reason", finish);
  check(usage && usage.completion_tokens === c.usage.completion_tokens, "openai stream: usage chunk", usage);
  const raw = await readEvents(await post(base + "/v1/chat/completions", { messages, max_tokens: 4, stream: true }));
  check(raw.at(-1) === "[DONE]" && raw[0].object === "chat.completion.chunk" && raw[0].choices[0].delta.role === "assistant",
        "SSE: chat.completion.chunk objects, role first, data: [DONE] last", raw[0]);

  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === "qwen2-mini-q8_0", "openai: models.list", models.data);

  // Ollama client
  const ol = new Ollama({ host: base });
  const opts = { temperature: 0, num_predict: N, repeat_penalty: 1 };
  const oc = await ol.chat({ model: "qwen2-mini-q8_0", messages, options: opts });
  check(oc.done === true && typeof oc.message.content === "string", "ollama: chat (not streamed)", oc);
  check((oc.message.thinking || "") === (msg.reasoning_content || "") && oc.message.content === msg.content,
        "ollama: greedy chat equals the OpenAI answer", oc.message);
  // prompt_eval_count counts only the tokens evaluated: the OpenAI requests left the prompt in a slot's cache
  check(oc.eval_count === c.usage.completion_tokens && oc.prompt_eval_count >= 1 && oc.prompt_eval_count < c.usage.prompt_tokens,
        "ollama: counts (prompt_eval_count without the cached prefix)", oc);
  let ot = "", oth = "", last = null;
  for await (const part of await ol.chat({ model: "x", messages, options: opts, stream: true })) {
    ot += part.message.content;
    oth += part.message.thinking || "";
    last = part;
  }
  check(ot === msg.content && oth === (msg.reasoning_content || ""), "ollama: streamed chat adds up", { ot, oth });
  check(last && last.done && ["stop", "length"].includes(last.done_reason), "ollama: final line has done_reason", last);
  const list = await ol.list();
  check(list.models.length === 1 && list.models[0].name === "qwen2-mini-q8_0" && list.models[0].details.format === "gguf",
        "ollama: list", list.models);
  const og = await ol.generate({ model: "x", prompt: "Hello", options: { num_predict: 5 }, stream: false });
  check(typeof og.response === "string" && og.done && og.eval_count <= 5, "ollama: generate", og);
  const ov = await (await fetch(base + "/api/version")).json();
  check(typeof ov.version === "string", "ollama: /api/version", ov);

  // /v1/completions
  const cp = await (await post(base + "/v1/completions", { prompt: "Once upon a time", max_tokens: 8, temperature: 0 })).json();
  check(cp.object === "text_completion" && typeof cp.choices[0].text === "string" && cp.usage.completion_tokens <= 8,
        "openai: /v1/completions", cp);
  const runp = runPlain(QWEN, "Once upon a time", 8);
  check(runp.status === 0 && sameAsRun(runp.out, cp.choices[0].text), "greedy /v1/completions equals `edgellm run --temp 0`",
        { run: runp.out, server: cp.choices[0].text });

  // logit_bias: token 370 is "ab"; +100 makes it the only choice (OpenAI and Ollama spellings)
  const lb = await (await post(base + "/v1/completions", { prompt: "Once upon a time", max_tokens: 3, temperature: 0,
                                                           logit_bias: { "370": 100 } })).json();
  check(lb.choices && lb.choices[0].text === "ababab", "openai: logit_bias forces a token", lb);
  const olb = await (await post(base + "/api/chat", { messages, stream: false,
                                                      options: { num_predict: 3, temperature: 0, logit_bias: { "370": 100 } } })).json();
  check(olb.message && ((olb.message.thinking ?? "") + olb.message.content).includes("abab"), "ollama: options.logit_bias", olb);

  // bad requests
  const bad = async (body, what, want = 400, url = "/v1/chat/completions") => {
    const r = await post(base + url, body);
    const j = await r.json().catch(() => null);
    check(r.status === want && j && j.error && typeof (j.error.message ?? j.error) === "string", what, { status: r.status, j });
  };
  await bad("{\"messages\": [", "malformed JSON → 400");
  await bad("[1,2]", "a JSON list as the body → 400");
  await bad({ messages: "hi" }, "messages not a list → 400");
  await bad({ messages: [] }, "empty messages → 400");
  await bad({ messages: [{ role: "wizard", content: "hi" }] }, "unknown role → 400");
  await bad({ messages: [{ role: "user", content: 42 }] }, "content a number → 400");
  await bad({ messages, temperature: "hot" }, "temperature a string → 400");
  await bad({ messages, stream: "yes" }, "stream a string → 400");
  await bad({ messages, max_tokens: 1.5 }, "max_tokens not an integer → 400");
  await bad({ messages, stop: [1] }, "stop not strings → 400");
  await bad({ messages, logit_bias: { "x": 1 } }, "logit_bias key not a token id → 400");
  await bad({ messages, logit_bias: [1] }, "logit_bias not an object → 400");
  await bad({ messages: [{ role: "wizard", content: "hi" }] }, "ollama: unknown role → 400", 400, "/api/chat");
  await bad({ messages, options: { temperature: "x" } }, "ollama: wrong option type → 400", 400, "/api/chat");
  await bad("x".repeat(10 << 20), "10 MB body → 413", 413);
  const e404 = await fetch(base + "/v2/nothing");
  check(e404.status === 404 && (await e404.json()).error.type, "unknown path → 404 with an error JSON", e404.status);
  const e405 = await fetch(base + "/v1/chat/completions");
  check(e405.status === 405, "GET on a POST endpoint → 405", e405.status);

  // a client that disconnects mid-stream frees its slot at once
  const ac = new AbortController();
  const long = await post(base + "/v1/chat/completions", { messages, max_tokens: 1900, ignore_eos: true, stream: true },
                          {}, ac.signal);
  const reader = long.body.getReader();
  await reader.read();
  const h1 = await (await fetch(base + "/health")).json();
  ac.abort();
  let freed = false;
  for (let i = 0; i < 40 * slow && !freed; i++) {
    await sleep(50);
    freed = (await (await fetch(base + "/health")).json()).slots_processing === 0;
  }
  check(h1.slots_processing === 1 && freed, "a disconnected stream's slot is freed within 2 s", h1);

  // memory: RSS after 500 small requests (all endpoints, streamed or not, 4 at a time) within 5% of RSS after 50
  const total = SANITIZED ? 100 : 500;
  let sent = 0, nbad = 0;
  const batch = async (upto) => {
    const worker = async () => {
      while (sent < upto) {
        const i = sent++;
        const r = await post(base + (i % 3 === 0 ? "/api/chat" : "/v1/chat/completions"),
                             { messages: [{ role: "user", content: "Hi " + i }], max_tokens: 4, stream: i % 2 === 0,
                               options: { num_predict: 4 } });
        await r.text();
        if (r.status !== 200) nbad++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    await sleep(200);
    return rssKb(srv.pid);
  };
  const rss50 = await batch(50);
  const rss500 = await batch(total);
  check(nbad === 0, `${total} small requests all 200`, nbad);
  console.log(`RSS after 50 requests: ${rss50} kB, after ${total}: ${rss500} kB`);
  if (!SANITIZED) check(rss500 <= rss50 * 1.05, "RSS after 500 requests within 5% of RSS after 50", { rss50, rss500 });

  // a full wait queue: 4 slots + 64 waiting, so of 80 long requests 12 get 503; then all hang up
  const ac80 = new AbortController();
  let n503 = 0;
  const safety = setTimeout(() => ac80.abort(), 15000 * slow);
  const statuses = await Promise.all(Array.from({ length: 80 }, (_, i) =>
    new Promise((res) => setTimeout(res, i * 5)).then(() =>
      post(base + "/v1/chat/completions", { messages, max_tokens: 1900, ignore_eos: true, stream: true }, {}, ac80.signal)
        .then(async (r) => { if (r.status === 503) await r.json(); return r.status; }, () => "aborted"))
      .then((st) => { if (st === 503 && ++n503 === 12) setTimeout(() => ac80.abort(), 300); return st; })));
  clearTimeout(safety);
  check(n503 === 12 && statuses.filter((x) => x === 503).length === 12, "wait queue of 64: the 12 requests beyond it get 503",
        statuses);
  let idle = false;
  for (let i = 0; i < 60 * slow && !idle; i++) {
    await sleep(50);
    const hh = await (await fetch(base + "/health")).json();
    idle = hh.slots_processing === 0 && hh.requests_waiting === 0;
  }
  check(idle, "clients that hang up while queued or generating leave the server idle within 3 s");

  // 16 concurrent streaming clients over 4 slots: all complete, and each greedy answer decoded in a
  // batch with others is the answer the same request gets alone
  const ask = (i) => ({ messages: [{ role: "user", content: `Tell me about the number ${i}.` }], max_tokens: 24, temperature: 0 });
  const solo = [];
  for (let i = 0; i < 16; i++) {
    const m = (await (await post(base + "/v1/chat/completions", ask(i))).json()).choices[0].message;
    solo.push((m.reasoning_content || "") + "|" + m.content);
  }
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
    const r = await post(base + "/v1/chat/completions", { ...ask(i), stream: true });
    const ev = await readEvents(r);
    const chunks = ev.filter((e) => e !== "[DONE]");
    const text = chunks.map((e) => e.choices[0]?.delta?.reasoning_content || "").join("") + "|" +
                 chunks.map((e) => e.choices[0]?.delta?.content || "").join("");
    return { status: r.status, done: ev.at(-1) === "[DONE]", finish: chunks.some((e) => e.choices[0]?.finish_reason), text };
  }));
  check(results.every((r) => r.status === 200 && r.done && r.finish), "16 concurrent streams with --parallel 4 all complete",
        results);
  const same = results.filter((r, i) => r.text === solo[i]).length;
  check(same === 16, "greedy answers decoded in a batch of 4 equal the same requests served alone", { same, solo, results });
  console.log(`16 concurrent streams: ${Date.now() - t0} ms`);
  check(srv.proc.exitCode === null, "server alive after all that");
  const code = await srv.stop();
  check(code === 0, "server exits 0 on SIGTERM", code);
}

async function aidreams() {
  const KEY = "s3cret-key";
  const srv = await startServer(["-m", AID, "--parallel", "2", "--api-key", KEY]);
  const base = srv.url;
  const auth = { Authorization: "Bearer " + KEY };
  const messages = [{ role: "user", content: "Once upon a time" }];

  const h = await fetch(base + "/health");
  check(h.status === 200, "/health answers 200 without a key", h.status);
  const r401a = await post(base + "/v1/chat/completions", { messages });
  const r401b = await post(base + "/v1/chat/completions", { messages }, { Authorization: "Bearer wrong" });
  const r401c = await fetch(base + "/api/tags");
  check(r401a.status === 401 && r401b.status === 401 && r401c.status === 401, "no or wrong API key → 401",
        [r401a.status, r401b.status, r401c.status]);
  check((await r401b.json()).error.type === "authentication_error", "401 carries an OpenAI error JSON");
  const badClient = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong", maxRetries: 0 });
  let threw = null;
  try { await badClient.models.list(); } catch (e) { threw = e; }
  check(threw && threw.status === 401, "openai client with a wrong key gets 401", threw && threw.status);

  const client = new OpenAI({ baseURL: base + "/v1", apiKey: KEY });
  const c = await client.chat.completions.create({ messages, max_tokens: 40, temperature: 0 });
  const msg = c.choices[0].message;
  check(msg.reasoning_content === undefined, "aidreams: no reasoning_content", msg);
  const run = runChat(AID, messages[0].content, 40);
  check(run.status === 0 && sameAsRun(run.out, msg.content), "greedy chat equals `edgellm run --chat --temp 0` (aidreams, ChatML fallback)",
        { run: run.out, server: msg.content });

  // stop strings (on plain completions: aidreams writes stories): the text ends right before the
  // first match, which is not part of it
  const story = (await client.completions.create({ prompt: "Once upon a time", max_tokens: 40, temperature: 0 })).choices[0].text;
  const runStory = runPlain(AID, "Once upon a time", 40);
  check(runStory.status === 0 && sameAsRun(runStory.out, story), "aidreams: greedy completion equals `edgellm run --temp 0`",
        { run: runStory.out, server: story });
  const cut = story.indexOf(" ", 12);
  if (check(cut > 0 && cut + 4 <= story.length, "aidreams story long enough for a stop-string test", story)) {
    const stopAt = story.slice(cut, cut + 4), want = story.slice(0, story.indexOf(stopAt));
    const s1 = await client.completions.create({ prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: ["zzzz", stopAt] });
    check(s1.choices[0].text === want && s1.choices[0].finish_reason === "stop", "openai: stop (list) cuts the text",
          { got: s1.choices[0].text, want });
    let st = "";
    const s2 = await client.completions.create({ prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: stopAt, stream: true });
    for await (const ch of s2) st += ch.choices[0]?.text || "";
    check(st === want, "openai: stop (string) cuts the streamed text", { st, want });
    const ol = new Ollama({ host: base, headers: auth });
    const s3 = await ol.generate({ model: "x", prompt: "Once upon a time", raw: true, stream: false,
                                   options: { temperature: 0, repeat_penalty: 1, stop: [stopAt] } });
    check(s3.response === want && s3.done_reason === "stop", "ollama: options.stop cuts the text", s3);
  }

  // the context is 128 positions: a long prompt is cut (context shift; the answer without max_tokens
  // ends when the context is first full), an explicit max_tokens goes past a full context
  // (node_conversation.mjs covers --no-context-shift: 400 and the clamp)
  const long = await post(base + "/v1/chat/completions", { messages: [{ role: "user", content: "word ".repeat(400) }], ignore_eos: true }, auth);
  const lj = await long.json();
  check(long.status === 200 && lj.timings.context_shifted === true && lj.timings.n_discarded > 0 &&
        lj.choices[0].finish_reason === "length", "prompt longer than the context → cut, context_shifted in timings", lj.timings);
  const cl = await (await post(base + "/v1/chat/completions", { messages, max_tokens: 300, ignore_eos: true }, auth)).json();
  check(cl.choices[0].finish_reason === "length" && cl.usage.completion_tokens === 300 && cl.timings.context_shifted === true,
        "an explicit max_tokens goes past the full context (shifted)", { usage: cl.usage, timings: cl.timings });

  const code = await srv.stop();
  check(code === 0, "aidreams server exits 0 on SIGTERM", code);
}

try {
  await flags();
  await qwen();
  await aidreams();
} catch (e) {
  check(false, "unexpected exception", String(e.stack || e));
}
done();
