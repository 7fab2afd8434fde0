// The chat page at `/` driven by headless Chromium (Debian's /usr/bin/chromium + playwright-core):
// send a message, watch the answer stream in, and check the page shows the same text the API
// streamed (the page keeps the conversation, so a second turn carries the first). Saves a
// screenshot to <build>/chat_page.png. Skips (exit 77; a failure with EDGELLM_REQUIRE_ALL=1) when Chromium
// is absent.
import { existsSync } from "node:fs";
import path from "node:path";
import { BUILD, check, done, model, requireDeps, skip, startServer } from "./node/lib.mjs";

const CHROMIUM = "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is not installed (apt-get install chromium) — chat page not tested`);
const require = requireDeps();
const { chromium } = require("playwright-core");

const srv = await startServer(["-m", model("qwen2-mini-q8_0.gguf"), "--parallel", "2", "-c", "256"]);
let browser = null;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const bodies = [];
  page.on("response", async (r) => {
    if (r.url().endsWith("/v1/chat/completions")) bodies.push(await r.text().catch(() => ""));
  });
  const resp = await page.goto(srv.url + "/");
  check(resp.status() === 200 && (resp.headers()["content-type"] || "").startsWith("text/html"), "GET / serves the page");
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0, null, { timeout: 10000 });
  check((await page.textContent("#model")) === "qwen2-mini-q8_0", "the page shows the model id from /v1/models");

  // first turn: streamed answer appears; the stop button is live while it streams
  await page.fill("#input", "Why is the sky blue?");
  await page.click("#send");
  await page.waitForSelector(".msg.assistant", { timeout: 10000 });
  await page.waitForSelector('.msg.assistant[data-done="1"]', { timeout: 120000 });
  const shown = await page.$eval(".msg.assistant", (el) => ({
    content: el.querySelector(".content").textContent,
    reasoning: el.querySelector("details.reasoning") ? el.querySelector("details.reasoning div").textContent : "",
    stats: el.querySelector(".stats").textContent,
  }));
  check(shown.content.length + shown.reasoning.length > 0, "the page shows a streamed answer", shown);
  // the same text as the SSE stream the page received
  let content = "", reasoning = "";
  for (const ev of (bodies[0] || "").split("\n\n")) {
    if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
    const d = JSON.parse(ev.slice(6)).choices[0]?.delta || {};
    content += d.content || "";
    reasoning += d.reasoning_content || "";
  }
  check(shown.content === content.trimStart() && shown.reasoning === reasoning.trim(), "page text equals the streamed deltas",
        { shown, content, reasoning });
  check(/stop|length/.test(shown.stats), "the page reports how the answer ended", shown.stats);
  await page.screenshot({ path: path.join(BUILD, "chat_page.png") });
  console.log("screenshot: " + path.join(BUILD, "chat_page.png"));

  // second turn, stopped early with the stop button
  await page.fill("#input", "And at sunset?");
  await page.click("#send");
  await page.waitForSelector(".msg.assistant:nth-of-type(4)", { timeout: 10000 });
  await page.$eval("#stop", (b) => b.click()); // a no-op if the answer already ended
  await page.waitForSelector('.msg.assistant:nth-of-type(4)[data-done="1"]', { timeout: 30000 });
  check(await page.isEnabled("#send"), "after stop, the page can send again");
  // a reload resumes the conversation from local storage; the next turn carries it; New chat clears it
  const before = await page.$$eval(".msg", (els) => els.map((e) => e.className + ":" + (e.querySelector(".content") || e).textContent));
  await page.reload();
  await page.waitForSelector('.msg.assistant:nth-of-type(4)[data-done="1"]', { timeout: 10000 });
  const after = await page.$$eval(".msg", (els) => els.map((e) => e.className + ":" + (e.querySelector(".content") || e).textContent));
  check(JSON.stringify(after) === JSON.stringify(before), "after a reload the page shows the same conversation", { before, after });
  const n0 = bodies.length;
  await page.fill("#input", "Thanks.");
  await page.click("#send");
  await page.waitForSelector('.msg.assistant:nth-of-type(6)[data-done="1"]', { timeout: 120000 });
  const sent = await page.evaluate(() => JSON.parse(localStorage.getItem("edgellm-chat")).history.length);
  check(bodies.length === n0 + 1 && sent === 6, "the resumed conversation goes on (6 messages kept)", { sent });
  await page.click("#clear");
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0, null, { timeout: 10000 });
  check((await page.$$(".msg")).length === 0, "New chat clears the stored conversation");
  check(requests.filter((u) => !u.startsWith(srv.url)).length === 0, "the page loads nothing from other hosts",
        requests.filter((u) => !u.startsWith(srv.url)));
} catch (e) {
  check(false, "unexpected exception", String(e.stack || e));
} finally {
  if (browser) await browser.close();
  await srv.stop();
}
done();
