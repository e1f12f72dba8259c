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
const { authenticate, onConnection, readBody: readJson, frappeRest } = require("./frappe_rules.cjs");

const num = (v) => (v === undefined || v === "" ? undefined : Number(v));
const port = Number(process.argv[2] || 0);
const SITE = process.argv[3] || "raven.test";
const PING_INTERVAL = num(process.argv[4]) ?? num(process.env.PING_INTERVAL) ?? 25000;
const PING_TIMEOUT = num(process.argv[5]) ?? num(process.env.PING_TIMEOUT) ?? 5000;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, obj, extra = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify(obj));
  };
  if (frappeRest(req, url, send)) return;
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
  const r = authenticate(socket.request.headers, socket.nsp.name, SITE);
  if (r.error) return next(new Error(r.error));
  socket.user = r.user;
  socket.user_type = r.user_type;
  next();
});
nsp.on("connection", (socket) => {
  onConnection(socket);
});

server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
