""""Working on…": each participant's short status, live to the room, gone when they leave;
and the lobby card's people, cameras and timer."""

from __future__ import annotations

from tests.support.clients import wait_for

ROOM = "/public-room/deep-focus"


async def seated(clients, server, name: str):  # noqa: ANN001, ANN201
    client = await clients(server.url, ROOM).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack["success"], ack
    return client, ack["self"]["userId"]


async def test_status_is_shown_live_to_the_room_and_to_newcomers(server, clients) -> None:  # noqa: ANN001
    ada, ada_id = await seated(clients, server, "Ada")
    bo, _ = await seated(clients, server, "Bo")
    set_ = await ada.call("set-status", {"status": "  Chapter 3: eigenvalues  "})
    assert set_ == {"success": True, "status": "Chapter 3: eigenvalues"}
    for client in (ada, bo):
        heard = await wait_for(lambda c=client: c.events["participant-status-changed"],
                               "the room hears the status")
        assert heard[0] == {"userId": ada_id, "status": "Chapter 3: eigenvalues"}
    cy, _ = await seated(clients, server, "Cy")
    ack = await cy.call("join-room", {})
    assert {p["displayName"]: p["status"] for p in ack["participants"]} == {
        "Ada": "Chapter 3: eigenvalues", "Bo": None, "Cy": None}

    # Empty clears it.
    assert (await ada.call("set-status", {"status": ""})) == {"success": True, "status": None}
    await wait_for(lambda: len(bo.events["participant-status-changed"]) == 2, "cleared")
    assert bo.events["participant-status-changed"][1] == {"userId": ada_id, "status": None}


async def test_status_follows_the_chat_text_rules(server, clients) -> None:  # noqa: ANN001
    ada, _ = await seated(clients, server, "Ada")
    assert (await ada.call("set-status", {"status": "x" * 80}))["status"] == "x" * 80
    too_long = await ada.call("set-status", {"status": "x" * 81})
    assert too_long["error"]["code"] == "INVALID_MESSAGE"
    script = await ada.call("set-status", {"status": "<img src=x onerror=alert(1)>"})
    assert script["error"]["code"] == "MALICIOUS_INPUT"
    typed = await ada.call("set-status", {"status": "a<b & <3 \u202eevil"})
    assert typed["status"] == "a<b & <3 evil"
    wrong = await ada.call("set-status", {"status": 42})
    assert wrong["error"]["code"] == "INVALID_REQUEST"
    watcher = await clients(server.url, ROOM).connect()
    assert (await watcher.call("set-status", {"status": "hi"}))["error"]["code"] == "NOT_IN_ROOM"


async def test_status_is_cleared_when_its_owner_leaves(server, clients, http) -> None:  # noqa: ANN001
    ada, ada_id = await seated(clients, server, "Ada")
    bo, _ = await seated(clients, server, "Bo")
    await ada.call("set-status", {"status": "essay draft"})
    await wait_for(lambda: bo.events["participant-status-changed"], "Bo sees the status")
    assert (await ada.call("leave-room", {}))["success"]
    await wait_for(lambda: bo.events["user-left"], "Bo sees Ada leave")
    back = await ada.call("join-room", {})
    assert {p["displayName"]: p["status"] for p in back["participants"]}["Ada"] is None
    detail = (await http(server.url).get("/api/public/rooms/deep-focus")).json()
    assert {p["userId"]: p["status"] for p in detail["participants"]}[ada_id] is None


async def test_status_changes_are_rate_limited(server_factory, clients) -> None:  # noqa: ANN001
    from publicrooms.settings import LimitSettings

    server = server_factory(limits=LimitSettings(status_per_minute=2))
    ada, _ = await seated(clients, server, "Ada")
    assert (await ada.call("set-status", {"status": "one"}))["success"]
    assert (await ada.call("set-status", {"status": "two"}))["success"]
    refused = await ada.call("set-status", {"status": "three"})
    assert refused["error"]["code"] == "STATUS_LIMIT_EXCEEDED"


async def test_the_lobby_card_counts_people_and_cameras_live(server, clients, http) -> None:  # noqa: ANN001
    lobby = await clients(server.url, "/").connect()
    await wait_for(lambda: lobby.events["rooms"], "the snapshot")
    ada, _ = await seated(clients, server, "Ada")
    bo, _ = await seated(clients, server, "Bo")

    def card() -> dict | None:
        cards = [e["room"] for e in lobby.events["room-updated"] if e["room"]["id"] == "deep-focus"]
        return cards[-1] if cards else None

    await wait_for(lambda: card() and card()["currentOccupancy"] == 2, "two people")
    assert (await ada.call("toggle-video", {"enabled": True}))["success"]
    await wait_for(lambda: card()["camerasOn"] == 1, "one camera on")
    assert card()["timer"]["status"] == "stopped" and card()["isFull"] is False
    rooms = {r["id"]: r for r in (await http(server.url).get("/api/public/rooms")).json()}
    assert (rooms["deep-focus"]["currentOccupancy"], rooms["deep-focus"]["camerasOn"]) == (2, 1)
    await ada.call("leave-room", {})
    await wait_for(lambda: card()["currentOccupancy"] == 1 and card()["camerasOn"] == 0,
                   "her camera leaves with her")
    # The original lobby event still comes, as old clients expect.
    assert lobby.events["room-occupancy-update"][-1] == {
        "roomId": "deep-focus", "currentOccupancy": 1, "capacity": 10, "isFull": False}
