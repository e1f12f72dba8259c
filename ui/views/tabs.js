// Tabs and the counters in them.
import { S, $, mark, view, saveView, setText } from "../store.js";
import { logTotal } from "./log.js";

export function showTab(tab) {
  S.tab = tab;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === `tab-${tab}`));
  mark("runs", "messages", "log", "envs", "emit");
  saveView();
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));

view("counts", null, () => {
  let total = 0;
  for (const n of S.unread.values()) total += n;
  const b = $("#unread-total");
  b.hidden = total === 0;
  b.textContent = String(total);
  setText($("#log-count"), String(logTotal()));
});
