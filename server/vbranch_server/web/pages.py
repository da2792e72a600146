"""Server-rendered pages: the shared `render` and the public start page."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy import select

from vbranch_server.crm.calendars import calendar_from_row
from vbranch_server.db.models import ServiceCategory
from vbranch_server.i18n import LANGUAGE_COOKIE, LANGUAGES, direction, pick_language
from vbranch_server.keys import CATALOGS, CLOCK, DB, SETTINGS, TEMPLATES
from vbranch_server.sla import is_open_at, next_opening
from vbranch_server.web.cookies import set_cookie
from vbranch_server.web.security import current_staff, public
from vbranch_server.web.source import source_url

routes = web.RouteTableDef()


def template_environment(*folders: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(folders)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    lang = pick_language(request)
    catalogs = request.app[CATALOGS]
    staff = current_staff(request)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            lang=lang,
            dir=direction(lang),
            languages=LANGUAGES,
            t=lambda key, **values: catalogs.gettext(lang, key, **values),
            path=request.path,
            staff=staff.user if staff else None,
            staff_csrf=staff.csrf_token if staff else "",
            source_url=source_url(request.app[SETTINGS]),
            **context,
        )
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    if request.query.get("lang") in LANGUAGES:
        set_cookie(
            request,
            response,
            LANGUAGE_COOKIE,
            lang,
            max_age=365 * 86400,
            httponly=False,
            samesite="Lax",
        )
    return response


async def services_with_hours(request: web.Request) -> list[dict[str, Any]]:
    """Active services with their names, SLA target and whether they are open now."""
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        categories = (
            await db.scalars(
                select(ServiceCategory).where(ServiceCategory.active).order_by(ServiceCategory.id)
            )
        ).all()
    services = []
    for category in categories:
        calendar = calendar_from_row(category.calendar)
        open_now = is_open_at(calendar, now)
        services.append(
            {
                "code": category.code,
                "name": {"ar": category.name_ar, "en": category.name_en},
                "open_now": open_now,
                "opens_at": None if open_now else next_opening(calendar, now).isoformat(),
                "timezone": calendar.timezone,
                "resolution_working_days": category.resolution_working_days,
            }
        )
    return services


@routes.get("/")
@public
async def start_page(request: web.Request) -> web.Response:
    return render(request, "start.html", services=await services_with_hours(request))


@routes.get("/visit")
@public
async def visit_page(request: web.Request) -> web.Response:
    lang = pick_language(request)
    catalogs = request.app[CATALOGS]
    services = await services_with_hours(request)
    limit = request.app[SETTINGS].upload_max_bytes
    # Only the visit's own texts travel to the browser, in the page's language.
    messages = {
        k: v for k, v in catalogs.messages[lang].items() if k.startswith(("visit.", "error."))
    }
    return render(
        request,
        "visit.html",
        services=services,
        selected=request.query.get("category", ""),
        upload_limit_mb=round(limit / (1024 * 1024), 1),
        config={
            "lang": lang,
            "messages": messages,
            "upload_max_bytes": limit,
            "services": {service["code"]: service for service in services},
            # The connection check's browser peer uses these (public addresses, no credentials).
            "stun_urls": list(request.app[SETTINGS].stun_urls),
        },
    )


@routes.get("/track")
@public
async def track_page(request: web.Request) -> web.Response:
    lang = pick_language(request)
    messages = request.app[CATALOGS].messages[lang]
    wanted = ("track.", "status.")
    return render(
        request,
        "track.html",
        reference=request.query.get("reference", "")[:16],
        config={
            "lang": lang,
            "messages": {k: v for k, v in messages.items() if k.startswith(wanted)},
        },
    )
