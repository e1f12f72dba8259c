// Benchmark instrumentation, loaded only when the app runs with SOCKEYE_UI_BENCH set (the UI
// benchmark, tests/ui/bench_ui.mjs):
// - emit → rendered latency of events carrying `emitted_at_us`, timed when the paint that
//   shows them has run, split into emit → sent by the app (frames carry `sent_us`), sent →
//   handed to this page, and the paint's own work;
// - when a new window has drawn what the app kept (`__sockeyeRestoredAtMs`, wall clock).
import { S, invoke, mark, onPainted } from "./store.js";
import { logSettled } from "./views/log.js";

const CAP = 50000;
const STAMP = /"emitted_at_us":(\d+)/;   // the simulator's send time, in the payload
const pending = [];
window.__sockeyeLatencyMs = [];
window.__sockeyeArrivalMs = [];   // emit → batch handed to this page
window.__sockeyeSentMs = [];      // emit → frame sent by the app (the backend's share)
window.__sockeyePaintMs = [];     // time spent in each paint() (the page's own share)
window.__sockeyeRestoredAtMs = null;
function push(marks, ms) {
  marks.push(ms);
  if (marks.length > CAP) marks.splice(0, marks.length - CAP);
}
export function onBatch(batch) {
  const now = Date.now();
  for (const item of batch.items) {
    const at = item.type === "event" && Number(STAMP.exec(item.event.payload_json)?.[1]);
    if (!at) continue;
    pending.push(at);
    push(window.__sockeyeArrivalMs, now - at / 1000);
    if (batch.sent_us) push(window.__sockeyeSentMs, (batch.sent_us - at) / 1000);
  }
}
let replayDone = false, replayAt = 0;
export function replayed() { replayDone = true; replayAt = performance.now(); mark("counts"); }
onPainted((t0) => {
  if (replayDone && window.__sockeyeRestoredAtMs === null && (S.tab !== "log" || logSettled())) {
    window.__sockeyeRestoredAtMs = Date.now();
    // For runs without WebDriver (tests/ui/tray_cycle.mjs): the app prints it on stdout.
    // Where a new window's time goes, in ms since its navigation started.
    const nav = performance.getEntriesByType("navigation")[0] || {};
    const boot = { html_ms: Math.round(nav.responseEnd || 0), dom_ready_ms: Math.round(nav.domContentLoadedEventEnd || 0), replayed_ms: Math.round(replayAt), restored_ms: Math.round(performance.now()) };
    const data = { page_at_ms: window.__sockeyeRestoredAtMs, nav_at_ms: performance.timeOrigin, boot, tab: S.tab, log_rows: document.querySelectorAll("#log-rows .log-line").length, runs: S.runs.size, filter: document.querySelector("#log-filter").value };
    invoke("bench_mark", { name: "restored", data }).catch(() => {});
  }
  if (!pending.length) return;
  const now = Date.now();
  for (const at of pending) push(window.__sockeyeLatencyMs, now - at / 1000);
  pending.length = 0;
  push(window.__sockeyePaintMs, performance.now() - t0);
});
