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
  const findings = r.probes.filter((p) => p.fixes && p.fixes.length);
  if (findings.length) col.append(el("h4", { text: "Fix" }), ...findings.map(fixBlock));
  return col;
}
// A finding's cause and its ready-to-paste fixes (the core fills in the detected values).
function fixBlock(p) {
  const box = el("div", { class: "fixes", "data-probe": p.name });
  box.append(el("p", { class: "finding", text: `${p.cause ? p.cause + " · " : ""}${p.name}: ${p.hint || ""}` }));
  for (const f of p.fixes) {
    const status = el("span", { class: "muted copy-status" });
    const copy = el("button", { class: "copy", text: "Copy" });
    copy.addEventListener("click", async () => { status.textContent = (await copyText(f.snippet)) ? "copied" : "select the text and copy it"; });
    box.append(el("div", { class: "fix", "data-kind": f.kind }, el("div", { class: "fix-title" }, el("span", { text: f.title }), copy, status), el("pre", { class: "snippet", text: f.snippet })));
  }
  return box;
}
// The clipboard API where the webview allows it, else a selected textarea and execCommand.
async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch (_) { /* fall back */ }
  const area = el("textarea", { class: "offscreen" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  area.remove();
  return ok;
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
