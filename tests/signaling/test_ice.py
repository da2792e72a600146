"""ICE servers reach both browsers with TURN credentials of their own, in coturn's scheme."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest

from vbranch_server.app import create_app

from .conftest import ROUTING, Peer, staff_cookie, visit_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_each_side_gets_its_own_short_lived_turn_credentials(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data
) -> None:
    turn = dataclasses.replace(
        settings,
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478?transport=udp",),
        turn_secret="coturn-shared-secret",
        turn_ttl_seconds=600,
    )
    server = await aiohttp_server(create_app(turn, clock=clock, routing=ROUTING))
    url = str(server.make_url("/"))
    agent = Peer("/agent")
    await agent.connect(
        url, headers={"Cookie": f"vb_session={await staff_cookie(server, 'agent.ar')}"}
    )
    customer = Peer("/customer")
    await customer.connect(url, auth={"token": (await visit_token(server))["token"]})
    try:
        await agent.call("set_availability", {"state": "available"})
        await customer.call("join", {"category": "pensions", "language": "ar"})
        offer = await agent.next("offer")
        answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
        connected = await customer.next("connected")
        expiry = int(clock().timestamp()) + 600
        for servers, user in (
            (answer["ice_servers"], "agent-"),
            (connected["ice_servers"], "customer-"),
        ):
            stun, relay = servers
            assert stun == {"urls": ["stun:stun.example.org:3478"]}
            assert relay["urls"] == ["turn:turn.example.org:3478?transport=udp"]
            expires, _, who = relay["username"].partition(":")
            assert int(expires) == expiry and who.startswith(user)
            digest = hmac.new(
                b"coturn-shared-secret", relay["username"].encode(), hashlib.sha1
            ).digest()
            assert relay["credential"] == base64.b64encode(digest).decode()
        assert answer["ice_servers"][1]["username"] != connected["ice_servers"][1]["username"]
    finally:
        await agent.close()
        await customer.close()
