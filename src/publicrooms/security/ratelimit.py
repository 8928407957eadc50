"""Rate limits (moving window, `limits` library) with blocks: once over, refused until the block ends."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.storage.memory import Entry
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from publicrooms.clock import Clock
from publicrooms.errors import DomainError
from publicrooms.state.blocks import BlockStore


SYSTEM_CLOCK = Clock()


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory storage, with old windows expired by our table sweep.

    Its own expiry runs after every hit and walks every key with a thread hop each: with many
    users that is most of a chat message's cost. Correctness never depended on it (windows are
    checked by timestamp); it only frees memory, which the sweep does once a minute instead.
    Relies on MemoryStorage's private expiry methods: limits is pinned in pyproject.toml.
    """

    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides private
        return None

    def take(self, key: str, limit: int, expiry: int) -> bool:
        """`acquire_entry(key, limit, expiry)` in one synchronous step: what every hit on this
        process's storage costs. The same entries (newest first) and the same decision, without
        the asyncio lock (nothing here awaits, so no other hit can come between) and the four
        error-wrapping coroutines limits puts around each call; and a window keeps no more
        entries than its limit, the only ones a decision or a count can reach (the sweep drops
        the rest later)."""
        if limit < 1:
            return False
        events = self.events.get(key)
        if events is None:
            events = self.events[key] = []
        if len(events) >= limit and events[limit - 1].atime >= time.time() - expiry:
            return False
        events.insert(0, Entry(expiry))
        if len(events) > limit:
            del events[limit:]
        return True

    async def expire(self) -> None:
        await self._MemoryStorage__expire_events()


def _self_test() -> None:
    """`take` decides as limits' own `acquire_entry` does, on the same entries."""
    if not hasattr(MemoryStorage, "_MemoryStorage__expire_events") \
            or "self.events[key][limit - amount]" not in inspect.getsource(
                MemoryStorage.acquire_entry):
        raise ImportError("limits.aio.storage.MemoryStorage changed: see SweptMemoryStorage")


_self_test()


@lru_cache(maxsize=64)
def _item(amount: int, window_s: int) -> tuple[RateLimitItemPerSecond, Callable[..., str]]:
    """A rule's limits item (one per rule, not one per hit) and its key maker, which
    remembers the keys of recent hitters (limits builds each key afresh)."""
    item = RateLimitItemPerSecond(amount, window_s)
    return item, lru_cache(maxsize=65536)(item.key_for)


def _storage(uri: str, key_prefix: str | None):  # noqa: ANN202
    if uri.startswith("async+memory://"):
        return SweptMemoryStorage()
    options: dict = {"key_prefix": key_prefix} if key_prefix else {}
    if uri.startswith(("async+redis://", "async+rediss://", "async+redis+unix://")):
        # redis-py (already a dependency), failing fast while Redis is unreachable.
        from publicrooms.state.redis import connection_pool

        options.update(implementation="redispy",
                       connection_pool=connection_pool(uri.removeprefix("async+"),
                                                       decode_responses=False))
    return storage_from_string(uri, **options)


@dataclass(frozen=True, slots=True)
class LimitRule:
    """`amount` hits per `window_s`; going over blocks the key for `block_s`."""

    name: str
    amount: int
    window_s: int
    block_s: float
    error: type[DomainError]


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the rate-limit headers report after a permitted hit."""

    rule: LimitRule
    remaining: int
    reset_s: float


class RateLimiter:
    """Counts hits per rule and key; the block (not just the window) is enforced."""

    def __init__(self, *, blocks: BlockStore, storage_uri: str = "async+memory://",
                 key_prefix: str | None = None) -> None:
        self._blocks = blocks
        self._storage = _storage(storage_uri, key_prefix)
        self._limiter = MovingWindowRateLimiter(self._storage)
        # In-process windows are counted directly (SweptMemoryStorage.take).
        self._local = self._storage if isinstance(self._storage, SweptMemoryStorage) else None

    async def hit(self, rule: LimitRule, key: str, *, report: bool = False) -> Allowance | None:
        """Count one hit; raise the rule's error (with the wait) when over or blocked.

        With `report`, also read the window back for rate-limit headers (one more storage call,
        so only HTTP asks for it).
        """
        item, key_for = _item(rule.amount, rule.window_s)
        left = await self._blocks.blocked_for(rule.name, key)
        if left > 0:
            raise rule.error(retry_after_s=left, details={"limit": rule.name})
        if self._local is not None:
            allowed = self._local.take(key_for(rule.name, key), rule.amount, rule.window_s)
        else:
            allowed = await self._limiter.hit(item, rule.name, key)
        if not allowed:
            await self._blocks.block(rule.name, key, rule.block_s)
            # Nothing counts during the block, and the key starts afresh when it ends.
            await self._limiter.clear(item, rule.name, key)
            raise rule.error(retry_after_s=rule.block_s, details={"limit": rule.name})
        if not report:
            return None
        stats = await self._limiter.get_window_stats(item, rule.name, key)
        # The window itself lives on the limits library's system-time clock.
        return Allowance(rule, stats.remaining, max(0.0, stats.reset_time - SYSTEM_CLOCK.time()))

    async def sweep(self) -> int:
        """Forget windows that ran out (in-process storage only; Redis expires its own)."""
        if isinstance(self._storage, SweptMemoryStorage):
            await self._storage.expire()
        return 0

    def table_sizes(self) -> dict[str, int]:
        events = getattr(self._storage, "events", None)
        return {} if events is None else {"windows": len(events)}
