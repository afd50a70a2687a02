"""Seller pages for a room's attention: the live analytics page, its CSV exports, and the
per-viewer privacy actions (export one person's data, erase it).

The page polls itself: its `_live.html` fragment carries `hx-trigger="every 10s"` and this handler
answers htmx with the fragment alone, so a seller watching sees a buyer's reading within seconds
of the tracking buffer's flush.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import analytics, audit, invites, notifications, suggestions, tracking
from ..accounts import User
from ..db import Database, pk
from ..i18n import _, format_duration
from ..invites import Invite
from ..rooms import Room
from .auth import require_room
from .handler import Req, Rollback, endpoint
from .render import redirect, render

CsvBuilder = Callable[..., Iterator[str]]
CHART_ITEMS = 15  # the per-item chart shows the most-read items; its table lists them all


def _chart_data(
    engagement: analytics.RoomEngagement, daily: list[tuple[Any, int]]
) -> dict[str, Any]:
    """What static/analytics.js draws: minutes for the bars, the spelled-out time for tooltips."""
    top = sorted(
        (i for i in engagement.items if i.active_seconds), key=lambda i: -i.active_seconds
    )[:CHART_ITEMS]
    return {
        "daily": {
            "days": [day.isoformat() for day, _seconds in daily],
            "minutes": [round(seconds / 60, 1) for _day, seconds in daily],
            "text": [format_duration(seconds) for _day, seconds in daily],
            "label": _("Active time (minutes)"),
        },
        "items": {
            "labels": [item.title for item in top],
            "minutes": [round(item.active_seconds / 60, 1) for item in top],
            "text": [format_duration(item.active_seconds) for item in top],
            "label": _("Active time (minutes)"),
        },
    }


def page_context(req: Req, room: Room) -> dict[str, Any]:
    session = req.session
    engagement = analytics.room_engagement(session, room=room)
    daily = analytics.daily_activity(session, room=room)
    names = analytics.room_names(session, room=room)  # for the timeline and the signals
    everyone = list(names.invites.values())
    erased_id = req.request.query_params.get("erased", "")
    erased = next((i for i in everyone if i.public_id == erased_id), None)
    return {
        "room": room,
        "engagement": engagement,
        "invited": len(engagement.viewers),
        "companies": {pk(v.invite): analytics.company(room, v.invite) for v in engagement.viewers},
        "readers": {i.item_id: engagement.readers(i.item_id) for i in engagement.items},
        "timeline": analytics.timeline(session, room=room, names=names),
        "signals": analytics.signals(session, room=room, names=names),
        "daily": daily,
        "daily_total": sum(seconds for _day, seconds in daily),
        "chart": _chart_data(engagement, daily),
        # People whose access was revoked: no longer in the figures, but their data can still
        # be exported or erased on request.
        "former": [i for i in everyone if i.revoked],
        "erased": erased,
    }


@endpoint
def room_analytics(req: Req) -> Response:
    _user, room = require_room(req)
    return render(
        req, "analytics/page.html", page_context(req, room), fragment="analytics/_live.html"
    )


# ---------------------------------------------------------------- CSV


def csv_response(db: Database, room: Room, build: CsvBuilder, name: str) -> Response:
    """Stream a CSV built by `build(session, room=...)`. The rows are read in a session of the
    stream's own: the request's transaction has ended by the time the body is sent."""
    room_pk = pk(room)

    def chunks() -> Iterator[bytes]:
        with db.session(write=False) as session:
            fresh = session.get(Room, room_pk)
            if fresh is None:  # deleted between the answer and its body
                return
            for chunk in build(session, room=fresh):
                yield chunk.encode("utf-8")

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{room.public_id}-{name}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _export(req: Req, build: CsvBuilder, name: str) -> Response:
    user, room = require_room(req)
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="analytics.exported",
        target=room.public_id,
        export=name,
    )
    return csv_response(req.services.db, room, build, name)


@endpoint
def events_csv(req: Req) -> Response:
    return _export(req, analytics.events_csv, "events")


@endpoint
def pages_csv(req: Req) -> Response:
    return _export(req, analytics.pages_csv, "pages")


@endpoint
def daily_csv(req: Req) -> Response:
    return _export(req, analytics.daily_csv, "daily")


@endpoint
def items_csv(req: Req) -> Response:
    return _export(req, analytics.items_csv, "items")


# ---------------------------------------------------------------- one person's data (GDPR/APPI)


def _viewer(req: Req) -> tuple[User, Room, Invite]:
    user, room = require_room(req)
    invite = invites.get_invite(req.session, room=room, invite_id=req.param("invite_id"))
    return user, room, invite


@endpoint
def viewer_export(req: Req) -> Response:
    """Everything tracking holds about one person, as a JSON file (an access request)."""
    user, room, invite = _viewer(req)
    data = analytics.viewer_export(req.session, room=room, invite=invite)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="tracking.exported",
        target=invite.public_id,
        room=room.public_id,
    )
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{invite.public_id}-tracking.json"',
            "Cache-Control": "private, no-store",
        },
    )


@endpoint(form=True)
def viewer_erase(req: Req) -> Response:
    """GET asks for confirmation; POST erases what tracking holds about the person (an erasure
    request). Their invite and access stay: revoke it on the room page to stop new tracking."""
    user, room, invite = _viewer(req)
    engagement = analytics.viewer_engagement(req.session, room=room, invite=invite)
    ctx = {"room": room, "invite": invite, "viewer": engagement, "errors": {}}
    if req.request.method == "GET":
        return render(req, "analytics/erase.html", ctx)
    if req.field("confirm") != "erase":
        ctx["errors"] = {"confirm": _("Tick the box to confirm the erasure.")}
        raise Rollback(render(req, "analytics/erase.html", ctx, status=422))
    erased = tracking.erase_viewer(req.session, invite=invite)
    suggestions.erase_viewer(req.session, invite=invite)  # impressions, dismissals, holdout
    notifications.erase_viewer(req.session, invite=invite)  # alerts about the person
    audit.record(
        req.session,
        org_id=room.org_id,
        actor=user.public_id,
        action="tracking.erased",
        target=invite.public_id,
        room=room.public_id,
        events=erased,
    )
    url = req.request.url_for("analytics:room", room_id=room.public_id)
    return redirect(req, f"{url.path}?erased={invite.public_id}")


routes = [
    Route("/rooms/{room_id}/analytics", room_analytics, name="analytics:room"),
    Route("/rooms/{room_id}/analytics/events.csv", events_csv, name="analytics:events_csv"),
    Route("/rooms/{room_id}/analytics/pages.csv", pages_csv, name="analytics:pages_csv"),
    Route("/rooms/{room_id}/analytics/daily.csv", daily_csv, name="analytics:daily_csv"),
    Route("/rooms/{room_id}/analytics/items.csv", items_csv, name="analytics:items_csv"),
    Route(
        "/rooms/{room_id}/analytics/viewers/{invite_id}/export",
        viewer_export,
        name="analytics:viewer_export",
    ),
    Route(
        "/rooms/{room_id}/analytics/viewers/{invite_id}/erase",
        viewer_erase,
        methods=["GET", "POST"],
        name="analytics:viewer_erase",
    ),
]
