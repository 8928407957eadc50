"""REST API against a live server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.support.clients import new_ip



def original(room: dict) -> dict:
    """The fields of the original interface (the lobby card adds cameras and the timer)."""
    return {key: room[key] for key in ("id", "name", "currentOccupancy", "capacity", "isFull")}

async def test_lobby_lists_the_default_rooms(backend_server, http) -> None:
    client = http(backend_server.url)
    response = await client.get("/api/public/rooms")
    assert response.status_code == 200
    rooms = response.json()
    assert len(rooms) == 10
    # The original fields, and (extra, as the protocol allows) the lobby card's cameras and timer.
    assert set(rooms[0]) == {"id", "name", "currentOccupancy", "capacity", "isFull", "camerasOn",
                             "timer"}
    assert all(r["currentOccupancy"] == 0 and not r["isFull"] for r in rooms)


async def test_user_is_one_per_ip_and_renamed(backend_server, http) -> None:
    ip = new_ip()
    first = await http(backend_server.url, ip).post("/api/public/users",
                                                    json={"displayName": "  Ada  "})
    again = await http(backend_server.url, ip).post("/api/public/users",
                                                    json={"displayName": "Ada L."})
    other = await http(backend_server.url).post("/api/public/users", json={"displayName": "Bo"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["displayName"] == "Ada"
    assert again.json() == {"userId": first.json()["userId"], "displayName": "Ada L."}
    assert other.json()["userId"] != first.json()["userId"]


async def test_join_leave_and_history(backend_server, http) -> None:
    ana = http(backend_server.url)
    user = (await ana.post("/api/public/users", json={"displayName": "Ana"})).json()
    joined = await ana.post("/api/public/rooms/deep-focus/join", json={"userId": user["userId"]})
    assert joined.status_code == 200, joined.text
    body = joined.json()
    assert body["success"] is True
    assert original(body["room"]) == {"id": "deep-focus", "name": "Deep Focus",
                                      "currentOccupancy": 1, "capacity": 10, "isFull": False}
    assert body["room"]["camerasOn"] == 0 and body["timer"]["status"] == "stopped"
    assert [p["displayName"] for p in body["participants"]] == ["Ana"]
    participant = body["participants"][0]
    assert set(participant) == {"userId", "displayName", "isVideoEnabled", "isAudioEnabled",
                                "joinedAt", "status"}
    assert participant["status"] is None
    assert body["recentMessages"] == []

    detail = (await ana.get("/api/public/rooms/deep-focus")).json()
    assert detail["room"]["currentOccupancy"] == 1
    assert detail["participants"][0]["userId"] == user["userId"]

    again = await ana.post("/api/public/rooms/deep-focus/join", json={"userId": user["userId"]})
    assert again.status_code == 200 and again.json()["room"]["currentOccupancy"] == 1

    elsewhere = await ana.post("/api/public/rooms/pomodoro/join", json={"userId": user["userId"]})
    assert elsewhere.status_code == 409
    assert elsewhere.json()["error"]["code"] == "ALREADY_IN_ROOM"

    left = await ana.post("/api/public/rooms/deep-focus/leave", json={"userId": user["userId"]})
    assert left.status_code == 200 and left.json() == {"success": True}
    rooms = (await ana.get("/api/public/rooms")).json()
    assert next(r for r in rooms if r["id"] == "deep-focus")["currentOccupancy"] == 0


async def test_room_full(server_factory, http) -> None:
    from publicrooms.settings import RoomConfig

    server = server_factory(rooms=[RoomConfig(id="tiny", name="Tiny", capacity=2)])
    results = []
    for name in ["A", "B", "C"]:
        client = http(server.url)
        user = (await client.post("/api/public/users", json={"displayName": name})).json()
        results.append(await client.post("/api/public/rooms/tiny/join",
                                         json={"userId": user["userId"]}))
    assert [r.status_code for r in results] == [200, 200, 409]
    assert results[2].json()["error"]["code"] == "ROOM_FULL"
    rooms = (await http(server.url).get("/api/public/rooms")).json()
    assert [original(room) for room in rooms] == [
        {"id": "tiny", "name": "Tiny", "currentOccupancy": 2, "capacity": 2, "isFull": True}]


async def test_someone_elses_user_id_is_refused(backend_server, http) -> None:
    owner = http(backend_server.url)
    user = (await owner.post("/api/public/users", json={"displayName": "Owner"})).json()
    thief = http(backend_server.url)
    for path in ["/api/public/rooms/deep-focus/join", "/api/public/rooms/deep-focus/leave"]:
        response = await thief.post(path, json={"userId": user["userId"]})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "INVALID_USER"
    unknown = await thief.post("/api/public/rooms/deep-focus/join", json={"userId": "nope"})
    assert unknown.json()["error"]["code"] == "INVALID_USER"


async def test_errors_have_the_documented_shape(backend_server, http) -> None:
    client = http(backend_server.url)
    cases = [
        (client.get("/api/public/rooms/no-such-room"), 404, "ROOM_NOT_FOUND"),
        (client.post("/api/public/users", json={"displayName": "   "}), 400,
         "INVALID_DISPLAY_NAME"),
        (client.post("/api/public/users", json={"displayName": "x" * 51}), 400,
         "INVALID_DISPLAY_NAME"),
        (client.post("/api/public/users", json={"displayName": "a' OR '1'='1"}), 400,
         "MALICIOUS_INPUT"),
        (client.post("/api/public/users", json={"displayName": 5}), 400, "INVALID_REQUEST"),
        (client.post("/api/public/users", json={}), 400, "INVALID_REQUEST"),
        (client.post("/api/public/users", content=b"{not json",
                     headers={"content-type": "application/json"}), 400, "INVALID_REQUEST"),
        (client.post("/api/public/users", content=b"[1,2]",
                     headers={"content-type": "application/json"}), 400, "INVALID_REQUEST"),
        (client.post("/api/public/rooms/nope/join", json={"userId": "u"}), 404,
         "ROOM_NOT_FOUND"),
    ]
    for request, status, code in cases:
        response = await request
        assert response.status_code == status, (code, response.text)
        body = response.json()
        assert body["error"]["code"] == code
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_oversized_body_is_refused_and_server_keeps_serving(server, http) -> None:
    client = http(server.url)
    huge = {"displayName": "x" * (200 * 1024)}
    response = await client.post("/api/public/users", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "INVALID_REQUEST"

    async def chunks():
        for _ in range(100):
            yield b"x" * 4096

    chunked = await client.post("/api/public/users", content=chunks(),
                                headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert (await client.get("/api/public/rooms")).status_code == 200


async def test_security_headers_and_openapi(server, http) -> None:
    client = http(server.url)
    for path in ["/", "/api/public/rooms", "/openapi.json"]:
        response = await client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "connect-src 'self' ws: wss:" in csp
        assert response.headers["permissions-policy"].startswith(
            "camera=(self), microphone=(self)")
        assert response.headers["x-content-type-options"] == "nosniff"
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/public/rooms", "/api/public/users", "/api/public/rooms/{room_id}/join",
            "/api/public/rooms/{room_id}/leave", "/api/public/rooms/{room_id}"} <= set(paths)


async def test_no_ip_or_ip_key_in_responses(server, http) -> None:
    ip = new_ip()
    client = http(server.url, ip)
    user = (await client.post("/api/public/users", json={"displayName": "Pri"})).json()
    joined = await client.post("/api/public/rooms/deep-focus/join", json={"userId": user["userId"]})
    ip_key = server.app.ctx.keyer.key(ip)
    for text in [joined.text, (await client.get("/api/public/rooms/deep-focus")).text]:
        assert ip not in text and ip_key not in text


async def test_concurrent_joins_never_exceed_capacity(server_factory, http) -> None:
    from publicrooms.settings import RoomConfig

    server = server_factory(rooms=[RoomConfig(id="small", name="Small", capacity=5)])
    people = []
    for i in range(15):
        client = http(server.url)
        user = (await client.post("/api/public/users", json={"displayName": f"P{i}"})).json()
        people.append((client, user["userId"]))
    responses = await asyncio.gather(*(
        client.post("/api/public/rooms/small/join", json={"userId": uid})
        for client, uid in people))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 5 and codes.count(409) == 10
    detail = (await people[0][0].get("/api/public/rooms/small")).json()
    assert detail["room"]["currentOccupancy"] == 5 and len(detail["participants"]) == 5


async def test_health_readiness_and_metrics(server, http, clients) -> None:
    client = http(server.url)
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ready"}
    socket = await clients(server.url, "/public-room/deep-focus").connect()
    assert (await socket.call("join-room", {"userName": "Mia"}))["success"]
    text = (await client.get("/metrics")).text
    assert 'publicrooms_room_occupancy{room="deep-focus"} 1.0' in text
    assert "publicrooms_seats 1.0" in text
    # Sockets are counted by the node that holds them: one in all.
    counts = []
    for node in server.nodes:
        node_text = (await http(node.url).get("/metrics")).text
        line = next(x for x in node_text.splitlines()
                    if x.startswith("publicrooms_socket_connections "))
        counts.append(float(line.split()[1]))
    assert sum(counts) == 1.0
    assert 'publicrooms_job_runs_total{job="inactive-users"}' in text


def _documented_join_fields() -> dict[str, str]:
    """The rows of docs/protocol.md's join-answer table: field -> its description."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    table = text.split("**The join answer**", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    return {field.strip().strip("`"): what.strip() for field, what in rows}


async def test_every_join_answer_field_is_documented(server, http, clients) -> None:
    documented = _documented_join_fields()
    client = http(server.url)
    user = (await client.post("/api/public/users", json={"displayName": "Doc"})).json()
    rest = (await client.post("/api/public/rooms/deep-focus/join", json={"userId": user["userId"]})).json()
    socket = await clients(server.url, "/public-room/pomodoro").connect()
    ack = await socket.call("join-room", {"userName": "Doc Two"})
    for answer in (rest, ack):
        assert answer["success"] is True, answer
        assert set(answer) == set(documented), f"join answer {sorted(answer)} vs docs {sorted(documented)}"
        for key in answer["mediaConfig"]:
            assert f"`{key}`" in documented["mediaConfig"] or key in documented["mediaConfig"], key
