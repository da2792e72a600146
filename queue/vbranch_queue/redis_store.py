"""The Redis routing store: one queue shared by several processes and machines.

It answers exactly like MemoryRoutingStore (the contract tests run the same scenarios on both, and
test_redis_matches_memory compares them step by step), with one deliberate exception: with the
least-busy agent choice, an agent who becomes available is ranked by today's calls, as
core.priority.idle_score intends, where the memory store still counts the calls of the day of
their last call.

Each decision is one Lua script in lua/, so it is atomic across processes, and touches the keys
of a handful of buckets, never a whole line or every agent. The scripts find their keys from the
prefix (which buckets an event touches is only known inside), so they need one Redis server, not
a cluster. Under the prefix:

- ``buckets``, ``agents``: SETs of known bucket names and agent ids;
- ``line:<bucket>``, ``arrivals:<bucket>``, ``idle:<bucket>``: ZSETs of waiting customers by queue
  score and by join time, and of available qualified agents by idle score; ``staffed:<bucket>``;
- ``customer:<id>``, ``agent:<id>``: HASHes; ``offers`` (a HASH of JSON records), ``deadlines``
  and ``wrap_ups`` (ZSETs), ``offer_seq``; ``day:<day>:<bucket>``: HASHes of core.stats.COUNTERS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from functools import cache
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from vbranch_queue.core.model import (
    SETTABLE_STATES,
    AgentChoice,
    AgentState,
    Answered,
    Needs,
    Offer,
    Position,
    RoutingConfig,
    Skills,
)
from vbranch_queue.core.priority import FRONT_OF_LINE_SECONDS, queue_score
from vbranch_queue.core.stats import day_number, estimated_wait, queue_stats
from vbranch_queue.errors import ERRORS_BY_CODE
from vbranch_queue.redis_link import RedisLink, Script
from vbranch_queue.store import AgentView, Left, Snapshot, WaitingView

_SCRIPTS = (
    "upsert_agent",
    "set_agent_state",
    "join",
    "leave",
    "accept",
    "reject",
    "end_call",
    "finish_wrap_up",
    "expire",
    "position",
    "snapshot",
    "waiting",
    "set_priority",
    "move",
    "offer_to",
)


@cache
def _lua(name: str) -> str:
    folder = files("vbranch_queue") / "lua"
    return (folder / "common.lua").read_text("utf-8") + (folder / f"{name}.lua").read_text("utf-8")


def _num(value: float) -> str:
    # repr() is the shortest text that reads back as the same double, in Python and in Lua.
    return repr(float(value))


def _text(value: Any) -> Any:
    """Replies as str, whether or not the client decodes them."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value


def _offers(rows: list[list[str]]) -> list[Offer]:
    return [
        Offer(
            offer_id=offer_id,
            customer_id=customer_id,
            agent_id=agent_id,
            needs=Needs.from_bucket(bucket),
            expires_at=float(expires_at),
            enqueued_at=float(enqueued_at),
        )
        for offer_id, customer_id, agent_id, bucket, expires_at, enqueued_at in rows
    ]


def _skill_names(names: frozenset[str]) -> str:
    return json.dumps(sorted(names), ensure_ascii=False)


class RedisRoutingStore:
    def __init__(
        self,
        redis: Redis | RedisLink,
        config: RoutingConfig | None = None,
        *,
        prefix: str = "vb:q:",
        utc_offset_seconds: float = 0,
        zone: tzinfo | None = None,
    ) -> None:
        self.config = config = config or RoutingConfig()
        self._prefix = prefix
        #: Where the day's counters restart: the contact center's time zone, else a UTC offset.
        self._day_starts: float | tzinfo = zone if zone is not None else utc_offset_seconds
        self._scripts: dict[str, AsyncScript | Script] = {
            name: redis.register_script(_lua(name)) for name in _SCRIPTS
        }
        # The header every script reads after the prefix, the clock and the day (see common.lua).
        self._config_args = [
            _num(config.offer_timeout),
            _num(config.wrap_up_seconds),
            str(config.max_missed_offers),
            _num(config.priority_step_seconds),
            "1" if config.agent_choice is AgentChoice.LEAST_BUSY else "0",
            _num(config.service_level_seconds),
            _num(config.sign_language_service_level_seconds),
            _num(FRONT_OF_LINE_SECONDS),
        ]

    async def _run(self, name: str, now: float, *args: str) -> Any:
        day = str(day_number(now, self._day_starts))
        header = [self._prefix, _num(now), day, *self._config_args]
        try:
            reply = await self._scripts[name](args=[*header, *args])
        except ResponseError as exc:
            code, _, message = str(exc).partition(" ")
            error = ERRORS_BY_CODE.get(code)
            if error is None:
                raise
            raise error(message) from None
        return _text(reply)

    # --- the contract ---------------------------------------------------------------------

    async def upsert_agent(self, agent_id: str, skills: Skills, now: float) -> list[Offer]:
        reply = await self._run(
            "upsert_agent",
            now,
            agent_id,
            _skill_names(skills.categories),
            _skill_names(skills.languages),
            "1" if skills.sign_language else "0",
        )
        return _offers(reply)

    async def set_agent_state(self, agent_id: str, state: AgentState, now: float) -> list[Offer]:
        if state not in SETTABLE_STATES:
            raise ValueError(f"{state} cannot be set directly")
        return _offers(await self._run("set_agent_state", now, agent_id, state.value))

    async def join(
        self,
        customer_id: str,
        needs: Needs,
        base_priority: int,
        now: float,
        *,
        enqueued_at: float | None = None,
        front: bool = False,
    ) -> Offer | None:
        since = now if enqueued_at is None else enqueued_at
        score = queue_score(since, base_priority, self.config.priority_step_seconds, front)
        offers = _offers(
            await self._run(
                "join",
                now,
                customer_id,
                needs.bucket,
                str(base_priority),
                _num(since),
                _num(score),
                "1" if front else "0",
            )
        )
        return offers[0] if offers else None

    async def leave(self, customer_id: str, now: float) -> Left:
        abandoned, offers = await self._run("leave", now, customer_id)
        return Left(abandoned=bool(abandoned), offers=_offers(offers))

    async def accept(self, offer_id: str, agent_id: str, now: float) -> Answered:
        customer_id, agent_id, bucket, waited = await self._run("accept", now, offer_id, agent_id)
        return Answered(customer_id, agent_id, Needs.from_bucket(bucket), float(waited))

    async def reject(self, offer_id: str, agent_id: str, now: float) -> list[Offer]:
        return _offers(await self._run("reject", now, offer_id, agent_id))

    async def end_call(self, agent_id: str, now: float) -> list[Offer]:
        return _offers(await self._run("end_call", now, agent_id))

    async def finish_wrap_up(self, agent_id: str, now: float) -> list[Offer]:
        return _offers(await self._run("finish_wrap_up", now, agent_id))

    async def expire(self, now: float) -> list[Offer]:
        return _offers(await self._run("expire", now))

    async def position(self, customer_id: str, now: float) -> Position | None:
        reply = await self._run("position", now, customer_id)
        if reply is None:
            return None
        if reply[0]:
            return Position(customer_id, 0, 0.0, offered=True)
        _, ahead, staffed, handled, handle_seconds = reply
        handle = (
            float(handle_seconds) / float(handled)
            if float(handled)
            else self.config.default_handle_seconds
        )
        place = int(ahead) + 1
        return Position(customer_id, place, estimated_wait(place, int(staffed), handle), False)

    async def snapshot(self, now: float) -> Snapshot:
        today = day_number(now, self._day_starts)
        # An empty Lua table comes back as {} rather than [], hence the `or []`.
        found = json.loads(await self._run("snapshot", now))
        queues = [
            queue_stats(
                Needs.from_bucket(q["bucket"]),
                q["waiting"],
                float(q["oldest"]) if q["oldest"] else None,
                {name: float(value) for name, value in q["counters"].items()},
                now,
            )
            for q in sorted(found["queues"] or [], key=lambda q: q["bucket"])
        ]
        agents = [
            AgentView(
                a["id"],
                AgentState(a["state"]),
                float(a["since"]),
                Skills.of(
                    json.loads(a["categories"]), json.loads(a["languages"]), a["sign"] == "1"
                ),
                a.get("customer"),
                int(a["calls_today"]) if int(a["calls_day"]) == today else 0,
                int(a["missed"]),
            )
            for a in sorted(found["agents"] or [], key=lambda a: a["id"])
        ]
        return Snapshot(queues, agents)

    async def waiting(self, needs: Needs, limit: int = 50) -> Sequence[WaitingView]:
        if limit == 0:
            return []
        # limit - 1 is ZRANGE's inclusive end, and a negative limit slices like line[:limit].
        rows = json.loads(await self._run("waiting", 0, needs.bucket, str(limit - 1))) or []
        return [
            WaitingView(customer_id, needs, int(base_priority), float(enqueued_at), None)
            for customer_id, base_priority, enqueued_at in rows
        ]

    # Supervisor actions.
    async def set_priority(self, customer_id: str, base_priority: int, now: float) -> None:
        await self._run("set_priority", now, customer_id, str(base_priority))

    async def move(self, customer_id: str, needs: Needs, now: float) -> Offer | None:
        offers = _offers(await self._run("move", now, customer_id, needs.bucket))
        return offers[0] if offers else None

    async def offer_to(self, customer_id: str, agent_id: str, now: float) -> Offer:
        return _offers([await self._run("offer_to", now, customer_id, agent_id)])[0]
