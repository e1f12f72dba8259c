// Reference client for the benchmark: node socket.io-client 4.x doing the same workload as
// Sockeye (connect to the site namespace with the same credentials, subscribe to the same
// room, count and timestamp every event).
// Usage: node bench_client.mjs <url> <transport websocket|polling> <event> <n> [channel]
// Prints "ready" once subscribed, then one JSON line with the results after n events.
// With n = 0 it streams instead, for the reconnect benchmark: reconnection on (the library's
// defaults), one line "e <wall clock µs>" per event, forever.
import fs from "node:fs";
import { io } from "socket.io-client";

// The same output work as `sockeye-cli watch --json`: one JSON line per event, written to a
// buffered sink (here /dev/null, so the disk is not what is measured).
const sink = fs.createWriteStream("/dev/null", { highWaterMark: 1 << 16 });

const [url, transport, event, nStr, channel] = process.argv.slice(2);
const n = Number(nStr);
const socket = io(`${url}/raven.test`, {
  transports: transport === "polling" ? ["polling"] : ["websocket"],
  extraHeaders: { origin: url, cookie: "sid=good-sid" },
  reconnection: n === 0,
});
let count = 0, first = 0, last = 0, cpu0 = null, cpu = 0;
const lat = [];
socket.on("connect", () => {
  if (channel) socket.emit("doc_subscribe", "Raven Channel", channel);
  setTimeout(() => console.log("ready"), 200);
});
socket.on("connect_error", (e) => { console.error(e.message); process.exit(2); });
// Wall clock in microseconds (Date.now() alone has millisecond resolution).
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
socket.on(event, (msg) => {
  const now = nowUs();
  if (n === 0) { process.stdout.write(`e ${now}\n`); return; }
  sink.write(JSON.stringify({ kind: "event", name: event, payload: msg, received_at: now }) + "\n");
  if (count === 0) { first = now; cpu0 = process.cpuUsage(); }
  last = now;
  count++;
  if (msg && msg.emitted_at_us) lat.push(now - msg.emitted_at_us);
  if (count === n) {
    // The process's CPU (user + system, every thread) from the first event to the last.
    const used = process.cpuUsage(cpu0);
    cpu = used.user + used.system;
    // Leave the server (over polling, an exit alone leaves the socket there until its ping
    // timeout), and exit only once the line is flushed: process.exit() truncates piped stdout.
    socket.disconnect();
    process.stdout.write(JSON.stringify({ count, first_us: first, last_us: last, cpu_us: cpu, lat_us: lat }) + "\n", () => setTimeout(() => process.exit(0), 100));
  }
});
