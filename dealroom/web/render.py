"""Templates: one handler serves a full page or, to htmx, just its fragment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..errors import DealroomError
from ..settings import PROJECT_ROOT
from . import htmx

if TYPE_CHECKING:
    from .handler import Req

TEMPLATES_DIR = PROJECT_ROOT / "templates"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Catalogs come with the language work; until then every string passes through unchanged.
    # The i18n extension adds this method at runtime; jinja2's types cannot declare it.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["datetime"] = format_datetime
    env.filters["date"] = format_date
    env.filters["ago"] = ago
    return env


def format_datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def format_date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    from ..db import utcnow

    seconds = int((utcnow() - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def make_templates(env: jinja2.Environment) -> Jinja2Templates:
    return Jinja2Templates(env=env)


def _base_context(request: Request, req: Req | None) -> dict[str, Any]:
    state = request.scope.get("state", {})
    return {
        "request": request,
        "csrf_token": state.get("csrf_token", ""),
        "user": req.cache.get("user") if req is not None else None,
        "is_htmx": htmx.is_htmx(request),
    }


def render(
    req: Req,
    page: str,
    context: Mapping[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render `page`, or only `fragment` when htmx asks for it."""
    ctx = _base_context(req.request, req)
    if "user" not in req.cache:
        from .auth import current_user

        ctx["user"] = current_user(req)
    ctx.update(context or {})
    name = fragment if fragment and htmx.is_htmx(req.request) else page
    return req.services.templates.TemplateResponse(
        req.request, name, ctx, status_code=status, headers=headers
    )


def render_error(
    request: Request,
    exc: DealroomError,
    *,
    headers: Mapping[str, str] | None = None,
    link_kind: str | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.services.templates
    ctx = _base_context(request, None)
    ctx.update({"error": exc, "status": exc.status, "link_kind": link_kind})
    name = "errors/_message.html" if htmx.is_htmx(request) else "errors/page.html"
    return templates.TemplateResponse(request, name, ctx, status_code=exc.status, headers=headers)


def redirect(req: Req, url: str) -> Response:
    """POST answers 303 (and htmx is told to navigate)."""
    if htmx.is_htmx(req.request):
        return htmx.redirect(Response(status_code=204), url)
    return RedirectResponse(url, status_code=303)
