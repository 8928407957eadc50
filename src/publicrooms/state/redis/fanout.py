"""Cross-node fan-out: python-socketio's Redis manager, carried on a Redis stream.

The stock manager publishes on plain pub/sub: whatever is published while a node is not
subscribed (it lost Redis, and is waiting to resubscribe) never reaches that node, and its
resubscribe wait doubles up to 60 s. Here every broadcast is appended to one capped stream
(`XADD … MAXLEN ~ backlog`) and each node reads it from the last entry it handled, so a node
that was cut off catches up on what it missed when it is back, in order, and nothing is
delivered twice.

Each node hands what it reads to its own sockets' send queues, which are bounded per socket
and never wait (realtime/engineio_adapter.py): a client that stops reading on one node is cut
off there and holds up neither this reader nor the other nodes.

python-socketio delivers a broadcast on its own node at once and on the others when they read
it, so two nodes' broadcasts to one room can reach its members in different orders. Chat must
not (every seat sees the history's order): `emit_in_order` sends through the stream only, and
every node, this one included, delivers it when it reads it, in the stream's order. It takes a
committed chat batch's broadcasts at once and appends them in one round trip (a pipeline),
and the readers take them back in one XREAD: per message, one command's cost less on the
sender and on every reader.

This is the one place that overrides python-socketio internals (`AsyncRedisManager._publish`,
`_listen`, `_redis_connect` and the `redis` attribute, used by `AsyncPubSubManager._thread`;
`_handle_emit` and the message shape it reads):
the version is pinned in pyproject.toml and `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio

import socketio
import structlog

log = structlog.get_logger("publicrooms.fanout")

READ_BLOCK_MS = 1000      # one XREAD waits this long for new entries, then reads again
READ_COUNT = 512          # entries taken per XREAD
# The sender of an in-order emit: a host id no node has, so every node handles it, this one too.
IN_ORDER_HOST = "in-order"


class RedisFanout(socketio.AsyncRedisManager):
    """AsyncRedisManager over a capped Redis stream instead of a pub/sub channel."""

    def __init__(self, url: str, *, stream: str, backlog: int, retry_s: float,
                 redis_options: dict | None = None, write_only: bool = False) -> None:
        super().__init__(url, channel=stream, write_only=write_only,
                         redis_options=redis_options)
        self.stream = stream
        self.backlog = backlog
        self.retry_s = retry_s
        self.read_from: str | None = None   # id of the last entry handled (None: not started)
        # In-order broadcasts appended, and the round trips that took (batches share one).
        self.in_order_entries = 0
        self.in_order_appends = 0

    async def emit_in_order(self, emits: list[tuple[str, object, str, str | None]]) -> None:
        """Broadcast each (event, data, namespace, room), so that every node, this one
        included, delivers them in stream order: appended in this order, in one round trip."""
        messages = [{"method": "emit", "event": event, "data": [data], "binary": False,
                     "namespace": namespace, "room": room, "skip_sid": None,
                     "callback": None, "host_id": IN_ORDER_HOST}
                    for event, data, namespace, room in emits]
        if not await self._append(messages):
            for message in messages:  # Redis unreachable: this node's members still hear them
                await self._handle_emit(message)
            return
        self.in_order_entries += len(messages)
        self.in_order_appends += 1

    async def _publish(self, data) -> bool:  # noqa: ANN001 - overrides a private method
        return await self._append([data])

    async def _append(self, messages: list[dict]) -> bool:
        """Append `messages` to the stream, in order; False when Redis could not be reached."""
        payloads = [self.json.dumps(message) for message in messages]
        for attempt in (1, 2):
            try:
                if not self.connected:
                    self._redis_connect()
                if len(payloads) == 1:
                    await self.redis.xadd(self.stream, {"d": payloads[0]},
                                          maxlen=self.backlog, approximate=True)
                else:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for payload in payloads:
                            pipe.xadd(self.stream, {"d": payload}, maxlen=self.backlog,
                                      approximate=True)
                        await pipe.execute()
                return True
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect once, then give up
                self.connected = False
                if attempt == 2:
                    # The local delivery has happened; callers refuse new work during an outage.
                    log.error("fan-out could not append a broadcast", error=repr(exc),
                              method=messages[0].get("method"), count=len(messages))
        return False

    async def _start_position(self) -> str:
        """Entries after now (by Redis's clock): what this node publishes or is sent from here."""
        seconds, micros = await self.redis.time()
        return f"{seconds * 1000 + micros // 1000}-0"

    async def _listen(self):  # noqa: ANN202 - overrides a private generator
        reading = False
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # redis-py's asyncio client can swallow a cancellation that lands inside a
                # command (XREAD blocks for a second): end anyway, or shutdown waits forever.
                raise asyncio.CancelledError
            try:
                if not self.connected:
                    self._redis_connect()
                if self.read_from is None:
                    self.read_from = await self._start_position()
                batches = await self.redis.xread({self.stream: self.read_from},
                                                 count=READ_COUNT, block=READ_BLOCK_MS)
                if not reading:
                    reading = True
                    log.info("fan-out reading", stream=self.stream, after=self.read_from)
                for _stream, entries in batches or ():
                    for entry_id, fields in entries:
                        self.read_from = entry_id.decode() if isinstance(entry_id, bytes) \
                            else entry_id
                        payload = fields.get(b"d", fields.get("d"))
                        if payload is not None:
                            yield payload
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: read again shortly
                if reading:
                    log.warning("fan-out lost Redis; reading again from the last entry",
                                error=repr(exc), after=self.read_from)
                reading = False
                self.connected = False
                await asyncio.sleep(self.retry_s)


def self_test() -> None:
    """Fail at start-up if python-socketio no longer has what RedisFanout overrides or uses."""
    import inspect

    from socketio.async_pubsub_manager import AsyncPubSubManager

    base = socketio.AsyncRedisManager
    for name in ("_redis_connect", "_listen", "_publish", "_thread", "_handle_emit"):
        if not callable(getattr(base, name, None)):
            raise RuntimeError(f"python-socketio changed: AsyncRedisManager.{name} is gone "
                               "(see publicrooms/state/redis/fanout.py)")
    if "self._listen()" not in inspect.getsource(AsyncPubSubManager._thread):
        raise RuntimeError("python-socketio changed: AsyncPubSubManager._thread no longer "
                           "reads self._listen() (see publicrooms/state/redis/fanout.py)")
    if "data.get('host_id') != self.host_id" not in inspect.getsource(AsyncPubSubManager._thread):
        raise RuntimeError("python-socketio changed: AsyncPubSubManager._thread no longer "
                           "skips only its own host's messages (see state/redis/fanout.py)")
    manager = RedisFanout("redis://127.0.0.1:1/0", stream="self-test", backlog=1, retry_s=1,
                          write_only=True)
    manager._redis_connect()
    if not (hasattr(manager, "redis") and hasattr(manager, "connected")
            and hasattr(manager, "json")):
        raise RuntimeError("python-socketio changed: AsyncRedisManager.redis / connected / "
                           "json are gone (see publicrooms/state/redis/fanout.py)")


def client_manager(url: str, prefix: str, *, backlog: int, retry_s: float) -> RedisFanout:
    self_test()
    return RedisFanout(url, stream=f"{prefix}socketio", backlog=backlog, retry_s=retry_s,
                       redis_options={"socket_connect_timeout": 2.0,
                                      "health_check_interval": 2})
