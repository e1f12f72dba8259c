// Agent runs as cards; labels and marks come from Rust (RunView).
//
// A card is built once per run and then patched: a run that changes on every event (an agent
// at 50 steps a second, up to 200 steps kept) would otherwise have its whole card, hundreds of
// nodes, built again on every frame. Only cards of shown runs are kept (at most
// BOUNDS.runsShown per column); a run shown again later gets a new card.
import { S, $, el, fmtTime, view, BOUNDS } from "../store.js";
import { pill } from "./header.js";

const cards = new Map();   // env/id -> { card, r: the RunView it shows }

const footer = (r) => `${r.source} · ${r.events} events · started ${fmtTime(r.started_ms)}${r.gaps ? ` · ${r.gaps} events lost` : ""}`;
const stepClass = (s) => (s.done === false ? "bad" : s.done ? "ok" : "");

function newCard(r) {
  const card = el("details", { class: "run" });
  card.open = r.status === "running";
  card.summaryStatus = el("span", { class: "run-status" });
  card.summaryId = el("strong");
  card.headline = el("span", { class: "headline" });
  card.progressBar = el("progress");
  card.progressLabel = el("span");
  card.progress = el("div", { class: "progress" }, card.progressBar, card.progressLabel);
  card.steps = el("ol", { class: "steps" });
  card.footer = el("div", { class: "muted" });
  card.append(el("summary", {}, card.summaryStatus, card.summaryId, card.headline), card.progress, card.steps, card.footer);
  return card;
}

/** Set what differs between the card and `r` (`old`: the RunView it showed, if any). */
function patch(card, r, old) {
  if (old?.status !== r.status) {
    card.className = `run ${r.status}`;
    card.dataset.status = r.status;
    if (old) card.open = r.status === "running";
  }
  card.dataset.runId = r.id;
  card.dataset.source = r.source;
  card.summaryStatus.textContent = r.status_label;
  card.summaryId.textContent = ` ${r.id} `;
  card.headline.textContent = r.headline;
  card.progress.hidden = !r.progress;
  if (r.progress) {
    const [k, n] = r.progress;
    card.progressBar.max = n;
    card.progressBar.value = k;
    card.progressLabel.textContent = ` ${r.progress_label}`;
  }
  patchSteps(card.steps, r);
  card.footer.textContent = footer(r);
}

/** The step list, its `li`s reused; a step is written again only when it changed. */
function patchSteps(ol, r) {
  ol.hidden = !r.steps.length;
  const items = ol.children;
  r.steps.forEach((s, i) => {
    let li = items[i];
    if (!li) {
      li = el("li", {}, el("span", { class: "mark" }), el("span"));
      ol.append(li);
    }
    const mark = r.step_marks[i] + " ";
    const details = s.details?.length ? s.details.join(" · ") : "";
    const sig = `${stepClass(s)}\u0000${mark}\u0000${s.label}\u0000${details}`;
    if (li.sig === sig) return;
    li.sig = sig;
    li.className = stepClass(s);
    li.children[0].textContent = mark;
    li.children[1].textContent = s.label;
    if (details) {
      if (!li.children[2]) li.append(el("div", { class: "muted" }));
      li.children[2].textContent = details;
    } else {
      li.children[2]?.remove();
    }
  });
  while (items.length > r.steps.length) ol.lastChild.remove();
}

/** The card of `r`, reused and patched when it changed. */
function cardFor(key, r, shown) {
  shown.add(key);
  const kept = cards.get(key);
  if (kept && kept.r === r) return kept.card;
  const card = kept?.card || newCard(r);
  patch(card, r, kept?.r);
  cards.set(key, { card, r });
  return card;
}

view("runs", "agents", () => {
  const side = $("#side-by-side").checked;
  const envs = side ? [...S.envs.keys()] : [S.active].filter(Boolean);
  const shown = new Set();
  const cols = envs.map((env) => {
    const runs = [...S.runs.entries()].filter(([, r]) => r.env === env).sort(([, a], [, b]) => (a.status === "running") - (b.status === "running") || a.updated_ms - b.updated_ms).reverse();
    const col = el("div", { class: "column", "data-env": env });
    col.append(el("h3", {}, el("span", { text: env + " " }), pill(S.envs.get(env)?.link, true)));
    if (!runs.length) col.append(el("p", { class: "muted", text: "No agent runs yet." }));
    runs.slice(0, BOUNDS.runsShown).forEach(([key, r]) => col.append(cardFor(key, r, shown)));
    if (runs.length > BOUNDS.runsShown) col.append(el("p", { class: "muted bounds", text: `showing the latest ${BOUNDS.runsShown} of ${runs.length} runs` }));
    return col;
  });
  for (const key of cards.keys()) if (!shown.has(key)) cards.delete(key);
  $("#runs").replaceChildren(...cols);
});
