// Agent runs as cards; labels and marks come from Rust (RunView).
import { S, $, el, fmtTime, view, BOUNDS } from "../store.js";
import { pill } from "./header.js";

function runCard(r) {
  const card = el("details", { class: `run ${r.status}`, "data-run-id": r.id, "data-status": r.status, "data-source": r.source });
  card.open = r.status === "running";
  card.append(el("summary", {}, el("span", { class: "run-status", text: r.status_label }), el("strong", { text: ` ${r.id} ` }), el("span", { class: "headline", text: r.headline })));
  if (r.progress) {
    const [k, n] = r.progress;
    card.append(el("div", { class: "progress" }, el("progress", { max: n, value: k }), el("span", { text: ` ${r.progress_label}` })));
  }
  if (r.steps.length) {
    const ol = el("ol", { class: "steps" });
    r.steps.forEach((s, i) => {
      const li = el("li", { class: s.done === false ? "bad" : s.done ? "ok" : "" }, el("span", { class: "mark", text: r.step_marks[i] + " " }), el("span", { text: s.label }));
      if (s.details?.length) li.append(el("div", { class: "muted", text: s.details.join(" · ") }));
      ol.append(li);
    });
    card.append(ol);
  }
  card.append(el("div", { class: "muted", text: `${r.source} · ${r.events} events · started ${fmtTime(r.started_ms)}${r.gaps ? ` · ${r.gaps} events lost` : ""}` }));
  return card;
}

view("runs", "agents", () => {
  const side = $("#side-by-side").checked;
  const envs = side ? [...S.envs.keys()] : [S.active].filter(Boolean);
  const cols = envs.map((env) => {
    const runs = [...S.runs.values()].filter((r) => r.env === env).sort((a, b) => (a.status === "running") - (b.status === "running") || a.updated_ms - b.updated_ms).reverse();
    const col = el("div", { class: "column", "data-env": env });
    col.append(el("h3", {}, el("span", { text: env + " " }), pill(S.envs.get(env)?.link, true)));
    if (!runs.length) col.append(el("p", { class: "muted", text: "No agent runs yet." }));
    runs.slice(0, BOUNDS.runsShown).forEach((r) => col.append(runCard(r)));
    if (runs.length > BOUNDS.runsShown) col.append(el("p", { class: "muted bounds", text: `showing the latest ${BOUNDS.runsShown} of ${runs.length} runs` }));
    return col;
  });
  $("#runs").replaceChildren(...cols);
});
