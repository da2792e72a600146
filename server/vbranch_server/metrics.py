"""Prometheus metrics: one registry per application, so tests and several apps never collide."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "vbranch_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vbranch_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
        )
        self.logins = Counter(
            "vbranch_logins", "Staff login attempts", ["outcome"], registry=self.registry
        )
        self.tickets_created = Counter(
            "vbranch_tickets_created", "Tickets opened", ["channel"], registry=self.registry
        )


def _route_label(request: web.Request) -> str:
    # The route's pattern, not the raw path: one series per endpoint, whatever the ids.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: Metrics) -> web.middleware:  # type: ignore[valid-type]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = _route_label(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)

    return middleware


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handler
