"""python-socketio's room bookkeeping with each client's own entries found directly.

python-socketio's manager keeps `rooms[namespace][room]` (a bidict of sid → Engine.IO sid) and
finds what belongs to one client by walking the others:
- a disconnect walks every namespace of the server (`AsyncServer._handle_eio_disconnect`),
  and in each namespace the client leaves, every room of it (`basic_disconnect` copies
  `rooms[namespace]`, which holds one room per client of the namespace: its sid room);
- whether a client is still connecting or already leaving is a search of a list of every
  client doing the same (`pending_connect`, `pending_disconnect`).
With 10,000 lobby viewers leaving at once, or 300 rooms (each its own namespace), that is
quadratic: a server took 45 s and more to let go of them.

`IndexedManager` keeps two indexes beside `rooms`, updated where `rooms` changes (only
`basic_enter_room` and `basic_leave_room` change it): each Engine.IO session's namespaces and
each client's rooms. The pending lists are dicts (ordered, a member found in one step) with
the list methods python-socketio calls. `namespaces_of` and `basic_disconnect` read the
indexes; everything else is python-socketio's own.

This is the one place that touches python-socketio's manager internals for that
(`rooms`, `pending_connect`, `pending_disconnect`, `callbacks`, `basic_disconnect`, and
`AsyncServer._handle_eio_disconnect`, which StrictServer replaces with `namespaces_of`); the
version is pinned in pyproject.toml and `self_test()` runs at start-up.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import socketio
import socketio.async_manager
import socketio.async_pubsub_manager
import socketio.base_manager
from socketio.async_manager import AsyncManager
from socketio.base_manager import BaseManager


class PendingSids(dict):
    """The sids of one namespace that are connecting (or leaving), as python-socketio's list
    of them is used (`append`, `remove`, `in`, `len`), with a member found in one step.
    sid → how many times it is in the list (python-socketio does not check before adding)."""

    def append(self, sid: str) -> None:
        self[sid] = self.get(sid, 0) + 1

    def remove(self, sid: str) -> None:
        count = self.get(sid)
        if count is None:
            raise ValueError(f"{sid!r} is not pending")
        if count > 1:
            self[sid] = count - 1
        else:
            del self[sid]

    def __iter__(self):  # noqa: ANN204 - as the list would: a sid as often as it is in it
        for sid, count in dict.items(self):
            for _ in range(count):
                yield sid


class PendingByNamespace(dict):
    """namespace → its PendingSids; the lists python-socketio puts in become PendingSids."""

    def __setitem__(self, namespace: str, sids: Any) -> None:
        if type(sids) is not PendingSids:
            pending = PendingSids()
            for sid in sids:
                pending.append(sid)
            sids = pending
        super().__setitem__(namespace, sids)


class IndexedManager(AsyncManager):
    """AsyncManager whose per-client lookups do not walk the other clients."""

    # eio sid → its namespaces, in the order the session connected to them
    _eio_namespaces: dict[str, tuple[str, ...]]
    # (namespace, sid) → the rooms the client entered besides the two every client is in
    # (None, the namespace's clients, and its own sid room): a lobby viewer has no entry
    _sid_rooms: dict[tuple[str, str], tuple[Any, ...]]

    def index(self) -> None:
        """Build the indexes from `rooms` as it stands (once, when the class is installed)."""
        self._eio_namespaces = {}
        self._sid_rooms = {}
        for namespace, rooms in self.rooms.items():
            for room, members in rooms.items():
                for sid, eio_sid in members.items():
                    self._indexed(sid, namespace, room, eio_sid)
        for name in ("pending_connect", "pending_disconnect"):
            pending = PendingByNamespace()
            for namespace, sids in getattr(self, name).items():
                pending[namespace] = sids  # each list becomes PendingSids
            setattr(self, name, pending)

    def namespaces_of(self, eio_sid: str) -> list[str]:
        """The namespaces an Engine.IO session is in (connected, connecting or leaving)."""
        return list(self._eio_namespaces.get(eio_sid, ()))

    def _indexed(self, sid: str, namespace: str, room: Any, eio_sid: str) -> None:
        # Tuples, not sets: a client is in one or two of each, and an idle one holds them.
        if room is None:
            namespaces = self._eio_namespaces.get(eio_sid, ())
            if namespace not in namespaces:
                self._eio_namespaces[eio_sid] = (*namespaces, namespace)
        elif room != sid:
            rooms = self._sid_rooms.get((namespace, sid), ())
            if room not in rooms:
                self._sid_rooms[(namespace, sid)] = (*rooms, room)

    def basic_enter_room(self, sid: str, namespace: str, room: Any,
                         eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._indexed(sid, namespace, room, self.rooms[namespace][room][sid])

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        members = self.rooms.get(namespace, {}).get(room)
        eio_sid = members.get(sid) if members is not None else None
        super().basic_leave_room(sid, namespace, room)
        if eio_sid is None:
            return  # it was not in that room
        if room is None:
            left = tuple(n for n in self._eio_namespaces.get(eio_sid, ()) if n != namespace)
            if left:
                self._eio_namespaces[eio_sid] = left
            else:
                self._eio_namespaces.pop(eio_sid, None)
        elif room != sid:
            key = (namespace, sid)
            left = tuple(r for r in self._sid_rooms.get(key, ()) if r != room)
            if left:
                self._sid_rooms[key] = left
            else:
                self._sid_rooms.pop(key, None)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        # python-socketio's, with the client's rooms from the index instead of a walk over
        # every room of the namespace (one per client of it).
        if namespace not in self.rooms:
            return
        for room in (None, sid, *self._sid_rooms.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]


# --- start-up self-test ------------------------------------------------------------------

# The upstream code `basic_disconnect` and `namespaces_of` stand in for, as read when they were
# written (python-socketio 5.18.1): any change to it must be read again.
_REPLACED = {
    "BaseManager.basic_disconnect": "2933b50bc4b2ea7b",
    "AsyncServer._handle_eio_disconnect": "9344593148b66fd9",
}


def _digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def self_test() -> None:
    """Fail at start-up, with one clear message, if the internals used here have changed."""
    problems = []
    replaced = {"BaseManager.basic_disconnect": BaseManager.basic_disconnect,
                "AsyncServer._handle_eio_disconnect": socketio.AsyncServer._handle_eio_disconnect}
    for name, function in replaced.items():
        if _digest(function) != _REPLACED[name]:
            problems.append(f"socketio.{name} (replaced here) changed")
    # `rooms` changes only in basic_enter_room / basic_leave_room (where the indexes follow it).
    for module in (socketio.base_manager, socketio.async_manager,
                   socketio.async_pubsub_manager):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            source = inspect.getsource(function)
            if name not in ("basic_enter_room", "basic_leave_room", "__init__") and (
                    "self.rooms[namespace][room][" in source or "del self.rooms" in source):
                problems.append(f"{module.__name__}.{name} changes rooms")
        for cls in [c for _, c in inspect.getmembers(module, inspect.isclass)
                    if c.__module__ == module.__name__]:
            for name, function in vars(cls).items():
                if not inspect.isfunction(function) or name in (
                        "basic_enter_room", "basic_leave_room", "__init__"):
                    continue
                source = inspect.getsource(function)
                if "self.rooms[namespace][room][" in source or "del self.rooms" in source \
                        or "self.rooms[namespace] =" in source:
                    problems.append(f"{cls.__name__}.{name} changes rooms")
    # A client through connect, a room, a second namespace and disconnect: the indexes follow.
    server = socketio.AsyncServer(async_mode="asgi")
    manager = server.manager
    manager.__class__ = type("Checked", (IndexedManager,), {})
    manager.index()
    sid = BaseManager.pre_connect(manager, "e1", "/a")  # AsyncManager's await these
    BaseManager.connect(manager, sid, "/a")
    other = BaseManager.pre_connect(manager, "e1", "/b")
    manager.basic_enter_room(sid, "/a", "room")
    if manager.namespaces_of("e1") != ["/a", "/b"] or not manager.is_connected(sid, "/a") \
            or manager.is_connected(other, "/b"):
        problems.append("socketio.BaseManager pre_connect / connect (indexes)")
    manager.pre_disconnect(sid, "/a")
    manager.basic_disconnect(sid, "/a")
    manager.basic_disconnect(other, "/b")
    if manager.rooms or manager.namespaces_of("e1") or manager._sid_rooms \
            or manager.pending_connect or manager.pending_disconnect:
        problems.append("socketio.BaseManager disconnect (indexes)")
    if problems:
        raise RuntimeError("python-socketio internals changed (pinned version in "
                           "pyproject.toml): " + ", ".join(problems))
