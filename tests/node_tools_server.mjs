// Tool calling through `edgellm serve` with the official clients (openai, ollama), streaming and
// not, on llama3-mini (Llama 3.x JSON calls), qwen2-mini (DeepSeek R1 template: the prompt opens
// <think>, the grammar closes it first) and zoo/qwen3-mini (Hermes <tool_call>, rendered with
// enable_thinking=false). tool_choice "required" and a named function at temperature 0.9 over
// several seeds: every answer carries tool_calls that parse and whose arguments validate (ajv)
// against the tool's parameters, finish_reason "tool_calls"; "none": no tool_calls; an unknown
// named function: 400; a tool-result turn (string arguments from the openai client) renders and
// answers; "auto" never returns an invalid call.
import { existsSync } from "node:fs";
import path from "node:path";
import { SHARED, check, done, model, requireDeps, startServer } from "./node/lib.mjs";
import { loadAjv } from "./node/schema_lib.mjs";

const require = requireDeps();
const { OpenAI } = require("openai");
const { Ollama } = require("ollama");
const ajv = loadAjv();
const seeds = (process.env.TOOL_SEEDS || "1,2,3").split(",").map(Number);

const tools = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string", minLength: 1, maxLength: 40 },
                                                 unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
                  required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: { name: "search_docs", description: "Search the documentation",
    parameters: { type: "object", properties: { query: { type: "string", maxLength: 60 },
                                                 top_k: { type: "integer", minimum: 1, maximum: 10 } },
                  required: ["query"], additionalProperties: false } } },
];
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const messages = [{ role: "system", content: "You can call tools." },
                  { role: "user", content: "What is the weather in Paris?" }];

let calls = 0, good = 0;
function judgeCalls(what, tc, only) {
  if (!check(Array.isArray(tc) && tc.length > 0, `${what}: tool_calls present`, tc)) return;
  for (const c of tc) {
    calls++;
    let ok = false, why = "";
    try {
      const name = c.function.name;
      const args = typeof c.function.arguments === "string" ? JSON.parse(c.function.arguments) : c.function.arguments;
      const v = validators[name];
      if (!v) why = `unknown tool ${name}`;
      else if (only && name !== only) why = `named ${only}, got ${name}`;
      else { ok = v(args); if (!ok) why = ajv.errorsText(v.errors); }
    } catch (e) { why = e.message; }
    if (ok) good++;
    check(ok, `${what}: call validates`, `${why} in ${JSON.stringify(c)}`);
  }
}

const models = [["llama3-mini", model("llama3-mini-q8_0.gguf")], ["qwen2-mini", model("qwen2-mini-q8_0.gguf")],
                ["qwen3-mini", path.join(SHARED, "zoo/qwen3-mini-q8_0.gguf")]];
for (const [name, file] of models) {
  if (!existsSync(file)) { check(false, `${file} exists`); continue; }
  const srv = await startServer(["-m", file, "--parallel", "2", "-c", "2048", "-t", "2"]);
  const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "unused" });
  const ollama = new Ollama({ host: srv.url });
  try {
    for (const seed of seeds) {
      for (const choice of ["required", { type: "function", function: { name: "search_docs" } }]) {
        const only = typeof choice === "object" ? choice.function.name : null;
        const tag = `${name} seed ${seed} ${only ? "named" : "required"}`;
        const req = { model: name, messages, tools, tool_choice: choice, temperature: 0.9, max_tokens: 200, seed };
        // OpenAI, not streaming
        const c = await client.chat.completions.create(req);
        const ch = c.choices[0];
        check(ch.finish_reason === "tool_calls", `${tag} openai finish_reason`, ch.finish_reason);
        check(!ch.message.reasoning_content, `${tag} openai: no reasoning`, ch.message.reasoning_content);
        judgeCalls(`${tag} openai`, ch.message.tool_calls, only);
        for (const t of ch.message.tool_calls || []) check(/^call_[A-Za-z0-9]{9}$/.test(t.id) && t.type === "function", `${tag} id/type`, t);
        // OpenAI, streaming: the first chunk of a call has index/id/type/name and arguments "", then fragments
        const s = await client.chat.completions.create({ ...req, stream: true });
        const acc = [];
        let finish = null, firstOk = true;
        for await (const chunk of s) {
          const d = chunk.choices[0];
          if (!d) continue;
          if (d.finish_reason) finish = d.finish_reason;
          for (const t of d.delta?.tool_calls || []) {
            if (!acc[t.index]) {
              firstOk &&= !!t.id && t.type === "function" && !!t.function?.name && t.function.arguments === "";
              acc[t.index] = { id: t.id, type: t.type, function: { name: t.function.name, arguments: "" } };
            } else acc[t.index].function.arguments += t.function?.arguments || "";
          }
        }
        check(finish === "tool_calls", `${tag} stream finish_reason`, finish);
        check(firstOk, `${tag} stream: first chunk of each call has id/type/name and empty arguments`);
        judgeCalls(`${tag} openai stream`, acc, only);
        // Ollama, streaming and not
        for (const stream of [false, true]) {
          const oreq = { model: name, messages, tools, tool_choice: choice, stream,
                         options: { temperature: 0.9, num_predict: 200, seed } };
          let tc = [];
          if (!stream) tc = (await ollama.chat(oreq)).message.tool_calls;
          else for await (const part of await ollama.chat(oreq)) tc = tc.concat(part.message?.tool_calls || []);
          for (const t of tc || []) check(typeof t.function.arguments === "object", `${tag} ollama arguments are an object`, t);
          judgeCalls(`${tag} ollama${stream ? " stream" : ""}`, tc, only);
        }
      }
      // auto: whatever the model writes, never a call that does not validate
      const a = await client.chat.completions.create({ model: name, messages, tools, tool_choice: "auto", temperature: 0.9,
                                                       max_tokens: 200, seed });
      if (a.choices[0].message.tool_calls) judgeCalls(`${name} seed ${seed} auto`, a.choices[0].message.tool_calls);
      else check(a.choices[0].finish_reason !== "tool_calls", `${name} auto without calls: finish_reason`, a.choices[0].finish_reason);
    }
    // parallel_tool_calls: false: exactly one call
    for (const seed of seeds) {
      const p = await client.chat.completions.create({ model: name, messages, tools, tool_choice: "required", parallel_tool_calls: false,
                                                       temperature: 0.9, max_tokens: 200, seed });
      const tc = p.choices[0].message.tool_calls;
      check(tc && tc.length === 1, `${name} seed ${seed} parallel_tool_calls false: one call`, tc);
      judgeCalls(`${name} seed ${seed} single`, tc);
    }
    // none: tools rendered, no tool_calls
    const n = await client.chat.completions.create({ model: name, messages, tools, tool_choice: "none", temperature: 0.9,
                                                     max_tokens: 40, seed: 4 });
    check(!n.choices[0].message.tool_calls && n.choices[0].finish_reason !== "tool_calls", `${name} none: no tool_calls`, n.choices[0]);
    // unknown named function: 400
    let status = 0;
    try {
      await client.chat.completions.create({ model: name, messages, tools, max_tokens: 10,
                                             tool_choice: { type: "function", function: { name: "nope" } } });
    } catch (e) { status = e.status; }
    check(status === 400, `${name} unknown named function: 400`, status);
    status = 0;
    try {
      await ollama.chat({ model: name, messages, tools, tool_choice: { type: "function", function: { name: "nope" } }, stream: false });
    } catch (e) { status = e.status_code ?? e.status; }
    check(status === 400, `${name} ollama unknown named function: 400`, status);
    // a tool-result turn: the assistant's call (string arguments, as the openai client sends it) and its result
    const turn = [...messages,
      { role: "assistant", content: null, tool_calls: [{ id: "call_abcdefghi", type: "function",
        function: { name: "get_weather", arguments: JSON.stringify({ city: "Paris", unit: "celsius" }) } }] },
      { role: "tool", tool_call_id: "call_abcdefghi", name: "get_weather", content: "{\"temperature\": 18}" }];
    const t = await client.chat.completions.create({ model: name, messages: turn, tools, temperature: 0.9, max_tokens: 30, seed: 7 });
    check(t.choices[0].message && ["stop", "length", "tool_calls"].includes(t.choices[0].finish_reason),
          `${name} tool-result turn answers`, t.choices[0]);
    // the prompt it rendered is the template's render of the same conversation with object arguments
    // (/apply-template passes messages as they are: content "" here, as Qwen3's template raises on null)
    const strTurn = JSON.parse(JSON.stringify(turn));
    strTurn[2].content = "";
    const objTurn = JSON.parse(JSON.stringify(strTurn));
    objTurn[2].tool_calls[0].function.arguments = { city: "Paris", unit: "celsius" };
    const ap1 = await (await fetch(srv.url + "/apply-template", { method: "POST", body: JSON.stringify({ messages: strTurn, tools }) })).json();
    const ap2 = await (await fetch(srv.url + "/apply-template", { method: "POST", body: JSON.stringify({ messages: objTurn, tools }) })).json();
    check(ap1.prompt && ap1.prompt === ap2.prompt, `${name} string arguments render as their object twin`);
    // Ollama tool-result turn (arguments as an object, tool_name)
    const ot = await ollama.chat({ model: name, stream: false, tools, options: { num_predict: 20, seed: 3 },
      messages: [...messages, { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } } }] },
                 { role: "tool", tool_name: "get_weather", content: "18 degrees" }] });
    check(ot.done === true, `${name} ollama tool-result turn answers`, ot);
  } finally {
    await srv.stop();
  }
}
// a template that raises on the conversation: 400 with its message (Llama 3.x: parallel calls)
{
  const srv = await startServer(["-m", model("llama3-mini-q8_0.gguf"), "-c", "1024", "-t", "2"]);
  try {
    const two = { role: "assistant", content: null, tool_calls: [
      { id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"A\",\"unit\":\"celsius\"}" } },
      { id: "call_2", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"B\",\"unit\":\"celsius\"}" } }] };
    const r = await fetch(srv.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [...messages, two, { role: "tool", tool_call_id: "call_1", content: "1" }], tools, max_tokens: 5 }) });
    const body = await r.json();
    check(r.status === 400 && /single tool-calls/.test(body.error?.message || ""), "raising template: 400 with its message", body);
  } finally {
    await srv.stop();
  }
}
console.log(`tool calls: ${good}/${calls} parse and validate`);
check(calls > 0 && good === calls, "every tool call parses and validates", `${good}/${calls}`);
done();
