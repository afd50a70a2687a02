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

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from . import analytics, spreadsheet, validate
from .content import CURRENT_VERSION, Document, DocumentVersion, RoomItem
from .db import pk
from .i18n import _
from .invites import Invite
from .rooms import STAGES, Room
from .scores import HEALTHS, OPENED, RoomScore, rooms_in
from .tracking import ActivityHour, ItemDay, RoomDay, TrackEvent, ViewerItemStat

RANGES = (7, 30, 90)  # the date-range filter, in days
PAGE_SIZE = 50  # rooms per page of the manager dashboard's table
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
    page: int = 1  # of the rooms table (the charts and CSVs cover every matching room)

    def query(self, **changes: object) -> dict[str, str]:
        """These filters as query parameters (defaults left out), with `changes` applied."""
        values = {
            "days": str(self.days),
            "rep": self.rep,
            "stage": self.stage,
            "health": self.health,
            "sort": self.sort,
            "dir": "desc" if self.desc else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        defaults = {"days": "30", "page": "1"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}


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
            "page": lambda: validate.integer(
                data.get("page") or "1", "page", label=_("Page"), minimum=1, maximum=100_000
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
        page=int(str(values["page"])),
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


@dataclass(frozen=True)
class Page:
    """One page of the rooms table."""

    rows: list[RoomScore]
    number: int  # 1-based
    count: int  # pages in all (at least 1)
    first: int  # 1-based position of the first row shown (0 when there is none)
    last: int
    total: int


def page_of(rows: Sequence[RoomScore], number: int, size: int | None = None) -> Page:
    """The `number`th page of `rows`; a page past the end shows the last one (a filter that
    removed rooms should not leave the manager on an empty page)."""
    size = size or PAGE_SIZE
    count = max(1, -(-len(rows) // size))
    number = min(max(1, number), count)
    start = (number - 1) * size
    shown = list(rows[start : start + size])
    return Page(
        rows=shown,
        number=number,
        count=count,
        first=start + 1 if shown else 0,
        last=start + len(shown),
        total=len(rows),
    )


def _since(days: int, today: date) -> datetime:
    return datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)


def sparklines(
    session: Session, *, org_id: int, room_ids: Sequence[int], days: int, today: date
) -> dict[int, list[int]]:
    """Active seconds per room and UTC day over the last `days` days, from RoomDay."""
    start = today - timedelta(days=days - 1)
    lines = {room_id: [0] * days for room_id in room_ids}
    if not lines:
        return lines
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
    return lines


def activity(
    session: Session,
    *,
    org_id: int,
    room_ids: Sequence[int],
    days: int,
    today: date,
    zone: tzinfo,
    line_ids: Sequence[int] | None = None,
) -> tuple[dict[int, list[int]], list[list[int]]]:
    """The rooms' hourly activity over the last `days` UTC days, as the sparklines (active
    seconds per room and UTC day, zeros included: for `line_ids`, by default every room) and
    the heatmap (active seconds by weekday, 0 = Monday, and hour, in the reader's time zone).

    Sparklines come from the daily rollup (RoomDay: one row per room and day); the heatmap is
    summed by the database per hour of the period (a month of an organisation's hours is tens of
    thousands of rows, the sums 720), the hours coming back as UTC text."""
    lines = sparklines(
        session,
        org_id=org_id,
        room_ids=room_ids if line_ids is None else line_ids,
        days=days,
        today=today,
    )
    grid = [[0] * 24 for _day in range(7)]
    if not room_ids:
        return lines, grid
    # Summed in the database per hour (stored truncated to the hour, so grouping by the
    # column itself is exact and needs no text function); only the rooms shown: an IN list.
    query = (
        sa_select(col(ActivityHour.hour), func.sum(col(ActivityHour.active_seconds)))
        .where(
            col(ActivityHour.org_id) == org_id,
            col(ActivityHour.room_id).in_(list(room_ids)),
            col(ActivityHour.hour) >= _since(days, today),
        )
        .group_by(col(ActivityHour.hour))
    )
    for hour, total in session.connection().execute(query):
        local = hour.astimezone(zone)
        grid[local.weekday()][local.hour] += int(total or 0)
    return lines, grid


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
    # Summed by the database per document (a room holds a document at most once), over
    # exactly the rooms shown: the placements' readers from ViewerItemStat, the time in range
    # from ItemDay. Python sees one row per document, not one per placement.
    ids = list(room_ids)
    readers = (
        sa_select(
            col(ViewerItemStat.room_item_id).label("item_id"),
            func.count().label("people"),
            func.sum(col(ViewerItemStat.active_seconds)).label("active"),
            func.sum(col(ViewerItemStat.pages_done)).label("pages_done"),
            func.sum(col(ViewerItemStat.video_seconds)).label("video"),
            func.sum(col(ViewerItemStat.duration)).label("duration"),
        )
        # The organisation's: the join below keeps the placements in the rooms shown (an IN
        # list here too costs more than the rows it would save).
        .where(col(ViewerItemStat.org_id) == org_id, OPENED)
        .group_by(col(ViewerItemStat.room_item_id))
        .subquery()
    )
    won, lost = col(Room.stage) == WON, col(Room.stage) == LOST
    read = func.coalesce(readers.c.people, 0) > 0
    totals: dict[int, tuple[int, ...]] = {}
    for doc_id, *sums in session.connection().execute(
        sa_select(
            col(RoomItem.document_id),
            func.count(),
            func.sum(readers.c.people),
            func.sum(readers.c.active),
            func.sum(readers.c.pages_done),
            func.sum(readers.c.video),
            func.sum(readers.c.duration),
            func.sum(case((won, 1), else_=0)),
            func.sum(case((won & read, 1), else_=0)),
            func.sum(case((lost, 1), else_=0)),
            func.sum(case((lost & read, 1), else_=0)),
        )
        .select_from(RoomItem)
        .join(Room, col(Room.id) == col(RoomItem.room_id))
        .join(readers, readers.c.item_id == col(RoomItem.id), isouter=True)
        .where(
            col(RoomItem.org_id) == org_id,
            col(Room.org_id) == org_id,
            col(RoomItem.room_id).in_(ids),
        )
        .group_by(col(RoomItem.document_id))
    ):
        if doc_id in docs:
            totals[doc_id] = tuple(int(n or 0) for n in sums)
    in_range = {
        doc_id: int(seconds or 0)
        for doc_id, seconds in session.connection().execute(
            sa_select(col(ItemDay.document_id), func.sum(col(ItemDay.active_seconds)))
            .where(
                col(ItemDay.org_id) == org_id,
                col(ItemDay.room_id).in_(ids),
                col(ItemDay.day) >= today - timedelta(days=days - 1),
            )
            .group_by(col(ItemDay.document_id))
        )
    }
    rows = []
    for doc_id, figures in totals.items():
        public_id, title, kind, file_kind, link_kind, pages = docs[doc_id]
        placed, viewers, active, pages_done, video, duration = figures[:6]
        won_rooms, opened_won, lost_rooms, opened_lost = figures[6:]
        shown = (
            ("video" if link_kind in analytics.EMBED_VIDEOS else "link")
            if kind == "link"
            else (file_kind or "file")
        )
        completion: float | None = None
        if shown == "pdf" and pages and viewers:
            completion = min(1.0, pages_done / (pages * viewers))
        elif shown == "video" and duration:
            completion = min(1.0, video / duration)
        rows.append(
            ContentRow(
                document_id=public_id,
                title=title,
                kind=shown,
                rooms=placed,
                viewers=viewers,
                avg_active_seconds=round(active / viewers) if viewers else 0,
                completion=completion,
                active_seconds_in_range=in_range.get(doc_id, 0),
                opened_won=opened_won,
                won_rooms=won_rooms,
                opened_lost=opened_lost,
                lost_rooms=lost_rooms,
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
    rows = _newest_events(session, org_id=org_id, room_ids=list(by_id), count=limit * 20)
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
    for at, room_id, invite_id, kind, item_id, page, seconds, _id in rows:
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


_FEED_ROW = (
    col(TrackEvent.at),
    col(TrackEvent.room_id),
    col(TrackEvent.invite_id),
    col(TrackEvent.kind),
    col(TrackEvent.room_item_id),
    col(TrackEvent.page),
    col(TrackEvent.seconds),
    col(TrackEvent.id),
)


def _newest_events(session: Session, *, org_id: int, room_ids: list[int], count: int) -> list[Any]:
    """The `count` newest feed events across these rooms, newest first (rows of `_FEED_ROW`).

    Each room is read down its (room_id, at) index, rooms taken by their latest event, each for
    at most `count` events and, once `count` are kept, only for those that can displace one;
    reading stops as soon as no room left can hold anything newer than the `count`-th event
    kept. The work follows the rooms that have something recent, never the size of the
    organisation. One query over all the rooms at once made SQLite take the org_id index, read
    every event of the org and sort them (0.5 s for 25 rooms among 3 million events, on every
    poll of every rep's feed), and PostgreSQL walk the whole org's events newest first until
    the rooms' own turned up (all of them, for quiet rooms in a busy org)."""
    latest = sa_select(func.max(col(TrackEvent.at))).where(col(TrackEvent.room_id) == col(Room.id))
    newest_first = sorted(
        (
            (at, room_id)
            for room_id, at in session.execute(
                sa_select(col(Room.id), latest.scalar_subquery()).where(
                    col(Room.org_id) == org_id, col(Room.id).in_(room_ids)
                )
            )
            if at is not None
        ),
        reverse=True,
    )
    rows: list[Any] = []
    for at, room_id in newest_first:
        since = rows[-1][0] if len(rows) >= count else None
        if since is not None and at < since:
            break  # this room, and every one after it, has nothing newer than what is kept
        rows.extend(session.execute(_room_feed_events(org_id, room_id, since, count)))
        rows.sort(key=lambda row: (row[0], row[-1]), reverse=True)
        del rows[count:]
    return rows


def _room_feed_events(org_id: int, room_id: int, since: datetime | None, count: int) -> Any:
    query = sa_select(*_FEED_ROW).where(
        col(TrackEvent.org_id) == org_id,
        col(TrackEvent.room_id) == room_id,
        col(TrackEvent.kind) != "section",
    )
    if since is not None:
        query = query.where(col(TrackEvent.at) >= since)  # only what can displace a kept event
    return query.order_by(col(TrackEvent.at).desc(), col(TrackEvent.id).desc()).limit(count)


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
