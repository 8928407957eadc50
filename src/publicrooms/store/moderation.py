"""Moderation records: reports, bans and the operator audit log. Every statement is parameterised."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from publicrooms.store import models
from publicrooms.store.database import session_factory


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class ReportRecord:
    id: str
    room_id: str
    reporter_user_id: str
    reporter_ip_key: str
    target_user_id: str
    target_ip_key: str
    target_name: str
    reason: str
    text: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: str


@dataclass(frozen=True, slots=True)
class BanRecord:
    id: int
    ip_key: str
    reason: str
    public_reason: str
    created_at: datetime
    expires_at: datetime | None
    lifted_at: datetime | None
    created_by: str

    def active(self, now: datetime) -> bool:
        return self.lifted_at is None and (self.expires_at is None or self.expires_at > now)


def _report(row: models.Report) -> ReportRecord:
    return ReportRecord(row.id, row.room_id, row.reporter_user_id, row.reporter_ip_key,
                        row.target_user_id, row.target_ip_key, row.target_name, row.reason,
                        row.text, _utc(row.created_at), _utc(row.resolved_at), row.resolution)


def _ban(row: models.Ban) -> BanRecord:
    return BanRecord(row.id, row.ip_key, row.reason, row.public_reason, _utc(row.created_at),
                     _utc(row.expires_at), _utc(row.lifted_at), row.created_by)


class ModerationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._session: async_sessionmaker = session_factory(engine)

    # reports -------------------------------------------------------------------------------

    async def add_report(self, *, room_id: str, reporter_user_id: str, reporter_ip_key: str,
                         target_user_id: str, target_ip_key: str, target_name: str, reason: str,
                         text: str, now: datetime) -> ReportRecord:
        row = models.Report(id=str(uuid.uuid4()), room_id=room_id,
                            reporter_user_id=reporter_user_id, reporter_ip_key=reporter_ip_key,
                            target_user_id=target_user_id, target_ip_key=target_ip_key,
                            target_name=target_name, reason=reason, text=text, created_at=now,
                            resolved_at=None, resolution="")
        async with self._session() as session, session.begin():
            session.add(row)
        return _report(row)

    async def report(self, report_id: str) -> ReportRecord | None:
        async with self._session() as session:
            row = await session.get(models.Report, report_id)
            return _report(row) if row else None

    async def reports(self, *, open_only: bool = True, target_user_id: str | None = None,
                      limit: int = 100) -> list[ReportRecord]:
        query = select(models.Report).order_by(models.Report.created_at.desc())
        if open_only:
            query = query.where(models.Report.resolved_at.is_(None))
        if target_user_id is not None:
            query = query.where(models.Report.target_user_id == target_user_id)
        async with self._session() as session:
            return [_report(r) for r in await session.scalars(query.limit(limit))]

    async def resolve_report(self, report_id: str, *, resolution: str,
                             now: datetime) -> ReportRecord | None:
        async with self._session() as session, session.begin():
            row = await session.get(models.Report, report_id, with_for_update=True)
            if row is None:
                return None
            row.resolved_at, row.resolution = now, resolution
            return _report(row)

    # bans ----------------------------------------------------------------------------------

    async def add_ban(self, *, ip_key: str, reason: str, public_reason: str, now: datetime,
                      expires_at: datetime | None, created_by: str) -> BanRecord:
        row = models.Ban(ip_key=ip_key, reason=reason, public_reason=public_reason,
                         created_at=now, expires_at=expires_at, lifted_at=None,
                         created_by=created_by)
        async with self._session() as session, session.begin():
            session.add(row)
        return _ban(row)

    async def active_bans(self, now: datetime) -> list[BanRecord]:
        query = select(models.Ban).where(
            models.Ban.lifted_at.is_(None),
            or_(models.Ban.expires_at.is_(None), models.Ban.expires_at > now))
        async with self._session() as session:
            return [_ban(r) for r in await session.scalars(query.order_by(models.Ban.id))]

    async def bans(self, *, limit: int = 100) -> list[BanRecord]:
        async with self._session() as session:
            rows = await session.scalars(select(models.Ban).order_by(models.Ban.id.desc()).limit(limit))
            return [_ban(r) for r in rows]

    async def lift_bans(self, ip_key: str, now: datetime) -> int:
        """Lift every active ban of the key; how many."""
        async with self._session() as session, session.begin():
            result = await session.execute(
                update(models.Ban).where(models.Ban.ip_key == ip_key, models.Ban.lifted_at.is_(None),
                                         or_(models.Ban.expires_at.is_(None),
                                             models.Ban.expires_at > now))
                .values(lifted_at=now))
            return result.rowcount or 0

    # audit ---------------------------------------------------------------------------------

    async def add_audit(self, *, token_id: str, ip_key: str, action: str, detail: str,
                        status: int, now: datetime) -> None:
        async with self._session() as session, session.begin():
            session.add(models.AuditEntry(token_id=token_id, ip_key=ip_key, action=action[:200],
                                          detail=detail, status=status, created_at=now))

    async def audit(self, *, limit: int = 100) -> list[dict]:
        async with self._session() as session:
            rows = await session.scalars(
                select(models.AuditEntry).order_by(models.AuditEntry.id.desc()).limit(limit))
            return [{"tokenId": r.token_id, "ipKey": r.ip_key[:12], "action": r.action,
                     "detail": r.detail, "status": r.status,
                     "at": _utc(r.created_at).isoformat().replace("+00:00", "Z")} for r in rows]

    # finding people ------------------------------------------------------------------------

    async def users_named(self, name: str, *, limit: int = 50) -> list[tuple[str, str, str]]:
        """(user id, display name, ip key) of users whose name contains `name` (any case)."""
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = (select(models.User).where(models.User.display_name.ilike(pattern, escape="\\"))
                 .order_by(models.User.last_active_at.desc()).limit(limit))
        async with self._session() as session:
            return [(r.id, r.display_name, r.ip_key) for r in await session.scalars(query)]
