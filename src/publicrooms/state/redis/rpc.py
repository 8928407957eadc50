"""Node-to-node calls over Redis pub/sub: requests and replies on each node's `rpc:{id}` channel."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import structlog

from publicrooms.state.rpc import Handler, RemoteError

log = structlog.get_logger("publicrooms.rpc")


class RedisRpc:
    def __init__(self, url: str, redis, prefix: str, node_id: str) -> None:  # noqa: ANN001
        self._url = url
        self._redis = redis  # for publishing
        self._prefix = prefix
        self._node_id = node_id
        self._handler: Handler | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    def _channel(self, node_id: str) -> str:
        return f"{self._prefix}rpc:{node_id}"

    def serve(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="rpc-listen")
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RemoteError("MEDIA_UNAVAILABLE", "node stopping"))

    async def call(self, node_id: str, op: str, args: dict[str, Any],
                   timeout_s: float = 15.0) -> Any:
        call_id = f"{self._node_id}:{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            message = {"kind": "call", "id": call_id, "op": op, "args": args,
                       "reply": self._channel(self._node_id)}
            if not await self._redis.publish(self._channel(node_id), json.dumps(message)):
                raise RemoteError("MEDIA_UNAVAILABLE", "the room's media node is not listening")
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            raise RemoteError("MEDIA_TIMEOUT", "the room's media node did not answer") from None
        finally:
            self._pending.pop(call_id, None)

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(self._url, decode_responses=True,
                                             socket_connect_timeout=2, health_check_interval=2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel(self._node_id))
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - resubscribe shortly
                log.warning("node calls lost Redis; resubscribing", error=repr(exc))
                await asyncio.sleep(0.5)
            finally:
                await asyncio.gather(pubsub.aclose(), client.aclose(), return_exceptions=True)

    def _dispatch(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if message.get("kind") == "reply":
            future = self._pending.get(message.get("id"))
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RemoteError(*message["error"]))
                else:
                    future.set_result(message.get("result"))
        elif message.get("kind") == "call" and self._handler is not None:
            task = asyncio.create_task(self._answer(message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _answer(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"kind": "reply", "id": message["id"]}
        try:
            reply["result"] = await self._handler(message["op"], message.get("args") or {})
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply["error"] = [getattr(exc, "code", "MEDIA_ERROR"), str(exc)]
        try:
            await self._redis.publish(message["reply"], json.dumps(reply))
        except Exception as exc:  # noqa: BLE001 - the caller times out
            log.warning("could not answer a node call", error=repr(exc))
