"""Hostile input on the real-time transport: every case answered (an error or a close), the
server unharmed, nothing delivered that should not be."""

from __future__ import annotations

from tests.support.clients import SocketClient, wait_for

ROOM = "/public-room/deep-focus"


async def join(clients, server, name: str) -> tuple[SocketClient, str]:  # noqa: ANN001
    client = await clients(server.url, ROOM).connect()
    ack = await client.call("join-room", {"userName": name})
    assert ack.get("success") is True, ack
    return client, ack["self"]["userId"]


async def test_chat_naming_another_user_is_refused(server, clients) -> None:
    owner, owner_id = await join(clients, server, "Owner")
    thief, thief_id = await join(clients, server, "Thief")
    ack = await thief.call("send-message", {"content": "I am Owner", "userId": owner_id})
    assert ack["error"]["code"] == "INVALID_USER", ack
    # The sender's own id (as the original clients send it) is fine; it is the barrier too:
    # the refused message would have reached Owner before this one.
    ack = await thief.call("send-message", {"content": "hello", "userId": thief_id})
    assert ack["success"], ack
    got = await wait_for(lambda: owner.events["new-message"], "the accepted message")
    assert [m["message"]["content"] for m in got] == ["hello"]
    assert got[0]["message"]["senderId"] == thief_id
