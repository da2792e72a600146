"""Signed, short-lived customer visit tokens: a customer needs no account, only this.

The HTTP layer issues one when a visit starts; the Socket.IO `/customer` namespace accepts a
connection only with a valid, unexpired token, and the visit id inside it names the customer.
The token also carries where the visit was started from (the client's address key, see
`line_places.address_key`), signed with the rest: a customer cannot pick the address their places in
line are counted against.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

VISIT_TOKEN_TTL_SECONDS = 2 * 3600


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class VisitClaims:
    visit_id: str
    language: str
    expires_at: float
    #: The address key the visit was started from; None in tokens issued before it was carried.
    address: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), b"visit:" + body.encode(), hashlib.sha256).digest()
    return _b64(digest)


def issue_visit_token(secret: str, claims: VisitClaims) -> str:
    data: dict[str, object] = {"v": claims.visit_id, "l": claims.language, "e": claims.expires_at}
    if claims.address is not None:
        data["a"] = claims.address
    body = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def verify_visit_token(secret: str, token: object, now: float) -> VisitClaims:
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 512:
        raise TokenError("malformed visit token")
    body, mac = token.split(".")
    # Compared as bytes: compare_digest refuses non-ASCII text instead of answering False.
    if not hmac.compare_digest(mac.encode(), _mac(secret, body).encode()):
        raise TokenError("visit token signature does not match")
    try:
        data = json.loads(_unb64(body))
        address = data.get("a")
        if address is not None and not isinstance(address, str):
            raise TypeError("address")
        claims = VisitClaims(str(data["v"]), str(data["l"]), float(data["e"]), address)
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed visit token") from None
    if claims.expires_at <= now:
        raise TokenError("visit token expired")
    return claims
