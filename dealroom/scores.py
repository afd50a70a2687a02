"""Engagement scores and deal health, read from the tracking rollups at read time.

A score is 0-100 and is the weighted mean of named components, each 0-100, so a seller can read
why a room scores what it does (unlike a black-box score):

    component     weight  100 means                                    0 means
    recency         25    buyer activity within the last day            none for RECENCY_ZERO_DAYS
    depth           20    DEPTH_ROOM_SECONDS of active time (viewer:    no active time
                          DEPTH_VIEWER_SECONDS), linear up to it
    breadth         20    room: every invited stakeholder engaged and   nobody, nothing
                          every item opened (the mean of both shares);
                          viewer: every item of the room opened
    momentum        15    all of the last 28 days' activity fell in     all of it fell in the 14
                          the last 14 days; 50 is steady                days before (or none)
    plan            10    the mutual action plan is done (viewer:       nothing done
                          the tasks they own)
    conversation    10    CONVERSATION_ROOM buyer chat messages         no message
                          (viewer: CONVERSATION_VIEWER)

A component that does not apply (a room without a plan, a viewer who owns no task) is left out
and the other weights are scaled up, rather than counting an absent plan as failure (P9: no fake
precision). Momentum comes from `RoomDay` for rooms and from `Visit` for viewers.

Deal health, in this order (thresholds are the organisation's `HealthSettings`):

    going_cold  no buyer activity for `cold_silence_days` (a room nobody visited yet: since it
                was created), or the score is below `cold_score` after some activity;
    at_risk     silence of `at_risk_silence_days`, a score below `at_risk_score`, an overdue task
                owned by a buyer, or falling momentum (below FALLING_MOMENTUM);
    on_track    otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Index, case, func, true
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col

from . import audit, validate
from .accounts import User
from .content import RoomItem
from .db import pk, utcnow
from .errors import InvalidInput, PermissionDenied
from .i18n import _, format_duration
from .invites import Invite
from .rooms import Room
from .tasks import Task
from .tracking import ActivityHour, ItemDay, RoomDay, ViewerItemStat, ViewerStat, Visit

WEIGHTS = {
    "recency": 25,
    "depth": 20,
    "breadth": 20,
    "momentum": 15,
    "plan": 10,
    "conversation": 10,
}
COMPONENTS = tuple(WEIGHTS)
HEALTHS = ("on_track", "at_risk", "going_cold")

RECENCY_FULL_DAYS = 1  # activity this recent scores 100
RECENCY_ZERO_DAYS = 30  # ... and this old scores 0, linearly in between
DEPTH_ROOM_SECONDS = 3600  # an hour of the committee's attention is a deeply engaged room
DEPTH_VIEWER_SECONDS = 1200
CONVERSATION_ROOM = 10
CONVERSATION_VIEWER = 5
MOMENTUM_DAYS = 14
ACTIVE_WEEK = timedelta(days=7)  # "active this week"
FALLING_MOMENTUM = 35  # below this the last 14 days had under ~54% of the 14 before
ECONOMIC_BUYER = "economic_buyer"
ECONOMIC_SILENCE_DAYS = 7  # an economic buyer quieter than this is worth a reason
MAX_REASONS = 3


# ---------------------------------------------------------------- components (pure)


def recency(last: datetime | None, now: datetime) -> int:
    if last is None:
        return 0
    days = (now - last).total_seconds() / 86400
    if days <= RECENCY_FULL_DAYS:
        return 100
    if days >= RECENCY_ZERO_DAYS:
        return 0
    span = RECENCY_ZERO_DAYS - RECENCY_FULL_DAYS
    return round(100 * (RECENCY_ZERO_DAYS - days) / span)


def depth(seconds: int, target: int) -> int:
    return round(100 * min(1.0, max(0, seconds) / target))


def share(part: int, whole: int) -> float:
    return min(1.0, part / whole) if whole > 0 else 0.0


def breadth(engaged: int, invited: int, opened: int, items: int) -> int:
    """The room's: the mean of the shares of stakeholders engaged and items opened."""
    return round(100 * (share(engaged, invited) + share(opened, items)) / 2)


def momentum(recent: int, previous: int) -> int:
    """The last 14 days' share of the last 28 days' activity: 50 is steady, 0 without any."""
    total = recent + previous
    return round(100 * recent / total) if total > 0 else 0


def plan(done: int, total: int) -> int | None:
    """Share of the plan done; None (left out of the score) when there is no plan."""
    return round(100 * done / total) if total > 0 else None


def conversation(messages: int, target: int) -> int:
    return round(100 * min(1.0, max(0, messages) / target))


def combine(components: Mapping[str, int | None]) -> int:
    """The weighted mean of the components that apply."""
    weights = {name: WEIGHTS[name] for name, value in components.items() if value is not None}
    total = sum(weights.values())
    if not total:
        return 0
    return round(sum(WEIGHTS[n] * (components[n] or 0) for n in weights) / total)


# ---------------------------------------------------------------- read indexes

# The dashboards read an organisation's rollups by time range (the last 28 days of every room,
# 30 days of heatmap and sparklines, content read in a range). These covering indexes let both
# databases answer from the index alone instead of visiting every row of the organisation's
# history. They are declared here, next to the reads that need them (migration 0013).
ROLLUP_READ_INDEXES = (
    Index(
        "ix_activity_hour_org_hour",
        ActivityHour.__table__.c.org_id,  # type: ignore[attr-defined]
        ActivityHour.__table__.c.hour,  # type: ignore[attr-defined]
        ActivityHour.__table__.c.room_id,  # type: ignore[attr-defined]
        ActivityHour.__table__.c.active_seconds,  # type: ignore[attr-defined]
    ),
    Index(
        "ix_item_day_org_day",
        ItemDay.__table__.c.org_id,  # type: ignore[attr-defined]
        ItemDay.__table__.c.day,  # type: ignore[attr-defined]
        ItemDay.__table__.c.room_id,  # type: ignore[attr-defined]
        ItemDay.__table__.c.document_id,  # type: ignore[attr-defined]
        ItemDay.__table__.c.active_seconds,  # type: ignore[attr-defined]
    ),
)
FEW_ROOMS = 50  # up to this many rooms are named in the query; more read the whole organisation


# A viewer "opened" an item: active time on it, or an open recorded (scores and the dashboard's
# content effectiveness count the same thing).
OPENED = (col(ViewerItemStat.active_seconds) > 0) | (col(ViewerItemStat.opens) > 0)


def rooms_in(column: Any, room_ids: Sequence[int]) -> Any:
    """`column IN (room_ids)` for a few rooms; for many, no condition (the query is already
    scoped to the organisation and the caller keeps only its rooms' rows): a 500-value IN
    list costs more to compile and plan than the rows it saves."""
    return column.in_(list(room_ids)) if len(room_ids) <= FEW_ROOMS else true()


# ---------------------------------------------------------------- health settings


class HealthSettings(SQLModel, table=True):
    """An organisation's deal-health thresholds (defaults until an admin changes them)."""

    __tablename__ = "health_settings"
    org_id: int = Field(foreign_key="org.id", primary_key=True)
    at_risk_score: int = 50
    cold_score: int = 25
    at_risk_silence_days: int = 7
    cold_silence_days: int = 14
    updated_at: datetime = Field(default_factory=utcnow)


SETTING_FIELDS = ("at_risk_score", "cold_score", "at_risk_silence_days", "cold_silence_days")


def health_settings(session: Session, *, org_id: int) -> HealthSettings:
    row = session.get(HealthSettings, org_id)
    return row if row is not None else HealthSettings(org_id=org_id)


def update_health_settings(
    session: Session, *, user: User, data: Mapping[str, object]
) -> HealthSettings:
    if not user.is_admin:
        raise PermissionDenied(_("Only admins of your organisation can do this."))
    values = validate.gather(
        {
            "at_risk_score": lambda: validate.integer(
                data.get("at_risk_score"),
                "at_risk_score",
                label=_("At risk below score"),
                minimum=0,
                maximum=100,
            ),
            "cold_score": lambda: validate.integer(
                data.get("cold_score"),
                "cold_score",
                label=_("Going cold below score"),
                minimum=0,
                maximum=100,
            ),
            "at_risk_silence_days": lambda: validate.integer(
                data.get("at_risk_silence_days"),
                "at_risk_silence_days",
                label=_("At risk after days of silence"),
                minimum=1,
                maximum=365,
            ),
            "cold_silence_days": lambda: validate.integer(
                data.get("cold_silence_days"),
                "cold_silence_days",
                label=_("Going cold after days of silence"),
                minimum=1,
                maximum=365,
            ),
        }
    )
    errors = {}
    if int(str(values["cold_score"])) > int(str(values["at_risk_score"])):
        errors["cold_score"] = _("The going-cold score must not be above the at-risk score.")
    if int(str(values["cold_silence_days"])) <= int(str(values["at_risk_silence_days"])):
        errors["cold_silence_days"] = _("Going cold must take more days of silence than at risk.")
    if errors:
        raise InvalidInput(fields=errors)
    row = session.get(HealthSettings, user.org_id) or HealthSettings(org_id=user.org_id)
    for name in SETTING_FIELDS:
        setattr(row, name, int(str(values[name])))
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="health.settings_changed",
        target=user.public_id,
        **{name: getattr(row, name) for name in SETTING_FIELDS},
    )
    return row


def health(
    *,
    score: int,
    momentum: int,
    overdue_buyer_tasks: int,
    silent_days: int,
    had_activity: bool,
    settings: HealthSettings,
) -> str:
    """on_track / at_risk / going_cold (see the module docstring)."""
    if silent_days >= settings.cold_silence_days:
        return "going_cold"
    if had_activity and score < settings.cold_score:
        return "going_cold"
    if silent_days >= settings.at_risk_silence_days or overdue_buyer_tasks > 0:
        return "at_risk"
    if had_activity and (score < settings.at_risk_score or momentum < FALLING_MOMENTUM):
        return "at_risk"
    return "on_track"


# ---------------------------------------------------------------- facts, read in bulk


@dataclass
class Stakeholder:
    name: str
    role: str
    last_seen: datetime | None
    active_seconds: int = 0


@dataclass
class RoomFacts:
    invited: int = 0
    engaged: int = 0
    active_week: int = 0
    last_activity: datetime | None = None
    active_seconds: int = 0
    messages: int = 0
    items: int = 0
    items_opened: int = 0
    recent: int = 0  # active seconds, last 14 days (RoomDay)
    previous: int = 0  # ... and the 14 before
    tasks_total: int = 0
    tasks_done: int = 0
    overdue_buyer_tasks: int = 0
    economic_buyers: list[Stakeholder] = field(default_factory=list)


def room_facts(
    session: Session, *, org_id: int, room_ids: Sequence[int], now: datetime
) -> dict[int, RoomFacts]:
    """Everything the scores need for many rooms, in a handful of grouped queries (no
    per-room query: the manager dashboard reads 500 rooms at once)."""
    facts = {room_id: RoomFacts() for room_id in room_ids}
    if not facts:
        return facts
    ids = list(facts)
    week_ago = now - ACTIVE_WEEK
    # Counted per room by the database (5,000 invites are 500 rows), then the economic
    # buyers alone, whose names the reasons quote.
    active = func.coalesce(col(ViewerStat.active_seconds), 0)
    engaged = (active > 0) | (func.coalesce(col(ViewerStat.visits), 0) > 0)
    joined = (
        sa_select(
            col(Invite.room_id),
            func.count(),
            func.sum(case((engaged, 1), else_=0)),
            func.sum(case((col(ViewerStat.last_seen) >= week_ago, 1), else_=0)),
            func.max(col(ViewerStat.last_seen)),
            func.sum(active),
            func.sum(func.coalesce(col(ViewerStat.messages), 0)),
        )
        .join(ViewerStat, col(ViewerStat.invite_id) == col(Invite.id), isouter=True)
        .where(
            col(Invite.org_id) == org_id,
            rooms_in(col(Invite.room_id), ids),
            col(Invite.revoked_at).is_(None),
        )
        .group_by(col(Invite.room_id))
    )
    for (
        room_id,
        invited,
        engaged_count,
        week,
        last_seen,
        seconds,
        messages,
    ) in session.connection().execute(joined):
        fact = facts.get(room_id)
        if fact is None:
            continue
        fact.invited, fact.engaged = invited, int(engaged_count or 0)
        fact.active_week, fact.last_activity = int(week or 0), last_seen
        fact.active_seconds, fact.messages = int(seconds or 0), int(messages or 0)
    for room_id, name, email, last_seen, seconds in session.connection().execute(
        sa_select(
            col(Invite.room_id),
            col(Invite.name),
            col(Invite.email),
            col(ViewerStat.last_seen),
            col(ViewerStat.active_seconds),
        )
        .join(ViewerStat, col(ViewerStat.invite_id) == col(Invite.id), isouter=True)
        .where(
            col(Invite.org_id) == org_id,
            rooms_in(col(Invite.room_id), ids),
            col(Invite.revoked_at).is_(None),
            col(Invite.role) == ECONOMIC_BUYER,
        )
        .order_by(col(Invite.id))
    ):
        fact = facts.get(room_id)
        if fact is not None:
            fact.economic_buyers.append(
                Stakeholder(name or email, ECONOMIC_BUYER, last_seen, seconds or 0)
            )
    for room_id, count in session.connection().execute(
        sa_select(col(RoomItem.room_id), func.count())
        .where(col(RoomItem.org_id) == org_id, rooms_in(col(RoomItem.room_id), ids))
        .group_by(col(RoomItem.room_id))
    ):
        if room_id in facts:
            facts[room_id].items = count
    for room_id, count in session.connection().execute(
        sa_select(
            col(ViewerItemStat.room_id), func.count(func.distinct(ViewerItemStat.room_item_id))
        )
        .where(
            col(ViewerItemStat.org_id) == org_id,
            rooms_in(col(ViewerItemStat.room_id), ids),
            OPENED,
        )
        .group_by(col(ViewerItemStat.room_id))
    ):
        if room_id in facts:
            facts[room_id].items_opened = count
    # Whole UTC days from the daily rollup: the last MOMENTUM_DAYS (today included) against
    # the MOMENTUM_DAYS before.
    split = now.date() - timedelta(days=MOMENTUM_DAYS - 1)
    start = split - timedelta(days=MOMENTUM_DAYS)
    seconds = col(RoomDay.active_seconds)
    for room_id, recent, previous in session.connection().execute(
        sa_select(
            col(RoomDay.room_id),
            func.sum(case((col(RoomDay.day) >= split, seconds), else_=0)),
            func.sum(case((col(RoomDay.day) < split, seconds), else_=0)),
        )
        .where(
            col(RoomDay.org_id) == org_id,
            rooms_in(col(RoomDay.room_id), ids),
            col(RoomDay.day) >= start,
        )
        .group_by(col(RoomDay.room_id))
    ):
        if room_id in facts:
            facts[room_id].recent, facts[room_id].previous = int(recent or 0), int(previous or 0)
    today = now.date()
    done = case((col(Task.status) == "done", 1), else_=0)
    overdue = case(
        (
            (col(Task.status) != "done")
            & col(Task.owner_invite_id).is_not(None)
            & (col(Task.due_date) < today),
            1,
        ),
        else_=0,
    )
    for room_id, total, done_count, overdue_count in session.connection().execute(
        sa_select(col(Task.room_id), func.count(), func.sum(done), func.sum(overdue))
        .where(col(Task.org_id) == org_id, rooms_in(col(Task.room_id), ids))
        .group_by(col(Task.room_id))
    ):
        fact = facts.get(room_id)
        if fact is None:
            continue
        fact.tasks_total, fact.tasks_done = total, int(done_count or 0)
        fact.overdue_buyer_tasks = int(overdue_count or 0)
    return facts


# ---------------------------------------------------------------- room scores


@dataclass
class RoomScore:
    room: Room
    owner: User | None
    score: int
    components: dict[str, int | None]
    health: str
    reasons: list[str]
    facts: RoomFacts
    silent_days: int

    @property
    def stakeholders_engaged(self) -> int:
        return self.facts.engaged

    @property
    def stakeholders_invited(self) -> int:
        return self.facts.invited

    @property
    def last_buyer_activity(self) -> datetime | None:
        return self.facts.last_activity

    @property
    def attention(self) -> tuple[int, int, str]:
        """Sort key for "what needs attention": going cold, then at risk, then on track; within
        each, the lowest score first."""
        return (HEALTHS[::-1].index(self.health), self.score, self.room.name.lower())


def _days(now: datetime, then: datetime) -> int:
    return max(0, int((now - then).total_seconds() // 86400))


def reasons(facts: RoomFacts, components: Mapping[str, int | None], now: datetime) -> list[str]:
    """The top reasons behind a room's score, in plain words, most telling first."""
    return list(islice(_reasons(facts, components, now), MAX_REASONS))


def _reasons(
    facts: RoomFacts, components: Mapping[str, int | None], now: datetime
) -> Iterator[str]:
    """Every reason, the most telling first: the caller stops after the first few, so the
    rest are never worded (the team dashboard words them for 500 rooms)."""
    if facts.last_activity is None:
        yield _("No buyer has opened the room yet")
    elif (silent := _days(now, facts.last_activity)) >= ECONOMIC_SILENCE_DAYS:
        yield _("No buyer activity for %(days)s days", days=silent)
    for buyer in facts.economic_buyers:
        if buyer.last_seen is None:
            yield _("Economic buyer %(name)s has not opened the room", name=buyer.name)
        elif (silent := _days(now, buyer.last_seen)) >= ECONOMIC_SILENCE_DAYS:
            yield _("Economic buyer silent %(days)s days", days=silent)
    if facts.overdue_buyer_tasks:
        yield _("%(count)s overdue buyer tasks in the plan", count=facts.overdue_buyer_tasks)
    if facts.invited:
        yield _(
            "%(active)s of %(invited)s stakeholders active this week",
            active=facts.active_week,
            invited=facts.invited,
        )
    if facts.recent or facts.previous:
        if facts.previous and facts.recent >= 2 * facts.previous:
            yield _("Activity more than doubled in the last 14 days")
        elif (components.get("momentum") or 0) < FALLING_MOMENTUM:
            yield _("Activity fell in the last 14 days")
    if facts.tasks_total:
        yield _(
            "Mutual plan %(done)s of %(total)s tasks done",
            done=facts.tasks_done,
            total=facts.tasks_total,
        )
    if facts.messages:
        yield _("%(count)s buyer messages in the chat", count=facts.messages)
    if facts.active_seconds:
        yield _("%(time)s of active time in total", time=format_duration(facts.active_seconds))


def room_components(facts: RoomFacts, now: datetime) -> dict[str, int | None]:
    return {
        "recency": recency(facts.last_activity, now),
        "depth": depth(facts.active_seconds, DEPTH_ROOM_SECONDS),
        "breadth": breadth(facts.engaged, facts.invited, facts.items_opened, facts.items),
        "momentum": momentum(facts.recent, facts.previous),
        "plan": plan(facts.tasks_done, facts.tasks_total),
        "conversation": conversation(facts.messages, CONVERSATION_ROOM),
    }


def score_rooms(
    session: Session,
    *,
    org_id: int,
    rooms: Sequence[Room],
    now: datetime | None = None,
    settings: HealthSettings | None = None,
) -> list[RoomScore]:
    now = now or utcnow()
    settings = settings or health_settings(session, org_id=org_id)
    facts = room_facts(session, org_id=org_id, room_ids=[pk(r) for r in rooms], now=now)
    owner_ids = {r.owner_id for r in rooms}
    owners = {
        u.id: u
        for u in session.execute(sa_select(User).where(col(User.id).in_(owner_ids))).scalars()
    }
    scored = []
    for room in rooms:
        fact = facts[pk(room)]
        components = room_components(fact, now)
        score = combine(components)
        since = fact.last_activity or room.created_at
        silent = _days(now, since)
        state = health(
            score=score,
            momentum=components["momentum"] or 0,
            overdue_buyer_tasks=fact.overdue_buyer_tasks,
            silent_days=silent,
            had_activity=fact.last_activity is not None,
            settings=settings,
        )
        scored.append(
            RoomScore(
                room=room,
                owner=owners.get(room.owner_id),
                score=score,
                components=components,
                health=state,
                reasons=reasons(fact, components, now),
                facts=fact,
                silent_days=silent,
            )
        )
    return scored


def org_rooms(
    session: Session, *, org_id: int, owner_id: int | None = None, stage: str = ""
) -> list[Room]:
    """The organisation's live (not archived) rooms, optionally one rep's or one stage's."""
    query = sa_select(Room).where(col(Room.org_id) == org_id, col(Room.archived_at).is_(None))
    if owner_id is not None:
        query = query.where(col(Room.owner_id) == owner_id)
    if stage:
        query = query.where(col(Room.stage) == stage)
    return list(session.execute(query.order_by(col(Room.name), col(Room.id))).scalars())


def room_score(session: Session, *, room: Room, now: datetime | None = None) -> RoomScore:
    [scored] = score_rooms(session, org_id=room.org_id, rooms=[room], now=now)
    return scored


# ---------------------------------------------------------------- viewer scores


@dataclass
class ViewerScore:
    invite: Invite
    score: int
    components: dict[str, int | None]
    last_seen: datetime | None
    active_seconds: int


def score_viewers(
    session: Session, *, room: Room, now: datetime | None = None
) -> list[ViewerScore]:
    """Each non-revoked viewer of the room, highest score first."""
    now = now or utcnow()
    people = list(
        session.execute(
            sa_select(Invite).where(
                col(Invite.room_id) == pk(room), col(Invite.revoked_at).is_(None)
            )
        ).scalars()
    )
    stats = {
        row[0]: row
        for row in session.execute(
            sa_select(
                col(ViewerStat.invite_id),
                col(ViewerStat.active_seconds),
                col(ViewerStat.messages),
                col(ViewerStat.last_seen),
            ).where(col(ViewerStat.room_id) == pk(room))
        )
    }
    items = session.execute(
        sa_select(func.count()).where(col(RoomItem.room_id) == pk(room))
    ).scalar_one()
    opened: dict[int, int] = dict(
        session.execute(  # type: ignore[arg-type]
            sa_select(col(ViewerItemStat.invite_id), func.count())
            .where(
                col(ViewerItemStat.room_id) == pk(room),
                OPENED,
            )
            .group_by(col(ViewerItemStat.invite_id))
        ).all()
    )
    split = now - timedelta(days=MOMENTUM_DAYS)
    start = now - timedelta(days=2 * MOMENTUM_DAYS)
    trend: dict[int, tuple[int, int]] = {}
    for invite_id, recent, previous in session.execute(
        sa_select(
            col(Visit.invite_id),
            func.sum(case((col(Visit.started_at) >= split, col(Visit.active_seconds)), else_=0)),
            func.sum(case((col(Visit.started_at) < split, col(Visit.active_seconds)), else_=0)),
        )
        .where(col(Visit.room_id) == pk(room), col(Visit.started_at) >= start)
        .group_by(col(Visit.invite_id))
    ):
        trend[invite_id] = (int(recent or 0), int(previous or 0))
    owned: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for invite_id, status in session.execute(
        sa_select(col(Task.owner_invite_id), col(Task.status)).where(
            col(Task.room_id) == pk(room), col(Task.owner_invite_id).is_not(None)
        )
    ):
        owned[invite_id][1] += 1
        owned[invite_id][0] += status == "done"
    scores = []
    for invite in people:
        stat = stats.get(pk(invite))
        active = stat[1] if stat else 0
        last_seen = stat[3] if stat else None
        done, total = owned.get(pk(invite), [0, 0])
        components: dict[str, int | None] = {
            "recency": recency(last_seen, now),
            "depth": depth(active, DEPTH_VIEWER_SECONDS),
            "breadth": round(100 * share(opened.get(pk(invite), 0), items)),
            "momentum": momentum(*trend.get(pk(invite), (0, 0))),
            "plan": plan(done, total),
            "conversation": conversation(stat[2] if stat else 0, CONVERSATION_VIEWER),
        }
        scores.append(ViewerScore(invite, combine(components), components, last_seen, active))
    scores.sort(key=lambda s: (-s.score, s.invite.display_name.lower()))
    return scores


def component_label(name: str) -> str:
    labels = {
        "recency": _("Recency"),
        "depth": _("Depth"),
        "breadth": _("Breadth"),
        "momentum": _("Momentum"),
        "plan": _("Mutual plan"),
        "conversation": _("Conversation"),
    }
    return labels[name]


def health_label(value: str) -> str:
    labels = {
        "on_track": _("On track"),
        "at_risk": _("At risk"),
        "going_cold": _("Going cold"),
    }
    return labels[value]
