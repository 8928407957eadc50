"""Socket.IO lobby and room namespaces with real python-socketio clients on distinct addresses."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import SocketClient, connect_once_admitted, new_ip, wait_for

ROOM = "/public-room/deep-focus"


async def join(clients, server, name: str, ip: str | None = None,  # noqa: ANN001
               transports: list[str] | None = None) -> tuple[SocketClient, dict]:
    client = await clients(server.url, ROOM, ip).connect(transports)
    ack = await client.call("join-room", {"userName": name})
    assert ack.get("success") is True, ack
    return client, ack


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_join_chat_toggle_leave_flow(backend_server, clients, transport) -> None:
    server = backend_server
    lobby = await clients(server.url, "/").connect()
    await wait_for(lambda: lobby.events["rooms"], "lobby snapshot")
    assert len(lobby.events["rooms"][0]["rooms"]) == 10

    ana, ana_ack = await join(clients, server, "Ana", transports=[transport])
    assert ana_ack["room"]["currentOccupancy"] == 1
    assert [p["displayName"] for p in ana_ack["participants"]] == ["Ana"]
    ana_id = ana_ack["self"]["userId"]
    await wait_for(lambda: lobby.events["room-occupancy-update"], "occupancy update")
    assert lobby.events["room-occupancy-update"][-1] == {
        "roomId": "deep-focus", "currentOccupancy": 1, "capacity": 10, "isFull": False}

    sent = await ana.call("send-message", {"content": "hello <b>there</b>"})
    assert sent["success"] is True and sent["message"]["content"] == "hello <b>there</b>"

    bo, bo_ack = await join(clients, server, "Bo", transports=[transport])
    bo_id = bo_ack["self"]["userId"]
    assert [p["displayName"] for p in bo_ack["participants"]] == ["Ana", "Bo"]
    assert [m["content"] for m in bo_ack["recentMessages"]] == ["hello <b>there</b>"]
    message = bo_ack["recentMessages"][0]
    assert message["senderId"] == ana_id and message["senderName"] == "Ana"
    assert message["timestamp"].endswith("Z") and "T" in message["timestamp"]

    joined = await wait_for(lambda: ana.events["user-joined"], "Ana hears Bo join")
    assert joined[0]["userId"] == bo_id and joined[0]["userName"] == "Bo"
    assert joined[0]["currentOccupancy"] == 2 and joined[0]["joinedAt"].endswith("Z")
    assert not bo.events["user-joined"], "the joiner is not told about itself"

    await bo.call("send-message", {"content": "hi Ana"})
    for client in (ana, bo):
        await wait_for(lambda c=client: any(e["message"]["content"] == "hi Ana"
                                            for e in c.events["new-message"]),
                       "message reaches everyone, sender included")
    event = ana.events["new-message"][-1]
    assert event["roomId"] == "deep-focus" and event["message"]["senderName"] == "Bo"

    ack = await bo.call("toggle-video", {"userId": bo_id, "enabled": True})
    assert ack["success"] is True
    await wait_for(lambda: ana.events["participant-video-toggle"], "video toggle reaches Ana")
    assert ana.events["participant-video-toggle"][0] == {"userId": bo_id, "enabled": True}
    await bo.call("toggle-audio", {"userId": bo_id, "enabled": True})
    await wait_for(lambda: ana.events["participant-audio-toggle"], "audio toggle reaches Ana")
    detail = server.app.ctx.rooms
    participants = {p.user_id: p for p in await server.acall(lambda: detail.participants(
        "deep-focus"))}
    assert participants[bo_id].is_video_enabled and participants[bo_id].is_audio_enabled

    left = await bo.call("leave-room", {"userId": bo_id})
    assert left == {"success": True}
    gone = await wait_for(lambda: ana.events["user-left"], "Ana hears Bo leave")
    assert gone[0] == {"userId": bo_id, "currentOccupancy": 1}
    await wait_for(lambda: lobby.events["room-occupancy-update"][-1]["currentOccupancy"] == 1,
                   "lobby sees the leave")
    after = await bo.call("send-message", {"content": "still here?"})
    assert after["error"]["code"] == "NOT_IN_ROOM"


async def test_rejoin_is_idempotent_and_other_room_refused(server, clients) -> None:
    ip = new_ip()
    first, ack = await join(clients, server, "Cy", ip)
    again = await first.call("join-room", {"userId": ack["self"]["userId"], "userName": "Cy"})
    assert again["success"] is True and again["room"]["currentOccupancy"] == 1
    # A page reload: a new socket from the same address joins the same room.
    reload_ = await clients(server.url, ROOM, ip).connect()
    rejoined = await reload_.call("join-room", {"userId": ack["self"]["userId"]})
    assert rejoined["success"] and rejoined["room"]["currentOccupancy"] == 1
    await first.close()  # two connections per address is the limit
    other = await connect_once_admitted(lambda: clients(server.url, "/public-room/pomodoro", ip),
                                        "a new connection is admitted once one closed")
    refused = await other.call("join-room", {"userId": ack["self"]["userId"]})
    assert refused["error"]["code"] == "ALREADY_IN_ROOM"
    assert other.events["error"][0]["code"] == "ALREADY_IN_ROOM"


async def test_payload_naming_someone_else_is_refused(server, clients) -> None:
    _, owner_ack = await join(clients, server, "Owner")
    owner_id = owner_ack["self"]["userId"]
    thief = await clients(server.url, ROOM).connect()
    assert (await thief.call("join-room", {"userId": owner_id}))["error"]["code"] == "INVALID_USER"
    _, thief_ack = await join(clients, server, "Thief")
    thief2 = await clients(server.url, ROOM, thief.ip).connect()
    await thief2.call("join-room", {"userName": "Thief"})
    for event in ["toggle-video", "toggle-audio"]:
        ack = await thief2.call(event, {"userId": owner_id, "enabled": True})
        assert ack["error"]["code"] == "INVALID_USER"
    assert (await thief2.call("leave-room", {"userId": owner_id}))["error"]["code"] == \
        "INVALID_USER"


async def test_disconnect_frees_the_seat(server, clients) -> None:
    ana, _ = await join(clients, server, "Ana")
    bo, bo_ack = await join(clients, server, "Bo")
    await bo.close()
    gone = await wait_for(lambda: ana.events["user-left"], "disconnect broadcasts user-left")
    assert gone[0] == {"userId": bo_ack["self"]["userId"], "currentOccupancy": 1}


async def test_unknown_room_namespace_is_refused(server, clients) -> None:
    client = await clients(server.url, "/public-room/nowhere").connect(expect_refusal=True)
    rejected = await wait_for(lambda: client.events["connection-rejected"], "rejection event")
    assert rejected[0]["code"] == "ROOM_NOT_FOUND"
    await wait_for(lambda: not client.connected, "the refused socket is disconnected")


async def test_bad_payloads_get_errors_and_server_survives(server, clients) -> None:
    ana, _ = await join(clients, server, "Ana")
    cases = [
        ("send-message", "just a string", "INVALID_REQUEST"),
        ("send-message", {"content": 42}, "INVALID_REQUEST"),
        ("send-message", {}, "INVALID_REQUEST"),
        ("send-message", {"content": "   "}, "INVALID_MESSAGE"),
        ("send-message", {"content": "x" * 1001}, "INVALID_MESSAGE"),
        ("send-message", {"content": "1; DROP TABLE users"}, "MALICIOUS_INPUT"),
        ("toggle-video", {"enabled": "yes"}, "INVALID_REQUEST"),
        ("toggle-audio", None, "INVALID_REQUEST"),
        ("join-room", [1, 2, 3], "INVALID_REQUEST"),
        ("join-room", {"userName": "<script></script>"}, "INVALID_DISPLAY_NAME"),
    ]
    for event, data, code in cases:
        ack = await ana.call(event, data)
        assert ack["error"]["code"] == code, (event, data, ack)
    ok = await ana.call("send-message", {"content": "still fine"})
    assert ok["success"] is True


async def test_oversized_frame_is_refused_without_harm(server, clients) -> None:
    ana, _ = await join(clients, server, "Ana")
    bo, _ = await join(clients, server, "Bo")
    await ana.emit("send-message", {"content": "x" * (128 * 1024)})
    await wait_for(lambda: not ana.connected, "the oversized sender is disconnected")
    ack = await bo.call("send-message", {"content": "server still answers"})
    assert ack["success"] is True


async def test_chat_history_keeps_the_last_fifty_oldest_first(server_factory, clients) -> None:
    from publicrooms.settings import LimitSettings

    server = server_factory(limits=LimitSettings(chat_per_minute=1000))
    ana, _ = await join(clients, server, "Ana")
    for i in range(55):
        await ana.call("send-message", {"content": f"message {i}"})
    _, bo_ack = await join(clients, server, "Bo")
    contents = [m["content"] for m in bo_ack["recentMessages"]]
    assert contents == [f"message {i}" for i in range(5, 55)]


async def test_history_order_is_delivery_order_under_concurrent_senders(server_factory,
                                                                         clients) -> None:
    import asyncio

    from publicrooms.settings import LimitSettings

    # A commit window makes the senders' messages share transactions (group commit).
    server = server_factory(limits=LimitSettings(chat_per_minute=1000), chat_commit_window_s=0.005)
    senders = [(await join(clients, server, f"S{i}"))[0] for i in range(4)]
    listener, _ = await join(clients, server, "Lu")

    async def burst(index: int, sender: SocketClient) -> list[str]:
        acks = await asyncio.gather(*(sender.call("send-message", {"content": f"{index}.{n}"})
                                      for n in range(10)))
        assert all(ack["success"] for ack in acks), acks
        return [ack["message"]["id"] for ack in acks]

    acked = await asyncio.gather(*(burst(i, s) for i, s in enumerate(senders)))
    everyone = [*senders, listener]
    await wait_for(lambda: all(len(c.events["new-message"]) == 40 for c in everyone),
                   "every message reached every seat")
    delivered = [[e["message"]["id"] for e in c.events["new-message"]] for c in everyone]
    assert all(order == delivered[0] for order in delivered), "seats saw different orders"
    assert sorted(delivered[0]) == sorted(i for ids in acked for i in ids)
    _, late = await join(clients, server, "Late")
    assert [m["id"] for m in late["recentMessages"]] == delivered[0]


async def test_unknown_events_and_switched_off_media_are_answered(server, clients) -> None:
    ana, _ = await join(clients, server, "Ana")
    unknown = await ana.call("make-coffee", {"sugar": 2})
    assert unknown["error"]["code"] == "INVALID_REQUEST"
    media = await ana.call("media-publish", {"sdp": "v=0"})
    assert media["error"]["code"] == "MEDIA_UNAVAILABLE"
    lobby = await clients(server.url, "/").connect()
    assert (await lobby.call("send-message", {"content": "hi"}))["error"]["code"] == "NOT_IN_ROOM"


@pytest.mark.single_node
async def test_a_burst_of_joins_reaches_the_lobby_merged_and_in_order(server_factory,
                                                                       clients) -> None:
    server = server_factory(lobby_update_window_s=1.0)
    lobby = await clients(server.url, "/").connect()
    await wait_for(lambda: lobby.events["rooms"], "lobby snapshot")
    members = [await clients(server.url, ROOM).connect() for _ in range(6)]
    acks = await asyncio.gather(*(m.call("join-room", {"userName": f"M{i}"})
                                  for i, m in enumerate(members)))
    assert all(ack["success"] for ack in acks)

    def counts() -> list[int]:
        return [u["currentOccupancy"] for u in lobby.events["room-occupancy-update"]
                if u["roomId"] == "deep-focus"]

    await wait_for(lambda: counts() and counts()[-1] == 6, "the lobby ends on the current count")
    assert counts() == sorted(counts()), "counts never go back"
    assert len(counts()) < 6, "the joins after the first were merged"
    await wait_for(lambda: lobby.events["system-occupancy-update"][-1]["seatsTaken"] == 6,
                   "the system's seats end current too")
    card = [e["room"] for e in lobby.events["room-updated"] if e["room"]["id"] == "deep-focus"]
    assert card[-1]["currentOccupancy"] == 6
