"""Who is asking: the client's address, through the reverse proxies the settings trust.

Rate limits are kept per client address. Behind nginx every request comes from nginx, so without
this one person's failed logins would lock every member of staff out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

from vbranch_server.keys import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A server listening on [::] sees IPv4 peers as ::ffff:a.b.c.d: judge them as IPv4.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]
) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """The nearest address not in `trusted`, reading from the peer back along X-Forwarded-For.

    Each proxy appends the address it was reached from, so the entries on the right were written
    by our own proxies and the ones further left by whoever sent the request, who can write
    anything. So the walk stops at the first address no trusted proxy vouches for: that one
    reached a trusted proxy directly. An entry that is not an address ends the walk too, at the
    last address that was trusted to report it.
    """
    current = peer or "unknown"
    address = _address(current)
    if address is None or not _trusted(address, trusted):
        return current
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return current
        current = str(address)
        if not _trusted(address, trusted):
            return current
    return current


def client_ip(request: web.Request) -> str:
    """The request's client address, for rate limits (see `client_address`)."""
    return client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.app[SETTINGS].trusted_proxies,
    )
