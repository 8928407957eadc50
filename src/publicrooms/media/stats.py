"""Per-worker counters the forwarding path bumps (plain attributes: cheapest possible update)."""

from __future__ import annotations


class Counters:
    """Monotonic counters for one worker process."""

    __slots__ = ("forwarded", "retransmits", "send_errors", "peer_connections_opened",
                 "peer_connections_closed", "sender_reports", "rtcp_compounds")

    def __init__(self) -> None:
        self.forwarded = 0
        self.retransmits = 0
        self.send_errors = 0
        self.peer_connections_opened = 0
        self.peer_connections_closed = 0
        self.sender_reports = 0  # SR sent to subscribers
        self.rtcp_compounds = 0  # the compound packets they went in (one per connection and turn)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
