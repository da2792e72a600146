"""Pure ticket rules: the status workflow, reference numbers and the customer's follow-up code."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from vbranch_server.db.models import TicketStatus

#: new → open → pending → resolved → closed; pending returns to open when the customer answers,
#: a resolved ticket may be reopened until it is closed. Closed is final.
ALLOWED_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset({TicketStatus.OPEN}),
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}

#: Statuses in which the resolution clock no longer runs.
FINISHED_STATUSES = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


class TransitionError(ValueError):
    """The workflow does not allow this change of status."""


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none"
        raise TransitionError(
            f"a {current.value} ticket cannot become {target.value} (allowed: {allowed})"
        )


REFERENCE_PATTERN = re.compile(r"^VB-(\d{4})-(\d{6})$")
_MAX_PER_YEAR = 999_999


def format_reference(year: int, number: int) -> str:
    if not 1 <= number <= _MAX_PER_YEAR:
        raise ValueError(f"ticket number {number} is outside 1..{_MAX_PER_YEAR}")
    return f"VB-{year:04d}-{number:06d}"


def is_reference(text: str) -> bool:
    return REFERENCE_PATTERN.fullmatch(text) is not None


# No 0/O, 1/I/L: the code is read aloud over the phone and typed from a receipt.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SECRET_CODE_LENGTH = 10


def new_secret_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(SECRET_CODE_LENGTH))


def normalize_secret_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def hash_secret_code(code: str) -> str:
    # The code has ~50 bits of randomness and lookups are rate-limited, so one SHA-256 suffices.
    return hashlib.sha256(normalize_secret_code(code).encode()).hexdigest()


def secret_code_matches(code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret_code(code), stored_hash)
