// Sockeye's window. Every piece of server text is inserted with textContent, never as HTML;
// all logic about runs, states and notifications lives in the Rust core: this file renders.
const { invoke, Channel } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const LOG_CAP = 10000;       // entries kept in memory
const LOG_SHOWN = 300;       // rows rendered (the rest are counted, not drawn)
const MSG_CAP = 500;         // messages kept per channel

const S = {
  envs: new Map(),           // name -> EnvView (state kept current by batches)
  active: null,
  runs: new Map(),           // env/id -> Run
  messages: new Map(),       // env -> Map(channel -> [msg])
  unread: new Map(),         // env/channel -> n
  channel: null,             // selected channel (null = all)
  log: [], logDropped: 0, paused: false, pausedBuffer: [],
  dropped: 0,
  tab: "agents",
  editing: null,
};

const $ = (sel) => document.querySelector(sel);
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "title") e.title = v;
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
// One formatter for the page: toLocaleTimeString() builds a new Intl formatter on every call,
// which made each log row cost as much as everything else in it together.
const timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const fmtTime = (ms) => timeFormat.format(ms);

// ---- render scheduling: at most one paint per frame, whatever the event rate ----
const dirty = new Set();
let frame = 0;
// Emit → rendered latency marks (the benchmark reads them): events carrying `emitted_at_us`
// are timed when the paint that shows them has run.
const pendingMarks = [];
window.__sockeyeLatencyMs = [];
window.__sockeyeArrivalMs = [];   // emit → batch handed to this page (the backend's share)
window.__sockeyePaintMs = [];     // time spent in each paint() (the page's own share)
function pushMark(marks, ms) {
  marks.push(ms);
  if (marks.length > 200000) marks.splice(0, marks.length - 200000);
}
function mark(...parts) {
  parts.forEach((p) => dirty.add(p));
  if (!frame) frame = requestAnimationFrame(paint);
}
function paint() {
  const t0 = performance.now();
  frame = 0;
  const d = new Set(dirty);
  dirty.clear();
  if (d.has("header")) renderHeader();
  if (d.has("runs") && S.tab === "agents") renderRuns();
  if (d.has("messages") && S.tab === "messages") renderMessages();
  if (d.has("log") && S.tab === "log") renderLog();
  if (d.has("envs") && S.tab === "envs") renderEnvList();
  renderCounts();
  if (pendingMarks.length) {
    const now = Date.now();
    for (const at of pendingMarks) pushMark(window.__sockeyeLatencyMs, now - at / 1000);
    pendingMarks.length = 0;
    pushMark(window.__sockeyePaintMs, performance.now() - t0);
  }
}

// ---- state pill ----
function describe(snap) {
  const s = snap?.state;
  switch (s) {
    case "connected": return `connected · ${snap.transport}${snap.rtt_ms != null ? ` · ${snap.rtt_ms} ms` : ""}${snap.user ? ` · ${snap.user}` : ""}`;
    case "degraded": return `degraded · ${snap.reason}`;
    case "auth_failed": return `auth failed · ${snap.message}`;
    case "reconnecting": {
      const secs = Math.max(0, (snap.next_retry_at_ms - Date.now()) / 1000);
      return `reconnecting · attempt ${snap.attempt} · next in ${secs.toFixed(1)} s · ${snap.last_error}`;
    }
    case "connecting": return snap.attempt ? `connecting · attempt ${snap.attempt + 1}` : "connecting";
    case "authenticating": return `authenticating · ${snap.step}`;
    case "stopped": return `stopped · ${snap.reason}`;
    default: return s || "idle";
  }
}
function renderHeader() {
  const sel = $("#env-select");
  const names = [...S.envs.keys()];
  if (sel.options.length !== names.length || names.some((n, i) => sel.options[i].value !== n)) {
    sel.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  }
  if (S.active) sel.value = S.active;
  const env = S.envs.get(S.active);
  const pill = $("#pill");
  const snap = env?.state;
  pill.dataset.state = snap?.state || "idle";
  pill.textContent = env ? describe(snap) : "no environment";
  pill.title = pill.textContent;
}
setInterval(() => { if (S.envs.get(S.active)?.state?.state === "reconnecting") mark("header"); }, 500);

// ---- agent runs ----
function runCard(r) {
  const card = el("details", { class: `run ${r.status}`, "data-run-id": r.id, "data-status": r.status, "data-source": r.source });
  card.open = r.status === "running";
  const badge = el("span", { class: "run-status", text: r.status === "running" ? "running" : r.status === "complete" ? "✓ complete" : "✗ failed" });
  const summary = el("summary", {}, badge, el("strong", { text: ` ${r.id} ` }), el("span", { class: "headline", text: r.headline }));
  card.append(summary);
  if (r.progress) {
    const [k, n] = r.progress;
    const bar = el("progress", { max: n, value: k });
    card.append(el("div", { class: "progress" }, bar, el("span", { text: ` working ${k}/${n}` })));
  }
  if (r.steps.length) {
    const ol = el("ol", { class: "steps" });
    for (const s of r.steps) {
      const mk = s.done === true ? "✓" : s.done === false ? "✗" : "•";
      const li = el("li", { class: s.done === false ? "bad" : s.done ? "ok" : "" }, el("span", { class: "mark", text: mk + " " }), el("span", { text: s.label }));
      if (s.details?.length) li.append(el("div", { class: "muted", text: s.details.join(" · ") }));
      ol.append(li);
    }
    card.append(ol);
  }
  const meta = `${r.source} · ${r.events} events · started ${fmtTime(r.started_ms)}${r.gaps ? ` · ${r.gaps} events lost` : ""}`;
  card.append(el("div", { class: "muted", text: meta }));
  return card;
}
function renderRuns() {
  const side = $("#side-by-side").checked;
  const envs = side ? [...S.envs.keys()] : [S.active].filter(Boolean);
  const cols = envs.map((env) => {
    const runs = [...S.runs.values()].filter((r) => r.env === env).sort((a, b) => (a.status === "running") - (b.status === "running") || a.updated_ms - b.updated_ms).reverse();
    const col = el("div", { class: "column", "data-env": env });
    const st = S.envs.get(env)?.state;
    col.append(el("h3", {}, el("span", { text: env + " " }), el("span", { class: "pill small", "data-state": st?.state || "idle", text: describe(st) })));
    if (!runs.length) col.append(el("p", { class: "muted", text: "No agent runs yet." }));
    runs.slice(0, 60).forEach((r) => col.append(runCard(r)));
    return col;
  });
  $("#runs").replaceChildren(...cols);
}

// ---- messages ----
function messagesOf(env) {
  if (!S.messages.has(env)) S.messages.set(env, new Map());
  return S.messages.get(env);
}
function addMessage(env, ev) {
  const p = ev.payload || {};
  const d = p.message_details || {};
  const channel = p.channel_id || "?";
  const list = messagesOf(env).get(channel) || [];
  list.push({ sender: p.sender || d.owner || "?", content: d.content ?? "", at: ev.received_at_ms, id: p.message_id, bot: d.is_bot_message === 1 });
  if (list.length > MSG_CAP) list.shift();
  messagesOf(env).set(channel, list);
  if (!(S.tab === "messages" && env === S.active && (S.channel === null || S.channel === channel))) {
    const key = `${env}/${channel}`;
    S.unread.set(key, (S.unread.get(key) || 0) + 1);
  }
}
function renderMessages() {
  const env = S.active;
  const byChannel = messagesOf(env);
  const profile = S.envs.get(env);
  const names = new Set([...(profile?.channels || []), ...byChannel.keys()]);
  $("#channels").replaceChildren(el("li", { class: S.channel === null ? "selected" : "", text: "All channels", onclick: () => { S.channel = null; clearUnread(); mark("messages"); } }),
    ...[...names].sort().map((c) => {
      const n = S.unread.get(`${env}/${c}`) || 0;
      const li = el("li", { class: S.channel === c ? "selected" : "", "data-channel": c, onclick: () => { S.channel = c; clearUnread(); mark("messages"); } }, el("span", { text: "# " + c }));
      if (n) li.append(el("span", { class: "badge", text: String(n) }));
      return li;
    }));
  $("#channel-title").textContent = S.channel ? `# ${S.channel}` : "All channels";
  let msgs = S.channel ? (byChannel.get(S.channel) || []).map((m) => ({ ...m, channel: S.channel })) : [...byChannel.entries()].flatMap(([c, l]) => l.map((m) => ({ ...m, channel: c })));
  msgs.sort((a, b) => b.at - a.at);
  $("#messages").replaceChildren(...msgs.slice(0, 200).map((m) => el("li", { class: "msg" + (m.bot ? " bot" : ""), "data-message-id": m.id || "" },
    el("div", { class: "meta" }, el("strong", { class: "sender", text: m.sender }), el("span", { class: "muted", text: ` #${m.channel} · ${fmtTime(m.at)}` })),
    el("div", { class: "msg-text", text: m.content }))));
  clearUnread();
}
function clearUnread() {
  if (S.tab !== "messages") return;
  for (const key of [...S.unread.keys()]) {
    const [env, ch] = [key.slice(0, key.indexOf("/")), key.slice(key.indexOf("/") + 1)];
    if (env === S.active && (S.channel === null || S.channel === ch)) S.unread.delete(key);
  }
}
function renderCounts() {
  const total = [...S.unread.values()].reduce((a, b) => a + b, 0);
  const b = $("#unread-total");
  b.hidden = total === 0;
  b.textContent = String(total);
  $("#log-count").textContent = String(S.log.length + S.logDropped);
}

// ---- event log ----
// Rows are built once per entry and kept while shown; a paint only prepends the rows of new
// entries and drops the oldest ones past LOG_SHOWN. The pretty-printed JSON is built when a
// row is opened. (Rebuilding all 300 rows with their viewers on every frame cost ~0.5 s of
// emit→rendered latency at 1,000 events/s.)
const LOG_SLACK = 500;       // trim the kept entries in bulk, not one shift() per event
let logSeq = 0;
const LV = { key: null, shown: [], seen: 0, matched: 0, reset: true };
function addLog(env, ev) {
  const entry = { seq: ++logSeq, env, name: ev.name, room: ev.room_hint || "", at: ev.received_at_ms, payload: ev.payload, note: ev.parse_note };
  if (S.paused) {
    S.pausedBuffer.push(entry);
    if (S.pausedBuffer.length > LOG_CAP + LOG_SLACK) { const cut = S.pausedBuffer.length - LOG_CAP; S.pausedBuffer.splice(0, cut); S.logDropped += cut; }
    return;
  }
  S.log.push(entry);
  trimLog();
}
function trimLog() {
  if (S.log.length <= LOG_CAP + LOG_SLACK) return;
  const cut = S.log.length - LOG_CAP;
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
  const det = el("details", {}, el("summary", { text: JSON.stringify(e.payload).slice(0, 120) }));
  det.addEventListener("toggle", () => {
    if (det.open && !det.querySelector("pre")) det.insertBefore(el("pre", { class: "json", text: JSON.stringify(e.payload, null, 2) }), det.children[1] || null);
  });
  if (e.note) det.append(el("div", { class: "warning", text: e.note }));
  e.row = el("tr", { "data-event": e.name }, el("td", { text: fmtTime(e.at) }), el("td", { text: e.env }), el("td", { text: e.name }), el("td", { text: e.room }), el("td", {}, det));
  return e.row;
}
function renderLog() {
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
  // New entries since the last paint, newest first; at most LOG_SHOWN of them get rows.
  const fresh = [];
  for (let i = S.log.length - 1; i >= 0 && S.log[i].seq > LV.seen; i--) {
    const e = S.log[i];
    e.m = logMatches(e, name, q);
    if (!e.m) continue;
    LV.matched++;
    if (fresh.length < LOG_SHOWN) fresh.push(e);
  }
  if (S.log.length) LV.seen = S.log[S.log.length - 1].seq;
  if (fresh.length) {
    body.prepend(...fresh.map(logRow));
    LV.shown = fresh.concat(LV.shown);
    while (LV.shown.length > LOG_SHOWN) { const old = LV.shown.pop(); old.row.remove(); delete old.row; }
  }
  const parts = [`showing ${LV.shown.length} of ${LV.matched} matching (${S.log.length} kept)`];
  if (S.logDropped) parts.push(`${S.logDropped} older dropped`);
  if (S.dropped) parts.push(`${S.dropped} dropped under load`);
  if (S.paused) parts.push(`paused: ${S.pausedBuffer.length} buffered`);
  $("#log-status").textContent = parts.join(" · ");
}
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

// ---- batches from the backend ----
function onBatch(batch) {
  S.dropped += batch.dropped || 0;
  for (const item of batch.items) {
    if (item.type === "state") {
      const env = S.envs.get(item.env) || { name: item.env, channels: [] };
      env.state = item.snapshot;
      S.envs.set(item.env, env);
      if (!S.active) S.active = item.env;
      mark("header", "runs", "envs");
    } else if (item.type === "run") {
      S.runs.set(`${item.run.env}/${item.run.id}`, item.run);
      mark("runs");
    } else if (item.type === "event") {
      const at = item.event.payload && item.event.payload.emitted_at_us;
      if (at) {
        pendingMarks.push(at);
        pushMark(window.__sockeyeArrivalMs, Date.now() - at / 1000);
      }
      addLog(item.env, item.event);
      if (item.event.name === "message_created") { addMessage(item.env, item.event); mark("messages"); }
      mark("log");
    }
  }
}

async function refreshEnvs() {
  const views = await invoke("list_envs");
  const fresh = new Map();
  for (const v of views) {
    fresh.set(v.name, { ...v, state: S.envs.get(v.name)?.state || v.state });
    if (v.active) S.active = v.name;
  }
  S.envs = fresh;
  if (!S.envs.has(S.active)) S.active = views[0]?.name || null;
  mark("header", "runs", "envs", "messages");
  loadChannelPicker();
}

// ---- tabs and header controls ----
function showTab(tab) {
  S.tab = tab;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === `tab-${tab}`));
  mark("runs", "messages", "log", "envs");
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
$("#env-select").addEventListener("change", async (e) => {
  S.active = e.target.value; S.channel = null;
  await invoke("set_active", { name: S.active }).catch(() => {});
  mark("header", "runs", "messages"); loadChannelPicker();
});
$("#reconnect").addEventListener("click", () => S.active && invoke("reconnect", { name: S.active }));
$("#side-by-side").addEventListener("change", () => mark("runs"));

// ---- channel picker ----
async function loadChannelPicker() {
  const sel = $("#channel-picker");
  sel.replaceChildren(el("option", { value: "", text: "More channels…" }));
  if (!S.active) return;
  try {
    const list = await invoke("list_channels", { name: S.active });
    for (const c of list) sel.append(el("option", { value: c.id, text: `# ${c.label}` }));
  } catch (err) { sel.append(el("option", { value: "", text: `(${err})`, disabled: true })); }
}
$("#watch-channel").addEventListener("click", async () => {
  const ch = $("#channel-picker").value;
  if (!ch || !S.active) return;
  await invoke("watch_channel", { name: S.active, channel: ch });
  const env = S.envs.get(S.active);
  if (env && !env.channels.includes(ch)) env.channels.push(ch);
  mark("messages");
});

// ---- diagnostics ----
function reportColumn(r) {
  const col = el("div", { class: "column diag", "data-env": r.env });
  col.append(el("h3", { text: `${r.env} · ${r.url} · ${r.namespace}` }));
  const table = el("table", { class: "probes" });
  for (const p of r.probes) {
    table.append(el("tr", { class: p.status }, el("td", { class: "mark", text: { pass: "✔", warn: "!", fail: "✘", skipped: "–" }[p.status] }), el("td", { text: p.name }), el("td", { text: `${p.duration_ms} ms` }), el("td", { text: p.evidence.join("; ") + (p.row ? ` [#${p.row}]` : "") })));
  }
  col.append(table, el("p", { class: "hint", text: r.summary.hint }), el("p", { class: "muted", text: `${r.total_ms} ms · websocket ${r.summary.websocket_ok ? "ok" : "no"} · auth ${r.summary.auth_ok ? "ok" : "no"} · ${r.summary.deployment_type}` }));
  return col;
}
async function runDiagnostics(names) {
  $("#diag-status").textContent = "running…";
  try {
    const reports = await invoke("run_diagnostics", { names, deep: $("#diag-deep").checked });
    $("#diag-results").replaceChildren(...reports.map(reportColumn));
    $("#diag-status").textContent = "";
  } catch (err) { $("#diag-status").textContent = String(err); }
}
$("#diag-active").addEventListener("click", () => S.active && runDiagnostics([S.active]));
$("#diag-all").addEventListener("click", () => runDiagnostics([]));
listen("sockeye://navigate", (e) => { showTab(e.payload); if (e.payload === "diagnostics" && S.active) runDiagnostics([S.active]); });
listen("sockeye://active", (e) => { S.active = e.payload; mark("header", "runs", "messages"); });

// ---- environments ----
function renderEnvList() {
  $("#env-list").replaceChildren(...[...S.envs.values()].map((v) => el("li", { class: v.name === S.editing ? "selected" : "", onclick: () => editEnv(v.name) },
    el("span", { class: "pill small", "data-state": v.state?.state || "idle", text: v.state?.state || "idle" }), el("span", { text: ` ${v.name}${v.demo ? " (demo)" : ""} · ${v.url || ""}` }))));
}
const form = $("#env-form");
function syncAuthFields() {
  const a = form.auth.value;
  form.querySelector(".for-login").hidden = a !== "login";
  form.querySelector(".for-token").hidden = a !== "api_token";
  form.querySelector(".for-secret").hidden = a === "none";
  $("#tls-warning").hidden = !form.insecure.checked;
}
function editEnv(name) {
  const v = name ? S.envs.get(name) : null;
  S.editing = v && !v.demo ? name : null;
  $("#env-form-title").textContent = v ? (v.demo ? `${name} (the built-in demo: copy it to a new environment)` : `Edit ${name}`) : "New environment";
  form.name.value = v && !v.demo ? v.name : "";
  form.url.value = v?.url || "";
  form.site.value = v?.site || "";
  form.socket_port.value = v?.socket_port || "";
  form.auth.value = v?.auth || "sid";
  form.user.value = v?.user || "";
  form.key.value = v?.key || "";
  form.secret.value = "";
  form.secret.placeholder = v && !v.demo ? "leave empty to keep the stored secret" : "";
  form.channels.value = (v?.channels || []).join(", ");
  form.insecure.checked = v ? !v.verify_tls : false;
  $("#env-remove").hidden = !S.editing;
  $("#env-error").textContent = "";
  $("#url-hint").textContent = "";
  syncAuthFields();
  mark("envs");
}
form.auth.addEventListener("change", syncAuthFields);
form.insecure.addEventListener("change", syncAuthFields);
form.url.addEventListener("input", async () => {
  const input = form.url.value;
  if (!input.trim()) { $("#url-hint").textContent = ""; return; }
  try { $("#url-hint").textContent = `→ ${await invoke("normalize_url", { input })}`; $("#url-hint").className = "hint"; }
  catch (err) { $("#url-hint").textContent = String(err); $("#url-hint").className = "hint error"; }
});
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = {
    name: form.name.value.trim(), url: form.url.value.trim(), site: form.site.value || null,
    socket_port: form.socket_port.value ? Number(form.socket_port.value) : null, auth: form.auth.value,
    user: form.user.value || null, key: form.key.value || null,
    channels: form.channels.value.split(",").map((s) => s.trim()).filter(Boolean),
    verify_tls: !form.insecure.checked, secret: form.secret.value || null,
  };
  try {
    await invoke("save_env", { form: f });
    form.secret.value = "";   // the secret is in the keyring now, not in the page
    $("#env-error").textContent = "";
    S.active = f.name;
    await refreshEnvs();
    editEnv(f.name);
  } catch (err) { $("#env-error").textContent = String(err); }
});
$("#env-remove").addEventListener("click", async () => {
  if (!S.editing) return;
  await invoke("remove_env", { name: S.editing });
  S.envs.delete(S.editing);
  editEnv(null);
  await refreshEnvs();
});
$("#env-new").addEventListener("click", () => editEnv(null));

// ---- settings ----
const sform = $("#settings-form");
async function loadSettings() {
  const s = await invoke("get_settings");
  for (const k of ["muted", "run_complete", "run_error", "messages", "link_lost", "link_restored"]) sform[k].checked = !!s.notifications[k];
  sform.max_per_minute.value = s.notifications.max_per_minute;
  sform.autostart.checked = s.autostart;
  S.notify = s.notifications;
}
sform.addEventListener("submit", async (e) => {
  e.preventDefault();
  const n = { ...S.notify };
  for (const k of ["muted", "run_complete", "run_error", "messages", "link_lost", "link_restored"]) n[k] = sform[k].checked;
  n.max_per_minute = Math.max(1, Number(sform.max_per_minute.value) || 6);
  try { await invoke("set_settings", { settings: { notifications: n, autostart: sform.autostart.checked } }); S.notify = n; $("#settings-status").textContent = "saved"; }
  catch (err) { $("#settings-status").textContent = String(err); }
});

// ---- start ----
(async () => {
  const channel = new Channel();
  channel.onmessage = onBatch;
  await invoke("subscribe", { onBatch: channel });
  await refreshEnvs();
  editEnv(null);
  loadSettings().catch(() => {});
  setInterval(refreshEnvs, 3000);
})();
