"""Rate limits (moving window, `limits` library) with blocks: once over, refused until the block ends."""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
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

    async def expire(self) -> None:
        await self._MemoryStorage__expire_events()


if not hasattr(MemoryStorage, "_MemoryStorage__expire_events"):  # pragma: no cover
    raise ImportError("limits.aio.storage.MemoryStorage changed: see SweptMemoryStorage")


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

    async def hit(self, rule: LimitRule, key: str, *, report: bool = False) -> Allowance | None:
        """Count one hit; raise the rule's error (with the wait) when over or blocked.

        With `report`, also read the window back for rate-limit headers (one more storage call,
        so only HTTP asks for it).
        """
        item = RateLimitItemPerSecond(rule.amount, rule.window_s)
        left = await self._blocks.blocked_for(rule.name, key)
        if left > 0:
            raise rule.error(retry_after_s=left, details={"limit": rule.name})
        if not await self._limiter.hit(item, rule.name, key):
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
