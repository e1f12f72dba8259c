// Header: environment picker and the active environment's link pill (label and tone from Rust).
import { S, $, el, invoke, mark, view, saveView, putText } from "../store.js";

/** A pill's text: Rust's label, plus a live countdown while reconnecting. */
export function pillText(link) {
  if (!link) return "starting…";
  if (link.retry_at_ms == null) return link.label;
  const secs = Math.max(0, (link.retry_at_ms - Date.now()) / 1000);
  return `${link.label} · next in ${secs.toFixed(1)} s`;
}
/** Show `link` on a pill element (its state, tone, text and detail), touching only what
 * changed: pills are redrawn on every frame that marks their part. */
export function setPill(p, link, text = pillText(link)) {
  const state = link?.state || "idle", tone = link?.tone || "busy", title = link?.detail || text;
  if (p.dataset.state !== state) p.dataset.state = state;
  if (p.dataset.tone !== tone) p.dataset.tone = tone;
  putText(p, text);
  if (p.title !== title) p.title = title;
}

view("header", null, () => {
  const sel = $("#env-select");
  const names = [...S.envs.keys()];
  if (sel.options.length !== names.length || names.some((n, i) => sel.options[i].value !== n)) {
    sel.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  }
  if (S.active) sel.value = S.active;
  const link = S.envs.get(S.active)?.link;
  setPill($("#pill"), link, S.active ? pillText(link) : "no environment");
});
// The countdown is the only thing that moves by itself, and only while reconnecting.
setInterval(() => { if (S.envs.get(S.active)?.link?.retry_at_ms != null) mark("header", "runs"); }, 500);

$("#env-select").addEventListener("change", async (e) => {
  S.active = e.target.value; S.channel = null; saveView();
  await invoke("set_active", { name: S.active }).catch(() => {});
  mark("header", "runs", "messages");
});
$("#reconnect").addEventListener("click", () => S.active && invoke("reconnect", { name: S.active }));
$("#side-by-side").addEventListener("change", () => { mark("runs"); saveView(); });
