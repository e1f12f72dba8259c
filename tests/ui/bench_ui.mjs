// UI path benchmark: the real app under Xvfb (driven over WebDriver), events emitted by its
// embedded simulator at a fixed rate; emit → rendered latency from marks the window takes
// after each paint (event log on screen, then the Agents view), and responsiveness (WebDriver round trips, animation-frame gaps) under a
// 10,000 events/s flood; memory (PSS of the app and its WebKit processes) with the window
// open. (Closed to the tray and Show: tray_cycle.mjs, which runs without WebDriver.)
// Prints one JSON line. Run by tests/ui/run.sh with UI_SCRIPT=bench_ui.mjs.
import fs from "node:fs";
import { pssMb, appPid } from "./tray.mjs";

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
const burst = (n, rate) => post("/__sim/burst", { n, rate, event: "ai_progress", pad: 170 });

for (let i = 0; i < 100; i++) { if (await js("return document.querySelector('#pill').dataset.state") === "connected") break; await sleep(200); }
await js("document.querySelector('#tabs button[data-tab=\"log\"]').click(); return 1");
await sleep(2000);
const pid = appPid();
const pssOpen = pssMb(pid);
await js("for (const k of ['Latency', 'Arrival', 'Sent', 'Paint']) window[`__sockeye${k}Ms`].length = 0; return 1");

// emit → rendered at 1,000 events/s for 5 s, with the event log on screen (a row per event),
// then with the Agents view (the default; the run's card changes with every event).
const marks = () => js("const m = ['Latency', 'Arrival', 'Sent', 'Paint'].map(k => window[`__sockeye${k}Ms`].slice()); for (const k of ['Latency', 'Arrival', 'Sent', 'Paint']) window[`__sockeye${k}Ms`].length = 0; return m");
// The machine's 1-minute load average when the latency was taken (other builds share it).
const load = Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
await burst(5000, 1000);
await sleep(1000);
const [lat, arrival, sent, paintMs] = await marks();
await js("document.querySelector('#tabs button[data-tab=\"agents\"]').click(); return 1");
await sleep(500);
await marks();
await burst(5000, 1000);
await sleep(1000);
const [latAgents, arrivalAgents] = await marks();

// 10,000 events in all, then memory (the log on screen again).
await js("document.querySelector('#tabs button[data-tab=\"log\"]').click(); return 1");
await sleep(3000);
const pss10k = pssMb(pid);

// responsiveness at 10,000 events/s for 3 s.
await js("window.__gaps = []; let last = performance.now(); window.__raf = true; (function f(t){ window.__gaps.push(t - last); last = t; if (window.__raf) requestAnimationFrame(f); })(last); return 1");
const flood = burst(30000, 10000);
const rtts = [];
const end = Date.now() + 3000;
while (Date.now() < end) { const t = Date.now(); await js("return 1"); rtts.push(Date.now() - t); await sleep(100); }
await flood;
await sleep(500);
const gaps = await js("window.__raf = false; return window.__gaps.slice(1)");
const rows = await js("return document.querySelectorAll('#log-rows .log-line').length");

// 100,000 more events: memory must stay flat (every in-page list is bounded).
await burst(100000, 20000);
await sleep(3000);
const pss140k = pssMb(pid);

await wd("DELETE", `/session/${sessionId}`).catch(() => {});
console.log(JSON.stringify({
  render_latency_1k: { events: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: pct(lat, 1),
    arrival_p50_ms: pct(arrival, 0.5), arrival_p99_ms: pct(arrival, 0.99), sent_p50_ms: pct(sent, 0.5), sent_p99_ms: pct(sent, 0.99),
    paint_p50_ms: pct(paintMs, 0.5), paint_p99_ms: pct(paintMs, 0.99), paints: paintMs.length, load_avg: load },
  render_latency_1k_agents: { events: latAgents.length, p50_ms: pct(latAgents, 0.5), p99_ms: pct(latAgents, 0.99), max_ms: pct(latAgents, 1), arrival_p50_ms: pct(arrivalAgents, 0.5), arrival_p99_ms: pct(arrivalAgents, 0.99) },
  memory_pss_mb: { window_open: pssOpen, window_after_10k_events: pss10k, window_after_140k_events: pss140k },
  flood_10k: { webdriver_rtt_p50_ms: pct(rtts, 0.5), webdriver_rtt_max_ms: pct(rtts, 1), frame_gap_p50_ms: pct(gaps, 0.5), frame_gap_max_ms: pct(gaps, 1), log_rows_rendered: rows },
}));
