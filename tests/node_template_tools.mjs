// `edgellm template --tools`: every case of ../shared/templates/tools-expected.json (tool-capable
// templates rendered by jinja2 as Hugging Face does: tools, tool calls, results, parallel calls,
// string arguments, null / "" / missing content) renders byte-exact; a case whose template
// raised must exit 1 (an error, never a fallback). Kwargs via --kwarg, bos/eos via --bos-token /
// --eos-token, the date via --date.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { BIN, SHARED, check, done } from "./node/lib.mjs";

const dir = path.join(SHARED, "templates");
const data = JSON.parse(readFileSync(path.join(dir, "tools-expected.json"), "utf8"));
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgellm-tools-"));
let exact = 0, raised = 0;
try {
  data.cases.forEach((c, i) => {
    const msgs = path.join(tmp, `m${i}.json`), tools = path.join(tmp, `t${i}.json`);
    writeFileSync(msgs, JSON.stringify(data.conversations[c.conversation]));
    writeFileSync(tools, JSON.stringify(data.tools[c.tools]));
    const args = ["template", "--template", path.join(dir, c.template), "--messages", msgs, "--tools", tools,
                  "--date", data.date];
    if (c.add_generation_prompt) args.push("--add-generation-prompt");
    if (c.bos_token !== null && c.bos_token !== undefined) args.push("--bos-token", c.bos_token);
    if (c.eos_token !== null && c.eos_token !== undefined) args.push("--eos-token", c.eos_token);
    for (const [k, v] of Object.entries(c.kwargs || {})) args.push("--kwarg", `${k}=${JSON.stringify(v)}`);
    const r = spawnSync(BIN, args, { encoding: "utf8" });
    const name = `${c.template} / ${c.conversation} (agp ${c.add_generation_prompt}, ${JSON.stringify(c.kwargs)})`;
    if (c.expected === null) {
      const ok = r.status === 1 && r.stderr.length > 0;
      if (ok) raised++;
      check(ok, `${name}: raises (exit 1)`, `exit ${r.status}, want the error ${c.error}; got ${JSON.stringify(r.stdout.slice(0, 200))}`);
    } else {
      const ok = r.status === 0 && r.stdout === c.expected;
      if (ok) exact++;
      let where = "";
      if (!ok) { let k = 0; while (k < c.expected.length && r.stdout[k] === c.expected[k]) k++;
                 where = `exit ${r.status} ${r.stderr}; first difference at ${k}: got ${JSON.stringify(r.stdout.slice(k, k + 80))}, want ${JSON.stringify(c.expected.slice(k, k + 80))}`; }
      check(ok, `${name}: byte-exact`, where);
    }
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`tools-expected: ${exact} byte-exact renders, ${raised} raises, of ${data.cases.length} cases`);
done();
