"""Through a live server's socket: people's words are stored and broadcast as typed; markup
that could run script is refused saying why; names keep their meaningful joiners."""

from __future__ import annotations

from tests.support.clients import wait_for

ROOM = "/public-room/deep-focus"

AS_TYPED = [
    "Going to sleep now, good night everyone",
    "She said 'no'; then we moved on",
    "why does SELECT * FROM users WHERE id = 1 return nothing?",
    "if x<y and y>z then x<z",
    "Wrap it in a <div> and use <code> tags",
    "I <3 this room 👩\u200d💻",
    "من می\u200cخواهم کمی استراحت کنم",
]


async def test_messages_are_stored_and_broadcast_as_typed(server, clients) -> None:  # noqa: ANN001
    ana = await clients(server.url, ROOM).connect()
    joined = await ana.call("join-room", {"userName": "Mehr\u200cnāz"})
    assert joined["success"] is True and joined["self"]["displayName"] == "Mehr\u200cnāz"
    for text in AS_TYPED:
        ack = await ana.call("send-message", {"content": text})
        assert ack.get("success") is True, (text, ack)
        assert ack["message"]["content"] == text
        await wait_for(lambda t=text: any(e["message"]["content"] == t
                                          for e in ana.events["new-message"]), f"broadcast {text!r}")

    bo = await clients(server.url, ROOM).connect()
    bo_ack = await bo.call("join-room", {"userName": "👩\u200d💻"})
    assert bo_ack["self"]["displayName"] == "👩\u200d💻"
    assert [m["content"] for m in bo_ack["recentMessages"]] == AS_TYPED
    assert [p["displayName"] for p in bo_ack["participants"]] == ["Mehr\u200cnāz", "👩\u200d💻"]


async def test_script_capable_markup_and_sql_payloads_are_refused(server, clients) -> None:  # noqa: ANN001
    ana = await clients(server.url, ROOM).connect()
    assert (await ana.call("join-room", {"userName": "Sleepy Sam"}))["success"] is True
    for payload, reason in [("<img src=x onerror=alert(1)>", "event-handler"),
                            ("<script>alert(1)</script>", "element:script"),
                            ("' OR '1'='1", "sql-injection")]:
        ack = await ana.call("send-message", {"content": payload})
        assert ack["error"]["code"] == "MALICIOUS_INPUT", ack
        assert ack["error"]["details"]["reason"] == reason
        assert "refused" in ack["error"]["message"]
    ok = await ana.call("send-message", {"content": "My benchmark results are in"})
    assert ok["message"]["content"] == "My benchmark results are in"
    assert [e["message"]["content"] for e in ana.events["new-message"]] == [
        "My benchmark results are in"]
