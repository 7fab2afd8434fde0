// Shared by the tests/node_*.mjs server tests: environment, npm dependencies (installed with
// `npm ci` into tests/node/node_modules on first use), starting `edgellm serve` on a free
// loopback port (--port 0; the URL is read from its "listening on" line), and CHECK-style counters.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const SRC = process.env.EDGELLM_SRC || path.resolve(here, "../..");
export const SHARED = process.env.EDGELLM_SHARED || path.resolve(SRC, "../shared");
export const BIN = process.env.EDGELLM_BIN || path.join(SRC, "build/edgellm");
export const BUILD = process.env.EDGELLM_BUILD || path.dirname(BIN);
export const SANITIZED = !!process.env.EDGELLM_SANITIZED;
export const model = (name) => path.join(SHARED, "models", name);

/* The pinned npm clients; `npm ci` when node_modules is missing (CI has the registry). */
export function requireDeps() {
  const dir = path.join(SRC, "tests/node");
  const lock = path.join(dir, ".installing");
  const wait = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  // ctest runs the node tests in parallel: one installs (mkdir is the lock), the others wait
  // installed, and not older than the lock file (a checkout that added packages reinstalls)
  const installed = () => {
    const mark = path.join(dir, "node_modules/.package-lock.json");
    return existsSync(mark) && statSync(mark).mtimeMs >= statSync(path.join(dir, "package-lock.json")).mtimeMs;
  };
  for (let tries = 0; !installed(); tries++) {
    let mine = false;
    try { mkdirSync(lock); mine = true; } catch { /* someone else is installing */ }
    if (mine) {
      const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--prefix", dir], { stdio: "inherit" });
      rmSync(lock, { recursive: true, force: true });
      if (r.status !== 0) {
        console.error("cannot install the npm dependencies of the server tests (npm ci in tests/node)");
        process.exit(1);
      }
      break;
    }
    if (tries > 600) { console.error("timed out waiting for npm ci in tests/node"); process.exit(1); }
    wait(500);
  }
  return createRequire(path.join(dir, "package.json"));
}

/* The test cannot run here: exit 77 (ctest: skipped, SKIP_RETURN_CODE), or, with
 * EDGELLM_REQUIRE_ALL=1 (CI), fail — there every tool and package must be present. */
export function skip(reason) {
  if (process.env.EDGELLM_REQUIRE_ALL === "1") {
    console.error(`FAIL (EDGELLM_REQUIRE_ALL=1, nothing may be skipped): ${reason}`);
    process.exit(1);
  }
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

let passed = 0, failed = 0;
export function check(cond, what, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL: ${what}${detail !== undefined ? " — " + (typeof detail === "string" ? detail : JSON.stringify(detail)) : ""}`);
  }
  return !!cond;
}
export function done() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

/* Starts the server; resolves to {url, proc, pid, stop()}. */
export function startServer(args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ["serve", "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("server did not start:\n" + err)); }, timeoutMs);
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m && timer) {
        clearTimeout(timer);
        resolve({
          url: m[1], proc, pid: proc.pid, log: () => err,
          stop: () => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.on("exit", (code, sig) => res(code ?? sig));
            proc.kill("SIGTERM");
          }),
        });
      }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${err}`)); });
  });
}

/* Reads a streaming response body: SSE `data:` payloads (or NDJSON lines when ndjson). */
export async function readEvents(resp, ndjson = false) {
  const out = [];
  const text = await resp.text();
  if (ndjson) {
    for (const line of text.split("\n")) if (line.trim()) out.push(JSON.parse(line));
    return out;
  }
  for (const ev of text.split("\n\n")) {
    if (!ev.startsWith("data: ")) continue;
    const data = ev.slice(6);
    out.push(data === "[DONE]" ? "[DONE]" : JSON.parse(data));
  }
  return out;
}

export function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? +m[1] : 0;
}

/* `edgellm run --chat --temp 0` on the same conversation: the reference for greedy answers. */
export function runChat(modelPath, prompt, n, system) {
  const args = ["run", "-m", modelPath, "--chat", "--temp", "0", "-n", String(n), "-p", prompt];
  if (system) args.push("--system", system);
  const r = spawnSync(BIN, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/* `edgellm run --temp 0` on a plain prompt: the reference for greedy completions. */
export function runPlain(modelPath, prompt, n) {
  const r = spawnSync(BIN, ["run", "-m", modelPath, "--temp", "0", "-n", String(n), "-p", prompt], { encoding: "utf8" });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
