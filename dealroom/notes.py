"""Meeting notes of a room: markdown with a meeting date and attendees, shared or internal.

A note is either shared with the buyer or internal to the seller's team; buyers only ever get
shared notes (`shared_only=True`). Every saved state is kept as a `NoteRevision`, so edits keep
their history: who changed what, and when. Deleting is soft (`deleted_at`); revisions stay.

Concurrent edits are serialised by the note's `revision` counter: an edit bumps it with a
conditional UPDATE, so two sellers saving at once cannot both write revision N+1 (the second one
gets a Conflict instead of a lost update or a duplicate row).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import cast

from sqlalchemy import UniqueConstraint, update
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from . import audit, validate
from .accounts import User
from .db import pk, utcnow
from .errors import Conflict, InvalidInput, NotFound
from .i18n import _
from .ids import has_prefix, new_id
from .rooms import Room

VISIBILITIES = ("internal", "shared")
MAX_TITLE = 200
MAX_BODY = 50_000
MAX_ATTENDEE = 100  # one name
MAX_ATTENDEES = 50  # names per note
MAX_ATTENDEES_LENGTH = 2000  # the width of the column, names joined by ", "
EARLIEST_MEETING = date(2000, 1, 1)
LATEST_MEETING_YEARS = 5  # notes may be prepared for meetings ahead, but not decades ahead
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ATTENDEE_SEPARATORS = re.compile(r"[,;\n]+")
DIFF_LINES = 400  # a history entry shows at most this many changed lines of text


class Note(SQLModel, table=True):
    __tablename__ = "note"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("note"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    title: str = Field(max_length=MAX_TITLE)
    meeting_date: date
    # Names joined by ", " (a name never contains a comma: commas separate names on input).
    attendees: str = Field(default="", max_length=MAX_ATTENDEES_LENGTH)
    body: str = Field(max_length=MAX_BODY)  # markdown source; rendered by dealroom.markdown
    visibility: str = Field(default="internal", max_length=20)
    revision: int = Field(default=1)  # number of the latest NoteRevision
    created_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None

    @property
    def attendee_list(self) -> list[str]:
        return split_attendees(self.attendees)

    @property
    def shared(self) -> bool:
        return self.visibility == "shared"


class NoteRevision(SQLModel, table=True):
    """One saved state of a note (revision 1 is the note as created)."""

    __tablename__ = "note_revision"
    __table_args__ = (UniqueConstraint("note_id", "number", name="uq_note_revision_number"),)
    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(foreign_key="note.id", index=True)
    number: int
    title: str = Field(max_length=MAX_TITLE)
    meeting_date: date
    attendees: str = Field(default="", max_length=MAX_ATTENDEES_LENGTH)
    body: str = Field(max_length=MAX_BODY)
    visibility: str = Field(max_length=20)
    edited_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def attendee_list(self) -> list[str]:
        return split_attendees(self.attendees)


# ---------------------------------------------------------------- input


def split_attendees(stored: str) -> list[str]:
    return [name.strip() for name in stored.split(",") if name.strip()]


def attendees(value: object, field: str = "attendees") -> str:
    """Names from a comma (or semicolon, or newline) separated string or a list of strings;
    whitespace collapsed, duplicates dropped (ignoring case), stored joined by ", "."""
    if isinstance(value, list | tuple):
        if any(not isinstance(item, str) for item in value):
            raise InvalidInput(fields={field: _("Attendees must be names (text).")})
        raw = [validate.storable(item, field) for item in value]
        parts = [part for item in raw for part in _ATTENDEE_SEPARATORS.split(item)]
    else:
        parts = _ATTENDEE_SEPARATORS.split(validate.storable(value, field))
    names: dict[str, str] = {}
    for part in parts:
        name = " ".join(part.split())
        if not name:
            continue
        if len(name) > MAX_ATTENDEE:
            raise InvalidInput(
                fields={field: _("Each name must be at most %(max)s characters.", max=MAX_ATTENDEE)}
            )
        names.setdefault(name.casefold(), name)
    if len(names) > MAX_ATTENDEES:
        raise InvalidInput(
            fields={field: _("At most %(max)s attendees per note.", max=MAX_ATTENDEES)}
        )
    joined = ", ".join(names.values())
    if len(joined) > MAX_ATTENDEES_LENGTH:
        raise InvalidInput(
            fields={
                field: _(
                    "Attendees must be at most %(max)s characters in all.",
                    max=MAX_ATTENDEES_LENGTH,
                )
            }
        )
    return joined


def latest_meeting(today: date | None = None) -> date:
    today = today or utcnow().date()
    try:
        return today.replace(year=today.year + LATEST_MEETING_YEARS)
    except ValueError:  # 29 February, in a year that has none
        return today.replace(year=today.year + LATEST_MEETING_YEARS, day=28)


def meeting_date(value: object, field: str = "meeting_date") -> date:
    """A calendar date written YYYY-MM-DD (what <input type="date"> sends), within range."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        result = value
    else:
        text = validate.storable(value, field).strip()
        if not text:
            raise InvalidInput(fields={field: _("Meeting date is required.")})
        try:
            if not _ISO_DATE.match(text):
                raise ValueError(text)
            result = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                fields={
                    field: _("“%(value)s” is not a date. Use the form YYYY-MM-DD.", value=text[:40])
                }
            ) from None
    latest = latest_meeting()
    if not EARLIEST_MEETING <= result <= latest:
        raise InvalidInput(
            fields={
                field: _(
                    "The meeting date must be between %(earliest)s and %(latest)s.",
                    earliest=EARLIEST_MEETING.isoformat(),
                    latest=latest.isoformat(),
                )
            }
        )
    return result


def _body(value: object) -> str:
    text = validate.long_text(value, "body", label=_("The note"), max_length=MAX_BODY)
    if not text:
        raise InvalidInput(fields={"body": _("Write the note (markdown is fine).")})
    return text


@dataclass(frozen=True)
class NoteFields:
    title: str
    meeting_date: date
    attendees: str
    body: str
    visibility: str


def note_fields(data: Mapping[str, object]) -> NoteFields:
    """Validate every field of a note at once; all failing fields are reported together."""
    checks: dict[str, Callable[[], object]] = {
        "title": lambda: validate.text(
            data.get("title"), "title", label=_("Title"), max_length=MAX_TITLE
        ),
        "meeting_date": lambda: meeting_date(data.get("meeting_date")),
        "attendees": lambda: attendees(data.get("attendees")),
        "body": lambda: _body(data.get("body")),
        "visibility": lambda: validate.choice(
            data.get("visibility"),
            "visibility",
            label=_("Visibility"),
            options=VISIBILITIES,
            default="internal",
        ),
    }
    values = validate.gather(checks)
    return NoteFields(
        title=str(values["title"]),
        meeting_date=cast(date, values["meeting_date"]),
        attendees=str(values["attendees"]),
        body=str(values["body"]),
        visibility=str(values["visibility"]),
    )


# ---------------------------------------------------------------- changes


def _snapshot(session: Session, note: Note, *, user: User) -> NoteRevision:
    revision = NoteRevision(
        note_id=pk(note),
        number=note.revision,
        title=note.title,
        meeting_date=note.meeting_date,
        attendees=note.attendees,
        body=note.body,
        visibility=note.visibility,
        edited_by_id=pk(user),
        created_at=note.updated_at,
    )
    session.add(revision)
    return revision


def _claim_next_revision(session: Session, note: Note) -> None:
    """Move the note to its next revision number, or raise Conflict when another transaction
    got there first (the UPDATE waits for it and then matches no row)."""
    seen = note.revision
    result = session.connection().execute(
        update(Note)
        .where(col(Note.id) == pk(note), col(Note.revision) == seen)
        .values(revision=seen + 1)
    )
    if result.rowcount != 1:
        session.refresh(note)
        raise Conflict(
            _(
                "Someone else saved this note at the same time (it is now version %(n)s). "
                "Reload it to see their changes, then edit again.",
                n=note.revision,
            )
        )
    note.revision = seen + 1


def create_note(session: Session, *, room: Room, user: User, data: Mapping[str, object]) -> Note:
    values = note_fields(data)
    now = utcnow()
    note = Note(
        org_id=room.org_id,
        room_id=pk(room),
        title=values.title,
        meeting_date=values.meeting_date,
        attendees=values.attendees,
        body=values.body,
        visibility=values.visibility,
        created_by_id=pk(user),
        created_at=now,
        updated_at=now,
    )
    session.add(note)
    session.flush()
    _snapshot(session, note, user=user)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="note.created",
        target=note.public_id,
        room=room.public_id,
        visibility=note.visibility,
    )
    return note


def update_note(
    session: Session,
    *,
    note: Note,
    user: User,
    data: Mapping[str, object],
    base_revision: int | None = None,
) -> Note:
    """Save a new state of the note. `base_revision` is the version the editor started from:
    when someone saved since, nothing is overwritten and Conflict names who did."""
    values = note_fields(data)
    if base_revision is not None and base_revision != note.revision:
        last = latest_revision(session, note=note)
        editor = session.get(User, last.edited_by_id) if last else None
        who = editor.display_name if editor else _("Someone else")
        raise Conflict(
            _(
                "%(who)s changed this note after you opened it (it is now version %(n)s). "
                "Your text is still in the form: compare it with the latest version and save "
                "again.",
                who=who,
                n=note.revision,
            )
        )
    changes = {
        key: value
        for key, value in asdict(values).items()
        if getattr(note, key) != value  # date == date, str == str
    }
    if not changes:
        return note  # nothing new to keep: no revision for an unchanged save
    _claim_next_revision(session, note)
    for key, value in changes.items():
        setattr(note, key, value)
    note.updated_at = utcnow()
    _snapshot(session, note, user=user)
    session.flush()
    audit.record(
        session,
        org_id=note.org_id,
        actor=user.public_id,
        action="note.updated",
        target=note.public_id,
        revision=note.revision,
        fields=sorted(changes),
    )
    return note


def set_visibility(session: Session, *, note: Note, user: User, visibility: object) -> Note:
    choice = validate.choice(visibility, "visibility", label=_("Visibility"), options=VISIBILITIES)
    if note.visibility == choice:
        return note
    _claim_next_revision(session, note)
    note.visibility = choice
    note.updated_at = utcnow()
    _snapshot(session, note, user=user)
    session.flush()
    audit.record(
        session,
        org_id=note.org_id,
        actor=user.public_id,
        action="note.shared" if choice == "shared" else "note.made_internal",
        target=note.public_id,
        revision=note.revision,
    )
    return note


def delete_note(session: Session, *, note: Note, user: User) -> Note:
    """Soft delete: the note leaves every list and page; its revisions are kept."""
    if note.deleted_at is None:
        note.deleted_at = utcnow()
        audit.record(
            session,
            org_id=note.org_id,
            actor=user.public_id,
            action="note.deleted",
            target=note.public_id,
        )
    return note


# ---------------------------------------------------------------- reading


def _visible(room: Room, *, shared_only: bool) -> SelectOfScalar[Note]:
    query = select(Note).where(
        Note.room_id == pk(room), Note.org_id == room.org_id, col(Note.deleted_at).is_(None)
    )
    if shared_only:
        query = query.where(Note.visibility == "shared")
    return query


def list_notes(session: Session, *, room: Room, shared_only: bool) -> list[Note]:
    """Newest meeting first. `shared_only` for anything a buyer will see."""
    query = _visible(room, shared_only=shared_only).order_by(
        col(Note.meeting_date).desc(), col(Note.created_at).desc(), col(Note.id).desc()
    )
    return list(session.exec(query))


def get_note(session: Session, *, room: Room, note_id: str, shared_only: bool) -> Note:
    """The live note of this room; NotFound for another room's, a deleted one, or (for buyers)
    an internal one, so nobody can tell these apart."""
    if not has_prefix(note_id, "note"):
        raise NotFound(_("No such note in this room."))
    note = session.exec(
        _visible(room, shared_only=shared_only).where(Note.public_id == note_id)
    ).first()
    if note is None:
        raise NotFound(_("No such note in this room."))
    return note


def revisions(session: Session, *, note: Note) -> list[NoteRevision]:
    """Every saved state, newest first."""
    query = (
        select(NoteRevision)
        .where(NoteRevision.note_id == pk(note))
        .order_by(col(NoteRevision.number).desc())
    )
    return list(session.exec(query))


def latest_revision(session: Session, *, note: Note) -> NoteRevision | None:
    return session.exec(
        select(NoteRevision)
        .where(NoteRevision.note_id == pk(note))
        .order_by(col(NoteRevision.number).desc())
        .limit(1)
    ).first()


def people(session: Session, *, org_id: int, user_ids: set[int]) -> dict[int, User]:
    """Sellers by id, for "written by" and "edited by" lines (only this organisation's)."""
    if not user_ids:
        return {}
    query = select(User).where(User.org_id == org_id, col(User.id).in_(sorted(user_ids)))
    return {pk(user): user for user in session.exec(query)}


@dataclass
class Change:
    """One entry of a note's history: the revision and what it changed from the one before."""

    revision: NoteRevision
    editor: User | None
    changed: list[str]  # field names; empty for the first revision
    previous: NoteRevision | None
    diff: list[tuple[str, str]] = field(default_factory=list)  # ("add"|"del"|"gap", line)
    diff_truncated: bool = False

    @property
    def created(self) -> bool:
        return self.previous is None


COMPARED = ("title", "meeting_date", "attendees", "body", "visibility")


def _diff(old: str, new: str) -> tuple[list[tuple[str, str]], bool]:
    lines: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=1, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            if lines:  # unchanged lines were left out between two hunks
                lines.append(("gap", "…"))
        elif line.startswith("+"):
            lines.append(("add", line[1:]))
        elif line.startswith("-"):
            lines.append(("del", line[1:]))
        else:
            lines.append(("same", line[1:]))
    return lines[:DIFF_LINES], len(lines) > DIFF_LINES


def history(session: Session, *, note: Note) -> list[Change]:
    """Newest first, each revision with the fields it changed and a line diff of the text."""
    found = revisions(session, note=note)
    editors = people(session, org_id=note.org_id, user_ids={r.edited_by_id for r in found})
    changes: list[Change] = []
    for index, revision in enumerate(found):
        previous = found[index + 1] if index + 1 < len(found) else None
        change = Change(
            revision=revision,
            editor=editors.get(revision.edited_by_id),
            changed=[],
            previous=previous,
        )
        if previous is not None:
            change.changed = [
                name for name in COMPARED if getattr(previous, name) != getattr(revision, name)
            ]
            if "body" in change.changed:
                change.diff, change.diff_truncated = _diff(previous.body, revision.body)
        changes.append(change)
    return changes


def default_meeting_date() -> date:
    return utcnow().date()
