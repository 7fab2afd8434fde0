// The schema suite shared by tests/node_schema.mjs and tests/node_schema_qwen3.mjs: every schema of
// tests/schemas/ x seeds through `edgellm run --json-schema` at temperature 0.9 and -n 200; each
// answer must parse (JSON.parse) and validate with ajv (2020-12) + ajv-formats.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { BIN, SRC, check, requireDeps } from "./lib.mjs";

export function loadAjv() {
  const require = requireDeps();
  // requireDeps installed them (again, under its lock, if package-lock.json is newer than the
  // installed tree): an unlocked `npm ci` here deleted node_modules under the other node tests
  const Ajv2020 = require("ajv/dist/2020").default, addFormats = require("ajv-formats").default;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/* 1 if the model file loads and generates (spawned once). */
export function modelRuns(file) {
  const r = spawnSync(BIN, ["run", "-m", file, "-p", "x", "-n", "1", "-t", "2"], { encoding: "utf8" });
  return r.status === 0;
}

export function schemaSuite(models) {
  const ajv = loadAjv();
  const dir = path.join(SRC, "tests/schemas");
  const schemas = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  check(schemas.length >= 20, "at least 20 schemas in tests/schemas", schemas.length);
  const seeds = (process.env.SCHEMA_SEEDS || "1,2,3").split(",").map(Number);
  let total = 0, good = 0;
  for (const [name, file] of models) {
  for (const f of schemas) {
    const schema = JSON.parse(readFileSync(path.join(dir, f), "utf8"));
    const validate = ajv.compile(schema);
    for (const seed of seeds) {
      const r = spawnSync(BIN, ["run", "-m", file, "-p", "Here is the JSON answer:", "--json-schema", path.join(dir, f),
                                "--temp", "0.9", "--seed", String(seed), "-n", "200", "-t", "2"], { encoding: "utf8" });
      total++;
      let obj, ok = false, why = "";
      if (r.status !== 0) why = `exit ${r.status}: ${r.stderr}`;
      else {
        const text = r.stdout.replace(/\n$/, "");
        try { obj = JSON.parse(text); ok = validate(obj); if (!ok) why = ajv.errorsText(validate.errors) + " in " + text; }
        catch (e) { why = `${e.message} in ${JSON.stringify(text)}`; }
      }
      if (ok) good++;
      check(ok, `${name} ${f} seed ${seed}: parses and validates`, why);
    }
  }
  }
  console.log(`schema answers: ${good}/${total} valid`);
}
