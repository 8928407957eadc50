"""Broadcasts encoded once and written straight to each WebSocket.

python-socketio sends a broadcast by starting one task per recipient, each putting the packet
in that socket's queue, from which the socket's own writer task takes it and hands it to
uvicorn, which frames it for that one connection. A server's WebSocket frames are not
masked: the bytes are the same for every recipient. Here a broadcast's Socket.IO packet and
its frame are encoded once, and for each recipient whose WebSocket is open, uncompressed and
has nothing else waiting the frame is written to its transport in the loop's next turn
(with whatever else was sent to it meanwhile: one write, see `Cork`). An acknowledgement
takes the same way (`send_ack`).

Anything else goes the usual way, through the socket's bounded send queue
(realtime/engineio_adapter.py), so nothing changes for it:
- a socket with packets queued, or taken by its writer and not yet written (an ack, a ping,
  an earlier broadcast): the frame queues behind them, so each socket's order holds;
- a transport whose buffer is over its high-water mark (the client reads slowly): the queue's
  bound applies and a client that stopped reading is cut off as before;
- long-polling, an upgrade under way, a closing socket, a permessage-deflate connection (its
  frames depend on the ones before), uvicorn's other WebSocket implementations, events with
  binary attachments or an acknowledgement callback: python-socketio's own path.
Cross-node broadcasts (state/redis/fanout.py) reach this node's sockets through the same
manager method, so they take the same path.

This is the one place that touches, for that: python-socketio's `AsyncManager.emit` (its
arguments, `rooms`, `get_participants`, `server.packet_class`), python-engineio's socket
state (`queue`, `upgraded`, `upgrading`, `closing`, `closed`, `last_ping`) and
`AsyncServer.create_queue`, `sockets`, `ping_timeout`, and uvicorn's websockets-sansio
protocol (`transport`, `writable`, `close_sent`, `disconnected`, `conn.extensions`,
`conn.state`). The versions are pinned in pyproject.toml and `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import struct
import time
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

import engineio.async_socket
import engineio.json
import engineio.packet as eio_packet
import socketio
import socketio.packet as sio_packet
from socketio.async_manager import AsyncManager
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from publicrooms.lean import LeanQueue
from publicrooms.realtime.manager_adapter import IndexedManager
from publicrooms.schemas.base import COMPACT_JSON, EncodedWire


class SendQueue(LeanQueue):
    """A socket's send queue that counts the packets its writer has taken and not yet
    written: `taken` is reset when the writer comes back for more (the socket's poll).
    A LeanQueue: an idle socket's queue holds nothing."""

    __slots__ = ("taken", "wake")

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0
        self.wake: Any = None  # called on every put (starts a WebSocket's writer)

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        if self.wake is not None:
            self.wake()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        if item is not None:
            self.taken += 1
        return item


def text_frame(payload: str) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (RFC 6455 5.2) carrying `payload`."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + data
    return struct.pack("!BBQ", 0x81, 127, size) + data


def websocket_protocol(environ: dict) -> Any:
    """uvicorn's protocol behind an ASGI WebSocket when frames can be written to its transport
    directly (websockets-sansio with a `corked` slot, i.e. http_adapter's lean protocol, and
    permessage-deflate not negotiated); otherwise None."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    protocol = getattr(environ.get("asgi.send"), "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or not hasattr(protocol, "corked"):
        return None
    conn = getattr(protocol, "conn", None)
    if conn is None or getattr(conn, "extensions", None):
        return None
    return protocol


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The compact JSON python-socketio writes (`json.dumps(separators=(",", ":"))`), from one C
# encoder built once: `JSONEncoder.encode` builds a new one for every call, which is half its
# cost on a chat message. No check for cycles: every payload here is built by this server from
# wire dicts (a cycle would still end, in RecursionError).
_encoder = c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", False,
                          False, True) if c_make_encoder is not None else None


def _dumps(value: Any) -> str:
    if _encoder is None:  # pragma: no cover - CPython without its _json accelerator
        return json.dumps(value, separators=(",", ":"))
    return "".join(_encoder(value, 0))


def encode_event(namespace: str, data: list) -> str | None:
    """The Socket.IO EVENT packet of `data` ([event, *args]) as python-socketio's
    `Packet.encode` writes it, in one pass (no walk for binary parts first); None when `data`
    holds bytes (a binary event: python-socketio's path sends it)."""
    try:
        return packet_text(sio_packet.EVENT, namespace, None, _dumps(data))
    except TypeError:
        return None


def encode_ack(namespace: str, ack_id: int, data: list) -> str | None:
    """The Socket.IO ACK packet answering `ack_id` with `data`, as python-socketio's
    `Packet.encode` writes it; None when `data` holds bytes (a binary ACK). A lone
    EncodedWire brings its JSON text (a join's answer)."""
    if len(data) == 1 and type(data[0]) is EncodedWire:
        return packet_text(sio_packet.ACK, namespace, ack_id, f"[{data[0].json}]")
    try:
        return packet_text(sio_packet.ACK, namespace, ack_id, _dumps(data))
    except TypeError:
        return None


def packet_text(kind: int, namespace: str | None, ack_id: int | None, body: str) -> str:
    """A Socket.IO text packet around its JSON `body`, as python-socketio's `Packet.encode`
    writes it: the type, the namespace (none for "/"), the acknowledgement id."""
    head = str(kind) if namespace is None or namespace == "/" else f"{kind}{namespace},"
    return head + body if ack_id is None else f"{head}{ack_id}{body}"


_decoder = json.JSONDecoder(parse_int=engineio.json._safe_int)
_scan = _decoder.scan_once


def _decode(text: str) -> Any:
    """`_decoder.decode(text)`, scanning directly when the text is one JSON value with no
    whitespace around it (what clients send); anything else (and every error) goes through
    `decode`, which says what is wrong."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    if end != len(text):
        return _decoder.decode(text)
    return value


class _Json:
    """The JSON functions python-socketio's packets call (and its pub/sub managers, through
    `packet_class.json`), with one decoder built once for text (python-engineio's `loads`
    builds one per call), keeping python-engineio's cap on integer digits."""

    @staticmethod
    def loads(text: Any, **kwargs: Any) -> Any:
        if kwargs or not isinstance(text, str):  # bytes from a message queue, options
            return engineio.json.loads(text, **kwargs)
        return _decode(text)

    dumps = staticmethod(json.dumps)


class LeanPacket(sio_packet.Packet):
    """python-socketio's packet, cheaper for the JSON nearly every packet carries. Whether a
    payload has binary parts is found by encoding it (in C) instead of walking it in Python,
    and that encoding is what `encode` sends; a payload with bytes in it fails to encode and
    takes python-socketio's way. Decoding reuses one JSON decoder. The server's
    `packet_class` (StrictServer)."""

    json = _Json
    _body: str | None = None

    def __init__(self, packet_type: int = sio_packet.EVENT, data: Any = None,
                 namespace: str | None = None, id: int | None = None,  # noqa: A002
                 binary: bool | None = None, encoded_packet: Any = None) -> None:
        if binary is None and data is not None and not encoded_packet:
            try:
                self._body = _dumps(data)
                binary = False
            except (TypeError, ValueError):  # bytes in it (or not JSON at all): as upstream
                pass
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self) -> Any:
        body = self._body
        if body is None or self.packet_type not in (sio_packet.EVENT, sio_packet.ACK):
            return super().encode()
        return packet_text(self.packet_type, self.namespace, self.id, body)


class Cork:
    """Frames written directly in a turn of the event loop leave in one write per transport,
    one turn later: one system call for a group commit's messages, or a chat message and the
    acknowledgement its sender gets in the next turn, instead of one each.

    Order holds: a frame is corked only when nothing waits in that socket's queue, and the
    socket's writer task writes out what is corked for its transport (`release`) before
    anything it writes or closes. Frames for a transport that closed meanwhile are dropped,
    as its unsent buffer would be.

    The turn's broadcasts share the writes: a connect storm's joins, answered together by one
    group commit, each tell their room `user-joined`, and a member gets all of them in one
    write (with 256 held at most, a storm over rooms of 60 flushed in mid-turn and wrote each
    join's news separately: 1.4-1.75x the CPU per join).

    Past `hold_max` held transports (the lobby's thousands) the turn does not wait: what is
    held is written out at once, so the first recipients read while the others are still
    being served, and what a turn holds stays bounded.
    """

    def __init__(self, hold_max: int = 4096) -> None:
        self._pending: dict[Any, list[bytes]] = {}
        self.hold_max = hold_max  # transports held at most: past it, what is held leaves now
        self.writes = 0  # transport writes made (frames / writes: how much corking saves)

    def write(self, transport: Any, frame: bytes) -> None:
        frames = self._pending.get(transport)
        if frames is not None:
            frames.append(frame)
            return
        pending = self._pending
        if not pending:
            asyncio.get_running_loop().call_soon(self._next_turn)
        elif len(pending) >= self.hold_max:
            # A broadcast to many (the lobby): the first recipients' bytes leave while the
            # rest are still being written, so their clients start reading at once.
            self.flush()
            pending = self._pending
        pending[transport] = [frame]

    def _next_turn(self) -> None:
        asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for transport, frames in pending.items():
            self._write(transport, frames)

    def release(self, transport: Any) -> None:
        """Write now what is corked for `transport` (its writer is about to write or close)."""
        frames = self._pending.pop(transport, None)
        if frames is not None:
            self._write(transport, frames)

    def _write(self, transport: Any, frames: list[bytes]) -> None:
        if transport.is_closing():
            return
        transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        self.writes += 1


def _write_direct(socket: Any, frame: bytes, now: float, cork: Cork) -> bool:
    """Write `frame` to the socket's WebSocket now if nothing is ahead of it; False: queue it."""
    protocol = getattr(socket, "websocket", None)
    if protocol is None or not socket.upgraded or socket.upgrading or socket.closing:
        return False
    queue = socket.queue
    if queue.taken or queue.qsize():
        return False
    last_ping = socket.last_ping
    if last_ping and now - last_ping > socket.server.ping_timeout:
        return False  # the queued path closes a client gone silent
    if protocol.close_sent or protocol.disconnected or not protocol.writable.is_set() \
            or protocol.conn.extensions or protocol.conn.state is not State.OPEN:
        return False
    cork.write(protocol.transport, frame)
    return True


# An event name no client sees: emitted with a list of [event, data] pairs, it broadcasts each
# of them, in order, in one pass over the recipients (one check and one write per socket).
# A Redis manager carries it to the other nodes like any broadcast.
EVENTS = "publicrooms:events"


class FanoutManager(IndexedManager):
    """`emit` with one encoding per broadcast and a direct write per recipient (and the
    per-client lookups of IndexedManager)."""

    # Broadcast copies (one per recipient) written directly and through the send queue.
    direct_copies = 0
    queued_copies = 0
    direct_acks = 0
    _cork: Cork | None = None

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        room = to or room
        if event == EVENTS:
            return await self._emit_events(data, namespace, room, skip_sid)
        if callback is not None or namespace not in self.rooms:
            return await AsyncManager.emit(self, event, data, namespace, room=room,
                                           skip_sid=skip_sid, callback=callback)
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = encode_event(namespace, [event, *args])
        if encoded is None:  # binary attachments: several frames
            return await AsyncManager.emit(self, event, data, namespace, room=room,
                                           skip_sid=skip_sid)
        await self._deliver(namespace, room, skip_sid, text_frame("4" + encoded),
                            (eio_packet.Packet(eio_packet.MESSAGE, encoded),))

    async def _emit_events(self, events: list, namespace: str, room: Any,
                           skip_sid: Any) -> None:
        """Broadcast each [event, data] of `events`, in order, in one pass."""
        if namespace not in self.rooms:
            return
        encoded = [encode_event(namespace, list(event)) for event in events]
        if None in encoded:  # binary attachments: python-socketio's path, one event at a time
            for event, data in events:
                await AsyncManager.emit(self, event, data, namespace, room=room,
                                        skip_sid=skip_sid)
            return
        await self._deliver(namespace, room, skip_sid,
                            b"".join(text_frame("4" + text) for text in encoded),
                            [eio_packet.Packet(eio_packet.MESSAGE, text) for text in encoded])

    async def _deliver(self, namespace: str, room: Any, skip_sid: Any, frames: bytes,
                       pkts: Any) -> None:
        """`frames` (the packets' WebSocket frames, back to back) to each participant's
        WebSocket directly, or `pkts` to its send queue."""
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        now = time.time()
        cork = self.cork()
        direct = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if _write_direct(socket, frames, now, cork):
                direct += 1
            else:
                queued += 1
                for pkt in pkts:
                    await socket.send(pkt)
        self.direct_copies += direct * len(pkts)
        self.queued_copies += queued * len(pkts)

    def cork(self) -> Cork:
        cork = self._cork
        if cork is None:
            cork = self._cork = Cork()
            self.server.eio.cork = cork  # for each socket's writer (engineio_adapter)
        return cork

    def send_ack(self, eio_sid: str, pkt: Any) -> bool:
        """Write an acknowledgement straight to its socket's WebSocket (in this turn's write,
        after what this turn broadcast to it) when nothing waits ahead of it; False: it was not
        sent, the caller queues it."""
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or pkt.packet_type != sio_packet.ACK:
            return False
        encoded = pkt.encode()
        if not isinstance(encoded, str):
            return False
        return self._write_ack(socket, encoded)

    def send_ack_data(self, eio_sid: str, namespace: str, ack_id: int, data: list) -> bool:
        """`send_ack` of the acknowledgement carrying `data`, encoded here in one pass (as
        `LeanPacket` encodes an ACK) instead of through a packet; False: not sent (binary
        data, or something waits ahead of it), the caller sends it the usual way."""
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return False
        encoded = encode_ack(namespace, ack_id, data)
        return encoded is not None and self._write_ack(socket, encoded)

    def _write_ack(self, socket: Any, encoded: str) -> bool:
        if not _write_direct(socket, text_frame("4" + encoded), time.time(), self.cork()):
            return False
        self.direct_acks += 1
        return True


def install(server: socketio.AsyncServer) -> None:
    """Give `server` the direct fan-out: its manager's emit, its sockets' counting queue."""
    manager = server.manager
    cls = type(manager)
    if cls is AsyncManager:
        manager.__class__ = FanoutManager
    elif not issubclass(cls, FanoutManager):
        # Before AsyncManager in the order: a pub/sub manager's local delivery
        # (`super().emit`) lands here too.
        manager.__class__ = type(f"Fanout{cls.__name__}", (cls, FanoutManager), {})
    server.eio.create_queue = SendQueue
    manager.index()
    manager.cork()


# --- start-up self-test ------------------------------------------------------------------

def self_test() -> None:
    """Fail at start-up, with one clear message, if the internals used here have changed."""
    problems = []
    emit = inspect.signature(AsyncManager.emit)
    if list(emit.parameters)[:8] != ["self", "event", "data", "namespace", "room",
                                     "skip_sid", "callback", "to"]:
        problems.append("socketio.AsyncManager.emit signature")
    source = inspect.getsource(AsyncManager.emit)
    if "self.server._send_eio_packet" not in source or "get_participants" not in source:
        problems.append("socketio.AsyncManager.emit (per-recipient send)")
    from socketio.async_pubsub_manager import AsyncPubSubManager
    if "super().emit(" not in inspect.getsource(AsyncPubSubManager._handle_emit):
        problems.append("socketio.AsyncPubSubManager._handle_emit (local delivery)")
    if "self.server.create_queue()" not in inspect.getsource(
            engineio.base_socket.BaseSocket.__init__):
        problems.append("engineio.BaseSocket queue creation")
    # The send queue is a LeanQueue: python-engineio must use nothing else of asyncio.Queue.
    used = set(re.findall(r"self\.queue\.(\w+)", inspect.getsource(engineio.async_socket)))
    if not used <= {"get", "get_nowait", "put", "put_nowait", "task_done", "join", "qsize",
                    "empty"}:
        problems.append(f"engineio.AsyncSocket queue methods {sorted(used)}")
    socket_source = inspect.getsource(engineio.async_socket.AsyncSocket)
    for name in ("self.upgraded", "self.upgrading", "self.closing", "self.last_ping",
                 "self.server.ping_timeout"):
        if name not in socket_source:
            problems.append(f"engineio.AsyncSocket {name}")
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    send = inspect.getsource(WebSocketsSansIOProtocol.send)
    for name in ("self.writable.wait()", "self.disconnected", "self.close_sent",
                 "self.conn.send_text(", "self.transport.write("):
        if name not in send:
            problems.append(f"uvicorn WebSocketsSansIOProtocol.send {name}")
    for size in (0, 125, 126, 65535, 65536):
        payload = "é" * (size // 2) + "x" * (size % 2)
        expected = Frame(Opcode.TEXT, payload.encode()).serialize(mask=False, extensions=[])
        if text_frame(payload) != expected:
            problems.append(f"WebSocket text frame of {size} bytes")
            break
    server = socketio.AsyncServer(async_mode="asgi")
    install(server)
    if not isinstance(server.eio.create_queue(), SendQueue):
        problems.append("engineio.AsyncServer.create_queue")
    pkt = eio_packet.Packet(eio_packet.MESSAGE, server.packet_class(
        sio_packet.EVENT, namespace="/n", data=["e", {"a": 1}]).encode())
    if pkt.encode() != '42/n,["e",{"a":1}]':
        problems.append("Socket.IO / Engine.IO packet encoding")
    for namespace, data in (("/", ["e"]), ("/public-room/r", ["new-message", {"é": [1, None]}]),
                            ("/n", ["e", "x", 2.5, True])):
        reference = server.packet_class(sio_packet.EVENT, namespace=namespace, data=data)
        if encode_event(namespace, data) != reference.encode():
            problems.append("Socket.IO EVENT encoding")
            break
    if encode_event("/", ["e", {"b": b"x"}]) is not None:
        problems.append("binary events not told apart")
    lean_checks = [
        dict(packet_type=sio_packet.EVENT, namespace="/public-room/r", data=["m", {"é": [1.5]}]),
        dict(packet_type=sio_packet.ACK, namespace="/n", id=12, data=[{"success": True}]),
        dict(packet_type=sio_packet.ACK, id=3, data=[None]),
        dict(packet_type=sio_packet.CONNECT, namespace="/n", data={"sid": "x"}),
        dict(packet_type=sio_packet.EVENT, data=["bin", {"b": b"\x00"}]),
    ]
    for fields in lean_checks:
        lean, stock = LeanPacket(**fields), sio_packet.Packet(**fields)
        if (lean.encode(), lean.packet_type) != (stock.encode(), stock.packet_type):
            problems.append(f"socketio.Packet encoding ({fields['packet_type']})")
    for text in ('2/public-room/r,7["send-message",{"content":"x"}]', '3/n,4[{"a":[1,2]}]',
                 '0/n,{"token":"t"}', '2["e",null]'):
        lean, stock = LeanPacket(encoded_packet=text), sio_packet.Packet(encoded_packet=text)
        if (lean.packet_type, lean.namespace, lean.id, lean.data) != \
                (stock.packet_type, stock.namespace, stock.id, stock.data):
            problems.append("socketio.Packet decoding")
    for namespace, ack_id, data in (("/public-room/r", 12, [{"success": True, "é": 1.5}]),
                                    ("/", 3, []), ("/n", 0, [None, "x"])):
        stock = sio_packet.Packet(sio_packet.ACK, namespace=namespace, id=ack_id, data=data)
        if encode_ack(namespace, ack_id, data) != stock.encode():
            problems.append("Socket.IO ACK encoding")
            break
    wire = {"a": 1, "list": [{"x": "é"}], "é": None}
    encoded = EncodedWire(wire, {"list": COMPACT_JSON.encode(wire["list"])})
    if encode_ack("/n", 5, [encoded]) != \
            sio_packet.Packet(sio_packet.ACK, namespace="/n", id=5, data=[wire]).encode():
        problems.append("Socket.IO ACK encoding of pre-encoded JSON")
    if encode_ack("/", 1, [{"b": b"x"}]) is not None:
        problems.append("binary acknowledgements not told apart")
    if LeanPacket.json.loads(b'{"a":[1]}') != {"a": [1]}:
        problems.append("JSON from bytes (pub/sub managers)")
    try:
        LeanPacket(encoded_packet="2" + "[" + "1" * 101 + "]")
        problems.append("engineio.json integer cap")
    except ValueError:
        pass
    if "self.eio.send(eio_sid, encoded_packet)" not in inspect.getsource(
            socketio.AsyncServer._send_packet):
        problems.append("socketio.AsyncServer._send_packet")
    # A WebSocket request goes to Engine.IO's handler directly (web.WebSocketsFirst): all
    # python-socketio's does is hand it on.
    handle = inspect.getsource(socketio.AsyncServer.handle_request)
    if [line.strip() for line in handle.splitlines() if line.strip() and not line.strip()
            .startswith(('"""', "#")) and "Note:" not in line][-1] != \
            "return await self.eio.handle_request(*args, **kwargs)":
        problems.append("socketio.AsyncServer.handle_request")
    if problems:
        raise RuntimeError("python-socketio/python-engineio/uvicorn internals changed (pinned "
                           "versions in pyproject.toml): " + ", ".join(problems))
