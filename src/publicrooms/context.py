"""The wired parts of a running server, handed to the transports (REST and Socket.IO)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from publicrooms.clock import Clock
from publicrooms.security.client_ip import ClientIpResolver, scope_headers, scope_peer
from publicrooms.security.ipkey import IpKeyer
from publicrooms.services.rooms import RoomService
from publicrooms.services.users import UserService
from publicrooms.settings import Settings
from publicrooms.store.presence import PresenceStore
from publicrooms.store.sql import SqlStore


@dataclass
class AppContext:
    settings: Settings
    clock: Clock
    sql: SqlStore
    presence: PresenceStore
    keyer: IpKeyer
    resolver: ClientIpResolver
    users: UserService
    rooms: RoomService
    extras: dict[str, Any] = field(default_factory=dict)

    def ip_key_of_scope(self, scope: Mapping) -> str:
        """The IP key of the client behind an ASGI connection."""
        ip = self.resolver.resolve(scope_peer(scope), scope_headers(scope))
        return self.keyer.key(ip)
