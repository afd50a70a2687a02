"""Domain errors as pages, fragments or JSON. Nothing here returns a 500 for bad input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import DealroomError, InvalidInput, LinkProblem, RateLimited
from . import htmx

if TYPE_CHECKING:
    from .handler import Req


class LoginRequired(DealroomError):
    code = "unauthorized"
    status = 401


class CsrfFailed(DealroomError):
    code = "csrf"
    status = 403


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def json_error(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(request: Request, exc: DealroomError, req: Req | None = None) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    fields = exc.fields if isinstance(exc, InvalidInput) else None
    if is_api(request):
        if isinstance(exc, LoginRequired):
            headers = {"WWW-Authenticate": 'Bearer realm="dealroom"'}
        return json_error(exc.status, exc.code, exc.message or exc.code, fields, headers)
    if isinstance(exc, LoginRequired):
        target = "/login?next=" + quote(request.url.path)
        if htmx.is_htmx(request):
            return htmx.redirect(Response(status_code=204), target)
        return RedirectResponse(target, status_code=303)
    from .render import render_error

    return render_error(
        request, exc, headers=headers, link_kind=exc.kind if isinstance(exc, LinkProblem) else None
    )
