"""Strict packet handling over python-engineio / python-socketio: every malformed packet is
answered, attachments are capped, sessions that never join a namespace are closed.

python-socketio hands an incoming message to `AsyncServer._handle_eio_message`, which decodes
it and dispatches; anything it cannot make sense of raises inside a handler that
python-engineio only logs, so the client hears nothing and the connection stays open. An
event announcing a million binary attachments is buffered frame by frame without a limit.
Node's socket.io closes the connection on all of these; so does this server, after telling
a namespace-connected client why (`error`, INVALID_REQUEST).

A client that stops reading its socket would make python-engineio queue its packets without
a limit (and hang the writer on a full TCP buffer): each socket's send queue is bounded here
(packets and bytes), and a socket past it is disconnected and its connection dropped. A
session to be closed after its last packets (a refused one) is closed once its queue has
been written out, on either transport. The bound is applied where the socket lives, so what
other nodes fan out to it (state/redis/fanout.py) is bounded the same way; and queueing never
waits, so a slow reader cannot hold up the fan-out reader or anyone's broadcast.

An idle WebSocket session holds as little as it can: python-engineio gives each one a writer
task, a task per message read with its own timeout, and a task sleeping until the next ping.
Here a session opened on a WebSocket is read in its connection's own task, written by a task
that exists only while packets wait, and its heartbeat is one loop timer (the next ping, then
the pong deadline: a client that does not answer within the ping timeout is closed as
python-engineio closes it). An upgrade from long-polling keeps python-engineio's handler.

This is the one place that touches those libraries' private parts: `_handle_eio_message`,
`_handle_eio_connect`, `_binary_packet`, `_handle_connect/_disconnect/_event/_ack` on the
Socket.IO server, and `AsyncSocket.receive/send/poll/close/handle_get_request/queue`,
`_upgrade_websocket`, `_websocket_handler`, `schedule_ping`, `last_ping`,
`check_ping_timeout` plus `AsyncServer.sockets` on the Engine.IO side. A plain event read from
a WebSocket is handled by `StrictServer.direct_event`, which does what `AsyncSocket.receive`,
`_handle_event`, `_handle_event_internal` and `_trigger_event` do for it, through
`_get_event_handler` and `not_handled`, without their packet objects and closures.
The versions are pinned in pyproject.toml and `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import engineio.async_socket
import engineio.packet as eio_packet
import socketio
import socketio.packet as sio_packet
import structlog

from publicrooms.clock import Clock
from publicrooms.errors import InvalidRequest
from publicrooms.lean import Deadlines, LeanEvent
from publicrooms.security.client_ip import FORWARDING_HEADERS
from publicrooms.realtime import fanout_adapter

log = structlog.get_logger("publicrooms.transport")

_CLIENT_TYPES = {sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK,
                 sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK}
_EIO_TYPES = set(range(len(eio_packet.packet_names)))
# Request text python-engineio copies into the environ besides the HTTP_* headers.
_REQUEST_TEXT = {"QUERY_STRING", "RAW_URI", "CONTENT_TYPE", "CONTENT_LENGTH"}


# A plain event on a namespace, as the direct path takes it: `42` (Engine.IO MESSAGE, Socket.IO
# EVENT), the namespace (no query), then an acknowledgement id of at most 15 digits.
_DIRECT_HEAD = re.compile(r"42(/[^,?]*),(\d{1,15}(?!\d))?")


@functools.lru_cache(maxsize=256)
def _is_coroutine_function(handler: Callable) -> bool:
    return inspect.iscoroutinefunction(handler)


class MalformedPacket(Exception):
    """A packet this server refuses; the message says what was wrong with it."""


def check_packet(pkt: socketio.packet.Packet, max_attachments: int) -> None:
    """Refuse what Node's socket.io-parser refuses (its `isPayloadValid`), plus big counts."""
    kind, data = pkt.packet_type, pkt.data
    if kind not in _CLIENT_TYPES:
        raise MalformedPacket(f"unknown packet type {kind!r}")
    if kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
        if not isinstance(data, list) or not data:
            raise MalformedPacket("an event must be a non-empty array")
        if not isinstance(data[0], str):
            raise MalformedPacket("an event name must be a string")
    elif kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
        if not isinstance(data, list):
            raise MalformedPacket("an acknowledgement must be an array")
    elif kind == sio_packet.CONNECT:
        if data is not None and not isinstance(data, dict):
            raise MalformedPacket("connect data must be an object")
    if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        if not 0 < pkt.attachment_count <= max_attachments:
            raise MalformedPacket(f"{pkt.attachment_count} attachments (at most "
                                  f"{max_attachments})")


def _packet_bytes(pkt: eio_packet.Packet | None) -> int:
    """What a queued packet weighs: its encoded Socket.IO text or binary attachment."""
    data = getattr(pkt, "data", None)
    return len(data) if isinstance(data, str | bytes | bytearray) else 0


class StrictSocket(engineio.async_socket.AsyncSocket):
    """An Engine.IO socket that closes on a packet type the protocol does not have, bounds
    what waits in its send queue, and can tell when its queue has been written out.

    A socket becomes one by a class swap right after it opened, so its state is made lazily
    (class attributes are the defaults).
    """

    queued_bytes = 0            # weight of the packets waiting in `queue`
    writing = False             # the transport has taken packets and not yet come back
    cut_off = False             # over its bound: dropped, being disconnected
    abort_transport: Callable[[], None] | None = None   # drops the TCP connection (WebSocket)
    websocket: Any = None       # its transport, when broadcasts may be written to it directly
    _drained: LeanEvent | None = None

    _ping_timer: int | None = None   # slot of the next ping, then of its pong deadline
    _awaiting_pong = False           # which of the two `_ping_timer` is
    _lean_ws: Any = None        # the WebSocket this socket reads and writes itself
    _writer: asyncio.Task | None = None   # writing what is queued; None while idle
    _writer_ended = False       # the WebSocket writer has closed it: nothing more is written

    async def receive(self, pkt: eio_packet.Packet) -> None:
        if pkt.packet_type not in _EIO_TYPES:
            log.info("malformed packet refused", reason="unknown Engine.IO packet type")
            await self.close(wait=False, abort=False,
                             reason=self.server.reason.SERVER_DISCONNECT)
            raise engineio.exceptions.SocketIsClosedError()
        await super().receive(pkt)

    async def send(self, pkt: eio_packet.Packet) -> None:
        """Queue a packet, unless the client has stopped reading: past the bound (packets or
        bytes waiting) nothing more is queued and the connection is dropped."""
        if self.cut_off:
            return
        max_packets, max_bytes = self.server.send_queue_bounds
        size = _packet_bytes(pkt)
        if self.queue.qsize() >= max_packets or self.queued_bytes + size > max_bytes:
            self.cut_off = True
            self.server.start_background_task(self._cut_off_slow_reader)
            return
        self.queued_bytes += size
        await super().send(pkt)

    async def poll(self) -> list[eio_packet.Packet]:
        # The writer (WebSocket) or the next GET (polling) comes back only once what it took
        # before has been written: with nothing queued, everything sent so far is out.
        self.writing = False
        self.queue.taken = 0  # see fanout_adapter.SendQueue
        if self._drained is not None and self.queue.empty():
            self._drained.set()  # made by the first drained(); an idle socket has none
        packets = await super().poll()
        self.writing = bool(packets)
        self.queued_bytes = max(0, self.queued_bytes - sum(map(_packet_bytes, packets)))
        return packets

    async def close(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().close(*args, **kwargs)
        finally:
            if self._drained is not None:
                self._drained.set()  # nothing more will be written: stop waiting for it
            if self._ping_timer is not None:
                self.server.deadlines.cancel(self, self._ping_timer)
                self._ping_timer = None
            if self._lean_ws is not None and self.closed:
                # What was queued (the CLOSE packet) is written, then the WebSocket closed:
                # python-engineio's reader would have ended it at its read timeout.
                self.queue.put_nowait(None)

    # --- heartbeat: one deadline per socket, no task and no timer handle -----------------
    # python-engineio starts a task per socket that sleeps the ping interval, and finds a
    # client that stopped answering by its reader's and writer's timeouts (and its service
    # task's sweep, which stays). Here the ping is a deadline in the server's shared
    # `lean.Deadlines`, and after each ping the same deadline is the pong's: a client that has
    # not answered within the ping timeout is closed as python-engineio closes it
    # (`check_ping_timeout`, reason ping timeout).

    def schedule_ping(self) -> None:
        if self.last_ping:  # only once the previous ping has been answered (as upstream)
            self.last_ping = None
            self._arm(self.server.ping_interval, awaiting_pong=False)

    def _arm(self, delay: float, *, awaiting_pong: bool) -> None:
        deadlines = self.server.deadlines
        if self._ping_timer is not None:
            deadlines.cancel(self, self._ping_timer)
        self._awaiting_pong = awaiting_pong
        self._ping_timer = deadlines.arm(self, delay)

    def deadline_due(self) -> None:
        if self._awaiting_pong:
            self._pong_due()
        else:
            self._ping_due()

    def _ping_due(self) -> None:
        self._ping_timer = None
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        self.server.start_background_task(self._send_ping_now)
        self._arm(self.server.ping_timeout, awaiting_pong=True)

    async def _send_ping_now(self) -> None:
        if not self.closing and not self.closed:  # it may have closed since it was due
            await self.send(eio_packet.Packet(eio_packet.PING))

    def _pong_due(self) -> None:
        self._ping_timer = None
        last_ping = self.last_ping
        if not last_ping or self.closing or self.closed:
            return  # answered (the answer armed the next ping), or closed
        left = last_ping + self.server.ping_timeout - time.time()
        if left >= 0:  # the loop's clock ran ahead of the wall clock: not yet
            self._arm(left + 0.01, awaiting_pong=True)
            return
        self.server.start_background_task(self._close_if_silent)

    async def _close_if_silent(self) -> None:
        # It may have closed since (python-engineio's check raises on a closed socket, and
        # nothing would retrieve that from a background task).
        if not self.closed:
            await self.check_ping_timeout()

    # --- WebSocket transport: no task per message, a writer only while packets wait ------

    async def _websocket_handler(self, ws: Any) -> None:
        """python-engineio's WebSocket handler for a session that opened on a WebSocket,
        without its per-socket costs: packets are read in the connection's own task (no task
        and timeout per message: a silent client is found by the pong deadline), and written
        by a writer task that exists while packets wait (none while idle). An upgrade from
        long-polling goes through python-engineio's handler unchanged."""
        if self.connected:
            return await super()._websocket_handler(ws)
        self.connected = True
        self.upgraded = True
        self._lean_ws = ws
        self.queue.wake = self._wake_writer
        if not self.queue.empty():
            self._wake_writer()
        max_size = self.server.max_http_buffer_size
        direct = self.server.direct_event  # StrictServer's (a StrictSocket's server is one)
        while True:
            try:
                data = await ws.wait()
            except asyncio.CancelledError:
                break
            except Exception:  # noqa: BLE001 - the connection went away (as upstream)
                break
            if data is None or (data and len(data) > max_size):
                break  # closed by the client, or a message over the limit (as upstream)
            try:
                if type(data) is str and data.startswith("42/") and await direct(self.sid, data):
                    continue  # a namespace's event, handled without the layers in between
                await self.receive(eio_packet.Packet(encoded_packet=data))
            except engineio.exceptions.UnknownPacketError:
                pass
            except engineio.exceptions.SocketIsClosedError:
                break
            except Exception:  # noqa: BLE001 - as upstream: log, keep the connection
                self.server.logger.exception("Unknown receive error")
        self.queue.put_nowait(None)  # the writer ends (and closes the WebSocket)
        writer = self._writer
        if writer is not None:
            await asyncio.wait_for(writer, timeout=None)
        elif not self._writer_ended:
            self._writer_ended = True
            await ws.close()
        await self.close(wait=False, abort=True,
                         reason=self.server.reason.TRANSPORT_CLOSE)

    def _wake_writer(self) -> None:
        if self._writer is not None:
            return
        if self._writer_ended:  # nothing will write these: let close(wait=True) go on
            self._discard_queued()
            return
        self._writer = asyncio.get_running_loop().create_task(self._write_queued())

    async def _write_queued(self) -> None:
        """Write what is queued, as python-engineio's writer does through poll(); end when
        the queue is empty (the next packet queued starts another)."""
        ws, queue = self._lean_ws, self.queue
        try:
            while True:
                self.writing = False
                queue.taken = 0
                if queue.empty():
                    if self._drained is not None:
                        self._drained.set()
                    return
                packets, end = [], False
                while not queue.empty():
                    pkt = queue.get_nowait()
                    queue.task_done()
                    if pkt is None:  # the end: the WebSocket closes after what was before it
                        end = True
                        break
                    packets.append(pkt)
                self.writing = bool(packets)
                self.queued_bytes = max(0, self.queued_bytes - sum(map(_packet_bytes, packets)))
                try:
                    for packet in packets:
                        await ws.send(packet.encode())
                except Exception:  # noqa: BLE001 - as upstream: the connection is gone
                    end = True
                if end:
                    self._writer_ended = True
                    self.writing = False
                    await ws.close()
                    self._discard_queued()
                    return
        finally:
            self._writer = None

    def _discard_queued(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()

    async def drained(self) -> None:
        """Return once every packet queued so far has been written out (or the socket closed)."""
        event = self._drained_event()
        while not self.closed and (self.writing or not self.queue.empty()):
            event.clear()
            await event.wait()

    def _drained_event(self) -> LeanEvent:
        if self._drained is None:
            self._drained = LeanEvent()
        return self._drained

    async def handle_get_request(self, environ: dict) -> Any:
        if environ.get("asgi.scope", {}).get("type") == "websocket":
            self.abort_transport = self.server.connection_aborter(environ)
            self.websocket = fanout_adapter.websocket_protocol(environ)
            if self.websocket is not None:
                self.websocket.corked = self.server.cork  # its sends let corked frames go
            # The environ lives as long as the WebSocket (python-socketio keeps it per session)
            # and its request-body reader is an object of a class python-engineio defines
            # afresh for every request (~2.5 kB each); a WebSocket never reads a body.
            environ.pop("wsgi.input", None)
        return await super().handle_get_request(environ)

    async def _upgrade_websocket(self, environ: dict) -> Any:
        # From here on nothing reads the request's headers from the environ (the namespaces'
        # connect handlers read the ASGI scope): its copies of them go (~1.5 kB a socket), and
        # so does the table they grew (python-socketio holds this dict: it is refilled in place).
        kept = {key: value for key, value in environ.items()
                if not key.startswith("HTTP_") and key not in _REQUEST_TEXT}
        environ.clear()
        environ.update(kept)
        del kept  # this frame lasts as long as the WebSocket
        # The same goes for the ASGI scope's headers (~1 kB), but for those the client's
        # address is resolved from at each namespace connect.
        scope = environ.get("asgi.scope")
        if scope is not None and scope.get("headers"):
            scope["headers"] = [(name, value) for name, value in scope["headers"]
                                if name.lower() in FORWARDING_HEADERS]
        return await super()._upgrade_websocket(environ)

    async def _cut_off_slow_reader(self) -> None:
        """Disconnect a client that stopped reading (as a transport error: its seat is held
        for the reconnect grace), and drop its connection: its writer is stuck on a full
        TCP buffer and would never see the end of the queue."""
        log.warning("slow reader cut off", sid=self.sid, queued_packets=self.queue.qsize(),
                    queued_bytes=self.queued_bytes)
        try:
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
        finally:
            if self.abort_transport is not None:
                self.abort_transport()
            while not self.queue.empty():  # free what it will never read
                self.queue.get_nowait()
                self.queue.task_done()
            self.queued_bytes = 0
            self.queue.put_nowait(None)  # ends the writer or the pending poll
            self.server.sockets.pop(self.sid, None)


class StrictServer(socketio.AsyncServer):
    """python-socketio's server with strict decoding, attachment caps and a namespace deadline."""

    def __init__(self, *args: Any, clock: Clock, max_attachments: int,
                 max_attachment_bytes: int, namespace_timeout_s: float,
                 send_queue_max_packets: int, send_queue_max_bytes: int,
                 connection_aborter: Callable[[dict], Callable[[], None] | None],
                 **kwargs: Any) -> None:
        super().__init__(*args, serializer=fanout_adapter.LeanPacket, **kwargs)
        fanout_adapter.install(self)
        # Read by every StrictSocket (a socket knows only its Engine.IO server).
        self.eio.send_queue_bounds = (send_queue_max_packets, send_queue_max_bytes)
        self.eio.connection_aborter = connection_aborter
        self.eio.deadlines = Deadlines()  # every socket's heartbeat
        self.eio.direct_event = self.direct_event  # a WebSocket reader's namespace events
        self.direct_events = 0  # events handled by `direct_event`
        self._clock = clock
        self.max_attachments = max_attachments
        self.max_attachment_bytes = max_attachment_bytes
        self.namespace_timeout_s = namespace_timeout_s
        self._attachment_bytes: dict[str, int] = {}     # eio sid → bytes of pending attachments
        self._deadlines: dict[str, asyncio.Task] = {}   # eio sid → its namespace deadline
        # Told when an Engine.IO session opens (before any namespace) and when it has closed.
        self.on_session_open: Callable[[str, dict], Awaitable[None]] | None = None
        self.on_session_close: Callable[[str], Awaitable[None]] | None = None

    def session_ids(self) -> set[str]:
        """The Engine.IO sessions open on this process."""
        return {sid for sid, socket in self.eio.sockets.items() if not socket.closed}

    async def _handle_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and type(socket) is engineio.async_socket.AsyncSocket:
            socket.__class__ = StrictSocket  # adds behaviour only: no state of its own
        self._arm_deadline(eio_sid)
        if self.on_session_open is not None:
            await self.on_session_open(eio_sid, environ)
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        deadline = self._deadlines.pop(eio_sid, None)
        if deadline is not None and deadline is not asyncio.current_task():
            deadline.cancel()
        self._attachment_bytes.pop(eio_sid, None)
        try:
            # python-socketio's, over the session's own namespaces instead of every namespace
            # of the server (realtime/manager_adapter.py).
            for namespace in self.manager.namespaces_of(eio_sid):
                await self._handle_disconnect(eio_sid, namespace, reason)
            self.environ.pop(eio_sid, None)
        finally:
            if self.on_session_close is not None:
                await self.on_session_close(eio_sid)

    def _arm_deadline(self, eio_sid: str) -> None:
        deadline = asyncio.create_task(self._namespace_deadline(eio_sid))
        self._deadlines[eio_sid] = deadline
        deadline.add_done_callback(lambda task: self._deadline_done(eio_sid, task))

    async def _handle_connect(self, eio_sid: str, namespace: str, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        # A session with a namespace needs no deadline: an idle one then holds no task.
        if self.manager.sid_from_eio_sid(eio_sid, namespace or "/") is not None:
            deadline = self._deadlines.pop(eio_sid, None)
            if deadline is not None:
                deadline.cancel()

    def _rearm_deadline(self, eio_sid: str) -> None:
        """The client left its last namespace and keeps the session: the deadline applies."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and not socket.closed and not socket.closing \
                and eio_sid not in self._deadlines and not self._namespaces_of(eio_sid):
            self._arm_deadline(eio_sid)

    def _deadline_done(self, eio_sid: str, task: asyncio.Task) -> None:
        """A deadline that has run is forgotten (an idle socket keeps no finished task)."""
        if self._deadlines.get(eio_sid) is task:
            del self._deadlines[eio_sid]

    async def _namespace_deadline(self, eio_sid: str) -> None:
        """A session that connected no namespace in time is closed (a slow or idle opener)."""
        await self._clock.sleep(self.namespace_timeout_s)
        if eio_sid not in self.eio.sockets or self._namespaces_of(eio_sid):
            return
        log.info("session closed", reason="no namespace connected",
                 timeout_s=self.namespace_timeout_s)
        await self.close_session(eio_sid)

    async def close_session(self, eio_sid: str) -> None:
        """Close an Engine.IO session and its transport, whatever the client does.

        Not Engine.IO's own `disconnect()`: that waits until the client has taken the CLOSE
        packet, forever if it never does. Here CLOSE is queued, and ending the writer (None in
        its queue) closes a WebSocket after it; a polling client gets it on its next request
        (the closed session is swept from the table by Engine.IO's service task).
        """
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return
        await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
        socket.queue.put_nowait(None)

    async def close_session_when_drained(self, eio_sid: str) -> None:
        """Close a session once what is queued for it has been written out: a WebSocket's
        writer came back for more, a polling client came back with its next GET (or it
        closed first). A client that does not come back within the ping timeout is closed
        anyway."""
        socket = self.eio.sockets.get(eio_sid)
        if isinstance(socket, StrictSocket):
            drained = asyncio.ensure_future(socket.drained())
            deadline = asyncio.ensure_future(self._clock.sleep(self.namespace_timeout_s))
            try:
                await asyncio.wait({drained, deadline}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                drained.cancel()
                deadline.cancel()
        await self.close_session(eio_sid)

    def table_sizes(self) -> dict[str, int]:
        return {"engineio_sessions": len(self.session_ids()),
                "namespace_deadlines": len(self._deadlines),
                "pending_attachments": len(self._binary_packet),
                # Open sessions only: a closed one keeps its last packets until Engine.IO's
                # service task sweeps it from the table.
                "send_queue_packets": sum(s.queue.qsize() for s in self.eio.sockets.values()
                                          if not s.closed)}

    def send_queue_of(self, eio_sid: str) -> tuple[int, int] | None:
        """(packets, bytes) waiting to be sent to a session, or None if it is not open here."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return None
        return socket.queue.qsize(), getattr(socket, "queued_bytes", 0)

    def _namespaces_of(self, eio_sid: str) -> list[str]:
        return self.manager.namespaces_of(eio_sid)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        # An acknowledgement goes straight to the WebSocket when nothing waits ahead of it
        # (realtime/fanout_adapter.py), in the same write as what this turn broadcast to it.
        if self.manager.send_ack(eio_sid, pkt):
            return
        await super()._send_packet(eio_sid, pkt)

    async def direct_event(self, eio_sid: str, text: str) -> bool:
        """Handle a plain event sent to a namespace (`42/ns,id[name, ...]`, as a WebSocket
        session's reader gets it) without the layers python-engineio and python-socketio put
        between the frame and the handler: the same decoding, checks, handler and
        acknowledgement, with no packet objects, closures or task on the way. False: not such
        an event (or not on a connected namespace): the usual path takes it, and refuses it
        if it has to."""
        head = _DIRECT_HEAD.match(text)
        if head is None or eio_sid in self._binary_packet:
            return False
        try:
            data = fanout_adapter.LeanPacket.json.loads(text[head.end():])
        except (ValueError, RecursionError):
            return False
        if type(data) is not list or not data or type(data[0]) is not str:
            return False
        namespace = head.group(1)
        manager = self.manager
        sid = manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not manager.is_connected(sid, namespace):
            return False
        event = data[0]
        handler, args = self._get_event_handler(event, namespace, (sid, *data[1:]))
        if handler is None or not _is_coroutine_function(handler):
            return False
        try:
            result = await handler(*args)
        except asyncio.CancelledError:  # as python-socketio: the reader goes on
            result = None
        self.direct_events += 1
        if head.group(2) is not None and result is not self.not_handled:
            ack_id = int(head.group(2))
            answer = [] if result is None else list(result) if isinstance(result, tuple) \
                else [result]
            # Straight to the WebSocket when nothing waits ahead of it, else through its queue.
            if not manager.send_ack_data(eio_sid, namespace, ack_id, answer):
                await self._send_packet(eio_sid, self.packet_class(
                    sio_packet.ACK, namespace=namespace, id=ack_id, data=answer))
        return True

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await self._dispatch(eio_sid, data)
        except MalformedPacket as exc:
            await self._refuse(eio_sid, str(exc))

    async def _dispatch(self, eio_sid: str, data: Any) -> None:
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            if not isinstance(data, bytes | bytearray):
                raise MalformedPacket("text frame while binary attachments were due")
            total = self._attachment_bytes.get(eio_sid, 0) + len(data)
            if total > self.max_attachment_bytes:
                raise MalformedPacket(f"attachments over {self.max_attachment_bytes} bytes")
            self._attachment_bytes[eio_sid] = total
            if not pending.add_attachment(data):
                return
            del self._binary_packet[eio_sid]
            self._attachment_bytes.pop(eio_sid, None)
            if pending.packet_type == sio_packet.BINARY_EVENT:
                await self._handle_event(eio_sid, pending.namespace, pending.id, pending.data)
            else:
                await self._handle_ack(eio_sid, pending.namespace, pending.id, pending.data)
            return
        if not isinstance(data, str):
            raise MalformedPacket("binary frame with no binary packet pending")
        try:
            pkt = self.packet_class(encoded_packet=data)
        except RecursionError:
            raise MalformedPacket("nested too deeply") from None
        except (ValueError, TypeError, IndexError) as exc:
            raise MalformedPacket(f"undecodable packet ({exc})") from None
        check_packet(pkt, self.max_attachments)
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
            self._rearm_deadline(eio_sid)
        elif kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:  # binary: the attachments follow
            if not self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/"):
                raise MalformedPacket("binary packet for a namespace not connected")
            self._binary_packet[eio_sid] = pkt
            self._attachment_bytes[eio_sid] = 0

    async def _refuse(self, eio_sid: str, reason: str) -> None:
        """Say what was wrong on every namespace the session joined, then close it."""
        log.info("malformed packet refused", reason=reason)
        self._binary_packet.pop(eio_sid, None)
        self._attachment_bytes.pop(eio_sid, None)
        payload = InvalidRequest(f"Malformed packet: {reason}.").payload()
        for namespace in self._namespaces_of(eio_sid):
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            try:
                await self._send_packet(eio_sid, self.packet_class(
                    sio_packet.EVENT, namespace=namespace, data=["error", payload]))
            except Exception:  # noqa: BLE001 - the session may be gone already
                log.debug("could not tell the session", sid=sid)
        await self.close_session(eio_sid)


# --- start-up self-test ------------------------------------------------------------------

def self_test() -> None:
    """Fail at start-up, with one clear message, if the internals used here have changed."""
    problems = []
    for name in ("_handle_eio_message", "_handle_eio_connect", "_handle_eio_disconnect",
                 "_handle_connect", "_handle_disconnect", "_handle_event", "_handle_ack",
                 "_send_packet"):
        if not inspect.iscoroutinefunction(getattr(socketio.AsyncServer, name, None)):
            problems.append(f"socketio.AsyncServer.{name}")
    if not inspect.iscoroutinefunction(getattr(engineio.async_socket.AsyncSocket, "receive",
                                               None)):
        problems.append("engineio.AsyncSocket.receive")
    server = socketio.AsyncServer(async_mode="asgi")
    if not isinstance(getattr(server, "_binary_packet", None), dict):
        problems.append("socketio.AsyncServer._binary_packet")
    if not isinstance(getattr(server.eio, "sockets", None), dict):
        problems.append("engineio.AsyncServer.sockets")
    if "self.queue" not in inspect.getsource(engineio.async_socket.AsyncSocket.poll):
        problems.append("engineio.AsyncSocket.queue (closing the writer)")
    for name in ("send", "poll", "close", "handle_get_request", "_upgrade_websocket"):
        if not inspect.iscoroutinefunction(getattr(engineio.async_socket.AsyncSocket, name,
                                                   None)):
            problems.append(f"engineio.AsyncSocket.{name}")
    # The WebSocket writer and the polling GET both take packets through poll(), and close()
    # sends through send(): the queue bound and the drain rely on both.
    writer = inspect.getsource(engineio.async_socket.AsyncSocket._websocket_handler)
    if "self.poll()" not in writer or "self.queue.put(None)" not in writer:
        problems.append("engineio.AsyncSocket._websocket_handler (writer through poll)")
    if "self.poll()" not in inspect.getsource(engineio.async_socket.AsyncSocket.handle_get_request):
        problems.append("engineio.AsyncSocket.handle_get_request (poll)")
    # The request's headers are read from the environ before the upgrade only.
    if "environ" in inspect.getsource(engineio.async_socket.AsyncSocket._websocket_handler) \
            or "HTTP_" not in inspect.getsource(engineio.async_socket.AsyncSocket.handle_get_request):
        problems.append("engineio.AsyncSocket._upgrade_websocket (environ after the upgrade)")
    # The heartbeat and the WebSocket handler replaced here (StrictSocket).
    sock = engineio.async_socket.AsyncSocket
    if "self._send_ping" not in inspect.getsource(sock.schedule_ping) \
            or "self.last_ping = None" not in inspect.getsource(sock.schedule_ping) \
            or "self.schedule_ping()" not in inspect.getsource(sock.receive) \
            or "s.schedule_ping()" not in inspect.getsource(engineio.AsyncServer._handle_connect):
        problems.append("engineio.AsyncSocket.schedule_ping (heartbeat)")
    if "self._websocket_handler" not in inspect.getsource(sock._upgrade_websocket) \
            or "self.connected = True" not in writer or "self.upgraded = True" not in writer \
            or "await self.close(wait=False, abort=True" not in writer:
        problems.append("engineio.AsyncSocket._websocket_handler (WebSocket session)")
    if not hasattr(engineio.exceptions, "UnknownPacketError") \
            or not hasattr(engineio.exceptions, "SocketIsClosedError"):
        problems.append("engineio.exceptions")
    if "start_background_task" not in dir(engineio.AsyncServer):
        problems.append("engineio.AsyncServer.start_background_task")
    if hasattr(engineio.async_socket.AsyncSocket, "__slots__"):
        problems.append("engineio.AsyncSocket has slots (class swap)")
    pkt = socketio.packet.Packet(encoded_packet='51-["e",{"_placeholder":true,"num":0}]')
    if (pkt.packet_type, pkt.attachment_count) != (sio_packet.BINARY_EVENT, 1):
        problems.append("socketio.packet.Packet decoding")
    elif not pkt.add_attachment(b"x") or pkt.data != ["e", b"x"]:
        problems.append("socketio.packet.Packet.add_attachment")
    # The direct event path (StrictServer.direct_event) does what these do for an event.
    if "'message', self.sid, pkt.data" not in inspect.getsource(sock.receive):
        problems.append("engineio.AsyncSocket.receive (message)")
    internal = inspect.getsource(socketio.AsyncServer._handle_event_internal)
    if "server._trigger_event(data[0], namespace, sid, *data[1:])" not in internal \
            or "r != self.not_handled and id is not None" not in internal \
            or "data = list(r)" not in internal:
        problems.append("socketio.AsyncServer._handle_event_internal")
    if "self._get_event_handler(event, namespace, args)" not in inspect.getsource(
            socketio.AsyncServer._trigger_event):
        problems.append("socketio.AsyncServer._trigger_event (handler lookup)")
    for text in ('42/public-room/r,7["send-message",{"content":"x"}]', '42/n,["e",1,null]',
                 '42/,012["e"]'):
        head = _DIRECT_HEAD.match(text)
        stock = socketio.packet.Packet(encoded_packet=text[1:])
        if head is None or (head.group(1), None if head.group(2) is None else int(head.group(2)),
                            fanout_adapter.LeanPacket.json.loads(text[head.end():])) != \
                (stock.namespace, stock.id, stock.data):
            problems.append("socketio.packet.Packet decoding (direct events)")
            break
    if problems:
        raise RuntimeError("python-socketio/python-engineio internals changed (pinned versions "
                           "in pyproject.toml): " + ", ".join(problems))
