// Sockeye's window: boots the views over one store, then takes what Rust pushes (batches on a
// channel; the environment list and settings as events). Nothing is polled. All logic about
// states, runs, messages and notifications lives in Rust; the views render its view models.
import { S, invoke, Channel, listen, mark, BOUNDS } from "./store.js";
import "./views/tabs.js";
import "./views/header.js";
import "./views/runs.js";
import { addMessage } from "./views/messages.js";
import { addLog } from "./views/log.js";
import "./views/diagnostics.js";
import { editEnv } from "./views/envs.js";
import { loadSettings } from "./views/settings.js";

const RUNS_KEPT = 1000;   // run cards kept in the page, all environments together
let bench = null;

function onBatch(batch) {
  S.dropped += batch.dropped || 0;
  for (const item of batch.items) {
    if (item.type === "state") {
      const env = S.envs.get(item.env) || { profile: { name: item.env, subscriptions: {} }, demo: false };
      env.link = item.link;
      S.envs.set(item.env, env);
      if (!S.active) S.active = item.env;
      mark("header", "runs", "envs");
    } else if (item.type === "run") {
      S.runs.set(`${item.run.env}/${item.run.id}`, item.run);
      if (S.runs.size > RUNS_KEPT) {
        const oldest = [...S.runs.entries()].sort((a, b) => a[1].updated_ms - b[1].updated_ms)[0][0];
        S.runs.delete(oldest);
      }
      mark("runs");
    } else if (item.type === "message") {
      addMessage(item.message);
      mark("messages");
    } else if (item.type === "event") {
      bench?.onEvent(item.event);
      addLog(item.env, item.event);
      mark("log");
    }
  }
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

(async () => {
  const info = await invoke("app_info");
  BOUNDS.keptInApp = { events: info.kept_events, messages: info.kept_messages };
  if (info.bench) bench = await import("./bench.js");
  await listen("sockeye://envs", (e) => onEnvs(e.payload));
  onEnvs(await invoke("list_envs"));
  const channel = new Channel();
  channel.onmessage = onBatch;
  await invoke("subscribe", { onBatch: channel });
  editEnv(null);
  loadSettings().catch(() => {});
})();
