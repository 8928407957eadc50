"""A node killed outright (kill -9): the survivors release its seats and tell everyone."""

from __future__ import annotations

import signal
import time

import pytest

from tests.cluster.processes import GRACE_S, HEARTBEAT_TIMEOUT_S, all_ready
from tests.support.clients import new_ip, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.redis, pytest.mark.postgres]

ROOM = "deep-focus"
NAMESPACE = f"/public-room/{ROOM}"
# Beyond grace + heartbeat timeout: one dead-node pass, one seat-hold pass, a loaded machine.
SLACK_S = 5.0


def message_ids(client) -> list[str]:  # noqa: ANN001
    return [event["message"]["id"] for event in client.events["new-message"]]


async def test_killed_node_seats_are_released_by_the_survivors(nodes, clients, http) -> None:
    cluster = nodes(3)
    await all_ready(cluster)
    first, second, doomed = cluster

    # Seated through different nodes: Ada on the first, Bob on the second, Cy and Di on the
    # node about to die. A lobby viewer watches from the second.
    people = {}
    for name, node in [("Ada", first), ("Bob", second), ("Cy", doomed), ("Di", doomed)]:
        person = clients(node.url, NAMESPACE)
        await person.connect()
        assert await person.admission() is None, name
        ack = await person.call("join-room", {"userName": name})
        assert ack["success"], ack
        people[name] = (person, ack["self"]["userId"])
    lobby = clients(second.url, "/")
    await lobby.connect()
    assert await lobby.admission() is None
    ada, bob = people["Ada"][0], people["Bob"][0]
    await wait_for(lambda: len(ada.events["user-joined"]) == 3, "Ada sees three joins")

    rest = http(first.url)
    detail = (await rest.get(f"/api/public/rooms/{ROOM}")).json()
    assert detail["room"]["currentOccupancy"] == 4, detail

    killed_at = time.monotonic()
    doomed.signal(signal.SIGKILL)
    assert await doomed.exited() == -signal.SIGKILL
    gone = {people["Cy"][1], people["Di"][1]}

    def left(client) -> set[str]:  # noqa: ANN001
        return {event["userId"] for event in client.events["user-left"]}

    await wait_for(lambda: left(ada) >= gone and left(bob) >= gone,
                   "survivors are told the dead node's users left",
                   timeout_s=GRACE_S + HEARTBEAT_TIMEOUT_S + SLACK_S)
    released_after = time.monotonic() - killed_at
    # Held for the reconnect grace first (a dead node is a dropped transport), never at once.
    assert released_after >= GRACE_S, released_after
    for watcher in (ada, bob):
        assert left(watcher) == gone, watcher.events["user-left"]
        assert sorted(e["currentOccupancy"] for e in watcher.events["user-left"]) == [2, 3]

    def lobby_occupancy() -> int | None:
        updates = [u for u in lobby.events["room-occupancy-update"] if u["roomId"] == ROOM]
        return updates[-1]["currentOccupancy"] if updates else None

    await wait_for(lambda: lobby_occupancy() == 2, "the lobby shows two seated")
    for node in (first, second):
        detail = (await http(node.url).get(f"/api/public/rooms/{ROOM}")).json()
        assert detail["room"]["currentOccupancy"] == 2, detail
        assert {p["userId"] for p in detail["participants"]} == {people["Ada"][1],
                                                                  people["Bob"][1]}

    # The survivors chat on: each message reaches each of them exactly once. The last one is
    # a marker: a duplicate of an earlier message would have arrived before it.
    sent = []
    for speaker, text in [(ada, "still here?"), (bob, "yes, on the other node"), (ada, "end")]:
        ack = await speaker.call("send-message", {"content": text})
        assert ack["success"], ack
        sent.append(ack["message"]["id"])
    await wait_for(lambda: all(sent[-1] in message_ids(c) for c in (ada, bob)),
                   "both get the last message")
    for watcher in (ada, bob):
        assert message_ids(watcher) == sent, watcher.events["new-message"]

    # The dead node's connection records went with it: Cy may open two sockets again.
    cy_ip = people["Cy"][0].ip
    for namespace in ("/", NAMESPACE):
        again = clients(first.url, namespace, ip=cy_ip)
        await again.connect()
        assert await again.admission() is None, namespace
    third = clients(second.url, "/", ip=cy_ip)
    await third.connect(expect_refusal=True)
    assert (await third.admission() or {}).get("code") == "TOO_MANY_CONNECTIONS"
    # and someone new still gets in
    newcomer = clients(second.url, NAMESPACE, ip=new_ip())
    await newcomer.connect()
    assert await newcomer.admission() is None
