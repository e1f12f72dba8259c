"""The simulator conformance checklist (simulator-spec.md §10), run with python-socketio's
client (requests + websocket-client, as the seeds use it).

Usage: conformance.py <v16 simulator URL> <v15 simulator URL>
Prints one line per item and exits 1 if any item fails.
"""
import json
import queue
import sys
import threading
import time
import urllib.request

import socketio

V16, V15 = sys.argv[1], sys.argv[2]
USER = "test@example.com"
TIMEOUT = 4
results = []


def control(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def publish(body, base=V16):
    return control(base, "/__sim/publish", body)


class Client:
    """One python-socketio client on one namespace; every event lands in a queue."""

    def __init__(self, base, ns="/raven.test", headers=None, transports=None, origin="default", reconnection=False):
        self.ns = ns
        self.events = queue.Queue()
        self.error = None
        self.connected = threading.Event()
        self.sio = socketio.Client(reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=0.4)
        h = dict(headers or {})
        if origin == "default":
            h["Origin"] = base
        elif origin is not None:
            h["Origin"] = origin
        self.sio.on("connect", self.connected.set, namespace=ns)
        self.sio.on("connect_error", self._refused, namespace=ns)
        self.sio.on("*", lambda event, *args: self.events.put((event, args[0] if args else None)), namespace=ns)
        try:
            # Headers as a callable: python-engineio deletes the Cookie entry from the headers
            # dict it is given when it upgrades to WebSocket, so a plain dict loses the sid on
            # the first reconnect (and a real Frappe server then refuses it). A fresh copy per
            # connect is the documented way to re-supply headers.
            self.sio.connect(base, headers=lambda: dict(h), namespaces=[ns], transports=transports or ["polling", "websocket"], wait_timeout=TIMEOUT)
        except socketio.exceptions.ConnectionError as e:
            self.error = self.error or str(e)

    def _refused(self, data):
        self.error = data.get("message") if isinstance(data, dict) else str(data)

    def emit(self, event, *args):
        self.sio.emit(event, args if len(args) != 1 else args[0], namespace=self.ns) if args else self.sio.emit(event, namespace=self.ns)

    def next(self, event, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                name, data = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return None
            if name == event:
                return ("ok", data)
        return None

    def silent(self, event, timeout=0.4):
        return self.next(event, timeout) is None

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:
            pass


def check(n, label, fn):
    try:
        fn()
        results.append(True)
        print(f"ok   {n} {label}", flush=True)
    except Exception as e:  # noqa: BLE001 - report and continue with the next item
        results.append(False)
        print(f"FAIL {n} {label}: {e!r}", flush=True)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def connected(c):
    expect(c.error is None and c.sio.connected, f"connect failed: {c.error}")
    return c


def receives_both(headers):
    c = connected(Client(V16, headers=headers))
    c.sio.emit("doc_subscribe", ("Raven Channel", "general"), namespace=c.ns)
    time.sleep(0.15)
    r = publish({"event": "message_created", "doctype": "Raven Channel", "docname": "general", "message": {"channel_id": "general", "text": "hi"}})
    expect(r["room"] == "doc:Raven Channel/general", r)
    got = c.next("message_created")
    expect(got and got[1]["text"] == "hi", "no message_created")
    publish({"event": "ai_progress", "user": USER, "message": {"type": "thinking"}})
    got = c.next("ai_progress")
    expect(got and got[1]["type"] == "thinking", "no ai_progress")
    c.close()


def refused(expected, **kw):
    c = Client(kw.pop("base", V16), **kw)
    c.close()
    expect(c.error == expected, f"got {c.error!r}, want {expected!r}")


def item1():
    receives_both({"Cookie": "sid=good-sid"})


def item2():
    receives_both({"Authorization": "token key:secret"})
    receives_both({"Authorization": "Bearer good-bearer"})


def item5():
    refused("Invalid origin", headers={"Cookie": "sid=good-sid", "X-Frappe-Site-Name": "raven.test"}, origin="http://evil.example")
    refused("Invalid origin", headers={"Cookie": "sid=good-sid"}, origin=None, transports=["polling"])


def item6():
    c = connected(Client(V16, headers={"Cookie": "sid=nobody"}))
    c.emit("ping")
    expect(c.next("pong"), "no pong")
    c.emit("fire")
    expect(c.next("ice"), "no ice")
    c.sio.emit("doc_subscribe", ("Raven Channel", "general"), namespace=c.ns)
    time.sleep(0.15)
    for room, tag in [("user:test@example.com", "user"), ("doc:Raven Channel/general", "doc"), ("website", "website"), ("user:Guest", "guest")]:
        publish({"event": "probe", "room": room, "message": {"tag": tag}})
    time.sleep(0.3)
    heard = []
    while not c.events.empty():
        name, data = c.events.get()
        if name == "probe":
            heard.append(data["tag"])
    expect(sorted(heard) == ["guest", "website"], f"heard {heard}")
    c.close()


def item8():
    refused("Invalid namespace", ns="/other.site", headers={"Cookie": "sid=good-sid"})
    c = connected(Client(V16, ns="/", headers={"Cookie": "sid=good-sid"}))
    c.emit("ping")
    expect(c.silent("pong", 0.5), "pong on /")
    c.close()


def item9():
    for transports in (["polling"], ["websocket"]):
        headers = {"Cookie": "sid=good-sid"}
        # websocket-client adds an Origin of its own; send none so there is exactly one.
        c = Client(V16, headers=headers, transports=transports, origin="default" if transports == ["polling"] else None)
        connected(c)
        expect(c.sio.transport() == transports[0], f"transport {c.sio.transport()}")
        c.close()
    # The real-world trap: an explicit Origin plus websocket-client's own → duplicated header.
    c = Client(V16, headers={"Cookie": "sid=good-sid"}, transports=["websocket"])
    c.close()
    expect(c.error is not None and c.error.startswith("Unauthorized: TypeError: Failed to parse URL from "), f"got {c.error!r}")


def item10():
    c = connected(Client(V16, headers={"Cookie": "sid=good-sid"}))
    c.sio.emit("doc_subscribe", ("Raven Channel", "secret-room"), namespace=c.ns)
    time.sleep(0.2)
    r = publish({"event": "message_created", "doctype": "Raven Channel", "docname": "secret-room", "message": {}})
    expect(r["delivered_to"] == 0, r)
    expect(c.silent("message_created"), "leaked")
    publish({"event": "ai_progress", "user": USER, "message": {"type": "complete"}})
    expect(c.next("ai_progress"), "user room")
    c.close()


def item11():
    local = V16.replace("127.0.0.1", "localhost")
    connected(Client(local, headers={"Cookie": "sid=good-sid", "X-Frappe-Site-Name": "raven.test"})).close()


def item12():
    control(V16, "/__sim/sessions", {"sid": "web-sid", "user": "website@example.com"})
    sys_c = connected(Client(V16, headers={"Cookie": "sid=good-sid"}))
    web = connected(Client(V16, headers={"Cookie": "sid=web-sid"}))
    other = connected(Client(V16, ns="/other.test", headers={"Cookie": "sid=good-sid", "X-Frappe-Site-Name": "other.test"}))
    r = publish({"event": "to_all", "message": {}})
    expect(r["room"] == "all", r)
    expect(sys_c.next("to_all"), "system user missed all")
    expect(web.silent("to_all"), "website user got all")
    publish({"event": "everyone", "message": {}, "room": None, "namespace": "raven.test"})
    for c in (sys_c, web, other):
        expect(c.next("everyone"), "null room must reach every site")
    r = publish({"event": "private", "user": "alice@example.com", "message": {}})
    expect(r["delivered_to"] == 0, r)
    expect(sys_c.silent("private"), "another user's event leaked")
    for c in (sys_c, web, other):
        c.close()


def item13():
    c = connected(Client(V16, headers={"Cookie": "sid=good-sid"}, reconnection=True))
    c.sio.emit("doc_subscribe", ("Raven Channel", "general"), namespace=c.ns)
    time.sleep(0.15)
    c.connected.clear()
    control(V16, "/__sim/restart", {"down_ms": 300})
    expect(c.connected.wait(8), "did not reconnect")
    time.sleep(0.1)
    publish({"event": "message_created", "doctype": "Raven Channel", "docname": "general", "message": {}})
    expect(c.silent("message_created", 0.5), "the doc room survived the restart")
    publish({"event": "ai_progress", "user": USER, "message": {"type": "thinking"}})
    expect(c.next("ai_progress"), "user room not rejoined")
    c.sio.emit("doc_subscribe", ("Raven Channel", "general"), namespace=c.ns)
    time.sleep(0.15)
    publish({"event": "message_created", "doctype": "Raven Channel", "docname": "general", "message": {}})
    expect(c.next("message_created"), "re-subscribe did not work")
    c.close()


def item14():
    refused("No cookie transmitted.", base=V15, headers={"Authorization": "token key:secret"})
    c = connected(Client(V15, headers={"Cookie": "sid=expired", "Authorization": "token key:secret"}))
    publish({"event": "ai_progress", "user": USER, "message": {}}, V15)
    expect(c.silent("ai_progress", 0.5), "the token won over the sid")
    publish({"event": "guest_only", "user": "Guest", "message": {}}, V15)
    expect(c.next("guest_only"), "not Guest")
    c.close()


check(1, "cookie sid → message_created after doc_subscribe, ai_progress for the user", item1)
check(2, "token key:secret (no cookie) → same; Bearer → same", item2)
check(3, "no cookie, no auth → Missing cookie and authorization header…", lambda: refused("Missing cookie and authorization header. Either one needed for authentication."))
check(4, "cookie without sid → No authentication method used…", lambda: refused("No authentication method used. Use cookie or authorization header.", headers={"Cookie": "theme=dark"}))
check(5, "Origin ≠ Host, or no Origin → Invalid origin", item5)
check(6, "unknown sid → Guest: pong, ice, website + user:Guest events only", item6)
check(7, "bad token → Unauthorized: TypeError: Cannot read properties…", lambda: refused("Unauthorized: TypeError: Cannot read properties of undefined (reading 'installed_apps')", headers={"Authorization": "token key:wrong"}))
check(8, "namespace /other.site → Invalid namespace; / connects and hears nothing", item8)
check(9, "polling-only and websocket-only work; duplicated Origin (websocket-client) fails to parse", item9)
check(10, "doc_subscribe to a non-permitted doc → silence; user-room events still arrive", item10)
check(11, "X-Frappe-Site-Name with localhost Host/Origin → connect", item11)
check(12, "all → System Users only; no room → every site; another user's room → nobody else", item12)
check(13, "restart → reconnect; only user-room events until doc_subscribe is re-emitted", item13)
check(14, "v15: token-only → No cookie transmitted.; cookie + token → the sid wins", item14)

failed = results.count(False)
print(f"{len(results) - failed}/{len(results)} conformance items passed (python-socketio)", flush=True)
sys.exit(1 if failed else 0)
