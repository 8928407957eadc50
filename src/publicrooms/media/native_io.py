"""The compiled media I/O (publicrooms.media._fastpath) and the choice between it and Python.

Everything here is about our own extension; everything about aiortc's internals stays in
aiortc_adapter.py, which hands this module plain values (socket descriptors, libsrtp
function and session addresses, Python callables).

The compiled path, when built and enabled:
- `Sender`: SRTP protect + send of one RTP packet to one subscriber connection, batched
  into one sendmmsg per socket between `begin()` and `end()`;
- `Demux`: recvmmsg on a worker's shared socket; SRTP from an address routed to a
  `Receiver` is unprotected in C and handed to the receiver's sink, everything else
  (STUN, DTLS, RTCP, unknown addresses) goes back to Python's dispatch.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

try:
    from . import _fastpath as module
except ImportError:  # not built (no compiler at install time): the Python path does the same
    module = None  # type: ignore[assignment]

API = ("Sender", "Unprotector", "Receiver", "Demux", "begin", "end", "recv_batch", "batch_stats")
if module is not None and not all(hasattr(module, name) for name in API):
    # built from an older _fastpath.c (a checkout updated without `pip install -e .` again)
    logging.getLogger(__name__).warning("publicrooms.media._fastpath is out of date (rebuild it with "
                                        "`pip install -e .`); using the Python path")
    module = None  # type: ignore[assignment]

_enabled = module is not None


def use_native(enabled: bool) -> bool:
    """Choose the compiled path when it is built and `enabled`; returns whether it is in use."""
    global _enabled
    _enabled = enabled and module is not None
    return _enabled


def native_in_use() -> bool:
    return _enabled


def batch_stats() -> tuple[int, int]:
    """(sendmmsg calls, datagrams they sent) in this process; (0, 0) on the Python path."""
    return module.batch_stats() if _enabled else (0, 0)  # type: ignore[no-any-return]


def receiver(sink: Callable[[bytes, int], None]) -> Any:
    """A compiled Receiver handing plain RTP to `sink(data, arrival_ms)`, or None on the Python path."""
    return module.Receiver(sink) if _enabled else None


class SocketReader:
    """Reads a shared socket: the compiled Demux when enabled, else `recvfrom` in a loop.

    `read()` returns the datagrams Python must dispatch itself; with the Demux, SRTP from
    routed addresses never comes back (it went to its Receiver's sink or forward).
    """

    def __init__(self, fd: int, recv_python: Callable[[], list[tuple[bytes, Any]]],
                 now_ms: Callable[[], int]) -> None:
        self._fd = fd
        self._recv_python = recv_python
        self._now_ms = now_ms
        self._demux: Any = module.Demux(fd) if module is not None else None
        self._routes: dict[tuple[str, int], Any] = {}  # address -> owner (for unroute)

    def read(self, dispatch: Callable[[list[tuple[bytes, Any]]], None]) -> None:
        if not _enabled:
            dispatch(self._recv_python())
            return
        module.begin()
        try:
            if self._demux is not None:
                dispatch(self._demux.read(self._now_ms()))
            else:
                dispatch(module.recv_batch(self._fd))
        finally:
            module.end()

    def route(self, key: tuple[str, int], receiver: Any, owner: Any) -> None:
        """SRTP from `key` goes to `receiver` in C from now on (until unroute)."""
        if self._demux is None or receiver is None or self._routes.get(key) is owner:
            return
        try:
            self._demux.route(key[0], key[1], receiver)
        except (ValueError, TypeError):
            return  # not a numeric address: Python keeps dispatching it
        self._routes[key] = owner

    def unroute_owner(self, owner: Any) -> None:
        for key in [k for k, o in self._routes.items() if o is owner]:
            del self._routes[key]
            self._demux.unroute(key[0], key[1])

    def routes(self) -> int:
        return len(self._routes)

    def handled(self) -> int:
        """Datagrams the Demux unprotected and handed on without Python's dispatch."""
        return int(self._demux.counts()[0]) if self._demux is not None else 0

    def close(self) -> None:
        if self._demux is not None:
            self._demux.close()
        self._routes.clear()
