"""The server's cookies: their names and attributes follow one setting, `secure_cookies`.

When it is on (the default), every cookie is `Secure` and named with the `__Host-` prefix, which
the browser accepts only from HTTPS, with `Path=/` and no `Domain`: a neighbouring subdomain or a
network attacker on plain HTTP cannot plant or overwrite one (session fixation). Plain-HTTP
development turns the setting off and gets the bare names.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from vbranch_server.keys import SETTINGS

HOST_PREFIX = "__Host-"


def cookie_name(base: str, secure: bool) -> str:
    return HOST_PREFIX + base if secure else base


def read_cookie(request: web.Request, base: str) -> str | None:
    """The cookie's value under the name the current setting gives it (never the other name)."""
    return request.cookies.get(cookie_name(base, request.app[SETTINGS].secure_cookies))


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    base: str,
    value: str,
    *,
    max_age: int | None = None,
    httponly: bool = True,
    samesite: Literal["Strict", "Lax"] = "Strict",
) -> None:
    secure = request.app[SETTINGS].secure_cookies
    response.set_cookie(
        cookie_name(base, secure),
        value,
        max_age=max_age,
        httponly=httponly,
        samesite=samesite,
        secure=secure,
        path="/",  # __Host- requires it
    )


def delete_cookie(request: web.Request, response: web.StreamResponse, base: str) -> None:
    # A browser ignores a __Host- Set-Cookie, even an expiring one, that is not Secure.
    secure = request.app[SETTINGS].secure_cookies
    response.del_cookie(cookie_name(base, secure), path="/", secure=secure)
