"""Moderation: reports from participants; kicks, bans and look-ups for operators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import DomainError, InvalidRequest, IpBlocked, Kicked, NotFound
from publicrooms.store.moderation import BanRecord, ModerationStore, ReportRecord
from publicrooms.store.sql import SqlStore

log = structlog.get_logger("publicrooms.moderation")

REPORT_REASONS = ("harassment", "hate", "spam", "sexual-content", "violence", "impersonation",
                  "other")


def ban_error(ban: BanRecord, now: datetime) -> IpBlocked:
    """What a banned person is told: the public reason, and how long (unless it is for good)."""
    details = {"reason": ban.public_reason, "permanent": ban.expires_at is None}
    retry = None if ban.expires_at is None else (ban.expires_at - now).total_seconds()
    return IpBlocked(f"Access is blocked: {ban.public_reason}", retry_after_s=retry,
                     details=details)


class BanList:
    """Every node's copy of the active bans, reloaded from SQL every few seconds (and at once
    on the node that bans); expiry is exact because each ban carries its end."""

    def __init__(self, *, store: ModerationStore, clock: Clock,
                 on_new_ban: Callable[[BanRecord], Awaitable[None]]) -> None:
        self._store = store
        self._clock = clock
        self._on_new_ban = on_new_ban
        self._bans: dict[str, BanRecord] = {}

    def __len__(self) -> int:
        return len(self._bans)

    def check(self, ip_key: str) -> None:
        """Raise IP_BLOCKED (with the ban's public reason) while the key is banned."""
        ban = self._bans.get(ip_key)
        if ban is None:
            return
        now = self._clock.now()
        if ban.active(now):
            raise ban_error(ban, now)
        del self._bans[ip_key]

    async def refresh(self) -> int:
        """Reload from SQL; sockets of keys banned since the last load are closed here."""
        bans: dict[str, BanRecord] = {}
        for ban in await self._store.active_bans(self._clock.now()):
            current = bans.get(ban.ip_key)
            # The ban that lasts longest wins (a permanent one over any timed one).
            if current is None or current.expires_at is not None and (
                    ban.expires_at is None or ban.expires_at > current.expires_at):
                bans[ban.ip_key] = ban
        new = [ban for key, ban in bans.items() if key not in self._bans]
        self._bans = bans
        for ban in new:
            await self._on_new_ban(ban)
        return len(bans)

    async def added(self, ban: BanRecord) -> None:
        self._bans[ban.ip_key] = ban
        await self._on_new_ban(ban)

    def lifted(self, ip_key: str) -> None:
        self._bans.pop(ip_key, None)


class ModerationService:
    def __init__(self, *, store: ModerationStore, sql: SqlStore, clock: Clock,
                 bans: BanList, kick_user: Callable[[str, DomainError], Awaitable[int]],
                 seat_of: Callable[[str], Awaitable[object]], report_text_max: int) -> None:
        self.store = store
        self._sql = sql
        self._clock = clock
        self.bans = bans
        self._kick_user = kick_user
        self._seat_of = seat_of
        self._report_text_max = report_text_max
        # What this node did (metrics): reports filed, kicks and bans made.
        self.counts = {"reports": 0, "kicks": 0, "bans": 0, "unbans": 0}

    # participants ----------------------------------------------------------------------------

    async def report(self, *, room_id: str, reporter_id: str, reporter_ip_key: str,
                     target_user_id: str, reason: str, text: str) -> ReportRecord:
        """File a report of someone seated in the reporter's room."""
        if reason not in REPORT_REASONS:
            raise InvalidRequest(f"Choose a reason: {', '.join(REPORT_REASONS)}.",
                                 details={"reasons": list(REPORT_REASONS)})
        if len(text) > self._report_text_max:
            raise InvalidRequest(f"The report text may be up to {self._report_text_max} characters.")
        if target_user_id == reporter_id:
            raise InvalidRequest("You cannot report yourself.")
        seat = await self._seat_of(target_user_id)
        target = await self._sql.get_user(target_user_id)
        if seat is None or getattr(seat, "room_id", None) != room_id or target is None:
            raise InvalidRequest("That person is not in this room.")
        record = await self.store.add_report(
            room_id=room_id, reporter_user_id=reporter_id, reporter_ip_key=reporter_ip_key,
            target_user_id=target.id, target_ip_key=target.ip_key,
            target_name=target.display_name, reason=reason, text=text, now=self._clock.now())
        self.counts["reports"] += 1
        log.info("report filed", report=record.id, room=room_id, reason=reason,
                 reporter_ip_key=reporter_ip_key, target_ip_key=target.ip_key)
        return record

    # operators -------------------------------------------------------------------------------

    async def kick(self, user_id: str, reason: str = "") -> int:
        """Close the user's sockets on whichever node; their seat is freed as on a leave."""
        if await self._sql.get_user(user_id) is None:
            raise NotFound("No such user.")
        message = f"You were removed from the room by a moderator{': ' + reason if reason else '.'}"
        closed = await self._kick_user(user_id, Kicked(message))
        self.counts["kicks"] += 1
        log.warning("participant kicked", user=user_id, sockets=closed, reason=reason)
        return closed

    async def ip_key_of(self, *, user_id: str | None = None, report_id: str | None = None,
                        ip_key: str | None = None) -> str:
        """The IP key an operator means: named directly, through a user, or a report's target."""
        if ip_key:
            return ip_key
        if user_id:
            user = await self._sql.get_user(user_id)
            if user is None:
                raise NotFound("No such user.")
            return user.ip_key
        if report_id:
            report = await self.store.report(report_id)
            if report is None:
                raise NotFound("No such report.")
            return report.target_ip_key
        raise InvalidRequest("Name the person: userId, reportId or ipKey.")

    async def ban(self, *, ip_key: str, duration_s: float | None, reason: str,
                  public_reason: str, by: str) -> BanRecord:
        now = self._clock.now()
        expires = None if duration_s is None else now + timedelta(seconds=duration_s)
        ban = await self.store.add_ban(ip_key=ip_key, reason=reason, public_reason=public_reason,
                                        now=now, expires_at=expires, created_by=by)
        self.counts["bans"] += 1
        log.warning("ip key banned", ip_key=ip_key, until=expires.isoformat() if expires else "forever",
                    reason=reason, by=by)
        await self.bans.added(ban)
        return ban

    async def unban(self, ip_key: str) -> int:
        lifted = await self.store.lift_bans(ip_key, self._clock.now())
        self.bans.lifted(ip_key)
        if lifted:
            self.counts["unbans"] += 1
            log.warning("ip key unbanned", ip_key=ip_key, bans=lifted)
        return lifted
