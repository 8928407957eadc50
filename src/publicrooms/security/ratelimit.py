"""Rate limits (moving window, `limits` library) with blocks: once over, refused until the block ends."""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from publicrooms.clock import Clock
from publicrooms.errors import DomainError


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


def _storage(uri: str):  # noqa: ANN202
    return SweptMemoryStorage() if uri.startswith("async+memory://") else storage_from_string(uri)


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

    def __init__(self, *, clock: Clock, storage_uri: str = "async+memory://") -> None:
        self._clock = clock
        self._storage = _storage(storage_uri)
        self._limiter = MovingWindowRateLimiter(self._storage)
        # (rule name, key) → monotonic time the block ends. Blocks follow our clock so tests
        # can step over them.
        self._blocks: dict[tuple[str, str], float] = {}

    def blocked_for(self, rule: LimitRule, key: str) -> float:
        """Seconds left on this key's block (0 when not blocked)."""
        until = self._blocks.get((rule.name, key))
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        return left if left > 0 else 0.0

    async def hit(self, rule: LimitRule, key: str, *, report: bool = False) -> Allowance | None:
        """Count one hit; raise the rule's error (with the wait) when over or blocked.

        With `report`, also read the window back for rate-limit headers (one more storage call,
        so only HTTP asks for it).
        """
        item = RateLimitItemPerSecond(rule.amount, rule.window_s)
        block_key = (rule.name, key)
        if block_key in self._blocks:
            left = self.blocked_for(rule, key)
            if left > 0:
                raise rule.error(retry_after_s=left, details={"limit": rule.name})
            del self._blocks[block_key]
        if not await self._limiter.hit(item, rule.name, key):
            self._blocks[block_key] = self._clock.monotonic() + rule.block_s
            # Nothing counts during the block, and the key starts afresh when it ends.
            await self._limiter.clear(item, rule.name, key)
            raise rule.error(retry_after_s=rule.block_s, details={"limit": rule.name})
        if not report:
            return None
        stats = await self._limiter.get_window_stats(item, rule.name, key)
        # The window itself lives on the limits library's system-time clock.
        return Allowance(rule, stats.remaining, max(0.0, stats.reset_time - SYSTEM_CLOCK.time()))

    async def sweep(self) -> int:
        """Forget blocks that ended and windows that ran out; returns how many blocks."""
        now = self._clock.monotonic()
        ended = [key for key, until in self._blocks.items() if until <= now]
        for key in ended:
            del self._blocks[key]
        if isinstance(self._storage, SweptMemoryStorage):
            await self._storage.expire()
        return len(ended)

    def table_sizes(self) -> dict[str, int]:
        sizes = {"blocks": len(self._blocks)}
        events = getattr(self._storage, "events", None)
        if events is not None:
            sizes["windows"] = len(events)
        return sizes
