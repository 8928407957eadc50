"""A real TURN relay for tests: Debian's coturn (`turnserver`) on a free loopback port."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
_BINDING_REQUEST = bytes([0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42])


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class TurnServer:
    """coturn with one long-term-credential user, relaying to loopback peers (the SFU)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.username = "publicrooms"
        self.password = secrets.token_hex(8)
        self.port = 0
        self.log = self.workdir / "turnserver.log"
        self._process: subprocess.Popen[bytes] | None = None

    def ice_server(self) -> dict[str, object]:
        """The RTCIceServer the SFU hands to browsers (MediaSettings.ice_servers)."""
        return {"urls": [f"turn:127.0.0.1:{self.port}?transport=udp"],
                "username": self.username, "credential": self.password}

    def start(self, timeout_s: float = 15.0) -> "TurnServer":
        if not os.path.exists(TURNSERVER):
            raise RuntimeError("the TURN tests need coturn's turnserver (make turn-deps)")
        for _ in range(5):  # the free port can be taken between the probe and coturn's bind
            self.port = _free_port()
            self.log.write_bytes(b"")
            self._process = subprocess.Popen(
                [TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                 f"--listening-port={self.port}", "--lt-cred-mech", f"--user={self.username}:{self.password}",
                 "--realm=publicrooms.test", "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
                 "--no-stun-backward-compatibility", "--fingerprint", "--verbose", "--simple-log",
                 f"--log-file={self.log}", f"--pidfile={self.workdir / 'turnserver.pid'}",
                 "--min-port=49152", "--max-port=65535"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )
            if self._answers(timeout_s):
                return self
            self.stop()
        raise RuntimeError(f"turnserver did not start; its log:\n{self.log.read_text(errors='replace')[-3000:]}")

    def _answers(self, timeout_s: float) -> bool:
        """Until coturn answers a STUN binding request on its port (or exits)."""
        deadline = time.monotonic() + timeout_s
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.settimeout(0.2)
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    return False
                probe.sendto(_BINDING_REQUEST + secrets.token_bytes(12), ("127.0.0.1", self.port))
                try:
                    data = probe.recv(2048)
                except (TimeoutError, ConnectionRefusedError):
                    continue
                if data[:2] == b"\x01\x01":  # binding success response
                    return True
        return False

    def allocations_seen(self) -> int:
        """Relay allocations coturn granted so far (from its log)."""
        text = self.log.read_text(errors="replace")
        return text.count("ALLOCATE processed, success")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> "TurnServer":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
