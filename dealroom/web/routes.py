"""Every route of the app, gathered from the modules that own them."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ..errors import DealroomError, NotFound
from ..i18n import _
from .errors import error_response


def all_routes() -> list[BaseRoute]:
    from . import (
        accounts,
        analytics,
        api,
        api_analytics,
        api_dashboard,
        api_exports,
        buyer,
        champion,
        chat,
        content,
        dashboard,
        exports,
        health,
        library,
        notes,
        notifications,
        preferences,
        rooms,
        roomtemplates,
        since,
        suggestions,
        tasks,
        team,
        tracking,
    )

    return [
        # First: the tracking beacon is by far the most frequent request, and Starlette tries
        # routes in order.
        *tracking.routes,
        *health.routes,
        *accounts.routes,
        *team.routes,
        *rooms.routes,
        *exports.routes,
        *analytics.routes,
        *dashboard.routes,
        *content.routes,
        *library.routes,
        *buyer.routes,
        *notes.routes,
        *tasks.routes,
        *chat.routes,
        *preferences.routes,
        *notifications.routes,
        *roomtemplates.routes,
        *suggestions.routes,
        *since.routes,
        *champion.routes,
        *api.routes,
        *api_exports.routes,
        *api_analytics.routes,
        *api_dashboard.routes,
    ]


class _MethodNotAllowed(DealroomError):
    code = "method_not_allowed"
    status = 405


class _ServerError(DealroomError):
    code = "server_error"
    status = 500


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(request, NotFound(_("There is nothing at this address.")))


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = getattr(exc, "headers", None) if isinstance(exc, HTTPException) else None
    response = error_response(
        request, _MethodNotAllowed(_("This address does not accept that method."))
    )
    if headers:
        response.headers.update(headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    return error_response(
        request,
        _ServerError(_("Something went wrong on our side. It has been logged; please try again.")),
    )
