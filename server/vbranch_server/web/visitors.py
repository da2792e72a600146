"""Customers prove who they are with the signed visit token they got when the visit started."""

from __future__ import annotations

from aiohttp import web

from vbranch_server.keys import CLOCK, SETTINGS
from vbranch_server.web.errors import ApiError
from vbranch_signaling.tokens import TokenError, verify_visit_token


def visit_id_of(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "visit_token_required", "send your visit token as a Bearer token")
    try:
        claims = verify_visit_token(
            request.app[SETTINGS].secret_key, token, request.app[CLOCK]().timestamp()
        )
    except TokenError as exc:
        raise ApiError(401, "visit_token_invalid", str(exc)) from None
    return claims.visit_id
