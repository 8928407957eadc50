"""Any payload on any room event gets an answer (success or a known error); the server survives."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publicrooms.errors import ERROR_TYPES
from publicrooms.settings import LimitSettings
from tests.conftest import make_settings
from tests.support.clients import SocketClient, new_ip
from tests.support.live import LiveServer

ROOM = "/public-room/deep-focus"
CODES = {cls.code for cls in ERROR_TYPES}
EVENTS = ["join-room", "send-message", "toggle-video", "toggle-audio", "pong", "media-publish",
          "media-answer", "media-subscribe", "no-such-event"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"content": json_values}),
    st.fixed_dictionaries({"userId": json_values, "enabled": json_values}),
    st.fixed_dictionaries({"userId": json_values, "userName": json_values}),
    st.fixed_dictionaries({"sdp": json_values, "offerId": json_values}),
)


@pytest.fixture(scope="module")
def seated_client(tmp_path_factory) -> Iterator[tuple[LiveServer, asyncio.AbstractEventLoop,
                                                      SocketClient]]:
    unlimited = LimitSettings(rest_per_minute=10**6, chat_per_minute=10**6,
                              join_per_minute=10**6)
    server = LiveServer(make_settings(tmp_path_factory.mktemp("fuzz"), limits=unlimited)).start()
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(SocketClient(server.url, new_ip(), ROOM).connect())
    assert loop.run_until_complete(client.call("join-room", {"userName": "Fuzz"}))["success"]
    yield server, loop, client
    loop.run_until_complete(client.close())
    loop.close()
    server.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=st.sampled_from(EVENTS), data=payloads)
def test_every_payload_gets_a_clear_answer(seated_client, event, data) -> None:  # noqa: ANN001
    server, loop, client = seated_client
    ack = loop.run_until_complete(client.call(event, data))
    assert isinstance(ack, dict), ack
    if "error" in ack:
        assert ack["error"]["code"] in CODES | {"NOT_IN_ROOM", "MEDIA_UNAVAILABLE"}, ack
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    else:
        assert ack.get("success") is True or "sdp" in ack or "offer" in ack, ack
    assert client.connected
    assert httpx.get(server.url + "/health").status_code == 200
