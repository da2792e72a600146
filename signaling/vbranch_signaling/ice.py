"""ICE servers for a browser: STUN, and TURN with coturn's short-lived shared-secret credentials.

coturn `use-auth-secret`: username is `expiry:user`, password is base64(HMAC-SHA1(secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any


def turn_credentials(secret: str, user: str, now: float, ttl_seconds: int) -> tuple[str, str]:
    username = f"{int(now) + ttl_seconds}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    stun_urls: Sequence[str],
    turn_urls: Sequence[str],
    turn_secret: str | None,
    user: str,
    now: float,
    ttl_seconds: int,
) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and turn_secret:
        username, credential = turn_credentials(turn_secret, user, now, ttl_seconds)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return servers
