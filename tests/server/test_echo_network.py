"""The connection check's address policy and ICE servers, as pure decisions."""

from __future__ import annotations

import pytest

from vbranch_server.realtime.echo_network import echo_configuration, filter_offer, reachable_peer
from vbranch_signaling.ice import turn_credentials


@pytest.mark.parametrize(
    ("host", "by_default", "when_allowed"),
    [
        ("198.51.100.7", False, True),  # documentation range: not global
        ("8.8.8.8", True, True),
        ("2a00:1450:4001::1", True, True),
        ("127.0.0.1", False, True),
        ("127.8.9.10", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.9", False, True),
        ("192.168.1.20", False, True),
        ("100.64.3.4", False, True),  # carrier-grade NAT
        ("169.254.169.254", False, True),  # link-local: cloud metadata services live here
        ("fe80::1", False, True),
        ("fd00::2", False, True),  # unique local (fc00::/7)
        ("::ffff:10.0.0.1", False, True),  # IPv4-mapped: reaches 10.0.0.1
        ("::ffff:8.8.8.8", True, True),
        ("0123abcd-5678.local", False, True),  # mDNS: resolved on the server's own network
        ("host.example.com", False, False),  # a DNS name: nothing resolves it
        ("0.0.0.0", False, False),
        ("::", False, False),
        ("224.0.0.1", False, False),
        ("ff02::1", False, False),
        ("255.255.255.255", False, False),
    ],
)
def test_which_addresses_an_offer_may_make_the_server_reach(
    host: str, by_default: bool, when_allowed: bool
) -> None:
    assert reachable_peer(host, allow_private=False) is by_default
    assert reachable_peer(host, allow_private=True) is when_allowed


OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "c=IN IP4 10.0.0.5",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 8.8.4.4",
        "a=rtcp:50000 IN IP4 10.0.0.5",
        "a=rtcp:50009 IN IP6 2a00:1450:4001::1",
        "a=ice-ufrag:abcd",
        "a=candidate:1 1 udp 2122260223 10.0.0.5 50000 typ host",
        "a=candidate:2 1 udp 1686052607 8.8.4.4 50001 typ srflx raddr 10.0.0.5 rport 50000",
        "a=candidate:3 1 udp 2122262783 fd00::5 50002 typ host",
        "a=candidate:4 1 udp 2122260223 1f2e3d4c-aaaa.local 50003 typ host",
        "a=candidate:5 1 udp 2122260223 169.254.169.254 80",
        "a=remote-candidates:1 10.0.0.5 50000",
        "a=end-of-candidates",
        "",
    ]
)


def test_the_offer_keeps_only_reachable_candidates() -> None:
    sdp, dropped = filter_offer(OFFER, allow_private=False)
    lines = sdp.splitlines()
    assert [line for line in lines if line.startswith("a=candidate")] == [
        "a=candidate:2 1 udp 1686052607 8.8.4.4 50001 typ srflx raddr 10.0.0.5 rport 50000"
    ]
    assert dropped == 5  # 3 refused, 1 malformed (no type), a=remote-candidates
    assert [line for line in lines if line.startswith(("c=", "a=rtcp:"))] == [
        "c=IN IP4 0.0.0.0",
        "c=IN IP4 8.8.4.4",
        "a=rtcp:50000 IN IP4 0.0.0.0",
        "a=rtcp:50009 IN IP6 2a00:1450:4001::1",
    ]
    assert "a=end-of-candidates" in lines  # a candidate is left: the list is still complete
    assert sdp.endswith("\r\n") and "\n" not in sdp.replace("\r\n", "")


def test_with_no_candidate_left_the_check_list_stays_open() -> None:
    """aioice drops a component that has no candidate and no more to come; the browser's own
    checks (peer-reflexive) must still be able to reach the echo."""
    only_private = "\r\n".join(
        line for line in OFFER.split("\r\n") if "8.8.4.4" not in line or line.startswith("c=")
    )
    sdp, _ = filter_offer(only_private, allow_private=False)
    assert "a=candidate" not in sdp and "a=end-of-candidates" not in sdp


def test_private_peers_allowed_keeps_every_well_formed_candidate() -> None:
    sdp, dropped = filter_offer(OFFER, allow_private=True)
    assert dropped == 2  # the malformed candidate and a=remote-candidates only
    assert "c=IN IP4 10.0.0.5" in sdp and "1f2e3d4c-aaaa.local" in sdp


def test_no_configured_server_means_an_empty_list_not_aiortcs_default() -> None:
    # aiortc replaces iceServers=None (its default) with stun:stun.l.google.com:19302.
    assert echo_configuration((), (), None, "echo-v", 1000.0, 90).iceServers == []


def test_the_echo_uses_the_operators_servers_with_browser_style_turn_credentials() -> None:
    configuration = echo_configuration(
        ("stun:stun.example.org",), ("turn:turn.example.org:3478",), "s3cret", "echo-v", 1000.0, 90
    )
    stun, turn = configuration.iceServers or []
    assert (stun.urls, stun.username, stun.credential) == (["stun:stun.example.org"], None, None)
    assert turn.urls == ["turn:turn.example.org:3478"]
    assert (turn.username, turn.credential) == turn_credentials("s3cret", "echo-v", 1000.0, 90)
    assert turn.username == "1090:echo-v"
