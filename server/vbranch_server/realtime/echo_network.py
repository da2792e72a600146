"""Where the connection check's server peer may send packets, and which ICE servers it uses.

The offer comes from an anonymous browser, so every address it names is untrusted: a server that
sends STUN to whatever an offer lists can be pointed at its own loopback, its private network or a
cloud metadata address. Only public unicast addresses are kept unless the operator allows private
ones. Pure functions: no I/O, tested directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiortc import RTCConfiguration, RTCIceServer

from vbranch_signaling.ice import ice_servers

#: Not one host, whatever the setting: nothing is ever sent there.
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def reachable_peer(host: str, *, allow_private: bool) -> bool:
    """May the echo peer send to this address, named as a candidate in a customer's offer?"""
    if host.lower().rstrip(".").endswith(".local"):
        # An mDNS name is resolved by multicast on the *server's* network (aioice does so), so it
        # can only name a neighbour there: a private peer by definition.
        return allow_private
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # another host name: aioice cannot use it, and nothing resolves it for us
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    if address.is_unspecified or address.is_multicast or address == _BROADCAST:
        return False
    # `is_global` is false for loopback, RFC 1918, 100.64.0.0/10 (carrier NAT), link-local,
    # fc00::/7 and the documentation ranges.
    return allow_private or address.is_global


def _without_refused_address(line: str, allow_private: bool) -> str:
    """`c=IN IP4 <address>` or `a=rtcp:<port> IN IP4 <address>` with a refused address replaced
    by the "no address" placeholder (aiortc does not connect to these, but they are not ours to
    keep)."""
    head, _, rest = line.partition("=")
    fields = rest.split()
    if len(fields) < 3 or fields[-2] not in {"IP4", "IP6"}:
        return line
    address = fields[-1].split("/")[0]
    if reachable_peer(address, allow_private=allow_private):
        return line
    fields[-1] = "::" if fields[-2] == "IP6" else "0.0.0.0"
    return f"{head}={' '.join(fields)}"


def filter_offer(sdp: str, *, allow_private: bool) -> tuple[str, int]:
    """The offer without the candidates the echo peer may not reach, and how many were dropped.

    `a=candidate` lines naming a refused address go; a refused `c=` or `a=rtcp` address becomes
    the "no address" placeholder; `a=remote-candidates` (renegotiation only) goes whole. When no candidate is left, so does
    `a=end-of-candidates`: aioice would otherwise drop the component at once, while the browser
    can still reach us and be answered where its own checks come from (peer-reflexive: an
    address that sent us a check signed with this session's ICE password, not one it names).
    """
    kept: list[str] = []
    dropped = survived = 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line[len("a=candidate:") :].split()
            if len(fields) < 8 or not reachable_peer(fields[4], allow_private=allow_private):
                dropped += 1
                continue
            survived += 1
        elif line.startswith("a=remote-candidates"):
            dropped += 1
            continue
        elif line.startswith(("c=", "a=rtcp:")):
            line = _without_refused_address(line, allow_private)
        kept.append(line)
    if dropped and not survived:
        kept = [line for line in kept if not line.startswith("a=end-of-candidates")]
    return "\r\n".join(kept) + "\r\n", dropped


def echo_configuration(
    stun_urls: Sequence[str],
    turn_urls: Sequence[str],
    turn_secret: str | None,
    user: str,
    now: float,
    ttl_seconds: int,
) -> RTCConfiguration:
    """The operator's STUN and TURN servers, with TURN credentials made as for browsers.

    Always a list, possibly empty: aiortc replaces a *missing* list (None) with Google's public
    STUN server (`RTCIceGatherer.getDefaultIceServers`), an empty one it keeps empty.
    """
    servers = ice_servers(stun_urls, turn_urls, turn_secret, user, now, ttl_seconds)
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in servers
        ]
    )
