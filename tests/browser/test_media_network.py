"""Media through networks that block UDP: ICE over TCP to the worker's port, and a TURN relay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright

from tests.browser.people import CHROMIUM, CHROMIUM_ARGS, Person, assert_clean
from tests.support.turn import TurnServer

pytestmark = pytest.mark.browser

# Keeps every RTCPeerConnection the page makes, to read its selected candidate pair; with
# `window.__relayOnly` set first, forces the relay-only policy a locked-down network implies.
RECORD_CONNECTIONS = """
window.__pcs = [];
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(config, ...rest) {
    super(window.__relayOnly ? { ...config, iceTransportPolicy: "relay" } : config, ...rest);
    window.__pcs.push(this);
  }
};
"""

# The selected pair of every connected peer connection, as (local, remote) candidate summaries.
SELECTED_PAIRS = """
async () => {
  const pairs = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== "connected") continue;
    const stats = [...(await pc.getStats()).values()];
    const byId = new Map(stats.map((s) => [s.id, s]));
    for (const transport of stats.filter((s) => s.type === "transport" && s.selectedCandidatePairId)) {
      const pair = byId.get(transport.selectedCandidatePairId);
      const local = byId.get(pair.localCandidateId), remote = byId.get(pair.remoteCandidateId);
      pairs.push({
        local: { type: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol || null },
        remote: { type: remote.candidateType, protocol: remote.protocol, tcpType: remote.tcpType || null,
                  port: remote.port },
        bytesReceived: pair.bytesReceived,
      });
    }
  }
  return pairs;
}
"""

LOCAL_CANDIDATE_PROTOCOLS = """
async () => {
  const protocols = new Set();
  for (const pc of window.__pcs) {
    for (const s of (await pc.getStats()).values()) if (s.type === "local-candidate") protocols.add(s.protocol);
  }
  return [...protocols].sort();
}
"""


@pytest.fixture(scope="module")
def udp_blocked_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium whose WebRTC may not send UDP at all (the policy of networks that block it)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--force-webrtc-ip-handling-policy", "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    ])
    yield browser
    browser.close()


def recording(person: Person, relay_only: bool = False) -> Person:
    if relay_only:
        person.context.add_init_script("window.__relayOnly = true;")
    person.context.add_init_script(RECORD_CONNECTIONS)
    return person


def both_connected(person: Person) -> list[dict]:
    """The selected pairs once the publish and the subscribe connection are both up."""
    person.page.wait_for_function(
        "() => window.__pcs.filter((pc) => pc.connectionState === 'connected').length >= 2", timeout=30000)
    return person.page.evaluate(SELECTED_PAIRS)


def see_and_hear_each_other(ada: Person, grace: Person) -> None:
    for person in (ada, grace):
        person.toggle("video")
        person.toggle("audio")
    ada_id, grace_id = ada.user_id(), grace.user_id()
    ada.wait_video(grace_id)
    grace.wait_video(ada_id)
    ada.wait_audio(grace_id)
    grace.wait_audio(ada_id)


def test_media_flows_over_tcp_when_the_browser_cannot_send_udp(site_factory, udp_blocked_browser) -> None:  # noqa: ANN001
    site = site_factory()
    room = "quiet-library"
    ada = recording(site.person("Ada", browser=udp_blocked_browser))
    grace = recording(site.person("Grace"))  # an ordinary browser beside her, on UDP
    ada.join(room)
    grace.join(room)
    see_and_hear_each_other(ada, grace)

    assert ada.page.evaluate(LOCAL_CANDIDATE_PROTOCOLS) == ["tcp"]  # the block is real: no UDP candidate
    stats = site.server.call(site.server.app.media.stats)
    (tcp_port,) = stats["workers"][0]["tcpPorts"]
    assert stats["workers"][0]["udpPorts"] == [tcp_port]  # the same port number for both
    for pair in both_connected(ada):
        assert pair["local"]["protocol"] == "tcp" and pair["remote"] == {
            "type": "host", "protocol": "tcp", "tcpType": "passive", "port": tcp_port}, pair
        assert pair["bytesReceived"] > 0
    for pair in both_connected(grace):
        assert pair["local"]["protocol"] == "udp" and pair["remote"]["protocol"] == "udp", pair
    assert_clean(ada, grace)


def test_no_tcp_candidate_when_ice_tcp_is_off(site_factory, udp_blocked_browser) -> None:  # noqa: ANN001
    site = site_factory(media={"loopback_only": True, "workers": 1, "ice_tcp": False})
    ada = recording(site.person("Ada", browser=udp_blocked_browser))
    ada.join("deep-focus")
    ada.toggle("video")
    # the server's offer for the subscribe connection names only its UDP candidate
    ada.page.wait_for_function("() => window.__pcs.some((pc) => pc.remoteDescription)", timeout=30000)
    sdps = ada.page.evaluate("() => window.__pcs.filter((pc) => pc.remoteDescription).map((pc) => pc.remoteDescription.sdp)")
    candidates = [line for sdp in sdps for line in sdp.splitlines() if line.startswith("a=candidate:")]
    assert candidates and all(" udp " in line.lower() for line in candidates), candidates
    assert site.server.call(site.server.app.media.stats)["workers"][0]["tcpPorts"] == []


def test_media_flows_through_a_turn_relay(site_factory, browser, tmp_path) -> None:  # noqa: ANN001
    with TurnServer(tmp_path) as turn:
        site = site_factory(media={"loopback_only": True, "workers": 1, "ice_servers": [turn.ice_server()]})
        ada = recording(site.person("Ada"), relay_only=True)
        grace = recording(site.person("Grace"), relay_only=True)
        ada.join("writing-desk")
        grace.join("writing-desk")
        config = ada.page.evaluate("() => window.__pcs.map((pc) => pc.getConfiguration())")
        assert config and all(c["iceServers"][0]["urls"] == turn.ice_server()["urls"] for c in config), config
        see_and_hear_each_other(ada, grace)
        (udp_port,) = site.server.call(site.server.app.media.stats)["workers"][0]["udpPorts"]
        for person in (ada, grace):
            pairs = both_connected(person)
            assert len(pairs) >= 2
            for pair in pairs:
                assert pair["local"]["type"] == "relay" and pair["local"]["relayProtocol"] == "udp", pair
                assert pair["remote"]["type"] == "host" and pair["remote"]["port"] == udp_port, pair
                assert pair["bytesReceived"] > 0, pair
        assert turn.allocations_seen() >= 4  # each person's publish and subscribe connection
        assert_clean(ada, grace)
