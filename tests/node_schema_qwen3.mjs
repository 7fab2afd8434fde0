// The schema suite (tests/node/schema_lib.mjs) on zoo/qwen3-mini (Q8_0). Skipped (exit 77) while
// this build cannot load that model (the qwen3 family comes with the "Model families" work).
import { existsSync } from "node:fs";
import path from "node:path";
import { SHARED, done } from "./node/lib.mjs";
import { modelRuns, schemaSuite } from "./node/schema_lib.mjs";

const file = path.join(SHARED, "zoo/qwen3-mini-q8_0.gguf");
if (!existsSync(file) || !modelRuns(file)) {
  console.log(`skip: ${file} cannot be loaded by this build`);
  process.exit(77);
}
schemaSuite([["qwen3-mini", file]]);
done();
