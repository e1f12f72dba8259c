// End-to-end test of the real app: the `sockeye` binary in a real WebKitGTK window under
// Xvfb, driven over WebDriver (tauri-driver + WebKitWebDriver), on its embedded demo
// simulator. Also checks the desktop notifications captured from the D-Bus session.
//
// Environment (set by tests/ui/run.sh): SOCKEYE_BIN, SOCKEYE_DEMO_PORT, NOTIFY_LOG,
// SCREENSHOT_DIR (optional), WEBDRIVER (default http://127.0.0.1:4444).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { appPid, webkitChildren, closeWindow, showWindow } from "./tray.mjs";
import { wd, openApp, until, check, sleep, results } from "./webdriver.mjs";

const SIM = `http://127.0.0.1:${process.env.SOCKEYE_DEMO_PORT}`;

async function sim(path, body) {
  const r = await fetch(SIM + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return r.json();
}

const { sid, js } = await openApp();
async function shot(name) {
  if (!process.env.SCREENSHOT_DIR) return;
  mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
  const b64 = await wd("GET", `/session/${sid}/screenshot`);
  writeFileSync(`${process.env.SCREENSHOT_DIR}/${name}.png`, Buffer.from(b64, "base64"));
}
const clickTab = (tab) => js(`document.querySelector('#tabs button[data-tab="${tab}"]').click(); return true;`);

await check("the demo connects and the state pill says so", async () => {
  const text = await until("connected pill", () => js("const p = document.querySelector('#pill'); return p.dataset.state === 'connected' && p.textContent;"));
  if (!text.includes("websocket")) throw new Error(`pill: ${text}`);
});

await check("an agent run shows progress, then completes", async () => {
  await until("a run card with steps", () => js("return document.querySelectorAll('.run .steps li').length > 0"));
  const done = '.run[data-status="complete"][data-source="ai_progress"]';
  await until("a completed agent run", () => js(`return document.querySelector('${done}') !== null`), 30000);
  const marks = await js(`return [...document.querySelector('${done}').querySelectorAll('.steps .mark')].map(m => m.textContent.trim())`);
  if (!marks.length || !marks.every((m) => m === "✓")) throw new Error(`step marks ${JSON.stringify(marks)}`);
  // While its steps stand still a run comes without them; a page whose steps are not the ones
  // named asks for the whole run (run_view), which must carry them.
  const whole = await js(`const c = document.querySelector('${done}');
    return window.__TAURI__.core.invoke("run_view", { env: c.closest(".column").dataset.env, id: c.dataset.runId });`);
  if (!whole || whole.steps_omitted || whole.steps.length !== marks.length || whole.step_marks.join("") !== marks.join("")) {
    throw new Error(`run_view: ${JSON.stringify(whole)?.slice(0, 300)} for marks ${JSON.stringify(marks)}`);
  }
  await shot("window-agents");
});

await check("a Raven message appears in Messages", async () => {
  await clickTab("messages");
  await until("a message", () => js("return document.querySelectorAll('#messages .msg-text').length > 0"), 30000);
});

const publishMessage = (id, text, content) => sim("/__sim/publish", { event: "message_created", doctype: "Raven Channel", docname: "general",
  message: { channel_id: "general", sender: "mallory@example.com", message_id: id, message_details: { content, text, message_type: "Text", is_bot_message: 0 } } });
const messageEl = (marker) => `[...document.querySelectorAll('#messages .msg')].find(x => x.textContent.includes(${JSON.stringify(marker)}))`;

await check("a rich Raven message renders its safe subset, entities decoded", async () => {
  const text = `<p>Nice &#128077; <b>bold</b> <em>it</em> <code>x&lt;y</code> sockeye-rich-probe</p><ul><li>one</li></ul>`
    + `<p><a href="https://example.com/x">a link</a> <span class="mention" data-id="test@example.com">@Test</span></p>`;
  const r = await publishMessage("rich000001", text, "Nice 👍 bold it x<y sockeye-rich-probe one a link @Test");
  if (r.delivered_to !== 1) throw new Error(`publish: ${JSON.stringify(r)}`);
  const got = await until("the rich message", () => js(`const m = ${messageEl("sockeye-rich-probe")}; if (!m) return null;
    const t = m.querySelector('.msg-text');
    return { rich: t.classList.contains('rich'), text: t.textContent, b: t.querySelector('b')?.textContent, em: !!t.querySelector('em'), code: t.querySelector('code')?.textContent,
      li: t.querySelector('ul > li')?.textContent, href: t.querySelector('a')?.getAttribute('href'), mention: t.querySelector('span.mention')?.dataset.mention };`));
  const want = { rich: true, b: "bold", em: true, code: "x<y", li: "one", href: "https://example.com/x", mention: "test@example.com" };
  for (const [k, v] of Object.entries(want)) if (got[k] !== v) throw new Error(`${k}: ${JSON.stringify(got[k])} (all: ${JSON.stringify(got)})`);
  if (!got.text.includes("👍") || got.text.includes("&#")) throw new Error(`entities: ${got.text}`);
});

await check("the XSS corpus stays inert (on* attributes, javascript: URLs, SVG, iframe, style, script)", async () => {
  const corpus = [
    `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>`,
    `<svg onload="window.__pwned=3"><circle r=1 /></svg>`,
    `<svg><script>window.__pwned=4</script></svg>`,
    `<iframe src="javascript:window.parent.__pwned=5"></iframe><iframe srcdoc="<script>parent.__pwned=6</script>"></iframe>`,
    `<style>#messages{display:none}</style><p style="color:red" onclick="window.__pwned=7">styled</p>`,
    `<a href="javascript:window.__pwned=8">js link</a><a href=" JaVaScRiPt:window.__pwned=9">js link 2</a><a href="data:text/html,x">data</a>`,
    `<b onmouseover="window.__pwned=10">hover</b><details open ontoggle="window.__pwned=11">d</details>`,
    `<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=12">`,
    `<form action="javascript:window.__pwned=13"><input type=submit autofocus onfocus="window.__pwned=14"></form><object data="x"></object><embed src="x">`,
  ];
  for (const [i, payload] of corpus.entries()) {
    const r = await publishMessage(`xss${String(i).padStart(7, "0")}`, `${payload} sockeye-xss-${i}`, `plain sockeye-xss-${i}`);
    if (r.delivered_to !== 1) throw new Error(`publish ${i}: ${JSON.stringify(r)}`);
  }
  await until("every corpus message", () => js(`return ${JSON.stringify(corpus.map((_, i) => `sockeye-xss-${i}`))}.every(m => ${messageEl("").replace('""', "m")})`));
  await sleep(300);
  const found = await js(`const root = document.querySelector('#messages');
    const bad = root.querySelectorAll('img, script, svg, iframe, style, object, embed, form, input, details, math, table');
    const attrs = [...root.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on') || n === 'style' || n === 'srcdoc');
    const hrefs = [...root.querySelectorAll('a[href]')].map(a => a.getAttribute('href')).filter(h => !/^(https?:|mailto:)/i.test(h));
    return { pwned: window.__pwned ?? null, tags: [...bad].map(e => e.tagName), attrs, hrefs, shown: root.style.display };`);
  if (found.pwned !== null || found.tags.length || found.attrs.length || found.hrefs.length || found.shown === "none") throw new Error(JSON.stringify(found));
  await shot("window-messages");
});

await check("the event log lists events with their room", async () => {
  await clickTab("log");
  await until("log rows", () => js("return document.querySelectorAll('#log-rows .log-line').length > 5"));
  const rooms = await js("return [...document.querySelectorAll('#log-rows .log-line')].map(r => r.dataset.room)");
  if (!rooms.some((r) => r.startsWith("user:") || r.startsWith("doc:Raven Channel/"))) throw new Error(`rooms ${JSON.stringify(rooms.slice(0, 5))}`);
  await shot("window-log");
});

await check("the event log filters, opens a row's JSON, keeps new events on top, clears", async () => {
  const setFilter = (v) => js(`const f = document.querySelector('#log-filter'); f.value = ${JSON.stringify(v)}; f.dispatchEvent(new Event('input')); return true;`);
  await setFilter("ai_progress");
  await until("only ai_progress rows", () => js("const r = [...document.querySelectorAll('#log-rows .log-line')]; return r.length > 0 && r.every(row => row.dataset.event === 'ai_progress')"));
  // The pretty-printed viewer does not exist until the row is opened.
  const before = await js("return document.querySelectorAll('#log-rows pre').length");
  if (before !== 0) throw new Error(`${before} JSON viewers built before any row was opened`);
  const pretty = await js("const d = document.querySelector('#log-rows .log-line'); d.click(); return new Promise(r => setTimeout(() => r(d.querySelector('pre')?.textContent || ''), 50));");
  if (!pretty.includes('\n  "')) throw new Error(`viewer text ${JSON.stringify(pretty.slice(0, 80))}`);
  // A new event is prepended: publish one with a marker and expect it in the first row.
  await setFilter("");
  // (The demo keeps publishing, so "first row" would race it: check the marker lands above
  // the row that was on top before it was sent.)
  await js("const row = document.querySelector('#log-rows .log-line'); if (row) row.dataset.probe = 'before'; return 1");
  await sim("/__sim/publish", { event: "sockeye_marker", message: { marker: "log-top" }, room: "all" });
  await until("marker above the older rows", () => js(`const m = document.querySelector('#log-rows .log-line[data-event="sockeye_marker"]');
    const old = document.querySelector('#log-rows .log-line[data-probe="before"]');
    return !!m && (!old || !!(m.compareDocumentPosition(old) & Node.DOCUMENT_POSITION_FOLLOWING))`));
  // Cleared: every line shown afterwards is of an event received after the click (the demo
  // keeps publishing meanwhile).
  const clickedAt = await js("document.querySelector('#log-clear').click(); return Date.now();");
  await sleep(600);
  const after = await js("return [...document.querySelectorAll('#log-rows .log-line')].map(r => r.entry.received_at_ms)");
  if (after.some((at) => at < clickedAt - 50)) throw new Error(`lines of events from before Clear: ${after.filter((at) => at < clickedAt - 50).length} of ${after.length}`);
  await until("the status after Clear", () => js("return document.querySelector('#log-status').textContent.startsWith('showing ')"));
});

await check("the event log searches payloads, and Pause holds new lines until Resume", async () => {
  const setSearch = (v) => js(`const f = document.querySelector('#log-search'); f.value = ${JSON.stringify(v)}; f.dispatchEvent(new Event('input')); return true;`);
  const token = `needle-${Date.now()}`;
  await sim("/__sim/publish", { event: "sockeye_search", message: { note: `a ${token} in the hay` }, room: "all" });
  await setSearch(token.toUpperCase());   // case-insensitive, anywhere in the payload
  const found = await until("only the matching line", () => js(`const r = [...document.querySelectorAll('#log-rows .log-line')];
    return r.length === 1 && r[0].dataset.event === 'sockeye_search' && r.length`));
  if (found !== 1) throw new Error(`${found} lines`);
  await setSearch("");
  await until("the log unfiltered again", () => js("return document.querySelectorAll('#log-rows .log-line').length > 1"));
  // Paused: a new event is not drawn, the status counts it; Resume draws it.
  await js("document.querySelector('#log-pause').click(); return true;");
  const paused = `paused-${Date.now()}`;
  await sim("/__sim/publish", { event: "sockeye_paused", message: { marker: paused }, room: "all" });
  await until("the status counting it", () => js("return /paused: [1-9]\\d* new not shown/.test(document.querySelector('#log-status').textContent)"));
  const drawn = await js("return !!document.querySelector('#log-rows .log-line[data-event=\"sockeye_paused\"]')");
  if (drawn) throw new Error("a line was drawn while paused");
  await js("document.querySelector('#log-pause').click(); return true;");
  await until("the held line after Resume", () => js("return !!document.querySelector('#log-rows .log-line[data-event=\"sockeye_paused\"]')"));
});

await check("Frappe's eval_js events are shown, never run", async () => {
  // A site can push `eval_js` (Frappe's desk runs it); a monitor must only display it.
  const script = "window.__evaljs = 1; document.title = 'pwned-by-eval_js'";
  await sim("/__sim/publish", { event: "eval_js", message: script, room: "all" });
  await js("const f = document.querySelector('#log-filter'); f.value = 'eval_js'; f.dispatchEvent(new Event('input')); return true;");
  const line = await until("the eval_js line", () => js("const r = document.querySelector('#log-rows .log-line[data-event=\"eval_js\"]'); return r && r.textContent"), 10000);
  if (!line.includes("window.__evaljs = 1")) throw new Error(`line: ${line}`);
  await js("document.querySelector('#log-rows .log-line[data-event=\"eval_js\"]').click(); return 1;");
  await sleep(200);
  const after = await js("return { ran: window.__evaljs ?? null, title: document.title }");
  if (after.ran !== null || after.title.includes("pwned")) throw new Error(`eval_js ran: ${JSON.stringify(after)}`);
  await js("const f = document.querySelector('#log-filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true;");
});

await check("a server restart shows as a state change, then recovers", async () => {
  await clickTab("agents");
  await sim("/__sim/restart", { down_ms: 2500 });
  const seen = await until("a non-connected pill", () => js("const p = document.querySelector('#pill'); return p.dataset.state !== 'connected' && p.dataset.state"), 10000);
  if (!["reconnecting", "connecting"].includes(seen)) throw new Error(`state ${seen}`);
  await until("connected again", () => js("return document.querySelector('#pill').dataset.state === 'connected'"), 20000);
});

await check("the restart's gap is marked in the message feed and the event log", async () => {
  // The demo's chat kept posting while the simulator was down; the app fetched what it missed.
  await clickTab("messages");
  await js("const c = [...document.querySelectorAll('#channels li')].find(li => li.textContent === 'All channels'); c && c.click(); return true;");
  const line = await until("a gap marker", () => js("const g = document.querySelector('#messages .msg.gap'); return g && g.textContent"), 20000);
  if (!/^link down \S+–\S+ · (\d+ messages? recovered|could not recover)/.test(line)) throw new Error(`marker: ${line}`);
  await clickTab("log");
  await js("const f = document.querySelector('#log-filter'); f.value = 'sockeye:gap'; f.dispatchEvent(new Event('input')); return true;");
  const row = await until("the marker in the log", () => js("const r = document.querySelector('#log-rows .log-line[data-event=\"sockeye:gap\"]'); return r && r.textContent"), 10000);
  if (!/  link down \S+–\S+ · /.test(row)) throw new Error(`log: ${row}`);
  await js("const f = document.querySelector('#log-filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true;");
});

await check("diagnostics run from the window", async () => {
  await clickTab("diagnostics");
  await js("document.querySelector('#diag-active').click(); return true;");
  const hint = await until("a report", () => js("const h = document.querySelector('#diag-results .hint'); return h && h.textContent"), 20000);
  if (!hint.includes("healthy")) throw new Error(hint);
  await shot("window-diagnostics");
});

await check("a failed diagnosis shows its fix, filled in, with a Copy button", async () => {
  // The simulator refuses WebSocket upgrades (what a proxy without Upgrade headers does);
  // the app's own link keeps its socket.
  await sim("/__sim/faults", { set: ["upgrade_refused=true"] });
  try {
    await js("document.querySelector('#diag-results').replaceChildren(); document.querySelector('#diag-active').click(); return true;");
    const fix = await until("a fix", () => js("const p = document.querySelector('#diag-results .fixes .fix pre.snippet'); return p && p.textContent"), 20000);
    // Filled in with what was detected: the demo's site (its namespace).
    if (!fix.includes("location /socket.io") || !fix.includes("X-Frappe-Site-Name raven.test")) throw new Error(`snippet: ${fix}`);
    await js("document.querySelector('#diag-results .fixes .fix button.copy').click(); return true;");
    const status = await until("the copy's outcome", () => js("return document.querySelector('#diag-results .fixes .copy-status').textContent"));
    console.log(`     fix: ${fix.split("\n")[0]} … (copy: ${status})`);
    await shot("window-diagnostics-fix");
  } finally {
    await sim("/__sim/faults", { reset: true });
  }
});

await check("notifications: run completions shown, and a 300-message burst coalesced", async () => {
  const log = () => readFileSync(process.env.NOTIFY_LOG, "utf8");
  const count = (re) => (log().match(re) || []).length;
  if (count(/Agent run finished/g) < 1) throw new Error("no run-finished notification on D-Bus");
  const offset = log().length;
  await sim("/__sim/scenario/burst", { n: 300, event: "message_created", channel: "general" });
  const summaries = () => [...log().slice(offset).matchAll(/string "([^"]*#general[^"]*)"/g)].map((m) => m[1]);
  const biggest = () => Math.max(0, ...summaries().map((t) => Number((t.match(/^(\d+) new messages/) || [0, 0])[1])));
  await until("the burst's coalesced notification", () => biggest() >= 100, 15000);
  await sleep(3000);
  const about = summaries();
  // One summary for the burst (a second if it straddles a coalescing window), plus at most
  // the demo's own chat in the same seconds: never one notification per message.
  if (about.length > 4) throw new Error(`${about.length} notifications about #general for one burst: ${JSON.stringify(about)}`);
  console.log(`     300 messages → ${about.length} notification(s): ${JSON.stringify(about)}`);
});

await check("the log is exported by the app as a recording, arguments as received", async () => {
  await clickTab("log");
  await js("document.querySelector('#log-export').click(); return true;");
  const status = await until("the export's path", () => js("const s = document.querySelector('#log-export-status').textContent; return s.startsWith('exported') && s"));
  const path = status.replace(/^exported \d+ events to /, "");
  const [header, ...lines] = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  if (header.kind !== "header" || header.format !== 1 || header.source !== "export") throw new Error(`${path}: header ${JSON.stringify(header)}`);
  const keys = ["kind", "t_ms", "dir", "env", "name", "args"];
  if (!lines.length || !lines.every((l) => keys.every((k) => k in l) && Array.isArray(l.args))) throw new Error(`${path}: ${JSON.stringify(lines[0])}`);
  if (!lines.some((l) => l.name === "sockeye:gap") || !lines.some((l) => l.name === "ai_progress" && l.args[0].type)) throw new Error(`${lines.length} lines, names ${[...new Set(lines.map((l) => l.name))]}`);
  if (!lines.some((l) => l.dir === "out" && l.name === "doc_subscribe")) throw new Error("the subscriptions sent are not in the export");
  if (readFileSync(path, "utf8").includes("good-sid")) throw new Error("the demo's sid is in the export");
});

// (Under WebDriver the app keeps WebKit's network process: the automation session lives
// there. tray_cycle.mjs checks, without WebDriver, that it ends too.)
await check("closed to the tray: the web process ends; Show brings the window back as it was", async () => {
  const pid = appPid();
  await clickTab("log");
  await js("const f = document.querySelector('#log-filter'); f.value = 'ai_progress'; f.dispatchEvent(new Event('input')); return true;");
  await until("filtered rows", () => js("const r = [...document.querySelectorAll('#log-rows .log-line')]; return r.length > 0 && r.every(row => row.dataset.event === 'ai_progress')"));
  if (!(await closeWindow(pid))) throw new Error(`the web process outlived the window: ${JSON.stringify(webkitChildren(pid))}`);
  await sleep(2500);   // past the app's idle delay, so a Show finds the window fully gone
  if (appPid() !== pid) throw new Error("the app did not stay in the tray");
  await showWindow(process.env.SOCKEYE_BIN);
  const handle = await until("the new window", async () => (await wd("GET", `/session/${sid}/window/handles`))[0]);
  await wd("POST", `/session/${sid}/window`, { handle });
  const back = await until("the page as it was", () => js(`const rows = [...document.querySelectorAll('#log-rows .log-line')];
    return document.querySelector('#tab-log').classList.contains('active') && document.querySelector('#log-filter').value === 'ai_progress'
      && rows.length > 0 && rows.every(row => row.dataset.event === 'ai_progress') && document.querySelector('#pill').dataset.state === 'connected'
      && { rows: rows.length, runs: document.querySelectorAll('.run').length, title: document.title }`), 10000);
  await clickTab("agents");
  await until("the runs kept by the app", () => js("return document.querySelectorAll('.run').length > 0"));
  console.log(`     back with ${back.rows} log rows; WebKit processes now ${JSON.stringify(webkitChildren(pid).map((p) => p.kind))}`);
});

await wd("DELETE", `/session/${sid}`).catch(() => {});
console.log(results.failures ? `${results.failures} UI check(s) failed` : "all UI checks passed");
process.exit(results.failures ? 1 : 0);
