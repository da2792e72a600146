"""A Python WebRTC peer (aiortc) that speaks only the documented signaling protocol.

Used by the tests as a customer or an agent. aiortc gathers every ICE candidate before
`setLocalDescription` returns, so descriptions carry their candidates and no trickle is needed.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame


async def eventually(condition: Callable[[], bool], within: float = 20) -> None:
    """Wait for state that aiortc (or the server) changes without an event to await."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (no event exists for these conditions)
            await asyncio.sleep(0.05)


def _candidate(data: dict[str, Any]) -> RTCIceCandidate:
    candidate = candidate_from_sdp(data["candidate"].split(":", 1)[1])
    candidate.sdpMid, candidate.sdpMLineIndex = data.get("sdpMid"), data.get("sdpMLineIndex")
    return candidate


class PatternTrack(VideoStreamTrack):
    """Video frames of one flat colour, so each side can tell which track it is receiving."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([self.level]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base or fractions.Fraction(1, 90000)
        return frame


class ProtocolPeer:
    """One side of a call over a connected `Peer` (the Socket.IO client from conftest)."""

    def __init__(self, socket: Any, call_id: str, ice_servers: list[dict[str, Any]]) -> None:
        self.socket, self.call_id = socket, call_id
        servers = [RTCIceServer(**server) for server in ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.frames: dict[str, int] = defaultdict(int)
        self.tracks: list[MediaStreamTrack] = []
        self.messages: asyncio.Queue[str] = asyncio.Queue()
        self.new_track = asyncio.Event()
        self.descriptions: asyncio.Queue[str] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks.append(track)
            self.new_track.set()
            self._readers.append(asyncio.create_task(self._read(track, len(self.tracks))))

        @self.pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            channel.on("message", self.messages.put_nowait)

    async def _read(self, track: MediaStreamTrack, number: int) -> None:
        key = f"{track.kind}{number}"
        while True:
            try:
                await track.recv()
            except Exception:
                return
            self.frames[key] += 1
            self.frames[track.kind] += 1

    def send_media(self, video_level: int) -> None:
        self.pc.addTrack(AudioStreamTrack())
        self.pc.addTrack(PatternTrack(video_level))

    async def send_offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_description()

    async def _send_description(self) -> None:
        description = self.pc.localDescription
        ack = await self.socket.call(
            "signal",
            {
                "call_id": self.call_id,
                "description": {"type": description.type, "sdp": description.sdp},
            },
        )
        assert ack["ok"], ack

    async def handle_next_signal(self) -> str:
        """Apply the next relayed description; answer it if it is an offer. Returns its type."""
        message = await self.socket.next("signal", within=20)
        assert message["call_id"] == self.call_id
        description = message["description"]
        await self.pc.setRemoteDescription(
            RTCSessionDescription(description["sdp"], description["type"])
        )
        if description["type"] == "offer":
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self._send_description()
        return description["type"]

    def serve_signals(self) -> asyncio.Task[None]:
        """Answer every relayed offer and add trickled ICE candidates (a browser trickles them)."""

        async def serve() -> None:
            while True:
                message = await self.socket.next("signal", within=3600)
                if message.get("description"):
                    description = message["description"]
                    await self.pc.setRemoteDescription(
                        RTCSessionDescription(description["sdp"], description["type"])
                    )
                    if description["type"] == "offer":
                        await self.pc.setLocalDescription(await self.pc.createAnswer())
                        await self._send_description()
                    self.descriptions.put_nowait(description["type"])
                elif message.get("candidate") and message["candidate"].get("candidate"):
                    await self.pc.addIceCandidate(_candidate(message["candidate"]))

        task = asyncio.create_task(serve())
        self._readers.append(task)
        return task

    async def wait_connected(self, within: float = 20) -> None:
        await eventually(lambda: self.pc.connectionState == "connected", within)
        ack = await self.socket.call("media_connected", {"call_id": self.call_id})
        assert ack["ok"], ack

    async def wait_frames(self, key: str, count: int, within: float = 20) -> None:
        await eventually(lambda: self.frames[key] >= count, within)

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await self.pc.close()
