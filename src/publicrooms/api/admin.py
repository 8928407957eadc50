"""`/api/admin/...`: the operator API. Off unless PUBLICROOMS_ADMIN_TOKEN is set; bearer token,
same origin only, its own rate limit, and every call in the audit log (table and log line)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from publicrooms.api.errors import OPERATOR_ERRORS
from publicrooms.api.routes import context, ip_key
from publicrooms.errors import AdminUnauthorized, DomainError, ForeignOrigin, NotFound
from publicrooms.schemas.moderation import BanCreate, KickRequest, PersonRef, ResolveRequest
from publicrooms.services.views import iso
from publicrooms.store.moderation import BanRecord, ReportRecord

log = structlog.get_logger("publicrooms.admin")


def _token_id(token: str) -> str:
    """Who called, in the audit log: a short hash of the token, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else "-"


def _same_origin(request: Request) -> bool:
    """No `Origin` (curl, the CLI) or the server's own; a browser page elsewhere is refused."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.headers.get("host", "").lower()


async def _audit(request: Request, token_id: str, key: str, status: int) -> None:
    ctx, server = context(request), request.app.state.server
    action = f"{request.method} {request.url.path}"
    detail = request.url.query
    log.info("operator call", token=token_id, ip_key=key[:12], action=action, query=detail,
             status=status)
    try:
        await server.moderation.store.add_audit(token_id=token_id, ip_key=key, action=action,
                                                detail=detail, status=status, now=ctx.clock.now())
    except Exception:  # the call itself must not fail because its audit row could not be written
        log.exception("audit entry not written", action=action)


async def operator(request: Request) -> AsyncIterator[str]:
    """Admit an operator call (token, origin, rate limit) and audit it with its outcome."""
    ctx = context(request)
    expected = ctx.settings.admin_token
    if not expected:
        raise NotFound()  # the API does not exist unless configured
    key = ip_key(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    token_id = _token_id(given)
    try:
        if not _same_origin(request):
            raise ForeignOrigin()
        await ctx.limit("admin", key)
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
            raise AdminUnauthorized(details=None)
    except DomainError as error:
        await _audit(request, token_id, key, error.status)
        if isinstance(error, AdminUnauthorized):
            error.headers["WWW-Authenticate"] = "Bearer"
        raise
    try:
        yield token_id
    except DomainError as error:
        await _audit(request, token_id, key, error.status)
        raise
    except RequestValidationError:
        await _audit(request, token_id, key, 400)  # answered INVALID_REQUEST (api/errors.py)
        raise
    except Exception:
        await _audit(request, token_id, key, 500)
        raise
    else:
        await _audit(request, token_id, key, 200)


router = APIRouter(prefix="/api/admin", tags=["operators"], dependencies=[Depends(operator)],
                   responses=OPERATOR_ERRORS)


def _ban(ban: BanRecord, now) -> dict:  # noqa: ANN001
    return {"id": ban.id, "ipKey": ban.ip_key, "reason": ban.reason,
            "publicReason": ban.public_reason, "createdAt": iso(ban.created_at),
            "expiresAt": iso(ban.expires_at) if ban.expires_at else None,
            "liftedAt": iso(ban.lifted_at) if ban.lifted_at else None,
            "active": ban.active(now), "createdBy": ban.created_by}


def _report(report: ReportRecord) -> dict:
    return {"id": report.id, "roomId": report.room_id, "reason": report.reason,
            "text": report.text, "reporterUserId": report.reporter_user_id,
            "reporterIpKey": report.reporter_ip_key, "targetUserId": report.target_user_id,
            "targetName": report.target_name, "targetIpKey": report.target_ip_key,
            "createdAt": iso(report.created_at),
            "resolvedAt": iso(report.resolved_at) if report.resolved_at else None,
            "resolution": report.resolution}


@router.get("/rooms")
async def rooms(request: Request) -> dict:
    """Every room with who sits in it, and the queue in order."""
    ctx = context(request)
    seats = ctx.state.seats
    result = []
    for room in await ctx.rooms.list_rooms():
        people = []
        for seat in await seats.seats(room.id):
            user = await ctx.sql.get_user(seat.user_id)
            people.append({"userId": seat.user_id, "displayName": seat.display_name,
                           "joinedAt": iso(seat.joined_at),
                           "ipKey": user.ip_key if user else None,
                           "isAudioEnabled": seat.is_audio_enabled,
                           "isVideoEnabled": seat.is_video_enabled})
        result.append({**room.wire(), "participants": people})
    queue = [{"position": i + 1, "userId": e.user_id, "roomId": e.room_id,
              "displayName": e.display_name} for i, e in enumerate(await seats.queue())]
    return {"rooms": result, "queue": queue}


@router.get("/people")
async def people(request: Request, name: str | None = Query(None, max_length=100),
                 user_id: str | None = Query(None, alias="userId", max_length=64),
                 report_id: str | None = Query(None, alias="reportId", max_length=64)) -> dict:
    """Find a person by display name (part of it), user id or report; never by raw IP."""
    ctx, moderation = context(request), request.app.state.server.moderation
    found: list[tuple[str, str, str]] = []
    if user_id:
        user = await ctx.sql.get_user(user_id)
        found = [(user.id, user.display_name, user.ip_key)] if user else []
    elif report_id:
        report = await moderation.store.report(report_id)
        if report is None:
            raise NotFound("No such report.")
        found = [(report.target_user_id, report.target_name, report.target_ip_key)]
    elif name:
        found = await moderation.store.users_named(name)
    result = []
    for uid, display_name, key in found:
        seat = await ctx.state.seats.seat_of(uid)
        reports = await moderation.store.reports(target_user_id=uid, open_only=False)
        result.append({"userId": uid, "displayName": display_name, "ipKey": key,
                       "roomId": seat.room_id if seat else None,
                       "connected": bool(await ctx.state.sessions.sockets(uid)),
                       "reports": len(reports), "banned": _banned(moderation, key)})
    return {"people": result}


def _banned(moderation, key: str) -> bool:  # noqa: ANN001
    try:
        moderation.bans.check(key)
    except DomainError:
        return True
    return False


@router.post("/kick")
async def kick(body: KickRequest, request: Request) -> dict:
    """Remove a participant: they get `kicked`, their seat is freed (any node)."""
    closed = await request.app.state.server.moderation.kick(body.user_id, body.reason)
    return {"success": True, "sockets": closed}


@router.get("/bans")
async def list_bans(request: Request, active: bool = True) -> dict:
    """Bans, newest first (only those in force unless `active=false`)."""
    ctx, moderation = context(request), request.app.state.server.moderation
    now = ctx.clock.now()
    bans = [b for b in await moderation.store.bans(limit=500) if not active or b.active(now)]
    return {"bans": [_ban(b, now) for b in bans]}


@router.post("/bans")
async def ban(body: BanCreate, request: Request, token_id: str = Depends(operator)) -> dict:
    """Ban an IP key (named by user id, report or key) for `durationS` seconds or for good."""
    ctx, moderation = context(request), request.app.state.server.moderation
    key = await moderation.ip_key_of(user_id=body.user_id, report_id=body.report_id,
                                     ip_key=body.ip_key)
    record = await moderation.ban(ip_key=key, duration_s=body.duration_s, reason=body.reason,
                                  public_reason=body.public_reason, by=token_id)
    return {"success": True, "ban": _ban(record, ctx.clock.now())}


@router.post("/unban")
async def unban(body: PersonRef, request: Request) -> dict:
    """Lift the bans of an IP key (named by user id, report or key)."""
    moderation = request.app.state.server.moderation
    key = await moderation.ip_key_of(user_id=body.user_id, report_id=body.report_id,
                                     ip_key=body.ip_key)
    lifted = await moderation.unban(key)
    if not lifted:
        raise NotFound("No ban in force for this person.")
    return {"success": True, "lifted": lifted}


@router.get("/reports")
async def reports(request: Request, include_resolved: bool = Query(False, alias="all"),
                  limit: int = Query(100, ge=1, le=1000)) -> dict:
    """Reports, newest first (open ones unless `all=true`)."""
    store = request.app.state.server.moderation.store
    return {"reports": [_report(r) for r in await store.reports(open_only=not include_resolved,
                                                                limit=limit)]}


@router.post("/reports/{report_id}/resolve")
async def resolve(report_id: str, body: ResolveRequest, request: Request) -> dict:
    """Mark a report as dealt with."""
    ctx, store = context(request), request.app.state.server.moderation.store
    record = await store.resolve_report(report_id, resolution=body.resolution, now=ctx.clock.now())
    if record is None:
        raise NotFound("No such report.")
    return {"success": True, "report": _report(record)}


@router.get("/suspicious")
async def suspicious(request: Request, limit: int = Query(100, ge=1, le=1000),
                     ip_key_filter: str | None = Query(None, alias="ipKey", max_length=64)) -> dict:
    """Recent suspicious activity (abuse-limit violations), newest first."""
    ctx = context(request)
    await request.app.state.server.flush_events()
    events = await ctx.sql.suspicious_events(ip_key=ip_key_filter, limit=limit)
    return {"events": [{"ipKey": key, "kind": kind, "detail": detail, "at": iso(when)}
                       for key, kind, detail, when in events]}


@router.get("/audit")
async def audit(request: Request, limit: int = Query(100, ge=1, le=1000)) -> dict:
    """The audit log of operator calls, newest first."""
    return {"entries": await request.app.state.server.moderation.store.audit(limit=limit)}
