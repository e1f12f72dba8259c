// A hand-written, deliberately hostile Engine.IO/Socket.IO server for Sockeye's robustness tests.
// No socket.io library: node `http` + `ws`. It speaks Engine.IO 4 (default) and Engine.IO 3
// (when the query says EIO=3) on /socket.io/, over HTTP long-polling and websocket (direct, or
// polling -> websocket upgrade with 2probe/3probe/5). Any namespace CONNECT is accepted; then
// the server sends a scripted mix of good events and malformed/out-of-context packets, ending
// with `42<ns,>["done",{"good":K}]` (K = good events sent), and keeps the link open.
//
// Usage: node hostile_server.mjs <port> [pingInterval ms] [pingTimeout ms]
// Env PING_INTERVAL / PING_TIMEOUT (ms) are used when the argv values are absent.
// Defaults: port 0 (ephemeral), pingInterval 25000, pingTimeout 20000.
// Query params (on the handshake request): EIO=3|4, script=hostile|names|none, repeat=R,
// autostart=1 (run the script on "/" right after the open packet, without waiting for a CONNECT),
// b64=1 (EIO=3 polling: binary as `b4<base64>` text instead of a binary payload).
// POST /__test/emit {packet, ns?} pushes "4"+packet to every session (connected to ns if given);
// {engine} instead of packet sends a raw Engine.IO packet; {binary: base64} a binary message.
// Prints "listening <port>" on stdout when ready; logs each connection to stderr.
// README.md next to this file lists the exact scripts.
import http from "node:http";
import crypto from "node:crypto";
import { WebSocketServer } from "ws";

const num = (v) => (v === undefined || v === "" ? undefined : Number(v));
const port = Number(process.argv[2] || 0);
const PING_INTERVAL = num(process.argv[3]) ?? num(process.env.PING_INTERVAL) ?? 25000;
const PING_TIMEOUT = num(process.argv[4]) ?? num(process.env.PING_TIMEOUT) ?? 20000;
const MAX_PAYLOAD = 100000; // advertised in the open packet
const PER_POLL = 4; // at most this many packets per polling GET response
const log = (...a) => process.stderr.write(`[hostile] ${a.join(" ")}\n`);

const LIFECYCLE = ["message", "error", "open", "close", "connect", "disconnect", "connect_error", "ping", "pong", "upgrade"];
const ATTACHMENT = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03]);
const STRAY = Buffer.from([0xba, 0xad, 0xf0, 0x0d]);

// The script: a list of Engine.IO packets (string = text packet, Buffer = binary message) and
// the number of GOOD events in it. `p` is the namespace prefix ("" for "/", else "/ns,").
function buildScript(kind, ns, eio, repeat) {
  const p = ns === "/" ? "" : ns + ",";
  const other = ns === "/other" ? "/other2" : "/other";
  const out = [];
  let seq = 0;
  const good = (name = "good", extra = "") => out.push(`42${p}[${JSON.stringify(name)},{"seq":${++seq}${extra}}]`);
  for (let r = 0; r < repeat && kind !== "none"; r++) {
    if (kind === "names") {
      good();
      good();
      for (const n of LIFECYCLE) good(n);
      good();
      continue;
    }
    good();
    out.push(`42${p}["good",`); // (a) truncated JSON
    good();
    out.push(`42${p}[`); // (b)
    good();
    out.push(`42${p}[1,2]`); // (c) event name not a string
    good();
    out.push(`49${p}[]`); // (d) unknown Socket.IO packet type
    good();
    out.push("9xyz"); // (d) unknown Engine.IO packet type
    good();
    out.push(`42${p}["oversized","${"x".repeat(300000)}"]`); // (e) > advertised maxPayload
    good();
    out.push(`42${p}["deep",${"[".repeat(100000)}${"]".repeat(100000)}]`); // (f) deep nesting
    good();
    out.push(`451-${p}["bin",{"_placeholder":true,"num":0}]`, ATTACHMENT); // (g) binary event
    good();
    out.push(STRAY); // (h) binary message with no binary event pending
    good();
    out.push(`43${p}999["x"]`); // (i) ACK for an id never used
    good();
    out.push(eio === 3 ? `44${other},"not for you"` : `44${other},{"message":"not for you"}`); // (j)
    good();
    out.push(`41${other},`); // (j) DISCONNECT of another namespace
    good();
    for (const n of LIFECYCLE) good(n); // (k)
    good("good", `,"text":"h\u00e9llo \u2713 \u{1F600}"`); // (m) non-ASCII good event
  }
  out.push(`42${p}["done",{"good":${seq}}]`);
  return { packets: out, good: seq };
}

const sessions = new Map();
const newSid = () => crypto.randomBytes(15).toString("base64url");

class Session {
  constructor(eio, query, transport) {
    this.sid = newSid();
    this.eio = eio;
    this.query = query;
    this.transport = transport; // "polling" | "websocket"
    this.queue = [];
    this.pendingGet = null;
    this.ws = null;
    this.upgrading = false;
    this.namespaces = new Set();
    this.closed = false;
    sessions.set(this.sid, this);
    this.armHeartbeat();
  }
  openPacket() {
    const upgrades = this.transport === "polling" ? ["websocket"] : [];
    return "0" + JSON.stringify({ sid: this.sid, upgrades, pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD });
  }
  // After the open packet: EIO=3 (Socket.IO v2) connects "/" on its own; autostart runs the script on "/".
  afterOpen() {
    if (this.eio === 3) this.send("40");
    if (this.query.get("autostart") === "1") this.startScript("/");
  }
  armHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    if (this.eio === 4) {
      this.pingTimer = setInterval(() => {
        this.send("2");
        clearTimeout(this.pongTimer);
        this.pongTimer = setTimeout(() => this.close("ping timeout"), PING_TIMEOUT);
      }, PING_INTERVAL);
    } else {
      this.pongTimer = setTimeout(() => this.close("ping timeout (no client ping)"), PING_INTERVAL + PING_TIMEOUT);
    }
  }
  send(pkt) {
    if (this.closed) return;
    if (this.transport === "websocket" && this.ws) return this.wsSend(pkt);
    this.queue.push(pkt);
    this.flushPoll();
  }
  wsSend(pkt) {
    if (typeof pkt === "string") this.ws.send(pkt);
    else this.ws.send(this.eio === 3 ? Buffer.concat([Buffer.from([4]), pkt]) : pkt, { binary: true });
  }
  flushPoll() {
    if (!this.pendingGet || this.queue.length === 0) return;
    const res = this.pendingGet;
    this.pendingGet = null;
    writePayload(this, res, this.queue.splice(0, PER_POLL));
  }
  startScript(ns) {
    const kind = this.query.get("script") || "hostile";
    const repeat = Math.max(1, Number(this.query.get("repeat") || 1));
    const { packets, good } = buildScript(kind, ns, this.eio, repeat);
    log(`sid=${this.sid} ns=${ns} script=${kind} repeat=${repeat}: ${packets.length} packets, good=${good}`);
    for (const p of packets) this.send(p);
  }
  onPacket(pkt) {
    if (typeof pkt !== "string") return; // client binary attachments are ignored
    const t = pkt[0];
    if (t === "2" && this.eio === 3) {
      this.armHeartbeat();
      this.send("3" + pkt.slice(1));
    } else if (t === "3" && this.eio === 4) {
      clearTimeout(this.pongTimer);
    } else if (t === "1") {
      this.close("client close");
    } else if (t === "4") {
      this.onSocketIo(pkt.slice(1));
    }
  }
  onSocketIo(s) {
    const type = s[0];
    let i = 1;
    if (type === "5" || type === "6") i = s.indexOf("-", i) + 1;
    let ns = "/";
    if (s[i] === "/") {
      const c = s.indexOf(",", i);
      ns = c < 0 ? s.slice(i) : s.slice(i, c);
      i = c < 0 ? s.length : c + 1;
    }
    ns = ns.split("?")[0]; // EIO=3 clients may put a query on the namespace
    const p = ns === "/" ? "" : ns + ",";
    let id = "";
    while (i < s.length && s[i] >= "0" && s[i] <= "9") id += s[i++];
    if (type === "0") {
      this.namespaces.add(ns);
      this.send(this.eio === 3 ? `40${p}` : `40${p}${JSON.stringify({ sid: newSid() })}`);
      log(`sid=${this.sid} CONNECT ${ns}`);
      this.startScript(ns);
    } else if (type === "1") {
      this.namespaces.delete(ns);
    } else if (type === "2" && id) {
      // Every event that asks for an ack gets its own arguments back.
      let args = [];
      try { args = JSON.parse(s.slice(i)).slice(1); } catch {}
      this.send(`43${p}${id}${JSON.stringify(args)}`);
    }
  }
  close(why) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    sessions.delete(this.sid);
    if (this.pendingGet) writePayload(this, this.pendingGet, ["1"]);
    this.pendingGet = null;
    if (this.ws) this.ws.close();
    log(`sid=${this.sid} closed: ${why}`);
  }
}

// Polling payloads. EIO=4: packets joined by \x1e, binary as "b<base64>". EIO=3: `len:packet`
// with len in JS string length (UTF-16 code units); binary either as text `b4<base64>` (b64=1)
// or, without b64, the whole payload in the binary framing (0|1, length digits, 0xff, bytes).
function writePayload(session, res, packets) {
  if (session.eio === 4) {
    const body = packets.map((p) => (typeof p === "string" ? p : "b" + p.toString("base64"))).join("\x1e");
    res.writeHead(200, { "content-type": "text/plain; charset=UTF-8" });
    return res.end(body);
  }
  const hasBin = packets.some((p) => typeof p !== "string");
  if (!hasBin || session.query.get("b64") === "1") {
    const body = packets.map((p) => (typeof p === "string" ? p : "b4" + p.toString("base64"))).map((m) => `${m.length}:${m}`).join("");
    res.writeHead(200, { "content-type": "text/plain; charset=UTF-8" });
    return res.end(body);
  }
  const parts = [];
  for (const p of packets) {
    const bytes = typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.concat([Buffer.from([4]), p]);
    const digits = String(bytes.length).split("").map(Number);
    parts.push(Buffer.from([typeof p === "string" ? 0 : 1, ...digits, 255]), bytes);
  }
  res.writeHead(200, { "content-type": "application/octet-stream" });
  res.end(Buffer.concat(parts));
}

function decodePayload(eio, buf) {
  if (eio === 4) return buf.toString("utf8").split("\x1e").filter((s) => s.length).map((s) => (s[0] === "b" ? Buffer.from(s.slice(1), "base64") : s));
  const out = [];
  if (buf.length && (buf[0] === 0 || buf[0] === 1)) {
    let i = 0;
    while (i < buf.length) {
      const isBin = buf[i++] === 1;
      let len = "";
      while (buf[i] !== 255) len += buf[i++];
      i++;
      const bytes = buf.subarray(i, i + Number(len));
      i += Number(len);
      out.push(isBin ? bytes.subarray(1) : bytes.toString("utf8"));
    }
    return out;
  }
  const s = buf.toString("utf8");
  let i = 0;
  while (i < s.length) {
    const c = s.indexOf(":", i);
    if (c < 0) break;
    const len = Number(s.slice(i, c));
    const m = s.slice(c + 1, c + 1 + len);
    out.push(m.startsWith("b4") ? Buffer.from(m.slice(2), "base64") : m);
    i = c + 1 + len;
  }
  return out;
}

const readBody = (req) => new Promise((resolve) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => resolve(Buffer.concat(chunks)));
});
const json = (res, status, obj) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(obj));
};
const eioOf = (q) => (q.get("EIO") === "3" ? 3 : 4);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const q = url.searchParams;
  if (url.pathname === "/__test/emit" && req.method === "POST") {
    const body = JSON.parse((await readBody(req)).toString("utf8"));
    const pkt = body.engine ?? (body.binary !== undefined ? Buffer.from(body.binary, "base64") : "4" + body.packet);
    let n = 0;
    for (const s of sessions.values()) {
      if (body.ns && !s.namespaces.has(body.ns)) continue;
      s.send(pkt);
      n++;
    }
    return json(res, 200, { delivered_to: n });
  }
  if (!url.pathname.startsWith("/socket.io/")) return json(res, 404, { error: "not found" });
  if (q.get("transport") !== "polling") return json(res, 400, { code: 0, message: "Transport unknown" });
  const sid = q.get("sid");
  if (!sid) {
    if (req.method !== "GET") return json(res, 400, { code: 2, message: "Bad handshake method" });
    const s = new Session(eioOf(q), q, "polling");
    log(`sid=${s.sid} new polling session EIO=${s.eio} script=${q.get("script") || "hostile"} from ${req.socket.remotePort}`);
    s.queue.push(s.openPacket());
    s.afterOpen();
    s.pendingGet = res;
    return s.flushPoll();
  }
  const s = sessions.get(sid);
  if (!s) return json(res, 400, { code: 1, message: "Session ID unknown" });
  if (s.transport !== "polling") return json(res, 400, { code: 3, message: "Bad request" });
  if (req.method === "GET") {
    if (s.pendingGet) {
      json(res, 400, { code: 3, message: "Bad request" });
      return s.close("overlapping GET");
    }
    if (s.upgrading && s.queue.length === 0) return writePayload(s, res, ["6"]);
    s.pendingGet = res;
    req.on("close", () => { if (s.pendingGet === res) s.pendingGet = null; });
    return s.flushPoll();
  }
  if (req.method === "POST") {
    const body = await readBody(req);
    res.writeHead(200, { "content-type": "text/html" });
    res.end("ok");
    for (const p of decodePayload(s.eio, body)) s.onPacket(p);
    return;
  }
  json(res, 400, { code: 2, message: "Bad handshake method" });
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 100 * 1024 * 1024 });
server.on("upgrade", (req, sock, head) => {
  const url = new URL(req.url, "http://x");
  const q = url.searchParams;
  if (!url.pathname.startsWith("/socket.io/") || q.get("transport") !== "websocket") return sock.destroy();
  const sid = q.get("sid");
  const existing = sid ? sessions.get(sid) : null;
  if (sid && (!existing || existing.transport !== "polling")) return sock.destroy();
  wss.handleUpgrade(req, sock, head, (ws) => {
    const toPacket = (data, isBinary, eio) => {
      if (!isBinary) return data.toString("utf8");
      return eio === 3 ? data.subarray(1) : data;
    };
    if (!existing) {
      const s = new Session(eioOf(q), q, "websocket");
      s.ws = ws;
      log(`sid=${s.sid} new websocket session EIO=${s.eio} script=${q.get("script") || "hostile"}`);
      s.send(s.openPacket());
      s.afterOpen();
      ws.on("message", (d, b) => s.onPacket(toPacket(d, b, s.eio)));
      ws.on("close", () => s.close("websocket closed"));
      ws.on("error", () => {});
      return;
    }
    const s = existing;
    log(`sid=${s.sid} upgrade probe`);
    const onProbe = (d, b) => {
      const m = toPacket(d, b, s.eio);
      if (m === "2probe") {
        ws.send("3probe");
        s.upgrading = true;
        if (s.pendingGet && s.queue.length === 0) {
          const r = s.pendingGet;
          s.pendingGet = null;
          writePayload(s, r, ["6"]);
        }
      } else if (m === "5") {
        ws.off("message", onProbe);
        s.upgrading = false;
        s.transport = "websocket";
        s.ws = ws;
        if (s.pendingGet) {
          const r = s.pendingGet;
          s.pendingGet = null;
          writePayload(s, r, ["6"]);
        }
        const q2 = s.queue.splice(0);
        for (const p of q2) s.wsSend(p);
        log(`sid=${s.sid} upgraded to websocket (${q2.length} queued packets flushed)`);
        ws.on("message", (d2, b2) => s.onPacket(toPacket(d2, b2, s.eio)));
        ws.on("close", () => s.close("websocket closed"));
      }
    };
    ws.on("message", onProbe);
    ws.on("error", () => {});
  });
});

server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
