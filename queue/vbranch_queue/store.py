"""The contract every routing store keeps: in memory (one process) and in Redis (many).

Each method is one atomic decision. Methods that can free an agent or a customer return the offers
they created, so the caller can notify the people concerned; nothing else creates offers, except
`expire`, which a background task calls about once a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vbranch_queue.core.model import AgentState, Answered, Needs, Offer, Position, Skills
from vbranch_queue.core.stats import QueueStats


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    state: AgentState
    state_since: float
    skills: Skills
    customer_id: str | None
    calls_today: int
    missed_offers: int


@dataclass(frozen=True)
class WaitingView:
    customer_id: str
    needs: Needs
    base_priority: int
    enqueued_at: float
    offered_to: str | None


@dataclass(frozen=True)
class Left:
    #: False when the customer was not in line (already answered, or left before).
    abandoned: bool
    #: An agent whose offer the customer walked away from is free again, and may get the next one.
    offers: list[Offer]


@dataclass(frozen=True)
class Snapshot:
    queues: list[QueueStats]
    agents: list[AgentView]


class RoutingStore(Protocol):
    async def upsert_agent(self, agent_id: str, skills: Skills, now: float) -> list[Offer]:
        """Register an agent (offline) or update their skills, keeping their state. An available
        agent whose new skills cover someone waiting is offered them at once."""

    async def set_agent_state(self, agent_id: str, state: AgentState, now: float) -> list[Offer]:
        """Available, away or offline. Leaving while offered hands the customer back at their place."""

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
        """Put a customer in line (at the front for a transfer or a failed connection)."""

    async def leave(self, customer_id: str, now: float) -> Left:
        """The customer gave up while waiting or offered: removed and counted as abandoned."""

    async def accept(self, offer_id: str, agent_id: str, now: float) -> Answered: ...

    async def reject(self, offer_id: str, agent_id: str, now: float) -> list[Offer]:
        """The customer goes to the next qualified agent, or back to their place in line."""

    async def end_call(self, agent_id: str, now: float) -> list[Offer]:
        """The agent's call ended: wrap-up (or straight to available when wrap-up is zero)."""

    async def finish_wrap_up(self, agent_id: str, now: float) -> list[Offer]:
        """The agent finished early: available again now."""

    async def expire(self, now: float) -> list[Offer]:
        """Offers past their timeout are taken back; wrap-ups past their end become available."""

    async def position(self, customer_id: str, now: float) -> Position | None: ...

    async def snapshot(self, now: float) -> Snapshot: ...

    async def waiting(self, needs: Needs, limit: int = 50) -> Sequence[WaitingView]:
        """Who waits in one line, in the order they will be served."""

    # Supervisor actions.
    async def set_priority(self, customer_id: str, base_priority: int, now: float) -> None: ...

    async def move(self, customer_id: str, needs: Needs, now: float) -> Offer | None:
        """Another line (a category, a language, sign language) keeping the original join time."""

    async def offer_to(self, customer_id: str, agent_id: str, now: float) -> Offer:
        """Offer a waiting customer to a named, available, qualified agent."""
