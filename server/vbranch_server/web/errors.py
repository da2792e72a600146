"""One JSON shape for every API error, and the middleware that turns exceptions into it."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from vbranch_server.crm.rules import TransitionError
from vbranch_server.crm.tickets import NotFoundError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return web.json_response({"error": body}, status=status, headers=headers)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        return error_response(400, "invalid_request", "the request is not valid", details)
    except NotFoundError as exc:
        return error_response(404, "not_found", str(exc))
    except TransitionError as exc:
        return error_response(409, "transition_not_allowed", str(exc))
    except RedisError as exc:
        # Redis stalled or gone: a clear refusal now (the link reconnects by itself), no traceback.
        log.warning("%s %s: Redis unavailable: %s", request.method, request.path, exc)
        if _is_api(request):
            return error_response(
                503,
                "service_unavailable",
                "the service is briefly unavailable: try again",
                headers={"Retry-After": "5"},
            )
        raise web.HTTPServiceUnavailable() from None
    except web.HTTPException as exc:
        if _is_api(request) and exc.status >= 400:
            return error_response(exc.status, "http_error", exc.reason, headers=None)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api(request):
            return error_response(500, "internal_error", "something went wrong on our side")
        raise


async def read_json_model(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body; anything else is a clear 4xx, never a crash."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    return model.model_validate(data)
