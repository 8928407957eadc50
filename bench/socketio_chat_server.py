"""Reference for bench/chat_rate.py: the chat events on a plain python-socketio server.

Stock python-socketio on uvicorn with its defaults, the same events as bench/node_chat_server.js
(join-room takes a seat in the namespace's `seated` room, send-message sends `new-message` to it
and acks with the message; no database, no rate limits, no sanitising): what the Python stack
costs before publicrooms adds anything.

    python bench/socketio_chat_server.py PORT
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", namespaces="*")
names: dict[str, str] = {}


@sio.on("join-room", namespace="*")
async def join_room(namespace: str, sid: str, data: dict | None = None) -> dict:
    names[sid] = (data or {}).get("userName") or "anon"
    await sio.enter_room(sid, "seated", namespace=namespace)
    return {"success": True, "room": {"id": namespace.removeprefix("/public-room/")},
            "participants": [], "recentMessages": [],
            "self": {"userId": sid, "displayName": names[sid]}}


@sio.on("send-message", namespace="*")
async def send_message(namespace: str, sid: str, data: dict) -> dict:
    message = {"id": str(uuid.uuid4()), "senderId": sid, "senderName": names.get(sid, "anon"),
               "content": str(data["content"]).strip(),
               "timestamp": datetime.now(timezone.utc).isoformat()}
    await sio.emit("new-message", {"roomId": namespace.removeprefix("/public-room/"),
                                   "message": message}, room="seated", namespace=namespace)
    return {"success": True, "message": message}


@sio.on("disconnect", namespace="*")
async def disconnect(namespace: str, sid: str, reason: object = None) -> None:
    names.pop(sid, None)


async def ready(scope: dict, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


if __name__ == "__main__":
    uvicorn.run(socketio.ASGIApp(sio, other_asgi_app=ready), host="127.0.0.1",
                port=int(sys.argv[1]), log_level="warning")
