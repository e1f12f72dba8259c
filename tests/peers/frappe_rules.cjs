// What both Frappe-style peers (frappe_like_server.mjs on socket.io 4, frappe_like_server_v2.cjs
// on socket.io 2) share: the known users and credentials, Frappe's authentication middleware
// (realtime/middlewares/authenticate.js: the checks, their order and their exact messages),
// the rooms joined on connect and the handlers of realtime/handlers.js, and the REST calls a
// client makes (login, get_logged_user). One copy, so the two servers cannot drift apart.
"use strict";

// PEER_PASSWORD: a distinctive password, for tests that search outputs for it.
const USERS = { "test@example.com": { password: process.env.PEER_PASSWORD || "admin", user_type: "System User" } };
const SESSIONS = { "good-sid": "test@example.com" };
const TOKENS = { "key:secret": "test@example.com" };
const PERMITTED = new Set(["Raven Channel/general", "Raven User/*"]);

const hostname = (v) => {
  if (!v) return undefined;
  const rest = v.includes("://") ? v.split("://")[1] : v;
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

// The middleware: an error message (to refuse the namespace with), or who the socket is.
const authenticate = (h, namespace, defaultSite) => {
  const host = hostname(h.host);
  const site = h["x-frappe-site-name"] ? hostname(h["x-frappe-site-name"]) : host === "localhost" || host === "127.0.0.1" ? defaultSite : hostname(h.origin) || host;
  if (namespace.slice(1) !== site) return { error: "Invalid namespace" };
  if (hostname(h.host) !== hostname(h.origin)) return { error: "Invalid origin" };
  if (!h.cookie && !h.authorization) return { error: "Missing cookie and authorization header. Either one needed for authentication." };
  if (!cookieSid(h.cookie) && !h.authorization) return { error: "No authentication method used. Use cookie or authorization header." };
  const who = whoIs(h);
  if (who === null) return { error: "Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')" };
  return { user: who, user_type: who === "Guest" ? "Website User" : USERS[who].user_type };
};

// Rooms and handlers of a connected socket (`socket.user`, `socket.user_type` set).
const onConnection = (socket) => {
  socket.join(`user:${socket.user}`);
  socket.join("website");
  if (socket.user_type === "System User") socket.join("all");
  socket.on("ping", () => socket.emit("pong"));
  // Not Frappe's: calls the client's ack with the event's own arguments (emit tests).
  socket.on("echo_ack", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("doc_subscribe", (doctype, docname) => {
    if (socket.user !== "Guest" && (PERMITTED.has(`${doctype}/${docname}`) || PERMITTED.has(`${doctype}/*`))) socket.join(`doc:${doctype}/${docname}`);
  });
  socket.on("doctype_subscribe", (doctype) => {
    if (socket.user !== "Guest" && PERMITTED.has(`${doctype}/*`)) socket.join(`doctype:${doctype}`);
  });
};

const readBody = (req, cb) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => cb(body));
};

// POST /api/method/login, GET /api/method/ping and GET /api/method/frappe.auth.get_logged_user;
// true when handled.
// `stats` (optional) counts logins and failed logins.
const frappeRest = (req, url, send, stats) => {
  if (url.pathname === "/api/method/login" && req.method === "POST") {
    readBody(req, (body) => {
      if (stats) stats.logins++;
      const f = new URLSearchParams(body);
      const u = USERS[f.get("usr")];
      if (!u || u.password !== f.get("pwd")) {
        if (stats) stats.failed_logins++;
        return send(401, { message: "Invalid login credentials", exc_type: "AuthenticationError" });
      }
      const sid = "sid" + Math.random().toString(36).slice(2);
      SESSIONS[sid] = f.get("usr");
      send(200, { message: "Logged In" }, { "set-cookie": `sid=${sid}; Path=/; HttpOnly` });
    });
    return true;
  }
  if (url.pathname === "/api/method/ping") {
    send(200, { message: "pong" });
    return true;
  }
  if (url.pathname === "/api/method/frappe.auth.get_logged_user") {
    const who = whoIs(req.headers);
    if (who === null) send(401, { exc_type: "AuthenticationError" });
    else if (who === "Guest") send(403, { exc_type: "PermissionError" });
    else send(200, { message: who });
    return true;
  }
  return false;
};

module.exports = { USERS, SESSIONS, TOKENS, PERMITTED, hostname, cookieSid, whoIs, authenticate, onConnection, readBody, frappeRest };
