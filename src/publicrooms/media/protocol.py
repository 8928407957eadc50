"""Messages between the signalling process and media workers (pickled dicts over a pipe).

parent → worker  {"id": n, "op": OP, "args": {...}}        one of OPS, or "shutdown"
worker → parent  {"id": n, "ok": True, "result": ...}      reply
                 {"id": n, "ok": False, "error": NAME, "message": str}
                 {"event": NAME, "room": id, "participant": id | None, "payload": {...}}
                 {"ready": pid}                              once, after the adapter self-test
                 {"fatal": reason}                           start-up failed; the worker exits
"""

from __future__ import annotations

from typing import Any

OPS = {
    "publish": ("room", "participant", "sdp", "muted"),
    "subscribe": ("room", "participant"),
    "answer": ("room", "participant", "sdp", "offer_id"),
    "mute": ("room", "participant", "kind", "muted"),
    "close_participant": ("room", "participant"),
    "close_room": ("room",),
    "stats": (),
    "ping": (),
}


def request(request_id: int, op: str, args: dict[str, Any]) -> dict[str, Any]:
    if op != "shutdown" and set(args) != set(OPS[op]):
        raise ValueError(f"{op} takes {OPS[op]}, got {sorted(args)}")
    return {"id": request_id, "op": op, "args": args}


def reply(request_id: int, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def failure(request_id: int, error: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": error, "message": message}


def event(room: str, participant: str | None, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event": name, "room": room, "participant": participant, "payload": payload}


def ready(pid: int) -> dict[str, Any]:
    return {"ready": pid}


def fatal(reason: str) -> dict[str, Any]:
    return {"fatal": reason}
