"""A sliding-window limit on failed attempts (logins, ticket look-ups) per client and per name."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class FailureLimiter:
    """In-process: each server process counts its own failures (documented limit of this version)."""

    max_failures: int = 5
    window_seconds: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

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

    def reset(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
