// The schema suite (tests/node/schema_lib.mjs) on zoo/qwen3-mini (Q8_0), which the qwen3 family
// loads: a file that is there but does not run is a failure, not a skip.
import { existsSync } from "node:fs";
import path from "node:path";
import { SHARED, check, done, skip } from "./node/lib.mjs";
import { modelRuns, schemaSuite } from "./node/schema_lib.mjs";

const file = path.join(SHARED, "zoo/qwen3-mini-q8_0.gguf");
if (!existsSync(file)) skip(`${file} is missing`);
if (!check(modelRuns(file), `${file} loads and generates`)) done();
schemaSuite([["qwen3-mini", file]]);
done();
