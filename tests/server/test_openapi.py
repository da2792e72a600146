"""The OpenAPI document: valid, complete (every /api route, nothing more), and truthful."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every /api route. aiohttp adds HEAD beside each GET by itself;
    OpenAPI leaves HEAD implied by GET, so those are left out."""
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/")
    }
    return {(m, p) for m, p in routes if not (m == "head" and ("get", p) in routes)}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


async def test_the_document_is_valid_openapi(client: TestClient) -> None:
    doc = await document(client)
    validate(doc)
    assert doc["openapi"].startswith("3.1")


async def test_every_api_route_is_documented_and_nothing_else(client: TestClient) -> None:
    doc = await document(client)
    in_router = api_routes(client.server.app)
    assert ("post", "/api/tickets") in in_router  # the walk sees the API
    assert in_router == documented(doc)
    assert all(path.startswith("/api/") for path in doc["paths"])


def check(doc: dict[str, Any], model: str, body: Any) -> None:
    """Validate a real answer against the document's schema for it."""
    schema = {"$ref": f"#/components/schemas/{model}", "components": doc["components"]}
    OAS31Validator(schema).validate(body)


async def test_real_answers_match_the_documented_schemas(client: TestClient) -> None:
    doc = await document(client)

    refused = await client.post("/api/login", json={"username": "agent.ar", "password": "no"})
    check(doc, "ErrorResponse", await refused.json())
    invalid = await client.post("/api/login", json={"username": "agent.ar"})
    check(doc, "ErrorResponse", await invalid.json())

    login = await client.post(
        "/api/login", json={"username": "agent.ar", "password": "demo-agent-pass"}
    )
    login_body = await login.json()
    check(doc, "LoginResponse", login_body)
    check(doc, "LoginResponse", await (await client.get("/api/me")).json())

    headers = {"X-CSRF-Token": login_body["csrf_token"]}
    created = await client.post(
        "/api/tickets",
        json={"category": "medical", "subject": "Report", "customer": {"display_name": "A"}},
        headers=headers,
    )
    assert created.status == 201
    created_body = await created.json()
    check(doc, "TicketCreated", created_body)
    reference = created_body["ticket"]["reference"]

    check(doc, "TicketList", await (await client.get("/api/tickets")).json())
    changed = await client.post(
        f"/api/tickets/{reference}/status", json={"status": "open"}, headers=headers
    )
    check(doc, "TicketDetail", await changed.json())
    noted = await client.post(
        f"/api/tickets/{reference}/notes", json={"body": "note"}, headers=headers
    )
    check(doc, "TicketDetail", await noted.json())
    check(doc, "TicketDetail", await (await client.get(f"/api/tickets/{reference}")).json())

    tracked = await client.post(
        "/api/track", json={"reference": reference, "code": created_body["secret_code"]}
    )
    check(doc, "TrackedTicket", await tracked.json())
