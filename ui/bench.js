// Benchmark instrumentation, loaded only when the app runs with SOCKEYE_UI_BENCH set (the UI
// benchmark, tests/ui/bench_ui.mjs): emit → rendered latency of events carrying
// `emitted_at_us`, timed when the paint that shows them has run.
import { onPainted } from "./store.js";

const CAP = 200000;
const pending = [];
window.__sockeyeLatencyMs = [];
window.__sockeyeArrivalMs = [];   // emit → batch handed to this page (the backend's share)
window.__sockeyePaintMs = [];     // time spent in each paint() (the page's own share)
function push(marks, ms) {
  marks.push(ms);
  if (marks.length > CAP) marks.splice(0, marks.length - CAP);
}
export function onEvent(ev) {
  const at = ev.payload && ev.payload.emitted_at_us;
  if (!at) return;
  pending.push(at);
  push(window.__sockeyeArrivalMs, Date.now() - at / 1000);
}
onPainted((t0) => {
  if (!pending.length) return;
  const now = Date.now();
  for (const at of pending) push(window.__sockeyeLatencyMs, now - at / 1000);
  pending.length = 0;
  push(window.__sockeyePaintMs, performance.now() - t0);
});
