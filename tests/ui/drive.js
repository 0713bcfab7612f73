// Drives Debian's chromium (headless) through pushgate's web UI for tests/ui.rs.
//
// Talks the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, messages
// separated by NUL), so it needs nothing but node and the system chromium: no npm packages, no
// browser downloads.
//
// usage: node drive.js CHROMIUM BASE_URL ARTIFACT_DIR NAME
//   BASE_URL is the UI's address as a user would type it (e.g. http://127.0.0.1:9091/gw).
// The scenario expects what tests/ui.rs pushed (see there). Prints one line per step; exits 1
// with the reason on the first failed check.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const [chromium, base, artifacts, name] = process.argv.slice(2);
if (!chromium || !base || !artifacts || !name) {
  console.error("usage: node drive.js CHROMIUM BASE_URL ARTIFACT_DIR NAME");
  process.exit(2);
}
const STEP_TIMEOUT_MS = 15000;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "pushgate-ui-chromium-"));
const browser = spawn(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
  "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
let browserLog = "";
browser.stderr.on("data", (d) => { browserLog = (browserLog + d).slice(-20000); });
browser.on("exit", (code, signal) => {
  if (!finished) fail("chromium exited (" + (code ?? signal) + ")\n" + browserLog);
});

let finished = false;
const exited = new Promise((resolve) => browser.on("exit", resolve));
// Stops chromium (if it still runs) and removes its profile once it is gone.
async function cleanup() {
  if (browser.exitCode === null && browser.signalCode === null) browser.kill("SIGKILL");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  try {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (e) {
    console.error("warning: could not remove " + profile + ": " + e.message);
  }
}
async function fail(reason) {
  if (finished) return;
  finished = true;
  console.error("FAIL: " + reason);
  await cleanup();
  process.exit(1);
}
setTimeout(() => fail("scenario took longer than 120 s"), 120000).unref();

// ---- the DevTools protocol over the pipe ------------------------------------------------------

const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];
let nextId = 1;
const pending = new Map();
const listeners = [];
let buffered = "";
fromBrowser.on("data", (chunk) => {
  buffered += chunk.toString("utf8");
  let end;
  while ((end = buffered.indexOf("\0")) >= 0) {
    const msg = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject, method } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(method + ": " + JSON.stringify(msg.error)));
      else resolve(msg.result);
    } else if (msg.method) {
      for (const l of listeners) l(msg);
    }
  }
});

function send(method, params, sessionId) {
  const id = nextId++;
  const msg = { id, method, params: params || {} };
  if (sessionId) msg.sessionId = sessionId;
  toBrowser.write(JSON.stringify(msg) + "\0");
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, method });
    setTimeout(() => {
      if (pending.delete(id)) reject(new Error(method + ": no answer"));
    }, STEP_TIMEOUT_MS);
  });
}

function waitEvent(method, sessionId) {
  return new Promise((resolve, reject) => {
    const l = (msg) => {
      if (msg.method === method && msg.sessionId === sessionId) {
        listeners.splice(listeners.indexOf(l), 1);
        resolve(msg.params);
      }
    };
    listeners.push(l);
    setTimeout(() => reject(new Error("no " + method + " event")), STEP_TIMEOUT_MS);
  });
}

// ---- a page ----------------------------------------------------------------------------------

let session;
const problems = []; // exceptions, console errors, CSP violations

async function openPage() {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  ({ sessionId: session } = await send("Target.attachToTarget", { targetId, flatten: true }));
  listeners.push((msg) => {
    if (msg.sessionId !== session) return;
    if (msg.method === "Runtime.exceptionThrown") {
      problems.push("exception: " + JSON.stringify(msg.params.exceptionDetails));
    } else if (msg.method === "Runtime.consoleAPICalled" && msg.params.type === "error") {
      problems.push("console.error: " + JSON.stringify(msg.params.args));
    } else if (msg.method === "Log.entryAdded" && msg.params.entry.level === "error") {
      problems.push("log: " + msg.params.entry.text + " " + (msg.params.entry.url || ""));
    }
  });
  for (const domain of ["Page", "Runtime", "Log"]) await send(domain + ".enable", {}, session);
  await send("Emulation.setDeviceMetricsOverride",
    { width: 1280, height: 860, deviceScaleFactor: 1, mobile: false }, session);
}

async function navigate(url) {
  const loaded = waitEvent("Page.loadEventFired", session);
  const res = await send("Page.navigate", { url }, session);
  if (res.errorText) throw new Error("navigate " + url + ": " + res.errorText);
  await loaded;
}

async function evaluate(expression) {
  const res = await send("Runtime.evaluate",
    { expression, returnByValue: true, awaitPromise: true }, session);
  if (res.exceptionDetails) {
    throw new Error("evaluate " + expression + ": " + JSON.stringify(res.exceptionDetails));
  }
  return res.result.value;
}

async function waitFor(what, expression) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await evaluate(expression);
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("timed out waiting for " + what + " (" + expression + " = " + JSON.stringify(last) + ")");
}

async function screenshot(file) {
  const { cssContentSize } = await send("Page.getLayoutMetrics", {}, session);
  const height = Math.min(4000, Math.ceil(cssContentSize.height));
  await send("Emulation.setDeviceMetricsOverride",
    { width: 1280, height, deviceScaleFactor: 1, mobile: false }, session);
  const { data } = await send("Page.captureScreenshot", { format: "png" }, session);
  await send("Emulation.setDeviceMetricsOverride",
    { width: 1280, height: 860, deviceScaleFactor: 1, mobile: false }, session);
  fs.mkdirSync(artifacts, { recursive: true });
  const out = path.join(artifacts, file);
  fs.writeFileSync(out, Buffer.from(data, "base64"));
  step("screenshot " + out);
}

// A real click (pressed and released at the middle of the element), which works without
// the page's script; `expression` evaluates to the element.
async function click(expression) {
  const box = await evaluate(`(() => { const r = (${expression}).getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
  for (const type of ["mousePressed", "mouseReleased"]) {
    await send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 }, session);
  }
}

async function setScripts(enabled) {
  await send("Emulation.setScriptExecutionDisabled", { value: !enabled }, session);
}

// How many event listeners the element `expression` evaluates to has: the page's script adds
// them as it starts, so none means it did not run.
async function listenerCount(expression) {
  const { result } = await send("Runtime.evaluate", { expression }, session);
  const { listeners } = await send("DOMDebugger.getEventListeners", { objectId: result.objectId }, session);
  return listeners.length;
}

function step(text) {
  console.log("ok: " + text);
}

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  step(what);
}

// Everything about the page is read in the page, as strings of JS.
const js = {
  ready: "document.body && document.body.dataset.state === 'ready'",
  groups: "document.querySelectorAll('#groups > li').length",
  groupWith: (text) => `[...document.querySelectorAll('#groups > li')].find((li) =>
      li.querySelector('.group-main').textContent.includes(${JSON.stringify(text)}))`,
};

// ---- the scenario ----------------------------------------------------------------------------

async function scenario() {
  await openPage();

  // Without JavaScript: the page as the server sends it lists the groups, and one opens.
  await setScripts(false);
  await navigate(base);
  check(await listenerCount("document.querySelector('#filter')") === 0, "without JavaScript: the script did not run");
  check(await evaluate(js.groups) === 5, "without JavaScript: 5 groups listed");
  check(await evaluate("document.querySelector('#summary').textContent") === "5 groups",
    "without JavaScript: summary says 5 groups");
  check(await evaluate(`!!${js.groupWith("<script>")}`), "without JavaScript: the <script> label value is text");
  check(await evaluate("document.querySelectorAll('#groups img, #groups script, #groups b').length") === 0,
    "without JavaScript: no pushed markup became elements");
  check(await evaluate("document.querySelector('#toolbar').hidden"), "without JavaScript: no dead controls");
  await click(`${js.groupWith('"a"')}.querySelector('summary')`);
  await waitFor("the group to open", `${js.groupWith('"a"')}.querySelector('details').open`);
  const staticFamilies = await evaluate(
    `[...${js.groupWith('"a"')}.querySelectorAll('.fname')].map((n) => n.textContent).join(',')`);
  check(staticFamilies === "latency_seconds,rpc_duration_seconds,up,push_failure_time_seconds,push_time_seconds",
    "without JavaScript: a click opens a group: " + staticFamilies);
  check(await evaluate(`${js.groupWith('"a"')}.textContent.includes('≤0.5')`),
    "without JavaScript: histogram buckets shown");
  check(await evaluate(`${js.groupWith('"failing"')}.classList.contains('failed')`),
    "without JavaScript: failed group highlighted");
  await screenshot(name + "-nojs.png");
  await setScripts(true);

  // The prefix without its trailing slash is redirected to the page.
  await navigate(base.replace(/\/+$/, ""));
  await waitFor("the groups page", js.ready);
  const href = await evaluate("location.href");
  check(href.endsWith("/"), "the UI is at " + href);

  check(await evaluate(js.groups) === 5, "5 groups listed");
  check(await listenerCount("document.querySelector('#filter')") > 0, "the script runs");
  check(await evaluate("document.querySelectorAll('#groups details').length") === 0,
    "the script's list took the server's place");
  check(!(await evaluate("document.querySelector('#toolbar').hidden")), "the controls are shown");
  check(await evaluate("document.querySelector('#summary').textContent") === "5 groups", "summary says 5 groups");

  // The pushed <script> is shown as text and did not run.
  check(await evaluate("document.title") === "pushgate", "title untouched");
  check(await evaluate("typeof window.__pwned") === "undefined", "no injected code ran");
  check(await evaluate("document.scripts.length") === 1, "the page's own script is the only one");
  check(await evaluate("document.querySelectorAll('#groups img, #groups script').length") === 0,
    "no pushed markup became elements");
  check(await evaluate(`!!${js.groupWith("<script>")}`), "the <script> label value is shown as text");

  // Highlights: a group whose last push failed, one never pushed successfully (stale).
  check(await evaluate(`${js.groupWith('"failing"')}.classList.contains('failed')`), "failed group highlighted");
  check(await evaluate(`${js.groupWith('"never"')}.classList.contains('stale')`), "group without a push is stale");

  // Expand a group: its families, with histogram buckets and summary quantiles.
  await evaluate(`${js.groupWith('"a"')}.querySelector('.toggle').click()`);
  await waitFor("expanded families", `${js.groupWith('"a"')}.querySelectorAll('.family').length >= 4`);
  const families = await evaluate(
    `[...${js.groupWith('"a"')}.querySelectorAll('.fname')].map((n) => n.textContent).join(',')`);
  check(families === "latency_seconds,rpc_duration_seconds,up,push_failure_time_seconds,push_time_seconds",
    "families shown: " + families);
  check(await evaluate(`${js.groupWith('"a"')}.querySelector('.group-body').textContent.includes('≤0.5')`),
    "histogram buckets shown");
  check(await evaluate(`${js.groupWith('"a"')}.querySelector('.group-body').textContent.includes('q0.99')`),
    "summary quantiles shown");
  check(await evaluate(`${js.groupWith('"xss"')}.querySelector('.group-body').hidden`),
    "other groups stay collapsed");
  // A native histogram's buckets, as intervals: batch_size_bytes has one in (0.0625, 0.125].
  await evaluate(`${js.groupWith('"b"')}.querySelector('.toggle').click()`);
  await waitFor("native buckets", `${js.groupWith('"b"')}.querySelector('.group-body').textContent.includes('(0.0625,0.125] 1')`);
  check(await evaluate(`${js.groupWith('"b"')}.querySelector('.group-body').textContent.includes('[-2048,-1024) 1')`),
    "negative native buckets shown");
  await screenshot(name + "-groups.png");

  // Filter on the server side.
  await evaluate(`(() => { const f = document.querySelector('#filter'); f.value = 'rpc_duration';
      f.dispatchEvent(new Event('input')); })()`);
  await waitFor("filtered list", `${js.ready} && ${js.groups} === 1`);
  check(await evaluate(`!!${js.groupWith('"a"')}`), "filter by metric name finds the group");
  await evaluate(`(() => { const f = document.querySelector('#filter'); f.value = '';
      f.dispatchEvent(new Event('input')); })()`);
  await waitFor("unfiltered list", `${js.ready} && ${js.groups} === 5`);

  // Delete a group: ask, confirm, and it is gone. The hostile one: its label value needs the
  // @base64 form of the push URL (it has '/', '<', quotes and a non-ASCII letter).
  await evaluate(`${js.groupWith("<script>")}.querySelector('button.delete').click()`);
  await evaluate(`${js.groupWith("<script>")}.querySelector('button.confirm-delete').click()`);
  await waitFor("the deleted group to go", `${js.ready} && ${js.groups} === 4 && !${js.groupWith("<script>")}`);
  check(true, "deleted group is gone");
  check(await evaluate("document.querySelector('#message').textContent.startsWith('Deleted group')"),
    "deletion confirmed");
  check(await evaluate(`!!${js.groupWith('"b"')}`), "the other groups stay");

  // Paging: more groups than a page holds (pushed from the page, like any client).
  await evaluate(`Promise.all(Array.from({ length: 51 }, (_, i) =>
      fetch('metrics/job/paged/n/' + String(i).padStart(2, '0'), { method: 'PUT', body: 'm 1\\n' })
        .then((r) => { if (r.status !== 200) throw new Error('push: ' + r.status); })))`);
  await setScripts(false);
  await navigate(href);
  check(await listenerCount("document.querySelector('#filter')") === 0, "without JavaScript again");
  check(await evaluate(js.groups) === 50, "without JavaScript: the first 50 of 55 groups listed");
  check((await evaluate("document.querySelector('#pager-top').textContent")).startsWith("1–50 of 55 groups"),
    "without JavaScript: the pager tells the range");
  await setScripts(true);
  await navigate(href);
  await waitFor("the first page", `${js.ready} && ${js.groups} === 50 && !document.querySelector('#groups details')`);
  await click("document.querySelector('#pager-top .next')");
  await waitFor("the second page", `${js.ready} && ${js.groups} === 5`);
  check((await evaluate("document.querySelector('#pager-top .range').textContent")).startsWith("51–55 of 55"),
    "Next shows the second page");
  check(await evaluate("location.hash") === "#page=2", "the page is in the address");

  // Wipe, when the admin API is on.
  await waitFor("the wipe button", "!document.querySelector('#wipe-box').hidden");
  await evaluate("document.querySelector('#wipe').click()");
  await evaluate("document.querySelector('#wipe-yes').click()");
  await waitFor("an empty list", `${js.ready} && ${js.groups} === 0 && !document.querySelector('#empty').hidden`);
  check(true, "wipe emptied the list");

  // The status page: build information and flags.
  await navigate(new URL("status", href).toString());
  await waitFor("the status page", js.ready);
  check(await evaluate("document.querySelector('#build').textContent.includes('version')"), "build info shown");
  check(await evaluate("document.querySelector('#flags').textContent.includes('--web.enable-admin-api')"),
    "flags shown");
  await screenshot(name + "-status.png");

  check(problems.length === 0, "no script errors or CSP violations" +
    (problems.length ? ": " + problems.join("; ") : ""));
}

scenario().then(
  async () => {
    finished = true;
    await send("Browser.close").catch(() => {});
    await cleanup();
    console.log("PASS");
    process.exit(0);
  },
  (e) => fail(e.message + (problems.length ? "\npage problems: " + problems.join("; ") : "")),
);
