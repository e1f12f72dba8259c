// The Frappe-style realtime server of frappe_like_server.mjs, but on the real npm `socket.io` 2.x
// (installed under the alias `socket.io-v2`): Engine.IO protocol 3 (EIO=3, `len:packet` polling
// framing, client-sent pings) and Socket.IO protocol v4 (the default namespace is connected by
// the server, a namespace refusal is the ERROR packet `44/<ns>,"message"` with a string payload).
// This is what older Frappe sites (socket.io 2.x realtime) speak. Nothing here fakes the library:
// every packet on the wire is socket.io 2.x's own.
//
// Usage: node frappe_like_server_v2.cjs <port> [site] [pingInterval ms] [pingTimeout ms]
// Env PING_INTERVAL / PING_TIMEOUT (ms) are used when the argv values are absent.
// Defaults: port 0 (ephemeral), site raven.test, pingInterval 25000, pingTimeout 5000.
// Prints "listening <port>" on stdout when ready.
//
// HTTP: POST /api/method/login (form usr, pwd), GET /api/method/frappe.auth.get_logged_user,
// POST /__test/publish {room, event, message}, POST /__test/burst {room, event, count}.
// Socket.IO handlers: ping -> pong, doc_subscribe, doctype_subscribe, echo_ack (calls the
// client's ack with the event's own arguments).
"use strict";
const http = require("node:http");
const socketio = require("socket.io-v2");

const num = (v) => (v === undefined || v === "" ? undefined : Number(v));
const port = Number(process.argv[2] || 0);
const SITE = process.argv[3] || "raven.test";
const PING_INTERVAL = num(process.argv[4]) ?? num(process.env.PING_INTERVAL) ?? 25000;
const PING_TIMEOUT = num(process.argv[5]) ?? num(process.env.PING_TIMEOUT) ?? 5000;
const USERS = { "test@example.com": { password: "admin", user_type: "System User" } };
const SESSIONS = { "good-sid": "test@example.com" };
const TOKENS = { "key:secret": "test@example.com" };
const PERMITTED = new Set(["Raven Channel/general", "Raven User/*"]);

const hostname = (v) => {
  if (!v) return undefined;
  let rest = v.includes("://") ? v.split("://")[1] : v;
  return rest.split("/")[0].split(":")[0];
};
const cookieSid = (cookie) => {
  for (const kv of (cookie || "").split(";")) {
    const [k, v] = kv.trim().split("=");
    if (k === "sid") return v;
  }
  return undefined;
};
// Who a request is: a two-part Authorization must validate (else null = rejected),
// otherwise the sid resolves or silently becomes Guest.
const whoIs = (headers) => {
  const auth = headers["authorization"];
  if (auth) {
    const parts = auth.split(" ");
    if (parts.length !== 2) return null;
    if (parts[0].toLowerCase() === "token") return TOKENS[parts[1]] || null;
    return null;
  }
  return SESSIONS[cookieSid(headers["cookie"])] || "Guest";
};

const readJson = (req, cb) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => cb(body));
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, obj, extra = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify(obj));
  };
  if (url.pathname === "/api/method/login" && req.method === "POST") {
    readJson(req, (body) => {
      const f = new URLSearchParams(body);
      const u = USERS[f.get("usr")];
      if (!u || u.password !== f.get("pwd")) return send(401, { message: "Invalid login credentials", exc_type: "AuthenticationError" });
      const sid = "sid" + Math.random().toString(36).slice(2);
      SESSIONS[sid] = f.get("usr");
      send(200, { message: "Logged In" }, { "set-cookie": `sid=${sid}; Path=/; HttpOnly` });
    });
    return;
  }
  if (url.pathname === "/api/method/frappe.auth.get_logged_user") {
    const who = whoIs(req.headers);
    if (who === null) return send(401, { exc_type: "AuthenticationError" });
    if (who === "Guest") return send(403, { exc_type: "PermissionError" });
    return send(200, { message: who });
  }
  if (url.pathname === "/__test/publish" && req.method === "POST") {
    readJson(req, (body) => {
      const { room, event, message } = JSON.parse(body);
      const nsp = io.of("/" + SITE);
      nsp.in(room).clients((err, ids) => {
        nsp.to(room).emit(event, message);
        send(200, { room, delivered_to: err ? 0 : ids.length });
      });
    });
    return;
  }
  if (url.pathname === "/__test/burst" && req.method === "POST") {
    readJson(req, (body) => {
      const { room, event, count } = JSON.parse(body);
      const nsp = io.of("/" + SITE);
      nsp.in(room).clients((err, ids) => {
        // As fast as possible: one synchronous loop, seq 1..count.
        for (let i = 1; i <= count; i++) nsp.to(room).emit(event, { seq: i });
        send(200, { room, event, count, delivered_to: err ? 0 : ids.length });
      });
    });
    return;
  }
  // Like the real server, other paths get no Frappe-looking answer. (socket.io 2.x attaches its
  // own request listener ahead of this one for /socket.io/ paths.)
  if (!url.pathname.startsWith("/socket.io")) send(404, { error: "not found" });
});

// origins '*:*' = accept any Origin at the Engine.IO level (socket.io 2.x's default); the
// Frappe-style Origin check is the namespace middleware below, as in Frappe itself.
const io = socketio(server, { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, origins: "*:*" });
const nsp = io.of(/^\/.*$/);
nsp.use((socket, next) => {
  const h = socket.request.headers;
  const host = hostname(h.host);
  let site = h["x-frappe-site-name"] ? hostname(h["x-frappe-site-name"]) : host === "localhost" || host === "127.0.0.1" ? SITE : hostname(h.origin) || host;
  if (socket.nsp.name.slice(1) !== site) return next(new Error("Invalid namespace"));
  if (hostname(h.host) !== hostname(h.origin)) return next(new Error("Invalid origin"));
  if (!h.cookie && !h.authorization) return next(new Error("Missing cookie and authorization header. Either one needed for authentication."));
  if (!cookieSid(h.cookie) && !h.authorization) return next(new Error("No authentication method used. Use cookie or authorization header."));
  const who = whoIs(h);
  if (who === null) return next(new Error("Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')"));
  socket.user = who;
  socket.user_type = who === "Guest" ? "Website User" : USERS[who].user_type;
  next();
});
nsp.on("connection", (socket) => {
  socket.join(`user:${socket.user}`);
  socket.join("website");
  if (socket.user_type === "System User") socket.join("all");
  socket.on("ping", () => socket.emit("pong"));
  socket.on("doc_subscribe", (doctype, docname) => {
    if (socket.user !== "Guest" && (PERMITTED.has(`${doctype}/${docname}`) || PERMITTED.has(`${doctype}/*`))) socket.join(`doc:${doctype}/${docname}`);
  });
  socket.on("doctype_subscribe", (doctype) => {
    if (socket.user !== "Guest" && PERMITTED.has(`${doctype}/*`)) socket.join(`doctype:${doctype}`);
  });
  socket.on("echo_ack", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
});

server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
