"""API v1: a room's analytics (who read what, for how long) and its raw events as CSV."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import analytics, audit, rooms
from .analytics import csv_response
from .auth import require_api_user
from .handler import Req, endpoint


@endpoint(json=True)
def room_analytics(req: Req) -> Response:
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    engagement = analytics.room_engagement(req.session, room=room)
    return JSONResponse(analytics.api_view(engagement))


@endpoint(json=True)
def events_csv(req: Req) -> Response:
    """The same file as the analytics page's "events" download."""
    user = require_api_user(req)
    room = rooms.get_room(req.session, org_id=user.org_id, room_id=req.param("room_id"))
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="analytics.exported",
        target=room.public_id,
        export="events",
        via="api",
    )
    return csv_response(req.services.db, room, analytics.events_csv, "events")


routes = [
    Route("/api/v1/rooms/{room_id}/analytics", room_analytics, name="api:analytics"),
    Route("/api/v1/rooms/{room_id}/events.csv", events_csv, name="api:events_csv"),
]
