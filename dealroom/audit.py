"""Audit log: who did what, when (invites, revocations, approvals, uploads, downloads, settings).

Actions are "<noun>.<verb>" strings (`invite.revoked`, `room.updated`, `content.downloaded`);
actors are public ids (`usr_…` sellers, `inv_…` buyers), an email (someone asking for access)
or "system". Admins read it on /team/audit, filtered and paged, and export it as CSV.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from . import spreadsheet, validate
from .db import utcnow
from .errors import InvalidInput
from .i18n import _


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    actor: str = Field(max_length=300)  # "usr_…", "inv_…" or "system"
    action: str = Field(max_length=60)  # e.g. "invite.created"
    target: str = Field(default="", max_length=120)  # public id of the object acted on
    detail: str = Field(default="{}", max_length=4000)  # small JSON object
    created_at: datetime = Field(default_factory=utcnow, index=True)


def record(
    session: Session, *, org_id: int, actor: str, action: str, target: str = "", **detail: object
) -> None:
    session.add(
        AuditEvent(
            org_id=org_id,
            actor=actor,
            action=action,
            target=target,
            detail=json.dumps(detail, default=str),
        )
    )


def recent(session: Session, *, org_id: int, limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    query = query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
    return list(session.exec(query.limit(limit)))


# ---------------------------------------------------------------- reading it back

PAGE_SIZE = 50
MAX_PAGE = 10_000
EXPORT_LIMIT = 100_000  # rows in one CSV; narrow the dates for more
CSV_COLUMNS = ("time_utc", "actor_id", "actor", "action", "target", "detail")


@dataclass(frozen=True)
class Filters:
    action: str = ""  # "invite.revoked" exactly, or a family: "invite" / "invite."
    actor: str = ""  # a public id, or an email (a seller's, a buyer's or a requester's)
    since: date | None = None  # first day, inclusive (in the reader's time zone)
    until: date | None = None  # last day, inclusive
    zone: tzinfo | None = None

    @property
    def active(self) -> bool:
        return bool(self.action or self.actor or self.since or self.until)

    def query(self) -> dict[str, str]:
        """As query parameters (pager and export links keep the filters)."""
        values = {
            "action": self.action,
            "actor": self.actor,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def _day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(fields={name: _("Enter a date as YYYY-MM-DD.")}) from None


def parse_filters(raw: Mapping[str, str], *, zone: tzinfo) -> Filters:
    """Filters from a query string; every problem is reported at once."""
    values = validate.gather(
        {
            "action": lambda: validate.storable(raw.get("action", ""), "action").strip()[:60],
            "actor": lambda: validate.storable(raw.get("actor", ""), "actor").strip()[:300],
            "from": lambda: _day(raw.get("from", ""), "from"),
            "to": lambda: _day(raw.get("to", ""), "to"),
        }
    )
    since, until = values["from"], values["to"]
    if isinstance(since, date) and isinstance(until, date) and until < since:
        raise InvalidInput(fields={"to": _("The end date is before the start date.")})
    return Filters(
        action=str(values["action"]),
        actor=str(values["actor"]),
        since=since if isinstance(since, date) else None,
        until=until if isinstance(until, date) else None,
        zone=zone,
    )


def _actor_ids(session: Session, org_id: int, actor: str) -> list[str]:
    """The ids an actor filter stands for: itself, and the seller or buyers with that email."""
    from .accounts import User
    from .invites import Invite

    ids = [actor]
    if "@" in actor:
        email = actor.lower()
        ids.append(email)
        ids += session.exec(
            select(User.public_id).where(User.org_id == org_id, func.lower(User.email) == email)
        ).all()
        ids += session.exec(
            select(Invite.public_id).where(
                Invite.org_id == org_id, func.lower(Invite.email) == email
            )
        ).all()
    return ids


def _query(session: Session, *, org_id: int, filters: Filters) -> SelectOfScalar[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if filters.action:
        family = filters.action.rstrip(".")
        if "." in family:
            query = query.where(AuditEvent.action == family)
        else:
            query = query.where(col(AuditEvent.action).startswith(family + ".", autoescape=True))
    if filters.actor:
        query = query.where(col(AuditEvent.actor).in_(_actor_ids(session, org_id, filters.actor)))
    zone = filters.zone
    if filters.since:
        query = query.where(AuditEvent.created_at >= datetime.combine(filters.since, time(), zone))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time(), zone)
        query = query.where(AuditEvent.created_at < end)
    return query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())


@dataclass
class Entry:
    event: AuditEvent
    actor_name: str  # "Aiko Sato <aiko@…>" when the actor is known, else the raw actor
    detail: dict[str, object] = field(default_factory=dict)


@dataclass
class Page:
    entries: list[Entry]
    number: int
    has_more: bool
    filters: Filters


def _entries(session: Session, org_id: int, events: list[AuditEvent]) -> list[Entry]:
    from .accounts import User
    from .invites import Invite

    actors = {e.actor for e in events}
    names: dict[str, str] = {}
    users = [a for a in actors if a.startswith("usr_")]
    if users:
        for user in session.exec(
            select(User).where(User.org_id == org_id, col(User.public_id).in_(users))
        ):
            names[user.public_id] = f"{user.name} <{user.email}>" if user.name else user.email
    buyers = [a for a in actors if a.startswith("inv_")]
    if buyers:
        for invite in session.exec(
            select(Invite).where(Invite.org_id == org_id, col(Invite.public_id).in_(buyers))
        ):
            names[invite.public_id] = f"{invite.display_name} <{invite.email}>"
    entries = []
    for event in events:
        try:
            detail = json.loads(event.detail or "{}")
        except ValueError:
            detail = {}
        entries.append(
            Entry(
                event,
                names.get(event.actor, event.actor),
                detail if isinstance(detail, dict) else {},
            )
        )
    return entries


def search(
    session: Session, *, org_id: int, filters: Filters, page: int = 1, size: int = PAGE_SIZE
) -> Page:
    page = min(max(page, 1), MAX_PAGE)
    query = _query(session, org_id=org_id, filters=filters)
    events = list(session.exec(query.offset((page - 1) * size).limit(size + 1)))
    return Page(_entries(session, org_id, events[:size]), page, len(events) > size, filters)


def actions(session: Session, *, org_id: int) -> list[str]:
    """The actions recorded in this organisation (the filter's choices)."""
    query = select(AuditEvent.action).where(AuditEvent.org_id == org_id).distinct()
    return sorted(session.exec(query).all())


def csv_text(rows: Iterable[Iterable[object]], header: Iterable[str] = CSV_COLUMNS) -> str:
    return spreadsheet.text(header, rows)


def export_csv(session: Session, *, org_id: int, filters: Filters) -> tuple[str, int]:
    """The matching events (newest first, at most EXPORT_LIMIT) as CSV, and how many."""
    query = _query(session, org_id=org_id, filters=filters).limit(EXPORT_LIMIT)
    entries = _entries(session, org_id, list(session.exec(query)))
    rows = (
        (
            e.event.created_at.isoformat(timespec="seconds"),
            e.event.actor,
            e.actor_name,
            e.event.action,
            e.event.target,
            e.event.detail,
        )
        for e in entries
    )
    return csv_text(rows), len(entries)
