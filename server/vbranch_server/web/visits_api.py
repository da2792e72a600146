"""Starting a visit: a customer gets a signed token for the `/customer` Socket.IO namespace."""

from __future__ import annotations

import secrets
from typing import Literal

from aiohttp import web

from vbranch_server.keys import CLOCK, SETTINGS, VISIT_LIMITER
from vbranch_server.web.client_address import client_ip
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import public
from vbranch_signaling.line_places import address_key
from vbranch_signaling.tokens import VISIT_TOKEN_TTL_SECONDS, VisitClaims, issue_visit_token

routes = web.RouteTableDef()


class VisitStart(Strict):
    language: Literal["ar", "en"] = "ar"


@routes.post("/api/visits")
@public
async def start_visit(request: web.Request) -> web.Response:
    body = await read_json_model(request, VisitStart)
    # Every visit counts, not only failures: the reservation stays.
    attempt = await request.app[VISIT_LIMITER].reserve({"address": client_ip(request)})
    if attempt.refused:
        raise ApiError(
            429,
            "too_many_attempts",
            "too many visits started from here; try again in a minute",
            headers={"Retry-After": str(int(attempt.retry_after) + 1)},
        )
    now = request.app[CLOCK]().timestamp()
    claims = VisitClaims(
        visit_id="v" + secrets.token_urlsafe(12),
        language=body.language,
        expires_at=now + VISIT_TOKEN_TTL_SECONDS,
        # Signed into the token: the visit's places in line count against this address.
        address=address_key(client_ip(request)),
    )
    token = issue_visit_token(request.app[SETTINGS].secret_key, claims)
    return web.json_response(
        {"visit_id": claims.visit_id, "token": token, "expires_at": claims.expires_at}, status=201
    )
