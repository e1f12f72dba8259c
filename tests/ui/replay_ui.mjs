// The app's demo replaying a real recording (tests/ui/fixtures/site-10s.jsonl, made with
// `sockeye-cli watch --record` against the simulator): the event log shows the recorded
// events in the recorded order with the recorded timing (within 10 % at 1x); then the Record
// button records the replay, and the Emit tab checks its arguments as typed and sends.
//
// Environment (set by tests/ui/run.sh): SOCKEYE_BIN, RECORDING (the file the app's
// tauri-driver was started with as SOCKEYE_DEMO_RECORDING), WEBDRIVER.
import { readFileSync } from "node:fs";
import { wd, openApp, until, check, sleep, results } from "./webdriver.mjs";

const recorded = readFileSync(process.env.RECORDING, "utf8").trim().split("\n").map((l) => JSON.parse(l))
  .filter((l) => l.kind === "event" && l.dir === "in" && !l.via && !l.name.startsWith("sockeye:"));
const { sid, js } = await openApp();
// A click before the page has wired its tabs is lost: wait until it draws the link's state.
await until("the page, connected", () => js("return document.querySelector('#pill')?.dataset.state === 'connected'"), 30000);
const clickTab = (tab) => js(`document.querySelector('#tabs button[data-tab="${tab}"]').click();
  return document.querySelector('#tabs button.active')?.dataset.tab === '${tab}';`).then((ok) => { if (!ok) throw new Error(`tab ${tab} not shown`); return ok; });
// The log's drawn rows, oldest first: name, arrival, direction (a line leaves it out when `in`).
const logRows = () => js(`return [...document.querySelectorAll('#log-rows .log-line')].map(r => r.entry).filter(Boolean)
  .map(e => [e.name, e.received_at_ms, e.direction ?? "in"]).reverse()`);

await check(`the demo replays the recording: ${recorded.length} events in order, in time`, async () => {
  await clickTab("log");
  const span = recorded[recorded.length - 1].t_ms - recorded[0].t_ms;
  let seen = [];
  const rows = await until("the recording's events in the log", async () => {
    const r = (await logRows()).filter(([n, , d]) => d === "in" && !n.startsWith("sockeye:"));
    seen = r;
    return r.length >= recorded.length && r;
  }, span + 30000).catch((e) => { throw new Error(`${e.message}; seen ${JSON.stringify(seen)}`); });
  const got = rows.slice(0, recorded.length);
  const names = got.map(([n]) => n);
  const want = recorded.map((l) => l.name);
  if (JSON.stringify(names) !== JSON.stringify(want)) throw new Error(`order: ${JSON.stringify(names)} vs ${JSON.stringify(want)}`);
  const shown = got[got.length - 1][1] - got[0][1];
  console.log(`     recorded span ${span} ms, replayed in the app ${shown} ms`);
  if (Math.abs(shown / span - 1) >= 0.1) throw new Error(`span ${shown} ms vs ${span} ms recorded`);
});

await check("the Record button records the link: file, size and events shown, stopped on Stop", async () => {
  await clickTab("envs");
  await js("document.querySelector('#env-list button.rec').click(); return true;");
  const text = await until("a recording with events", () => js(`const t = document.querySelector('#env-list .rec-text')?.textContent || '';
    const m = t.match(/(\\d+) events/); return m && Number(m[1]) > 0 && t`), 30000);
  if (!/sockeye-Demo-\d+\.jsonl · [\d.]+ KiB/.test(text.trim())) throw new Error(`status: ${text}`);
  await js("document.querySelector('#env-list button.rec').click(); return true;");
  await until("stopped", () => js("return (document.querySelector('#env-list .rec-text')?.textContent || '').includes('(stopped)')"));
  const path = await js("return document.querySelector('#env-list .rec-text').title");
  const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  if (lines[0].kind !== "header" || lines[0].env !== "Demo" || lines[lines.length - 1].kind !== "end") throw new Error(`${path}: ${lines[0].kind}…${lines[lines.length - 1].kind}`);
  if (!lines.some((l) => l.kind === "event" && l.dir === "in")) throw new Error(`${path}: no events`);
  if (readFileSync(path, "utf8").includes("good-sid")) throw new Error(`${path}: the sid is in it`);
});

await check("the Emit tab checks arguments as typed and sends; the send is in the log as outgoing", async () => {
  await clickTab("emit");
  await js(`const f = document.querySelector('#emit-form'); f.event.value = 'ping'; f.args.value = '[1,\\n {"a" 2}]';
    f.args.dispatchEvent(new Event('input')); return true;`);
  const err = await until("the argument error", () => js("return document.querySelector('#emit-args-error').textContent"));
  if (!err.startsWith("line 2, column 7:")) throw new Error(`error: ${err}`);
  await js(`const f = document.querySelector('#emit-form'); f.args.value = ''; f.args.dispatchEvent(new Event('input'));
    f.querySelector('button[type=submit]').click(); return true;`);
  await until("sent", () => js("return document.querySelector('#emit-status').textContent === 'sent ping'"));
  await until("the history", () => js("return document.querySelector('#emit-history li')?.textContent.includes('sent ping')"));
  await clickTab("log");
  await until("the outgoing line", () => js(`return [...document.querySelectorAll('#log-rows .log-line[data-direction="out"]')].some(r => r.entry.name === 'ping')`));
});

await wd("DELETE", `/session/${sid}`).catch(() => {});
await sleep(200);
console.log(results.failures ? `${results.failures} replay check(s) failed` : "all replay checks passed");
process.exit(results.failures ? 1 : 0);
