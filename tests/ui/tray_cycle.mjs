// Closed to the tray and shown again, as a user does it, without WebDriver: WebKitWebDriver's
// session lives in WebKit's network process, which the app ends once its window is gone (the
// e2e test checks the page itself after Show, with that process kept). The `sockeye` binary
// is started directly on its embedded demo with SOCKEYE_UI_BENCH (the page's marks come back
// on the app's stdout), fed 10,000 events, its window closed as a window manager closes it
// and shown again (TRAY_CYCLES times) by a second launch or, every second time, by the tray
// menu's Show clicked over D-Bus (the tray item and its menu are checked then).
// Checks: closed → no WebKit process left and the app still running; Show → a new page that
// has drawn what the app kept. Reports, as one JSON line `{"tray_cycle":…}`, PSS with the
// window open (before any event, after 10,000, and after TRAY_CYCLE_MORE_EVENTS more, twice,
// when set),
// closed and reopened, and how long Show took (median; from the second launch, and from the
// app's Show). The UI benchmark takes its memory figures from here: WebDriver's automation
// makes the web process heavier.
//
// Environment (set by tests/ui/run.sh): SOCKEYE_BIN, SOCKEYE_DEMO_PORT, SOCKEYE_CONFIG.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { appPid, webkitChildren, pssMb, closeWindow, showWindow, trayItem, trayProp, trayMenu, trayClick } from "./tray.mjs";

const SIM = `http://127.0.0.1:${process.env.SOCKEYE_DEMO_PORT}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let passed = 0, failed = 0;
function check(label, ok, detail) {
  if (ok) { passed++; console.log(`ok   ${label}`); } else { failed++; console.log(`FAIL ${label}: ${detail}`); }
}

// A window of a test run before this one may still be going away (single instance).
for (let i = 0; i < 100 && appPid() !== null; i++) await sleep(100);
const before = appPid();
if (before !== null) console.log(`     an earlier app (${before}) is still running`);
const app = spawn(process.env.SOCKEYE_BIN, [], { env: { ...process.env, SOCKEYE_UI_BENCH: "1" }, stdio: ["ignore", "pipe", "inherit"] });
app.on("exit", (code, signal) => { if (!stopping) console.log(`     the app exited (${code ?? signal})`); });
let stopping = false;
const marks = [];
let buf = "";
app.stdout.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line.startsWith("SOCKEYE_BENCH ")) marks.push(JSON.parse(line.slice(14)));
  }
});
async function mark(name, nth, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const found = marks.filter((m) => m.mark === name);
    if (found.length >= nth) return found[nth - 1];
    await sleep(20);
  }
  throw new Error(`no "${name}" mark #${nth} within ${ms} ms (marks: ${JSON.stringify(marks)})`);
}

const out = {};
const burst = (n, rate) => fetch(`${SIM}/__sim/burst`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n, rate, event: "ai_progress", pad: 170 }) });
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
try {
  await mark("restored", 1, 60000);
  const pid = app.pid;
  await sleep(2000);
  out.pss_open = pssMb(pid);
  const r = await burst(10000, 10000);
  check("10,000 events published", r.ok, r.status);
  await sleep(3000);
  out.pss_10k = pssMb(pid);
  // The UI benchmark also weighs the window after two more rounds of many events: flat after
  // the first is the target (run.sh sets the round).
  const more = Number(process.env.TRAY_CYCLE_MORE_EVENTS || 0);
  if (more) {
    out.more_events = more;
    out.pss_more = [];
    for (let round = 0; round < 2; round++) {
      await burst(more, 20000);
      await sleep(4000);
      out.pss_more.push(pssMb(pid));
    }
  }

  // The web process runs with the collector settings that keep its heap bounded under a
  // flood (src-tauri/src/window.rs, WEB_PROCESS_ENV; docs/reliability.md, "Soak").
  const web = webkitChildren(pid).find((p) => p.kind === "WebKitWebProcess");
  const environ = web ? fs.readFileSync(`/proc/${web.pid}/environ`, "utf8").split("\0") : [];
  check(
    "the web process collects its whole heap, at the latest every 16 MB",
    environ.includes("JSC_useGenerationalGC=0") && environ.includes("JSC_gcMaxHeapSize=16777216"),
    web ? environ.filter((v) => v.startsWith("JSC_")).join(" ") || "no JSC_ settings" : "no web process",
  );

  const shows = [];
  for (let cycle = 1; cycle <= Number(process.env.TRAY_CYCLES || 1); cycle++) {
    const closed = await closeWindow(pid);
    await sleep(4000);
    const left = webkitChildren(pid).map((p) => p.kind);
    if (cycle === 1) {
      check("closed: the web process ends with the window", closed, JSON.stringify(webkitChildren(pid)));
      out.pss_closed = pssMb(pid);
      out.webkit_left = left;
      check("closed: no WebKit process left (the idle network process is ended)", left.length === 0, JSON.stringify(left));
      check("closed: the app stays in the tray", app.exitCode === null && appPid() === pid, `exit ${app.exitCode}`);
    }
    // Every second Show is the tray menu's, clicked over D-Bus as a desktop's tray host does.
    let t0;
    if (cycle % 2 === 0) {
      // The link may be between states when read (a reconnect confirms its identity again:
      // "authenticating"): read the tray once it says the link is connected, up to 15 s.
      const item = trayItem(pid);
      let title = item && trayProp(item, "Title");
      for (let i = 0; i < 75 && item && !title?.startsWith("Demo: connected"); i++) {
        await sleep(200);
        title = trayProp(item, "Title");
      }
      const menu = item ? trayMenu(item) : [];
      const labels = menu.map((i) => i.label);
      check("the tray item is on the session bus and its title says the link's state", title?.startsWith("Demo: connected"), `${item}: ${title}`);
      check("the tray menu lists the environment and its actions", labels.some((l) => l.includes("Demo — connected")) && ["Reconnect now", "Run diagnostics", "Mute notifications", "Show window", "Quit"].every((l) => labels.includes(l)), JSON.stringify(labels));
      t0 = Date.now();
      const show = menu.find((i) => i.label === "Show window");
      if (show) trayClick(item, show.id);
    } else {
      t0 = await showWindow(process.env.SOCKEYE_BIN);
    }
    const shown = await mark("show", cycle + 1);   // the first was the window built at start
    const restored = await mark("restored", cycle + 1);
    shows.push({ from_launch_ms: restored.data.page_at_ms - t0, from_show_ms: restored.data.page_at_ms - shown.at_ms,
      to_page_load_ms: Math.round(restored.data.nav_at_ms - shown.at_ms), boot: restored.data.boot });
    if (cycle === 1) {
      out.restored = restored.data;
      check("Show: a new page draws what the app kept (the log as it was left)", restored.data.tab === "log" && restored.data.log_rows > 0, JSON.stringify(restored.data));
    }
    await sleep(2000);
  }
  out.shows = shows;
  out.second_launch_to_restored_ms = median(shows.map((x) => x.from_launch_ms));
  out.show_to_restored_ms = median(shows.map((x) => x.from_show_ms));
  out.show_to_page_load_ms = median(shows.map((x) => x.to_page_load_ms));
  await sleep(1000);
  out.pss_reopened = pssMb(pid);
  console.log(`     PSS open ${out.pss_open.total} MB, after 10,000 events ${out.pss_10k.total} MB${more ? `, then ${out.pss_more.map((p) => p.total).join(" and ")} MB after ${more} more twice` : ""}, closed ${out.pss_closed.total} MB, reopened ${out.pss_reopened.total} MB`);
  console.log(`     Show → restored (median of ${shows.length}): ${out.second_launch_to_restored_ms} ms from the second launch or the tray click, ${out.show_to_restored_ms} ms from the app's Show`);
} catch (e) {
  failed++;
  console.log(`FAIL ${e.message}`);
} finally {
  stopping = true;
  app.kill("SIGTERM");
  await new Promise((r) => (app.exitCode !== null ? r() : app.on("exit", r)));
}
console.log(JSON.stringify({ tray_cycle: out }));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
