// Schema-constrained generation end to end: `edgellm run --json-schema` on every schema of
// tests/schemas/ (strings, numbers, enums, nested arrays, formats, patterns, $ref, ...) with
// llama3-mini and qwen2-mini (R1 template) at temperature 0.9, several seeds and -n 200: every
// answer parses and validates with ajv + ajv-formats (tests/node/schema_lib.mjs; qwen3-mini is
// tests/node_schema_qwen3.mjs). Also: bad grammar / schema files exit 2 with line and column, and
// json.gbnf from ../shared/grammars constrains `run` to parseable JSON.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { BIN, SHARED, check, done, model } from "./node/lib.mjs";
import { schemaSuite } from "./node/schema_lib.mjs";

const models = [["llama3-mini", model("llama3-mini-q8_0.gguf")], ["qwen2-mini", model("qwen2-mini-q8_0.gguf")]];
schemaSuite(models);


// bad files: exit 2 with line and column
const tmp = os.tmpdir();
const badG = path.join(tmp, `edgellm-bad-${process.pid}.gbnf`), badS = path.join(tmp, `edgellm-bad-${process.pid}.json`);
writeFileSync(badG, "root ::= \"a\"\nx ::= [b\n");
writeFileSync(badS, "{\"type\": \"object\",\n \"properties\": {\"a\": }}");
const m0 = models[0][1];
for (const [flag, f] of [["--grammar-file", badG], ["--json-schema", badS]]) {
  const r = spawnSync(BIN, ["run", "-m", m0, "-p", "x", flag, f], { encoding: "utf8" });
  check(r.status === 2 && /line \d+ col \d+/.test(r.stderr), `run ${flag} with a bad file exits 2 naming line and column`, `${r.status} ${r.stderr}`);
}
const gj = spawnSync(BIN, ["run", "-m", m0, "-p", "JSON:", "--grammar-file", path.join(SHARED, "grammars/json.gbnf"),
                           "--temp", "0.9", "--seed", "7", "-n", "120", "-t", "2"], { encoding: "utf8" });
let parsed = false;
try { JSON.parse(gj.stdout); parsed = true; } catch { /* reported below */ }
check(gj.status === 0 && parsed, "run --grammar-file json.gbnf gives parseable JSON", gj.stdout + gj.stderr);
done();
