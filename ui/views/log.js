// The event log. The app keeps it (the newest BOUNDS.logKept events, in Rust: search and
// export cover all of them); the page holds only the rows it draws (at most BOUNDS.logShown)
// and reuses their elements, so a flood leaves no garbage DOM behind. A new filter or search
// asks Rust for the newest matching rows; live events are matched here by the same rule
// (sockeye_core::event_log::LogQuery). The pretty-printed JSON is built when a line is opened.
import { S, $, el, fmtTime, gapLine, invoke, mark, view, saveView, setText, BOUNDS } from "../store.js";

const L = {
  key: null,        // filter + search the rows were drawn for
  rows: [],         // drawn lines, newest first: { e, row }
  fresh: [],        // live entries since the last paint, oldest first (the newest logShown)
  lastSeq: 0,       // newest entry drawn or covered by the last query
  matched: 0, kept: 0, dropped: 0,   // from the last query, advanced by live entries
  querying: false,
  reset: true,
};

/** The same rule as Rust's LogQuery: name part as typed, text case-insensitive, the payload
 * as compact JSON (Rust sends it so: `payload_json`). */
function matches(e, name, q) {
  if (name && !e.name.includes(name)) return false;
  if (!q) return true;
  return `${e.name} ${e.room_hint || ""} ${e.payload_json}`.toLowerCase().includes(q);
}
const filter = () => ({ name: $("#log-filter").value.trim(), q: $("#log-search").value.trim().toLowerCase() });

/** A live event (a UiEvent from Rust, with its log `seq`). */
export function addLog(e) {
  // Rust says how many it keeps with this one in: past its byte bound, one big event can
  // push out several.
  L.dropped += Math.max(0, L.kept + 1 - e.kept);
  L.kept = e.kept;
  if (S.paused) { S.pausedCount++; return; }
  L.fresh.push(e);
  if (L.fresh.length > 2 * BOUNDS.logShown) L.fresh.splice(0, L.fresh.length - BOUNDS.logShown);
}

// Columns of a line (characters; the log is monospace). Longer values are cut with "…";
// opening the line shows them whole.
const COLS = [["Time", 8], ["Env", 10], ["Event", 22], ["Room", 26]];
const cut = (v, n) => (v.length > n ? v.slice(0, n - 1) + "…" : v.padEnd(n));
$("#log-head").textContent = COLS.map(([t, n]) => cut(t, n)).join("  ") + "  Payload";

/** Draw entry `e` into line `row` (new or reused: everything a previous entry set is reset;
 * setting the text drops an opened viewer). One text node per line keeps a paint cheap. */
function fill(row, e) {
  row.entry = e;
  // A gap marker reads as a sentence; recovered and polled events say where they came from.
  const tag = e.parse_note ? "⚠ " : e.recovered ? "(recovered) " : e.polled ? "(polled) " : e.direction === "out" ? "→ sent " : e.direction === "ack" ? "← ack " : "";
  // A gap marker and a progress-fallback report read as sentences.
  const what = e.gap ? gapLine(e.gap) : e.fallback || tag + e.payload_json.slice(0, 160);
  const cells = [fmtTime(e.received_at_ms), e.env, e.name, e.room_hint || ""];
  row.textContent = cells.map((v, i) => cut(v, COLS[i][1])).join("  ") + "  " + what;
  for (const k of Object.keys(row.dataset)) delete row.dataset[k];
  row.dataset.event = e.name;
  if (e.direction && e.direction !== "in") row.dataset.direction = e.direction;
  row.dataset.room = e.room_hint || "";
  row.className = e.gap || e.fallback ? "log-line gap" : "log-line";
  if (e.gap) row.dataset.tone = e.gap.tone;
}
const newRow = () => el("div", { class: "log-line" });

// Clicking a line opens its JSON (built then, not before) and what it does not show.
$("#log-rows").addEventListener("click", (ev) => {
  const row = ev.target.closest(".log-line");
  if (!row || ev.target.closest(".json")) return;
  if (row.classList.toggle("open")) {
    const e = row.entry;
    const whole = `${e.env} · ${e.name} · ${e.room_hint || "no room"}`;
    row.append(el("div", { class: "muted", text: whole }), ...(e.parse_note ? [el("div", { class: "warning", text: e.parse_note })] : []), el("pre", { class: "json", text: JSON.stringify(JSON.parse(e.payload_json), null, 2) }));
  } else {
    row.replaceChildren(row.firstChild);
  }
});

/** Replace every drawn row with `entries` (newest first), reusing the row elements. */
function drawAll(entries) {
  const body = $("#log-rows");
  const rows = L.rows.map((r) => r.row);
  L.rows = entries.map((e, i) => { const row = rows[i] || newRow(); fill(row, e); return { e, row }; });
  for (const row of rows.slice(entries.length)) row.remove();
  const missing = L.rows.slice(rows.length).map((r) => r.row);
  if (missing.length) body.append(...missing);
}
/** Put `entries` (newest first) on top; the rows pushed past the bound are reused for them. */
function drawNew(entries) {
  if (entries.length >= BOUNDS.logShown || !L.rows.length) return drawAll(entries.concat(L.rows.map((r) => r.e)).slice(0, BOUNDS.logShown));
  const spare = Math.max(0, L.rows.length + entries.length - BOUNDS.logShown);
  const top = entries.map((e, i) => { const row = i < spare ? L.rows.pop().row : newRow(); fill(row, e); return { e, row }; });
  $("#log-rows").prepend(...top.map((r) => r.row));
  L.rows = top.concat(L.rows);
}

async function requery(name, q, key) {
  L.querying = true;
  try {
    const page = await invoke("query_log", { name, text: q, limit: BOUNDS.logShown });
    if (key === L.key) {
      drawAll(page.entries);
      L.matched = page.matched; L.kept = page.kept; L.dropped = page.dropped;
      mark("counts");
      L.lastSeq = Math.max(L.lastSeq, page.entries[0]?.seq || 0);
    }
  } catch (err) {
    $("#log-status").textContent = String(err);
  }
  L.querying = false;
  mark("log");
}

view("log", "log", () => {
  const { name, q } = filter();
  const key = `${name}\u0000${q}`;
  if (L.reset || key !== L.key) {
    // Filter changed, cleared, resumed or a new window: start from what the app kept.
    L.reset = false; L.key = key; L.fresh = [];
    requery(name, q, key);
  } else if (!L.querying && L.fresh.length && !S.paused) {
    const add = [];
    for (let i = L.fresh.length - 1; i >= 0; i--) {
      const e = L.fresh[i];
      if (e.seq <= L.lastSeq || !matches(e, name, q)) continue;
      L.matched++;
      if (add.length < BOUNDS.logShown) add.push(e);
    }
    L.lastSeq = Math.max(L.lastSeq, L.fresh[L.fresh.length - 1].seq);
    L.fresh = [];
    if (add.length) drawNew(add);
  }
  const parts = [`showing ${L.rows.length} of ${Math.min(L.matched, L.kept)} matching · the app keeps the newest ${BOUNDS.logKept} events, ${BOUNDS.logKeptMb} MB at most (search and export cover them), this page draws at most ${BOUNDS.logShown}`];
  if (L.dropped) parts.push(`${L.dropped} older dropped`);
  if (S.dropped) parts.push(`${S.dropped} dropped under load`);
  if (S.paused) parts.push(`paused: ${S.pausedCount} new not shown`);
  setText($("#log-status"), parts.join(" · "));
});

/** The log as the app kept it, drawn again (a resumed or cleared log). */
export function resetLog() { L.reset = true; mark("log"); }
/** Events seen: kept and dropped (the tab's badge). */
export const logTotal = () => L.kept + L.dropped;
/** The rows are drawn from what the app kept (for the benchmark's "restored" mark). */
export const logSettled = () => !L.reset && !L.querying;
/** A new window: the log as the app kept it, asked for at once (not at the first paint of
 * the log), with the filter and search the last window left. */
export function initLog() {
  const { name, q } = filter();
  L.reset = false; L.key = `${name}\u0000${q}`;
  return requery(name, q, L.key);
}

$("#log-filter").addEventListener("input", () => { mark("log"); saveView(); });
$("#log-search").addEventListener("input", () => { mark("log"); saveView(); });
$("#log-pause").addEventListener("click", () => {
  S.paused = !S.paused;
  S.pausedCount = 0;
  $("#log-pause").textContent = S.paused ? "Resume" : "Pause";
  if (!S.paused) L.reset = true;
  mark("log");
});
$("#log-clear").addEventListener("click", async () => {
  drawAll([]);
  L.fresh = [];
  const last = await invoke("clear_log").catch(() => 0);
  L.lastSeq = Math.max(L.lastSeq, last);
  L.matched = 0; L.kept = 0; L.dropped = 0;
  resetLog();
});
$("#log-export").addEventListener("click", async () => {
  const out = $("#log-export-status");
  out.textContent = "exporting…";
  try { const r = await invoke("export_log"); out.textContent = `exported ${r.lines} events to ${r.path}`; } catch (err) { out.textContent = String(err); }
});
