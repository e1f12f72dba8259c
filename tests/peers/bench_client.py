"""Reference client for the benchmark: python-socketio's asyncio client doing the same workload
as Sockeye (site namespace, same credentials, same room, count and timestamp every event).

Usage: bench_client.py <url> <transport websocket|polling> <event> <n> [channel]
Prints "ready" once subscribed, then one JSON line with the results after n events.
With n = 0 it streams instead, for the reconnect benchmark: reconnection on (the library's
defaults), one line "e <wall clock µs>" per event, forever.
"""
import asyncio
import json
import sys
import time

import engineio
import socketio

# python-engineio refuses poll responses of more than 16 packets by default ("Unexpected
# packet from server, aborting"), so out of the box it cannot follow a burst over polling.
# Raise the limit so the benchmark measures throughput rather than that guard.
engineio.payload.Payload.max_decode_packets = 1_000_000

url, transport, event, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
channel = sys.argv[5] if len(sys.argv) > 5 else None
ns = "/raven.test"


async def main():
    # The same output work as `sockeye-cli watch --json`: one JSON line per event, written to
    # a buffered sink (/dev/null, so the disk is not what is measured).
    sink = open("/dev/null", "w", buffering=1 << 16)
    stream = n == 0
    sio = socketio.AsyncClient(reconnection=stream)
    done = asyncio.Event()
    state = {"count": 0, "first": 0, "last": 0, "cpu0": 0, "cpu": 0, "lat": []}

    @sio.on(event, namespace=ns)
    async def on_event(msg):
        now = time.time_ns() // 1000
        if stream:
            print(f"e {now}", flush=True)
            return
        sink.write(json.dumps({"kind": "event", "name": event, "payload": msg, "received_at": now}) + "\n")
        if state["count"] == 0:
            state["first"] = now
            state["cpu0"] = time.process_time_ns()
        state["last"] = now
        state["count"] += 1
        if isinstance(msg, dict) and "emitted_at_us" in msg:
            state["lat"].append(now - msg["emitted_at_us"])
        if state["count"] == n:
            # The process's CPU (user + system, every thread) from the first event to the last.
            state["cpu"] = (time.process_time_ns() - state["cpu0"]) // 1000
            done.set()

    # Headers as a callable: python-engineio deletes the Cookie from a headers dict on the
    # WebSocket upgrade, so a dict would reconnect without the session.
    async def headers():
        return {"Origin": url, "Cookie": "sid=good-sid"}

    @sio.on("connect", namespace=ns)
    async def on_connect():
        if channel:
            await sio.emit("doc_subscribe", ("Raven Channel", channel), namespace=ns)

    await sio.connect(url, headers=headers, namespaces=[ns], transports=[transport])
    await asyncio.sleep(0.2)
    print("ready", flush=True)
    await done.wait()
    print(json.dumps({"count": state["count"], "first_us": state["first"], "last_us": state["last"], "cpu_us": state["cpu"], "lat_us": state["lat"]}), flush=True)
    await sio.disconnect()


asyncio.run(main())
