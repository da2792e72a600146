"""The OpenAPI 3.1 document of the JSON API, generated from the same models that validate it."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from vbranch_server.web import console_api
from vbranch_server.web import schemas as s
from vbranch_server.web.security import public
from vbranch_server.web.supervisor_api import openapi_paths as supervisor_paths

routes = web.RouteTableDef()

_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _answers(ok: int, model: type[BaseModel] | None, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "success"}}
    if model is not None:
        out[str(ok)]["content"] = {"application/json": {"schema": _ref(model)}}
    for status in errors:
        out[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": _ref(s.ErrorResponse)}},
        }
    return out


_ERROR_TEXT = {
    400: "invalid request",
    401: "not logged in",
    403: "role or CSRF token refused",
    404: "not found (or not visible to you)",
    409: "status change not allowed",
    413: "file too large",
    415: "unsupported body or file type",
    429: "too many attempts",
    503: "Redis (the limits, the queue) did not answer in time: try again (code service_unavailable)",
    507: "the server's disk is below its reserve",
}
_STAFF: list[dict[str, list[str]]] = [{"session": []}]
_CSRF = {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}
_VISIT_START = {
    "type": "object",
    "properties": {"language": {"enum": ["ar", "en"]}},
    "additionalProperties": False,
}
_VISIT = {
    "type": "object",
    "properties": {
        "visit_id": {"type": "string"},
        "token": {"type": "string"},
        "expires_at": {"type": "number"},
    },
}
_CALL_ID = {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}
_RATING = {
    "type": "object",
    "properties": {
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": "string", "maxLength": 2000},
    },
    "required": ["rating"],
    "additionalProperties": False,
}
_LEFT_REQUEST = {
    "type": "object",
    "properties": {
        "category": {"type": "string"},
        "language": {"enum": ["ar", "en"]},
        "display_name": {"type": "string", "maxLength": 80},
        "phone": {"type": "string"},
        "message": {"type": "string", "minLength": 1, "maxLength": 2000},
        "sign_language": {"type": "boolean"},
    },
    "required": ["category", "message"],
    "additionalProperties": False,
}
_DESCRIPTION = {
    "type": "object",
    "properties": {"type": {"enum": ["offer", "answer"]}, "sdp": {"type": "string"}},
    "required": ["type", "sdp"],
}
_ECHO_ANSWER = {
    "type": "object",
    "properties": {
        "type": {"enum": ["answer"]},
        "sdp": {"type": "string"},
        "seconds": {"type": "integer", "minimum": 1, "description": "the echo's lifetime"},
    },
    "required": ["type", "sdp", "seconds"],
}
_REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": r"^VB-\d{4}-\d{6}$"},
}


def _query_parameters() -> list[dict[str, Any]]:
    schema = s.TicketFilterQuery.model_json_schema(ref_template=_REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


@cache
def openapi_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        s.LoginRequest,
        s.LoginResponse,
        s.TicketCreate,
        s.TicketCreated,
        s.TicketList,
        s.TicketDetail,
        s.StatusChange,
        s.NoteCreate,
        s.TrackRequest,
        s.TrackedTicket,
        s.ErrorResponse,
        *console_api.OPENAPI_MODELS,
    ]
    _, defs = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    ticket_ops = {"security": _STAFF, "tags": ["tickets"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "vbranch API", "version": "0.1.0"},
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-vb_session",
                    "description": "`vb_session` when VBRANCH_SECURE_COOKIES=false (plain HTTP)",
                }
            },
        },
        "paths": {
            "/api/login": {
                "post": {
                    "summary": "Log in as a staff member",
                    "tags": ["auth"],
                    "requestBody": _body(s.LoginRequest),
                    "responses": _answers(200, s.LoginResponse, 400, 401, 415, 429, 503),
                }
            },
            "/api/logout": {
                "post": {
                    "summary": "Log out",
                    "tags": ["auth"],
                    "security": _STAFF,
                    "parameters": [_CSRF],
                    "responses": _answers(200, None, 401, 403),
                }
            },
            "/api/me": {
                "get": {
                    "summary": "The logged-in staff member",
                    "tags": ["auth"],
                    "security": _STAFF,
                    "responses": _answers(200, s.LoginResponse, 401),
                }
            },
            "/api/tickets": {
                "get": {
                    **ticket_ops,
                    "summary": "List tickets, soonest due first",
                    "parameters": _query_parameters(),
                    "responses": _answers(200, s.TicketList, 400, 401),
                },
                "post": {
                    **ticket_ops,
                    "summary": "Open a ticket",
                    "parameters": [_CSRF],
                    "requestBody": _body(s.TicketCreate),
                    "responses": _answers(201, s.TicketCreated, 400, 401, 403, 404, 415),
                },
            },
            "/api/tickets/{reference}": {
                "get": {
                    **ticket_ops,
                    "summary": "Read a ticket with its history",
                    "parameters": [_REFERENCE],
                    "responses": _answers(200, s.TicketDetail, 401, 404),
                }
            },
            "/api/tickets/{reference}/status": {
                "post": {
                    **ticket_ops,
                    "summary": "Change a ticket's status",
                    "parameters": [_REFERENCE, _CSRF],
                    "requestBody": _body(s.StatusChange),
                    "responses": _answers(200, s.TicketDetail, 400, 401, 403, 404, 409, 415),
                }
            },
            "/api/tickets/{reference}/notes": {
                "post": {
                    **ticket_ops,
                    "summary": "Add a note to a ticket's history",
                    "parameters": [_REFERENCE, _CSRF],
                    "requestBody": _body(s.NoteCreate),
                    "responses": _answers(201, s.TicketDetail, 400, 401, 403, 404, 415),
                }
            },
            "/api/visits": {
                "post": {
                    "summary": "Start a video visit: a token for the /customer Socket.IO namespace",
                    "tags": ["public"],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": _VISIT_START,
                            }
                        },
                    },
                    "responses": {
                        **_answers(201, None, 400, 415, 429, 503),
                        "201": {
                            "description": "the visit and its token",
                            "content": {"application/json": {"schema": _VISIT}},
                        },
                    },
                }
            },
            "/api/calls/{call_id}/files": {
                "post": {
                    "summary": "Upload a PDF, JPEG or PNG during a call (checked by content)",
                    "description": (
                        "Each call receives at most VBRANCH_UPLOADS_PER_CALL files (then 429 "
                        "`too_many_files`) and VBRANCH_UPLOAD_BYTES_PER_CALL bytes in all (then "
                        "413 `call_uploads_too_large`; a file counts by its declared size until "
                        "stored). No file is accepted while the uploads' disk has less than "
                        "VBRANCH_MIN_FREE_DISK_MB free (507 `insufficient_storage`)."
                    ),
                    "tags": ["public"],
                    "security": [{"visit": []}],
                    "parameters": [_CALL_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                    },
                                    "required": ["file"],
                                },
                            }
                        },
                    },
                    "responses": _answers(201, None, 400, 401, 404, 409, 413, 415, 429, 507),
                }
            },
            "/api/calls/{call_id}/rating": {
                "post": {
                    "summary": "Rate an ended call (1-5, with a comment)",
                    "tags": ["public"],
                    "security": [{"visit": []}],
                    "parameters": [_CALL_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _RATING,
                            }
                        },
                    },
                    "responses": _answers(201, None, 400, 401, 404, 409, 415),
                }
            },
            "/api/attachments/{attachment_id}": {
                "get": {
                    "summary": "Download a ticket's file (staff who may see the ticket)",
                    "tags": ["tickets"],
                    "security": _STAFF,
                    "parameters": [
                        {
                            "name": "attachment_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": _answers(200, None, 401, 404),
                }
            },
            "/api/requests": {
                "post": {
                    "summary": "Leave a request outside opening hours: a ticket with its SLA clock",
                    "tags": ["public"],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _LEFT_REQUEST,
                            }
                        },
                    },
                    "responses": _answers(201, None, 400, 404, 415, 429, 503),
                }
            },
            "/api/echo": {
                "post": {
                    "summary": "Connection check: a server peer that sends the customer's video back",
                    "tags": ["public"],
                    "security": [{"visit": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _DESCRIPTION,
                            }
                        },
                    },
                    "responses": {
                        **_answers(200, None, 400, 401, 409, 415, 429),
                        "200": {
                            "description": "the answer; the echo ends after `seconds`",
                            "content": {
                                "application/json": {"schema": _ECHO_ANSWER},
                            },
                        },
                        "409": {
                            **_answers(409, None, 409)["409"],
                            "description": "echo_running: this visit's check is already running",
                        },
                        "429": {
                            **_answers(429, None, 429)["429"],
                            "description": "busy: every echo of this server is taken",
                        },
                    },
                }
            },
            "/api/track": {
                "post": {
                    "summary": "Follow a ticket with its reference and secret code",
                    "tags": ["public"],
                    "requestBody": _body(s.TrackRequest),
                    "responses": _answers(200, s.TrackedTicket, 400, 404, 415, 429, 503),
                }
            },
            **console_api.openapi_paths(_answers, _body),
            **supervisor_paths(_answers),
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "tags": ["public"],
                    "responses": {
                        "200": {
                            "description": "the OpenAPI document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }


@routes.get("/api/openapi.json")
@public
async def openapi_json(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
