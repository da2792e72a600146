"""Rate limits counted before the work they limit: a reservation, refused or granted in one step.

A handler asks `attempt = await limiter.reserve({kind: value, ...})` before it does the work. The
check and the count are one atomic step (in this process: synchronous, no `await` between them;
in Redis: one Lua script), so a burst of simultaneous requests cannot all pass a check made
before any of them is counted. A refused attempt is not counted and carries `retry_after`. A
granted one is counted at once under every key; where only failures count (logins, ticket
look-ups) the handler calls `attempt.release()` when the work succeeds; where every attempt counts
(requests left, visits started) it leaves the reservation in place.

Each kind of key has a `Rule`: a hard limit (`most` attempts in `window` seconds, then refused
until the oldest ages out), or with `backoff` growing delays instead of a refusal.

Staff logins (`LOGIN_RULES`) are keyed so that a stranger cannot lock the real user out:
- per username and address: 5 failures in 5 minutes refuse that address for that username until
  the oldest failure is 5 minutes old;
- per username alone: the first 10 failures in 15 minutes (from anywhere) cost nothing; after
  them each attempt must wait after the latest one 1 s, then 2 s, 4 s, ... doubling with each
  failure, never more than 60 s. Never a lock: the right password from another address passes
  after at most 60 s. (An attacker with many addresses can keep the account at one attempt a
  minute for as long as it keeps trying; one address can spend only its 5.)
- per address: 30 failures in 5 minutes, whichever usernames (unknown ones included), refuse
  that address for every username until the oldest ages out.
A successful login releases its own attempt and forgets that username's failures from that address.

`Limiter` counts in this process until `share` gives it Redis; then every process counts in the
same place, scored by Redis's own clock (TIME), each key expiring by itself.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from redis.asyncio import Redis

#: Reservations between two sweeps of keys whose attempts have all aged out.
SWEEP_EVERY = 1024


@dataclass(frozen=True)
class Rule:
    """At most `most` attempts counted in `window` seconds. With `backoff`, attempts past `most`
    are not refused but spaced: each waits after the latest `backoff` seconds, doubled for every
    attempt beyond `most`, at most `max_delay`."""

    most: int
    window: float
    backoff: float = 0.0
    max_delay: float = 0.0


#: Staff logins: see the module docstring.
LOGIN_RULES = {
    "pair": Rule(most=5, window=300),
    "username": Rule(most=10, window=900, backoff=1, max_delay=60),
    "address": Rule(most=30, window=300),
}


def wait_before(rule: Rule, times: list[float], now: float) -> float:
    """Seconds before one more attempt is allowed (<= 0: now), given the counted attempts'
    times in the window, oldest first. The Lua script below makes the same decision."""
    n = len(times)
    if n < rule.most:
        return 0.0
    # The count falls under `most` when the (n - most + 1)th oldest ages out.
    wait = times[n - rule.most] + rule.window - now
    if rule.backoff > 0:
        # The exponent is bounded: the cap is reached long before, and floats overflow.
        delay = min(rule.backoff * 2.0 ** min(n - rule.most, 64), rule.max_delay)
        wait = min(wait, times[-1] + delay - now)
    return wait


@dataclass
class LocalCounts:
    """In this process: every decision is synchronous, so no other request runs in between."""

    _keys: dict[str, tuple[float, deque[tuple[float, str]]]] = field(default_factory=dict)
    _reserved: int = 0

    def _recent(self, key: str, window: float, now: float) -> deque[tuple[float, str]]:
        # Never adds a key: refused attempts under ever new names must not grow the table.
        _, entries = self._keys.get(key, (window, deque()))
        while entries and entries[0][0] <= now - window:
            entries.popleft()
        return entries

    def reserve(self, keys: Mapping[str, Rule], member: str, now: float) -> float:
        """Count `member` under every key and return 0, or count nothing and return the wait."""
        wait = 0.0
        for key, rule in keys.items():
            times = [at for at, _ in self._recent(key, rule.window, now)]
            wait = max(wait, wait_before(rule, times, now))
        if wait > 0:
            return wait
        for key, rule in keys.items():
            self._keys.setdefault(key, (rule.window, deque()))[1].append((now, member))
        self._reserved += 1
        if self._reserved % SWEEP_EVERY == 0:
            self._sweep(now)
        return 0.0

    def release(self, keys: Iterable[str], member: str, clear: Iterable[str] = ()) -> None:
        for key in keys:
            if key in self._keys:
                entries = self._keys[key][1]
                for entry in [e for e in entries if e[1] == member]:
                    entries.remove(entry)
        for key in clear:
            self._keys.pop(key, None)

    def _sweep(self, now: float) -> None:
        # A key is otherwise trimmed only when asked about again: one per client address ever
        # seen (every customer starting a visit) would pile up for the life of the process.
        self._keys = {
            key: (window, entries)
            for key, (window, entries) in self._keys.items()
            if entries and entries[-1][0] > now - window
        }

    def __len__(self) -> int:
        """Keys held (clients or names with recent attempts, or some not yet swept)."""
        return len(self._keys)


_RESERVE = """
-- Reserve one attempt under every key, or under none.
-- KEYS: one sorted set per key, a member per counted attempt scored by the time Redis itself
--   reads (TIME), so processes whose clocks differ still agree.
-- ARGV: the attempt's member, then for each key its rule: most, window, backoff, max_delay.
-- Returns the seconds to wait ("0": counted under every key, each expiring after its window).
-- The same decision as `wait_before`.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local member = ARGV[1]
local wait = 0
for i, key in ipairs(KEYS) do
  local most, window = tonumber(ARGV[i * 4 - 2]), tonumber(ARGV[i * 4 - 1])
  local backoff, max_delay = tonumber(ARGV[i * 4]), tonumber(ARGV[i * 4 + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= most then
    local aging = redis.call('ZRANGE', key, n - most, n - most, 'WITHSCORES')
    local w = tonumber(aging[2]) + window - now
    if backoff > 0 then
      local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      w = math.min(w, tonumber(latest[2]) + math.min(backoff * 2 ^ math.min(n - most, 64), max_delay) - now)
    end
    wait = math.max(wait, w)
  end
end
if wait > 0 then
  return tostring(wait)
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[i * 4 - 1]) * 1000))
end
return '0'
"""


@dataclass
class Attempt:
    """A reservation: refused (`retry_after` > 0, nothing counted) or counted until released."""

    retry_after: float
    _limiter: Limiter
    _keys: dict[str, str]
    _member: str

    @property
    def refused(self) -> bool:
        return self.retry_after > 0

    async def release(self, *, clear: Iterable[str] = ()) -> None:
        """The work succeeded: this attempt no longer counts. `clear` names kinds of key whose
        earlier attempts are forgotten too (a successful login clears its username-and-address)."""
        if not self.refused:
            await self._limiter._release(self._keys, self._member, [self._keys[k] for k in clear])


class Limiter:
    """A limit for the handlers: in this process, or shared by all through Redis."""

    def __init__(
        self,
        name: str,
        rules: Mapping[str, Rule],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.rules = dict(rules)
        #: Read by the in-process counts only (Redis reads its own); tests move it forward.
        self.clock = clock
        self.local = LocalCounts()
        self._redis: Redis | None = None
        self._prefix = ""

    def share(self, redis: Redis, prefix: str) -> None:
        """From now on count in Redis, under `prefix` + the limit's name."""
        self._redis, self._prefix = redis, f"{prefix}{self.name}:"
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, parts: Mapping[str, str]) -> Attempt:
        """Count one attempt under each `{kind: value}` (every kind has a rule), or refuse it."""
        keys = {kind: f"{self._prefix}{kind}:{value}" for kind, value in parts.items()}
        member = secrets.token_hex(8)
        by_key = {keys[kind]: self.rules[kind] for kind in keys}
        if self._redis is None:
            wait = self.local.reserve(by_key, member, self.clock())
        else:
            args: list[str | float] = [member]
            for rule in by_key.values():
                args += [rule.most, rule.window, rule.backoff, rule.max_delay]
            wait = float(await self._reserve(keys=list(by_key), args=args))
        return Attempt(max(wait, 0.0), self, keys, member)

    async def _release(self, keys: dict[str, str], member: str, clear: list[str]) -> None:
        if self._redis is None:
            self.local.release(keys.values(), member, clear)
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys.values():
                pipe.zrem(key, member)
            if clear:
                pipe.delete(*clear)
            await pipe.execute()
