"""IP keys: HMAC-SHA256 of the client address under a server secret (plain hashes of IPv4 are reversible)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

SECRET_FILE = "secret.key"


class IpKeyer:
    """Turns client addresses into stable, keyed, irreversible identifiers."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the IP-key secret must be at least 16 bytes")
        self._secret = secret

    def key(self, ip: str) -> str:
        """The IP key of an address; equivalent spellings of one address give one key."""
        try:
            canonical = ipaddress.ip_address(ip.strip()).compressed
        except ValueError:
            canonical = ip.strip()
        return hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret, else the one kept in the data dir, else a new one saved there."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    # Written with 0600 from the start so the secret is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    return secret
