"""Starting a visit: a customer gets a signed token for the `/customer` Socket.IO namespace."""

from __future__ import annotations

import secrets
from typing import Literal

from aiohttp import web

from vbranch_server.keys import CLOCK, SETTINGS
from vbranch_server.web.errors import read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import public
from vbranch_signaling.tokens import VISIT_TOKEN_TTL_SECONDS, VisitClaims, issue_visit_token

routes = web.RouteTableDef()


class VisitStart(Strict):
    language: Literal["ar", "en"] = "ar"


@routes.post("/api/visits")
@public
async def start_visit(request: web.Request) -> web.Response:
    body = await read_json_model(request, VisitStart)
    now = request.app[CLOCK]().timestamp()
    claims = VisitClaims(
        visit_id="v" + secrets.token_urlsafe(12),
        language=body.language,
        expires_at=now + VISIT_TOKEN_TTL_SECONDS,
    )
    token = issue_visit_token(request.app[SETTINGS].secret_key, claims)
    return web.json_response(
        {"visit_id": claims.visit_id, "token": token, "expires_at": claims.expires_at}, status=201
    )
