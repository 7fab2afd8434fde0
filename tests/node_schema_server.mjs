// Structured output through `edgellm serve` with the official clients: OpenAI response_format
// (json_schema with name/strict/schema, json_object) and Ollama format (a schema, "json"),
// streaming and not, temperature 0.9, max_tokens / num_predict 200, several seeds, every schema
// of tests/schemas/, on llama3-mini, zoo/qwen3-mini (rendered with enable_thinking=false) and qwen2-mini (R1 template: the prompt opens <think>, the
// grammar closes it first and the JSON is the content). Every answer's content must parse and
// validate (ajv 2020-12 + ajv-formats); no reasoning for constrained requests; strict: true with
// an unsupported keyword is a 400 naming it, strict: false ignores it.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { SHARED, SRC, check, done, model, requireDeps, startServer } from "./node/lib.mjs";
import { loadAjv } from "./node/schema_lib.mjs";

const require = requireDeps();
const { OpenAI } = require("openai");
const { Ollama } = require("ollama");
const ajv = loadAjv();
const dir = path.join(SRC, "tests/schemas");
const schemas = readdirSync(dir).filter((f) => f.endsWith(".json")).sort()
  .map((f) => [f, JSON.parse(readFileSync(path.join(dir, f), "utf8"))]);
const seeds = (process.env.SCHEMA_SEEDS || "1,2").split(",").map(Number);
const messages = [{ role: "user", content: "Give me the data as JSON." }];

let total = 0, good = 0;
function judge(what, text, validate) {
  total++;
  let ok = false, why = "";
  try { const v = JSON.parse(text); ok = validate(v); if (!ok) why = ajv.errorsText(validate.errors); }
  catch (e) { why = e.message; }
  if (ok) good++;
  check(ok, what, `${why} in ${JSON.stringify(text)}`);
}

for (const [name, file] of [["llama3-mini", model("llama3-mini-q8_0.gguf")], ["qwen2-mini", model("qwen2-mini-q8_0.gguf")],
                            ["qwen3-mini", path.join(SHARED, "zoo/qwen3-mini-q8_0.gguf")]]) {
  const srv = await startServer(["-m", file, "--parallel", "2", "-c", "2048", "-t", "2"]);
  const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "unused" });
  const ollama = new Ollama({ host: srv.url });
  try {
    let k = 0;
    for (const [f, schema] of schemas) {
      const validate = ajv.compile(schema);
      for (const seed of seeds) {
        const stream = (k++ % 2) === 1;
        const req = { messages, temperature: 0.9, max_tokens: 200, seed,
                      response_format: { type: "json_schema", json_schema: { name: "answer", strict: false, schema } } };
        if (!stream) {
          const c = await client.chat.completions.create(req);
          const m = c.choices[0].message;
          check(!m.reasoning_content, `${name} ${f}: no reasoning for a constrained request`, m.reasoning_content);
          judge(`${name} openai ${f} seed ${seed}`, m.content, validate);
        } else {
          const s = await client.chat.completions.create({ ...req, stream: true });
          let text = "", reasoning = "";
          for await (const ch of s) {
            const d = ch.choices[0];
            if (d?.delta?.content) text += d.delta.content;
            if (d?.delta?.reasoning_content) reasoning += d.delta.reasoning_content;
          }
          check(reasoning === "", `${name} ${f}: no streamed reasoning`, reasoning);
          judge(`${name} openai stream ${f} seed ${seed}`, text, validate);
        }
        const o = await ollama.chat({ model: name, messages, format: schema, stream: false,
                                      options: { temperature: 0.9, num_predict: 200, seed } });
        judge(`${name} ollama ${f} seed ${seed}`, o.message.content, validate);
      }
    }
    // json_object / "json": any JSON object
    const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
    const c = await client.chat.completions.create({ messages, temperature: 0.9, max_tokens: 200, seed: 5,
                                                     response_format: { type: "json_object" } });
    judge(`${name} json_object`, c.choices[0].message.content, isObject);
    const o = await ollama.chat({ model: name, messages, format: "json", stream: false, options: { num_predict: 200, seed: 5 } });
    judge(`${name} ollama format json`, o.message.content, isObject);
    // strict
    const bad = { type: "object", properties: { a: { type: "string", contentEncoding: "base64" } }, required: ["a"] };
    let status = 0, msg = "";
    try {
      await client.chat.completions.create({ messages, max_tokens: 50,
        response_format: { type: "json_schema", json_schema: { name: "x", strict: true, schema: bad } } });
    } catch (e) { status = e.status; msg = e.message; }
    check(status === 400 && /contentEncoding/.test(msg), `${name} strict: an unsupported keyword is a 400 naming it`, `${status} ${msg}`);
    const lax = await client.chat.completions.create({ messages, max_tokens: 100, temperature: 0.9, seed: 3,
      response_format: { type: "json_schema", json_schema: { name: "x", strict: false, schema: bad } } });
    judge(`${name} non-strict ignores the keyword`, lax.choices[0].message.content, ajv.compile(bad));
  } finally {
    await srv.stop();
  }
}
console.log(`server schema answers: ${good}/${total} valid`);
done();
