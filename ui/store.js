// The page's one store and its paint scheduler. Rust sends view models (labels, tones,
// sanitised messages); views render them. Every piece of server text goes in through
// textContent (rich messages are built node by node, see views/messages.js).
export const { invoke } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

// Bounds of every in-page list (the UI says them where the list is shown).
export const BOUNDS = {
  logKept: 10000,      // event log entries the app keeps (in Rust; app_info says the figure)
  logKeptMb: 32,       // ... and their bytes at most (names and payloads)
  logShown: 300,       // log rows the page draws and holds (the rest stay in Rust)
  messagesPerChannel: 500,
  messagesShown: 200,
  runsShown: 60,       // run cards per environment column
  gapsPerEnv: 50,      // gap markers kept per environment (shown in every channel's feed)
  keptInApp: { messages: 1000 },   // what Rust keeps for a new window (app_info)
};

export const S = {
  envs: new Map(),           // name -> EnvView (profile, demo, active) + link (LinkView)
  active: null,
  runs: new Map(),           // env/id -> RunView
  messages: new Map(),       // env -> Map(channel -> [MessageView])
  gaps: new Map(),           // env -> [MessageView with .gap] (gap markers)
  unread: new Map(),         // env/channel -> n
  channel: null,             // selected channel (null = all)
  paused: false, pausedCount: 0,   // the log's pause: new events counted, not drawn
  dropped: 0,
  tab: "agents",
  editing: null,
  settings: null,
  channelLists: new Map(),   // env -> [ChannelInfo] (fetched when the picker opens)
};

export const $ = (sel) => document.querySelector(sel);

/** Hand the view state (tab, channel, filters) to Rust, so the next window opens as this one
 * was left. Applied by app.js at boot. */
export function saveView() {
  const state = { tab: S.tab, channel: S.channel, logName: $("#log-filter").value, logText: $("#log-search").value, sideBySide: $("#side-by-side").checked };
  invoke("set_view_state", { state }).catch(() => {});
}
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
    else if (k === "title") e.title = v;
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
/** Make `parent`'s children exactly `nodes`, in order, moving only the nodes out of place.
 * A node moved is a node WebKit lays out and styles again (a new renderer each time): views
 * redrawn every frame must not re-attach what did not move. */
export function setChildren(parent, nodes) {
  nodes.forEach((n, i) => {
    const at = parent.children[i];
    if (at !== n) parent.insertBefore(n, at || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}
// One formatter for the page (toLocaleTimeString() builds a new Intl formatter per call), and
// the last second formatted kept: under a flood most rows share it.
const timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
let lastSecond = -1, lastTime = "";
export function fmtTime(ms) {
  const sec = Math.floor(ms / 1000);
  if (sec !== lastSecond) { lastSecond = sec; lastTime = timeFormat.format(ms); }
  return lastTime;
}

/** Set `node`'s text if it differs: writing the same text still replaces the text node, and
 * WebKit lays it out again. */
export function putText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
/** Show `value` on `node` with `apply(node, value)` at most 4 times a second: a counter under
 * a flood would change every frame, and every change costs a layout and a paint (and, for
 * text, WebKit's caches of the strings it has laid out). The last value is always shown. */
const EVERY_MS = 250;
const throttled = new WeakMap();   // node -> { at, want, timer }
export function throttle(node, value, apply, same = (a, b) => a === b) {
  const t = throttled.get(node) || { at: 0, want: undefined, timer: 0, shown: undefined };
  throttled.set(node, t);
  t.want = value;
  if (same(t.shown, value) || t.timer) return;
  const wait = t.at + EVERY_MS - performance.now();
  const show = () => { t.timer = 0; t.at = performance.now(); t.shown = t.want; apply(node, t.want); };
  if (wait <= 0) show(); else t.timer = setTimeout(show, wait);
}
/** A counter's text, at most 4 times a second (see `throttle`). */
export const setText = (node, text) => throttle(node, text, (n, v) => putText(n, v));
/** "link down 10:31:02–10:31:09 · 3 messages recovered" (a GapView from Rust). */
export const gapLine = (g) => `${g.what} ${fmtTime(g.down_from_ms)}–${fmtTime(g.down_to_ms)} · ${g.detail}`;

// ---- render scheduling: at most one paint per frame, whatever the event rate ----
const renderers = new Map();   // part -> { tab, fn }
const dirty = new Set();
let frame = 0;
const afterPaint = [];
/** Register how a part is drawn; `tab` null = always visible. */
export function view(part, tab, fn) { renderers.set(part, { tab, fn }); }
/** `fn(t0)` after every paint, `t0` its start (`performance.now()`). */
export function onPainted(fn) { afterPaint.push(fn); }
export function mark(...parts) {
  parts.forEach((p) => dirty.add(p));
  if (!frame) frame = requestAnimationFrame(paint);
}
function paint() {
  const t0 = performance.now();
  frame = 0;
  const d = new Set(dirty);
  dirty.clear();
  for (const [part, r] of renderers) {
    if (r.tab === null ? (d.has(part) || part === "counts") : d.has(part) && S.tab === r.tab) r.fn();
  }
  for (const fn of afterPaint) fn(t0);
}
