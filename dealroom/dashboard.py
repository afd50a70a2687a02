"""What the rep and manager dashboards show, beyond the scores (dealroom/scores.py): a live
activity feed across rooms, each room's daily activity (sparklines), a weekday x hour heatmap
in the reader's time zone, the stage distribution and content effectiveness per library item.

Everything reads rollups with grouped queries (`ActivityHour`, `ItemDay`, `ViewerItemStat`), so
the cost follows the number of rooms and days shown, not the number of events; only the feed
reads raw events (the newest few hundred).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from . import analytics, spreadsheet, validate
from .content import CURRENT_VERSION, Document, DocumentVersion, RoomItem
from .db import pk
from .i18n import _
from .invites import Invite
from .rooms import STAGES, Room
from .scores import HEALTHS, RoomScore, rooms_in
from .tracking import ActivityHour, ItemDay, RoomDay, TrackEvent, ViewerItemStat

RANGES = (7, 30, 90)  # the date-range filter, in days
WON, LOST = "closed-won", "closed-lost"
SORTS = ("attention", "name", "rep", "stage", "health", "score", "activity", "engaged")


@dataclass(frozen=True)
class Filters:
    days: int = 30
    rep: str = ""  # a seller's public id, "" for everyone
    stage: str = ""
    health: str = ""
    sort: str = "attention"
    desc: bool = False

    def query(self, **changes: object) -> dict[str, str]:
        """These filters as query parameters (defaults left out), with `changes` applied."""
        values = {
            "days": str(self.days),
            "rep": self.rep,
            "stage": self.stage,
            "health": self.health,
            "sort": self.sort,
            "dir": "desc" if self.desc else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "days" and v == "30")}


def parse_filters(data: Mapping[str, str], *, reps: Sequence[str]) -> Filters:
    """The dashboard's and the API's filters from query parameters; unknown values are field
    errors (422), not silently ignored."""
    values = validate.gather(
        {
            "days": lambda: validate.choice(
                data.get("days"),
                "days",
                label=_("Date range"),
                options=tuple(str(n) for n in RANGES),
                default="30",
            ),
            "rep": lambda: validate.choice(
                data.get("rep"), "rep", label=_("Rep"), options=("", *reps), default=""
            ),
            "stage": lambda: validate.choice(
                data.get("stage"), "stage", label=_("Stage"), options=("", *STAGES), default=""
            ),
            "health": lambda: validate.choice(
                data.get("health"), "health", label=_("Health"), options=("", *HEALTHS), default=""
            ),
            "sort": lambda: validate.choice(
                data.get("sort"), "sort", label=_("Sort"), options=SORTS, default="attention"
            ),
            "dir": lambda: validate.choice(
                data.get("dir"), "dir", label=_("Order"), options=("", "asc", "desc"), default=""
            ),
        }
    )
    return Filters(
        days=int(str(values["days"])),
        rep=str(values["rep"]),
        stage=str(values["stage"]),
        health=str(values["health"]),
        sort=str(values["sort"]),
        desc=values["dir"] == "desc",
    )


def apply_filters(scored: Sequence[RoomScore], filters: Filters) -> list[RoomScore]:
    """Filter by health (rep and stage are applied in the query) and sort."""
    rows = [s for s in scored if not filters.health or s.health == filters.health]
    never = datetime.min.replace(tzinfo=UTC)
    keys: dict[str, Callable[[RoomScore], Any]] = {
        "attention": lambda s: s.attention,
        "name": lambda s: s.room.name.lower(),
        "rep": lambda s: (s.owner.display_name.lower() if s.owner else "", s.room.name.lower()),
        "stage": lambda s: STAGES.index(s.room.stage) if s.room.stage in STAGES else 99,
        "health": lambda s: HEALTHS.index(s.health),
        "score": lambda s: s.score,
        "activity": lambda s: s.last_buyer_activity or never,
        "engaged": lambda s: (s.stakeholders_engaged, s.stakeholders_invited),
    }
    return sorted(rows, key=keys[filters.sort], reverse=filters.desc)


def _since(days: int, today: date) -> datetime:
    return datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)


def _hour_expr(session: Session) -> ColumnElement[str]:
    """An ActivityHour's UTC hour as 'YYYY-MM-DD HH'."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", col(ActivityHour.hour)), "YYYY-MM-DD HH24")
    return func.substr(col(ActivityHour.hour), 1, 13)


def activity(
    session: Session,
    *,
    org_id: int,
    room_ids: Sequence[int],
    days: int,
    today: date,
    zone: tzinfo,
) -> tuple[dict[int, list[int]], list[list[int]]]:
    """The rooms' hourly activity over the last `days` UTC days, as the sparklines (active
    seconds per room and UTC day, zeros included) and the heatmap (active seconds by weekday,
    0 = Monday, and hour, in the reader's time zone).

    Sparklines come from the daily rollup (RoomDay: one row per room and day); the heatmap is
    summed by the database per hour of the period (a month of an organisation's hours is tens of
    thousands of rows, the sums 720), the hours coming back as UTC text."""
    start = today - timedelta(days=days - 1)
    lines = {room_id: [0] * days for room_id in room_ids}
    grid = [[0] * 24 for _day in range(7)]
    if not lines:
        return lines, grid
    for room_id, day, total in session.connection().execute(
        sa_select(col(RoomDay.room_id), col(RoomDay.day), col(RoomDay.active_seconds)).where(
            col(RoomDay.org_id) == org_id,
            rooms_in(col(RoomDay.room_id), list(lines)),
            col(RoomDay.day) >= start,
        )
    ):
        line = lines.get(room_id)
        if line is None:
            continue
        index = (day - start).days
        if 0 <= index < days:
            line[index] += total
    hour = _hour_expr(session)
    # Summed in the database, so only the rooms shown may be in it: a plain IN list here.
    query = (
        sa_select(hour, func.sum(col(ActivityHour.active_seconds)))
        .where(
            col(ActivityHour.org_id) == org_id,
            col(ActivityHour.room_id).in_(list(lines)),
            col(ActivityHour.hour) >= _since(days, today),
        )
        .group_by(hour)
    )
    for key, total in session.connection().execute(query):
        local = datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(zone)
        grid[local.weekday()][local.hour] += int(total or 0)
    return lines, grid


def sparklines(
    session: Session, *, org_id: int, room_ids: Sequence[int], days: int, today: date
) -> dict[int, list[int]]:
    """Active seconds per UTC day for each room over the last `days` days (zeros included)."""
    return activity(session, org_id=org_id, room_ids=room_ids, days=days, today=today, zone=UTC)[0]


def heatmap(
    session: Session,
    *,
    org_id: int,
    room_ids: Sequence[int],
    days: int,
    today: date,
    zone: tzinfo,
) -> list[list[int]]:
    """Active seconds by weekday (0 = Monday) and hour, in the reader's time zone."""
    return activity(session, org_id=org_id, room_ids=room_ids, days=days, today=today, zone=zone)[1]


def stage_counts(rooms: Sequence[Room]) -> list[tuple[str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for room in rooms:
        counts[room.stage] += 1
    return [(stage, counts.get(stage, 0)) for stage in STAGES]


def cold_deals(scored: Sequence[RoomScore]) -> list[RoomScore]:
    """Open deals going cold, the longest silence first."""
    open_ones = [s for s in scored if s.room.stage not in (WON, LOST)]
    cold = [s for s in open_ones if s.health == "going_cold"]
    return sorted(cold, key=lambda s: (-s.silent_days, s.room.name.lower()))


# ---------------------------------------------------------------- content effectiveness


@dataclass
class ContentRow:
    document_id: str
    title: str
    kind: str
    rooms: int  # live rooms the item is placed in
    viewers: int  # people who opened it
    avg_active_seconds: int  # per person who opened it
    completion: float | None  # PDFs and videos: mean share read / watched
    active_seconds_in_range: int
    opened_won: int  # closed-won rooms where somebody opened it ...
    won_rooms: int  # ... of the closed-won rooms it was placed in
    opened_lost: int
    lost_rooms: int


def content_effectiveness(
    session: Session, *, org_id: int, room_ids: Sequence[int], days: int, today: date
) -> list[ContentRow]:
    """Per library document, over the given rooms; the most-read first."""
    docs = {
        doc_id: (public_id, title, kind, file_kind, link_kind, pages)
        for doc_id, public_id, title, kind, file_kind, link_kind, pages in session.execute(
            sa_select(
                col(Document.id),
                col(Document.public_id),
                col(Document.title),
                col(Document.kind),
                col(Document.file_kind),
                col(Document.link_kind),
                col(DocumentVersion.pages),
            )
            .join(
                DocumentVersion,
                CURRENT_VERSION,
                isouter=True,
            )
            .where(
                col(Document.org_id) == org_id,
                col(Document.room_id).is_(None),
                col(Document.archived_at).is_(None),
            )
        )
    }
    if not docs or not room_ids:
        return []
    ids = list(room_ids)
    wanted = set(ids)
    stages = {
        room_id: stage
        for room_id, stage in session.connection().execute(
            sa_select(col(Room.id), col(Room.stage)).where(
                col(Room.org_id) == org_id, rooms_in(col(Room.id), ids)
            )
        )
        if room_id in wanted
    }
    placed: dict[int, tuple[int, int]] = {}  # room item -> (document, room)
    for item_id, doc_id, room_id in session.connection().execute(
        sa_select(col(RoomItem.id), col(RoomItem.document_id), col(RoomItem.room_id)).where(
            col(RoomItem.org_id) == org_id, rooms_in(col(RoomItem.room_id), ids)
        )
    ):
        if item_id is not None and room_id in stages and doc_id in docs:
            placed[item_id] = (doc_id, room_id)
    opened = (col(ViewerItemStat.active_seconds) > 0) | (col(ViewerItemStat.opens) > 0)
    per_item: dict[int, tuple[int, int, int, int, int]] = {}
    for item_id, people, active, pages_done, video, duration in session.connection().execute(
        sa_select(
            col(ViewerItemStat.room_item_id),
            func.count(),
            func.sum(col(ViewerItemStat.active_seconds)),
            func.sum(col(ViewerItemStat.pages_done)),
            func.sum(col(ViewerItemStat.video_seconds)),
            func.sum(col(ViewerItemStat.duration)),
        )
        .where(
            col(ViewerItemStat.org_id) == org_id,
            rooms_in(col(ViewerItemStat.room_id), ids),
            opened,
        )
        .group_by(col(ViewerItemStat.room_item_id))
    ):
        if item_id in placed:
            per_item[item_id] = (
                people,
                int(active or 0),
                int(pages_done or 0),
                int(video or 0),
                int(duration or 0),
            )
    in_range: dict[int, int] = defaultdict(int)
    for room_id, doc_id, seconds in session.connection().execute(
        sa_select(
            col(ItemDay.room_id), col(ItemDay.document_id), func.sum(col(ItemDay.active_seconds))
        )
        .where(
            col(ItemDay.org_id) == org_id,
            rooms_in(col(ItemDay.room_id), ids),
            col(ItemDay.day) >= today - timedelta(days=days - 1),
        )
        .group_by(col(ItemDay.room_id), col(ItemDay.document_id))
    ):
        if room_id in wanted:
            in_range[doc_id] += int(seconds or 0)
    totals: dict[int, dict[str, Any]] = {
        d: defaultdict(int)
        | {"won": set(), "lost": set(), "opened_won": set(), "opened_lost": set()}
        for d in docs
    }
    for item_id, (doc_id, room_id) in placed.items():
        total = totals[doc_id]
        total["rooms"] += 1
        stage = stages.get(room_id)
        people, active, pages_done, video, duration = per_item.get(item_id, (0, 0, 0, 0, 0))
        total["viewers"] += people
        total["active"] += active
        total["pages_done"] += pages_done
        total["video"] += video
        total["duration"] += duration
        if stage == WON:
            total["won"].add(room_id)
            if people:
                total["opened_won"].add(room_id)
        elif stage == LOST:
            total["lost"].add(room_id)
            if people:
                total["opened_lost"].add(room_id)
    rows = []
    for doc_id, (public_id, title, kind, file_kind, link_kind, pages) in docs.items():
        total = totals[doc_id]
        if not total["rooms"]:
            continue
        shown = (
            ("video" if link_kind in analytics.EMBED_VIDEOS else "link")
            if kind == "link"
            else (file_kind or "file")
        )
        completion: float | None = None
        if shown == "pdf" and pages and total["viewers"]:
            completion = min(1.0, total["pages_done"] / (pages * total["viewers"]))
        elif shown == "video" and total["duration"]:
            completion = min(1.0, total["video"] / total["duration"])
        viewers = total["viewers"]
        rows.append(
            ContentRow(
                document_id=public_id,
                title=title,
                kind=shown,
                rooms=total["rooms"],
                viewers=viewers,
                avg_active_seconds=round(total["active"] / viewers) if viewers else 0,
                completion=completion,
                active_seconds_in_range=in_range.get(doc_id, 0),
                opened_won=len(total["opened_won"]),
                won_rooms=len(total["won"]),
                opened_lost=len(total["opened_lost"]),
                lost_rooms=len(total["lost"]),
            )
        )
    rows.sort(key=lambda r: (-r.active_seconds_in_range, -r.viewers, r.title.lower()))
    return rows


def content_api(rows: Sequence[ContentRow]) -> list[dict[str, Any]]:
    return [
        {
            "document_id": r.document_id,
            "title": r.title,
            "kind": r.kind,
            "rooms": r.rooms,
            "viewers": r.viewers,
            "avg_active_seconds": r.avg_active_seconds,
            "completion": None if r.completion is None else round(r.completion, 3),
            "active_seconds_in_range": r.active_seconds_in_range,
            "closed_won": {"opened": r.opened_won, "rooms": r.won_rooms},
            "closed_lost": {"opened": r.opened_lost, "rooms": r.lost_rooms},
        }
        for r in rows
    ]


def rooms_api(scored: Sequence[RoomScore]) -> list[dict[str, Any]]:
    """GET /api/v1/analytics/rooms, exactly the issue's shape."""
    return [
        {
            "room_id": s.room.public_id,
            "name": s.room.name,
            "owner": s.owner.email if s.owner else None,
            "stage": s.room.stage,
            "score": s.score,
            "components": dict(s.components),
            "health": s.health,
            "reasons": list(s.reasons),
            "stakeholders_engaged": s.stakeholders_engaged,
            "stakeholders_invited": s.stakeholders_invited,
            "last_buyer_activity": (
                s.last_buyer_activity.isoformat() if s.last_buyer_activity else None
            ),
        }
        for s in scored
    ]


# ---------------------------------------------------------------- live feed


@dataclass
class FeedLine:
    room: Room
    moment: analytics.Moment


def feed(
    session: Session, *, org_id: int, rooms: Sequence[Room], limit: int = 20
) -> list[FeedLine]:
    """The newest buyer activity across these rooms, consecutive events of one viewer on one
    thing merged ("Kato viewed Pricing p.3–5, 4 min")."""
    by_id = {pk(r): r for r in rooms}
    if not by_id:
        return []
    rows = list(
        session.execute(
            sa_select(
                col(TrackEvent.at),
                col(TrackEvent.room_id),
                col(TrackEvent.invite_id),
                col(TrackEvent.kind),
                col(TrackEvent.room_item_id),
                col(TrackEvent.page),
                col(TrackEvent.seconds),
            )
            .where(
                col(TrackEvent.org_id) == org_id,
                col(TrackEvent.room_id).in_(list(by_id)),
                col(TrackEvent.kind) != "section",
            )
            .order_by(col(TrackEvent.at).desc(), col(TrackEvent.id).desc())
            .limit(limit * 20)
        )
    )
    invite_ids = {row[2] for row in rows}
    item_ids = {row[4] for row in rows if row[4] is not None}
    people = {
        pk(i): i
        for i in session.execute(sa_select(Invite).where(col(Invite.id).in_(invite_ids))).scalars()
    }
    titles = dict(
        session.execute(
            sa_select(col(RoomItem.id), col(Document.title))
            .join(Document, col(Document.id) == col(RoomItem.document_id))
            .where(col(RoomItem.id).in_(item_ids))
        ).all()
    )
    lines: list[FeedLine] = []
    last_key: tuple[Any, ...] | None = None
    for at, room_id, invite_id, kind, item_id, page, seconds in rows:
        invite = people.get(invite_id)
        if invite is None or (item_id is not None and item_id not in titles):
            continue
        merged = "view" if kind in ("view", "open") else kind
        key = (invite_id, merged, item_id)
        if key == last_key and lines:
            moment = lines[-1].moment
            moment.seconds += seconds
            moment.count += 1
            if page and seconds:
                moment.pages.append(page)
            continue
        if len(lines) >= limit:
            break
        moment = analytics.Moment(
            at=at,
            invite=invite,
            kind=merged,
            title=titles.get(item_id, "") if item_id is not None else "",
            seconds=seconds,
            pages=[page] if page and seconds else [],
        )
        lines.append(FeedLine(by_id[room_id], moment))
        last_key = key
    return lines


# ---------------------------------------------------------------- CSV


_csv = spreadsheet.stream


def rooms_csv(scored: Sequence[RoomScore]) -> Iterator[str]:
    header = [
        "room_id",
        "room",
        "rep",
        "stage",
        "health",
        "score",
        *[
            f"component_{name}"
            for name in ("recency", "depth", "breadth", "momentum", "plan", "conversation")
        ],
        "stakeholders_engaged",
        "stakeholders_invited",
        "last_buyer_activity_utc",
        "reasons",
    ]
    rows = (
        [
            s.room.public_id,
            s.room.name,
            s.owner.display_name if s.owner else "",
            s.room.stage,
            s.health,
            s.score,
            *["" if v is None else v for v in s.components.values()],
            s.stakeholders_engaged,
            s.stakeholders_invited,
            s.last_buyer_activity.strftime("%Y-%m-%d %H:%M:%S") if s.last_buyer_activity else "",
            " / ".join(s.reasons),
        ]
        for s in scored
    )
    return _csv(header, rows)


def sparklines_csv(
    scored: Sequence[RoomScore], lines: dict[int, list[int]], days: int, today: date
) -> Iterator[str]:
    start = today - timedelta(days=days - 1)
    header = ["room_id", "room", *[(start + timedelta(days=n)).isoformat() for n in range(days)]]
    rows = ([s.room.public_id, s.room.name, *lines.get(pk(s.room), [])] for s in scored)
    return _csv(header, rows)


def heatmap_csv(grid: list[list[int]], weekdays: Sequence[str]) -> Iterator[str]:
    header = ["weekday", *[f"{h:02d}:00" for h in range(24)]]
    return _csv(header, ([weekdays[n], *grid[n]] for n in range(7)))


def stages_csv(counts: Sequence[tuple[str, int]]) -> Iterator[str]:
    return _csv(["stage", "rooms"], ([stage, n] for stage, n in counts))


def content_csv(rows: Sequence[ContentRow]) -> Iterator[str]:
    header = [
        "document_id",
        "title",
        "kind",
        "rooms",
        "viewers",
        "avg_active_seconds",
        "completion",
        "active_seconds_in_range",
        "opened_in_closed_won",
        "closed_won_rooms",
        "opened_in_closed_lost",
        "closed_lost_rooms",
    ]
    return _csv(
        header,
        (
            [
                r.document_id,
                r.title,
                r.kind,
                r.rooms,
                r.viewers,
                r.avg_active_seconds,
                "" if r.completion is None else round(r.completion, 3),
                r.active_seconds_in_range,
                r.opened_won,
                r.won_rooms,
                r.opened_lost,
                r.lost_rooms,
            ]
            for r in rows
        ),
    )
