// A Frappe bench as it really is split: a realtime server (npm `socket.io` 4.7) that does NOT
// answer REST on its port, and a separate web process. The realtime side follows Frappe's
// realtime/middlewares/authenticate.js (develop): site from X-Frappe-Site-Name / default_site
// for localhost / Origin / Host, `Invalid namespace`, `Invalid origin` (hostnames of Host and
// Origin), missing credentials, then the CALLBACK: `fetch(get_url(origin) +
// "/api/method/frappe.realtime.get_user_info")` with the socket's Cookie / Authorization,
// `res.json()`, and any exception becomes `Unauthorized: ${e}` verbatim (`TypeError: fetch
// failed`, `SyntaxError: Unexpected token '<', ...` for an HTML page). get_url follows
// realtime/utils.js: `http://<SERVER_IP>` when set, else the Origin, with the port replaced by
// WEBSERVER_PORT when DEVELOPER_MODE=1. A get_user_info answer without installed_apps (socket
// secret mismatch) leaves a connected socket with no handlers: deaf. `doc_subscribe` calls
// `has_permission` back over HTTP and joins the room only when it answers `{"message": true}`,
// asynchronously (after PERMISSION_DELAY_MS on the web side), as the real server does.
//
// The web process: /api/method/ping, login (sessions without a CSRF token, as an API login
// makes), get_logged_user, frappe.realtime.get_user_info / has_permission, GET /app (the desk
// page, carrying `frappe.csrf_token` for browser sessions), and Raven's
// raven.api.raven_message.send_message: a browser session (cookie `sid=browser-sid`) must send
// `X-Frappe-CSRF-Token` or gets 400 CSRFTokenError "Invalid Request"; channel `general` is
// writable, `engineering` is 403 PermissionError, anything else 404 DoesNotExistError. A stored
// message is published as `message_created` to `doc:Raven Channel/<id>` straight into the
// realtime server (a redis-less publisher), unless NO_PUBLISH=1 (web and realtime on different
// redis: stored, never delivered).
//
// Usage: node frappe_split_server.mjs <realtime port> <web port> [site]
// Env: SERVER_IP, DEVELOPER_MODE, WEBSERVER_PORT, SECRET_MISMATCH=1, NO_PUBLISH=1,
// PERMISSION_DELAY_MS (default 150). Prints "listening <realtime port>" once both listen.
import http from "node:http";
import { Server } from "socket.io";
import rules from "./frappe_rules.cjs";

const { USERS, SESSIONS, PERMITTED, hostname, cookieSid, whoIs, readBody, frappeRest } = rules;

const rtPort = Number(process.argv[2] || 0);
const webPort = Number(process.argv[3] || 0);
const SITE = process.argv[4] || "raven.test";
const env = process.env;
const PERMISSION_DELAY_MS = Number(env.PERMISSION_DELAY_MS || 150);
SESSIONS["browser-sid"] = "test@example.com";
const CSRF = { "browser-sid": "csrf-" + Math.random().toString(36).slice(2) };

// ---- realtime process -----------------------------------------------------------------
// socket.io's own listen(): anything that is not /socket.io gets an empty 404.
const rt = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(rt, { cors: { origin: true, credentials: true } });

const getUrl = (origin, path) => {
  if (env.SERVER_IP) return `http://${env.SERVER_IP}${path}`;
  let url = origin;
  if (env.DEVELOPER_MODE === "1" && env.WEBSERVER_PORT) {
    const u = new URL(origin);
    u.port = env.WEBSERVER_PORT;
    url = u.origin;
  }
  return url + path;
};

const authHeaders = (h) => (h.authorization ? { Authorization: h.authorization } : { Cookie: `sid=${cookieSid(h.cookie)}` });

const nsp = io.of(/^\/.*$/);
nsp.use((socket, next) => {
  const h = socket.request.headers;
  const host = hostname(h.host);
  const site = h["x-frappe-site-name"] ? hostname(h["x-frappe-site-name"]) : host === "localhost" || host === "127.0.0.1" ? SITE : hostname(h.origin) || host;
  if (socket.nsp.name.slice(1) !== site) return next(new Error("Invalid namespace"));
  if (hostname(h.host) !== hostname(h.origin)) return next(new Error("Invalid origin"));
  if (!h.cookie && !h.authorization) return next(new Error("Missing cookie and authorization header. Either one needed for authentication."));
  if (!cookieSid(h.cookie) && !h.authorization) return next(new Error("No authentication method used. Use cookie or authorization header."));
  socket.callback_origin = h.origin;
  fetch(getUrl(h.origin, "/api/method/frappe.realtime.get_user_info"), { headers: authHeaders(h) })
    .then((res) => res.json())
    .then(({ message }) => {
      socket.user = message.user;
      socket.user_type = message.user_type;
      socket.installed_apps = message.installed_apps;
      next();
    })
    .catch((e) => next(new Error(`Unauthorized: ${e}`)));
});
nsp.on("connection", (socket) => {
  if (!socket.installed_apps) return; // deaf: no rooms, no handlers
  socket.join(`user:${socket.user}`);
  socket.join("website");
  if (socket.user_type === "System User") socket.join("all");
  socket.on("ping", () => socket.emit("pong"));
  const h = socket.request.headers;
  const permitted = (doctype, name) =>
    fetch(getUrl(socket.callback_origin, `/api/method/frappe.realtime.has_permission?doctype=${encodeURIComponent(doctype)}&name=${encodeURIComponent(name || "")}`), { headers: authHeaders(h) })
      .then((res) => res.json())
      .then((d) => d.message === true)
      .catch(() => false);
  socket.on("doc_subscribe", (doctype, docname) => {
    permitted(doctype, docname).then((ok) => ok && socket.join(`doc:${doctype}/${docname}`));
  });
  socket.on("doctype_subscribe", (doctype) => {
    permitted(doctype, "").then((ok) => ok && socket.join(`doctype:${doctype}`));
  });
  socket.on("doc_open", (doctype, docname) => {
    permitted(doctype, docname).then(async (ok) => {
      if (!ok) return;
      const room = `open_doc:${doctype}/${docname}`;
      socket.join(room);
      const users = [...new Set((await socket.nsp.in(room).fetchSockets()).map((s) => s.user))];
      // Frappe skips the notice when the only viewer is the socket's own user.
      if (users.length > 1 || users[0] !== socket.user) socket.nsp.to(room).emit("doc_viewers", { doctype, docname, users });
    });
  });
});

// ---- web process ----------------------------------------------------------------------
let seq = 0;
const web = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, obj, extra = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify(obj));
  };
  if (frappeRest(req, url, send)) return;
  const who = whoIs(req.headers);
  if (url.pathname === "/api/method/raven.api.raven_mobile.get_client_id") return send(200, { message: { sitename: SITE } });
  if (url.pathname === "/api/method/frappe.realtime.get_user_info") {
    if (who === null) return send(401, { exc_type: "AuthenticationError" });
    if (env.SECRET_MISMATCH === "1") return send(200, { message: { user: who } });
    const user_type = who === "Guest" ? "Website User" : USERS[who].user_type;
    return send(200, { message: { user: who, user_type, installed_apps: ["frappe", "raven"] } });
  }
  if (url.pathname === "/api/method/frappe.realtime.has_permission") {
    const key = `${url.searchParams.get("doctype")}/${url.searchParams.get("name")}`;
    const doctypeWide = `${url.searchParams.get("doctype")}/*`;
    const ok = who && who !== "Guest" && (PERMITTED.has(key) || PERMITTED.has(doctypeWide));
    setTimeout(() => (ok ? send(200, { message: true }) : send(403, { exc_type: "PermissionError" })), PERMISSION_DELAY_MS);
    return;
  }
  if (url.pathname === "/app") {
    const sid = cookieSid(req.headers.cookie);
    if (who === "Guest" || who === null) {
      res.writeHead(302, { location: "/login" });
      return res.end();
    }
    res.writeHead(200, { "content-type": "text/html" });
    const token = CSRF[sid] ? `frappe.csrf_token = "${CSRF[sid]}";` : "";
    return res.end(`<!DOCTYPE html><html><head><script>${token}</script></head><body>desk</body></html>`);
  }
  if (url.pathname === "/api/method/raven.api.raven_message.send_message" && req.method === "POST") {
    readBody(req, (body) => {
      if (who === null) return send(401, { exc_type: "AuthenticationError" });
      const sid = cookieSid(req.headers.cookie);
      if (!req.headers.authorization && CSRF[sid] && req.headers["x-frappe-csrf-token"] !== CSRF[sid]) {
        return send(400, { exception: "frappe.exceptions.CSRFTokenError: Invalid Request", exc_type: "CSRFTokenError", _server_messages: JSON.stringify([JSON.stringify({ message: "Invalid Request" })]) });
      }
      if (who === "Guest") return send(403, { exc_type: "PermissionError", message: "Not permitted" });
      const f = new URLSearchParams(body);
      const channel = f.get("channel_id");
      if (channel === "engineering") return send(403, { exc_type: "PermissionError", exception: `frappe.exceptions.PermissionError: No permission for Raven Channel ${channel}` });
      if (!PERMITTED.has(`Raven Channel/${channel}`)) return send(404, { exc_type: "DoesNotExistError", exception: `frappe.exceptions.DoesNotExistError: Raven Channel ${channel} not found` });
      const name = "m" + String(++seq).padStart(9, "0");
      const doc = { name, channel_id: channel, text: f.get("text"), owner: who, message_type: "Text" };
      if (env.NO_PUBLISH !== "1") io.of("/" + SITE).to(`doc:Raven Channel/${channel}`).emit("message_created", { channel_id: channel, sender: who, message_id: name, message_details: doc });
      send(200, { message: doc });
    });
    return;
  }
  send(404, { exc_type: "DoesNotExistError" });
});

web.listen(webPort, "127.0.0.1", () => {
  rt.listen(rtPort, "127.0.0.1", () => {
    console.log(`listening ${rt.address().port}`);
    console.error(`web on ${web.address().port}`);
  });
});
