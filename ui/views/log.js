// The event log. Rows are built once per entry and kept while shown; a paint only prepends
// the rows of new entries and drops the oldest past BOUNDS.logShown. The pretty-printed JSON
// is built when a row is opened. (Rebuilding all rows with their viewers on every frame cost
// ~0.5 s of emit→rendered latency at 1,000 events/s.)
import { S, $, el, fmtTime, gapLine, invoke, mark, view, BOUNDS } from "../store.js";

const LOG_SLACK = 500;       // trim the kept entries in bulk, not one shift() per event
let logSeq = 0;
const LV = { key: null, shown: [], seen: 0, matched: 0, reset: true };

export function addLog(env, ev) {
  const entry = { seq: ++logSeq, env, name: ev.name, room: ev.room_hint || "", at: ev.received_at_ms, payload: ev.payload, note: ev.parse_note, gap: ev.gap, fallback: ev.fallback, mark: ev.recovered ? "recovered" : ev.polled ? "polled" : "" };
  if (S.paused) {
    S.pausedBuffer.push(entry);
    if (S.pausedBuffer.length > BOUNDS.logKept + LOG_SLACK) { const cut = S.pausedBuffer.length - BOUNDS.logKept; S.pausedBuffer.splice(0, cut); S.logDropped += cut; }
    return;
  }
  S.log.push(entry);
  trimLog();
}
function trimLog() {
  if (S.log.length <= BOUNDS.logKept + LOG_SLACK) return;
  const cut = S.log.length - BOUNDS.logKept;
  for (let i = 0; i < cut; i++) if (S.log[i].m) LV.matched--;
  const lastCut = S.log[cut - 1].seq;
  S.log.splice(0, cut);
  S.logDropped += cut;
  // Rows of entries no longer kept go too (a rare filter can leave old rows on screen).
  while (LV.shown.length && LV.shown[LV.shown.length - 1].seq <= lastCut) { const o = LV.shown.pop(); o.row?.remove(); delete o.row; }
}
function logMatches(e, name, q) {
  if (name && !e.name.includes(name)) return false;
  if (!q) return true;
  e.hay ??= `${e.name} ${e.room} ${JSON.stringify(e.payload)}`.toLowerCase();
  return e.hay.includes(q);
}
function logRow(e) {
  if (e.row) return e.row;
  // Gap markers and progress-fallback reports read as sentences; recovered and polled events
  // say where they came from.
  const head = e.gap ? gapLine(e.gap) : e.fallback || (e.mark ? `(${e.mark}) ` : "") + JSON.stringify(e.payload).slice(0, 120);
  const det = el("details", {}, el("summary", { text: head }));
  det.addEventListener("toggle", () => {
    if (det.open && !det.querySelector("pre")) det.insertBefore(el("pre", { class: "json", text: JSON.stringify(e.payload, null, 2) }), det.children[1] || null);
  });
  if (e.note) det.append(el("div", { class: "warning", text: e.note }));
  e.row = el("tr", { "data-event": e.name, ...(e.gap ? { class: "gap", "data-tone": e.gap.tone } : e.fallback ? { class: "gap" } : {}) }, el("td", { text: fmtTime(e.at) }), el("td", { text: e.env }), el("td", { text: e.name }), el("td", { text: e.room }), el("td", {}, det));
  return e.row;
}

view("log", "log", () => {
  const name = $("#log-filter").value.trim();
  const q = $("#log-search").value.trim().toLowerCase();
  const key = `${name}\u0000${q}`;
  const body = $("#log-rows");
  if (LV.reset || key !== LV.key) {
    // Filter changed, cleared or resumed: start over from the newest entry.
    for (const e of LV.shown) delete e.row;
    LV.key = key; LV.shown = []; LV.seen = 0; LV.matched = 0; LV.reset = false;
    body.replaceChildren();
  }
  // New entries since the last paint, newest first; at most BOUNDS.logShown get rows.
  const fresh = [];
  for (let i = S.log.length - 1; i >= 0 && S.log[i].seq > LV.seen; i--) {
    const e = S.log[i];
    e.m = logMatches(e, name, q);
    if (!e.m) continue;
    LV.matched++;
    if (fresh.length < BOUNDS.logShown) fresh.push(e);
  }
  if (S.log.length) LV.seen = S.log[S.log.length - 1].seq;
  if (fresh.length) {
    body.prepend(...fresh.map(logRow));
    LV.shown = fresh.concat(LV.shown);
    while (LV.shown.length > BOUNDS.logShown) { const old = LV.shown.pop(); old.row.remove(); delete old.row; }
  }
  const parts = [`showing ${LV.shown.length} of ${LV.matched} matching (${S.log.length} kept; at most ${BOUNDS.logShown} rows shown, ${BOUNDS.logKept} kept)`];
  if (S.logDropped) parts.push(`${S.logDropped} older dropped`);
  if (S.dropped) parts.push(`${S.dropped} dropped under load`);
  if (S.paused) parts.push(`paused: ${S.pausedBuffer.length} buffered`);
  $("#log-status").textContent = parts.join(" · ");
});

$("#log-filter").addEventListener("input", () => mark("log"));
$("#log-search").addEventListener("input", () => mark("log"));
$("#log-pause").addEventListener("click", () => {
  S.paused = !S.paused;
  $("#log-pause").textContent = S.paused ? "Resume" : "Pause";
  if (!S.paused) { S.log.push(...S.pausedBuffer); S.pausedBuffer = []; LV.reset = true; trimLog(); }
  mark("log");
});
$("#log-clear").addEventListener("click", () => { S.log = []; S.pausedBuffer = []; S.logDropped = 0; LV.reset = true; mark("log"); });
$("#log-export").addEventListener("click", async () => {
  const jsonl = S.log.map((e) => JSON.stringify({ env: e.env, name: e.name, room_hint: e.room, received_at_ms: e.at, payload: e.payload })).join("\n") + "\n";
  try { $("#log-status").textContent = `exported to ${await invoke("export_log", { jsonl })}`; } catch (err) { $("#log-status").textContent = String(err); }
});
