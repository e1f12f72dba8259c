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
await wd("DELETE", `/session/${sessionId}`).catch(() => {});
console.log(JSON.stringify({
  render_latency_1k: { events: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: pct(lat, 1),
    arrival_p50_ms: pct(arrival, 0.5), arrival_p99_ms: pct(arrival, 0.99), paint_p50_ms: pct(paintMs, 0.5), paint_p99_ms: pct(paintMs, 0.99), paints: paintMs.length },
  flood_10k: { webdriver_rtt_p50_ms: pct(rtts, 0.5), webdriver_rtt_max_ms: pct(rtts, 1), frame_gap_p50_ms: pct(gaps, 0.5), frame_gap_max_ms: pct(gaps, 1), log_rows_rendered: rows, js_heap_bytes: heap },
}));
