"""Places in line per client address: one address holds only a few waiting visits at once.

Without this, one person (or a script) at one address could take visit token after visit token and
fill a line with made-up customers. Each join takes a place for its visit in a set per address,
kept where the line's own state is (process memory, or Redis for several processes). The check and
the taking are one atomic step (no `await` between them in memory, one Lua script in Redis), so a
burst of joins from one address cannot all pass the check before any of them is counted.

A place is given back when the customer leaves the line, for whatever reason: an agent accepted
the call (served), the customer left, their grace period ran out (abandoned). A customer put back
in line by the service itself (a transfer, a failed connection, a lost agent) is not counted again:
that was not their doing and must never be refused. A place whose giving back was lost (a process
crashed in between) frees itself after `PLACE_LEASE_SECONDS`, far longer than anyone waits.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis

from vbranch_queue.errors import RoutingError
from vbranch_queue.redis_link import RedisLink

log = logging.getLogger(__name__)

#: How long a place lasts if nothing gives it back: only a crash leaves one behind.
PLACE_LEASE_SECONDS = 6 * 3600


class TooManyOpenVisits(RoutingError):
    code = "too_many_open_visits"


def address_key(address: str) -> str:
    """Whose places a visit counts against: the IPv4 address, or the /64 of an IPv6 one (one
    home or phone gets a whole /64, so counting single IPv6 addresses would count nothing).
    An IPv4 peer seen through an IPv6 socket (::ffff:a.b.c.d) counts as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"  # no address known: they share one key
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _refusal(limit: int) -> TooManyOpenVisits:
    return TooManyOpenVisits(f"{limit} visits from your address are already waiting in line")


class LinePlaces(Protocol):
    async def reserve(self, address: str, visit_id: str, now: float) -> bool:
        """Take a place in line for the visit, counted against `address`. True if the place is
        new, False if the visit held one already. Raises TooManyOpenVisits when the address
        already holds its limit of places."""

    async def release(self, visit_id: str) -> None:
        """Give the visit's place back (nothing happens if it held none)."""


class MemoryLinePlaces:
    """One process: the check and the count happen in one turn of the event loop."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        #: Address key → the visits holding a place → when their place lapses.
        self._places: dict[str, dict[str, float]] = {}
        self._address_of: dict[str, str] = {}

    async def reserve(self, address: str, visit_id: str, now: float) -> bool:
        places = self._places.get(address, {})
        for visit, until in list(places.items()):
            if until <= now:
                del places[visit]
                self._address_of.pop(visit, None)
        new = visit_id not in places
        if new and self.limit is not None and len(places) >= self.limit:
            raise _refusal(self.limit)
        places[visit_id] = now + PLACE_LEASE_SECONDS
        self._places[address] = places
        self._address_of[visit_id] = address
        return new

    async def release(self, visit_id: str) -> None:
        address = self._address_of.pop(visit_id, None)
        places = self._places.get(address or "")
        if places is not None:
            places.pop(visit_id, None)
            if not places:
                del self._places[address or ""]

    async def held(self, address: str) -> int:
        return len(self._places.get(address, ()))


# KEYS[1]: the address's places (sorted set: visit → when the place lapses); KEYS[2]: the visit's
# own record of where its place is. ARGV: visit, now, lapses at, limit (0: none), lease seconds.
# Returns 1 (a new place), 0 (the visit held one already), -1 (refused: the address is full).
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local new = 1
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  new = 0
elseif tonumber(ARGV[4]) > 0 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], KEYS[1], 'EX', ARGV[5])
return new
"""

# KEYS[1]: the visit's record of where its place is. The address's set is named by that record,
# so it cannot be declared in KEYS (fine on one Redis; vbranch does not run on Redis Cluster).
_RELEASE = """
local places = redis.call('GET', KEYS[1])
if not places then return 0 end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', places, ARGV[1])
"""


class RedisLinePlaces:
    """Several processes: the places live in Redis, each decision is one Lua script."""

    def __init__(self, redis: Redis | RedisLink, prefix: str, limit: int | None) -> None:
        self.redis, self.prefix, self.limit = redis, prefix, limit
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _places_key(self, address: str) -> str:
        return f"{self.prefix}line-places:{address}"

    def _place_of_key(self, visit_id: str) -> str:
        return f"{self.prefix}line-place-of:{visit_id}"

    async def reserve(self, address: str, visit_id: str, now: float) -> bool:
        answer: Any = await self._reserve(
            keys=[self._places_key(address), self._place_of_key(visit_id)],
            args=[visit_id, now, now + PLACE_LEASE_SECONDS, self.limit or 0, PLACE_LEASE_SECONDS],
        )
        if int(answer) < 0:
            raise _refusal(self.limit or 0)
        return int(answer) == 1

    async def release(self, visit_id: str) -> None:
        await self._release(keys=[self._place_of_key(visit_id)], args=[visit_id])

    async def held(self, address: str) -> int:
        return int(await self.redis.execute_command("ZCARD", self._places_key(address)))


@asynccontextmanager
async def place_in_line(
    places: LinePlaces, address: str | None, visit_id: str, now: float
) -> AsyncIterator[None]:
    """Holds a place for the visit while the body puts it in line; if the body fails, a place
    taken here is given back (one the visit held before stays: it is still in line).
    `address` None: a token from before tokens carried it, not counted."""
    new = address is not None and await places.reserve(address, visit_id, now)
    try:
        yield
    except BaseException:
        if new:
            await give_back(places, visit_id)
        raise


async def give_back(places: LinePlaces, visit_id: str) -> None:
    """The customer left the line: free their place. A failure is logged, never undoes what the
    customer did; the place lapses by itself later."""
    try:
        await places.release(visit_id)
    except Exception:
        log.exception("the place in line of visit %s could not be given back", visit_id)
