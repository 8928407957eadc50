"""The wired parts of a running server, handed to the transports (REST and Socket.IO)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from publicrooms.clock import Clock
from publicrooms.errors import DomainError
from publicrooms.security.abuse import AbuseMonitor
from publicrooms.security.client_ip import ClientIpResolver, scope_headers, scope_peer
from publicrooms.security.connections import ConnectionGuard
from publicrooms.security.ipkey import IpKeyer
from publicrooms.security.ratelimit import Allowance, LimitRule, RateLimiter
from publicrooms.services.gate import Gate
from publicrooms.services.rooms import RoomService
from publicrooms.services.users import UserService
from publicrooms.settings import Settings
from publicrooms.state import State
from publicrooms.store.sql import SqlStore


@dataclass
class AppContext:
    settings: Settings
    clock: Clock
    sql: SqlStore
    state: State
    keyer: IpKeyer
    resolver: ClientIpResolver
    users: UserService
    rooms: RoomService
    limiter: RateLimiter
    abuse: AbuseMonitor
    guard: ConnectionGuard
    rules: dict[str, LimitRule]
    joins: Gate  # joins served at once (settings.join_concurrency)
    shutting_down: bool = False

    def ip_key_of_scope(self, scope: Mapping) -> str:
        """The IP key of the client behind an ASGI connection."""
        ip = self.resolver.resolve(scope_peer(scope), scope_headers(scope))
        return self.keyer.key(ip)

    async def limit(self, rule_name: str, ip_key: str, key: str | None = None, *,
                    report: bool = False) -> Allowance | None:
        """Count a hit against a rule; a refusal is recorded as suspicious activity."""
        rule = self.rules[rule_name]
        try:
            return await self.limiter.hit(rule, key or ip_key, report=report)
        except DomainError as error:
            await self.abuse.record(ip_key, f"{rule_name}-limit", error.code)
            raise
