// Closing the window to the tray and showing it again, the way a user does, for the UI test
// and the UI benchmark; and what the app's processes weigh.
// - close: WM_DELETE_WINDOW to the window (x11_close.py), as a window manager's close button
//   sends it (Xvfb runs none). Not WebDriver's "close window", which ends the app.
// - show: a second launch of the binary; the app is single-instance, and the first instance
//   shows its window.
// WebDriver survives both: the re-created window is a new handle in the same session.
import fs from "node:fs";
import { execFileSync, spawn } from "node:child_process";

const HERE = new URL(".", import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procs() {
  const out = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.push({ pid: Number(pid), ppid, comm });
    } catch {}
  }
  return out;
}
const kind = (comm) => comm === "sockeye" ? "sockeye" : comm === "sockeye-window" ? "sockeye-window" : comm.startsWith("WebKitWebProces") ? "WebKitWebProcess" : comm.startsWith("WebKitNetworkPr") ? "WebKitNetworkProcess" : null;

// The binary under test: another Sockeye on the machine (a soak, the user's own tray app) is
// not the app these tests drive.
const BIN = process.env.SOCKEYE_BIN ? fs.realpathSync(process.env.SOCKEYE_BIN) : null;
function runs(pid, bin) {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "") === bin;
  } catch { return false; }
}

/** The running app (the oldest `sockeye` process of the binary under test: a second launch
 * exits at once). */
export function appPid() {
  const apps = procs().filter((p) => p.comm === "sockeye" && (!BIN || runs(p.pid, BIN))).map((p) => p.pid).sort((a, b) => a - b);
  return apps[0] ?? null;
}
/** The window's processes the app started, by kind: its window process (`sockeye-window`)
 * and that one's WebKit processes. */
export function webkitChildren(pid) {
  const all = procs();
  const out = [];
  let parents = new Set([pid]);
  while (parents.size) {
    const next = new Set();
    for (const p of all) {
      if (parents.has(p.ppid) && kind(p.comm) && kind(p.comm) !== "sockeye") {
        out.push({ pid: p.pid, kind: kind(p.comm) });
        next.add(p.pid);
      }
    }
    parents = next;
  }
  return out;
}

/** PSS (shared pages split among their users) of the app, its window process and their
 * WebKit processes, in MB. */
export function pssMb(pid = appPid()) {
  const out = { total: 0, by: {} };
  const mine = [{ pid, kind: "sockeye" }, ...webkitChildren(pid)];
  for (const p of mine) {
    try {
      const kb = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p.pid}/smaps_rollup`, "utf8"))[1]);
      out.by[p.kind] = Math.round(((out.by[p.kind] || 0) + kb / 1024) * 10) / 10;
      out.total = Math.round((out.total + kb / 1024) * 10) / 10;
    } catch {}
  }
  return out;
}

/** Close the window as a user does; resolves when the app's web process has exited. */
export async function closeWindow(pid = appPid(), ms = 10000) {
  execFileSync("python3", [`${HERE}x11_close.py`, "Sockeye"]);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!webkitChildren(pid).some((p) => p.kind === "WebKitWebProcess")) return true;
    await sleep(50);
  }
  return false;
}

/** Show the window as a user does (a second launch); resolves with the launch's start time
 * (wall clock) once the second process has handed over and exited. */
export async function showWindow(bin) {
  const t0 = Date.now();
  const second = spawn(bin, [], { stdio: "ignore" });
  const code = await new Promise((r) => second.on("exit", r));
  if (code !== 0) throw new Error(`the second launch exited with ${code}`);
  return t0;
}

// The tray icon, as a desktop's StatusNotifierItem host sees it: over the session bus
// (dbus-send), the item's properties and its com.canonical.dbusmenu menu.
const dbus = (...args) => execFileSync("dbus-send", ["--session", "--print-reply", ...args], { encoding: "utf8" });

/** The bus name of the app's tray item (`org.kde.StatusNotifierItem-<pid>-<n>`), or null. */
export function trayItem(pid = appPid()) {
  const names = dbus("--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames");
  return new RegExp(`"(org\\.kde\\.StatusNotifierItem-${pid}-\\d+)"`).exec(names)?.[1] ?? null;
}

/** A string property of the tray item (Title, Status, Id…). */
export function trayProp(item, prop) {
  const out = dbus(`--dest=${item}`, "/StatusNotifierItem", "org.freedesktop.DBus.Properties.Get", "string:org.kde.StatusNotifierItem", `string:${prop}`);
  return /string "([^"]*)"/.exec(out)?.[1] ?? null;
}

/** The tray menu's items with a label, in order: [{ id, label }]. */
export function trayMenu(item) {
  const out = dbus(`--dest=${item}`, "/MenuBar", "com.canonical.dbusmenu.GetLayout", "int32:0", "int32:-1", "array:string:label");
  const items = [];
  const re = /int32 (\d+)\s*array \[\s*dict entry\(\s*string "label"\s*variant\s*string "([^"]*)"/g;
  for (let m; (m = re.exec(out)); ) items.push({ id: Number(m[1]), label: m[2] });
  return items;
}

/** Click a tray menu item, as the desktop's tray host does. */
export function trayClick(item, id) {
  dbus(`--dest=${item}`, "/MenuBar", "com.canonical.dbusmenu.Event", `int32:${id}`, "string:clicked", "variant:int32:0", "uint32:0");
}
