"""The caps that keep one anonymous visitor from flooding the service, and their refusals' texts.

- places in line per client address (line_places.py): `too_many_open_visits` on `join`;
- sockets per visit token: a `/customer` connection past it is refused (`too_many_sockets`);
- a token bucket per socket for `chat` and for `signal` (rate_limit.py): `rate_limited`.

The server reads them from its settings; these defaults are the settings' defaults too (a test
keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vbranch_signaling.rate_limit import Rate


@dataclass(frozen=True)
class AbuseCaps:
    open_visits_per_address: int = 3
    sockets_per_visit: int = 3
    #: A person types a message every few seconds; a paste or two at once stays within the burst.
    chat: Rate = field(default_factory=lambda: Rate(per_second=2.0, burst=20))
    #: A call's start trickles dozens of ICE candidates at once, a screen share renegotiates.
    signal: Rate = field(default_factory=lambda: Rate(per_second=20.0, burst=200))


#: The text of a refusal in a language: (language, code) → message. The server passes its message
#: catalogs (`error.<code>`); without them, English.
Texts = Callable[[str, str], str]

ENGLISH = {
    "rate_limited": "You are sending too fast. Wait a moment and try again.",
    "too_many_open_visits": (
        "Too many visits from your address are already waiting. Finish or leave one of them first."
    ),
    "too_many_sockets": "This visit is open in too many windows. Close one of them and try again.",
}


def english(language: str, code: str) -> str:
    return ENGLISH.get(code, code)
