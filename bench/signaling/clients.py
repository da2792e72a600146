"""Socket.IO clients running the documented call lifecycle (docs/protocol.md).

Agents react to offers; each offer becomes its own task (an agent can be offered the next call
before the acknowledgement of its `finish_wrap_up` is back). Customers loop: join → connected →
answer the agent's SDP offer → media connected → hang up → call ended, again and again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar, Literal, TypeVar

import socketio

from bench.signaling.stats import Recorder
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.crm.demo import DEMO_CATEGORIES

T = TypeVar("T")

#: Longest wait for any one acknowledgement or event. The server withdraws an unanswered offer
#: after 20 s, so a healthy call never needs this long; reaching it is an error worth counting.
STEP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 20.0
#: Customers start their first call within this many seconds, so the run does not open with every
#: customer joining in the same millisecond.
START_SPREAD_SECONDS = 1.0
CONNECT_CONCURRENCY = 50
CLOSE_TIMEOUT = 10.0

#: Events that mean something went off the happy path; counted as errors, otherwise ignored.
ANOMALIES = frozenset({"requeued", "offer_withdrawn"})
SENT_MARK = "a=x-bench-sent:"
CATEGORIES = [category["code"] for category in DEMO_CATEGORIES]


# --- SDP carrying its own send time ---------------------------------------------------------------


def _sdp_body() -> str:
    """A session description the size of a real browser's (~2.5 KB): audio and video, several
    codecs. Relay cost grows with payload size, so a toy SDP would flatter the server."""
    media = [
        ("audio", [(111, "opus/48000/2"), (63, "red/48000/2"), (9, "G722/8000"), (0, "PCMU/8000")]),
        ("video", [(96, "VP8/90000"), (98, "VP9/90000"), (102, "H264/90000"), (45, "AV1/90000")]),
    ]
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    lines += ["a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS bench"]
    for mid, (kind, codecs) in enumerate(media):
        lines += [
            f"m={kind} 9 UDP/TLS/RTP/SAVPF {' '.join(str(pt) for pt, _ in codecs)}",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:bnch",
            "a=ice-pwd:" + "p" * 24,
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
            "a=setup:actpass",
            f"a=mid:{mid}",
            "a=sendrecv",
            "a=rtcp-mux",
            "a=rtcp-rsize",
        ]
        for pt, name in codecs:
            lines += [f"a=rtpmap:{pt} {name}", f"a=rtcp-fb:{pt} transport-cc"]
            lines += [f"a=rtcp-fb:{pt} nack", f"a=fmtp:{pt} minptime=10;useinbandfec=1"]
        lines += [f"a=ssrc:{1000 + mid} cname:bench{mid}", f"a=ssrc:{1000 + mid} msid:bench t{mid}"]
    return "\r\n".join(lines) + "\r\n"


SDP_BODY = _sdp_body()


def session_description(kind: Literal["offer", "answer"]) -> dict[str, str]:
    # The send time travels inside the SDP: sender and receiver share this process's clock.
    return {"type": kind, "sdp": f"{SDP_BODY}{SENT_MARK}{time.perf_counter_ns()}\r\n"}


def sent_at(signal: dict[str, Any]) -> float:
    sdp = signal["description"]["sdp"]
    start = sdp.rindex(SENT_MARK) + len(SENT_MARK)
    return int(sdp[start : sdp.index("\r\n", start)]) / 1e9


# --- failures ---------------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, event: str, ack: Any) -> None:
        error = ack.get("error", {}) if isinstance(ack, dict) else {}
        super().__init__(f"{event} refused: {error.get('code', ack)}")
        self.code = str(error.get("code", "no_ack"))


class StepFailed(Exception):
    """One step of a call failed; `where` names it, so errors are counted per step and cause."""

    def __init__(self, where: str, cause: BaseException) -> None:
        super().__init__(f"{where}: {_cause(cause)}")


def _cause(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return exc.code
    if isinstance(exc, TimeoutError | socketio.exceptions.TimeoutError):
        return "timeout"
    return exc.__class__.__name__


async def step(where: str, work: Awaitable[T]) -> T:
    try:
        return await work
    except Exception as exc:
        raise StepFailed(where, exc) from exc


# --- clients ----------------------------------------------------------------------------------------


class Inbox:
    """Received events by (event, call id), each with the moment it arrived."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], asyncio.Queue[tuple[float, Any]]] = {}

    def _queue(self, event: str, key: str) -> asyncio.Queue[tuple[float, Any]]:
        return self._queues.setdefault((event, key), asyncio.Queue())

    def put(self, event: str, key: str, received_at: float, data: Any) -> None:
        self._queue(event, key).put_nowait((received_at, data))

    async def get(self, event: str, key: str) -> tuple[float, Any]:
        queue = self._queue(event, key)
        try:
            return await asyncio.wait_for(queue.get(), STEP_TIMEOUT)
        finally:
            if queue.empty():
                self._queues.pop((event, key), None)  # calls come and go: keep the dict small

    def clear(self) -> None:
        self._queues.clear()


class Client:
    namespace: ClassVar[str]
    #: Events some step waits for; anything else (queue positions, agent states) is dropped.
    kept: ClassVar[frozenset[str]]

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox = Inbox()
        self.sio.on("*", self._received, namespace=self.namespace)

    @property
    def role(self) -> str:
        return self.namespace.strip("/")

    async def _received(self, event: str, data: Any = None) -> None:
        received_at = time.perf_counter()
        if event in self.kept:
            self.inbox.put(event, self._key(event, data), received_at, data)
        elif event in ANOMALIES:
            self.recorder.error(f"{self.role} received {event}")

    def _key(self, event: str, data: Any) -> str:
        return str(data.get("call_id", "")) if isinstance(data, dict) else ""

    async def connect(self, base_url: str, **kwargs: Any) -> None:
        await self.sio.connect(
            base_url,
            namespaces=[self.namespace],
            transports=["websocket"],
            wait_timeout=CONNECT_TIMEOUT,
            **kwargs,
        )

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack = await self.sio.call(event, data, namespace=self.namespace, timeout=STEP_TIMEOUT)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise Refused(event, ack)
        return ack

    async def next(self, event: str, key: str = "") -> tuple[float, Any]:
        return await self.inbox.get(event, key)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


class Agent(Client):
    namespace = "/agent"
    kept = frozenset({"signal", "call_ended"})

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.calls: set[asyncio.Task[None]] = set()

    async def _received(self, event: str, data: Any = None) -> None:
        if event != "offer":
            await super()._received(event, data)
            return
        task = asyncio.create_task(serve_call(self, time.perf_counter(), data))
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def give_up(self, call_id: str) -> None:
        """Best effort after a failed step: end the call and the wrap-up so the agent works on."""
        for event in ("hang_up", "finish_wrap_up"):
            try:
                await self.call(event, {"call_id": call_id})
            except Exception:
                pass  # the call may already be over; the failure that led here is counted


class Customer(Client):
    namespace = "/customer"
    kept = frozenset({"connected", "signal", "call_ended"})

    def __init__(self, recorder: Recorder, number: int) -> None:
        super().__init__(recorder)
        self.number, self.rounds = number, 0

    def _key(self, event: str, data: Any) -> str:
        # A customer learns the call id from `connected` itself, so that one is waited for unkeyed.
        return "" if event == "connected" else super()._key(event, data)

    def join_payload(self) -> dict[str, Any]:
        # Unique per round: the agent's `offer` carries it back, which pairs offer with join.
        return {
            "category": CATEGORIES[self.number % len(CATEGORIES)],
            # Eight lines (four services × two languages), each served by every bench agent.
            "language": ("ar", "en")[self.number // len(CATEGORIES) % 2],
            "sign_language": False,
            "display_name": f"c{self.number}.{self.rounds}",
        }

    async def recover(self) -> None:
        """After a failed step: `leave` ends whatever is left (queue place, offer or call)."""
        try:
            await self.call("leave", {})
        except Exception:
            pass  # the failure that led here is already counted
        self.inbox.clear()  # a late event of the failed call must not be read by the next one


# --- the lifecycle -------------------------------------------------------------------------------------


async def serve_call(agent: Agent, received_at: float, offer: dict[str, Any]) -> None:
    recorder = agent.recorder
    name = (offer.get("customer") or {}).get("display_name")
    if name in recorder.join_sent:
        recorder.offered(name, received_at)
    else:
        # A re-offer (after a requeue or a withdrawn offer) was already paired with its join.
        recorder.error("agent offer not paired with a join")
    call_id: str | None = None
    try:
        accepted = await step("accept", agent.call("accept", {"offer_id": offer["offer_id"]}))
        call_id = str(accepted["call_id"])
        recorder.set_up()
        description = session_description("offer")
        await step("signal", agent.call("signal", {"call_id": call_id, "description": description}))
        received, answer = await step("wait signal", agent.next("signal", call_id))
        recorder.relayed(sent_at(answer), received)
        await step("media_connected", agent.call("media_connected", {"call_id": call_id}))
        recorder.agent_media(call_id).set()
        await step("wait call_ended", agent.next("call_ended", call_id))
        wrap_up = {"call_id": call_id, "outcome": "resolved_in_call", "next_state": "available"}
        await step("finish_wrap_up", agent.call("finish_wrap_up", wrap_up))
        recorder.completed()
    except Exception as exc:
        # A step that failed names itself; anything else (say, a malformed event) is counted too,
        # rather than silently ending this agent's call.
        recorder.error(f"agent {exc}" if isinstance(exc, StepFailed) else f"agent {exc!r}")
        if call_id is not None:
            await agent.give_up(call_id)


async def customer_call(customer: Customer) -> None:
    recorder = customer.recorder
    payload = customer.join_payload()
    recorder.joined(payload["display_name"])
    await step("join", customer.call("join", payload))
    _, connected = await step("wait connected", customer.next("connected"))
    call_id = str(connected["call_id"])
    try:
        received, offer = await step("wait signal", customer.next("signal", call_id))
        recorder.relayed(sent_at(offer), received)
        answer = {"call_id": call_id, "description": session_description("answer")}
        await step("signal", customer.call("signal", answer))
        await step("media_connected", customer.call("media_connected", {"call_id": call_id}))
        # Hang up only once the agent's side is connected too, or its media_connected would race
        # the hang-up; a real call lasts minutes, so this wait changes nothing the server does.
        media = recorder.agent_media(call_id).wait()
        await step("wait agent media", asyncio.wait_for(media, STEP_TIMEOUT))
        await step("hang_up", customer.call("hang_up", {"call_id": call_id}))
        await step("wait call_ended", customer.next("call_ended", call_id))
    finally:
        recorder.forget_call(call_id)


class Arrivals:
    """Calls offered at a steady rate (an open loop): one new call every 1/rate seconds, made by
    whichever customer is free. If none is, the call waits for one, as a caller would wait on
    the line, so a server that falls behind shows it in its figures instead of being spared."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._due: asyncio.Queue[None] = asyncio.Queue()

    async def run(self, deadline: float) -> None:
        start, count = time.perf_counter(), 0
        while time.perf_counter() < deadline:
            self._due.put_nowait(None)
            count += 1
            await asyncio.sleep(max(0.0, start + count / self.rate - time.perf_counter()))

    async def next_call(self, deadline: float) -> bool:
        """Waits for the next call to make; False once the deadline passed without one."""
        try:
            await asyncio.wait_for(self._due.get(), max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            return False
        return True


async def customer_loop(
    customer: Customer, deadline: float, pause: float, arrivals: Arrivals | None = None
) -> None:
    """Calls until the deadline; a call started before it is finished."""
    if arrivals is None:
        # With a pause, first calls spread over one pause too, so calls arrive at an even rate.
        await asyncio.sleep(random.uniform(0, max(START_SPREAD_SECONDS, pause)))
    while time.perf_counter() < deadline and customer.sio.connected:
        if arrivals is not None and not await arrivals.next_call(deadline):
            break
        try:
            await customer_call(customer)
        except Exception as exc:
            failure = str(exc) if isinstance(exc, StepFailed) else repr(exc)
            customer.recorder.error(f"customer {failure}")
            await customer.recover()
        customer.rounds += 1
        if pause:
            await asyncio.sleep(pause)


# --- connecting many clients ------------------------------------------------------------------------


async def _bounded(jobs: Iterable[Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(job) for job in jobs))


async def _agent_online(agent: Agent, base_url: str, cookie: str) -> None:
    await agent.connect(base_url, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    await agent.call("set_availability", {"state": "available"})


async def connect_agents(agents: list[Agent], base_url: str, cookies: list[str]) -> None:
    """Connected and available: agents set available once, before any customer joins."""
    await _bounded(
        _agent_online(agent, base_url, cookie)
        for agent, cookie in zip(agents, cookies, strict=True)
    )


async def connect_customers(customers: list[Customer], base_url: str, tokens: list[str]) -> None:
    await _bounded(
        customer.connect(base_url, auth={"token": token})
        for customer, token in zip(customers, tokens, strict=True)
    )


async def close_all(clients: list[Client]) -> None:
    async def close(client: Client) -> None:
        try:
            await asyncio.wait_for(client.close(), CLOSE_TIMEOUT)
        except Exception:
            pass  # the server is stopped right after; a socket that will not close does not matter

    await _bounded(close(client) for client in clients)
