"""Media across nodes: a room's media lives on one node's SFU; the others route to it.

Each call names a room; the room's owner (claimed on first use, through the placement port)
runs it on its local MediaService, and every other node forwards it there over node calls.
Media events (offers, reconnects) are Socket.IO emits, which the fan-out carries to whichever
node holds each participant's socket. ICE candidates carry the owner's own announced address.
"""

from __future__ import annotations

from typing import Any

import structlog

from publicrooms.media import errors as media_errors
from publicrooms.media.service import MediaService, OnEvent
from publicrooms.state.placement import PlacementStore
from publicrooms.state.rpc import NodeRpc, RemoteError

log = structlog.get_logger("publicrooms.media")

_ERRORS = {cls.code: cls for cls in vars(media_errors).values()
           if isinstance(cls, type) and issubclass(cls, media_errors.MediaError)}


class RoutedMedia:
    """The signalling side's media service on a node of several."""

    def __init__(self, *, local: MediaService, placement: PlacementStore, rpc: NodeRpc,
                 node_id: str) -> None:
        self.local = local
        self._placement = placement
        self._rpc = rpc
        self._node_id = node_id
        rpc.serve(self._serve)

    @property
    def on_event(self) -> OnEvent | None:
        return self.local.on_event

    @on_event.setter
    def on_event(self, handler: OnEvent | None) -> None:
        self.local.on_event = handler

    # the calls -----------------------------------------------------------------------------

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        return await self._route(room_id, "publish", participant_id=participant_id,
                                 offer_sdp=offer_sdp)

    async def subscribe(self, room_id: str, participant_id: str) -> dict[str, Any] | None:
        return await self._route(room_id, "subscribe", participant_id=participant_id)

    async def subscriber_answer(self, room_id: str, participant_id: str, answer_sdp: str,
                                offer_id: int | None = None) -> None:
        await self._route(room_id, "subscriber_answer", participant_id=participant_id,
                          answer_sdp=answer_sdp, offer_id=offer_id)

    async def set_muted(self, room_id: str, participant_id: str, kind: str, muted: bool) -> None:
        await self._route(room_id, "set_muted", participant_id=participant_id, kind=kind,
                          muted=muted)

    async def close_participant(self, room_id: str, participant_id: str) -> None:
        if await self._placement.owner(room_id) is None:
            return  # nobody's media in this room anywhere
        await self._route(room_id, "close_participant", participant_id=participant_id)

    async def room_media(self, room_id: str) -> list[dict[str, Any]]:
        if await self._placement.owner(room_id) is None:
            return []
        return await self._route(room_id, "room_media")

    def client_config(self) -> dict[str, Any]:
        return self.local.client_config()

    # placement and routing -----------------------------------------------------------------

    async def _route(self, room_id: str, op: str, **args: Any) -> Any:
        owner = await self._placement.claim(room_id, self._node_id)
        if owner == self._node_id:
            return await self._run(room_id, op, args)
        try:
            return await self._rpc.call(owner, "media", {"room_id": room_id, "op": op,
                                                         "args": args})
        except RemoteError as error:
            raise _ERRORS.get(error.code, media_errors.MediaUnavailable)(str(error)) from None

    async def _serve(self, kind: str, message: dict[str, Any]) -> Any:
        if kind != "media":
            raise media_errors.MediaError(f"unknown node call {kind!r}")
        return await self._run(message["room_id"], message["op"], message.get("args") or {})

    async def _run(self, room_id: str, op: str, args: dict[str, Any]) -> Any:
        local = self.local
        if op == "room_media":
            return local.room_media(room_id)
        result = await getattr(local, op)(room_id, **args)
        if op == "close_participant" and not local.has_room(room_id):
            await self._placement.release(room_id, self._node_id)
        return result

    # nodes coming and going ----------------------------------------------------------------

    async def start(self) -> None:
        await self.local.start()
        await self._rpc.start()

    async def stop(self) -> None:
        """This node's rooms go elsewhere: free them, tell their clients to reconnect media."""
        try:
            rooms = await self._placement.release_node(self._node_id)
            await self.rooms_moved(rooms, "media-node-stopped")
        except Exception as exc:  # noqa: BLE001 - Redis away: the survivors reap our rooms
            log.warning("media rooms left for the survivors", error=repr(exc))
        await self._rpc.stop()
        await self.local.stop()

    async def node_gone(self, node_id: str) -> list[str]:
        """A dead node's rooms are placed again on their next call; their clients reconnect."""
        rooms = await self._placement.release_node(node_id)
        await self.rooms_moved(rooms, "media-node-gone")
        return rooms

    async def rooms_moved(self, rooms: list[str], reason: str) -> None:
        for room_id in rooms:
            log.info("media room moves", room_id=room_id, reason=reason)
            if self.local.on_event is not None:
                await self.local.on_event(room_id, None, "media-reconnect", {"reason": reason})
