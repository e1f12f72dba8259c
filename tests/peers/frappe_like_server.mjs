// An independent Frappe-style realtime server for Sockeye's tests: the real `socket.io` 4.7
// package from npm with a middleware written after Frappe's realtime/middlewares/authenticate.js
// (namespace /<site>, Origin check, cookie/token, unknown sid -> Guest) and the handlers of
// realtime/handlers.js that a client relies on (user rooms, ping/pong, doc_subscribe with a
// permission check). It also answers the REST calls a client makes (login, get_logged_user,
// Raven's get_all_channels) and offers POST /__test/publish {room, event, message},
// POST /__test/burst {room, event, count} (emits count events {seq: 1..count} back to back),
// GET /__test/stats (logins, channel lists, connects, disconnects: what a well-behaved
// client must keep low; and the sids issued) and POST /__test/expire (forget every session, as a site does when
// sids expire). Raven messages: POST /__test/message {channel_id, text, sender?} stores a
// message (random 10-char name, Frappe `creation`) and publishes `message_created` to the
// channel's doc room; GET /api/resource/Raven Message lists them like frappe.client.get_list
// (filters, fields, order_by, limit_start, limit_page_length; 403 for a channel the user may
// not read); POST /__test/realtime {up} takes the Socket.IO side down (engine connections
// closed, new ones refused with 403) while the web side keeps answering. Agent progress:
// POST /__test/progress {conversation_id, update, user?} records an `ai_progress` update
// (with `conversation_id`, without `seq`: the other shape a client must deduplicate) and
// publishes it to the user's room; GET /api/method/ai_assistant.api.get_progress
// ?conversation_id=… answers {"message": {"updates": [...]}} with the run's updates so far,
// counted in /__test/stats as `progress_polls`.
//
// Usage: node frappe_like_server.mjs <port> [site]. Prints "listening <port>" when ready.
import http from "node:http";
import { Server } from "socket.io";
import rules from "./frappe_rules.cjs";

const { SESSIONS, PERMITTED, whoIs, authenticate, onConnection, frappeRest } = rules;

const port = Number(process.argv[2] || 0);
const SITE = process.argv[3] || "raven.test";
const MESSAGES = [];
const RUNS = new Map(); // conversation_id -> { user, updates }
let REALTIME_UP = true;
const STATS = { progress_polls: 0, resource_lists: 0, logins: 0, failed_logins: 0, channel_lists: 0, connects: 0, disconnects: 0, disconnect_reasons: [] };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, obj, extra = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify(obj));
  };
  if (frappeRest(req, url, send, STATS)) return;
  if (url.pathname === "/api/method/raven.api.raven_channel.get_all_channels") {
    STATS.channel_lists++;
    const who = whoIs(req.headers);
    if (who === null) return send(401, { exc_type: "AuthenticationError" });
    if (who === "Guest") return send(403, { exc_type: "PermissionError", message: "Not permitted" });
    return send(200, { message: { channels: [{ name: "general", channel_name: "General" }, { name: "engineering", channel_name: "Engineering" }] } });
  }
  if (url.pathname === "/api/resource/Raven Message" || url.pathname === "/api/resource/Raven%20Message") {
    STATS.resource_lists++;
    const who = whoIs(req.headers);
    if (who === null) return send(401, { exc_type: "AuthenticationError" });
    if (who === "Guest") return send(403, { exc_type: "PermissionError", message: "Not permitted" });
    let filters, fields;
    try {
      filters = JSON.parse(url.searchParams.get("filters") || "[]");
      fields = JSON.parse(url.searchParams.get("fields") || '["name"]');
    } catch (e) {
      return send(417, { exc_type: "ValidationError", message: String(e) });
    }
    if (!Array.isArray(filters)) filters = Object.entries(filters).map(([k, v]) => (Array.isArray(v) ? [k, v[0], v[1]] : [k, "=", v]));
    const conds = filters.map((c) => (c.length === 4 ? c.slice(1) : c));
    for (const [f, op, v] of conds) {
      if (f === "channel_id" && op === "=" && !PERMITTED.has(`Raven Channel/${v}`)) return send(403, { exc_type: "PermissionError", message: `No permission for Raven Channel ${v}` });
    }
    const cmp = { "=": (a, b) => a === b, ">": (a, b) => a > b, ">=": (a, b) => a >= b, "<": (a, b) => a < b, "<=": (a, b) => a <= b };
    let rows = MESSAGES.filter((m) => PERMITTED.has(`Raven Channel/${m.channel_id}`)).filter((m) => conds.every(([f, op, v]) => cmp[op] && cmp[op](String(m[f]), String(v))));
    const [key, dir] = (url.searchParams.get("order_by") || "creation desc").split(/\s+/);
    rows = rows.map((m, i) => [m, i]).sort((a, b) => (a[0][key] < b[0][key] ? -1 : a[0][key] > b[0][key] ? 1 : a[1] - b[1])).map(([m]) => m);
    if ((dir || "desc").toLowerCase() === "desc") rows.reverse();
    const start = Number(url.searchParams.get("limit_start") || 0);
    const len = Number(url.searchParams.get("limit_page_length") || 20);
    rows = rows.slice(start, len === 0 ? undefined : start + len);
    const data = rows.map((m) => (fields.includes("*") ? m : Object.fromEntries(fields.map((f) => [f, m[f] ?? null]))));
    return send(200, { data });
  }
  if (url.pathname === "/api/method/ai_assistant.api.get_progress") {
    STATS.progress_polls++;
    const who = whoIs(req.headers);
    if (who === null) return send(401, { exc_type: "AuthenticationError" });
    if (who === "Guest") return send(403, { exc_type: "PermissionError", message: "Not permitted" });
    const id = url.searchParams.get("conversation_id");
    if (!id) return send(417, { exc_type: "ValidationError", message: "conversation_id is required" });
    const run = RUNS.get(id);
    if (run && run.user !== who) return send(403, { exc_type: "PermissionError", message: "Not permitted" });
    return send(200, { message: { updates: run ? run.updates : [] } });
  }
  if (url.pathname === "/__test/progress" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const { conversation_id, update, user } = JSON.parse(body);
      const owner = user || "test@example.com";
      if (!RUNS.has(conversation_id)) RUNS.set(conversation_id, { user: owner, updates: [] });
      const payload = { ...update, conversation_id };
      // Recorded before it is published, as a site stores before it emits.
      RUNS.get(conversation_id).updates.push(payload);
      const room = `user:${owner}`;
      const nsp = io.of("/" + SITE);
      const n = (await nsp.in(room).fetchSockets()).length;
      nsp.to(room).emit("ai_progress", payload);
      send(200, { conversation_id, delivered_to: n });
    });
    return;
  }
  if (url.pathname === "/__test/message" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const { channel_id, text, sender } = JSON.parse(body);
      const m = newMessage(channel_id, sender || "test@example.com", text);
      MESSAGES.push(m);
      const room = `doc:Raven Channel/${channel_id}`;
      const nsp = io.of("/" + SITE);
      const n = (await nsp.in(room).fetchSockets()).length;
      nsp.to(room).emit("message_created", { channel_id, sender: m.owner, message_id: m.name, message_details: m });
      send(200, { message_id: m.name, creation: m.creation, delivered_to: n });
    });
    return;
  }
  if (url.pathname === "/__test/realtime" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      REALTIME_UP = JSON.parse(body).up !== false;
      // Engine-level close: clients see `transport close`, as when the Node process dies.
      if (!REALTIME_UP) for (const c of Object.values(io.engine.clients)) c.close();
      send(200, { up: REALTIME_UP });
    });
    return;
  }
  // The sids handed out at login, for tests that search outputs for them.
  if (url.pathname === "/__test/stats") return send(200, { ...STATS, sids: Object.keys(SESSIONS) });
  if (url.pathname === "/__test/expire" && req.method === "POST") {
    for (const k of Object.keys(SESSIONS)) if (k !== "good-sid") delete SESSIONS[k];
    return send(200, { ok: true });
  }
  if (url.pathname === "/__test/publish" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const { room, event, message } = JSON.parse(body);
      const nsp = io.of("/" + SITE);
      const n = (await nsp.in(room).fetchSockets()).length;
      nsp.to(room).emit(event, message);
      send(200, { room, delivered_to: n });
    });
    return;
  }
  if (url.pathname === "/__test/burst" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const { room, event, count } = JSON.parse(body);
      const nsp = io.of("/" + SITE);
      const n = (await nsp.in(room).fetchSockets()).length;
      // As fast as possible: one synchronous loop, seq 1..count.
      for (let i = 1; i <= count; i++) nsp.to(room).emit(event, { seq: i });
      send(200, { room, event, count, delivered_to: n });
    });
    return;
  }
  // Like the real server, other paths get no Frappe-looking answer.
  if (!url.pathname.startsWith("/socket.io")) send(404, { error: "not found" });
});

// Frappe's `creation`: local date and time with microseconds, strictly increasing here.
let lastCreation = "";
const newMessage = (channel_id, owner, text) => {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, "0");
  let creation = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
  if (creation <= lastCreation) creation = lastCreation.slice(0, -3) + p(Number(lastCreation.slice(-3)) + 1, 3);
  lastCreation = creation;
  const name = Array.from({ length: 10 }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 36)]).join("");
  const content = text.replace(/<[^>]*>/g, "");
  return { name, channel_id, owner, creation, modified: creation, modified_by: owner, text, content, message_type: "Text", file: null, is_reply: 0, linked_message: null, is_edited: 0, is_thread: 0, is_forwarded: 0, is_bot_message: 0, bot: null };
};

const io = new Server(server, {
  cors: { origin: true, credentials: true },
  // While "realtime is down" every Engine.IO request is refused; the web side answers on.
  allowRequest: (req, cb) => cb(REALTIME_UP ? null : "realtime down", REALTIME_UP),
});
const nsp = io.of(/^\/.*$/);
nsp.use((socket, next) => {
  const r = authenticate(socket.request.headers, socket.nsp.name, SITE);
  if (r.error) return next(new Error(r.error));
  socket.user = r.user;
  socket.user_type = r.user_type;
  next();
});
nsp.on("connection", (socket) => {
  STATS.connects++;
  socket.on("disconnect", (reason) => { STATS.disconnects++; STATS.disconnect_reasons.push(reason); });
  onConnection(socket);
});

server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
