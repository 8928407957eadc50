"""Moderation against live servers: reports from the people list, the operator API (token,
origin, rate limit, audit), kicks and bans on one node and on three Redis-linked nodes."""

from __future__ import annotations

import pytest

from tests.support.clients import http_client, new_ip, wait_for

ROOM = "/public-room/deep-focus"
TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def seated(clients, server, name: str, ip: str | None = None):  # noqa: ANN001, ANN201
    client = await clients(server.url, ROOM, ip).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack.get("success") is True, ack
    return client, ack["self"]["userId"]


async def admin(server, method: str, path: str, **kwargs):  # noqa: ANN001, ANN003, ANN201
    async with http_client(server.url, "127.0.0.1") as http:
        headers = {**AUTH, **kwargs.pop("headers", {})}
        return await http.request(method, f"/api/admin{path}", headers=headers, **kwargs)


async def test_report_is_stored_with_both_keys_acknowledged_and_resolvable(
        server_factory, clients) -> None:
    # Every report counts against the limit, refused ones too: room for the refusals here.
    server = server_factory(admin_token=TOKEN, limits={"reports_per_window": 20})
    ana, ana_id = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")

    ack = await ana.call("report-user", {"userId": bo_id, "reason": "spam",
                                         "text": "keeps posting <b>links</b>\x07"})
    assert ack["success"] is True and ack["reportId"]
    # Bad reports are refused with a clear error and store nothing.
    refusals = [
        ({"userId": bo_id, "reason": "i-dont-like-them"}, "INVALID_REQUEST"),
        ({"userId": ana_id, "reason": "spam"}, "INVALID_REQUEST"),          # oneself
        ({"userId": "nobody", "reason": "spam"}, "INVALID_REQUEST"),        # not in the room
        ({"userId": bo_id, "reason": "spam", "text": "x" * 501}, "INVALID_MESSAGE"),
        ({"userId": bo_id, "reason": "spam", "text": "<script>alert(1)</script>"},
         "MALICIOUS_INPUT"),
    ]
    for payload, code in refusals:
        answer = await ana.call("report-user", payload)
        assert answer["error"]["code"] == code, (payload, answer)

    listed = (await admin(server, "GET", "/reports")).json()["reports"]
    assert len(listed) == 1
    report = listed[0]
    assert report["id"] == ack["reportId"] and report["reason"] == "spam"
    assert report["text"] == "keeps posting <b>links</b>"  # as typed, control removed
    assert report["targetUserId"] == bo_id and report["targetName"] == "Bo"
    assert report["reporterUserId"] == ana_id
    assert len(report["targetIpKey"]) == 64 and len(report["reporterIpKey"]) == 64
    assert report["targetIpKey"] != report["reporterIpKey"]
    assert "127.0." not in str(report), "never a raw address"
    # The operator finds the person by the report and by name.
    found = (await admin(server, "GET", "/people", params={"reportId": report["id"]})).json()
    assert [p["userId"] for p in found["people"]] == [bo_id]
    by_name = (await admin(server, "GET", "/people", params={"name": "b"})).json()["people"]
    assert bo_id in [p["userId"] for p in by_name]
    assert found["people"][0]["roomId"] == "deep-focus" and found["people"][0]["reports"] == 1

    resolved = await admin(server, "POST", f"/reports/{report['id']}/resolve",
                           json={"resolution": "warned"})
    assert resolved.status_code == 200 and resolved.json()["report"]["resolution"] == "warned"
    assert (await admin(server, "GET", "/reports")).json()["reports"] == []
    assert len((await admin(server, "GET", "/reports", params={"all": "true"})).json()["reports"]) == 1


async def test_filing_reports_too_fast_is_refused_and_is_a_violation(server_factory, clients) -> None:
    server = server_factory(admin_token=TOKEN)
    ana, _ = await seated(clients, server, "Ana")
    _, bo_id = await seated(clients, server, "Bo")
    limit = server.settings.limits.reports_per_window
    for _ in range(limit):
        assert (await ana.call("report-user", {"userId": bo_id, "reason": "other"}))["success"]
    refused = await ana.call("report-user", {"userId": bo_id, "reason": "other"})
    assert refused["error"]["code"] == "REPORT_LIMIT_EXCEEDED" and refused["error"]["retryAfter"] > 0
    events = (await admin(server, "GET", "/suspicious")).json()["events"]
    assert any(e["kind"] == "report-limit" for e in events), events
    async with http_client(server.url, new_ip()) as http:
        text = (await http.get("/metrics")).text
    assert "publicrooms_moderation_reports_total" in text


async def test_kick_tells_the_person_and_frees_the_seat_with_the_usual_broadcasts(
        server_factory, clients) -> None:
    server = server_factory(admin_token=TOKEN)
    lobby = await clients(server.url, "/").connect()
    ana, _ = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo")

    answer = await admin(server, "POST", "/kick", json={"userId": bo_id, "reason": "spamming"})
    assert answer.status_code == 200 and answer.json()["sockets"] == 1
    kicked = await wait_for(lambda: bo.events["kicked"], "Bo is told he was kicked")
    assert kicked[0]["code"] == "KICKED" and "spamming" in kicked[0]["message"]
    left = await wait_for(lambda: ana.events["user-left"], "Ana sees Bo leave")
    assert left[-1] == {"userId": bo_id, "currentOccupancy": 1}
    await wait_for(lambda: any(u["roomId"] == "deep-focus" and u["currentOccupancy"] == 1
                               for u in lobby.events["room-occupancy-update"][1:]),
                   "the lobby sees the seat freed")
    await wait_for(lambda: not bo.connected, "Bo's socket is closed")
    rooms = (await admin(server, "GET", "/rooms")).json()
    room = next(r for r in rooms["rooms"] if r["id"] == "deep-focus")
    assert [p["displayName"] for p in room["participants"]] == ["Ana"]
    assert rooms["queue"] == []
    texts = []
    for node in server.nodes:  # each node counts what it did
        async with http_client(node.url, new_ip()) as http:
            texts.append((await http.get("/metrics")).text)
    assert sum("publicrooms_moderation_kicks_total 1.0" in text for text in texts) == 1


async def test_ban_is_enforced_on_every_node_at_rest_and_socket_level_then_lifted(
        server_factory, clients) -> None:
    server = server_factory(admin_token=TOKEN)
    bo_ip = new_ip()
    ana, _ = await seated(clients, server, "Ana")
    bo, bo_id = await seated(clients, server, "Bo", ip=bo_ip)

    answer = await admin(server, "POST", "/bans", json={
        "userId": bo_id, "durationS": 3600, "reason": "slurs in chat",
        "publicReason": "Hateful messages."})
    assert answer.status_code == 200, answer.text
    ban = answer.json()["ban"]
    assert ban["active"] and ban["expiresAt"] and ban["reason"] == "slurs in chat"

    # Bo's open socket is closed, with the reason, wherever it is.
    refusal = await wait_for(lambda: bo.events["connection-rejected"], "Bo's socket is refused")
    assert refusal[0]["code"] == "IP_BLOCKED" and refusal[0]["details"]["reason"] == "Hateful messages."
    await wait_for(lambda: ana.events["user-left"], "Ana sees Bo's seat freed")
    for node in server.nodes:
        async def refused_at_rest(node=node) -> dict | None:  # noqa: ANN001
            async with http_client(node.url, bo_ip) as http:
                response = await http.get("/api/public/rooms")
            return response.json() if response.status_code == 403 else None

        body = await wait_for(refused_at_rest, f"REST refuses Bo on {node.url}")
        assert body["error"]["code"] == "IP_BLOCKED"
        assert 3500 < body["error"]["retryAfter"] <= 3600
        assert body["error"]["details"] == {"reason": "Hateful messages.", "permanent": False}
        socket = await clients(node.url, ROOM, bo_ip).connect()
        rejected = await socket.admission()
        assert rejected is not None and rejected["code"] == "IP_BLOCKED", rejected
        assert rejected["details"]["reason"] == "Hateful messages." and rejected["retryAfter"] > 3500
        await socket.close()
    # Others are untouched.
    async with http_client(server.url, new_ip()) as http:
        assert (await http.get("/api/public/rooms")).status_code == 200
    listed = (await admin(server, "GET", "/bans")).json()["bans"]
    assert [b["id"] for b in listed] == [ban["id"]]

    assert (await admin(server, "POST", "/unban", json={"userId": bo_id})).status_code == 200
    assert (await admin(server, "POST", "/unban", json={"userId": bo_id})).status_code == 404
    for node in server.nodes:
        async def allowed(node=node) -> bool:  # noqa: ANN001
            async with http_client(node.url, bo_ip) as http:
                return (await http.get("/api/public/rooms")).status_code == 200

        await wait_for(allowed, f"Bo is allowed again on {node.url}")
    assert (await admin(server, "GET", "/bans")).json()["bans"] == []
    assert len((await admin(server, "GET", "/bans", params={"active": "false"})).json()["bans"]) == 1


async def test_permanent_ban_from_a_report_has_no_retry_after(server_factory, clients) -> None:
    server = server_factory(admin_token=TOKEN)
    ana, _ = await seated(clients, server, "Ana")
    bo_ip = new_ip()
    _, bo_id = await seated(clients, server, "Bo", ip=bo_ip)
    report = await ana.call("report-user", {"userId": bo_id, "reason": "harassment"})
    answer = await admin(server, "POST", "/bans", json={"reportId": report["reportId"],
                                                         "reason": "harassment, confirmed"})
    assert answer.status_code == 200 and answer.json()["ban"]["expiresAt"] is None
    for node in server.nodes:
        async def refused(node=node) -> dict | None:  # noqa: ANN001
            async with http_client(node.url, bo_ip) as http:
                response = await http.get("/api/public/rooms")
            return response.json() if response.status_code == 403 else None

        body = await wait_for(refused, f"REST refuses Bo on {node.url}")
        assert body["error"]["code"] == "IP_BLOCKED" and "retryAfter" not in body["error"]
        assert body["error"]["details"]["permanent"] is True


@pytest.mark.single_node
async def test_ban_survives_a_restart(server_factory, clients) -> None:
    first = server_factory(admin_token=TOKEN)
    bo_ip = new_ip()
    _, bo_id = await seated(clients, first, "Bo", ip=bo_ip)
    assert (await admin(first, "POST", "/bans", json={"userId": bo_id, "reason": "r"})).status_code == 200
    first.stop()
    second = server_factory(admin_token=TOKEN)
    async with http_client(second.url, bo_ip) as http:
        response = await http.get("/api/public/rooms")
    assert response.status_code == 403 and response.json()["error"]["code"] == "IP_BLOCKED"


async def test_operator_api_is_off_without_a_token(server_factory) -> None:
    server = server_factory()
    response = await admin(server, "GET", "/rooms")
    assert response.status_code == 404


async def test_operator_api_refuses_bad_tokens_foreign_origins_and_audits_every_call(
        server_factory) -> None:
    server = server_factory(admin_token=TOKEN)
    url = server.url  # one node: its own origin is the same origin
    async with http_client(url, new_ip()) as http:
        assert (await http.get("/api/admin/rooms")).status_code == 401
        wrong = await http.get("/api/admin/rooms", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHORIZED"
        assert wrong.headers["www-authenticate"] == "Bearer"
        foreign = await http.get("/api/admin/rooms", headers={**AUTH, "Origin": "https://evil.example"})
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "FORBIDDEN_ORIGIN"
        assert "access-control-allow-origin" not in foreign.headers
        preflight = await http.options("/api/admin/rooms", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
        same = await http.get("/api/admin/rooms", headers={**AUTH, "Origin": url})
        assert same.status_code == 200
    # The audit log is shared: any node shows every node's calls.
    entries = (await admin(server, "GET", "/audit")).json()["entries"]
    statuses = [(e["action"], e["status"]) for e in reversed(entries)]
    assert statuses[:4] == [("GET /api/admin/rooms", 401), ("GET /api/admin/rooms", 401),
                            ("GET /api/admin/rooms", 403), ("GET /api/admin/rooms", 200)]
    good = [e for e in entries if e["status"] == 200]
    assert good and all(len(e["tokenId"]) == 12 and TOKEN not in str(e) for e in good)


async def test_operator_api_has_its_own_rate_limit(server_factory) -> None:
    server = server_factory(admin_token=TOKEN, limits={"admin_per_minute": 3})
    ip = new_ip()
    async with http_client(server.url, ip) as http:
        codes = [(await http.get("/api/admin/bans", headers=AUTH)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


async def test_a_ban_longer_than_ten_years_is_refused_with_a_clear_error(
        server_factory, clients) -> None:
    """A duration past any date the database can hold was a 500; now it is a 4xx in the
    documented shape, and a ban for good is asked for by leaving the duration out."""
    server = server_factory(admin_token=TOKEN)
    _, bo_id = await seated(clients, server, "Bo")
    answer = await admin(server, "POST", "/bans", json={"userId": bo_id, "reason": "spam",
                                                         "duration_s": 1e300})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["code"] == "INVALID_REQUEST", answer.text
    listed = await admin(server, "GET", "/bans")
    assert listed.status_code == 200 and listed.json()["bans"] == [], listed.text


async def test_an_invalid_operator_query_is_audited_as_refused(server_factory) -> None:
    """The audit once said 500 for a call answered 400 (its query parameter out of range)."""
    server = server_factory(admin_token=TOKEN)
    answer = await admin(server, "GET", "/audit", params={"limit": -5})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "INVALID_REQUEST"
    entries = (await admin(server, "GET", "/audit")).json()["entries"]
    refused = [e for e in entries if e["detail"] == "limit=-5"]
    assert [e["status"] for e in refused] == [400], entries


async def _metric(node, name: str) -> float:  # noqa: ANN001
    async with http_client(node.url, new_ip()) as http:
        text = (await http.get("/metrics")).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(f"{name} "))


async def test_find_by_user_id_bans_in_the_metrics_and_every_call_logged(
        server_factory, clients, logs) -> None:
    server = server_factory(admin_token=TOKEN)
    _, bo_id = await seated(clients, server, "Bo")
    found = (await admin(server, "GET", "/people", params={"userId": bo_id})).json()["people"]
    assert [(p["userId"], p["displayName"], p["roomId"]) for p in found] == [(bo_id, "Bo", "deep-focus")]
    assert (await admin(server, "GET", "/people", params={"userId": "nobody"})).json() == {"people": []}

    assert (await admin(server, "POST", "/bans", json={"userId": bo_id, "reason": "r"})).status_code == 200
    for node in server.nodes:  # every node holds the ban; the one that made it counts it
        async def in_force(n=node) -> bool:  # noqa: ANN001
            return await _metric(n, "publicrooms_bans_active") == 1

        await wait_for(in_force, "ban in force everywhere")
    assert sum([await _metric(n, "publicrooms_moderation_bans_total") for n in server.nodes]) == 1
    assert (await admin(server, "POST", "/unban", json={"userId": bo_id})).status_code == 200
    assert sum([await _metric(n, "publicrooms_moderation_unbans_total") for n in server.nodes]) == 1
    for node in server.nodes:
        async def lifted(n=node) -> bool:  # noqa: ANN001
            return await _metric(n, "publicrooms_bans_active") == 0

        await wait_for(lifted, "ban lifted everywhere")

    calls = [(e["action"], e["status"]) for e in logs if e["event"] == "operator call"]
    assert calls == [("GET /api/admin/people", 200), ("GET /api/admin/people", 200),
                     ("POST /api/admin/bans", 200), ("POST /api/admin/unban", 200)]
    assert all(len(e["token"]) == 12 and TOKEN not in str(e) for e in logs
               if e["event"] == "operator call")


async def test_operator_room_list_shows_who_waits_in_the_queue(server_factory, clients) -> None:
    server = server_factory(admin_token=TOKEN, system_capacity=1)
    await seated(clients, server, "Ana")
    bo = await clients(server.url, ROOM).connect()
    waiting = await bo.call("join-room", {"userName": "Bo Waits"})
    assert waiting["error"]["code"] == "SYSTEM_AT_CAPACITY", waiting
    queue = (await admin(server, "GET", "/rooms")).json()["queue"]
    assert [(q["position"], q["displayName"], q["roomId"]) for q in queue] == [(1, "Bo Waits", "deep-focus")]
    assert queue[0]["userId"]
