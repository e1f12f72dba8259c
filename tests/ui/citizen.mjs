// The app as a good citizen of a real site, end to end: the `sockeye` binary with its window
// open (under Xvfb), one login environment (user + password) on the independent node
// `socket.io` peer, which counts what it answers. For CITIZEN_SECS (default 60) the app must
// log in once and list channels at most once (the picker is not opened: zero); then SIGTERM
// must close the socket (the peer sees a client namespace disconnect) and end the process
// within 2 s. The app runs with logging at trace level (SOCKEYE_LOG=trace) and a distinctive
// password: neither it nor the sid the login got may appear in the app's log or in any file
// the app wrote (config, state), the app's half of crates/cli/tests/secret_sweep.rs.
//
// Environment (set by tests/ui/run.sh): SOCKEYE_BIN. Prints "N passed, M failed".
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SECS = Number(process.env.CITIZEN_SECS || 60);
const PASSWORD = "citizen-pw-4e7b1d";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let passed = 0, failed = 0;
function check(label, ok, detail) {
  if (ok) { passed++; console.log(`ok   ${label}`); } else { failed++; console.log(`FAIL ${label}: ${detail}`); }
}

// The peer, on a free port it picks itself.
const peer = spawn("node", ["frappe_like_server.mjs", "0"], { cwd: new URL("../peers/", import.meta.url).pathname, env: { ...process.env, PEER_PASSWORD: PASSWORD }, stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("peer did not start")), 20000);
  peer.stdout.on("data", (d) => { const m = String(d).match(/listening (\d+)/); if (m) { clearTimeout(t); resolve(Number(m[1])); } });
});
const stats = () => fetch(`http://127.0.0.1:${port}/__test/stats`).then((r) => r.json());

const dir = mkdtempSync(join(tmpdir(), "sockeye-citizen-"));
writeFileSync(join(dir, "config.toml"), `[[profile]]
name = "peer"
url = "http://127.0.0.1:${port}"
site = "raven.test"
[profile.auth]
method = "login"
user = "test@example.com"
`);
const app = spawn(process.env.SOCKEYE_BIN, [], {
  env: { ...process.env, SOCKEYE_CONFIG: join(dir, "config.toml"), SOCKEYE_SECRET_PEER: PASSWORD, SOCKEYE_LOG: "trace", XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir, XDG_STATE_HOME: dir, XDG_CACHE_HOME: dir },
  stdio: ["ignore", "pipe", "pipe"],
});
let log = "";
for (const s of [app.stdout, app.stderr]) s.on("data", (d) => { log += d; });
/** Every file under `d`, as text. */
const filesUnder = (d) => readdirSync(d).flatMap((n) => {
  const p = join(d, n);
  return statSync(p).isDirectory() ? filesUnder(p) : [[p, readFileSync(p, "latin1")]];
});
let exitedAt = null;
app.on("exit", () => { exitedAt = Date.now(); });

try {
  const end = Date.now() + 30000;
  let s = await stats();
  while (s.connects < 1 && Date.now() < end) { await sleep(200); s = await stats(); }
  check("the app connects to the login environment", s.connects >= 1, JSON.stringify(s));
  console.log(`     watching ${SECS} s with the window open…`);
  await sleep(SECS * 1000);
  s = await stats();
  check(`one login in ${SECS} s`, s.logins === 1, JSON.stringify(s));
  check(`no channel list without the picker opened`, s.channel_lists === 0, JSON.stringify(s));
  check("one connection, never dropped", s.connects === 1 && s.disconnects === 0, JSON.stringify(s));

  const t0 = Date.now();
  app.kill("SIGTERM");
  while (exitedAt === null && Date.now() - t0 < 5000) await sleep(20);
  const took = (exitedAt ?? Date.now()) - t0;
  check("SIGTERM: the process is gone within 2 s", exitedAt !== null && took <= 2000, `took ${took} ms`);
  s = await stats();
  check("SIGTERM: the server saw the client disconnect its namespace", s.disconnects === 1 && s.disconnect_reasons[0] === "client namespace disconnect", JSON.stringify(s));

  if (process.env.CITIZEN_LOG) writeFileSync(process.env.CITIZEN_LOG, log);
  const secrets = [PASSWORD, ...s.sids.filter((x) => x !== "good-sid")];
  check("the login got a sid of its own", secrets.length === 2, JSON.stringify(s.sids));
  check("logging was at trace level", log.length > 2000 && log.includes(" TRACE "), `${log.length} bytes of log`);
  const where = [["the app's log", log], ...filesUnder(dir)];
  const leaks = where.flatMap(([w, text]) => secrets.filter((x) => text.includes(x)).map((x) => `${x} in ${w}`));
  check("no secret in the app's trace log or in any file it wrote", leaks.length === 0, leaks.join("; "));
} catch (e) {
  failed++;
  console.log(`FAIL ${e.message}`);
} finally {
  if (exitedAt === null) app.kill("SIGKILL");
  peer.kill("SIGKILL");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
