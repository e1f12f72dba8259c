// Agent runs as cards; labels and marks come from Rust (RunView).
//
// A card is built once per run and then patched: a run that changes on every event (an agent
// at 50 steps a second, up to 200 steps kept) would otherwise have its whole card, hundreds of
// nodes, built again on every frame. Only cards of shown runs are kept (at most
// BOUNDS.runsShown per column); a run shown again later gets a new card.
import { S, $, el, fmtTime, view, setChildren, putText, setText, throttle, BOUNDS } from "../store.js";
import { setPill } from "./header.js";

const cards = new Map();   // env/id -> { card, r: the RunView it shows }

const footer = (r) => `${r.source} · ${r.events} events · started ${fmtTime(r.started_ms)}${r.gaps ? ` · ${r.gaps} events lost` : ""}`;
const stepClass = (s) => (s.done === false ? "bad" : s.done ? "ok" : "");

function newCard(r) {
  const card = el("details", { class: "run" });
  card.open = r.status === "running";
  card.summaryStatus = el("span", { class: "run-status" });
  card.summaryId = el("strong");
  card.headline = el("span", { class: "headline" });
  card.progress = el("div", { class: "progress" }, el("span", { class: "bar", role: "progressbar", "aria-valuemin": "0" }, el("i")), el("span"));
  card.steps = el("ol", { class: "steps" });
  card.footer = el("div", { class: "muted" });
  card.append(el("summary", {}, card.summaryStatus, card.summaryId, card.headline), card.progress, card.steps, card.footer);
  return card;
}

const sameProgress = (a, b) => a?.[0] === b[0] && a?.[1] === b[1];
function showProgress(progress, [k, n, label]) {
  const [bar, text] = progress.children;
  // A plain bar: WebKitGTK's <progress> kept memory for every value set (docs/reliability.md).
  bar.firstChild.style.width = `${n > 0 ? Math.min(100, (100 * k) / n) : 0}%`;
  bar.setAttribute("aria-valuenow", k);
  bar.setAttribute("aria-valuemax", n);
  text.textContent = ` ${label}`;
}

/** Set what differs between the card and `r` (`old`: the RunView it showed, if any). */
function patch(card, r, old) {
  if (old?.status !== r.status) {
    card.className = `run ${r.status}`;
    card.dataset.status = r.status;
    if (old) card.open = r.status === "running";
  }
  if (!old) {
    card.dataset.runId = r.id;
    card.summaryId.textContent = ` ${r.id} `;
  }
  if (card.dataset.source !== r.source) card.dataset.source = r.source;
  putText(card.summaryStatus, r.status_label);
  setText(card.headline, r.headline);
  if (card.progress.hidden !== !r.progress) card.progress.hidden = !r.progress;
  // The bar and the footer move with every event of a running agent: at most 4 times a second.
  if (r.progress) throttle(card.progress, [...r.progress, r.progress_label], showProgress, sameProgress);
  patchSteps(card.steps, r);
  setText(card.footer, footer(r));
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

/** An environment's column, kept across frames: its title and pill patched, its cards moved
 * only when the order changed. */
const columns = new Map();   // env -> { col, pill, empty, more }
function columnFor(env) {
  let c = columns.get(env);
  if (!c) {
    c = { pill: el("span", { class: "pill small" }), empty: el("p", { class: "muted", text: "No agent runs yet." }), more: el("p", { class: "muted bounds" }) };
    c.title = el("h3", {}, el("span", { text: env + " " }), c.pill);
    c.col = el("div", { class: "column", "data-env": env });
    columns.set(env, c);
  }
  return c;
}

view("runs", "agents", () => {
  const side = $("#side-by-side").checked;
  const envs = side ? [...S.envs.keys()] : [S.active].filter(Boolean);
  const shown = new Set();
  const cols = envs.map((env) => {
    const runs = [...S.runs.entries()].filter(([, r]) => r.env === env).sort(([, a], [, b]) => (a.status === "running") - (b.status === "running") || a.updated_ms - b.updated_ms).reverse();
    const c = columnFor(env);
    setPill(c.pill, S.envs.get(env)?.link);
    const children = [c.title];
    if (!runs.length) children.push(c.empty);
    runs.slice(0, BOUNDS.runsShown).forEach(([key, r]) => children.push(cardFor(key, r, shown)));
    if (runs.length > BOUNDS.runsShown) {
      const more = `showing the latest ${BOUNDS.runsShown} of ${runs.length} runs`;
      putText(c.more, more);
      children.push(c.more);
    }
    setChildren(c.col, children);
    return c.col;
  });
  for (const key of cards.keys()) if (!shown.has(key)) cards.delete(key);
  for (const env of columns.keys()) if (!envs.includes(env)) columns.delete(env);
  setChildren($("#runs"), cols);
});
