"""The routing domain: what a customer needs, what an agent can do, and the states they pass through."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

SIGN_LANGUAGE_MARK = "sl"
NO_SIGN_LANGUAGE_MARK = "-"


@dataclass(frozen=True, order=True)
class Needs:
    """What a waiting customer needs from an agent. Equal needs share one queue (a bucket)."""

    category: str
    language: str
    sign_language: bool = False

    def __post_init__(self) -> None:
        for name in ("category", "language"):
            value = getattr(self, name)
            if not value or "|" in value:
                raise ValueError(f"{name} must be a non-empty name without '|', got {value!r}")

    @property
    def bucket(self) -> str:
        mark = SIGN_LANGUAGE_MARK if self.sign_language else NO_SIGN_LANGUAGE_MARK
        return f"{self.category}|{self.language}|{mark}"

    @classmethod
    def from_bucket(cls, bucket: str) -> Needs:
        category, language, mark = bucket.split("|")
        if mark not in {SIGN_LANGUAGE_MARK, NO_SIGN_LANGUAGE_MARK}:
            # Never guess: reading a bad mark as "no sign language" would drop the need.
            raise ValueError(f"bad sign-language mark in bucket {bucket!r}")
        return cls(category, language, mark == SIGN_LANGUAGE_MARK)


@dataclass(frozen=True)
class Skills:
    categories: frozenset[str] = field(default_factory=frozenset)
    languages: frozenset[str] = field(default_factory=frozenset)
    sign_language: bool = False

    @classmethod
    def of(
        cls,
        categories: list[str] | tuple[str, ...] | frozenset[str],
        languages: list[str] | tuple[str, ...] | frozenset[str],
        sign_language: bool = False,
    ) -> Skills:
        return cls(frozenset(categories), frozenset(languages), sign_language)


def qualifies(skills: Skills, needs: Needs) -> bool:
    """An agent qualifies only if their skills cover every need; sign language is never dropped."""
    return (
        needs.category in skills.categories
        and needs.language in skills.languages
        and (skills.sign_language or not needs.sign_language)
    )


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    OFFERED = "offered"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    AWAY = "away"


#: States a staff member (or a supervisor) may set directly; the others follow from offers and calls.
SETTABLE_STATES = frozenset({AgentState.AVAILABLE, AgentState.AWAY, AgentState.OFFLINE})


class AgentChoice(enum.StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"


@dataclass(frozen=True)
class RoutingConfig:
    offer_timeout: float = 20.0
    wrap_up_seconds: float = 30.0
    #: Missed offers in a row (rejected or timed out) after which an agent is set away.
    max_missed_offers: int = 3
    #: Aging: one priority level is worth this many seconds of waiting, so nobody starves.
    priority_step_seconds: float = 60.0
    agent_choice: AgentChoice = AgentChoice.LONGEST_IDLE
    #: Service level thresholds: answered within this many seconds counts as "in time".
    service_level_seconds: float = 20.0
    sign_language_service_level_seconds: float = 30.0
    #: Average handle time assumed before any call was answered, for the estimated wait.
    default_handle_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.offer_timeout <= 0 or self.wrap_up_seconds < 0 or self.priority_step_seconds <= 0:
            raise ValueError("timeouts must be positive and wrap-up not negative")
        if self.max_missed_offers < 1:
            raise ValueError("max_missed_offers must be at least 1")

    def threshold_for(self, needs: Needs) -> float:
        if needs.sign_language:
            return self.sign_language_service_level_seconds
        return self.service_level_seconds


@dataclass(frozen=True)
class Offer:
    offer_id: str
    customer_id: str
    agent_id: str
    needs: Needs
    expires_at: float
    #: When the customer first joined: the waiting time shown to the agent counts from here.
    enqueued_at: float


@dataclass(frozen=True)
class Answered:
    customer_id: str
    agent_id: str
    needs: Needs
    waited_seconds: float


@dataclass(frozen=True)
class Position:
    customer_id: str
    #: 1 = next in their line. Offered customers are at position 0.
    position: int
    estimated_wait_seconds: float | None
    offered: bool
