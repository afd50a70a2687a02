"""Templates: one handler serves a full page or, to htmx, just its fragment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.templating import Jinja2Templates

from .. import i18n
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
        # Templates change with a deploy, not while running: without this, every include
        # (one per row of a 500-room table) checks its file's modification time.
        auto_reload=False,
    )
    # One environment for every language: the callables read the locale of the current request
    # (or mail recipient) from a context variable. The i18n extension adds this method at
    # runtime; jinja2's types cannot declare it.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.jinja_gettext, i18n.jinja_ngettext, newstyle=True
    )
    env.globals["url_for"] = url_for
    env.globals["current_locale"] = i18n.current_locale
    env.globals["languages"] = i18n.LANGUAGE_NAMES
    env.filters["datetime"] = i18n.format_datetime
    env.filters["date"] = i18n.format_date
    env.filters["ago"] = i18n.format_ago
    env.filters["duration"] = i18n.format_duration
    env.filters["label"] = i18n.label
    return env


@jinja2.pass_context
def url_for(context: Any, name: str, /, **path_params: Any) -> URL:
    """Starlette's `url_for`, without its linear scan: the router tries every route in turn and
    each miss raises an exception, which made URL building most of a big room page's render
    time. Routes are indexed by name once per router."""
    request: Request = context["request"]
    router = request.scope["router"]
    index: dict[str, BaseRoute] | None = getattr(router, "_dealroom_url_index", None)
    if index is None:
        index = {route.name: route for route in router.routes if getattr(route, "name", None)}
        router._dealroom_url_index = index
    route = index.get(name)
    if route is None:
        return request.url_for(name, **path_params)
    # Same absolute URL as Starlette's, joined as text: URLPath.make_absolute_url re-parses the
    # base URL on every call.
    base = request.scope.get("dealroom.url_base")
    if base is None:
        base = request.scope["dealroom.url_base"] = str(request.base_url).rstrip("/")
    return URL(base + route.url_path_for(name, **path_params))


def make_templates(env: jinja2.Environment) -> Jinja2Templates:
    return Jinja2Templates(env=env)


def _base_context(request: Request, req: Req | None) -> dict[str, Any]:
    state = request.scope.get("state", {})
    return {
        "request": request,
        "csrf_token": state.get("csrf_token", ""),
        "user": req.cache.get("user") if req is not None else None,
        "is_htmx": htmx.is_htmx(request),
        "lang": i18n.current_locale(),
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
