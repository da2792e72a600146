"""Real WebRTC through the server: two aiortc peers speaking only the documented protocol.

The agent side is the impolite peer and makes the first offer; the customer later adds a screen
share (a second video track) and renegotiates, and the agent receives it.
"""

from __future__ import annotations

import asyncio

import pytest

from .aiortc_peer import PatternTrack, ProtocolPeer, eventually

JOIN = {"category": "pensions", "language": "en", "sign_language": False}

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_video_audio_data_and_a_screen_share_flow_both_ways(  # type: ignore[no-untyped-def]
    connect_agent, connect_customer
) -> None:
    agent_socket = await connect_agent("agent.ar")
    await agent_socket.call("set_availability", {"state": "available"})
    customer_socket = await connect_customer("en")
    await customer_socket.call("join", JOIN)
    offer = await agent_socket.next("offer")
    answer = await agent_socket.call("accept", {"offer_id": offer["offer_id"]})
    connected = await customer_socket.next("connected")
    assert (answer["polite"], connected["polite"]) == (False, True)

    agent = ProtocolPeer(agent_socket, answer["call_id"], answer["ice_servers"])
    customer = ProtocolPeer(customer_socket, connected["call_id"], connected["ice_servers"])
    try:
        agent.send_media(video_level=200)
        customer.send_media(video_level=60)
        chat = agent.pc.createDataChannel("chat")
        await agent.send_offer()
        assert await customer.handle_next_signal() == "offer"
        assert await agent.handle_next_signal() == "answer"
        await agent.wait_connected()
        await customer.wait_connected()

        for side in (agent, customer):
            await side.wait_frames("video", 10)
            await side.wait_frames("audio", 10)

        @chat.on("open")
        def _opened() -> None:
            chat.send("hello from the agent")

        if chat.readyState == "open":
            chat.send("hello from the agent")
        assert await asyncio.wait_for(customer.messages.get(), 20) == "hello from the agent"

        # Screen share: the customer adds a second video track and renegotiates (as the offerer).
        agent.new_track.clear()
        customer.pc.addTrack(PatternTrack(level=240))
        await customer.send_offer()
        assert await agent.handle_next_signal() == "offer"
        assert await customer.handle_next_signal() == "answer"
        await eventually(lambda: len([t for t in agent.tracks if t.kind == "video"]) == 2)
        video_tracks = [t for t in agent.tracks if t.kind == "video"]
        screen_key = f"video{agent.tracks.index(video_tracks[1]) + 1}"
        await agent.wait_frames(screen_key, 5)
    finally:
        await agent.close()
        await customer.close()
