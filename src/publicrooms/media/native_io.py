"""The compiled media I/O (publicrooms.media._fastpath) and the choice between it and Python.

Everything here is about our own extension; everything about aiortc's internals stays in
aiortc_adapter.py, which hands this module plain values (socket descriptors, libsrtp
function and session addresses, Python callables).

The compiled path, when built and enabled:
- `Sender`: SRTP protect + send of one RTP packet to one subscriber connection, batched
  into one sendmmsg per socket between `begin()` and `end()`;
- `Demux`: recvmmsg on a worker's shared socket; SRTP from an address routed to a
  `Receiver` is unprotected in C and handed to the receiver's sink, everything else
  (STUN, DTLS, RTCP, unknown addresses) goes back to Python's dispatch;
- `UpForward` / `DownForward`: an up track's steady state forwarded in C (a Receiver
  tracks its media SSRC): sequence check, header rewrite, the up track's one NACK
  history, protect + queue for each live down track. Python keeps every decision and
  pushes the parameters (uptrack.py); whatever C does not handle goes to the sink.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

try:
    from . import _fastpath as module
except ImportError:  # not built (no compiler at install time): the Python path does the same
    module = None  # type: ignore[assignment]

API = ("Sender", "Unprotector", "Receiver", "Demux", "UpForward", "DownForward", "begin", "end", "recv_batch",
       "batch_stats")
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


def up_forward(history_size: int) -> Any:
    """A compiled UpForward with a history of `history_size` (a power of two) packets, or None."""
    return module.UpForward(history_size) if _enabled else None


def down_forward(sender: Any, patch_pt: int) -> Any:
    """The compiled forward's end of one down track sending through compiled `sender`."""
    return module.DownForward(sender, patch_pt)


class SocketReader:
    """Reads a shared socket: the compiled Demux when enabled, else `recvfrom` in a loop.

    `callback` is what the event loop calls when the socket is readable; it hands
    `dispatch(batch)` the datagrams Python must handle itself. With the Demux that callback
    is C (`Demux.poll`: recvmmsg, SRTP from routed addresses unprotected and forwarded or
    given to its Receiver's sink, the rest to `dispatch`, the sends of the batch in one
    sendmmsg per socket) and no Python runs for a datagram C handled.
    """

    def __init__(self, fd: int, recv_python: Callable[[], list[tuple[bytes, Any]]],
                 time: Callable[[], float] | None, dispatch: Callable[[list[tuple[bytes, Any]]], None]) -> None:
        self._demux: Any = module.Demux(fd, time, dispatch) if _enabled else None
        self._routes: dict[tuple[str, int], Any] = {}  # address -> owner (for unroute)
        if self._demux is not None:
            self.callback: Callable[[], None] = self._demux.poll
        else:
            def read_python() -> None:
                dispatch(recv_python())

            self.callback = read_python

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

    def handled(self) -> tuple[int, int]:
        """(datagrams the Demux unprotected past Python's dispatch, of which forwarded in C)."""
        if self._demux is None:
            return 0, 0
        counts = self._demux.counts()
        return int(counts[0]), int(counts[4])

    def close(self) -> None:
        if self._demux is not None:
            self._demux.close()
        self._routes.clear()
