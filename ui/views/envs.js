// Environments: the list and the form. The form sends a ProfileEdit to Rust (the core's one
// edit function); fields it does not show (the namespace override) are kept there.
import { S, $, el, invoke, mark, view } from "../store.js";

view("envs", "envs", () => {
  $("#env-list").replaceChildren(...[...S.envs.values()].map((v) => el("li", { class: v.profile.name === S.editing ? "selected" : "", onclick: () => editEnv(v.profile.name) },
    el("span", { class: "pill small", "data-state": v.link?.state || "idle", "data-tone": v.link?.tone || "busy", text: v.link?.state || "idle" }),
    el("span", { text: ` ${v.profile.name}${v.demo ? " (demo)" : ""} · ${v.profile.url || ""}` }),
    recordControl(v.profile.name))));
});

// Recording: the Record button per environment, and what its file holds so far (Rust's
// RecordingStatus). While one runs and this tab is shown, its figures are asked for each
// second (from the app, never from a site).
S.recordings = {};
const kib = (n) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
function recordControl(name) {
  const r = S.recordings[name];
  const button = el("button", { type: "button", class: `rec${r?.recording ? " on" : ""}`, text: r?.recording ? "■ Stop" : "● Record", "data-env": name,
    onclick: async (ev) => {
      ev.stopPropagation();
      try { await invoke(r?.recording ? "record_stop" : "record_start", { name }); } catch (err) { S.recordings[name] = { error: String(err) }; }
      await refreshRecordings();
    } });
  const status = !r ? "" : r.error ? r.error : `${r.path.split("/").pop()} · ${kib(r.bytes)} · ${r.events} events${r.recording ? "" : " (stopped)"}`;
  return el("span", { class: "rec-status" }, button, el("span", { class: `muted rec-text${r?.error ? " error" : ""}`, title: r?.path || "", text: status ? ` ${status}` : "" }));
}
export async function refreshRecordings() {
  S.recordings = await invoke("recordings");
  mark("envs");
}
setInterval(() => {
  if (S.tab === "envs" && Object.values(S.recordings).some((r) => r.recording)) refreshRecordings().catch(() => {});
}, 1000);
refreshRecordings().catch(() => {});

const form = $("#env-form");
const lines = (v) => v.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
const num = (v) => (v.trim() === "" ? null : Number(v));
function syncAuthFields() {
  const a = form.auth.value;
  form.querySelector(".for-login").hidden = a !== "login";
  form.querySelector(".for-token").hidden = a !== "api_token";
  form.querySelector(".for-secret").hidden = a === "none";
  $("#tls-warning").hidden = !form.insecure.checked;
}
export function editEnv(name) {
  const v = name ? S.envs.get(name) : null;
  const p = v?.profile;
  S.editing = v && !v.demo ? name : null;
  $("#env-form-title").textContent = v ? (v.demo ? `${name} (the built-in demo: copy it to a new environment)` : `Edit ${name}`) : "New environment";
  form.name.value = v && !v.demo ? p.name : "";
  form.url.value = (p?.url || "").replace(/\/$/, "");
  form.site.value = p?.site || "";
  form.socket_port.value = p?.socket_port || "";
  form.socket_path.value = p?.socket_path || "/socket.io/";
  form.origin.value = p?.origin || "";
  form.auth.value = p?.auth?.method || "sid";
  form.user.value = p?.auth?.user || "";
  form.key.value = p?.auth?.key || "";
  form.secret.value = "";
  form.secret.placeholder = v && !v.demo ? "leave empty to keep the stored secret" : "";
  form.channels.value = (p?.subscriptions?.channels || []).join(", ");
  form.doctypes.value = (p?.subscriptions?.doctypes || []).join(", ");
  form.tasks.value = (p?.subscriptions?.tasks || []).join(", ");
  form.headers.value = Object.entries(p?.extra_headers || {}).map(([k, val]) => `${k}: ${val}`).join("\n");
  form.deployment.value = p?.deployment || "";
  form.insecure.checked = p ? !p.verify_tls : false;
  // Empty numbers are sent as null: Rust keeps the current value (its default for a new one).
  form.backfill_enabled.checked = p?.backfill?.enabled ?? true;
  form.backfill_max_per_gap.value = p?.backfill?.max_per_gap ?? "";
  form.backfill_startup_window_hours.value = p?.backfill?.startup_window_hours ?? "";
  form.progress_endpoint.value = p?.progress_endpoint || "";
  form.proxy.value = p?.proxy || "";
  form.ca_file.value = p?.ca_file || "";
  form.client_cert.value = p?.client_cert || "";
  form.client_key.value = p?.client_key || "";
  $("#env-remove").hidden = !S.editing;
  $("#env-error").textContent = "";
  $("#url-hint").textContent = "";
  syncAuthFields();
  mark("envs");
}
/** The form as a ProfileEdit (crates/core/src/profile_edit.rs). */
export function formEdit() {
  const headers = {};
  for (const l of form.headers.value.split("\n").map((s) => s.trim()).filter(Boolean)) {
    const i = l.indexOf(":");
    if (i < 1) throw new Error(`header ${JSON.stringify(l)}: write it as Name: value`);
    headers[l.slice(0, i).trim()] = l.slice(i + 1).trim();
  }
  return {
    url: form.url.value.trim(),
    auth: { method: form.auth.value, user: form.user.value || null, key: form.key.value || null },
    site: form.site.value || null, socket_port: form.socket_port.value ? Number(form.socket_port.value) : null,
    socket_path: form.socket_path.value || null, origin: form.origin.value || null,
    channels: lines(form.channels.value), doctypes: lines(form.doctypes.value), tasks: lines(form.tasks.value),
    extra_headers: headers, verify_tls: !form.insecure.checked, deployment: form.deployment.value || null,
    backfill_enabled: form.backfill_enabled.checked, backfill_max_per_gap: num(form.backfill_max_per_gap.value),
    backfill_startup_window_hours: num(form.backfill_startup_window_hours.value), progress_endpoint: form.progress_endpoint.value.trim() || null,
    proxy: form.proxy.value.trim() || null, ca_file: form.ca_file.value.trim() || null, client_cert: form.client_cert.value.trim() || null,
    client_key: form.client_key.value.trim() || null,
  };
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
  const name = form.name.value.trim();
  try {
    await invoke("save_env", { name, edit: formEdit(), secret: form.secret.value || null });
    form.secret.value = "";   // the secret is in the keyring now, not in the page
    $("#env-error").textContent = "";
    S.active = name;
    S.channelLists.delete(name);
    S.editing = name;
  } catch (err) { $("#env-error").textContent = String(err.message || err); }
});
$("#env-remove").addEventListener("click", async () => {
  if (!S.editing) return;
  await invoke("remove_env", { name: S.editing });
  editEnv(null);
});
$("#env-new").addEventListener("click", () => editEnv(null));
