// What the WebDriver scripts share: the W3C calls they make, a session on the app, bounded
// waits and the ok/FAIL lines with their count.
const WD = process.env.WEBDRIVER || "http://127.0.0.1:4444";
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function wd(method, path, body) {
  const r = await fetch(WD + path, { method, headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const v = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${JSON.stringify(v.value)}`);
  return v.value;
}

/** A session on the app (`SOCKEYE_BIN`): its id and a synchronous script runner. */
export async function openApp() {
  const session = await wd("POST", "/session", { capabilities: { alwaysMatch: { "tauri:options": { application: process.env.SOCKEYE_BIN } } } });
  const sid = session.sessionId;
  const js = (script, ...args) => wd("POST", `/session/${sid}/execute/sync`, { script, args });
  return { sid, js };
}

export async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

export const results = { failures: 0 };
export async function check(label, fn) {
  try { await fn(); console.log(`ok   ${label}`); }
  catch (e) { results.failures++; console.log(`FAIL ${label}: ${e.message}`); }
}
