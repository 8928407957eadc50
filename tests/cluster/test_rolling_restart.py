"""A rolling restart of three nodes under a chatting room: nobody loses a seat or a message.

Each node in turn is stopped cleanly (SIGTERM), started again on its port and awaited ready.
Its clients' seats are held for the reconnect grace; each client reconnects to another live
node, joins again (same IP, so the same user), and takes what it missed from the join
answer's recent messages. Every acknowledged message must be in the final history and reach
every member, and no member may receive one twice.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import pytest
import socketio

from tests.cluster.processes import Node, all_ready, is_ready
from tests.support.clients import SocketClient, new_ip, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.redis, pytest.mark.postgres]

ROOM = "deep-focus"
NAMESPACE = f"/public-room/{ROOM}"
MEMBERS = 6
PACE_S = 0.4  # between one acknowledged message and a member's next
HISTORY = 1000  # recent messages in a join answer: more than the test sends
# This scenario is about clean stops: a generous grace keeps a loaded machine's slow reconnect
# from turning into a leave (the kill test covers the short grace).
GRACE_S = 8


class Member:
    """One person: an IP, a display name, and whichever socket currently speaks for them."""

    def __init__(self, name: str, ip: str, clients, cluster: list[Node]) -> None:  # noqa: ANN001
        self.name = name
        self.ip = ip
        self._clients = clients
        self._cluster = cluster
        self.sockets: list[SocketClient] = []
        self.node: Node | None = None
        self.user_id: str | None = None
        self.history: set[str] = set()  # ids from join answers (the re-fetch after a move)
        self.acked: list[str] = []
        self.moves: list[tuple[int, int]] = []  # (from node, to node)
        self.unanswered = 0

    @property
    def socket(self) -> SocketClient:
        return self.sockets[-1]

    def events(self, name: str) -> list:
        return [event for s in self.sockets for event in s.events[name]]

    def received(self) -> list[str]:
        """Ids of every `new-message` delivered to this person, over all their sockets."""
        return [event["message"]["id"] for event in self.events("new-message")]

    def seen(self) -> set[str]:
        return set(self.received()) | self.history

    async def join(self, node: Node) -> bool:
        """Connect to `node` and take (or resume) the seat; False if that node won't have us."""
        client = self._clients(node.url, NAMESPACE, ip=self.ip)
        try:
            await client.connect()
            if await client.admission() is not None:
                await client.close()
                return False
            ack = await client.call("join-room", {"userName": self.name})
        except (socketio.exceptions.SocketIOError, AssertionError, OSError):
            await client.close()
            return False
        if not (isinstance(ack, dict) and ack.get("success")):
            await client.close()
            return False
        assert self.user_id in (None, ack["self"]["userId"]), (self.name, ack["self"])
        self.user_id = ack["self"]["userId"]
        self.history |= {message["id"] for message in ack["recentMessages"]}
        if self.node is not None:
            self.moves.append((self.node.index, node.index))
        self.sockets.append(client)
        self.node = node
        return True

    async def move(self, live: list[Node], population: Counter) -> None:
        """The node went away: reconnect through the least crowded other live node."""
        old = self.node
        await self.socket.close()

        async def rejoined() -> bool:
            candidates = sorted((n for n in live if n is not old and n.running),
                                key=lambda n: (population[n.index], n.index))
            for node in candidates:
                if await is_ready(node.url) and await self.join(node):
                    return True
            return False

        await wait_for(rejoined, f"{self.name} rejoins on another node", timeout_s=60,
                       interval_s=0.1)
        population[old.index] -= 1
        population[self.node.index] += 1

    async def chat(self, stop: asyncio.Event, live: list[Node], population: Counter) -> None:
        seq = 0
        while not stop.is_set():
            if not self.socket.connected:
                await self.move(live, population)
                continue
            seq += 1
            try:
                # A node that goes away mid-call never answers: waiting out the call's timeout
                # (10 s) would outlast the seat's grace (8 s) before this member even moves.
                ack = await self.socket.call_while_connected(
                    "send-message", {"content": f"{self.name} #{seq}"}, timeout_s=10)
            except socketio.exceptions.SocketIOError:
                self.unanswered += 1  # its node went away mid-call: not acknowledged
                continue
            if isinstance(ack, dict) and ack.get("success"):
                self.acked.append(ack["message"]["id"])
            await asyncio.sleep(PACE_S)


async def test_rolling_restart_loses_no_acknowledged_message(nodes, clients, http) -> None:
    cluster = nodes(3, PUBLICROOMS_HISTORY_LENGTH=str(HISTORY),
                    PUBLICROOMS_CLEANUP__RECONNECT_GRACE_S=str(GRACE_S),
                    PUBLICROOMS_LIMITS__CHAT_PER_MINUTE="1000",
                    PUBLICROOMS_LIMITS__JOIN_PER_MINUTE="100",
                    PUBLICROOMS_LIMITS__RECONNECT_FREE_ATTEMPTS="100")
    await all_ready(cluster)
    members = [Member(f"Member {i}", new_ip(), clients, cluster) for i in range(MEMBERS)]
    population: Counter = Counter()
    for i, member in enumerate(members):  # two per node
        node = cluster[i % len(cluster)]
        assert await member.join(node), member.name
        population[node.index] += 1
    await wait_for(lambda: all(len(m.events("user-joined")) >= MEMBERS - 1 - i
                               for i, m in enumerate(members)), "everyone sees the later joins")
    joins_before = [len(m.events("user-joined")) for m in members]

    stop = asyncio.Event()
    live = list(cluster)
    chatters = [asyncio.create_task(m.chat(stop, live, population)) for m in members]

    async def everyone_chats(more: int = 3) -> None:
        marks = [len(m.acked) for m in members]
        await wait_for(lambda: all(len(m.acked) >= mark + more
                                   for m, mark in zip(members, marks)),
                       "every member gets messages acknowledged", timeout_s=60)

    try:
        await everyone_chats()
        for node in cluster:
            on_it = [m for m in members if m.node is node]
            assert on_it, f"nobody on node {node.index} to move"
            live.remove(node)
            node.signal(signal.SIGTERM)
            assert await node.exited(30) in (0, -signal.SIGTERM)
            await wait_for(lambda: all(m.node is not node and m.socket.connected for m in on_it),
                           f"node {node.index}'s members moved", timeout_s=60)
            node.start()
            await node.ready()
            live.append(node)
            await everyone_chats()
    finally:
        stop.set()
        await asyncio.gather(*chatters, return_exceptions=True)
    for task in chatters:
        task.result()  # a chatter that failed fails the test

    acked = [message_id for m in members for message_id in m.acked]
    assert len(acked) == len(set(acked))
    assert len(acked) < HISTORY, "the final history must be able to hold every message"
    everything = set(acked)
    # What each member received live, plus what their rejoins' answers carried, is everything.
    await wait_for(lambda: all(m.seen() >= everything for m in members),
                   "every acknowledged message reaches every member", timeout_s=30)
    for member in members:
        counts = Counter(member.received())
        assert not [i for i, n in counts.items() if n > 1], f"{member.name} saw a message twice"
        assert len(member.moves) >= 1, f"{member.name} never had to move"

    # The final history (a fresh reader's join answer) holds every acknowledged message.
    reader = clients(cluster[0].url, NAMESPACE)
    await reader.connect()
    assert await reader.admission() is None
    join = await reader.call("join-room", {"userName": "Reader"})
    assert join["success"], join
    history = {message["id"] for message in join["recentMessages"]}
    assert everything <= history, f"lost: {sorted(everything - history)}"

    # Nobody lost their seat: the moves were silent (no leave, no second join) and the room
    # holds the same six people plus the reader.
    for member, before in zip(members, joins_before):
        assert member.events("user-left") == [], (member.name, member.events("user-left"))
        joined_later = [e["userName"] for e in member.events("user-joined")[before:]]
        assert joined_later in ([], ["Reader"]), (member.name, joined_later)
    detail = (await http(cluster[1].url).get(f"/api/public/rooms/{ROOM}")).json()
    assert {p["userId"] for p in detail["participants"]} == \
        {m.user_id for m in members} | {join["self"]["userId"]}, detail
    assert detail["room"]["currentOccupancy"] == MEMBERS + 1



async def test_a_stopping_node_warns_only_its_own_clients(nodes, clients) -> None:
    stopping, staying = nodes(2)
    await all_ready([stopping, staying])
    leaving, remaining = clients(stopping.url, NAMESPACE), clients(staying.url, NAMESPACE)
    viewer = clients(staying.url, "/")
    for client, name in [(leaving, "Lee"), (remaining, "Rae"), (viewer, None)]:
        await client.connect()
        assert await client.admission() is None
        if name:
            assert (await client.call("join-room", {"userName": name}))["success"]

    stopping.signal(signal.SIGTERM)
    await wait_for(lambda: leaving.events["server-shutting-down"], "its own clients are told")
    assert await stopping.exited(30) in (0, -signal.SIGTERM)
    # A message published after the stopped node's announcement arrives after it, if at all.
    ack = await remaining.call("send-message", {"content": "still up"})
    assert ack["success"], ack
    await wait_for(lambda: [e for e in remaining.events["new-message"]
                            if e["message"]["id"] == ack["message"]["id"]], "marker delivered")
    assert remaining.events["server-shutting-down"] == []
    assert viewer.events["server-shutting-down"] == []
