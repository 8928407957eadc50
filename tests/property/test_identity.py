"""IP keys are stable, keyed and never reveal the address."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from publicrooms.security.ipkey import IpKeyer, load_secret

ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
secrets = st.binary(min_size=16, max_size=64)


@given(ip=ips, secret=secrets)
def test_key_is_stable_and_hides_the_address(ip: str, secret: bytes) -> None:
    keyer = IpKeyer(secret)
    key = keyer.key(ip)
    assert key == IpKeyer(secret).key(ip)
    assert len(key) == 64 and ip not in key
    assert ipaddress.ip_address(ip).exploded.replace(":", "") not in key


@given(ip=ips, a=secrets, b=secrets)
def test_key_depends_on_the_secret(ip: str, a: bytes, b: bytes) -> None:
    if a != b:
        assert IpKeyer(a).key(ip) != IpKeyer(b).key(ip)


@given(a=ips, b=ips)
def test_distinct_addresses_get_distinct_keys(a: str, b: str) -> None:
    keyer = IpKeyer(b"k" * 32)
    if ipaddress.ip_address(a) != ipaddress.ip_address(b):
        assert keyer.key(a) != keyer.key(b)


def test_generated_secret_is_kept_across_restarts(tmp_path: Path) -> None:
    first = load_secret(None, tmp_path)
    assert load_secret(None, tmp_path) == first and len(first) == 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    assert load_secret("configured-secret-xxxxxxxx", tmp_path) == b"configured-secret-xxxxxxxx"
