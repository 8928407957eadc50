"""`/api/public/...`: rooms, users, join and leave; plus config and health."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request, Response

from publicrooms.api.errors import HEALTH_ERRORS, PUBLIC_ERRORS
from publicrooms.context import AppContext
from publicrooms.errors import DomainError, ServerShuttingDown
from publicrooms.schemas.rooms import (
    ConfigRead,
    JoinRequest,
    JoinResponse,
    LeaveRequest,
    RoomDetail,
    RoomRead,
    SuccessResponse,
    UserCreate,
    UserRead,
)


def context(request: Request) -> AppContext:
    return request.app.state.ctx


def ip_key(request: Request) -> str:
    return context(request).ip_key_of_scope(request.scope)


async def rest_limit(request: Request, response: Response) -> None:
    """Blocked keys are refused; every endpoint counts its own hits per IP key."""
    ctx = context(request)
    key = ip_key(request)
    await ctx.abuse.check(key)
    route = request.scope.get("route")
    endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
    rule = ctx.rules["rest"]
    policy = f'"{rule.name}";q={rule.amount};w={rule.window_s}'
    try:
        allowance = await ctx.limit("rest", key, f"{key}|{endpoint}", report=True)
    except DomainError as error:
        error.headers.update({"RateLimit-Policy": policy,
                              "RateLimit": f'"{rule.name}";r=0;t={error.retry_after}'})
        raise
    response.headers["RateLimit-Policy"] = policy
    response.headers["RateLimit"] = (f'"{rule.name}";r={allowance.remaining};'
                                     f"t={math.ceil(allowance.reset_s)}")


router = APIRouter(prefix="/api/public", dependencies=[Depends(rest_limit)],
                   responses=PUBLIC_ERRORS)


@router.get("/rooms", response_model=list[RoomRead], response_model_by_alias=True)
async def list_rooms(request: Request) -> list[dict]:
    """Every public room with its live occupancy."""
    return [room.wire() for room in await context(request).rooms.list_rooms()]


@router.get("/rooms/{room_id}", response_model=RoomDetail, response_model_by_alias=True)
async def get_room(room_id: str, request: Request) -> dict:
    """One room with the people in it."""
    rooms = context(request).rooms
    return RoomDetail(room=await rooms.room_read(room_id),
                      participants=await rooms.participants(room_id)).wire()


@router.post("/users", response_model=UserRead, response_model_by_alias=True)
async def create_user(body: UserCreate, request: Request) -> dict:
    """The caller's anonymous user, created or renamed."""
    user = await context(request).users.create_user(ip_key=ip_key(request),
                                                    display_name=body.display_name)
    return UserRead(user_id=user.id, display_name=user.display_name).wire()


@router.post("/rooms/{room_id}/join", response_model=JoinResponse, response_model_by_alias=True)
async def join_room(room_id: str, body: JoinRequest, request: Request) -> dict:
    """Take a seat in a room; the answer carries participants and recent chat."""
    ctx = context(request)
    ctx.rooms.room(room_id)
    if ctx.shutting_down:
        raise ServerShuttingDown()
    key = ip_key(request)
    await ctx.limit("join", key)  # counted on arrival: a refused join holds no slot
    async with ctx.joins:  # a burst is served in waves, as over Socket.IO
        user = await ctx.users.resolve_user(ip_key=key, user_id=body.user_id)
        result = await ctx.rooms.join_room(room_id=room_id, user=user, by_socket=False)
        return ctx.rooms.join_wire(result, user)


@router.post("/rooms/{room_id}/leave", response_model=SuccessResponse,
             response_model_by_alias=True)
async def leave_room(room_id: str, body: LeaveRequest, request: Request) -> dict:
    """Give up the seat in a room (a no-op when there is none)."""
    ctx = context(request)
    ctx.rooms.room(room_id)
    user = await ctx.users.resolve_user(ip_key=ip_key(request), user_id=body.user_id)
    await ctx.rooms.leave_queue(user_id=user.id)
    await ctx.rooms.leave_room(user_id=user.id, room_id=room_id)
    return {"success": True}


@router.get("/config", response_model=ConfigRead, response_model_by_alias=True)
async def client_config(request: Request) -> dict:
    """What a browser client needs to know: ICE servers and input limits."""
    settings = context(request).settings
    return ConfigRead(
        ice_servers=context(request).rooms.media.client_config()["iceServers"],
        max_display_name_length=settings.display_name_max,
        max_message_length=settings.message_max,
    ).wire()


health = APIRouter(responses=HEALTH_ERRORS)


@health.get("/health")
async def liveness() -> dict:
    """The process is up."""
    return {"status": "ok"}


@health.get("/ready")
async def readiness(request: Request) -> dict:
    """The database (and shared state, when scaled out) answers; start-up has finished."""
    from sqlalchemy import text

    ctx = context(request)
    if ctx.shutting_down:
        raise ServerShuttingDown()
    async with ctx.sql.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    await ctx.state.ping()
    return {"status": "ready"}
