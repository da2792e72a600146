"""A sliding-window limit on failed attempts (logins, ticket look-ups) per client and per name."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: Records between two sweeps of keys whose failures have all aged out.
SWEEP_EVERY = 1024


@dataclass
class FailureLimiter:
    """In-process: each server process counts its own failures (documented limit of this version)."""

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
