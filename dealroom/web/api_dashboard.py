"""API v1: the team's rooms with their scores and health, and content effectiveness.

A manager's or admin's token sees every room of the organisation; a rep's token sees the rooms
the rep owns. Both take the dashboard's filters as query parameters (`days`, `rep`, `stage`,
`health`, `sort`, `dir`); an unknown value is a 422 with the field named.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import accounts, dashboard, scores
from ..accounts import User
from ..db import pk, utcnow
from .auth import require_api_user
from .handler import Req, endpoint


def _scope(req: Req, user: User) -> tuple[dashboard.Filters, list[scores.RoomScore]]:
    team = accounts.team(req.session, org_id=user.org_id)
    filters = dashboard.parse_filters(
        req.request.query_params, reps=[member.public_id for member in team]
    )
    if user.is_manager:
        owner = next((m for m in team if m.public_id == filters.rep), None)
        owner_id = pk(owner) if owner else None
    else:  # a rep sees their own rooms, whatever `rep` says
        owner_id = pk(user)
    rooms = scores.org_rooms(
        req.session, org_id=user.org_id, owner_id=owner_id, stage=filters.stage
    )
    scored = scores.score_rooms(req.session, org_id=user.org_id, rooms=rooms)
    return filters, dashboard.apply_filters(scored, filters)


@endpoint(json=True)
def analytics_rooms(req: Req) -> Response:
    user = require_api_user(req)
    _filters, rows = _scope(req, user)
    return JSONResponse(dashboard.rooms_api(rows))


@endpoint(json=True)
def analytics_content(req: Req) -> Response:
    user = require_api_user(req)
    filters, rows = _scope(req, user)
    content = dashboard.content_effectiveness(
        req.session,
        org_id=user.org_id,
        room_ids=[pk(s.room) for s in rows],
        days=filters.days,
        today=utcnow().date(),
    )
    return JSONResponse(dashboard.content_api(content))


routes = [
    Route("/api/v1/analytics/rooms", analytics_rooms, name="api:analytics_rooms"),
    Route("/api/v1/analytics/content", analytics_content, name="api:analytics_content"),
]
