// Sockeye's window: boots the views over one store, then takes what Rust sends (batches it
// queues for the window, taken with a long poll; the environment list and settings as
// events). Nothing is polled on a timer. All logic about
// states, runs, messages and notifications lives in Rust; the views render its view models.
// The window can be destroyed and built again at any time (closed to the tray, Show): Rust
// replays what it kept and hands back the view state, so the page comes back as it was.
import { S, $, invoke, listen, mark, BOUNDS } from "./store.js";
import { showTab } from "./views/tabs.js";
import "./views/header.js";
import "./views/runs.js";
import { addMessage } from "./views/messages.js";
import { addLog, initLog } from "./views/log.js";
import "./views/diagnostics.js";
import { editEnv } from "./views/envs.js";
import { loadSettings } from "./views/settings.js";
import "./views/emit.js";

const RUNS_KEPT = 1000;   // run cards kept in the page, all environments together
let bench = null;

function onBatch(batch) {
  bench?.onBatch(batch);
  S.dropped += batch.dropped || 0;
  for (const item of batch.items) {
    if (item.type === "state") {
      const env = S.envs.get(item.env) || { profile: { name: item.env, subscriptions: {} }, demo: false };
      env.link = item.link;
      S.envs.set(item.env, env);
      if (!S.active) S.active = item.env;
      mark("header", "runs", "envs");
    } else if (item.type === "run") {
      setRun(item.run);
    } else if (item.type === "message") {
      addMessage(item.message);
      mark("messages");
    } else if (item.type === "event") {
      addLog(item.event);
      mark("log");
    }
  }
}

/** A run from Rust. A run whose steps did not change comes without them (a running agent's
 * plan, up to 200 rows, would otherwise be parsed again on every event): the steps held are
 * kept if they are the ones its fingerprint names, else the whole run is asked for. */
function setRun(run) {
  const key = `${run.env}/${run.id}`;
  if (run.steps_omitted) {
    const held = S.runs.get(key);
    if (held?.steps_sig !== run.steps_sig) {
      // Applied unless a newer update came meanwhile (`events` only grows).
      const apply = (whole) => whole && !(S.runs.get(key)?.events > whole.events) && setRun(whole);
      invoke("run_view", { env: run.env, id: run.id }).then(apply).catch(() => {});
      return;
    }
    run.steps = held.steps;
    run.step_marks = held.step_marks;
  }
  S.runs.set(key, run);
  if (S.runs.size > RUNS_KEPT) {
    const oldest = [...S.runs.entries()].sort((a, b) => a[1].updated_ms - b[1].updated_ms)[0][0];
    S.runs.delete(oldest);
  }
  mark("runs");
}

/** The environment list, pushed by Rust on every change (never polled). */
function onEnvs(views) {
  const fresh = new Map();
  for (const v of views) {
    const name = v.profile.name;
    fresh.set(name, { ...v, link: v.link || S.envs.get(name)?.link });
    if (v.active) S.active = name;
  }
  S.envs = fresh;
  if (!S.envs.has(S.active)) S.active = views[0]?.profile.name || null;
  mark("header", "runs", "envs", "messages");
}

/** The view state the last window left (see saveView in store.js). */
function restoreView(v) {
  if (!v || typeof v !== "object") return;
  if (typeof v.logName === "string") $("#log-filter").value = v.logName;
  if (typeof v.logText === "string") $("#log-search").value = v.logText;
  $("#side-by-side").checked = !!v.sideBySide;
  if (typeof v.channel === "string" || v.channel === null) S.channel = v.channel ?? null;
  if (typeof v.tab === "string" && document.querySelector(`#tabs button[data-tab="${v.tab}"]`)) showTab(v.tab);
}

(async () => {
  // Everything a new window asks for at once: Show is timed until the page is drawn.
  const listening = listen("sockeye://envs", (e) => onEnvs(e.payload));
  const [info, envs, window_] = await Promise.all([invoke("app_info"), invoke("list_envs"), invoke("subscribe"), listening]);
  BOUNDS.logKept = info.kept_events;
  BOUNDS.logKeptMb = Math.round(info.kept_event_bytes / 1048576);
  BOUNDS.logShown = info.log_rows;
  BOUNDS.keptInApp = { messages: info.kept_messages };
  if (info.config_error) {
    // The file is kept as it is (saving is refused until it reads): say why the demo runs.
    const box = $("#config-error");
    box.textContent = `The config file could not be read, so the demo runs instead. Fix the file (nothing overwrites it until then): ${info.config_error}`;
    box.hidden = false;
  }
  if (info.bench) bench = await import("./bench.js");
  // A first window opens on Agents; the UI benchmark watches the log.
  restoreView(info.view_state ?? (info.bench ? { tab: "log" } : null));
  initLog();
  onEnvs(envs);
  // Rust queues batches for this window; the page pulls them (a long poll: an answer as soon
  // as there is something). The first is the replay of what Rust kept.
  (async () => {
    let replayed = false;
    for (;;) {
      let frames;
      try { frames = await invoke("next_batch", { window: window_ }); }
      catch { await new Promise((r) => setTimeout(r, 1000)); continue; }
      if (frames === null) return;   // a newer window took over
      for (const batch of frames) onBatch(batch);
      if (!replayed && frames.length) { replayed = true; bench?.replayed(); }
    }
  })();
  editEnv(null);
  loadSettings().catch(() => {});
})();
