"""Events read from a WebSocket are handled by the direct path (StrictServer.direct_event),
skipping the layers python-engineio and python-socketio put between the frame and the handler:
a client sees exactly what the usual path gives it. Long-polling clients take the usual path
and are the reference here."""

from __future__ import annotations

import asyncio

import pytest
from wsproto.events import Message, Ping

from publicrooms.http_adapter import LeanWebSocketProtocol
from publicrooms.settings import LimitSettings
from tests.support.clients import new_ip, wait_for
from tests.support.stalled import StalledReader

ROOM = "/public-room/deep-focus"


async def direct_events(server) -> int:  # noqa: ANN001
    async def read(app):  # noqa: ANN001, ANN202
        return app.sio.direct_events

    return sum([await node.query(read) for node in server.nodes])


def shape(answer: object, key: str = "") -> object:
    """An answer's structure: its keys and kinds of values, and its error codes (what differs
    between two senders, such as ids, names, times and counts, is left out)."""
    if isinstance(answer, dict):
        return {k: shape(v, k) for k, v in answer.items()}
    if isinstance(answer, list):  # the join's history and participants differ in length
        return "list"
    return answer if key in ("code", "success") else type(answer).__name__


@pytest.mark.single_node
async def test_websocket_events_answer_as_the_polling_path_does(server_factory, clients) -> None:
    """The same calls from a WebSocket member and a long-polling member get answers of the
    same shape (success, refusal, unknown event, bad payload, rate limit), the room hears
    both members' messages, and only the WebSocket's events took the direct path."""
    server = server_factory(limits=LimitSettings(chat_per_minute=2))
    websocket = await clients(server.url, ROOM).connect(["websocket"])
    polling = await clients(server.url, ROOM).connect(["polling"])
    before = await direct_events(server)
    members = (("websocket", websocket), ("polling", polling))
    answers: dict[str, list] = {name: [] for name, _ in members}
    for name, client in members:  # not seated yet
        answers[name].append(await client.call("send-message", {"content": "too early"}))
    for name, client in members:
        answers[name].append(await client.call("join-room", {"userName": f"Member {name}"}))
    for name, client in members:
        calls = [
            ("send-message", {"content": f"hello from {name}"}),
            ("send-message", {"content": 5}),
            ("send-message", {"content": "two", "userId": "someone-else"}),
            ("no-such-event", {"x": 1}),
            ("send-message", {"content": "three"}),
            ("send-message", {"content": "four"}),  # over the limit of 2 a minute
            ("pong", None),
        ]
        answers[name] += [await client.call(event, data) for event, data in calls]
    assert [shape(a) for a in answers["websocket"]] == [shape(a) for a in answers["polling"]]
    codes = [a.get("error", {}).get("code") for a in answers["websocket"]]
    assert codes == ["NOT_IN_ROOM", None, None, "INVALID_REQUEST", "INVALID_USER",
                     "INVALID_REQUEST", None, "CHAT_RATE_LIMIT_EXCEEDED", None], answers["websocket"]
    assert answers["websocket"][2]["message"]["content"] == "hello from websocket"
    # Both members hear both members' messages, in the order they were sent.
    for client in (websocket, polling):
        await wait_for(lambda c=client: len(c.events["new-message"]) >= 4, "every message heard")
        heard = [m["message"]["content"] for m in client.events["new-message"]]
        assert heard == ["hello from websocket", "three", "hello from polling", "three"]
    # A refused event (an unknown one is only answered) also got its `error` event.
    assert len(websocket.events["error"]) == len(polling.events["error"]) == 4
    assert websocket.events["rate-limit-exceeded"] and polling.events["rate-limit-exceeded"]
    # The WebSocket's nine events (and only those) were handled directly.
    assert await direct_events(server) - before == 9


@pytest.mark.single_node
async def test_a_direct_event_without_an_ack_is_handled_and_not_answered(server_factory,
                                                                           clients) -> None:
    server = server_factory()
    sender = await clients(server.url, ROOM).connect()
    listener = await clients(server.url, ROOM).connect()
    for i, client in enumerate((sender, listener)):
        assert (await client.call("join-room", {"userName": f"Member {i}"}))["success"]
    before = await direct_events(server)
    await sender.emit("send-message", {"content": "no answer wanted"})
    await wait_for(lambda: listener.events["new-message"], "the message reaches the room")
    assert listener.events["new-message"][0]["message"]["content"] == "no answer wanted"
    # Its next call is answered (the reader went on) and both were direct.
    assert (await sender.call("pong"))["success"]
    assert await direct_events(server) - before == 2


@pytest.mark.single_node
async def test_a_frame_of_another_kind_hands_the_connection_to_websockets(server_factory) -> None:
    """Text frames are read directly until a frame of another kind arrives (here a ping, in
    the same read as the frames around it); from then on websockets reads the connection:
    the ping is answered, a fragmented message is put together, and every event before and
    after is answered in order."""
    server = server_factory()
    wire = await StalledReader(server.url, new_ip()).open()
    try:
        assert (await wire.join_room(ROOM, "Wire"))["success"]
        before = LeanWebSocketProtocol.direct_frames
        burst = b"".join(wire.ws.send(event) for event in (
            Message(data=f'42{ROOM},10["pong"]'),
            Ping(payload=b"are you there"),
            Message(data=f'42{ROOM},11["po', message_finished=False),
            Message(data='ng"]'),
            Message(data=f'42{ROOM},12["send-message",{{"content":"after the ping"}}]'),
        ))
        await asyncio.get_running_loop().sock_sendall(wire.sock, burst)
        await wire.read_until(lambda: any(t.startswith(f"43{ROOM},12") for t in wire.texts),
                              "the last event answered")
        acks = [t for t in wire.texts if t.startswith(f"43{ROOM},1") and t[len(ROOM) + 4] != "["]
        assert [a[:len(ROOM) + 5] for a in acks] == [f"43{ROOM},{n}" for n in (10, 11, 12)]
        assert all('"success":true' in a for a in acks), acks
        assert wire.pongs == [b"are you there"]
        # Only the frame before the ping was read directly (the join's frames before it).
        assert LeanWebSocketProtocol.direct_frames - before == 1
    finally:
        wire.close()
