"""A sliding-window limit on failed attempts (logins, ticket look-ups) per client and per name.

`FailureLimiter` counts in this process. `Limiter` is what the handlers use: it counts in this
process until `share` gives it Redis, then every process counts in the same place, so several
processes behind a balancer do not each allow the whole limit.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from redis.asyncio import Redis

#: Records between two sweeps of keys whose failures have all aged out.
SWEEP_EVERY = 1024


@dataclass
class FailureLimiter:
    """In-process: what one process has counted."""

    max_failures: int = 5
    window_seconds: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _recorded: int = 0

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return deque()
        return times

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window_seconds - now)
        return wait

    def record_failure(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)
        self._recorded += 1
        if self._recorded % SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        # A key is otherwise dropped only when asked about again: one per client address ever
        # seen (every customer starting a visit) would pile up for the life of the process.
        cutoff = now - self.window_seconds
        self._failures = {key: times for key, times in self._failures.items() if times[-1] > cutoff}

    def __len__(self) -> int:
        """Keys held (clients or names with recent failures, or some not yet swept)."""
        return len(self._failures)

    def reset(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


# One sorted set per key: a member per failure, scored by the time Redis itself reads (TIME), so
# processes whose clocks differ still agree. Returns the seconds to wait ("0" when allowed).
_SHARED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window, most, record = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == 'record'
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if record then
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
  elseif redis.call('ZCARD', key) >= most then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
return tostring(wait)
"""


class Limiter:
    """A failure limit for the handlers: in this process, or shared by all through Redis."""

    def __init__(self, name: str, max_failures: int, window_seconds: float) -> None:
        self.name = name
        self.local = FailureLimiter(max_failures=max_failures, window_seconds=window_seconds)
        self._redis: Redis | None = None
        self._prefix = ""

    def share(self, redis: Redis, prefix: str) -> None:
        """From now on count in Redis, under `prefix` + the limit's name."""
        self._redis, self._prefix = redis, f"{prefix}{self.name}:"
        self._script = redis.register_script(_SHARED)

    async def _shared(self, keys: list[str], mode: str) -> float:
        assert self._redis is not None
        args = [self.local.window_seconds, self.local.max_failures, mode, secrets.token_hex(8)]
        return float(await self._script(keys=[self._prefix + k for k in keys], args=args))

    async def retry_after(self, keys: list[str]) -> float:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        if self._redis is None:
            return self.local.retry_after(keys, time.monotonic())
        return await self._shared(keys, "check")

    async def record_failure(self, keys: list[str]) -> None:
        if self._redis is None:
            self.local.record_failure(keys, time.monotonic())
        else:
            await self._shared(keys, "record")

    async def reset(self, keys: list[str]) -> None:
        if self._redis is None:
            self.local.reset(keys)
        else:
            await self._redis.delete(*(self._prefix + k for k in keys))
