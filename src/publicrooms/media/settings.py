"""Media (SFU) settings, nested in the main Settings as `settings.media` (PUBLICROOMS_MEDIA__*)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, model_validator


class IceServer(BaseModel):
    """A STUN or TURN server handed to browsers (RTCIceServer shape)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None

    def to_client(self) -> dict[str, object]:
        """The RTCIceServer dictionary a browser's RTCPeerConnection accepts."""
        server: dict[str, object] = {"urls": self.urls}
        if self.username is not None:
            server["username"] = self.username
        if self.credential is not None:
            server["credential"] = self.credential
        return server


class MediaSettings(BaseModel):
    enabled: bool = True
    workers: int = Field(default=0, ge=0, description="media worker processes; 0 = one per core")

    # --- network -----------------------------------------------------------------
    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers given to clients; the server itself uses none (no public STUN)",
    )
    announced_ip: str | None = Field(
        default=None,
        description="address written into the server's ICE candidates (public IP behind NAT)",
    )
    listen_ips: list[str] = Field(
        default_factory=list,
        description="local addresses to bind; empty = every non-loopback interface address",
    )
    loopback_only: bool = Field(
        default=False, description="bind and announce 127.0.0.1 only (tests, single-host setups)"
    )
    rtc_min_port: int = Field(default=0, ge=0, le=65535, description="0 = any ephemeral port")
    rtc_max_port: int = Field(default=0, ge=0, le=65535)
    udp_mux: bool = Field(
        default=True,
        description="each worker takes one UDP port per listen address, shared by all its connections "
        "(demultiplexed by ICE username, then remote address); false = a port per connection",
    )
    udp_port: int = Field(
        default=0, ge=0, le=65535,
        description="with udp_mux: worker k listens on udp_port + k; 0 = a free port from "
        "rtc_min_port..rtc_max_port (any free port when no range is set)",
    )

    ice_tcp: bool = Field(
        default=True,
        description="with udp_mux: each worker also accepts ICE over TCP (RFC 6544 passive candidate) "
        "on the same port number, for browsers whose network blocks UDP",
    )
    ice_tcp_max_frame_bytes: int = Field(
        default=8192, ge=1500, le=65535, description="a longer RFC 4571 frame closes its stream"
    )
    ice_tcp_max_buffered_bytes: int = Field(
        default=256 * 1024, ge=16 * 1024,
        description="per stream, bytes waiting to be written; beyond it packets are dropped as over UDP",
    )
    ice_tcp_max_pending: int = Field(
        default=64, ge=1, description="per worker, TCP streams not yet authenticated by an ICE check"
    )
    ice_tcp_auth_timeout_s: float = Field(
        default=5.0, gt=0.0, description="a stream must carry an authenticated ICE check within this"
    )
    ice_tcp_idle_timeout_s: float = Field(
        default=30.0, gt=0.0, description="a stream that receives nothing this long is closed"
    )
    ice_tcp_max_streams_per_connection: int = Field(default=8, ge=1)

    # --- media policy --------------------------------------------------------------
    max_bitrate_bps: int = Field(
        default=1_000_000, ge=30_000, description="REMB cap sent to each video publisher"
    )
    audio_bitrate_bps: int = Field(default=64_000, ge=6_000, description="REMB cap for audio")
    pli_throttle_s: float = Field(
        default=0.5, ge=0.0, description="minimum interval between keyframe requests to one publisher"
    )
    nack_history_packets: int = Field(
        default=512, ge=32, le=4096, description="per up track (shared by its down tracks); rounded up to a power of two"
    )
    republish_grace_s: float = Field(
        default=2.0, ge=0.0, description="a closed publish connection keeps its tracks this long"
    )
    rtcp_interval_s: float = Field(
        default=1.0, gt=0.0, description="REMB / receiver report period, and video's sender report period")
    audio_report_interval_s: float = Field(
        default=5.0, gt=0.0,
        description="an audio down track's sender report period (rounded to whole rtcp_interval_s; "
                    "RFC 3550's 5 s minimum, as mediasoup)")

    # --- active speaker ------------------------------------------------------------
    speaker_interval_s: float = Field(default=0.3, gt=0.0)
    speaker_threshold_dbov: int = Field(
        default=50, ge=0, le=127, description="quieter than -N dBov does not count as speaking"
    )

    # --- workers ---------------------------------------------------------------------
    worker_start_timeout_s: float = Field(default=30.0, gt=0.0)
    request_timeout_s: float = Field(default=15.0, gt=0.0)
    worker_ping_interval_s: float = Field(
        default=5.0, gt=0.0, description="how often each worker must prove its event loop runs"
    )
    worker_ping_timeout_s: float = Field(
        default=10.0, gt=0.0, description="a worker this late is killed and replaced (a hang)"
    )
    worker_start_method: str = Field(default="spawn", pattern="^(spawn|forkserver)$")
    event_loop: str = Field(default="uvloop", pattern="^(uvloop|asyncio)$", description="worker event loop")
    native_fastpath: bool = Field(
        default=True,
        description="use the compiled per-packet path (publicrooms.media._fastpath) when it is built; "
        "false = the pure-Python path",
    )
    profile_dir: str | None = Field(
        default=None, description="debugging: each worker writes a cProfile dump here on exit"
    )

    @model_validator(mode="after")
    def _check_port_range(self) -> "MediaSettings":
        if (self.rtc_min_port == 0) != (self.rtc_max_port == 0):
            raise ValueError("rtc_min_port and rtc_max_port must be set together")
        if self.rtc_min_port > self.rtc_max_port:
            raise ValueError("rtc_min_port must not exceed rtc_max_port")
        if self.udp_port and self.udp_port + self.worker_count() - 1 > 65535:
            raise ValueError("udp_port + workers - 1 must not exceed 65535")
        return self

    def worker_udp_port(self, index: int) -> int:
        """The shared UDP port of worker `index` (0: chosen at start)."""
        return self.udp_port + index if self.udp_port else 0

    def worker_count(self) -> int:
        """How many media worker processes to run."""
        return self.workers or (os.cpu_count() or 1)

    def client_ice_servers(self) -> list[dict[str, object]]:
        """ICE servers as browsers want them (for the join response / media-config)."""
        return [server.to_client() for server in self.ice_servers]
