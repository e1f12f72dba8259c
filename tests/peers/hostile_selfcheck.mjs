// Self-check for hostile_server.mjs and frappe_like_server_v2.cjs. Starts both on ephemeral
// loopback ports (short heartbeats), then:
//  - node socket.io-client 4.7.5 (websocket, polling, polling+upgrade) against script=names:
//    records what the client does with events NAMED like lifecycle events (info, never fails);
//  - node socket.io-client 4.7.5 against script=hostile: records how far it gets (info);
//  - raw Engine.IO clients against script=hostile (EIO=4 websocket, EIO=4 polling, EIO=4 polling
//    then upgrade, EIO=3 polling text/b64/binary payloads, EIO=3 websocket): every packet of the
//    script arrives, good seqs are 1..K and K equals the "done" count, framing decodes with the
//    real engine.io-parser (5.x for EIO=4, 2.x for EIO=3);
//  - the socket.io 2.x server over raw EIO=3 polling: `len:packet` framing, namespace connect
//    with cookie, "Invalid origin" refusal as `44/ns,"..."`, echo_ack, ping->pong, burst, the
//    client-sent heartbeat; and the real socket.io-client 2.x against it.
// Usage: node hostile_selfcheck.mjs. Prints one line per check and "N passed, N failed".
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { once } from "node:events";
import WebSocket from "ws";
import { io } from "socket.io-client";
import * as parser4 from "engine.io-parser";

const require = createRequire(import.meta.url);
const parser3 = require("./node_modules/socket.io-v2/node_modules/engine.io-parser");
const ioV2 = require("./node_modules/socket.io-v2/node_modules/socket.io-client");
const here = new URL(".", import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
const children = [];
const info = (...a) => console.log("info:", ...a);

async function check(label, fn) {
  try {
    const r = await fn();
    if (r === true || r === undefined) { results.push(true); console.log(`ok   ${label}`); }
    else { results.push(false); console.log(`FAIL ${label}: ${r}`); }
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${label}: ${e.stack || e}`);
  }
}

async function start(file, env) {
  const child = spawn(process.execPath, [here + file, "0"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  child.stderr.on("data", (d) => process.env.VERBOSE && process.stderr.write(d));
  let out = "";
  for await (const chunk of child.stdout) {
    out += chunk;
    const m = out.match(/listening (\d+)/);
    if (m) return Number(m[1]);
  }
  throw new Error(file + " did not start");
}

// ---- classification of a received script: Socket.IO packet strings (the Engine.IO "4" already
// stripped) and Buffers (binary messages) ----
function analyse(packets, ns) {
  const p = ns === "/" ? "" : ns + ",";
  const seqs = [];
  const names = [];
  let done = null, bin = null, stray = 0, pendingBin = false;
  for (const pk of packets) {
    if (typeof pk !== "string") {
      if (pendingBin) { bin = pk; pendingBin = false; } else stray++;
      continue;
    }
    if (pk.startsWith(`51-${p}`)) { pendingBin = true; continue; }
    if (!pk.startsWith(`2${p}`)) continue;
    let v;
    try { v = JSON.parse(pk.slice(1 + p.length)); } catch { continue; }
    if (!Array.isArray(v) || typeof v[0] !== "string") continue;
    if (v[0] === "done") done = v[1].good;
    else if (v[1] && typeof v[1].seq === "number") { seqs.push(v[1].seq); names.push(v[0]); }
  }
  return { seqs, names, done, bin, stray };
}
function verifyScript(a, expectGood, { binary = true, strays = 1 } = {}) {
  if (a.done !== expectGood) return `done=${a.done}, expected ${expectGood}`;
  if (a.seqs.length !== expectGood) return `saw ${a.seqs.length} good events, expected ${expectGood}`;
  for (let i = 0; i < a.seqs.length; i++) if (a.seqs[i] !== i + 1) return `seq ${a.seqs[i]} at position ${i}`;
  if (binary && (!a.bin || a.bin.toString("hex") !== "deadbeef00010203")) return `attachment ${a.bin && a.bin.toString("hex")}`;
  if (binary && a.stray !== strays) return `stray binaries ${a.stray}`;
  return true;
}
const hasDone = (packets) => packets.some((x) => typeof x === "string" && x.includes('["done",'));

// ---- raw Engine.IO 4 / 3 clients ----
async function get(url) {
  const r = await fetch(url);
  const ct = r.headers.get("content-type") || "";
  const buf = Buffer.from(await r.arrayBuffer());
  return { ct, buf };
}
const post = (url, body) => fetch(url, { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } }).then((r) => r.text());

// Engine.IO 4 payload: split on \x1e by hand, each packet decoded by the real engine.io-parser 5.
function decode4(buf) {
  return buf.toString("utf8").split("\x1e").map((raw) => {
    const p = parser4.decodePacket(raw, "nodebuffer");
    if (p.type === "error") return "?" + raw;
    return p.type === "message" ? (typeof p.data === "string" ? "4" + p.data : p.data) : TYPES[p.type] + (p.data || "");
  });
}
// How many packets the real engine.io-parser 5 decodePayload yields before it stops (it stops at
// the first packet it cannot decode, dropping the rest of that payload).
const real4 = (buf) => parser4.decodePayload(buf.toString("utf8"), "nodebuffer").filter((p) => p.type !== "error").length;
const TYPES = { open: "0", close: "1", ping: "2", pong: "3", message: "4", upgrade: "5", noop: "6" };
// Engine.IO 3 payload decode: split by hand (`len:packet`, or the binary framing), each packet
// decoded by the real engine.io-parser 2.x. Unknown Engine.IO types come back as "?<raw>".
const dec3 = (raw) => {
  const p = parser3.decodePacket(raw, "nodebuffer", typeof raw !== "string");
  if (p.type === "error") return "?" + raw;
  return p.type === "message" ? (typeof p.data === "string" ? "4" + p.data : p.data) : TYPES[p.type] + (p.data || "");
};
function decode3(buf, ct) {
  const out = [];
  if (ct.includes("octet-stream")) {
    let i = 0;
    while (i < buf.length) {
      const isBin = buf[i++] === 1;
      let len = "";
      while (buf[i] !== 255) len += buf[i++];
      i++;
      const bytes = buf.subarray(i, (i += Number(len)));
      out.push(dec3(isBin ? bytes : bytes.toString("utf8")));
    }
    return out;
  }
  const text = buf.toString("utf8");
  for (let i = 0; i < text.length; ) {
    const c = text.indexOf(":", i);
    const len = Number(text.slice(i, c));
    out.push(dec3(text.slice(c + 1, c + 1 + len)));
    i = c + 1 + len;
  }
  return out;
}
// Does the real engine.io-parser 2.x accept the whole payload? (It aborts a text payload on an
// unknown packet type, so "9xyz" makes it refuse the payload that carries it.)
function real3(buf, ct) {
  let bad = false, n = 0;
  parser3.decodePayload(ct.includes("octet-stream") ? buf : buf.toString("utf8"), "nodebuffer", (p) => { n++; if (p.type === "error") bad = true; });
  return !bad && n > 0;
}
// EIO=3 framing check by hand: `len:packet`, len = JS string length.
function framing3(text) {
  let i = 0, n = 0;
  while (i < text.length) {
    const c = text.indexOf(":", i);
    const len = Number(text.slice(i, c));
    if (c < 0 || !Number.isInteger(len)) return -1;
    i = c + 1 + len;
    n++;
  }
  return i === text.length ? n : -1;
}

async function rawPolling(base, eio, query, ns, { b64 = false } = {}) {
  const u = `${base}/socket.io/?EIO=${eio}&transport=polling${b64 ? "&b64=1" : ""}&${query}`;
  let r = await get(u);
  const first = eio === 4 ? decode4(r.buf) : decode3(r.buf, r.ct);
  const sid = JSON.parse(first[0].slice(1)).sid;
  const su = `${base}/socket.io/?EIO=${eio}&transport=polling&sid=${sid}${b64 ? "&b64=1" : ""}`;
  const body = eio === 4 ? `40${ns},{}` : ((m) => `${m.length}:${m}`)(`40${ns},`);
  await post(su, body);
  const got = [...first.slice(1)];
  let payloads = 0, binPayloads = 0, refused = 0;
  const t0 = Date.now();
  while (!hasDone(got) && Date.now() - t0 < 10000) {
    r = await get(su);
    payloads++;
    if (r.ct.includes("octet-stream")) binPayloads++;
    else if (eio === 3 && framing3(r.buf.toString("utf8")) < 0) throw new Error("bad len:packet framing");
    const pk = eio === 4 ? decode4(r.buf) : decode3(r.buf, r.ct);
    if (eio === 4 && real4(r.buf) !== pk.length) {
      refused++;
      if (!pk.includes("?9xyz")) throw new Error("engine.io-parser 5 stops early in a payload without 9xyz");
    }
    if (eio === 3 && !real3(r.buf, r.ct)) {
      refused++;
      if (!pk.includes("?9xyz")) throw new Error("engine.io-parser 2.x refuses a payload without 9xyz: " + r.buf.toString("utf8", 0, 200));
    }
    got.push(...pk);
  }
  await post(su, eio === 4 ? "1" : "1:1");
  return { got: got.filter((x) => typeof x !== "string" || x.startsWith("4")).map((x) => (typeof x === "string" ? x.slice(1) : x)), payloads, binPayloads, refused };
}

function rawWs(base, eio, query) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/socket.io/?EIO=${eio}&transport=websocket&${query}`);
    const got = [];
    let frames = 0;
    const t = setTimeout(() => { ws.close(); reject(new Error("timeout, got " + got.length)); }, 10000);
    ws.on("message", (d, isBin) => {
      frames++;
      if (isBin) { got.push(eio === 3 ? d.subarray(1) : d); }
      else {
        const s = d.toString();
        if (s[0] === "0") ws.send(eio === 3 ? "40/raven.test," : "40/raven.test,{}");
        if (s[0] === "2") ws.send("3");
        if (s[0] === "4") got.push(s.slice(1));
      }
      if (hasDone(got)) { clearTimeout(t); ws.close(); resolve({ got, frames }); }
    });
    ws.on("error", reject);
  });
}

async function rawUpgrade(base, query) {
  const u = `${base}/socket.io/?EIO=4&transport=polling&${query}`;
  let r = await get(u);
  const sid = JSON.parse(decode4(r.buf)[0].slice(1)).sid;
  const su = `${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await post(su, "40/raven.test,{}");
  r = await get(su);
  const viaPolling = decode4(r.buf).map((x) => (typeof x === "string" ? x.slice(1) : x));
  const ws = new WebSocket(`${base.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  await once(ws, "open");
  const got = [...viaPolling];
  const pending = get(su); // the poll in flight during the upgrade must be answered with a noop
  let inflight = null;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timeout")), 10000);
    let probed = false;
    ws.on("message", async (d, isBin) => {
      if (!probed) {
        if (d.toString() !== "3probe") return reject(new Error("expected 3probe, got " + d));
        probed = true;
        // The in-flight poll ends with a noop, or with queued data (then the rest follows on ws).
        inflight = decode4((await pending).buf);
        got.push(...inflight.filter((x) => x !== "6").map((x) => (typeof x === "string" ? x.slice(1) : x)));
        ws.send("5");
        return;
      }
      if (isBin) got.push(d);
      else if (d.toString()[0] === "4") got.push(d.toString().slice(1));
      if (hasDone(got)) { clearTimeout(t); ws.close(); resolve({ got, viaPolling: viaPolling.length, inflight: inflight.length === 1 && inflight[0] === "6" ? "noop" : inflight.length + " packets" }); }
    });
    ws.send("2probe");
  });
}

// ---- node socket.io-client 4.7.5 ----
const LIFECYCLE = ["message", "error", "open", "close", "connect", "disconnect", "connect_error", "ping", "pong", "upgrade"];
function nodeClient(base, query, transports, ms = 5000) {
  return new Promise((resolve) => {
    const socket = io(base + "/raven.test", { transports, query, reconnection: false, forceNew: true });
    const log = { onAny: [], listeners: {}, connects: 0, disconnects: [], connectErrors: [], done: null, timeline: [] };
    const tl = (x) => log.timeline.push(x);
    socket.onAny((ev, a) => tl(`${ev}${a && a.seq ? "#" + a.seq : ""}`));
    socket.on("connect", () => tl(`[connect listener, connected=${socket.connected}]`));
    socket.on("disconnect", (r) => tl(`[disconnect listener: ${typeof r === "string" ? r : JSON.stringify(r)}]`));
    socket.onAny((ev, ...args) => log.onAny.push([ev, ...args]));
    for (const n of LIFECYCLE) socket.on(n, (...args) => (log.listeners[n] ||= []).push(args));
    socket.on("connect", () => log.connects++);
    socket.io.on("close", (r) => tl(`[manager close: ${r}]`));
    socket.io.engine.on("close", (r) => tl(`[engine close: ${r}]`));
    socket.on("disconnect", (reason, desc) => log.disconnects.push([reason, desc && String(desc.message || desc)]));
    socket.on("connect_error", (e) => log.connectErrors.push(String(e && e.message)));
    socket.io.on("ping", () => (log.managerPings = (log.managerPings || 0) + 1));
    socket.on("done", (d) => { log.done = d; });
    const finish = () => { log.connected = socket.connected; log.transport = socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.name; socket.close(); resolve(log); };
    setTimeout(finish, ms);
  });
}

// ---- main ----
const H = await start("hostile_server.mjs", { PING_INTERVAL: "700", PING_TIMEOUT: "1500" });
const V2 = await start("frappe_like_server_v2.cjs", { PING_INTERVAL: "1000", PING_TIMEOUT: "1500" });
const V4 = await start("frappe_like_server.mjs", {});
const hb = `http://127.0.0.1:${H}`;
const v2 = `http://127.0.0.1:${V2}`;
console.log(`hostile on ${H}, socket.io v2 on ${V2}`);
const HOSTILE_GOOD = 24, NAMES_GOOD = 13;

for (const [label, transports] of [["websocket", ["websocket"]], ["polling", ["polling"]], ["polling+upgrade", ["polling", "websocket"]]]) {
  await check(`socket.io-client 4.7.5 ${label}, script=names: observed (info only)`, async () => {
    const log = await nodeClient(hb, { script: "names" }, transports, 2500);
    const seen = log.onAny.filter(([, a]) => a && typeof a.seq === "number").map(([ev, a]) => `${ev}#${a.seq}`);
    info(`[${label}] onAny saw ${seen.length} seq events: ${seen.join(" ")}`);
    info(`[${label}] lifecycle-named listeners fired: ${JSON.stringify(log.listeners)}`);
    info(`[${label}] connect listener count=${log.connects} (1 real + fake), disconnect calls=${JSON.stringify(log.disconnects)}, connected at end=${log.connected}, transport=${log.transport}, manager pings=${log.managerPings}`);
    info(`[${label}] done=${JSON.stringify(log.done)}; timeline: ${log.timeline.join(" ")}`);
    // Not checked: how many events arrive before the parse error varies from run to run (0..6
    // over websocket), because socket.io-client defers dispatch with setTimeout(0) while the
    // parse error closes the Manager synchronously and drops what is still pending.
  });
}

for (const [label, transports] of [["websocket", ["websocket"]], ["polling", ["polling"]]]) {
  await check(`socket.io-client 4.7.5 ${label}, script=hostile: observed (info only)`, async () => {
    const log = await nodeClient(hb, { script: "hostile" }, transports, 2500);
    const seen = log.onAny.map(([ev, a]) => `${ev}${a && a.seq ? "#" + a.seq : ""}`);
    info(`[${label} hostile] events before the end: ${seen.join(" ") || "(none)"}; disconnects=${JSON.stringify(log.disconnects)}; connect_errors=${JSON.stringify(log.connectErrors)}; done=${JSON.stringify(log.done)}`);
  });
}

await check("socket.io-client 4.7.5 websocket, script=none + /__test/emit of each lifecycle name alone (info only)", async () => {
  const out = [];
  for (const n of LIFECYCLE) {
    const socket = io(hb + "/raven.test", { transports: ["websocket"], query: { script: "none" }, reconnection: false, forceNew: true });
    const tl = [];
    socket.onAny((ev, a) => tl.push(`onAny(${ev}${a && a.seq ? "#" + a.seq : ""})`));
    socket.on(n, (...a) => tl.push(`on(${n})(${JSON.stringify(a)})`));
    socket.on("disconnect", (r) => tl.push(`disconnect(${typeof r === "string" ? r : JSON.stringify(r)})`));
    socket.on("after", () => tl.push("after"));
    await new Promise((r) => socket.once("connect", r));
    await sleep(100);
    await fetch(hb + "/__test/emit", { method: "POST", body: JSON.stringify({ packet: `2/raven.test,${JSON.stringify([n, { seq: 1 }])}` }) });
    await fetch(hb + "/__test/emit", { method: "POST", body: JSON.stringify({ packet: '2/raven.test,["after"]' }) });
    await sleep(200);
    out.push(`${n}: ${tl.join(" ")} connected=${socket.connected}`);
    socket.close();
  }
  for (const l of out) info(`[lifecycle alone] ${l}`);
});
await check("socket.io-client 4.7.5 polling+upgrade, script=none: link survives heartbeats (pingInterval 700)", async () => {
  const log = await nodeClient(hb, { script: "none" }, ["polling", "websocket"], 2500);
  info(`script=none: done=${JSON.stringify(log.done)}, manager pings=${log.managerPings}, connected=${log.connected}, transport=${log.transport}`);
  return log.done && log.done.good === 0 && log.connected && log.managerPings >= 2 ? true : JSON.stringify(log);
});
await check("raw EIO=4 websocket, script=hostile repeat=2: all good events, attachment, stray binary", async () => {
  const { got, frames } = await rawWs(hb, 4, "script=hostile&repeat=2");
  const a = analyse(got, "/raven.test");
  info(`EIO=4 websocket: ${frames} frames, good=${a.seqs.length}, done=${a.done}`);
  return verifyScript(a, 2 * HOSTILE_GOOD, { strays: 2 });
});
await check("raw EIO=4 polling, script=hostile: \\x1e payloads decode (engine.io-parser 5), counts", async () => {
  const { got, payloads, refused } = await rawPolling(hb, 4, "script=hostile", "/raven.test");
  info(`EIO=4 polling: ${payloads} GETs; the real engine.io-parser 5 decodePayload stopped early in ${refused} payload(s) (at 9xyz, dropping what follows it)`);
  return verifyScript(analyse(got, "/raven.test"), HOSTILE_GOOD);
});
await check("raw EIO=4 polling then upgrade (2probe/3probe/noop/5), script=hostile", async () => {
  const { got, viaPolling, inflight } = await rawUpgrade(hb, "script=hostile");
  info(`upgrade: ${viaPolling} packets via the first poll, in-flight poll answered with ${inflight}, ${got.length} packets in all`);
  return verifyScript(analyse(got, "/raven.test"), HOSTILE_GOOD);
});
await check("raw EIO=3 polling (text, b64=1), script=hostile: len:packet framing, engine.io-parser 2.x decodes", async () => {
  const { got, payloads, refused } = await rawPolling(hb, 3, "script=hostile", "/raven.test", { b64: true });
  info(`EIO=3 polling b64: ${payloads} GETs; the real engine.io-parser 2.x refused ${refused} whole payload(s) (the one with 9xyz)`);
  return verifyScript(analyse(got, "/raven.test"), HOSTILE_GOOD);
});
await check("raw EIO=3 polling (binary payloads), script=hostile: engine.io-parser 2.x decodes", async () => {
  const { got, binPayloads } = await rawPolling(hb, 3, "script=hostile", "/raven.test");
  info(`EIO=3 polling without b64: ${binPayloads} binary payload(s)`);
  return binPayloads > 0 ? verifyScript(analyse(got, "/raven.test"), HOSTILE_GOOD) : "no binary payload seen";
});
await check("raw EIO=3 websocket, script=names: 40 then 40/raven.test, then the script", async () => {
  const { got } = await rawWs(hb, 3, "script=names");
  info(`EIO=3 websocket first packets: ${JSON.stringify(got.slice(0, 3))}`);
  if (got[0] !== "0" || got[1] !== "0/raven.test,") return `first packets ${JSON.stringify(got.slice(0, 2))}`;
  return verifyScript(analyse(got, "/raven.test"), NAMES_GOOD, { binary: false });
});
await check("hostile POST /__test/emit reaches a connected websocket session", async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${H}/socket.io/?EIO=4&transport=websocket&script=names`);
  const got = [];
  ws.on("message", (d) => got.push(d.toString()));
  await once(ws, "open");
  ws.send("40/x,{}");
  await sleep(200);
  const r = await fetch(hb + "/__test/emit", { method: "POST", body: JSON.stringify({ ns: "/x", packet: '2/x,["adhoc",1]' }) }).then((r) => r.json());
  await sleep(200);
  ws.close();
  return r.delivered_to >= 1 && got.includes('42/x,["adhoc",1]') ? true : JSON.stringify({ r, last: got.slice(-2) });
});

// ---- socket.io 2.x server, raw EIO=3 polling ----
const v2hdr = { cookie: "sid=good-sid", origin: v2 };
async function v2Session(headers = v2hdr) {
  const r = await fetch(`${v2}/socket.io/?EIO=3&transport=polling`, { headers });
  const text = await r.text();
  const n = framing3(text);
  const pk = decode3(Buffer.from(text), "text/plain");
  const sid = JSON.parse(pk[0].slice(1)).sid;
  const su = `${v2}/socket.io/?EIO=3&transport=polling&sid=${sid}`;
  const send = (...msgs) => fetch(su, { method: "POST", headers: { ...headers, "content-type": "text/plain;charset=UTF-8" }, body: msgs.map((m) => `${m.length}:${m}`).join("") }).then((r) => r.text());
  const poll = async () => { const t = await (await fetch(su, { headers })).text(); if (framing3(t) < 0) throw new Error("bad framing " + t); return { text: t, packets: decode3(Buffer.from(t), "text/plain") }; };
  return { text, n, pk, send, poll };
}
await check("v2 handshake: `len:packet` framing, open (pingInterval 1000 from env), then 40", async () => {
  const s = await v2Session();
  info(`v2 handshake body: ${s.text}`);
  const open = JSON.parse(s.pk[0].slice(1));
  const rest = s.pk.length > 1 ? s.pk.slice(1) : (await s.poll()).packets;
  return s.n >= 1 && open.pingInterval === 1000 && open.pingTimeout === 1500 && rest[0] === "40" ? true : JSON.stringify({ open, rest });
});
await check("v2 namespace connect with cookie, echo_ack, ping->pong, burst, client heartbeat", async () => {
  const s = await v2Session();
  if (s.pk.length === 1) await s.poll();
  await s.send("40/raven.test,");
  let p = (await s.poll()).packets;
  if (p[0] !== "40/raven.test,") return "connect answer " + JSON.stringify(p);
  await s.send('42/raven.test,7["echo_ack",1,"a",{"b":true}]', '42/raven.test,["ping"]', "2");
  const seen = [];
  for (let i = 0; i < 3 && seen.length < 3; i++) seen.push(...(await s.poll()).packets);
  info(`v2 after echo_ack/ping/heartbeat: ${JSON.stringify(seen)}`);
  for (const want of ['43/raven.test,7[1,"a",{"b":true}]', '42/raven.test,["pong"]', "3"]) if (!seen.includes(want)) return "missing " + want;
  const b = await fetch(v2 + "/__test/burst", { method: "POST", body: JSON.stringify({ room: "user:test@example.com", event: "tick", count: 50 }) }).then((r) => r.json());
  const burst = [];
  for (let i = 0; i < 5 && burst.length < 50; i++) burst.push(...(await s.poll()).packets.filter((x) => x.includes('"tick"')));
  info(`v2 burst: ${JSON.stringify(b)}, received ${burst.length}, first ${burst[0]}`);
  return b.delivered_to === 1 && burst.length === 50 && burst[49] === '42/raven.test,["tick",{"seq":50}]' ? true : "burst";
});
await check('v2 bad Origin: refusal is the ERROR packet 44/raven.test,"Invalid origin"', async () => {
  const s = await v2Session({ cookie: "sid=good-sid", origin: "http://evil.example" });
  if (s.pk.length === 1) await s.poll();
  await s.send("40/raven.test,");
  const p = (await s.poll()).packets;
  info(`v2 refusal packets: ${JSON.stringify(p)}`);
  return p.includes('44/raven.test,"Invalid origin"') ? true : JSON.stringify(p);
});
await check("v2 server with the real socket.io-client 2.x (polling+upgrade): publish reaches user room", async () => {
  const sock = ioV2(v2 + "/raven.test", { extraHeaders: v2hdr, reconnection: false, forceNew: true });
  await new Promise((res, rej) => { sock.on("connect", res); sock.on("error", (e) => rej(new Error(String(e)))); setTimeout(() => rej(new Error("timeout")), 4000); });
  const got = new Promise((res) => sock.on("hello", res));
  await sleep(300);
  const r = await fetch(v2 + "/__test/publish", { method: "POST", body: JSON.stringify({ room: "user:test@example.com", event: "hello", message: { x: 1 } }) }).then((r) => r.json());
  const m = await Promise.race([got, sleep(2000).then(() => null)]);
  const acked = await new Promise((res) => { sock.emit("echo_ack", 5, (v) => res(v)); setTimeout(() => res(null), 2000); });
  const transport = sock.io.engine.transport.name;
  sock.close();
  info(`v2 client: publish ${JSON.stringify(r)}, got ${JSON.stringify(m)}, ack ${acked}, transport ${transport}`);
  return m && m.x === 1 && acked === 5 ? true : "no message/ack";
});
await check("v2 server with socket.io-client 2.x, bad Origin: client 'error' event gets the string", async () => {
  const sock = ioV2(v2 + "/raven.test", { extraHeaders: { cookie: "sid=good-sid", origin: "http://evil.example" }, transports: ["websocket"], reconnection: false, forceNew: true });
  const e = await new Promise((res) => { sock.on("error", res); sock.on("connect", () => res("CONNECTED")); setTimeout(() => res(null), 3000); });
  sock.close();
  info(`v2 client error event payload: ${JSON.stringify(e)}`);
  return e === "Invalid origin" ? true : JSON.stringify(e);
});

await check("socket.io-client 2.x against hostile EIO=3 script=names, polling+upgrade (info; proves the EIO=3 upgrade)", async () => {
  const sock = ioV2(hb + "/raven.test", { query: { script: "names" }, reconnection: false, forceNew: true });
  const tl = [];
  const onevent = sock.onevent;
  sock.onevent = function (packet) { tl.push(`${packet.data[0]}${packet.data[1] && packet.data[1].seq ? "#" + packet.data[1].seq : ""}`); return onevent.call(this, packet); };
  sock.on("connect", () => tl.push(`[connect, transport=${sock.io.engine.transport.name}]`));
  sock.on("disconnect", (r) => tl.push(`[disconnect ${r}]`));
  sock.on("error", (e) => tl.push(`[error ${JSON.stringify(e)}]`));
  let done = null;
  sock.on("done", (d) => (done = d));
  await sleep(2500);
  const transport = sock.io.engine && sock.io.engine.transport.name;
  sock.close();
  info(`socket.io-client 2.x vs hostile EIO=3 names: transport at end=${transport}, done=${JSON.stringify(done)}; timeline: ${tl.join(" ")}`);
  return done && done.good === NAMES_GOOD && transport === "websocket" ? true : "did not finish over websocket";
});
await check("v4 frappe_like_server.mjs POST /__test/burst: 200 events {seq:1..200} in order", async () => {
  const base = `http://127.0.0.1:${V4}`;
  const socket = io(base + "/raven.test", { transports: ["websocket"], extraHeaders: { cookie: "sid=good-sid", origin: base }, reconnection: false, forceNew: true });
  await new Promise((res, rej) => { socket.on("connect", res); socket.on("connect_error", rej); });
  const seqs = [];
  socket.on("tick", (m) => seqs.push(m.seq));
  const r = await fetch(base + "/__test/burst", { method: "POST", body: JSON.stringify({ room: "user:test@example.com", event: "tick", count: 200 }) }).then((r) => r.json());
  await sleep(500);
  socket.close();
  info(`v4 burst answer ${JSON.stringify(r)}, received ${seqs.length}`);
  return r.delivered_to === 1 && seqs.length === 200 && seqs.every((v, i) => v === i + 1) ? true : "burst";
});

for (const c of children) c.kill();
const passed = results.filter(Boolean).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(results.length === passed ? 0 : 1);
