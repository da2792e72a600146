"""The registry in Redis, so that several server processes share visits, calls and grace periods.

Records are JSON in hashes under a prefix; `replace_call` is a compare-and-set in one Lua script.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import fields
from typing import Any

from redis.asyncio import Redis

from vbranch_queue.core.model import Needs
from vbranch_queue.redis_link import RedisLink
from vbranch_signaling.calls import CallEnd, CallSession, CallState
from vbranch_signaling.registry import Visit

# Stores a call and its indexes in one step. With an expected state (ARGV[2] not empty) it is a
# compare-and-set: nothing changes unless the stored call is still in that state. A call that
# stops relaying (it was connecting or in progress) is announced on ARGV[7], in the same step, so
# every process drops it from its relay cache.
_STORE_CALL = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local was = current and cjson.decode(current)['state'] or ''
if ARGV[2] ~= '' and was ~= ARGV[2] then return 0 end
local function relaying(state) return state == 'connecting' or state == 'in_call' end
if relaying(was) and not relaying(ARGV[4]) then redis.call('PUBLISH', ARGV[7], ARGV[1]) end
if ARGV[4] == 'done' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[5])
  if redis.call('HGET', KEYS[3], ARGV[6]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[6]) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[6], ARGV[1])
end
return 1
"""

# A call found through one of its indexes (offer id → call, agent → call) in one round trip.
_INDEXED_CALL = """
local call_id = redis.call('HGET', KEYS[1], ARGV[1])
if not call_id then return false end
return redis.call('HGET', KEYS[2], call_id)
"""

# Files one more socket of a member (and under the process holding it), unless the member has
# ARGV[4] open already (0: no limit): the check and the count in one step, on every process.
# The process is known (and alive for now) from its first socket, before its first heartbeat.
_OPEN_SOCKET = """
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0
    and redis.call('SCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], '1', 'EX', ARGV[5], 'NX')
return 1
"""

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    """Whether or not the client decodes responses, work with text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(record: Visit | CallSession) -> dict[str, Any]:
    # Not `asdict`, which deep-copies every value: this runs several times per call.
    return {field.name: getattr(record, field.name) for field in fields(record)}


def _visit_json(visit: Visit) -> str:
    data = _fields(visit)
    data["needs"] = visit.needs.bucket if visit.needs else None
    return json.dumps(data)


def _visit(raw: Any) -> Visit:
    data = json.loads(_text(raw))
    data["needs"] = Needs.from_bucket(data["needs"]) if data["needs"] else None
    return Visit(**data)


def _call_json(call: CallSession) -> str:
    data = _fields(call)
    if data["offer_expires_at"] == float("inf"):
        data["offer_expires_at"] = None
    return json.dumps(data)


def _call(raw: Any) -> CallSession:
    data = json.loads(_text(raw))
    data["state"] = CallState(data["state"])
    data["end"] = CallEnd(data["end"]) if data["end"] else None
    if data["offer_expires_at"] is None:
        data["offer_expires_at"] = float("inf")
    return CallSession(**data)


#: A process that has not said it is alive for this long has crashed (it says so every few seconds).
PROCESS_ALIVE_SECONDS = 20
#: Calls in these states carry `signal` and `chat` between their members.
RELAYING = frozenset({CallState.CONNECTING, CallState.IN_CALL})
#: A call in these states has stopped relaying for good. An offered call has not started yet:
#: marking it stopped would keep it out of the cache for its whole life.
PAST_RELAYING = frozenset({CallState.WRAP_UP, CallState.DONE})
#: A cached relaying call is read again after this long even if no process said it moved, so a
#: missed pub/sub message cannot keep a stale call relaying for longer.
RELAY_CACHE_SECONDS = 5.0
#: Past this many cached calls, the expired ones are swept out.
RELAY_CACHE_LIMIT = 10_000


class RedisRegistry:
    """Shared by every server process. Each socket is also filed under the process holding it, so
    the sockets of a process that crashed can be forgotten (and their grace periods started)."""

    def __init__(
        self, redis: Redis | RedisLink, prefix: str = "vb:s:", process: str | None = None
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.process = process or secrets.token_hex(8)
        self._store = redis.register_script(_STORE_CALL)
        self._indexed_call = redis.register_script(_INDEXED_CALL)
        self._open_socket = redis.register_script(_OPEN_SOCKET)
        #: Relaying calls this process has read or written: call id → (read again after, call).
        #: Used only while `listen_for_moves` runs, which drops a call as soon as any process
        #: moves it out of relaying.
        self._relaying: dict[str, tuple[float, CallSession]] = {}
        #: Calls heard to have stopped relaying (for as long as a cache entry lives): a read
        #: that began before the move and ends after it must not cache the call again. A call
        #: never relays again once it stopped (a requeued customer gets a new call).
        self._stopped: dict[str, float] = {}
        self._listening = False

    def _key(self, name: str) -> str:
        return self.prefix + name

    async def get_visit(self, visit_id: str) -> Visit | None:
        raw = await self.redis.hget(self._key("visits"), visit_id)
        return _visit(raw) if raw else None

    async def put_visit(self, visit: Visit) -> None:
        await self.redis.hset(self._key("visits"), visit.visit_id, _visit_json(visit))

    async def drop_visit(self, visit_id: str) -> None:
        await self.redis.hdel(self._key("visits"), visit_id)

    async def get_call(self, call_id: str) -> CallSession | None:
        raw = await self.redis.hget(self._key("calls"), call_id)
        return _call(raw) if raw else None

    async def _call_by(self, index: str, key: str) -> CallSession | None:
        raw = await self._indexed_call(keys=[self._key(index), self._key("calls")], args=[key])
        return _call(raw) if raw else None

    async def call_for_offer(self, offer_id: str) -> CallSession | None:
        return await self._call_by("offer_call", offer_id)

    async def call_of_agent(self, agent_id: str) -> CallSession | None:
        return await self._call_by("agent_call", agent_id)

    async def _store_call(self, call: CallSession, expected: CallState | None) -> bool:
        stored = await self._store(
            keys=[self._key("calls"), self._key("offer_call"), self._key("agent_call")],
            args=[
                call.call_id,
                expected.value if expected else "",
                _call_json(call),
                call.state.value,
                call.offer_id,
                call.agent_id,
                self._key("calls-moved"),
            ],
        )
        if stored and call.state in RELAYING:
            self._remember_relaying(call)
        elif stored and call.state in PAST_RELAYING:
            self._stopped_relaying(call.call_id)
        elif not stored:  # someone else moved it first: read it again next time
            self._relaying.pop(call.call_id, None)
        return bool(stored)

    # --- the relay cache ------------------------------------------------------------------------
    # A `signal` or `chat` is relayed only within a connecting or running call. Reading the call
    # from Redis for each (a call negotiates with dozens) put a round trip, and the event loop's
    # turns around it, into every relay; the cache serves them from memory instead.

    async def relaying_call(self, call_id: str) -> CallSession | None:
        """The call, to relay between its members: from the cache while this process listens
        for moved calls, else from Redis."""
        if self._listening:
            cached = self._relaying.get(call_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        call = await self.get_call(call_id)
        if call is not None and call.state in RELAYING:
            self._remember_relaying(call)
        return call

    def _remember_relaying(self, call: CallSession) -> None:
        if not self._listening or call.call_id in self._stopped:
            return
        now = time.monotonic()
        if len(self._relaying) >= RELAY_CACHE_LIMIT:
            self._relaying = {k: v for k, v in self._relaying.items() if v[0] > now}
        self._relaying[call.call_id] = (now + RELAY_CACHE_SECONDS, call)

    def _stopped_relaying(self, call_id: str) -> None:
        self._relaying.pop(call_id, None)
        if not self._listening:
            return
        now = time.monotonic()
        if len(self._stopped) >= RELAY_CACHE_LIMIT:
            self._stopped = {k: v for k, v in self._stopped.items() if v > now}
        self._stopped[call_id] = now + RELAY_CACHE_SECONDS

    async def listen_for_moves(self, subscriber: Redis) -> None:
        """Runs until cancelled: drops each call another process (or this one) moved out of
        relaying. The cache is used only while subscribed; a lost subscription empties it."""
        while True:
            pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._key("calls-moved"))
                self._listening = True
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._stopped_relaying(_text(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the calls-moved subscription; relays read Redis meanwhile")
            finally:
                self._listening = False
                self._relaying.clear()
                self._stopped.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(1.0)

    async def put_call(self, call: CallSession) -> None:
        await self._store_call(call, None)

    async def replace_call(self, old: CallSession, new: CallSession) -> bool:
        return await self._store_call(new, old.state)

    async def open_calls(self) -> list[CallSession]:
        return [_call(raw) for raw in (await self.redis.hgetall(self._key("calls"))).values()]

    async def start_grace(self, member: str, until: float) -> None:
        await self.redis.zadd(self._key("grace"), {member: until})

    async def socket_opened(self, member: str, sid: str, limit: int | None = None) -> bool:
        # A socket of a process that died stays counted until `forget_dead_processes` (within
        # PROCESS_ALIVE_SECONDS and a tick): so no expiry per socket, which a live one would
        # have to keep renewing.
        opened = await self._open_socket(
            keys=[
                self._key(f"sockets:{member}"),
                self._key(f"process-sockets:{self.process}"),
                self._key("processes"),
                self._key(f"process:{self.process}"),
            ],
            args=[sid, f"{member} {sid}", self.process, limit or 0, PROCESS_ALIVE_SECONDS],
        )
        return bool(opened)

    async def socket_closed(self, member: str, sid: str) -> int:
        key = self._key(f"sockets:{member}")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(key, sid)
            pipe.srem(self._key(f"process-sockets:{self.process}"), f"{member} {sid}")
            pipe.scard(key)
            _, _, remaining = await pipe.execute()
        return int(remaining)

    async def process_alive(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key(f"process:{self.process}"), "1", ex=PROCESS_ALIVE_SECONDS)
            pipe.sadd(self._key("processes"), self.process)
            await pipe.execute()

    async def forget_dead_processes(self) -> list[str]:
        """Forget the sockets of processes that stopped saying they are alive; returns the members
        left with no socket at all (their grace period starts, as for any dropped connection)."""
        orphaned: list[str] = []
        for process in sorted(map(_text, await self.redis.smembers(self._key("processes")))):
            if await self.redis.exists(self._key(f"process:{process}")):
                continue
            filed = self._key(f"process-sockets:{process}")
            for entry in sorted(map(_text, await self.redis.smembers(filed))):
                member, _, sid = entry.rpartition(" ")
                key = self._key(f"sockets:{member}")
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.srem(key, sid)
                    pipe.scard(key)
                    _, remaining = await pipe.execute()
                if int(remaining) == 0:
                    orphaned.append(member)
            await self.redis.delete(filed)
            await self.redis.srem(self._key("processes"), process)
        return orphaned

    async def open_sockets(self, member: str) -> int:
        return int(await self.redis.scard(self._key(f"sockets:{member}")))

    async def sockets_of(self, member: str) -> set[str]:
        return {_text(sid) for sid in await self.redis.smembers(self._key(f"sockets:{member}"))}

    async def end_grace(self, member: str) -> bool:
        return bool(await self.redis.zrem(self._key("grace"), member))

    async def expired_graces(self, now: float) -> list[str]:
        # Claim each expired member with ZREM: only the process that removes it acts on it.
        members = await self.redis.zrangebyscore(self._key("grace"), "-inf", now)
        claimed = []
        for member in map(_text, members):
            if await self.redis.zrem(self._key("grace"), member):
                claimed.append(member)
        return claimed

    async def waiting_visits(self) -> list[Visit]:
        return [v for v in await self.all_visits() if v.needs is not None and v.call_id is None]

    async def all_visits(self) -> list[Visit]:
        return [_visit(raw) for raw in (await self.redis.hgetall(self._key("visits"))).values()]
