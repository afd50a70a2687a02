"""Domain errors as pages, fragments or JSON. Nothing here returns a 500 for bad input.

An outage of the database or of the file storage is not a bug either: `outage` (registered for
those exceptions in app.py) answers 503 with Retry-After and a plain "temporarily unavailable",
and the next request, once the dependency is back, works again without a restart (the
PostgreSQL pool checks a connection before each use: `pool_pre_ping` in db.make_engine).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import DealroomError, InvalidInput, LinkProblem, NotFound, RateLimited, Unavailable
from ..i18n import _
from ..storage import ObjectMissing, StorageError
from . import htmx

log = logging.getLogger("dealroom.web")

# Raised when the database cannot be reached (refused, dropped, pool exhausted) or the storage
# backend cannot be: `outage` is the exception handler for each.
OUTAGES: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    StorageError,
)
RETRY_AFTER_SECONDS = 5

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
    headers = (
        {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, RateLimited | Unavailable)
        else None
    )
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


# SQLite reports bugs ("no such column") with the same exception class as a busy database.
_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o", "database or disk is full")


def _is_outage(exc: Exception) -> bool:
    if isinstance(exc, sa_exc.OperationalError) and isinstance(exc.orig, sqlite3.Error):
        return any(words in str(exc.orig).lower() for words in _SQLITE_OUTAGES)
    return True


async def outage(request: Request, exc: Exception) -> Response:
    """503 while the database or the file storage is unreachable, instead of a 500 page."""
    if not _is_outage(exc):
        from .routes import server_error

        log.error("unhandled database error", exc_info=exc)  # no path: links carry tokens
        return await server_error(request, exc)
    if isinstance(exc, ObjectMissing):
        # Not an outage: a file row whose object is gone (restored from an older backup?).
        log.error("stored object missing: %s", exc.key)
        return error_response(request, NotFound(_("This file is missing from the storage.")))
    # The driver's message only: SQLAlchemy's own text carries the statement and its parameters.
    reason = getattr(exc, "orig", None) or exc
    log.warning("unavailable: %s: %s", type(exc).__name__, str(reason).strip()[:300])
    if isinstance(exc, StorageError):
        message = _("The file storage is temporarily unavailable. Please try again in a moment.")
    else:
        message = _("Dealroom is temporarily unavailable. Please try again in a moment.")
    return error_response(request, Unavailable(message, retry_after=RETRY_AFTER_SECONDS))
