// Diagnostics: the core's probe chain, one column per environment.
import { S, $, el, invoke, listen } from "../store.js";
import { showTab } from "./tabs.js";

const MARK = { pass: "✔", warn: "!", fail: "✘", skipped: "–" };
function reportColumn(r) {
  const col = el("div", { class: "column diag", "data-env": r.env });
  col.append(el("h3", { text: `${r.env} · ${r.url} · ${r.namespace}` }));
  const table = el("table", { class: "probes" });
  for (const p of r.probes) {
    table.append(el("tr", { class: p.status }, el("td", { class: "mark", text: MARK[p.status] }), el("td", { text: p.name }), el("td", { text: `${p.duration_ms} ms` }), el("td", { text: p.evidence.join("; ") + (p.row ? ` [#${p.row}]` : "") })));
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
