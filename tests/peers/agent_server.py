"""An independent agent server for Sockeye's tests: python-socketio AsyncServer with the
FastAPI + python-socketio pattern's JWT handshake (auth {token}, HS256, `sub`), emitting
agent:thought / agent:tool_call / agent:result / agent:error with camelCase workflowId.

Usage: agent_server.py <port> <secret>. Prints "listening <port>" when ready.
POST /__test/emit {"user":…, "event":…, "data":…, "workflowId":…} emits to room user:<user>.
Event `echo_ack(*args)` acks with its own arguments.
"""
import asyncio
import datetime
import json
import sys

import jwt
import socketio
from aiohttp import web

PORT = int(sys.argv[1])
SECRET = sys.argv[2]

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)


@sio.event
async def connect(sid, environ, auth):
    token = (auth or {}).get("token") if isinstance(auth, dict) else None
    if not token:
        raise socketio.exceptions.ConnectionRefusedError("Authentication required")
    try:
        payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise socketio.exceptions.ConnectionRefusedError("Invalid or expired token")
    user = payload.get("sub")
    if not user:
        raise socketio.exceptions.ConnectionRefusedError("Invalid token payload")
    await sio.save_session(sid, {"user": user})
    await sio.enter_room(sid, f"user:{user}")


@sio.on("echo_ack")
async def echo_ack(sid, *args):
    """Not part of the agent pattern: the ack carries the event's own arguments back."""
    return args


async def emit(request):
    body = await request.json()
    room = f"user:{body['user']}"
    kind = body["event"]
    message = {
        "workflowId": body.get("workflowId", "wf-test"),
        "type": kind,
        "data": body.get("data", {}),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    await sio.emit(f"agent:{kind}", message, room=room)
    return web.json_response({"room": room})


app.router.add_post("/__test/emit", emit)


async def main():
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", PORT)
    await site.start()
    print(f"listening {PORT}", flush=True)
    while True:
        await asyncio.sleep(3600)


asyncio.run(main())
