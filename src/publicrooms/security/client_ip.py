"""The client address of a request: the socket peer, or a forwarded hop when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_FOR = re.compile(r'for\s*=\s*"?\[?([^\]";,\s]+)', re.IGNORECASE)


class ClientIpResolver:
    """Resolves the client IP; forwarded headers count only from configured trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )

    def is_trusted(self, ip: str) -> bool:
        address = _parse(ip)
        return address is not None and any(address in net for net in self._trusted)

    def resolve(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The rightmost address that is not a trusted proxy, walking back from the peer."""
        peer = peer or "0.0.0.0"
        if not self._trusted or not self.is_trusted(peer):
            return peer
        hops = _forwarded_hops(headers)
        for hop in reversed(hops):
            if _parse(hop) is None:
                # An unparseable hop means the chain can't be trusted past this point.
                return peer
            if not self.is_trusted(hop):
                return hop
            peer = hop
        return peer


# The request headers `resolve` reads (as ASGI names them): a long-lived connection keeps
# only these (realtime/engineio_adapter.py).
FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for"})


def _forwarded_hops(headers: Mapping[str, str]) -> list[str]:
    forwarded = headers.get("forwarded")
    if forwarded:
        return _FORWARDED_FOR.findall(forwarded)
    xff = headers.get("x-forwarded-for")
    if xff:
        return [part.strip() for part in xff.split(",") if part.strip()]
    return []


def _parse(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def scope_headers(scope: Mapping) -> dict[str, str]:
    """ASGI headers as a lower-case dict; repeated headers are joined with commas."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def scope_peer(scope: Mapping) -> str | None:
    client = scope.get("client")
    return client[0] if client else None
