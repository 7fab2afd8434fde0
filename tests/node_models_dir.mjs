// `edgellm serve --models-dir`: three tiny models by name, loaded on first use; keep_alive
// (seconds, "1s", 0, negative); /api/ps; a --mem-budget smaller than two of them evicts the least
// recently used idle one; a model bigger than the budget gets 503 naming it; unknown names 404 in
// both APIs' shapes; the official `ollama` client's list / show / ps / chat; RSS after 300
// alternating requests within 5% of after 30.
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { BIN, SANITIZED, check, done, model, requireDeps, rssKb, sleep, startServer } from "./node/lib.mjs";

const require = requireDeps();
const { Ollama } = require("ollama");

const NAMES = ["qwen2-mini-q4_0", "llama3-mini-q4_0", "aidreams260K-q8_0"];
const dir = mkdtempSync(path.join(os.tmpdir(), "edgellm-models-"));
for (const n of NAMES) symlinkSync(model(`${n}.gguf`), path.join(dir, `${n}.gguf`));
const big = mkdtempSync(path.join(os.tmpdir(), "edgellm-models-big-"));
for (const n of [...NAMES, "qwen2-mini-f16"]) symlinkSync(model(`${n}.gguf`), path.join(big, `${n}.gguf`));

const post = async (base, p, body) => {
  const r = await fetch(base + p, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json().catch(() => null) };
};
const get = async (base, p) => (await fetch(base + p)).json();
const gen = (base, name, extra = {}) =>
  post(base, "/api/generate", { model: name, prompt: "Once upon a time", stream: false, options: { num_predict: 4 }, ...extra });
const loaded = async (base) => (await get(base, "/api/ps")).models.map((m) => m.name).sort();
const gauge = (text, name, m) => {
  const x = new RegExp(`^${name}\\{model="${m}"\\} (\\S+)$`, "m").exec(text);
  return x ? +x[1] : NaN;
};

// -m together with --models-dir: usage error
const both = spawnSync(BIN, ["serve", "--models-dir", dir, "-m", model(`${NAMES[0]}.gguf`)], { encoding: "utf8" });
check(both.status === 2 && /exclude/.test(both.stderr), "-m with --models-dir exits 2", both);

const srv = await startServer(["--models-dir", dir, "--parallel", "2", "-c", "256", "-t", "1"]);
let rss30 = 0, rss300 = 0;
try {
  const base = srv.url;
  const list = await get(base, "/v1/models");
  check(list.data.map((m) => m.id).sort().join() === [...NAMES].sort().join(), "/v1/models lists the three", list);
  check(list.data.every((m) => m.meta.size > 0 && m.meta.family && m.meta.quantization && m.meta.n_params > 0 && m.meta.n_ctx === 256),
        "/v1/models: size, family, quantization, parameters, context", list.data);
  check((await loaded(base)).length === 0, "nothing loaded before the first request");

  // unknown model: 404 in each API's shape
  const o404 = await post(base, "/api/chat", { model: "nope", messages: [{ role: "user", content: "hi" }] });
  check(o404.status === 404 && o404.json.error === "model 'nope' not found", "ollama: unknown model 404", o404);
  const a404 = await post(base, "/v1/chat/completions", { model: "nope", messages: [{ role: "user", content: "hi" }] });
  check(a404.status === 404 && a404.json.error.code === "model_not_found", "openai: unknown model 404 model_not_found", a404);

  // a keep_alive that is not a duration: 400 before anything loads
  for (const ka of ["nan", "5x", true]) {
    const bk = await post(base, "/api/generate", { model: NAMES[0], prompt: "hi", keep_alive: ka });
    check(bk.status === 400 && /keep_alive/.test(bk.json.error), `keep_alive ${JSON.stringify(ka)}: 400`, bk);
  }

  // requests for a model being loaded wait for it: four at once, one load
  const first = await Promise.all([0, 1, 2, 3].map(() => gen(base, NAMES[0])));
  check(first.every((r) => r.status === 200 && r.json.done), "four concurrent first requests all answered", first.map((r) => r.status));
  let met = await (await fetch(base + "/metrics")).text();
  check(gauge(met, "edgellm_model_loads_total", NAMES[0]) === 1, "loaded once for the four", met.match(/loads_total.*/g));

  // alternate between the three (":latest" accepted, both APIs)
  for (let i = 0; i < 6; i++) {
    const n = NAMES[i % 3];
    const r = i % 2 ? await gen(base, `${n}:latest`)
                    : await post(base, "/v1/chat/completions", { model: n, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    check(r.status === 200, `alternating request ${i} (${n})`, r);
  }
  check((await loaded(base)).join() === [...NAMES].sort().join(), "/api/ps: all three loaded");

  // keep_alive 0 unloads after the request; "1s" expires; negative keeps
  await gen(base, NAMES[2], { keep_alive: 0 });
  check(!(await loaded(base)).includes(NAMES[2]), "keep_alive 0: unloaded after the request");
  await gen(base, NAMES[2], { keep_alive: "1s" });
  check((await loaded(base)).includes(NAMES[2]), "keep_alive 1s: loaded right after");
  await gen(base, NAMES[1], { keep_alive: -1 });
  const ps1 = await get(base, "/api/ps");
  const exp = ps1.models.find((m) => m.name === NAMES[1]);
  check(exp && Date.parse(exp.expires_at) > Date.now() + 365 * 86400e3,
        "keep_alive -1: expires far in the future", exp);
  check(ps1.models.every((m) => m.size > 0 && m.expires_at && m.details.family), "/api/ps: bytes, expiry, details", ps1);
  await sleep(1800);
  check(!(await loaded(base)).includes(NAMES[2]), "keep_alive 1s: unloaded after it");
  met = await (await fetch(base + "/metrics")).text();
  check(gauge(met, "edgellm_model_unloads_total", NAMES[2]) === 2 && gauge(met, "edgellm_model_loaded", NAMES[1]) === 1,
        "/metrics: per-model gauges", met.match(/^edgellm_model_.*/gm));

  // the ollama client
  const ol = new Ollama({ host: base });
  const ls = await ol.list();
  check(ls.models.length === 3 && ls.models.every((m) => m.size > 0 && m.details.quantization_level && m.details.parameter_size),
        "ollama client: list", ls);
  const sh = await ol.show({ model: NAMES[1] });
  check(sh.details.family === "llama" && sh.model_info["general.parameter_count"] > 0 && sh.model_info["llama.context_length"] === 256,
        "ollama client: show", sh);
  const ch = await ol.chat({ model: NAMES[0], messages: [{ role: "user", content: "hello" }], stream: false, options: { num_predict: 4 } });
  check(ch.done === true && ch.model === NAMES[0], "ollama client: chat", ch);
  const ps = await ol.ps();
  check(ps.models.some((m) => m.name === NAMES[0] && !isNaN(new Date(m.expires_at)) && m.size > 0), "ollama client: ps", ps);
  let showErr = null;
  try { await ol.show({ model: "nope" }); } catch (e) { showErr = e; }
  check(showErr && showErr.status_code === 404, "ollama client: show of an unknown model fails with 404", String(showErr));

  // 300 alternating requests, 3 at a time: RSS settles
  let k = 0;
  const batch = async (n) => {
    const stop = k + n;
    const worker = async () => {
      while (k < stop) {
        const i = k++;
        const r = await gen(base, NAMES[i % 3], { prompt: `Request ${i} says` });
        if (r.status !== 200) check(false, `request ${i}`, r);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    return rssKb(srv.pid);
  };
  rss30 = await batch(30);
  rss300 = await batch(270);
  console.log(`RSS after 30 requests: ${rss30} kB, after 300: ${rss300} kB`);
  if (!SANITIZED) check(rss300 <= rss30 * 1.05, "RSS after 300 requests within 5% of after 30", { rss30, rss300 });
} finally {
  const code = await srv.stop();
  check(code === 0, "server exits 0 on SIGTERM", code);
}

// the budget: the big f16 cannot fit; two of the q4 models do not fit together
const probe = await startServer(["--models-dir", big, "--parallel", "2", "-c", "256", "-t", "1"]);
const need = Object.fromEntries((await get(probe.url, "/v1/models")).data.map((m) => [m.id, m.meta.memory_needed]));
await probe.stop();
const budget = Math.max(need[NAMES[0]], need[NAMES[1]]) + need[NAMES[2]]; // one of qwen / llama at a time, plus aidreams
check(need["qwen2-mini-f16"] > budget && need[NAMES[0]] + need[NAMES[1]] > budget,
      "the budget is between the sizes", { need, budget });
const bsrv = await startServer(["--models-dir", big, "--parallel", "2", "-c", "256", "-t", "1", "--mem-budget", String(budget)]);
try {
  const base = bsrv.url;
  for (let i = 0; i < 4; i++) {
    const n = NAMES[i % 2];
    const r = await gen(base, n);
    const l = await loaded(base);
    check(r.status === 200 && l.join() === n, `budget: ${n} evicts the other (ps ${l})`, r);
  }
  await gen(base, NAMES[2]);
  check((await loaded(base)).length === 2, "budget: the small one fits beside", await loaded(base));
  const o503 = await gen(base, "qwen2-mini-f16");
  check(o503.status === 503 && /--mem-budget/.test(o503.json.error), "budget: a model that cannot fit gets 503 naming the budget", o503);
  const a503 = await post(base, "/v1/completions", { model: "qwen2-mini-f16", prompt: "x", max_tokens: 2 });
  check(a503.status === 503 && /--mem-budget/.test(a503.json.error.message), "budget: 503 in OpenAI's shape", a503);
  const met = await (await fetch(base + "/metrics")).text();
  check(/edgellm_mem_used_bytes (\d+)/.test(met) && +/edgellm_mem_used_bytes (\d+)/.exec(met)[1] <= budget, "budget: used within it");
  const after = await gen(base, NAMES[0]);
  check(after.status === 200, "budget: serving goes on after the 503", after);
} finally {
  const code = await bsrv.stop();
  check(code === 0, "budget server exits 0", code);
}
rmSync(dir, { recursive: true, force: true });
rmSync(big, { recursive: true, force: true });
done();
