"""Gather the echo peer's local candidates on the operator's addresses only.

aioice binds a socket on every interface address of the machine (`aioice.ice.get_host_addresses`)
and announces each one, so an answer would list the server's private and public addresses to any
anonymous visitor. aioice has no option to choose them: the only knob is that function, global to
the process. So the echo gathers for itself, before aiortc would, through the one aioice method
that takes the addresses (`Connection.get_component_candidates`); aiortc's own gathering then
finds the work done and adds nothing. The sockets of other addresses are never even opened.

This leans on aioice internals (`_components`, `_local_candidates*`; read in aioice 0.13):
tests/server/test_echo.py checks the answer's candidates on the installed aioice and fails loudly
when they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiortc import RTCPeerConnection


def _ice_connections(pc: RTCPeerConnection) -> list[Any]:
    """The aioice connections behind the peer's transports (one with BUNDLE, else one each)."""
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    seen: dict[int, Any] = {}
    for dtls in transports:
        connection = dtls.transport.iceGatherer._connection
        seen.setdefault(id(connection), connection)
    return list(seen.values())


def _hide_related_address(candidate: Any, addresses: Sequence[str]) -> None:
    """A relay candidate's related address is this server as the TURN server saw it: often a
    private address (coturn beside the app on one network). Announce the RFC 8839 placeholder
    instead, as aioice itself does under the relay-only policy; aioice never uses it to connect."""
    if candidate.related_address is not None and candidate.related_address not in addresses:
        candidate.related_address = "::" if ":" in candidate.host else "0.0.0.0"
        candidate.related_port = 9


async def gather_on(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Gather host candidates on `addresses` only (plus the STUN and TURN candidates they and the
    configured TURN server give). Call after setRemoteDescription, before setLocalDescription."""
    for connection in _ice_connections(pc):
        if connection._local_candidates_start:
            continue
        connection._local_candidates_start = True
        for component in connection._components:
            candidates = await connection.get_component_candidates(
                component=component, addresses=list(addresses)
            )
            for candidate in candidates:
                _hide_related_address(candidate, addresses)
            connection._local_candidates += candidates
        connection._local_candidates_end = True
