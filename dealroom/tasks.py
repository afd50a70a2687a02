"""The mutual action plan: milestones containing tasks that sellers and buyers share.

Who may do what (an *actor* is a seller of the room's organisation or a buyer invited to it):

- sellers do everything: milestones, and every task (add, edit, move, delete, change status);
- buyers add tasks to any milestone and comment on any task; they change the status of the
  tasks they own or added ("tick their own"), and edit or delete only the tasks they added;
- the plan's order is the seller's: only sellers move tasks up and down, into another milestone
  at a given place, and milestones up and down. A buyer's plan shows the order the seller set;
  a buyer may still put a task they added into another milestone by editing it (it goes last);
- a task's owner must be a member of the room: any active seller of the room's organisation, or
  a non-revoked invite of *this* room. Anyone else is refused with a field error.

Roll-ups: a milestone's progress is done/total of its tasks, the plan's is done/total of all.
A task is *overdue* when its due date is before today (UTC for now) and it is not done. The plan's
health is the worst that applies, in this order:

- "overdue"  when any open task is overdue;
- "at_risk"  when any open task is blocked, or due within `AT_RISK_WITHIN_DAYS` days;
- "on_track" otherwise (also for an empty plan).

Order: milestones by `position`, tasks within their milestone by `position`; ties (which only a
database written by something else could hold) are broken by id, everywhere. Every change to the
plan's shape (adding, moving, deleting) first locks the room's row, so concurrent changes in one
room happen one after the other, and each leaves the positions it touches dense: 1, 2, 3…
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import CheckConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit, markdown, validate
from .accounts import User
from .db import get_by_public_id, pk, utcnow
from .errors import AccessRevoked, Conflict, InvalidInput, NotFound, PermissionDenied
from .i18n import _
from .ids import has_prefix, new_id
from .invites import Invite
from .rooms import Room

STATUSES = ("todo", "in_progress", "done", "blocked")
HEALTHS = ("on_track", "at_risk", "overdue")

# The plan-health thresholds, in one place (see the module docstring).
AT_RISK_WITHIN_DAYS = 3  # an open task due today .. today + 3 days puts the plan "at risk"
AT_RISK_STATUSES = ("blocked",)  # open tasks in these states put the plan "at risk"

TITLE_LENGTH = 200
NOTES_LENGTH = 5000
COMMENT_LENGTH = 5000
# A date typed as 0226 instead of 2026 is a typo, not a plan.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)


class Milestone(SQLModel, table=True):
    __tablename__ = "milestone"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("ms"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    title: str = Field(max_length=TITLE_LENGTH)
    position: int = 0
    due_date: date | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Task(SQLModel, table=True):
    __tablename__ = "task"
    # An owner is a seller or a buyer, never both (or nobody).
    __table_args__ = (
        CheckConstraint(
            "owner_user_id IS NULL OR owner_invite_id IS NULL", name="ck_task_one_owner"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("task"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    milestone_id: int = Field(foreign_key="milestone.id", index=True)
    title: str = Field(max_length=TITLE_LENGTH)
    notes: str = Field(default="", max_length=NOTES_LENGTH)
    owner_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    owner_invite_id: int | None = Field(default=None, foreign_key="invite.id")
    due_date: date | None = None
    status: str = Field(default="todo", max_length=20)
    position: int = 0
    created_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_by_invite_id: int | None = Field(default=None, foreign_key="invite.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


class TaskComment(SQLModel, table=True):
    __tablename__ = "task_comment"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("tcom"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    author_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    author_invite_id: int | None = Field(default=None, foreign_key="invite.id")
    body: str = Field(max_length=COMMENT_LENGTH)
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- who acts


@dataclass(frozen=True)
class Actor:
    """A seller (`user`) or a buyer (`invite`) acting on a room's plan: exactly one of the two."""

    user: User | None = None
    invite: Invite | None = None

    def __post_init__(self) -> None:
        if (self.user is None) == (self.invite is None):
            raise ValueError("An actor is either a seller or a buyer")

    @property
    def is_seller(self) -> bool:
        return self.user is not None

    @property
    def public_id(self) -> str:
        person = self.user or self.invite
        assert person is not None
        return person.public_id

    @property
    def name(self) -> str:
        person = self.user or self.invite
        assert person is not None
        return person.display_name


def _check_member(room: Room, actor: Actor) -> None:
    """The actor belongs to this room (callers have usually checked already; this is the net)."""
    if actor.user is not None:
        if actor.user.org_id != room.org_id or actor.user.disabled_at is not None:
            raise NotFound(_("Room not found."))
    elif actor.invite is not None:
        if actor.invite.room_id != room.id:
            raise NotFound(_("Room not found."))
        if actor.invite.revoked:
            raise AccessRevoked(_("Your access to this room was revoked."))


def _check_open(room: Room) -> None:
    if room.archived:
        raise Conflict(_("This room is archived. Restore it before changing the plan."))


def can_manage(actor: Actor | None) -> bool:
    """Milestones, and everybody's tasks."""
    return actor is not None and actor.is_seller


def can_edit(actor: Actor | None, task: Task) -> bool:
    """Change a task's title, notes, owner, due date or milestone, or delete it."""
    if actor is None:
        return False
    if actor.invite is not None:
        return task.created_by_invite_id == actor.invite.id
    return True


def can_set_status(actor: Actor | None, task: Task) -> bool:
    if actor is None:
        return False
    if actor.invite is not None:
        return actor.invite.id in (task.owner_invite_id, task.created_by_invite_id)
    return True


# ---------------------------------------------------------------- members (possible owners)


@dataclass(frozen=True)
class Member:
    """A person who may own a task: `id` is a seller's `usr_…` or a buyer's `inv_…`."""

    id: str
    name: str
    side: str  # "seller" | "buyer"
    active: bool = True


def _seller_member(user: User) -> Member:
    return Member(user.public_id, user.display_name, "seller", user.disabled_at is None)


def _buyer_member(invite: Invite) -> Member:
    return Member(invite.public_id, invite.display_name, "buyer", not invite.revoked)


def _org_users(session: Session, room: Room) -> list[User]:
    query = select(User).where(User.org_id == room.org_id)
    return list(session.exec(query.order_by(col(User.created_at), col(User.id))))


def _room_invites(session: Session, room: Room) -> list[Invite]:
    query = select(Invite).where(Invite.room_id == room.id)
    return list(session.exec(query.order_by(col(Invite.created_at), col(Invite.id))))


def members(session: Session, *, room: Room) -> list[Member]:
    """Who may own a task in this room: active sellers of its organisation, then its buyers."""
    people = [_seller_member(u) for u in _org_users(session, room)]
    people += [_buyer_member(i) for i in _room_invites(session, room)]
    return [m for m in people if m.active]


def _owner(session: Session, room: Room, value: object) -> tuple[int | None, int | None]:
    """(owner_user_id, owner_invite_id) for an owner id from a form or the API; "" is nobody."""
    owner_id = validate.storable(value, "owner_id").strip()
    if not owner_id:
        return None, None
    refused = InvalidInput(
        fields={
            "owner_id": _("The owner must be a member of this room: a seller or an invited buyer.")
        }
    )
    if has_prefix(owner_id, "usr"):
        user = session.exec(
            select(User).where(User.public_id == owner_id, User.org_id == room.org_id)
        ).first()
        if user is None or user.disabled_at is not None:
            raise refused
        return pk(user), None
    if has_prefix(owner_id, "inv"):
        invite = session.exec(
            select(Invite).where(Invite.public_id == owner_id, Invite.room_id == room.id)
        ).first()
        if invite is None or invite.revoked:
            raise refused
        return None, pk(invite)
    raise refused


# ---------------------------------------------------------------- input


def parse_date(value: object, field: str, *, label: str) -> date | None:
    """`YYYY-MM-DD` (what `<input type=date>` sends) or a date; empty means none."""
    if value is None or isinstance(value, date):
        result = value
    else:
        text = validate.storable(value, field).strip()
        if not text:
            return None
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError(text)
            result = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                fields={field: _("%(label)s must be a date like 2026-03-31.", label=label)}
            ) from None
    if result is not None and not EARLIEST_DATE <= result <= LATEST_DATE:
        raise InvalidInput(
            fields={
                field: _(
                    "%(label)s must be between %(first)s and %(last)s.",
                    label=label,
                    first=EARLIEST_DATE.year,
                    last=LATEST_DATE.year,
                )
            }
        )
    return result


def _title(data: Mapping[str, object], label: str) -> str:
    return validate.text(data.get("title"), "title", label=label, max_length=TITLE_LENGTH)


def _status(value: object) -> str:
    return validate.choice(value, "status", label=_("Status"), options=STATUSES, default="todo")


# ---------------------------------------------------------------- milestones


def get_milestone(session: Session, *, room: Room, milestone_id: str) -> Milestone:
    return get_by_public_id(
        session,
        Milestone,
        milestone_id,
        prefix="ms",
        missing=_("No such milestone in this room."),
        room_id=room.id,
    )


def list_milestones(session: Session, *, room: Room) -> list[Milestone]:
    query = select(Milestone).where(Milestone.room_id == room.id)
    return list(session.exec(query.order_by(col(Milestone.position), col(Milestone.id))))


def _require_manager(room: Room, actor: Actor) -> None:
    _check_member(room, actor)
    if not can_manage(actor):
        raise PermissionDenied(_("Only the seller's team can change the plan's milestones."))
    _check_open(room)


def _milestone_fields(data: Mapping[str, object], *, partial: bool) -> dict[str, object]:
    checks: dict[str, Callable[[], object]] = {
        "title": lambda: _title(data, _("Milestone")),
        "due_date": lambda: parse_date(data.get("due_date"), "due_date", label=_("Due date")),
    }
    if partial:
        checks = {key: check for key, check in checks.items() if key in data}
    return validate.gather(checks)


def add_milestone(
    session: Session, *, room: Room, actor: Actor, data: Mapping[str, object]
) -> Milestone:
    _require_manager(room, actor)
    values = _milestone_fields(data, partial=False)
    _lock_plan(session, room)
    last = session.exec(
        select(func.max(Milestone.position)).where(Milestone.room_id == room.id)
    ).one()
    milestone = Milestone(
        org_id=room.org_id,
        room_id=pk(room),
        title=str(values["title"]),
        due_date=_as_date(values["due_date"]),
        position=(last or 0) + 1,
    )
    session.add(milestone)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="milestone.created",
        target=milestone.public_id,
        room=room.public_id,
    )
    return milestone


def update_milestone(
    session: Session,
    *,
    room: Room,
    actor: Actor,
    milestone: Milestone,
    data: Mapping[str, object],
) -> Milestone:
    _require_manager(room, actor)
    values = _milestone_fields(data, partial=True)
    if "title" in values:
        milestone.title = str(values["title"])
    if "due_date" in values:
        milestone.due_date = _as_date(values["due_date"])
    milestone.updated_at = utcnow()
    return milestone


def delete_milestone(session: Session, *, room: Room, actor: Actor, milestone: Milestone) -> None:
    """Removes the milestone with its tasks and their comments."""
    _require_manager(room, actor)
    _lock_plan(session, room)
    doomed = list(session.exec(select(Task).where(Task.milestone_id == milestone.id)))
    for task in doomed:
        _delete_task_rows(session, task)
    session.flush()  # without relationships, the unit of work needs the order spelled out
    session.delete(milestone)
    session.flush()
    _renumber(_ordered_milestones(session, room))
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="milestone.deleted",
        target=milestone.public_id,
        room=room.public_id,
        tasks=len(doomed),
    )


def _milestone_for_title(session: Session, *, room: Room, actor: Actor, title: str) -> Milestone:
    """The room's milestone with this title (case and spacing ignored), created when missing."""
    wanted = " ".join(title.split()).casefold()
    for milestone in list_milestones(session, room=room):
        if milestone.title.casefold() == wanted:
            return milestone
    return add_milestone(session, room=room, actor=actor, data={"title": title})


def milestone_for_title(session: Session, *, room: Room, actor: Actor, title: object) -> Milestone:
    """For the API and room templates, which name milestones rather than pick their ids."""
    _require_manager(room, actor)
    text = validate.text(title, "milestone", label=_("Milestone"), max_length=TITLE_LENGTH)
    return _milestone_for_title(session, room=room, actor=actor, title=text)


def _as_date(value: object) -> date | None:
    return value if isinstance(value, date) else None


# ---------------------------------------------------------------- tasks


def get_task(session: Session, *, room: Room, task_id: str) -> Task:
    return get_by_public_id(
        session,
        Task,
        task_id,
        prefix="task",
        missing=_("No such task in this room."),
        room_id=room.id,
    )


def list_tasks(session: Session, *, room: Room) -> list[Task]:
    """Every task of the room, in plan order (milestone by milestone)."""
    query = (
        select(Task)
        .join(Milestone, col(Milestone.id) == col(Task.milestone_id))
        .where(Task.room_id == room.id)
        .order_by(col(Milestone.position), col(Milestone.id), col(Task.position), col(Task.id))
    )
    return list(session.exec(query))


def task_values(session: Session, *, task: Task) -> dict[str, str]:
    """A task's editable fields as a form shows them (public ids, ISO dates)."""
    milestone = session.get(Milestone, task.milestone_id)
    owner = ""
    if task.owner_user_id is not None:
        user = session.get(User, task.owner_user_id)
        owner = user.public_id if user else ""
    elif task.owner_invite_id is not None:
        invite = session.get(Invite, task.owner_invite_id)
        owner = invite.public_id if invite else ""
    return {
        "milestone_id": milestone.public_id if milestone else "",
        "title": task.title,
        "owner_id": owner,
        "due_date": task.due_date.isoformat() if task.due_date else "",
        "notes": task.notes,
    }


def _milestone_field(session: Session, room: Room, value: object) -> Milestone:
    milestone_id = validate.storable(value, "milestone_id").strip()
    if not milestone_id:
        raise InvalidInput(fields={"milestone_id": _("Choose a milestone.")})
    try:
        return get_milestone(session, room=room, milestone_id=milestone_id)
    except NotFound:
        raise InvalidInput(fields={"milestone_id": _("No such milestone in this room.")}) from None


def _task_fields(
    session: Session, room: Room, data: Mapping[str, object], *, partial: bool
) -> dict[str, object]:
    checks: dict[str, Callable[[], object]] = {
        "milestone_id": lambda: _milestone_field(session, room, data.get("milestone_id")),
        "title": lambda: _title(data, _("Task")),
        "owner_id": lambda: _owner(session, room, data.get("owner_id")),
        "due_date": lambda: parse_date(data.get("due_date"), "due_date", label=_("Due date")),
        "notes": lambda: validate.long_text(
            data.get("notes"), "notes", label=_("Notes"), max_length=NOTES_LENGTH
        ),
        "status": lambda: _status(data.get("status")),
    }
    if partial:
        checks = {key: check for key, check in checks.items() if key in data}
    return validate.gather(checks)


def _next_position(session: Session, milestone: Milestone) -> int:
    last = session.exec(
        select(func.max(Task.position)).where(Task.milestone_id == milestone.id)
    ).one()
    return (last or 0) + 1


def _set_status(task: Task, status: str) -> None:
    if status == task.status:
        return
    task.status = status
    task.completed_at = utcnow() if status == "done" else None


def add_task(session: Session, *, room: Room, actor: Actor, data: Mapping[str, object]) -> Task:
    """Sellers and buyers add tasks to any milestone; `data` holds milestone_id, title, and
    optionally owner_id, due_date, notes and status (all strings, as a form sends them)."""
    _check_member(room, actor)
    _check_open(room)
    values = _task_fields(session, room, data, partial=False)
    milestone = values["milestone_id"]
    assert isinstance(milestone, Milestone)
    owner_user_id, owner_invite_id = _owner_ids(values["owner_id"])
    _lock_plan(session, room)
    task = Task(
        org_id=room.org_id,
        room_id=pk(room),
        milestone_id=pk(milestone),
        title=str(values["title"]),
        notes=str(values["notes"]),
        owner_user_id=owner_user_id,
        owner_invite_id=owner_invite_id,
        due_date=_as_date(values["due_date"]),
        position=_next_position(session, milestone),
        created_by_user_id=actor.user.id if actor.user else None,
        created_by_invite_id=actor.invite.id if actor.invite else None,
    )
    _set_status(task, str(values["status"]))
    session.add(task)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="task.created",
        target=task.public_id,
        room=room.public_id,
    )
    return task


def _owner_ids(value: object) -> tuple[int | None, int | None]:
    assert isinstance(value, tuple)
    user_id, invite_id = value
    return user_id, invite_id


def update_task(
    session: Session, *, room: Room, actor: Actor, task: Task, data: Mapping[str, object]
) -> Task:
    """Change the fields present in `data` (milestone_id, title, owner_id, due_date, notes)."""
    _check_member(room, actor)
    if not can_edit(actor, task):
        raise PermissionDenied(
            _("Only the seller's team or whoever added this task can change it.")
        )
    _check_open(room)
    editable = {k: v for k, v in data.items() if k != "status"}
    if editable.get("owner_id") == task_values(session, task=task)["owner_id"]:
        # Unchanged: keep an owner who has since left the room rather than refuse the edit.
        editable.pop("owner_id")
    values = _task_fields(session, room, editable, partial=True)
    if "milestone_id" in values:
        milestone = values["milestone_id"]
        assert isinstance(milestone, Milestone)
        if milestone.id != task.milestone_id:
            _lock_plan(session, room)
            left = task.milestone_id
            # The new place is counted before the task joins (a query would autoflush it first).
            task.position = _next_position(session, milestone)
            task.milestone_id = pk(milestone)
            _renumber(_milestone_tasks(session, left))
    if "title" in values:
        task.title = str(values["title"])
    if "notes" in values:
        task.notes = str(values["notes"])
    if "owner_id" in values:
        task.owner_user_id, task.owner_invite_id = _owner_ids(values["owner_id"])
    if "due_date" in values:
        task.due_date = _as_date(values["due_date"])
    task.updated_at = utcnow()
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="task.updated",
        target=task.public_id,
        room=room.public_id,
    )
    return task


def set_status(session: Session, *, room: Room, actor: Actor, task: Task, status: object) -> Task:
    _check_member(room, actor)
    if not can_set_status(actor, task):
        raise PermissionDenied(
            _(
                "You can change the status of the tasks you own or added; this one is someone else's."
            )
        )
    _check_open(room)
    new = validate.choice(status, "status", label=_("Status"), options=STATUSES)
    if new != task.status:
        old = task.status
        _set_status(task, new)
        task.updated_at = utcnow()
        audit.record(
            session,
            org_id=room.org_id,
            actor=actor.public_id,
            action="task.status_changed",
            target=task.public_id,
            room=room.public_id,
            old=old,
            new=new,
        )
    return task


def _delete_task_rows(session: Session, task: Task) -> None:
    for comment in session.exec(select(TaskComment).where(TaskComment.task_id == task.id)):
        session.delete(comment)
    session.flush()  # comments go before the task they point at
    session.delete(task)


def delete_task(session: Session, *, room: Room, actor: Actor, task: Task) -> None:
    _check_member(room, actor)
    if not can_edit(actor, task):
        raise PermissionDenied(
            _("Only the seller's team or whoever added this task can delete it.")
        )
    _check_open(room)
    _lock_plan(session, room)
    _delete_task_rows(session, task)
    session.flush()
    _renumber(_milestone_tasks(session, task.milestone_id))
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="task.deleted",
        target=task.public_id,
        room=room.public_id,
    )


# ---------------------------------------------------------------- order

DIRECTIONS = ("up", "down")
MAX_POSITION = 10_000


def can_reorder(actor: Actor | None) -> bool:
    """Move tasks and milestones (see the module docstring: the order is the seller's)."""
    return can_manage(actor)


def _lock_plan(session: Session, room: Room) -> None:
    """Wait for, then hold until commit, the room's row: changes to one room's plan happen one
    after the other. FOR NO KEY UPDATE still lets others insert rows that refer to the room (a
    chat message, a view). SQLite has no row locks, and needs none: it runs one writer at a
    time (write transactions begin IMMEDIATE)."""
    session.exec(select(Room.id).where(Room.id == room.id).with_for_update(key_share=True)).one()


def _ordered_milestones(session: Session, room: Room) -> list[Milestone]:
    """As `list_milestones`, reloaded from the database (another request may have moved them
    while this one waited for the lock)."""
    query = select(Milestone).where(Milestone.room_id == room.id)
    query = query.order_by(col(Milestone.position), col(Milestone.id))
    return list(session.exec(query.execution_options(populate_existing=True)))


def _milestone_tasks(session: Session, milestone_id: int) -> list[Task]:
    """A milestone's tasks in plan order, reloaded from the database."""
    query = select(Task).where(Task.milestone_id == milestone_id)
    query = query.order_by(col(Task.position), col(Task.id))
    return list(session.exec(query.execution_options(populate_existing=True)))


def _renumber(rows: Sequence[Task | Milestone]) -> None:
    for position, row in enumerate(rows, start=1):
        if row.position != position:
            row.position = position


def _step(rows: list[Any], row: Any, direction: object) -> None:
    """Swap `row` with its neighbour above or below (nothing at either end), then renumber."""
    way = validate.choice(direction, "direction", label=_("Direction"), options=DIRECTIONS)
    index = [r.id for r in rows].index(row.id)
    other = index - 1 if way == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    _renumber(rows)


def _position(value: object) -> int | None:
    """A 1-based place in a milestone; empty means last."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return validate.integer(value, "position", label=_("Position"), minimum=1, maximum=MAX_POSITION)


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _require_reorder(room: Room, actor: Actor) -> None:
    _check_member(room, actor)
    if not can_reorder(actor):
        raise PermissionDenied(_("Only the seller's team can change the order of the plan."))
    _check_open(room)


def move_task(
    session: Session,
    *,
    room: Room,
    actor: Actor,
    task: Task,
    direction: object = None,
    milestone_id: object = None,
    position: object = None,
) -> Task:
    """Move a task (sellers only): one step `direction` ("up" or "down") within its milestone,
    or, given `milestone_id`, into that milestone (its own, or another) at `position` (1 is
    first; empty, or past the end, is last). The milestones it leaves and enters are renumbered.
    """
    _require_reorder(room, actor)
    if task.room_id != room.id:
        raise NotFound(_("No such task in this room."))
    target: Milestone | None = None
    place: int | None = None
    if validate.storable(milestone_id, "milestone_id").strip():
        values = validate.gather(
            {
                "milestone_id": lambda: _milestone_field(session, room, milestone_id),
                "position": lambda: _position(position),
            }
        )
        chosen, place = values["milestone_id"], _as_int(values["position"])
        assert isinstance(chosen, Milestone)
        target = chosen
    elif direction is None or direction == "":
        raise InvalidInput(fields={"direction": _("Choose where to move the task.")})
    else:
        validate.choice(direction, "direction", label=_("Direction"), options=DIRECTIONS)
    _lock_plan(session, room)
    # Re-read what this request loaded before the lock: another one may have moved it since.
    current = session.exec(
        select(Task).where(Task.id == task.id).execution_options(populate_existing=True)
    ).first()
    if current is None:
        raise NotFound(_("This task was deleted meanwhile."))
    if target is not None and session.get(Milestone, pk(target), populate_existing=True) is None:
        raise NotFound(_("This milestone was deleted meanwhile."))
    if target is None:
        _step(_milestone_tasks(session, task.milestone_id), task, direction)
    else:
        left = [t for t in _milestone_tasks(session, task.milestone_id) if t.id != task.id]
        entered = (
            left
            if target.id == task.milestone_id
            else [t for t in _milestone_tasks(session, pk(target)) if t.id != task.id]
        )
        index = len(entered) if place is None else min(place - 1, len(entered))
        entered.insert(index, task)
        task.milestone_id = pk(target)
        _renumber(left)
        _renumber(entered)
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="task.moved",
        target=task.public_id,
        room=room.public_id,
        position=task.position,
    )
    return task


def move_milestone(
    session: Session, *, room: Room, actor: Actor, milestone: Milestone, direction: object
) -> Milestone:
    """One step up or down in the plan (sellers only); its tasks go with it."""
    _require_reorder(room, actor)
    if milestone.room_id != room.id:
        raise NotFound(_("No such milestone in this room."))
    validate.choice(direction, "direction", label=_("Direction"), options=DIRECTIONS)
    _lock_plan(session, room)
    rows = _ordered_milestones(session, room)
    if milestone.id not in [m.id for m in rows]:
        raise NotFound(_("This milestone was deleted meanwhile."))
    _step(rows, milestone, direction)
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="milestone.moved",
        target=milestone.public_id,
        room=room.public_id,
        position=milestone.position,
    )
    return milestone


# ---------------------------------------------------------------- comments


def add_comment(
    session: Session, *, room: Room, actor: Actor, task: Task, body: object
) -> TaskComment:
    """Anyone in the room comments on any task (markdown, rendered sanitized)."""
    _check_member(room, actor)
    _check_open(room)
    if task.room_id != room.id:
        raise NotFound(_("No such task in this room."))
    text = validate.long_text(body, "body", label=_("Comment"), max_length=COMMENT_LENGTH)
    if not text:
        raise InvalidInput(fields={"body": _("Write a comment first.")})
    comment = TaskComment(
        org_id=room.org_id,
        room_id=pk(room),
        task_id=pk(task),
        author_user_id=actor.user.id if actor.user else None,
        author_invite_id=actor.invite.id if actor.invite else None,
        body=text,
    )
    session.add(comment)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=actor.public_id,
        action="task.commented",
        target=task.public_id,
        room=room.public_id,
    )
    return comment


# ---------------------------------------------------------------- roll-ups


def today() -> date:
    """The day overdue is measured against: UTC for now (per-user time zones come later)."""
    return utcnow().date()


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def progress(tasks: Iterable[Task]) -> Progress:
    statuses = [t.status for t in tasks]
    return Progress(done=statuses.count("done"), total=len(statuses))


def is_overdue(task: Task, on: date) -> bool:
    return task.due_date is not None and task.due_date < on and not task.done


def is_due_soon(task: Task, on: date) -> bool:
    """Open and due today or within the next AT_RISK_WITHIN_DAYS days."""
    if task.due_date is None or task.done:
        return False
    return on <= task.due_date <= on + timedelta(days=AT_RISK_WITHIN_DAYS)


def health(tasks: Iterable[Task], on: date) -> str:
    """ "overdue", "at_risk" or "on_track" (see the module docstring)."""
    open_tasks = [t for t in tasks if not t.done]
    if any(is_overdue(t, on) for t in open_tasks):
        return "overdue"
    if any(t.status in AT_RISK_STATUSES or is_due_soon(t, on) for t in open_tasks):
        return "at_risk"
    return "on_track"


@dataclass
class CommentItem:
    comment: TaskComment
    author: Member | None
    html: Markup


@dataclass
class TaskItem:
    task: Task
    owner: Member | None
    overdue: bool
    due_soon: bool
    mine: bool  # the viewer owns it
    can_edit: bool
    can_set_status: bool
    comments: list[CommentItem] = field(default_factory=list)


@dataclass
class MilestoneItem:
    milestone: Milestone
    tasks: list[TaskItem]
    progress: Progress
    health: str


@dataclass
class Plan:
    """A room's plan as one viewer sees it (their permissions are worked out per task)."""

    milestones: list[MilestoneItem]
    progress: Progress
    health: str
    overdue: int  # how many open tasks are overdue
    members: list[Member]  # who may own a task now
    today: date

    @property
    def empty(self) -> bool:
        return not self.milestones


def load_plan(
    session: Session,
    *,
    room: Room,
    actor: Actor | None,
    on: date | None = None,
    users: Sequence[User] | None = None,
    invites: Sequence[Invite] | None = None,
) -> Plan:
    """Everything the plan panel shows, in a fixed number of queries. `actor` None is a
    read-only viewer (a seller previewing the buyer's view). A page that has loaded them
    already passes the organisation's `users` and all of the room's `invites` (revoked too),
    in the order of accounts.team and invites.list_invites."""
    on = on or today()
    users = _org_users(session, room) if users is None else users
    invites = _room_invites(session, room) if invites is None else invites
    people: dict[tuple[str, int], Member] = {}
    for user in users:
        people["user", pk(user)] = _seller_member(user)
    for invite in invites:
        people["invite", pk(invite)] = _buyer_member(invite)

    def person(user_id: int | None, invite_id: int | None) -> Member | None:
        if user_id is not None:
            return people.get(("user", user_id))
        if invite_id is not None:
            return people.get(("invite", invite_id))
        return None

    milestones = list_milestones(session, room=room)
    tasks = list(
        session.exec(
            select(Task).where(Task.room_id == room.id).order_by(col(Task.position), col(Task.id))
        )
    )
    comments = session.exec(
        select(TaskComment)
        .where(TaskComment.room_id == room.id)
        .order_by(col(TaskComment.created_at), col(TaskComment.id))
    )
    by_task: dict[int, list[CommentItem]] = {}
    for comment in comments:
        author = person(comment.author_user_id, comment.author_invite_id)
        by_task.setdefault(comment.task_id, []).append(
            CommentItem(comment, author, markdown.render(comment.body))
        )
    viewer = actor.public_id if actor else None
    by_milestone: dict[int, list[TaskItem]] = {}
    for task in tasks:
        owner = person(task.owner_user_id, task.owner_invite_id)
        by_milestone.setdefault(task.milestone_id, []).append(
            TaskItem(
                task=task,
                owner=owner,
                overdue=is_overdue(task, on),
                due_soon=is_due_soon(task, on),
                mine=owner is not None and owner.id == viewer,
                can_edit=can_edit(actor, task),
                can_set_status=can_set_status(actor, task),
                comments=by_task.get(pk(task), []),
            )
        )
    items = []
    for milestone in milestones:
        own = by_milestone.get(pk(milestone), [])
        own_tasks = [item.task for item in own]
        items.append(MilestoneItem(milestone, own, progress(own_tasks), health(own_tasks, on)))
    return Plan(
        milestones=items,
        progress=progress(tasks),
        health=health(tasks, on),
        overdue=sum(is_overdue(t, on) for t in tasks),
        members=[m for m in people.values() if m.active],
        today=on,
    )


# ---------------------------------------------------------------- plans from room templates

_RELATIVE_DUE = re.compile(r"^\+\s*(\d{1,4})\s*(day|days|week|weeks)$", re.IGNORECASE)
PLAN_KEYS = ("milestone", "title", "owner", "due")
PLAN_OWNERS = ("seller", "buyer")
MAX_RELATIVE_DAYS = 3650


def relative_due(value: object, start: date, field: str = "due") -> date | None:
    """ "+7 days", "+1 day", "+2 weeks" (case and spaces ignored) after `start`; None is none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(
            fields={field: _("Give a due date like “+7 days” or “+2 weeks”, or none.")}
        )
    match = _RELATIVE_DUE.match(value.strip())
    if match is None:
        raise InvalidInput(
            fields={
                field: _(
                    "“%(value)s” is not a relative date like “+7 days” or “+2 weeks”.",
                    value=value[:40],
                )
            }
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    days = count * 7 if unit.startswith("week") else count
    if days > MAX_RELATIVE_DAYS:
        raise InvalidInput(
            fields={field: _("Due dates go at most %(days)s days ahead.", days=MAX_RELATIVE_DAYS)}
        )
    return start + timedelta(days=days)


def _buyer_owner(session: Session, room: Room) -> Invite | None:
    """Who "buyer" means in a template: the room's champion, else its first active invite."""
    active = [i for i in _room_invites(session, room) if not i.revoked]
    champions = [i for i in active if i.role == "champion"]
    chosen = champions or active
    return chosen[0] if chosen else None


def apply_plan(
    session: Session, *, room: Room, user: User, plan: list[dict[str, object]]
) -> list[Task]:
    """Add a template's plan to a room: each entry is {"milestone": str, "title": str,
    "owner": "seller" | "buyer" | None, "due": "+7 days" | "+2 weeks" | None}.

    Milestones are matched by title (created when missing, in first-seen order). Due dates count
    from the room's creation day. "seller" is the room's owner; "buyer" is the room's champion or
    else its first invited buyer, and nobody while no buyer is invited yet. The whole plan is
    checked first: errors name the entry (`plan.2.due`) and nothing is added.
    """
    actor = Actor(user=user)
    _require_manager(room, actor)
    if not isinstance(plan, list):
        raise InvalidInput(fields={"plan": _("A plan is a list of tasks.")})
    start = room.created_at.date()
    checked: list[tuple[str, str, str | None, date | None]] = []
    errors: dict[str, str] = {}
    for index, entry in enumerate(plan):
        prefix = f"plan.{index}"
        if not isinstance(entry, dict):
            errors[prefix] = _("Each task is an object with milestone, title, owner and due.")
            continue
        unknown = sorted(str(key) for key in set(entry) - set(PLAN_KEYS))
        for key in unknown[:5]:
            errors[f"{prefix}.{key}"] = _("Unknown field.")
        try:
            checked.append(_plan_entry(entry, start))
        except InvalidInput as exc:
            errors.update({f"{prefix}.{key}": message for key, message in exc.fields.items()})
    if errors:
        raise InvalidInput(fields=errors)
    seller = session.get(User, room.owner_id)
    if seller is not None and seller.disabled_at is not None:
        seller = None  # a departed owner cannot own tasks; leave them for the team to assign
    buyer = _buyer_owner(session, room)
    # Entries are checked and owners resolved above, so the tasks are added in one batch (what
    # add_task does per task would cost a handful of queries each; a template has dozens).
    milestones = {m.title.casefold(): m for m in list_milestones(session, room=room)}
    positions: dict[int, int] = dict(
        session.exec(
            select(Task.milestone_id, func.max(Task.position))
            .where(Task.room_id == room.id)
            .group_by(col(Task.milestone_id))
        ).all()
    )
    created = []
    for milestone_title, title, owner_kind, due in checked:
        key = " ".join(milestone_title.split()).casefold()
        milestone = milestones.get(key)
        if milestone is None:
            milestone = add_milestone(
                session, room=room, actor=actor, data={"title": milestone_title}
            )
            milestones[key] = milestone
        positions[pk(milestone)] = positions.get(pk(milestone), 0) + 1
        created.append(
            Task(
                org_id=room.org_id,
                room_id=pk(room),
                milestone_id=pk(milestone),
                title=title,
                owner_user_id=pk(seller) if owner_kind == "seller" and seller else None,
                owner_invite_id=pk(buyer) if owner_kind == "buyer" and buyer else None,
                due_date=due,
                position=positions[pk(milestone)],
                created_by_user_id=pk(user),
            )
        )
    session.add_all(created)
    session.flush()
    for task in created:
        audit.record(
            session,
            org_id=room.org_id,
            actor=actor.public_id,
            action="task.created",
            target=task.public_id,
            room=room.public_id,
        )
    return created


def _plan_entry(
    entry: Mapping[str, object], start: date
) -> tuple[str, str, str | None, date | None]:
    """(milestone, title, owner kind, due date) of one template entry, or every field's error."""
    values = validate.gather(
        {
            "milestone": lambda: validate.text(
                entry.get("milestone"), "milestone", label=_("Milestone"), max_length=TITLE_LENGTH
            ),
            "title": lambda: validate.text(
                entry.get("title"), "title", label=_("Task"), max_length=TITLE_LENGTH
            ),
            "owner": lambda: _plan_owner(entry.get("owner")),
            "due": lambda: relative_due(entry.get("due"), start),
        }
    )
    owner = values["owner"]
    return (
        str(values["milestone"]),
        str(values["title"]),
        owner if isinstance(owner, str) else None,
        _as_date(values["due"]),
    )


def _plan_owner(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in PLAN_OWNERS:
        return value
    raise InvalidInput(fields={"owner": _("Owner must be “seller”, “buyer” or none.")})
