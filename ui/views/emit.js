// The emit panel: an event sent on an environment's live link. Rust checks the arguments as
// they are typed (the error and its line and column), asks for the production confirmation,
// sends, and keeps the last sends with what came back; the page renders its answers.
import { S, $, el, invoke, mark, view, fmtTime } from "../store.js";

const form = $("#emit-form");
const status = $("#emit-status");
let history = [];

view("emit", "emit", () => {
  const chosen = form.env.value || S.active;
  form.env.replaceChildren(...[...S.envs.keys()].map((n) => el("option", { value: n, text: n })));
  if (chosen && S.envs.has(chosen)) form.env.value = chosen;
  $("#emit-history").replaceChildren(...history.map((h) => el("li", { class: "msg", "data-outcome": h.outcome },
    el("div", { class: "muted", text: `${fmtTime(h.at_ms)} · ${h.env} · ${h.event} ${h.args}${h.ack != null ? ` · ack within ${h.ack} s` : ""}` }),
    el("div", { class: h.outcome === "failed" || h.outcome === "no_ack" ? "error" : "", text: h.summary }))));
});

async function checkArgs() {
  const e = await invoke("check_emit_args", { text: form.args.value });
  $("#emit-args-error").textContent = e ? `line ${e.line}, column ${e.column}: ${e.message}` : "";
  return !e;
}
let pending = null;
form.args.addEventListener("input", () => {
  clearTimeout(pending);
  pending = setTimeout(() => checkArgs().catch(() => {}), 120);
});

async function send(confirmed) {
  const name = form.env.value;
  const ack_secs = form.ack.checked ? Number(form.ack_secs.value) || 5 : null;
  const answer = await invoke("emit", { name, event: form.event.value, args: form.args.value, ackSecs: ack_secs, confirmed });
  if (answer.needs_confirmation) {
    // Once per run of the app and environment: Rust remembers the yes.
    if (!window.confirm(`${name} is a production environment. Send ${form.event.value} there?`)) { status.textContent = "not sent"; return; }
    return send(true);
  }
  status.textContent = answer.sent.summary;
  history = await invoke("emit_history");
  mark("emit");
}
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  status.textContent = "sending…";
  try {
    if (!(await checkArgs())) { status.textContent = "fix the arguments first"; return; }
    await send(false);
  } catch (err) { status.textContent = String(err); }
});
invoke("emit_history").then((h) => { history = h; mark("emit"); }).catch(() => {});
