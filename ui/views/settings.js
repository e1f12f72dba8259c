// Settings: loaded once, then pushed by Rust when they change (the tray's mute, too).
import { S, invoke, listen } from "../store.js";

const sform = document.querySelector("#settings-form");
const KEYS = ["muted", "run_complete", "run_error", "messages", "link_lost", "link_restored"];
export function showSettings(s) {
  S.settings = s;
  for (const k of KEYS) sform[k].checked = !!s.notifications[k];
  sform.max_per_minute.value = s.notifications.max_per_minute;
  sform.autostart.checked = s.autostart;
  sform.record_max_size.value = s.record_max_size || "";
  sform.demo_recording.value = s.demo_recording || "";
}
sform.addEventListener("submit", async (e) => {
  e.preventDefault();
  const n = { ...S.settings.notifications };
  for (const k of KEYS) n[k] = sform[k].checked;
  n.max_per_minute = Math.max(1, Number(sform.max_per_minute.value) || 6);
  try { await invoke("set_settings", { settings: { notifications: n, autostart: sform.autostart.checked, record_max_size: sform.record_max_size.value.trim() || null, demo_recording: sform.demo_recording.value.trim() || null } }); document.querySelector("#settings-status").textContent = "saved"; }
  catch (err) { document.querySelector("#settings-status").textContent = String(err); }
});
listen("sockeye://settings", (e) => showSettings(e.payload));
export const loadSettings = () => invoke("get_settings").then(showSettings);
