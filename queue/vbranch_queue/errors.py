"""Refusals a routing store gives, each with a stable code the signaling layer can send on."""

from __future__ import annotations


class RoutingError(Exception):
    code = "routing_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownCustomer(RoutingError):
    code = "unknown_customer"


class UnknownAgent(RoutingError):
    code = "unknown_agent"


class UnknownOffer(RoutingError):
    """The offer does not exist (any more): taken back, timed out, or never made."""

    code = "unknown_offer"


class NotYourOffer(RoutingError):
    code = "not_your_offer"


class AlreadyQueued(RoutingError):
    code = "already_queued"


class NotQualified(RoutingError):
    code = "not_qualified"


class AgentBusy(RoutingError):
    """The agent is not in a state that allows this (e.g. not available for a direct offer)."""

    code = "agent_busy"


class CustomerBusy(RoutingError):
    """The customer is not waiting (e.g. already offered) so the action cannot apply."""

    code = "customer_busy"


ERRORS_BY_CODE: dict[str, type[RoutingError]] = {
    cls.code: cls
    for cls in (
        UnknownCustomer,
        UnknownAgent,
        UnknownOffer,
        NotYourOffer,
        AlreadyQueued,
        NotQualified,
        AgentBusy,
        CustomerBusy,
    )
}
