"""Cross-node fan-out: python-socketio's Redis manager on our channel."""

from __future__ import annotations

import socketio


def client_manager(url: str, prefix: str) -> socketio.AsyncRedisManager:
    return socketio.AsyncRedisManager(url, channel=f"{prefix}socketio")
