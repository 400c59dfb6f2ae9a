// The calls page in a real browser, during a real (simulated) call: headless
// Chromium opens /calls, connects with the admin token, a fake Twilio caller
// calls in, and the caller's words and the AI's answer must appear live; the
// finished call must then be in the recent calls. Leaves a screenshot and the
// page's DOM in OUT_DIR.
//   OUT_DIR=… SERVER=… FAKE_OPENAI=… FAKE_TWILIO=… [CHROMIUM=…] node calls_page.js   (see run.sh)
"use strict";
const { chromium } = require("playwright-core");
const { spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const net = require("net");
const path = require("path");

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(name + " is not set");
  return v;
};
const out = env("OUT_DIR");
const token = "browser-admin";
const callerSays = "When do you open tomorrow?";
const aiSays = "We open at nine in the morning.";

const freePort = () => new Promise(done => {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => done(p)); });
});
const healthy = port => new Promise(done => {
  http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 500 }, r => { r.resume(); done(r.statusCode === 200); })
    .on("error", () => done(false)).on("timeout", function () { this.destroy(); done(false); });
});
const children = [];
function start(name, file, args, extraEnv) {
  const log = fs.openSync(path.join(out, name + ".log"), "w");
  const child = spawn(file, args, { env: Object.assign({}, process.env, extraEnv), stdio: ["ignore", log, log] });
  children.push(child);
  return child;
}

(async () => {
  const openaiPort = await freePort();
  const port = await freePort();
  start("fake-openai", env("FAKE_OPENAI"), ["--port", String(openaiPort), "--bind", "127.0.0.1", "--api-key",
        "sk-browser", "--transcript", aiSays, "--caller-transcript", callerSays, "--audio-ms", "2500"], {});
  start("server", env("SERVER"), [], {
    PORT: String(port), BIND_ADDRESS: "127.0.0.1", OPENAI_API_KEY: "sk-browser",
    OPENAI_REALTIME_URL: `ws://127.0.0.1:${openaiPort}/v1/realtime?model=gpt-realtime`, ALLOW_UNSIGNED: "true",
    TRANSCRIPTION_MODEL: "gpt-4o-mini-transcribe", ADMIN_TOKEN: token, DATABASE_URL: "sqlite:" + path.join(out, "calls.db"),
    TWILIO_AUTH_TOKEN: "", PUBLIC_URL: "", TRACE_DIR: "", EVENTS_URL: "",
  });
  for (let i = 0; i < 100 && !(await healthy(port)); ++i) await new Promise(d => setTimeout(d, 100));

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  let caller;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("console", m => console.log("page:", m.text()));
    await page.goto(`http://127.0.0.1:${port}/calls`);
    await page.fill("#token", token);
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("status").textContent === "live", null, { timeout: 10000 });

    // A call, while the page watches.
    caller = spawn(env("FAKE_TWILIO"), ["--url", `ws://127.0.0.1:${port}/media-stream`, "--synthetic", "--seconds", "4",
                                        "--param", "From=+14155550100", "--param", "To=+15551230001"],
                   { stdio: "ignore" });
    await page.waitForSelector("#live .msg.caller", { timeout: 20000 });
    await page.waitForSelector("#live .msg.assistant", { timeout: 20000 });
    const live = await page.textContent("#live");
    for (const want of [callerSays, aiSays, "+14155550100"])
      if (!live.includes(want)) throw new Error(`the live view lacks "${want}": ${live}`);
    await page.screenshot({ path: path.join(out, "calls-page-live.png"), fullPage: true });

    // Once it ends, it is among the recent calls.
    await page.waitForFunction(() => document.getElementById("recent").textContent.includes("caller_hung_up"), null,
                               { timeout: 20000 });
    await page.click("#recent tr.pick");
    await page.waitForSelector("#detail .msg.caller", { timeout: 10000 });
    await page.screenshot({ path: path.join(out, "calls-page.png"), fullPage: true });
    fs.writeFileSync(path.join(out, "calls-page.html"), await page.content());
    console.log(`calls page: live transcript and recent call shown; screenshots in ${out}`);
  } finally {
    if (caller && caller.exitCode === null) caller.kill();
    await browser.close();
    for (const c of children) c.kill();
  }
})().catch(err => {
  console.error("calls page test FAILED:", err.message || err);
  process.exit(1);
});
