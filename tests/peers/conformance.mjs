// The simulator conformance checklist (simulator-spec.md §10), run with node socket.io-client.
// Usage: node conformance.mjs <v16 simulator URL> <v15 simulator URL>
// The v16 simulator must serve sites raven.test and other.test. Prints one line per item and
// exits 1 if any item fails.
import { io } from "socket.io-client";

const [V16, V15] = process.argv.slice(2);
const USER = "test@example.com";
const TIMEOUT = 4000;
const results = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function control(base, path, body) {
  const r = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return r.json();
}
const publish = (body, base = V16) => control(base, "/__sim/publish", body);

// Open a client; resolves {socket} on connect or {error} on connect_error.
function open(base, { ns = "/raven.test", headers = {}, transports = ["polling", "websocket"], origin = base } = {}) {
  const h = { ...headers };
  if (origin !== null && !("origin" in h)) h.origin = origin;
  const socket = io(base + ns, { transports, extraHeaders: h, reconnection: false, forceNew: true, timeout: TIMEOUT });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ error: "timeout", socket }), TIMEOUT);
    socket.on("connect", () => { clearTimeout(t); resolve({ socket }); });
    socket.on("connect_error", (e) => { clearTimeout(t); socket.close(); resolve({ error: e.message, socket }); });
  });
}
function next(socket, event, ms = TIMEOUT) {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    socket.once(event, (...args) => { clearTimeout(t); resolve(args.length ? args : [null]); });
  });
}
async function silent(socket, event, ms = 400) {
  return (await next(socket, event, ms)) === undefined;
}

async function check(n, label, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${n} ${label}`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${n} ${label}: ${e.message}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(a, b, msg) { if (a !== b) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }

async function receivesBoth(headers) {
  const { socket, error } = await open(V16, { headers });
  assert(!error, `connect failed: ${error}`);
  socket.emit("doc_subscribe", "Raven Channel", "general");
  await sleep(150);
  const m = next(socket, "message_created");
  const r = await publish({ event: "message_created", doctype: "Raven Channel", docname: "general", message: { channel_id: "general", text: "hi" } });
  eq(r.room, "doc:Raven Channel/general", "room");
  assert((await m)?.[0]?.text === "hi", "no message_created in the channel room");
  const a = next(socket, "ai_progress");
  await publish({ event: "ai_progress", user: USER, message: { type: "thinking", message: "x" } });
  eq((await a)?.[0]?.type, "thinking", "ai_progress");
  socket.close();
}

await check(1, "cookie sid → message_created after doc_subscribe, ai_progress for the user", () => receivesBoth({ cookie: "sid=good-sid" }));
await check(2, "token key:secret (no cookie) → same; Bearer → same", async () => {
  await receivesBoth({ authorization: "token key:secret" });
  await receivesBoth({ authorization: "Bearer good-bearer" });
});
await check(3, "no cookie, no auth → Missing cookie and authorization header…", async () => {
  eq((await open(V16)).error, "Missing cookie and authorization header. Either one needed for authentication.", "error");
});
await check(4, "cookie without sid → No authentication method used…", async () => {
  eq((await open(V16, { headers: { cookie: "theme=dark" } })).error, "No authentication method used. Use cookie or authorization header.", "error");
});
await check(5, "Origin ≠ Host, or no Origin → Invalid origin", async () => {
  eq((await open(V16, { headers: { cookie: "sid=good-sid", "x-frappe-site-name": "raven.test" }, origin: "http://evil.example" })).error, "Invalid origin", "wrong origin");
  eq((await open(V16, { headers: { cookie: "sid=good-sid" }, origin: null })).error, "Invalid origin", "no origin");
});
await check(6, "unknown sid → Guest: pong, ice, website + user:Guest events only", async () => {
  const { socket, error } = await open(V16, { headers: { cookie: "sid=nobody" } });
  assert(!error, error);
  const pong = next(socket, "pong"); socket.emit("ping"); assert(await pong, "no pong");
  const ice = next(socket, "ice"); socket.emit("fire"); assert(await ice, "no ice");
  socket.emit("doc_subscribe", "Raven Channel", "general");
  await sleep(150);
  const got = [];
  socket.onAny((ev, msg) => got.push(msg?.tag));
  for (const [room, tag] of [["user:test@example.com", "user"], ["doc:Raven Channel/general", "doc"], ["website", "website"], ["user:Guest", "guest"]]) {
    await publish({ event: "probe", room, message: { tag } });
  }
  await sleep(300);
  eq(got.sort().join(","), "guest,website", "events heard");
  socket.close();
});
await check(7, "bad token → Unauthorized: TypeError: Cannot read properties…", async () => {
  eq((await open(V16, { headers: { authorization: "token key:wrong" } })).error, "Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')", "error");
});
await check(8, "namespace /other.site → Invalid namespace; / connects and hears nothing", async () => {
  eq((await open(V16, { ns: "/other.site", headers: { cookie: "sid=good-sid" } })).error, "Invalid namespace", "error");
  const { socket, error } = await open(V16, { ns: "/", headers: { cookie: "sid=good-sid" } });
  assert(!error, error);
  socket.emit("ping");
  assert(await silent(socket, "pong", 500), "pong on /");
  socket.close();
});
await check(9, "polling-only and websocket-only work; websocket with a duplicated Origin fails to parse", async () => {
  for (const transports of [["polling"], ["websocket"]]) {
    const { socket, error } = await open(V16, { transports, headers: { cookie: "sid=good-sid" } });
    assert(!error, `${transports}: ${error}`);
    eq(socket.io.engine.transport.name, transports[0], "transport");
    socket.close();
  }
  const { error } = await open(V16, { transports: ["websocket"], headers: { cookie: "sid=good-sid", origin: [V16, V16] } });
  eq(error, `Unauthorized: TypeError: Failed to parse URL from ${V16}, ${V16}/api/method/frappe.realtime.get_user_info`, "duplicate origin");
});
await check(10, "doc_subscribe to a non-permitted doc → silence; user-room events still arrive", async () => {
  const { socket, error } = await open(V16, { headers: { cookie: "sid=good-sid" } });
  assert(!error, error);
  socket.emit("doc_subscribe", "Raven Channel", "secret-room");
  assert(await silent(socket, "connect_error", 300), "an error was sent");
  const r = await publish({ event: "message_created", doctype: "Raven Channel", docname: "secret-room", message: {} });
  eq(r.delivered_to, 0, "delivered");
  const a = next(socket, "ai_progress");
  await publish({ event: "ai_progress", user: USER, message: { type: "complete" } });
  assert(await a, "user room");
  socket.close();
});
await check(11, "X-Frappe-Site-Name with localhost Host/Origin → connect", async () => {
  const local = V16.replace("127.0.0.1", "localhost");
  const { socket, error } = await open(local, { headers: { cookie: "sid=good-sid", "x-frappe-site-name": "raven.test" } });
  assert(!error, error);
  socket.close();
});
await check(12, "all → System Users only; no room → every site; another user's room → nobody else", async () => {
  await control(V16, "/__sim/sessions", { sid: "web-sid", user: "website@example.com" });
  const sys = (await open(V16, { headers: { cookie: "sid=good-sid" } })).socket;
  const web = (await open(V16, { headers: { cookie: "sid=web-sid" } })).socket;
  const other = await open(V16, { ns: "/other.test", headers: { cookie: "sid=good-sid", "x-frappe-site-name": "other.test" } });
  assert(!other.error, `other.test: ${other.error}`);
  const s1 = next(sys, "to_all"), w1 = silent(web, "to_all");
  const r = await publish({ event: "to_all", message: {} });
  eq(r.room, "all", "room"); assert(await s1, "system user missed all"); assert(await w1, "website user got all");
  const hears = [sys, web, other.socket].map((s) => next(s, "everyone", 1500));
  await publish({ event: "everyone", message: { x: 1 }, room: null, namespace: "raven.test" });
  assert((await Promise.all(hears)).every(Boolean), "a null room must reach every socket of every site");
  const mine = silent(sys, "private");
  const pr = await publish({ event: "private", user: "alice@example.com", message: {} });
  eq(pr.delivered_to, 0, "alice is not connected");
  assert(await mine, "another user's event leaked");
  [sys, web, other.socket].forEach((s) => s.close());
});
await check(13, "restart → reconnect; only user-room events until doc_subscribe is re-emitted", async () => {
  const socket = io(V16 + "/raven.test", { extraHeaders: { origin: V16, cookie: "sid=good-sid" }, forceNew: true, reconnectionDelay: 200, reconnectionDelayMax: 400 });
  await next(socket, "connect");
  socket.emit("doc_subscribe", "Raven Channel", "general");
  await sleep(150);
  // The Manager's "reconnect" fires when the engine is open; the namespace is back on "connect".
  const back = new Promise((r) => socket.io.once("reconnect", () => socket.once("connect", r)));
  await control(V16, "/__sim/restart", { down_ms: 300 });
  await Promise.race([back, sleep(8000)]);
  assert(socket.connected, "did not reconnect");
  const lost = silent(socket, "message_created", 500);
  await publish({ event: "message_created", doctype: "Raven Channel", docname: "general", message: {} });
  assert(await lost, "the doc room survived the restart");
  const a = next(socket, "ai_progress");
  await publish({ event: "ai_progress", user: USER, message: { type: "thinking" } });
  assert(await a, "user room not rejoined");
  socket.emit("doc_subscribe", "Raven Channel", "general");
  await sleep(150);
  const m = next(socket, "message_created");
  await publish({ event: "message_created", doctype: "Raven Channel", docname: "general", message: {} });
  assert(await m, "re-subscribe did not work");
  socket.close();
});
await check(14, "v15: token-only → No cookie transmitted.; cookie + token → the sid wins", async () => {
  eq((await open(V15, { headers: { authorization: "token key:secret" } })).error, "No cookie transmitted.", "token only");
  const { socket, error } = await open(V15, { headers: { cookie: "sid=expired", authorization: "token key:secret" } });
  assert(!error, error);
  const a = silent(socket, "ai_progress", 500);
  await publish({ event: "ai_progress", user: USER, message: {} }, V15);
  assert(await a, "the token won over the sid");
  const g = next(socket, "guest_only");
  await publish({ event: "guest_only", user: "Guest", message: {} }, V15);
  assert(await g, "not Guest");
  socket.close();
});

const failed = results.filter((r) => !r).length;
console.log(`${results.length - failed}/${results.length} conformance items passed (node socket.io-client)`);
process.exit(failed ? 1 : 0);
