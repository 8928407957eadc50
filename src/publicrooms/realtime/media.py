"""Media signalling in the room namespaces (docs/protocol-media.md): thin calls into the SFU."""

from __future__ import annotations

from typing import Any

import socketio
from pydantic import Field

from publicrooms.errors import DomainError, MediaFailed
from publicrooms.media.errors import InvalidSdp, MediaError, StaleAnswer
from publicrooms.services.media_routing import RoutedMedia
from publicrooms.realtime.broadcaster import SEATED, room_namespace, user_channel
from publicrooms.realtime.gateway import Gateway
from publicrooms.schemas.base import RequestModel, parse

_SDP_CAP = 60_000


class PublishPayload(RequestModel):
    sdp: str = Field(min_length=1, max_length=_SDP_CAP)


class AnswerPayload(RequestModel):
    sdp: str = Field(min_length=1, max_length=_SDP_CAP)
    offer_id: int | None = None


def media_error(error: MediaError) -> DomainError:
    """The user-facing form of a media-layer error (its code kept: INVALID_SDP, ...)."""
    domain = MediaFailed(str(error) or None)
    domain.code = error.code
    domain.status = 400 if isinstance(error, (InvalidSdp, StaleAnswer)) else 503
    return domain


def register_media(sio: socketio.AsyncServer, gateway: Gateway,
                   media: RoutedMedia | None) -> None:
    """Media events; with media switched off they answer MEDIA_UNAVAILABLE."""

    async def on_media_event(room_id: str, participant_id: str | None, event: str,
                             payload: dict[str, Any]) -> None:
        if participant_id is None:
            await sio.emit(event, payload, room=SEATED, namespace=room_namespace(room_id))
        else:
            await sio.emit(event, payload, room=user_channel(participant_id),
                           namespace=room_namespace(room_id))

    if media is not None:
        media.on_event = on_media_event

    def seated(sid: str) -> tuple[str, str]:
        conn = gateway.seated(sid)
        if media is None:
            raise MediaFailed("Camera and microphone are switched off on this server.")
        return conn.room_id, conn.user_id

    def on(event: str):  # noqa: ANN202
        def decorate(handler):  # noqa: ANN001, ANN202
            async def translated(namespace: str, sid: str, *args: Any) -> Any:
                try:
                    return await handler(namespace, sid, *args)
                except MediaError as error:
                    raise media_error(error) from None
            return gateway.on(event)(translated)
        return decorate

    @on("media-publish")
    async def publish(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(PublishPayload, data)
        room_id, user_id = seated(sid)
        return {"sdp": await media.publish(room_id, user_id, payload.sdp)}

    @on("media-subscribe")
    async def subscribe(namespace: str, sid: str, data: Any = None) -> dict:
        room_id, user_id = seated(sid)
        return {"offer": await media.subscribe(room_id, user_id)}

    @on("media-answer")
    async def answer(namespace: str, sid: str, data: Any = None) -> dict:
        payload = parse(AnswerPayload, data)
        room_id, user_id = seated(sid)
        await media.subscriber_answer(room_id, user_id, payload.sdp, payload.offer_id)
        return {"success": True}
