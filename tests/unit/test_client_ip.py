"""Client-IP resolution: forwarded headers count only from trusted proxies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from publicrooms.security.client_ip import ClientIpResolver
from publicrooms.settings import Settings


def test_untrusted_peer_cannot_forge_its_address() -> None:
    resolver = ClientIpResolver([])
    assert resolver.resolve("203.0.113.9", {"x-forwarded-for": "1.2.3.4"}) == "203.0.113.9"
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.resolve("203.0.113.9", {"x-forwarded-for": "1.2.3.4"}) == "203.0.113.9"


def test_rightmost_untrusted_hop_wins() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8", "192.0.2.7"])
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.4, 10.1.1.1"}
    # 6.6.6.6 was written by the client itself; only the hops our proxies added count.
    assert resolver.resolve("192.0.2.7", headers) == "198.51.100.4"
    assert resolver.resolve("10.2.2.2", {"x-forwarded-for": "10.3.3.3"}) == "10.3.3.3"
    assert resolver.resolve("10.2.2.2", {}) == "10.2.2.2"


def test_forwarded_header_is_understood() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    headers = {"forwarded": 'for=6.6.6.6, for="[2001:db8::1]";proto=https, for=10.0.0.3'}
    assert resolver.resolve("10.0.0.2", headers) == "2001:db8::1"


def test_garbage_hop_stops_the_walk() -> None:
    resolver = ClientIpResolver(["10.0.0.0/8"])
    assert resolver.resolve("10.0.0.2", {"x-forwarded-for": "1.1.1.1, not-an-ip"}) == "10.0.0.2"


def test_wildcard_trusted_proxy_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="*")
    assert Settings(trusted_proxies="10.0.0.0/8,127.0.0.1").trusted_proxies == [
        "10.0.0.0/8", "127.0.0.1"]
