"""Cross-node fan-out: python-socketio's Redis manager, resubscribing quickly after an outage.

The stock manager doubles its resubscribe wait up to 60 s, so after a 10 s Redis outage a node
could stay deaf to the others for as long again. This is the one place that overrides
python-socketio internals (`AsyncRedisManager._redis_listen_with_retries`, `_redis_connect`,
`pubsub`): the version is pinned in pyproject.toml and `self_test()` runs at start-up.
"""

from __future__ import annotations

import asyncio

import socketio
import structlog

log = structlog.get_logger("publicrooms.fanout")

RESUBSCRIBE_S = 0.5


class RedisFanout(socketio.AsyncRedisManager):
    """AsyncRedisManager with a constant, short resubscribe wait."""

    async def _redis_listen_with_retries(self):  # noqa: ANN202 - overrides a private generator
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    log.info("fan-out subscribed", channel=self.channel)
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:  # noqa: BLE001 - any failure: resubscribe shortly
                if subscribed:
                    log.warning("fan-out lost Redis; resubscribing", error=repr(exc))
                subscribed = False
                await asyncio.sleep(RESUBSCRIBE_S)


def self_test() -> None:
    """Fail at start-up if python-socketio no longer has what RedisFanout overrides or uses."""
    base = socketio.AsyncRedisManager
    for name in ("_redis_listen_with_retries", "_redis_connect", "_listen", "_publish"):
        if not callable(getattr(base, name, None)):
            raise RuntimeError(f"python-socketio changed: AsyncRedisManager.{name} is gone "
                               "(see publicrooms/state/redis/fanout.py)")
    manager = RedisFanout("redis://127.0.0.1:1/0", channel="self-test", write_only=True)
    if not hasattr(manager, "redis_options"):
        raise RuntimeError("python-socketio changed: AsyncRedisManager.redis_options is gone")


def client_manager(url: str, prefix: str) -> RedisFanout:
    self_test()
    return RedisFanout(url, channel=f"{prefix}socketio",
                       redis_options={"socket_connect_timeout": 2.0,
                                      "health_check_interval": 2})
