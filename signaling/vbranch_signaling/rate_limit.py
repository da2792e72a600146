"""Token buckets per socket for the events a call relays (`chat`, `signal`).

Each socket may send a burst at once, then a steady rate: a bucket holds up to `burst` tokens,
refills `per_second` tokens a second, and each event takes one. An event finding the bucket empty
is refused (`rate_limited`) and not relayed, so one socket cannot flood the other side of its call.
The limits sit far above what people do: a call's start trickles dozens of ICE candidates within a
second, and a person types a chat message every few seconds.

Pure bookkeeping with the clock passed in. A socket lives on one process, so its buckets live in
that process's memory and go with the socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """A bucket's size (`burst`) and how fast it refills (`per_second`)."""

    per_second: float
    burst: int

    def allowed_within(self, seconds: float) -> int:
        """The most events a full bucket lets through in `seconds`."""
        return self.burst + int(self.per_second * seconds)


@dataclass
class TokenBucket:
    rate: Rate
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: Rate, now: float) -> TokenBucket:
        return cls(rate, float(rate.burst), now)

    def take(self, now: float) -> bool:
        """Takes a token if there is one. A clock that went back refills nothing."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.updated_at = max(self.updated_at, now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class SocketBuckets:
    """The buckets of every socket of one namespace: socket id → event → bucket."""

    rates: dict[str, Rate]
    _buckets: dict[str, dict[str, TokenBucket]] = field(default_factory=dict)

    def allow(self, sid: str, event: str, now: float) -> bool:
        """Whether this event from this socket may go on now (events without a rate always may)."""
        rate = self.rates.get(event)
        if rate is None:
            return True
        buckets = self._buckets.setdefault(sid, {})
        bucket = buckets.get(event)
        if bucket is None:
            bucket = buckets[event] = TokenBucket.full(rate, now)
        return bucket.take(now)

    def forget(self, sid: str) -> None:
        """The socket is gone."""
        self._buckets.pop(sid, None)

    def __len__(self) -> int:
        return len(self._buckets)
