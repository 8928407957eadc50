"""Abuse limits on a live server (SPEC §5): boundaries, blocks, headers, forged addresses."""

from __future__ import annotations

import asyncio
import contextlib
import json

from publicrooms.clock import FakeClock
from publicrooms.settings import CleanupSettings, LimitSettings
from tests.support.clients import connect_once_admitted, http_client, new_ip, wait_for
from tests.support.live import advance
from tests.support.stalled import StalledReader

ROOM = "/public-room/deep-focus"


async def test_rest_limit_boundary_block_and_headers(server_factory, http) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    client = http(server.url)
    for i in range(100):
        response = await client.get("/api/public/rooms",
                                    headers={"X-Forwarded-For": f"198.51.100.{i % 250}"})
        assert response.status_code == 200, (i, response.text)
    assert response.headers["RateLimit-Policy"] == '"rest";q=100;w=60'
    assert response.headers["RateLimit"].startswith('"rest";r=0;')
    refused = await client.get("/api/public/rooms")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["error"]["retryAfter"] == 60
    # Another endpoint has its own budget; another address is unaffected.
    assert (await client.get("/api/public/rooms/deep-focus")).status_code == 200
    assert (await http(server.url).get("/api/public/rooms")).status_code == 200

    await advance(server, clock, 30)
    still = await client.get("/api/public/rooms")
    assert still.status_code == 429 and still.headers["Retry-After"] == "30"
    await advance(server, clock, 31)
    assert (await client.get("/api/public/rooms")).status_code == 200


async def test_forwarded_for_counts_only_from_trusted_proxies(server_factory, http) -> None:
    proxy_ip = new_ip()
    server = server_factory(trusted_proxies=[proxy_ip],
                            limits=LimitSettings(rest_per_minute=3))
    proxy = http(server.url, proxy_ip)
    # Behind the trusted proxy, each forwarded client has its own budget.
    for i in range(5):
        response = await proxy.get("/api/public/rooms",
                                   headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert response.status_code == 200
    # An untrusted peer forging the header is still itself.
    forger = http(server.url)
    codes = [(await forger.get("/api/public/rooms",
                               headers={"X-Forwarded-For": f"203.0.113.{i}"})).status_code
             for i in range(10, 14)]
    assert codes == [200, 200, 200, 429]


async def test_chat_limit_blocks_and_refused_message_reaches_nobody(server_factory,
                                                                    clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    ana = await clients(server.url, ROOM).connect()
    bo = await clients(server.url, ROOM).connect()
    await ana.call("join-room", {"userName": "Ana"})
    await bo.call("join-room", {"userName": "Bo"})
    for i in range(10):
        assert (await ana.call("send-message", {"content": f"m{i}"}))["success"]
    refused = await ana.call("send-message", {"content": "one too many"})
    assert refused["error"]["code"] == "CHAT_RATE_LIMIT_EXCEEDED"
    assert refused["error"]["retryAfter"] == 30
    event = await wait_for(lambda: ana.events["rate-limit-exceeded"], "rate-limit-exceeded")
    assert event[0]["action"] == "chat" and event[0]["retryAfter"] == 30
    assert event[0]["resetTime"].endswith("Z")
    await wait_for(lambda: len(bo.events["new-message"]) == 10, "ten messages arrive")
    assert all(e["message"]["content"] != "one too many" for e in bo.events["new-message"])
    await advance(server, clock, 31)
    assert (await ana.call("send-message", {"content": "back"}))["success"]


async def test_join_limit_blocks_for_five_minutes(server_factory, http) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock)
    client = http(server.url)
    user = (await client.post("/api/public/users", json={"displayName": "Jo"})).json()
    for _ in range(5):
        ok = await client.post("/api/public/rooms/deep-focus/join", json={"userId": user["userId"]})
        assert ok.status_code == 200
    refused = await client.post("/api/public/rooms/deep-focus/join",
                                json={"userId": user["userId"]})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "JOIN_LIMIT_EXCEEDED"
    assert refused.headers["Retry-After"] == "300"
    await advance(server, clock, 299)
    assert (await client.post("/api/public/rooms/deep-focus/join",
                              json={"userId": user["userId"]})).status_code == 429
    await advance(server, clock, 2)
    assert (await client.post("/api/public/rooms/deep-focus/join",
                              json={"userId": user["userId"]})).status_code == 200


async def test_third_connection_is_refused(server, clients) -> None:
    ip = new_ip()
    first = await clients(server.url, ROOM, ip).connect()
    assert await first.admission() is None
    second = await clients(server.url, "/", ip).connect()
    assert await second.admission() is None
    third = await clients(server.url, ROOM, ip).connect(expect_refusal=True)
    rejected = await wait_for(lambda: third.events["connection-rejected"], "third refused")
    assert rejected[0]["code"] == "TOO_MANY_CONNECTIONS"
    await wait_for(lambda: not third.connected, "third is disconnected")
    assert first.connected and second.connected
    await second.close()

    fourth = await connect_once_admitted(lambda: clients(server.url, ROOM, ip),
                                         "a fourth connection is admitted once one closed")
    assert (await fourth.call("join-room", {"userName": "Four"}))["success"]


# A client on a slow link comes back for its packets this long after asking: longer than
# any fixed delay a server could guess, and longer than Engine.IO's sweep of closed sessions.
SLOW_LINK_S = 2.5


async def test_refused_session_closes_once_its_refusal_is_read(server_factory, clients) -> None:
    # Engine.IO sweeps closed sessions every ping timeout (1 s here): a session closed before
    # the client read its refusal would be gone when it asks, and the refusal lost.
    server = server_factory(cleanup=CleanupSettings(engineio_ping_timeout_s=1,
                                                    shutdown_grace_s=1))
    node = server.nodes[0]  # a polling session lives on one node
    ip = new_ip()
    for namespace in (ROOM, "/"):
        assert await (await clients(node.url, namespace, ip).connect()).admission() is None

    async with http_client(node.url, ip) as http:
        opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        posted = await http.post("/socket.io/", params=params, content=f"40{ROOM},")
        assert posted.status_code == 200, posted.text
        await asyncio.sleep(SLOW_LINK_S)  # the slow link, not a wait for anything
        answer = await http.get("/socket.io/", params=params)
        assert answer.status_code == 200, answer.text
        packets = answer.text.split("\x1e")
        assert any(p.startswith(f'42{ROOM},["connection-rejected",{{"code":'
                                f'"TOO_MANY_CONNECTIONS"') for p in packets), packets
        # Coming back for more means it read them: now the session closes.
        closing = await http.get("/socket.io/", params=params)
        assert closing.status_code == 200 and "1" in closing.text.split("\x1e"), closing.text
    await wait_for(lambda: sid not in node.app.sio.session_ids(), "the session closed")


async def test_refused_websocket_closes_once_its_refusal_is_read(server_factory,
                                                                 clients) -> None:
    server = server_factory(cleanup=CleanupSettings(engineio_ping_timeout_s=1,
                                                    shutdown_grace_s=1))
    node = server.nodes[0]
    ip = new_ip()
    for namespace in (ROOM, "/"):
        assert await (await clients(node.url, namespace, ip).connect()).admission() is None
    raw = await StalledReader(node.url, ip).open()
    try:
        sid = json.loads(raw.texts[0][1:])["sid"]
        await raw.send_text(f"40{ROOM},")
        await asyncio.sleep(SLOW_LINK_S)  # the slow link, not a wait for anything
        with contextlib.suppress(AssertionError):  # the server closes after
            await raw.read_until(lambda: "1" in raw.texts, "CLOSE")
        assert any(t.startswith(f'42{ROOM},["connection-rejected",{{"code":'
                                f'"TOO_MANY_CONNECTIONS"') for t in raw.texts), raw.texts
        await wait_for(lambda: sid not in node.app.sio.session_ids(), "the session closed")
    finally:
        raw.close()


async def test_reconnect_backoff_grows(server_factory, clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock, limits=LimitSettings(reconnect_free_attempts=2,
                                                              violations_before_block=100))
    ip = new_ip()

    async def attempt() -> dict | None:
        client = await clients(server.url, ROOM, ip).connect(expect_refusal=True)
        try:
            return await client.admission()
        finally:
            await client.close()

    assert await attempt() is None
    assert await attempt() is None
    assert await attempt() is None          # third within the window: allowed, next waits 1 s
    waits = []
    for _ in range(3):
        refused = await attempt()
        assert refused["code"] == "RECONNECTION_THROTTLED"
        waits.append(refused["retryAfter"])
        await advance(server, clock, refused["retryAfter"])
        assert await attempt() is None      # after waiting, allowed (and the next wait doubles)
    assert waits == [1, 2, 4]


async def test_repeated_violations_block_the_ip_everywhere(server_factory, http,
                                                           clients) -> None:
    clock = FakeClock()
    server = server_factory(clock=clock, limits=LimitSettings(
        rest_per_minute=1, violations_before_block=3, ip_block_s=120))
    ip = new_ip()
    client = http(server.url, ip)
    statuses = [(await client.get("/api/public/rooms")).status_code for _ in range(4)]
    assert statuses == [200, 429, 429, 429]
    blocked = await client.get("/api/public/rooms/deep-focus")
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "IP_BLOCKED"
    socket = await clients(server.url, ROOM, ip).connect(expect_refusal=True)
    rejected = await wait_for(lambda: socket.events["connection-rejected"], "socket refused")
    assert rejected[0]["code"] == "IP_BLOCKED"
    await server.acall(server.app.flush_events)
    events = await server.acall(lambda: server.app.ctx.sql.suspicious_events(
        ip_key=server.app.ctx.keyer.key(ip)))
    kinds = [kind for _, kind, _, _ in events]
    assert kinds.count("rest-limit") == 3 and "ip-blocked" in kinds
    assert all(ip not in detail for _, _, detail, _ in events)
    # Operators list them from the command line.
    from typer.testing import CliRunner

    from publicrooms.cli import cli

    env = {"PUBLICROOMS_DATABASE_URL": server.settings.database_url or ""}
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "suspicious", "--data-dir", str(server.settings.data_dir)], env=env)
    assert result.exit_code == 0, result.output
    assert "ip-blocked" in result.output and "rest-limit" in result.output
    assert ip not in result.output
    await advance(server, clock, 121)
    assert (await client.get("/api/public/rooms/deep-focus")).status_code == 200
