// UI path benchmark: the real app under Xvfb (driven over WebDriver), events emitted by its
// embedded simulator at a fixed rate; emit → rendered latency from marks the window takes
// after each paint, and responsiveness (WebDriver round trips, animation-frame gaps) under a
// 10,000 events/s flood. Prints one JSON line. Run by tests/ui/run.sh with UI_BENCH=1.
const WD = process.env.WEBDRIVER;
const SIM = `http://127.0.0.1:${process.env.SOCKEYE_DEMO_PORT}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function wd(method, path, body) {
  const r = await fetch(WD + path, { method, headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const v = await r.json();
  if (!r.ok) throw new Error(JSON.stringify(v.value));
  return v.value;
}
const post = (path, body) => fetch(SIM + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json());
const { sessionId } = await wd("POST", "/session", { capabilities: { alwaysMatch: { "tauri:options": { application: process.env.SOCKEYE_BIN } } } });
const js = (script) => wd("POST", `/session/${sessionId}/execute/sync`, { script, args: [] });
// PSS (proportional set size, shared pages split among their users) of the app and its WebKit
// processes, from /proc/<pid>/smaps_rollup, in MB.
import fs from "node:fs";
function pssMb() {
  const out = { total: 0, by: {} };
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let comm;
    try { comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { continue; }
    const name = comm === "sockeye" ? "sockeye" : comm.startsWith("WebKitWebProces") ? "WebKitWebProcess" : comm.startsWith("WebKitNetworkPr") ? "WebKitNetworkProcess" : null;
    if (!name) continue;
    try {
      const kb = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))[1]);
      out.by[name] = Math.round(((out.by[name] || 0) + kb / 1024) * 10) / 10;
      out.total = Math.round((out.total + kb / 1024) * 10) / 10;
    } catch {}
  }
  return out;
}
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.round((s.length - 1) * p))] : null; };

for (let i = 0; i < 100; i++) { if (await js("return document.querySelector('#pill').dataset.state") === "connected") break; await sleep(200); }
await js("document.querySelector('#tabs button[data-tab=\"log\"]').click(); window.__sockeyeLatencyMs.length = 0; window.__sockeyeArrivalMs.length = 0; window.__sockeyePaintMs.length = 0; return 1");

// emit → rendered at 1,000 events/s for 5 s.
await post("/__sim/burst", { n: 5000, rate: 1000, event: "ai_progress", pad: 170 });
await sleep(1000);
const lat = await js("return window.__sockeyeLatencyMs.slice()");
const arrival = await js("return window.__sockeyeArrivalMs.slice()");
const paintMs = await js("return window.__sockeyePaintMs.slice()");

// responsiveness at 10,000 events/s for 3 s.
await js("window.__gaps = []; let last = performance.now(); window.__raf = true; (function f(t){ window.__gaps.push(t - last); last = t; if (window.__raf) requestAnimationFrame(f); })(last); return 1");
const flood = post("/__sim/burst", { n: 30000, rate: 10000, event: "ai_progress", pad: 170 });
const rtts = [];
const end = Date.now() + 3000;
while (Date.now() < end) { const t = Date.now(); await js("return 1"); rtts.push(Date.now() - t); await sleep(100); }
await flood;
await sleep(500);
const gaps = await js("window.__raf = false; return window.__gaps.slice(1)");
const rows = await js("return document.querySelectorAll('#log-rows tr').length");
const heap = await js("return performance.memory ? performance.memory.usedJSHeapSize : null");
const pssAfter35k = pssMb();
// 100,000 more events: memory must stay flat (every in-page list is bounded).
await post("/__sim/burst", { n: 100000, rate: 20000, event: "ai_progress", pad: 170 });
await sleep(3000);
const pssAfter135k = pssMb();
// Closed to the tray: the webview is destroyed, all state stays in Rust.
await wd("DELETE", `/session/${sessionId}/window`).catch(() => {});
await sleep(4000);
const pssClosed = pssMb();
await wd("DELETE", `/session/${sessionId}`).catch(() => {});
console.log(JSON.stringify({
  render_latency_1k: { events: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: pct(lat, 1),
    arrival_p50_ms: pct(arrival, 0.5), arrival_p99_ms: pct(arrival, 0.99), paint_p50_ms: pct(paintMs, 0.5), paint_p99_ms: pct(paintMs, 0.99), paints: paintMs.length },
  memory_pss_mb: { window_after_35k_events: pssAfter35k, window_after_135k_events: pssAfter135k, closed_to_tray: pssClosed },
  flood_10k: { webdriver_rtt_p50_ms: pct(rtts, 0.5), webdriver_rtt_max_ms: pct(rtts, 1), frame_gap_p50_ms: pct(gaps, 0.5), frame_gap_max_ms: pct(gaps, 1), log_rows_rendered: rows, js_heap_bytes: heap },
}));
