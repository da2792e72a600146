"""Signed, short-lived customer visit tokens: a customer needs no account, only this.

The HTTP layer issues one when a visit starts; the Socket.IO `/customer` namespace accepts a
connection only with a valid, unexpired token, and the visit id inside it names the customer.
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), b"visit:" + body.encode(), hashlib.sha256).digest()
    return _b64(digest)


def issue_visit_token(secret: str, claims: VisitClaims) -> str:
    body = _b64(
        json.dumps(
            {"v": claims.visit_id, "l": claims.language, "e": claims.expires_at},
            separators=(",", ":"),
        ).encode()
    )
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
        claims = VisitClaims(str(data["v"]), str(data["l"]), float(data["e"]))
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed visit token") from None
    if claims.expires_at <= now:
        raise TokenError("visit token expired")
    return claims
