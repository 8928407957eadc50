"""The manager's per-client indexes (realtime/manager_adapter.py) keep python-socketio's own
bookkeeping: any sequence of connects, room changes, disconnects and room closes leaves the
same rooms, the same pending clients and the same answers as the stock manager, and a
session's namespaces are the ones the stock manager would find by walking them all."""

from __future__ import annotations

import itertools

import socketio
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio.base_manager import BaseManager

from publicrooms.realtime.fanout_adapter import install

SESSIONS = ("e1", "e2", "e3")
NAMESPACES = ("/", "/public-room/a", "/public-room/b")
ROOMS = ("a", "b")


def managers() -> tuple[BaseManager, BaseManager]:
    """A stock manager and an installed one, drawing the same sids."""
    pair = []
    for indexed in (False, True):
        server = socketio.AsyncServer(async_mode="asgi")
        counter = itertools.count()
        server.eio.generate_id = lambda counter=counter: f"s{next(counter)}"
        if indexed:
            install(server)
        pair.append(server.manager)
    return pair[0], pair[1]


def state(manager: BaseManager) -> tuple:
    rooms = {ns: {room: dict(members) for room, members in rooms.items()}
             for ns, rooms in manager.rooms.items()}
    # Only membership and emptiness of the pending lists are ever read: compared as multisets.
    pending = [{ns: sorted(sids) for ns, sids in table.items() if sids}
               for table in (manager.pending_connect, manager.pending_disconnect)]
    return rooms, pending


def outcome(call) -> object:  # noqa: ANN001
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return ("raised", type(exc).__name__)


operation = st.tuples(
    st.sampled_from(["pre_connect", "connect", "enter", "leave", "pre_disconnect",
                     "disconnect", "close"]),
    st.sampled_from(SESSIONS), st.sampled_from(NAMESPACES), st.sampled_from(ROOMS),
    st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=3))


@settings(max_examples=400, deadline=None)
@given(st.lists(operation, max_size=60))
def test_indexed_manager_keeps_python_socketio_bookkeeping(steps: list[tuple]) -> None:
    stock, ours = managers()
    sids: list[tuple[str, str]] = []  # every sid drawn so far and its namespace (both alike)
    for op, eio_sid, namespace, room, pick, elsewhere in steps:
        sid = "none"
        if sids and op != "pre_connect":
            sid, own = sids[pick % len(sids)]
            if elsewhere:  # mostly the sid's own namespace, else the one drawn
                namespace = own
        calls = {
            "pre_connect": lambda m: BaseManager.pre_connect(m, eio_sid, namespace),
            # (connecting a sid that is not pending is AsyncManager's own, awaited path)
            "connect": lambda m: BaseManager.connect(m, sid, namespace)
            if m.is_pre_connected(sid, namespace) else None,
            "enter": lambda m: m.basic_enter_room(sid, namespace, room),
            "leave": lambda m: m.basic_leave_room(sid, namespace, room),
            "pre_disconnect": lambda m: m.pre_disconnect(sid, namespace),
            "disconnect": lambda m: m.basic_disconnect(sid, namespace),
            "close": lambda m: m.basic_close_room(room, namespace),
        }
        expected = outcome(lambda: calls[op](stock))
        assert outcome(lambda: calls[op](ours)) == expected, (op, sid, namespace, room)
        if op == "pre_connect" and expected[1] is not None:
            sids.append((expected[1], namespace))
        assert state(ours) == state(stock), (op, sid, namespace, room)
        for session in SESSIONS:
            walked = {ns for ns in stock.get_namespaces()
                      if stock.sid_from_eio_sid(session, ns) is not None}
            assert set(ours.namespaces_of(session)) == walked, session
        for known, _ in sids:
            for ns in NAMESPACES:
                assert ours.is_connected(known, ns) == stock.is_connected(known, ns)
                assert ours.get_rooms(known, ns) == stock.get_rooms(known, ns)
