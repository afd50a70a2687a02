"""The rep dashboard (my rooms by what needs attention, a live feed), a room's score
breakdown, the manager dashboard (every room of the team, charts with tables and CSV) and the
organisation's deal-health thresholds.

Charts are drawn by static/dashboard.js from data attributes (the CSP allows no inline script);
each has a table beside it and a CSV download, so the page says everything without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from babel.dates import get_day_names
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .. import accounts, dashboard, scores, suggestions
from ..accounts import User
from ..db import pk, utcnow
from ..errors import InvalidInput, PermissionDenied
from ..i18n import _, current_locale, current_timezone, format_duration, label
from ..rooms import STAGES, Room
from .auth import require_room, require_seller
from .handler import Req, Rollback, endpoint
from .render import redirect, render

FEED_LIMIT = 20
COLD_SHOWN = 10  # going-cold rooms listed on the team dashboard


def require_manager(req: Req) -> User:
    user = require_seller(req)
    if not user.is_manager:
        raise PermissionDenied(_("Only managers and admins of your organisation can see this."))
    return user


def weekday_names() -> list[str]:
    names = get_day_names("abbreviated", locale=current_locale())
    return [names[n] for n in range(7)]


# ---------------------------------------------------------------- rep


def _my_rooms(req: Req, user: User) -> list[Room]:
    return scores.org_rooms(req.session, org_id=user.org_id, owner_id=pk(user))


@endpoint
def mine(req: Req) -> Response:
    """My rooms, what needs attention first, and what buyers are doing right now."""
    user = require_seller(req)
    rooms = _my_rooms(req, user)
    scored = scores.score_rooms(req.session, org_id=user.org_id, rooms=rooms)
    open_rooms = [s for s in scored if s.room.stage not in (dashboard.WON, dashboard.LOST)]
    ctx = {
        "scored": sorted(open_rooms, key=lambda s: s.attention),
        "closed": len(scored) - len(open_rooms),
        "feed": dashboard.feed(req.session, org_id=user.org_id, rooms=rooms, limit=FEED_LIMIT),
        "now": utcnow(),
    }
    return render(req, "dashboard/mine.html", ctx)


@endpoint
def feed(req: Req) -> Response:
    """The live feed alone (the rep dashboard polls it)."""
    user = require_seller(req)
    rooms = _my_rooms(req, user)
    lines = dashboard.feed(req.session, org_id=user.org_id, rooms=rooms, limit=FEED_LIMIT)
    return render(req, "dashboard/_feed.html", {"feed": lines, "now": utcnow()})


@endpoint
def room(req: Req) -> Response:
    """One room's score: its components with their weights, the reasons, each viewer's score."""
    _user, the_room = require_room(req)
    ctx = {
        "room": the_room,
        "scored": scores.room_score(req.session, room=the_room),
        "viewers": scores.score_viewers(req.session, room=the_room),
        "weights": scores.WEIGHTS,
        "component_label": scores.component_label,
    }
    return render(req, "dashboard/room.html", ctx)


# ---------------------------------------------------------------- manager


def _team(req: Req, user: User, *, every_line: bool = False) -> dict[str, Any]:
    """Everything the manager dashboard and its CSVs read, for the request's filters: the
    sparklines of the table's page only, or of every room (`every_line`, the daily CSV)."""
    team = accounts.team(req.session, org_id=user.org_id)
    filters = dashboard.parse_filters(
        req.request.query_params, reps=[member.public_id for member in team]
    )
    owner = next((m for m in team if m.public_id == filters.rep), None)
    rooms = scores.org_rooms(
        req.session,
        org_id=user.org_id,
        owner_id=pk(owner) if owner else None,
        stage=filters.stage,
    )
    scored = scores.score_rooms(req.session, org_id=user.org_id, rooms=rooms)
    rows = dashboard.apply_filters(scored, filters)
    page = dashboard.page_of(rows, filters.page)
    today = utcnow().date()
    ids = [pk(s.room) for s in rows]
    lines, grid = dashboard.activity(
        req.session,
        org_id=user.org_id,
        room_ids=ids,
        days=filters.days,
        today=today,
        zone=current_timezone(),
        line_ids=None if every_line else [pk(s.room) for s in page.rows],
    )
    return {
        "team": team,
        "filters": filters,
        "rows": rows,
        "room_ids": ids,  # of `rows`
        "page": page,
        "today": today,
        "lines": lines,
        "heatmap": grid,
        "stages": dashboard.stage_counts([s.room for s in rows]),
        "cold": dashboard.cold_deals(rows),
        "content": dashboard.content_effectiveness(
            req.session, org_id=user.org_id, room_ids=ids, days=filters.days, today=today
        ),
    }


def _levels(grid: list[list[int]]) -> list[list[int]]:
    """0-4 per heatmap cell: 0 is no time, 1-4 rise with the cell's share of the busiest."""
    top = max((v for row in grid for v in row), default=0)
    return [
        [0 if not v or not top else 1 + min(3, int(4 * v / (top + 1))) for v in row] for row in grid
    ]


def _charts(data: dict[str, Any], stage_labels: dict[str, str]) -> dict[str, Any]:
    """What static/dashboard.js draws."""
    return {
        "stages": {
            "labels": [stage_labels[stage] for stage, _n in data["stages"]],
            "values": [n for _stage, n in data["stages"]],
            "label": _("Rooms"),
        },
        "content": {
            "labels": [row.title for row in data["content"][:15]],
            "values": [round(row.avg_active_seconds / 60, 1) for row in data["content"][:15]],
            "text": [format_duration(row.avg_active_seconds) for row in data["content"][:15]],
            "label": _("Average active time per reader (minutes)"),
        },
    }


def stage_labels() -> dict[str, str]:
    return {stage: label(stage, "stage") for stage in STAGES}


@endpoint
def team(req: Req) -> Response:
    user = require_manager(req)
    data = _team(req, user)
    labels = stage_labels()
    filters: dashboard.Filters = data["filters"]
    ctx = {
        **data,
        "ranges": dashboard.RANGES,
        "stage_names": labels,
        "healths": scores.HEALTHS,
        "weekdays": weekday_names(),
        "levels": _levels(data["heatmap"]),
        "heat_total": sum(sum(row) for row in data["heatmap"]),
        "charts": _charts(data, labels),
        "sparks": {s.room.public_id: data["lines"].get(pk(s.room), []) for s in data["page"].rows},
        # The CSVs cover every matching room, whatever page of the table is shown.
        "query": filters.query(page=1),
        "page_query": {
            n: filters.query(page=n) for n in (data["page"].number - 1, data["page"].number + 1)
        },
        "sort_query": {
            column: filters.query(
                sort=column, dir="" if filters.sort == column and filters.desc else "desc", page=1
            )
            if column == filters.sort
            else filters.query(sort=column, dir="", page=1)
            for column in dashboard.SORTS
        },
        # The longest silences; the rest are one click away in the table.
        "cold_shown": COLD_SHOWN,
        "cold_query": filters.query(health="going_cold", sort="activity", dir="", page=1),
        "timezone": getattr(current_timezone(), "key", "UTC"),
        # The measured effect of suggestions in the rooms shown (issue 5, P10).
        "suggestion_lift": suggestions.lift(
            req.session, org_id=user.org_id, room_ids=data["room_ids"]
        ),
    }
    return render(req, "dashboard/team.html", ctx, fragment="dashboard/_team_live.html")


def _csv(req: Req, build: Any, name: str) -> Response:
    """A chart's numbers as CSV. Not audited, unlike a room's event export: these are the
    team's aggregate figures (per room, stage or document), not what a person read."""
    user = require_manager(req)
    data = _team(req, user, every_line=True)
    # Built now, inside the request's transaction: the figures are small (one row per room or
    # document), unlike a room's raw events.
    body = list(build(data))

    def chunks() -> Iterator[bytes]:
        for chunk in body:
            yield chunk.encode("utf-8")

    stamp = date.today().isoformat()
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="dashboard-{name}-{stamp}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


@endpoint
def rooms_csv(req: Req) -> Response:
    return _csv(req, lambda d: dashboard.rooms_csv(d["rows"]), "rooms")


@endpoint
def sparklines_csv(req: Req) -> Response:
    return _csv(
        req,
        lambda d: dashboard.sparklines_csv(d["rows"], d["lines"], d["filters"].days, d["today"]),
        "daily",
    )


@endpoint
def heatmap_csv(req: Req) -> Response:
    return _csv(req, lambda d: dashboard.heatmap_csv(d["heatmap"], weekday_names()), "heatmap")


@endpoint
def stages_csv(req: Req) -> Response:
    return _csv(req, lambda d: dashboard.stages_csv(d["stages"]), "stages")


@endpoint
def content_csv(req: Req) -> Response:
    return _csv(req, lambda d: dashboard.content_csv(d["content"]), "content")


# ---------------------------------------------------------------- thresholds (admin)


@endpoint(form=True)
def health_settings(req: Req) -> Response:
    user = require_seller(req)
    if not user.is_admin:
        raise PermissionDenied(_("Only admins of your organisation can do this."))
    current = scores.health_settings(req.session, org_id=user.org_id)
    values = {name: str(getattr(current, name)) for name in scores.SETTING_FIELDS}
    ctx: dict[str, Any] = {"values": values, "errors": {}, "saved": False}
    if req.request.method == "GET":
        ctx["saved"] = req.request.query_params.get("saved") == "1"
        return render(req, "dashboard/settings.html", ctx)
    data = req.fields(*scores.SETTING_FIELDS)
    try:
        scores.update_health_settings(req.session, user=user, data=data)
    except InvalidInput as exc:
        ctx.update(values=data, errors=exc.fields)
        raise Rollback(render(req, "dashboard/settings.html", ctx, status=422)) from None
    url = req.request.url_for("dashboard:settings")
    return redirect(req, f"{url.path}?saved=1")


routes = [
    Route("/dashboard", mine, name="dashboard:mine"),
    Route("/dashboard/feed", feed, name="dashboard:feed"),
    Route("/dashboard/rooms/{room_id}", room, name="dashboard:room"),
    Route("/dashboard/team", team, name="dashboard:team"),
    Route("/dashboard/team/rooms.csv", rooms_csv, name="dashboard:rooms_csv"),
    Route("/dashboard/team/daily.csv", sparklines_csv, name="dashboard:daily_csv"),
    Route("/dashboard/team/heatmap.csv", heatmap_csv, name="dashboard:heatmap_csv"),
    Route("/dashboard/team/stages.csv", stages_csv, name="dashboard:stages_csv"),
    Route("/dashboard/team/content.csv", content_csv, name="dashboard:content_csv"),
    Route(
        "/dashboard/settings",
        health_settings,
        methods=["GET", "POST"],
        name="dashboard:settings",
    ),
]
