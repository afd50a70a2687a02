"""Room templates: a room in seconds, from an organisation's recipe.

    RoomTemplate         defaults for a new room (stage, welcome message), per organisation
     ├─ TemplateSection  headings, in order
     ├─ TemplateItem     a *library* document, in a section or unsectioned, in order
     └─ TemplateTask     the default action plan: milestone, title, owner side, relative due

Creating a room from a template is one transaction: the room (the form's own fields win over the
template's defaults), its sections, one RoomItem per library document (a reference, so a later
library version reaches the room), then the plan through `tasks.apply_plan` (due dates count from
the room's first day). Sections and items are inserted in one batch each, whatever their number.
An item whose library document was archived since is left out and reported, never an error.

"Save as template" goes the other way: sections, the items whose documents are in the library
(a document uploaded into the room only cannot be shared, so it is skipped and counted), and the
room's tasks with their due dates made relative to the room's first day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint, func, insert
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit, content, rooms, tasks, validate
from .accounts import User
from .content import Document
from .db import get_by_public_id, pk, utcnow
from .errors import Conflict, InvalidInput, NotFound
from .i18n import _
from .ids import new_id
from .rooms import Room

MAX_SECTIONS = content.MAX_SECTIONS
MAX_ITEMS = content.MAX_ITEMS
MAX_TASKS = 200
OWNERS = tasks.PLAN_OWNERS  # "seller" | "buyer"; "" is nobody
DUE_LENGTH = 20  # "+9999 weeks" and some spaces


class RoomTemplate(SQLModel, table=True):
    __tablename__ = "room_template"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("tpl"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    welcome_message: str = Field(default="", max_length=5000)
    stage: str = Field(default="discovery", max_length=20)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    archived_at: datetime | None = None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class TemplateSection(SQLModel, table=True):
    __tablename__ = "template_section"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("tsec"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    template_id: int = Field(foreign_key="room_template.id", index=True)
    title: str = Field(max_length=200)
    position: int = 0


class TemplateItem(SQLModel, table=True):
    __tablename__ = "template_item"
    __table_args__ = (
        UniqueConstraint("template_id", "document_id", name="uq_template_item_document"),
    )
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("titem"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    template_id: int = Field(foreign_key="room_template.id", index=True)
    template_section_id: int | None = Field(
        default=None, foreign_key="template_section.id", index=True
    )
    document_id: int = Field(foreign_key="document.id", index=True)
    position: int = 0


class TemplateTask(SQLModel, table=True):
    __tablename__ = "template_task"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("ttask"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    template_id: int = Field(foreign_key="room_template.id", index=True)
    milestone: str = Field(max_length=tasks.TITLE_LENGTH)
    title: str = Field(max_length=tasks.TITLE_LENGTH)
    owner: str = Field(default="", max_length=10)  # "seller" | "buyer" | ""
    due: str = Field(default="", max_length=DUE_LENGTH)  # "+7 days" | "+2 weeks" | ""
    position: int = 0


# ---------------------------------------------------------------- templates


def _fields(data: Mapping[str, object], *, partial: bool) -> dict[str, object]:
    checks: dict[str, Callable[[], object]] = {
        "name": lambda: validate.text(data.get("name"), "name", label=_("Template name")),
        "description": lambda: validate.long_text(
            data.get("description"), "description", label=_("Description"), max_length=2000
        ),
        "welcome_message": lambda: validate.long_text(
            data.get("welcome_message"), "welcome_message", label=_("Welcome message")
        ),
        "stage": lambda: validate.choice(
            data.get("stage"), "stage", label=_("Stage"), options=rooms.STAGES, default="discovery"
        ),
    }
    if partial:
        checks = {key: check for key, check in checks.items() if key in data}
    return validate.gather(checks)


def create_template(session: Session, *, user: User, data: Mapping[str, object]) -> RoomTemplate:
    values = _fields(data, partial=False)
    template = RoomTemplate(
        org_id=user.org_id,
        created_by_id=pk(user),
        name=str(values["name"]),
        description=str(values["description"]),
        welcome_message=str(values["welcome_message"]),
        stage=str(values["stage"]),
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="template.created",
        target=template.public_id,
    )
    return template


def update_template(
    session: Session, *, template: RoomTemplate, data: Mapping[str, object]
) -> RoomTemplate:
    """Change the fields present in `data` (name, description, welcome_message, stage)."""
    for key, value in _fields(data, partial=True).items():
        setattr(template, key, value)
    _touch(template)
    return template


def archive_template(session: Session, *, template: RoomTemplate) -> RoomTemplate:
    """Retire a template: it leaves the list and the new-room form; rooms made from it stay."""
    if template.archived_at is None:
        template.archived_at = template.updated_at = utcnow()
    return template


def restore_template(session: Session, *, template: RoomTemplate) -> RoomTemplate:
    template.archived_at = None
    _touch(template)
    return template


def _touch(template: RoomTemplate) -> None:
    template.updated_at = utcnow()


def get_template(session: Session, *, org_id: int, template_id: str) -> RoomTemplate:
    """The template, if it belongs to this organisation (archived ones too); else NotFound."""
    return get_by_public_id(
        session,
        RoomTemplate,
        template_id,
        prefix="tpl",
        missing=_("No such template."),
        org_id=org_id,
    )


def template_for_room(
    session: Session, *, org_id: int, template_id: object, field: str = "template_id"
) -> RoomTemplate:
    """A template picked in a form or named in the API: one of the organisation's active
    templates, or an error naming `field`."""
    raw = validate.storable(template_id, field).strip()
    try:
        template = get_template(session, org_id=org_id, template_id=raw)
    except NotFound:
        raise InvalidInput(
            fields={field: _("Choose one of your organisation's templates.")}
        ) from None
    if template.archived:
        raise InvalidInput(
            fields={field: _("This template is archived. Restore it or choose another one.")}
        )
    return template


@dataclass
class TemplateSummary:
    template: RoomTemplate
    sections: int
    items: int
    tasks: int


def list_templates(
    session: Session, *, org_id: int, archived: bool = False, limit: int = 500
) -> list[TemplateSummary]:
    """The organisation's templates, by name, with how much each holds (four queries)."""
    archived_at = col(RoomTemplate.archived_at)
    query = select(RoomTemplate).where(
        RoomTemplate.org_id == org_id,
        archived_at.is_not(None) if archived else archived_at.is_(None),
    )
    query = query.order_by(func.lower(RoomTemplate.name), col(RoomTemplate.id)).limit(limit)
    found = list(session.exec(query))
    ids = [pk(t) for t in found]
    counts: list[dict[int, int]] = []
    for column in (TemplateSection.template_id, TemplateItem.template_id, TemplateTask.template_id):
        rows = (
            session.exec(
                select(column, func.count()).where(col(column).in_(ids)).group_by(col(column))
            ).all()
            if ids
            else []
        )
        counts.append({key: n for key, n in rows})
    sections, items, plan_tasks = counts
    return [
        TemplateSummary(t, sections.get(pk(t), 0), items.get(pk(t), 0), plan_tasks.get(pk(t), 0))
        for t in found
    ]


def active_templates(session: Session, *, org_id: int) -> list[RoomTemplate]:
    """For the "Template" select of the new-room form."""
    return [s.template for s in list_templates(session, org_id=org_id)]


# ---------------------------------------------------------------- what a template holds


@dataclass
class ItemEntry:
    item: TemplateItem
    document: Document

    @property
    def public_id(self) -> str:
        return self.item.public_id

    @property
    def skipped(self) -> bool:
        """Left out of new rooms: its library document was archived."""
        return self.document.archived


@dataclass
class SectionEntry:
    section: TemplateSection | None  # None: the unsectioned items
    items: list[ItemEntry] = field(default_factory=list)


@dataclass
class TemplateView:
    template: RoomTemplate
    groups: list[SectionEntry]  # unsectioned first, then the sections in order
    tasks: list[TemplateTask]

    @property
    def sections(self) -> list[TemplateSection]:
        return [g.section for g in self.groups if g.section is not None]

    @property
    def items(self) -> list[ItemEntry]:
        return [entry for group in self.groups for entry in group.items]

    @property
    def skipped(self) -> list[ItemEntry]:
        return [entry for entry in self.items if entry.skipped]

    @property
    def milestones(self) -> list[str]:
        """Milestone titles in plan order (each once), as rooms made from it will show them."""
        seen: dict[str, str] = {}
        for task in self.tasks:
            seen.setdefault(task.milestone.casefold(), task.milestone)
        return list(seen.values())

    @property
    def empty(self) -> bool:
        return not (self.groups[0].items or self.sections or self.tasks)


def _sections(session: Session, template: RoomTemplate) -> list[TemplateSection]:
    query = select(TemplateSection).where(TemplateSection.template_id == template.id)
    return list(
        session.exec(query.order_by(col(TemplateSection.position), col(TemplateSection.id)))
    )


def _tasks(session: Session, template: RoomTemplate) -> list[TemplateTask]:
    query = select(TemplateTask).where(TemplateTask.template_id == template.id)
    return list(session.exec(query.order_by(col(TemplateTask.position), col(TemplateTask.id))))


def load_template(session: Session, *, template: RoomTemplate) -> TemplateView:
    """Sections, items with their documents, and tasks, in three queries."""
    sections = _sections(session, template)
    rows = session.exec(
        select(TemplateItem, Document)
        .join(Document, col(Document.id) == col(TemplateItem.document_id))
        .where(TemplateItem.template_id == template.id, Document.org_id == template.org_id)
        .order_by(col(TemplateItem.position), col(TemplateItem.id))
    )
    groups = [SectionEntry(None)] + [SectionEntry(s) for s in sections]
    index: dict[int | None, SectionEntry] = {pk(g.section): g for g in groups[1:] if g.section}
    for item, document in rows:
        index.get(item.template_section_id, groups[0]).items.append(ItemEntry(item, document))
    return TemplateView(template, groups, _tasks(session, template))


# ---------------------------------------------------------------- sections


def get_section(session: Session, *, template: RoomTemplate, section_id: str) -> TemplateSection:
    return get_by_public_id(
        session,
        TemplateSection,
        section_id,
        prefix="tsec",
        missing=_("No such section in this template."),
        template_id=template.id,
    )


def _section_field(
    session: Session, template: RoomTemplate, value: object, field: str
) -> TemplateSection | None:
    raw = validate.storable(value, field).strip()
    if not raw:
        return None
    try:
        return get_section(session, template=template, section_id=raw)
    except NotFound:
        raise InvalidInput(fields={field: _("Choose a section of this template.")}) from None


def _section_title(
    title: object, sections: Sequence[TemplateSection], but: TemplateSection | None = None
) -> str:
    """A section title: required, at most 200 characters, and not another section's title
    (case ignored: rooms made from the template match sections by title that way)."""
    text = validate.text(title, "section_title", label=_("Section title"))
    others = [s for s in sections if but is None or s.id != but.id]
    if any(s.title.casefold() == text.casefold() for s in others):
        raise InvalidInput(
            fields={"section_title": _("This template already has a section with that title.")}
        )
    return text


def add_section(session: Session, *, template: RoomTemplate, title: object) -> TemplateSection:
    sections = _sections(session, template)
    text = _section_title(title, sections)
    if len(sections) >= MAX_SECTIONS:
        raise Conflict(_("A template can have at most %(max)s sections.", max=MAX_SECTIONS))
    section = TemplateSection(
        org_id=template.org_id,
        template_id=pk(template),
        title=text,
        position=(sections[-1].position + 1) if sections else 1,
    )
    session.add(section)
    session.flush()
    _touch(template)
    return section


def rename_section(
    session: Session, *, template: RoomTemplate, section: TemplateSection, title: object
) -> TemplateSection:
    """A new title for the heading; its documents and place stay. Rooms already made from the
    template keep their own sections."""
    if section.template_id != template.id:
        raise NotFound(_("No such section in this template."))
    section.title = _section_title(title, _sections(session, template), but=section)
    _touch(template)
    return section


def remove_section(session: Session, *, template: RoomTemplate, section: TemplateSection) -> None:
    """Delete the heading; its items move to the end of the unsectioned ones, in their order."""
    moved = _items_in(session, template, section.id)
    unsectioned = _items_in(session, template, None)
    for position, item in enumerate(moved, start=len(unsectioned) + 1):
        item.template_section_id, item.position = None, position
    session.flush()
    session.delete(section)
    session.flush()
    _renumber(_sections(session, template))
    _touch(template)


def move_section(
    session: Session, *, template: RoomTemplate, section: TemplateSection, direction: object
) -> None:
    sections = _sections(session, template)
    _swap(sections, [s.id for s in sections].index(section.id), direction)
    _touch(template)


# ---------------------------------------------------------------- items


def get_item(session: Session, *, template: RoomTemplate, item_id: str) -> TemplateItem:
    return get_by_public_id(
        session,
        TemplateItem,
        item_id,
        prefix="titem",
        missing=_("No such document in this template."),
        template_id=template.id,
    )


def library_choices(session: Session, *, template: RoomTemplate) -> list[Document]:
    """The organisation's active library documents that are not in the template yet."""
    used = select(TemplateItem.document_id).where(TemplateItem.template_id == template.id)
    query = select(Document).where(
        Document.org_id == template.org_id,
        col(Document.room_id).is_(None),
        col(Document.archived_at).is_(None),
        col(Document.id).not_in(used),
    )
    return list(session.exec(query.order_by(func.lower(Document.title), col(Document.id))))


def _library_document(session: Session, template: RoomTemplate, value: object) -> Document:
    raw = validate.storable(value, "document").strip()
    if not raw:
        raise InvalidInput(fields={"document": _("Choose a document from the library.")})
    try:
        document = content.get_document(session, org_id=template.org_id, document_id=raw)
    except NotFound:
        raise InvalidInput(fields={"document": _("Choose a document from the library.")}) from None
    if document.archived:
        raise InvalidInput(
            fields={"document": _("This document is archived. Restore it in the library first.")}
        )
    return document


def add_item(
    session: Session, *, template: RoomTemplate, document_id: object, section_id: object = ""
) -> TemplateItem:
    """Put a library document (by public id) into the template, at the end of a section."""
    values = validate.gather(
        {
            "document": lambda: _library_document(session, template, document_id),
            "section": lambda: _section_field(session, template, section_id, "section"),
        }
    )
    document, section = values["document"], values["section"]
    assert isinstance(document, Document)
    assert section is None or isinstance(section, TemplateSection)
    exists = session.exec(
        select(TemplateItem.id).where(
            TemplateItem.template_id == template.id, TemplateItem.document_id == document.id
        )
    ).first()
    if exists is not None:
        raise InvalidInput(
            fields={"document": _("“%(title)s” is already in this template.", title=document.title)}
        )
    count = session.exec(
        select(func.count())
        .select_from(TemplateItem)
        .where(TemplateItem.template_id == template.id)
    ).one()
    if count >= MAX_ITEMS:
        raise Conflict(_("A template can hold at most %(max)s documents.", max=MAX_ITEMS))
    section_key = section.id if section is not None else None
    siblings = _items_in(session, template, section_key)
    item = TemplateItem(
        org_id=template.org_id,
        template_id=pk(template),
        template_section_id=section_key,
        document_id=pk(document),
        position=(siblings[-1].position + 1) if siblings else 1,
    )
    session.add(item)
    session.flush()
    _touch(template)
    return item


def remove_item(session: Session, *, template: RoomTemplate, item: TemplateItem) -> None:
    section_key = item.template_section_id
    session.delete(item)
    session.flush()
    _renumber(_items_in(session, template, section_key))
    _touch(template)


def move_item(
    session: Session, *, template: RoomTemplate, item: TemplateItem, direction: object
) -> None:
    """One step up or down within its section."""
    rows = _items_in(session, template, item.template_section_id)
    _swap(rows, [r.id for r in rows].index(item.id), direction)
    _touch(template)


def _items_in(
    session: Session, template: RoomTemplate, section_id: int | None
) -> list[TemplateItem]:
    query = select(TemplateItem).where(TemplateItem.template_id == template.id)
    if section_id is None:
        query = query.where(col(TemplateItem.template_section_id).is_(None))
    else:
        query = query.where(TemplateItem.template_section_id == section_id)
    return list(session.exec(query.order_by(col(TemplateItem.position), col(TemplateItem.id))))


# ---------------------------------------------------------------- plan tasks


def get_task(session: Session, *, template: RoomTemplate, task_id: str) -> TemplateTask:
    return get_by_public_id(
        session,
        TemplateTask,
        task_id,
        prefix="ttask",
        missing=_("No such task in this template."),
        template_id=template.id,
    )


def _owner(value: object) -> str:
    text = validate.storable(value, "owner").strip()
    if text and text not in OWNERS:
        raise InvalidInput(fields={"owner": _("Owner must be the seller, the buyer, or nobody.")})
    return text


def _due(value: object) -> str:
    """A due date relative to the room's first day, checked by the parser the plan uses."""
    text = validate.text(value, "due", label=_("Due"), max_length=DUE_LENGTH, required=False)
    if text:
        tasks.relative_due(text, tasks.today(), field="due")
    return text


def add_task(
    session: Session, *, template: RoomTemplate, data: Mapping[str, object]
) -> TemplateTask:
    """A plan entry: `milestone` and `title` (required), `owner` ("seller", "buyer" or ""),
    `due` ("+7 days", "+2 weeks" or "")."""
    values = validate.gather(
        {
            "milestone": lambda: validate.text(
                data.get("milestone"),
                "milestone",
                label=_("Milestone"),
                max_length=tasks.TITLE_LENGTH,
            ),
            "title": lambda: validate.text(
                data.get("title"), "title", label=_("Task"), max_length=tasks.TITLE_LENGTH
            ),
            "owner": lambda: _owner(data.get("owner")),
            "due": lambda: _due(data.get("due")),
        }
    )
    existing = _tasks(session, template)
    if len(existing) >= MAX_TASKS:
        raise Conflict(_("A template can hold at most %(max)s tasks.", max=MAX_TASKS))
    milestone = str(values["milestone"])
    # Rooms match milestones by title whatever the case: keep the template's first spelling.
    for task in existing:
        if task.milestone.casefold() == milestone.casefold():
            milestone = task.milestone
            break
    task = TemplateTask(
        org_id=template.org_id,
        template_id=pk(template),
        milestone=milestone,
        title=str(values["title"]),
        owner=str(values["owner"]),
        due=str(values["due"]),
        position=(existing[-1].position + 1) if existing else 1,
    )
    session.add(task)
    session.flush()
    _touch(template)
    return task


def remove_task(session: Session, *, template: RoomTemplate, task: TemplateTask) -> None:
    session.delete(task)
    session.flush()
    _renumber(_tasks(session, template))
    _touch(template)


def move_task(
    session: Session, *, template: RoomTemplate, task: TemplateTask, direction: object
) -> None:
    rows = _tasks(session, template)
    _swap(rows, [r.id for r in rows].index(task.id), direction)
    _touch(template)


def plan(template_tasks: Sequence[TemplateTask]) -> list[dict[str, object]]:
    """The tasks in the form `tasks.apply_plan` takes."""
    return [
        {
            "milestone": t.milestone,
            "title": t.title,
            "owner": t.owner or None,
            "due": t.due or None,
        }
        for t in template_tasks
    ]


# ---------------------------------------------------------------- ordering


def _renumber(rows: Sequence[TemplateSection | TemplateItem | TemplateTask]) -> None:
    for position, row in enumerate(rows, start=1):
        if row.position != position:
            row.position = position


def _swap(rows: list[Any], index: int, direction: object) -> None:
    way = validate.choice(direction, "direction", label=_("Direction"), options=("up", "down"))
    other = index - 1 if way == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    _renumber(rows)


# ---------------------------------------------------------------- rooms from templates


@dataclass
class NewRoom:
    room: Room
    template: RoomTemplate | None = None
    # Titles of the template's documents left out because they were archived in the library.
    skipped: list[str] = field(default_factory=list)


def create_room_from_template(
    session: Session,
    *,
    user: User,
    template: RoomTemplate,
    data: Mapping[str, object],
    default_expiry_days: int = 30,
    field: str = "template_id",
    default_retention_days: int = 365,
) -> NewRoom:
    """A room with the template's sections, library documents and plan, in one transaction.

    `data` holds the room's fields as the new-room form sends them; a stage or welcome message
    left empty takes the template's.
    """
    if template.org_id != user.org_id:
        raise NotFound(_("No such template."))
    if template.archived:
        raise Conflict(_("This template is archived. Restore it or choose another one."))
    values = dict(data)
    for key in ("stage", "welcome_message"):
        if not str(values.get(key) or "").strip():
            values[key] = getattr(template, key)
    room = rooms.create_room(
        session,
        user=user,
        data=values,
        default_expiry_days=default_expiry_days,
        default_retention_days=default_retention_days,
    )
    view = load_template(session, template=template)

    # Sections then items, one INSERT each (their ids are needed only to link the items).
    new_sections = {
        pk(s): content.Section.model_construct(
            org_id=room.org_id, room_id=pk(room), title=s.title, position=position
        )
        for position, s in enumerate(view.sections, start=1)
    }
    section_ids = _insert(session, list(new_sections.values()))
    skipped: list[str] = []
    items: list[SQLModel] = []
    for group in view.groups:
        target = new_sections[pk(group.section)] if group.section is not None else None
        position = 0
        for entry in group.items:
            document = entry.document
            if document.archived or not document.in_library:
                skipped.append(document.title)
                continue
            position += 1
            # What content.place makes, for every item at once (a new room holds nothing yet).
            items.append(
                content.RoomItem.model_construct(
                    org_id=room.org_id,
                    room_id=pk(room),
                    document_id=pk(document),
                    section_id=section_ids[target.public_id] if target is not None else None,
                    position=position,
                    stages=document.stages,
                    roles=document.roles,
                    created_by_id=user.id,
                )
            )
    _insert(session, items)

    if view.tasks:
        try:
            tasks.apply_plan(session, room=room, user=user, plan=plan(view.tasks))
        except InvalidInput as exc:  # checked when added; only a rule tightened since fails here
            raise InvalidInput(
                fields={
                    field: _(
                        "The template's action plan has a problem (%(problem)s). "
                        "Fix it in the template editor.",
                        problem=exc.message,
                    )
                }
            ) from None
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="room.created_from_template",
        target=room.public_id,
        template=template.public_id,
        skipped=len(skipped),
    )
    return NewRoom(room, template, skipped)


def _insert(session: Session, rows: Sequence[SQLModel]) -> dict[str, int]:
    """INSERT new rows of one model in a single statement; returns {public_id: id}.

    `session.add_all` would do one round trip per row wherever the database cannot promise the
    order of RETURNING (SQLite). The rows are built with `model_construct` (their values come
    from validated rows; every default of the model still applies) and are not kept in the
    session: nothing here reads them back.
    """
    if not rows:
        return {}
    model = type(rows[0])
    table: Any = model.__table__  # type: ignore[attr-defined]
    values = [row.model_dump(exclude={"id"}) for row in rows]
    returned = session.execute(insert(table).returning(table.c.public_id, table.c.id), values)
    return {public_id: row_id for public_id, row_id in returned}


def create_room(
    session: Session,
    *,
    user: User,
    data: Mapping[str, object],
    template_id: object = "",
    field: str = "template_id",
    default_expiry_days: int = 30,
    default_retention_days: int = 365,
) -> NewRoom:
    """The new-room form and the API: a blank room, or one from the template `template_id`.

    A bad template and bad room fields are reported together (the template error names `field`).
    """
    if not str(template_id or "").strip():
        room = rooms.create_room(
            session,
            user=user,
            data=dict(data),
            default_expiry_days=default_expiry_days,
            default_retention_days=default_retention_days,
        )
        return NewRoom(room)
    try:
        template = template_for_room(
            session, org_id=user.org_id, template_id=template_id, field=field
        )
    except InvalidInput as exc:
        raise InvalidInput(fields={**_room_errors(session, user, data), **exc.fields}) from None
    return create_room_from_template(
        session,
        user=user,
        template=template,
        data=data,
        default_expiry_days=default_expiry_days,
        field=field,
        default_retention_days=default_retention_days,
    )


def _room_errors(session: Session, user: User, data: Mapping[str, object]) -> dict[str, str]:
    """The room fields' errors, without keeping a room (rooms validates as it creates)."""
    savepoint = session.begin_nested()
    try:
        rooms.create_room(session, user=user, data=dict(data))
    except InvalidInput as exc:
        return exc.fields
    finally:
        savepoint.rollback()
    return {}


# ---------------------------------------------------------------- rooms to templates


@dataclass
class SavedTemplate:
    template: RoomTemplate
    uploads: int  # documents uploaded into the room only: a template cannot carry them
    archived: int  # library documents archived since they were added to the room


def save_as_template(
    session: Session, *, user: User, room: Room, data: Mapping[str, object] | None = None
) -> SavedTemplate:
    """A new template from the room: its sections, library documents and plan. `data` may name
    the template (default: the room's name)."""
    if room.org_id != user.org_id:
        raise NotFound(_("Room not found."))
    room_tasks = tasks.list_tasks(session, room=room)
    if len(room_tasks) > MAX_TASKS:
        raise Conflict(
            _(
                "This room's plan has %(count)s tasks; a template holds at most %(max)s.",
                count=len(room_tasks),
                max=MAX_TASKS,
            )
        )
    fields = dict(data or {})
    if not str(fields.get("name") or "").strip():
        fields["name"] = room.name
    template = create_template(
        session,
        user=user,
        data={
            "name": fields["name"],
            "description": fields.get(
                "description", _("Saved from the room “%(name)s”.", name=room.name)
            ),
            "welcome_message": room.welcome_message,
            "stage": room.stage,
        },
    )

    room_sections = content.list_sections(session, room=room)
    sections = {
        pk(s): TemplateSection(
            org_id=template.org_id, template_id=pk(template), title=s.title, position=position
        )
        for position, s in enumerate(room_sections, start=1)
    }
    session.add_all(sections.values())
    session.flush()

    rows = session.exec(
        select(content.RoomItem, Document)
        .join(Document, col(Document.id) == col(content.RoomItem.document_id))
        .where(content.RoomItem.room_id == room.id, Document.org_id == room.org_id)
        .order_by(col(content.RoomItem.position), col(content.RoomItem.id))
    )
    uploads = archived = 0
    counters: dict[int | None, int] = {}
    items = []
    for room_item, document in rows:
        if not document.in_library:
            uploads += 1
            continue
        if document.archived:
            archived += 1
            continue
        target = sections.get(room_item.section_id) if room_item.section_id else None
        section_key = pk(target) if target is not None else None
        counters[section_key] = counters.get(section_key, 0) + 1
        items.append(
            TemplateItem(
                org_id=template.org_id,
                template_id=pk(template),
                template_section_id=section_key,
                document_id=pk(document),
                position=counters[section_key],
            )
        )
    session.add_all(items)

    milestones = {pk(m): m.title for m in tasks.list_milestones(session, room=room)}
    start = room.created_at.date()
    session.add_all(
        TemplateTask(
            org_id=template.org_id,
            template_id=pk(template),
            milestone=milestones[task.milestone_id],
            title=task.title,
            owner=(
                "seller"
                if task.owner_user_id is not None
                else "buyer"
                if task.owner_invite_id is not None
                else ""
            ),
            due=relative(task.due_date.toordinal() - start.toordinal() if task.due_date else None),
            position=position,
        )
        for position, task in enumerate(room_tasks, start=1)
    )
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="template.saved_from_room",
        target=template.public_id,
        room=room.public_id,
        uploads_skipped=uploads,
        archived_skipped=archived,
    )
    return SavedTemplate(template, uploads, archived)


def relative(days: int | None) -> str:
    """ "+N days" for a due date N days after the room's first day ("" for none, or for a date
    before it, which a new room could not meet anyway)."""
    if days is None or days < 0:
        return ""
    days = min(days, tasks.MAX_RELATIVE_DAYS)
    return "+1 day" if days == 1 else f"+{days} days"
