// POST /apply-template on llama3-mini and qwen2-mini (R1 template) for every conversation of
// ../shared/templates/tools-expected.json with its tools: the prompt equals `edgellm template -m`
// of the same messages and tools (the model's bos/eos, generation prompt), where string tool-call
// arguments are first parsed into objects (so a string-argument conversation gives its object
// twin's render); a template that raises gives a 400 with its message where the CLI exits 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";
import { BIN, SHARED, check, done, model, startServer } from "./node/lib.mjs";

const data = JSON.parse(readFileSync(path.join(SHARED, "templates/tools-expected.json"), "utf8"));
const tools = data.tools.weather_docs;
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgellm-apply-"));
const toolsFile = path.join(tmp, "tools.json");
writeFileSync(toolsFile, JSON.stringify(tools));
const objectTwin = (msgs) => msgs.map((m) => !m.tool_calls ? m : {
  ...m, tool_calls: m.tool_calls.map((c) => {
    if (typeof c.function?.arguments !== "string") return c;
    try { const o = JSON.parse(c.function.arguments); return o && typeof o === "object" && !Array.isArray(o) ? { ...c, function: { ...c.function, arguments: o } } : c; }
    catch { return c; }
  }) });

const models = [["llama3-mini", model("llama3-mini-q8_0.gguf"), "<|begin_of_text|>", "<|end_of_text|>"],
                ["qwen2-mini", model("qwen2-mini-q8_0.gguf")]];
try {
  for (const [name, file] of models) {
    const info = spawnSync(BIN, ["info", "-m", file], { encoding: "utf8" }).stdout;
    const bos = /bos=\d+ '([^']*)'/.exec(info)?.[1], eos = /eos=\d+ '([^']*)'/.exec(info)?.[1];
    const srv = await startServer(["-m", file, "-c", "1024"]);
    try {
      let n = 0;
      for (const [conv, msgs] of Object.entries(data.conversations)) {
        const resp = await fetch(srv.url + "/apply-template", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ messages: msgs, tools, add_generation_prompt: true }) });
        const body = await resp.json();
        const mf = path.join(tmp, `m-${conv}.json`);
        writeFileSync(mf, JSON.stringify(objectTwin(msgs)));
        const args = ["template", "-m", file, "--messages", mf, "--tools", toolsFile, "--add-generation-prompt"];
        if (bos) args.push("--bos-token", bos);
        if (eos) args.push("--eos-token", eos);
        const cli = spawnSync(BIN, args, { encoding: "utf8" });
        if (cli.status === 0) {
          check(resp.status === 200 && body.prompt === cli.stdout, `${name} ${conv}: /apply-template equals edgellm template`,
                { status: resp.status, got: body.prompt?.slice(0, 300), want: cli.stdout.slice(0, 300) });
        } else {
          check(cli.status === 1 && resp.status === 400 && typeof body.error?.message === "string",
                `${name} ${conv}: the template raises: CLI exit 1, server 400 with the message`, { cli: cli.status, status: resp.status, body });
        }
        n++;
      }
      check(n === Object.keys(data.conversations).length, `${name}: all conversations`, n);
      const bad = await fetch(srv.url + "/apply-template", { method: "POST", body: JSON.stringify({ messages: 3 }) });
      check(bad.status === 400, `${name}: messages not a list is a 400`, bad.status);
    } finally {
      await srv.stop();
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
done();
