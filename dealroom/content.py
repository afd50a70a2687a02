"""Documents, links and how they are laid out in rooms.

    StoredFile        one object in a storage backend (which backend and key are recorded)
    Document          a file or a link; org-wide in the content library (room_id NULL) or
                      uploaded into one room (room_id set)
     └─ DocumentVersion   each upload of a file document: v1, v2, ... (current_version)
    Section           a heading in a room, ordered
    RoomItem          a document placed in a room (a reference: a new version of a library
                      document reaches every room using it), in a section or unsectioned
    ItemSeen          the newest version a buyer has opened, for the "new"/"updated" badges

An upload is checked before anything is stored (empty, type sniffed from its bytes, PDFs parsed);
once stored, the object is deleted again if the transaction rolls back, so a failed request
leaves neither a row nor an orphaned file.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import UniqueConstraint, bindparam, event, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from . import embeds, validate
from .accounts import User, get_org
from .db import get_by_public_id, pk, utcnow
from .errors import Conflict, InvalidInput, NotFound, Unavailable
from .filetypes import UnsupportedFile, sniff
from .i18n import _
from .ids import has_prefix, new_id
from .invites import BUYER_ROLES, Invite
from .rooms import Room
from .storage import Storage, StorageError, StorageFull

log = logging.getLogger("dealroom.content")

TAG_STAGES = ("discovery", "evaluation", "decision")
DOC_KINDS = ("file", "link")
FILE_KINDS = ("pdf", "image", "video", "office", "text")
MAX_SECTIONS = 50
MAX_ITEMS = 500


class StoredFile(SQLModel, table=True):
    """One object in a storage backend; which backend and key are recorded with it."""

    __tablename__ = "stored_file"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("file"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    backend: str = Field(max_length=20)
    key: str = Field(max_length=500)
    size: int
    sha256: str = Field(max_length=64)
    content_type: str = Field(max_length=100)
    filename: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


class Document(SQLModel, table=True):
    __tablename__ = "document"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("doc"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    # NULL: in the organisation's content library; set: uploaded into that room only.
    room_id: int | None = Field(default=None, foreign_key="room.id", index=True)
    kind: str = Field(max_length=20)  # file | link
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    url: str = Field(default="", max_length=2000)  # links
    link_kind: str = Field(default="", max_length=20)  # youtube | vimeo | loom | web
    file_kind: str = Field(default="", max_length=20)  # pdf | image | video | office | text
    stages: str = Field(default="", max_length=100)  # comma list of TAG_STAGES
    roles: str = Field(default="", max_length=200)  # comma list of invites.BUYER_ROLES
    current_version: int = 0  # files: the newest DocumentVersion; links: 1
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    archived_at: datetime | None = None

    @property
    def in_library(self) -> bool:
        return self.room_id is None

    @property
    def is_link(self) -> bool:
        return self.kind == "link"

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def stage_list(self) -> list[str]:
        return _split(self.stages)

    @property
    def role_list(self) -> list[str]:
        return _split(self.roles)

    @property
    def link(self) -> embeds.Link | None:
        return _stored_link(self.url) if self.is_link else None


def _stored_link(url: str) -> embeds.Link:
    try:
        return embeds.parse_stored(url)
    except InvalidInput:  # stored before a rule tightened: still a plain link, never embedded
        return embeds.Link(url, "web")


class DocumentVersion(SQLModel, table=True):
    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "version", name="uq_document_version"),)
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    version: int
    file_id: int = Field(foreign_key="stored_file.id")
    pages: int | None = None  # PDFs: counted at upload
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


# The join condition of a document's current version (outer-join it: links have no version).
CURRENT_VERSION = (col(DocumentVersion.document_id) == col(Document.id)) & (
    col(DocumentVersion.version) == col(Document.current_version)
)


class Section(SQLModel, table=True):
    __tablename__ = "room_section"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("sec"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    title: str = Field(max_length=200)
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class RoomItem(SQLModel, table=True):
    __tablename__ = "room_item"
    __table_args__ = (UniqueConstraint("room_id", "document_id", name="uq_room_item_document"),)
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("item"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    section_id: int | None = Field(default=None, foreign_key="room_section.id", index=True)
    position: int = 0
    allow_download: bool = True
    # Room-level tags, initialised from the document's.
    stages: str = Field(default="", max_length=100)
    roles: str = Field(default="", max_length=200)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def stage_list(self) -> list[str]:
        return _split(self.stages)

    @property
    def role_list(self) -> list[str]:
        return _split(self.roles)


class ItemSeen(SQLModel, table=True):
    __tablename__ = "item_seen"
    __table_args__ = (UniqueConstraint("invite_id", "room_item_id", name="uq_item_seen"),)
    id: int | None = Field(default=None, primary_key=True)
    invite_id: int = Field(foreign_key="invite.id", index=True)
    room_item_id: int = Field(foreign_key="room_item.id", index=True)
    version_seen: int
    seen_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- checks


def tags(
    value: object, field: str, *, options: tuple[str, ...], unknown: Callable[[str, str], str]
) -> str:
    """A comma list (or a list) of tags, checked against `options`, in their canonical order.
    `unknown(values, options)` words the error for values that are not options."""
    if isinstance(value, str) or value is None:
        raw = [v.strip() for v in validate.storable(value, field).split(",")]
    elif isinstance(value, Iterable):
        raw = [validate.storable(v, field).strip() for v in value]
    else:
        raise InvalidInput(fields={field: _("Must be a list.")})
    chosen = {v for v in raw if v}
    strangers = sorted(chosen - set(options))
    if strangers:
        shown = ", ".join(u[:40] for u in strangers[:3])
        raise InvalidInput(fields={field: unknown(shown, ", ".join(options))})
    return ",".join(o for o in options if o in chosen)


def stages(value: object, field: str = "stages") -> str:
    return tags(
        value,
        field,
        options=TAG_STAGES,
        unknown=lambda values, options: _(
            "Unknown stage: %(values)s. Choose from %(options)s.", values=values, options=options
        ),
    )


def roles(value: object, field: str = "roles") -> str:
    return tags(
        value,
        field,
        options=BUYER_ROLES,
        unknown=lambda values, options: _(
            "Unknown role: %(values)s. Choose from %(options)s.", values=values, options=options
        ),
    )


def _title(value: object, field: str = "title") -> str:
    return validate.text(value, field, label=_("Title"))


def _description(value: object) -> str:
    return validate.long_text(value, "description", label=_("Description"), max_length=2000)


# ---------------------------------------------------------------- uploads


@dataclass
class Upload:
    """An upload already received into a temporary file (size limit enforced while streaming)."""

    filename: str
    file: BinaryIO
    size: int


def safe_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"<>:|?*]", "", name).strip(" .")
    return name[:200] or "file"


def title_from_filename(name: str) -> str:
    stem = safe_filename(name).rsplit(".", 1)[0] if "." in name else safe_filename(name)
    return " ".join(stem.replace("_", " ").split())[:200] or "Untitled"


def pdf_pages(file: BinaryIO, filename: str) -> int:
    """Open a PDF with a real parser: its page count, or InvalidInput saying why it is unusable."""
    from pypdf import PdfReader

    broken = InvalidInput(
        fields={
            "file": _(
                "%(name)s is damaged or incomplete: it cannot be opened as a PDF. "
                "Export it again and upload the new file.",
                name=filename,
            )
        }
    )
    file.seek(0)
    try:
        # Untrusted input: pypdf may raise nearly anything on a hostile file, and warns on
        # harmless oddities we do not want to surface as errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(file, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise InvalidInput(
                    fields={
                        "file": _(
                            "%(name)s is protected with a password. Upload a copy without "
                            "one: buyers read it in the browser.",
                            name=filename,
                        )
                    }
                )
            pages = len(reader.pages)
            if pages:
                reader.pages[0].mediabox  # noqa: B018 - touch the first page: is it really there?
    except InvalidInput:
        raise
    except RecursionError:
        raise broken from None
    except Exception:  # noqa: BLE001 - any parser failure means the same thing to the uploader
        raise broken from None
    if pages == 0:
        raise InvalidInput(fields={"file": _("%(name)s has no pages.", name=filename)})
    return pages


def _discard_on_rollback(session: Session, storage: Storage, key: str) -> None:
    """Delete the stored object if this transaction rolls back (nothing may point to it then)."""
    pending: list[tuple[Storage, str]] = session.info.setdefault("content_uploads", [])
    pending.append((storage, key))
    if session.info.get("content_listening"):
        return
    session.info["content_listening"] = True

    def forget(sess: Session) -> None:
        sess.info["content_uploads"] = []

    def discard(sess: Session, previous: Any) -> None:
        if previous.parent is not None or previous.nested:
            return  # an inner savepoint: the outer transaction may still commit
        for owner, stored_key in sess.info.get("content_uploads", []):
            with suppress(StorageError, ValueError):
                owner.delete(stored_key)
        sess.info["content_uploads"] = []

    event.listen(session, "after_commit", forget)
    event.listen(session, "after_soft_rollback", discard)


def store_upload(
    session: Session,
    *,
    storage: Storage,
    org_id: int,
    upload: Upload,
    org_public_id: str | None = None,
) -> tuple[StoredFile, str, int | None]:
    """Check, store and record an upload. Returns the file row, its kind and a PDF's page count."""
    if upload.size == 0:
        raise InvalidInput(fields={"file": _("The file is empty.")})
    filename = safe_filename(upload.filename)
    upload.file.seek(0)
    head = upload.file.read(8192)
    try:
        filetype = sniff(head, filename)
    except UnsupportedFile as exc:
        raise InvalidInput(fields={"file": str(exc)}) from None
    pages = pdf_pages(upload.file, filename) if filetype.kind == "pdf" else None
    if "." not in filename:
        filename = f"{filename}.{filetype.extension}"
    org_public_id = org_public_id or get_org(session, org_id).public_id
    row = StoredFile(
        org_id=org_id,
        backend=storage.name,
        key="",
        size=0,
        sha256="",
        content_type=filetype.mime,
        filename=filename,
    )
    row.key = f"{org_public_id}/{row.public_id}"
    upload.file.seek(0)
    _discard_on_rollback(session, storage, row.key)
    try:
        stored = storage.put(row.key, upload.file, content_type=filetype.mime)
    except StorageFull:
        log.error("storage full: upload %s refused", row.key)
        raise Unavailable(
            _(
                "There is no space left to store files, so %(name)s was not saved. "
                "Tell your Dealroom administrator.",
                name=filename,
            ),
            retry_after=60,
        ) from None
    except StorageError:
        log.warning("storage unavailable: upload %s refused", row.key, exc_info=True)
        raise Unavailable(
            _(
                "The file storage is not reachable, so %(name)s was not saved. "
                "Please try again in a few minutes.",
                name=filename,
            )
        ) from None
    row.size, row.sha256 = stored.size, stored.sha256
    session.add(row)
    session.flush()
    return row, filetype.kind, pages


# ---------------------------------------------------------------- documents


def create_file_document(
    session: Session,
    *,
    storage: Storage,
    user: User,
    upload: Upload,
    room: Room | None = None,
    title: str = "",
    description: str = "",
    stages_: object = "",
    roles_: object = "",
    org_public_id: str | None = None,
) -> Document:
    values = validate.gather(
        {
            "title": lambda: _title(title or title_from_filename(upload.filename)),
            "description": lambda: _description(description),
            "stages": lambda: stages(stages_),
            "roles": lambda: roles(roles_),
        }
    )
    stored, kind, pages = store_upload(
        session, storage=storage, org_id=user.org_id, upload=upload, org_public_id=org_public_id
    )
    document = Document(
        org_id=user.org_id,
        room_id=room.id if room is not None else None,
        kind="file",
        file_kind=kind,
        current_version=1,
        created_by_id=user.id,
        title=str(values["title"]),
        description=str(values["description"]),
        stages=str(values["stages"]),
        roles=str(values["roles"]),
    )
    session.add(document)
    session.flush()
    session.add(
        DocumentVersion(
            document_id=pk(document),
            version=1,
            file_id=pk(stored),
            pages=pages,
            created_by_id=user.id,
        )
    )
    session.flush()
    return document


def create_link_document(
    session: Session,
    *,
    user: User,
    url: str,
    room: Room | None = None,
    title: str = "",
    description: str = "",
    stages_: object = "",
    roles_: object = "",
) -> Document:
    values = validate.gather(
        {
            "link": lambda: embeds.parse(url),
            "title": lambda: validate.text(title, "title", label=_("Title"), required=False),
            "description": lambda: _description(description),
            "stages": lambda: stages(stages_),
            "roles": lambda: roles(roles_),
        }
    )
    link = values.pop("link")
    assert isinstance(link, embeds.Link)
    if not values["title"]:
        values["title"] = link.host[:200] if link.kind == "web" else _(embeds.LABELS[link.kind])
    document = Document(
        org_id=user.org_id,
        room_id=room.id if room is not None else None,
        kind="link",
        url=link.url,
        link_kind=link.kind,
        current_version=1,
        created_by_id=user.id,
        title=str(values["title"]),
        description=str(values["description"]),
        stages=str(values["stages"]),
        roles=str(values["roles"]),
    )
    session.add(document)
    session.flush()
    return document


def add_version(
    session: Session,
    *,
    storage: Storage,
    document: Document,
    user: User,
    upload: Upload,
    org_public_id: str | None = None,
) -> DocumentVersion:
    """Replace a file document's content: every room that shows it shows the new version."""
    if document.is_link:
        raise Conflict(_("A link has no file to replace. Edit its address instead."))
    stored, kind, pages = store_upload(
        session,
        storage=storage,
        org_id=document.org_id,
        upload=upload,
        org_public_id=org_public_id,
    )
    document.current_version += 1
    document.file_kind = kind
    document.updated_at = utcnow()
    version = DocumentVersion(
        document_id=pk(document),
        version=document.current_version,
        file_id=pk(stored),
        pages=pages,
        created_by_id=user.id,
    )
    session.add(version)
    session.flush()
    return version


def update_document(session: Session, *, document: Document, data: dict[str, object]) -> Document:
    """Change title, description, default tags, and a link's address (only the keys given)."""
    checks: dict[str, Any] = {
        "title": lambda: _title(data.get("title")),
        "description": lambda: _description(data.get("description")),
        "stages": lambda: stages(data.get("stages")),
        "roles": lambda: roles(data.get("roles")),
    }
    if document.is_link:
        checks["url"] = lambda: embeds.parse(data.get("url"))
    values = validate.gather({k: check for k, check in checks.items() if k in data})
    link = values.pop("url", None)
    if isinstance(link, embeds.Link) and link.url != document.url:
        document.url, document.link_kind = link.url, link.kind
        document.current_version += 1  # buyers see "updated": the link leads somewhere new
    for key, value in values.items():
        setattr(document, key, value)
    document.updated_at = utcnow()
    return document


def get_document(
    session: Session, *, org_id: int, document_id: str, library: bool = True
) -> Document:
    """A document of this organisation (only library documents unless library=False)."""
    if not has_prefix(document_id, "doc"):
        raise NotFound(_("No such document."))
    query = select(Document).where(Document.public_id == document_id, Document.org_id == org_id)
    if library:
        query = query.where(col(Document.room_id).is_(None))
    document = session.exec(query).first()
    if document is None:
        raise NotFound(_("No such document."))
    return document


def archive_document(session: Session, *, document: Document) -> Document:
    """Retire a library document: it leaves the library list; rooms that use it keep it."""
    if document.archived_at is None:
        document.archived_at = document.updated_at = utcnow()
    return document


def restore_document(session: Session, *, document: Document) -> Document:
    document.archived_at = None
    document.updated_at = utcnow()
    return document


def document_versions(
    session: Session, *, document: Document
) -> list[tuple[DocumentVersion, StoredFile]]:
    query = (
        select(DocumentVersion, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(DocumentVersion.file_id))
        .where(DocumentVersion.document_id == document.id)
        .order_by(col(DocumentVersion.version).desc())
    )
    return [(v, f) for v, f in session.exec(query)]


def version_file(
    session: Session, *, document: Document, version: int | None = None
) -> tuple[DocumentVersion, StoredFile]:
    number = document.current_version if version is None else version
    row = session.exec(
        select(DocumentVersion, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(DocumentVersion.file_id))
        .where(DocumentVersion.document_id == document.id, DocumentVersion.version == number)
    ).first()
    if row is None:
        raise NotFound(_("This document has no such version."))
    return row[0], row[1]


def rooms_using(session: Session, *, document: Document) -> list[Room]:
    query = (
        select(Room)
        .join(RoomItem, col(RoomItem.room_id) == col(Room.id))
        .where(RoomItem.document_id == document.id, Room.org_id == document.org_id)
        .order_by(col(Room.name))
    )
    return list(session.exec(query))


@dataclass
class LibraryEntry:
    document: Document
    version: DocumentVersion | None
    file: StoredFile | None
    rooms: int


def list_library(
    session: Session, *, org_id: int, search: str = "", archived: bool = False, limit: int = 500
) -> list[LibraryEntry]:
    """The organisation's library; `search` matches the title, description, or a tag."""
    query = (
        select(Document, DocumentVersion, StoredFile)
        .join(
            DocumentVersion,
            CURRENT_VERSION,
            isouter=True,
        )
        .join(StoredFile, col(StoredFile.id) == col(DocumentVersion.file_id), isouter=True)
        .where(Document.org_id == org_id, col(Document.room_id).is_(None))
    )
    archived_at = col(Document.archived_at)
    query = query.where(archived_at.is_not(None) if archived else archived_at.is_(None))
    search = " ".join(str(search or "").split())[:100].lower()
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # Tags are stored as "economic_buyer": "economic buyer" finds them too.
        tag_pattern = "%" + escaped.replace(" ", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Document.title).like(pattern, escape="\\"),
                func.lower(Document.description).like(pattern, escape="\\"),
                func.lower(Document.stages).like(tag_pattern, escape="\\"),
                func.lower(Document.roles).like(tag_pattern, escape="\\"),
            )
        )
    query = query.order_by(col(Document.updated_at).desc(), col(Document.id).desc()).limit(limit)
    rows = list(session.exec(query))
    ids = [pk(d) for d, _v, _f in rows]
    counts: dict[int, int] = {}
    if ids:
        count_query = (
            select(RoomItem.document_id, func.count())
            .where(col(RoomItem.document_id).in_(ids))
            .group_by(col(RoomItem.document_id))
        )
        counts = {doc_id: n for doc_id, n in session.exec(count_query)}
    return [LibraryEntry(d, v, f, counts.get(pk(d), 0)) for d, v, f in rows]


# ---------------------------------------------------------------- sections


def list_sections(session: Session, *, room: Room) -> list[Section]:
    query = select(Section).where(Section.room_id == room.id)
    return list(session.exec(query.order_by(col(Section.position), col(Section.id))))


def get_section(session: Session, *, room: Room, section_id: str) -> Section:
    return get_by_public_id(
        session,
        Section,
        section_id,
        prefix="sec",
        missing=_("No such section in this room."),
        room_id=room.id,
    )


def _section_field(session: Session, room: Room, value: object, field: str) -> Section | None:
    """A section named by public id in a form ("" = unsectioned); unknown ids name the field."""
    raw = str(value or "").strip()
    if not raw:
        return None
    try:
        return get_section(session, room=room, section_id=raw)
    except NotFound:
        raise InvalidInput(fields={field: _("Choose a section of this room.")}) from None


def add_section(session: Session, *, room: Room, title: str) -> Section:
    title = validate.text(title, "section_title", label=_("Section title"))
    sections = list_sections(session, room=room)
    if len(sections) >= MAX_SECTIONS:
        raise Conflict(_("A room can have at most %(max)s sections.", max=MAX_SECTIONS))
    section = Section(
        org_id=room.org_id,
        room_id=pk(room),
        title=title,
        position=(sections[-1].position + 1) if sections else 1,
    )
    session.add(section)
    session.flush()
    return section


def section_named(session: Session, *, room: Room, title: str) -> Section:
    """The room's section with this title (case-insensitive), created at the end if missing."""
    title = validate.text(title, "section", label=_("Section"))
    for section in list_sections(session, room=room):
        if section.title.casefold() == title.casefold():
            return section
    return add_section(session, room=room, title=title)


def rename_section(session: Session, *, section: Section, title: str) -> Section:
    section.title = validate.text(title, "section_title", label=_("Section title"))
    return section


def remove_section(session: Session, *, room: Room, section: Section) -> None:
    """Delete the heading; its items move to the end of the unsectioned list, in their order."""
    moved = _items_in(session, room, section.id)
    unsectioned = _items_in(session, room, None)
    for offset, item in enumerate(moved, start=len(unsectioned) + 1):
        item.section_id = None
        item.position = offset
    session.flush()
    session.delete(section)
    session.flush()
    _renumber(list_sections(session, room=room))


def move_section(session: Session, *, room: Room, section: Section, direction: str) -> None:
    sections = list_sections(session, room=room)
    _swap(sections, sections.index(section), direction)


# ---------------------------------------------------------------- room items


def place(
    session: Session,
    *,
    room: Room,
    document: Document,
    user: User | None = None,
    section: Section | None = None,
) -> RoomItem:
    """Put a document into a room (at the end of `section`), with the document's tags."""
    if document.org_id != room.org_id or document.room_id not in (None, room.id):
        raise NotFound(_("No such document."))
    if document.archived:
        raise Conflict(_("This document is archived. Restore it in the library first."))
    if section is not None and section.room_id != room.id:
        raise NotFound(_("No such section in this room."))
    exists = session.exec(
        select(RoomItem.id).where(RoomItem.room_id == room.id, RoomItem.document_id == document.id)
    ).first()
    if exists is not None:
        raise Conflict(_("“%(title)s” is already in this room.", title=document.title))
    count = session.exec(
        select(func.count()).select_from(RoomItem).where(RoomItem.room_id == room.id)
    ).one()
    if count >= MAX_ITEMS:
        raise Conflict(_("A room can hold at most %(max)s items.", max=MAX_ITEMS))
    section_id = section.id if section is not None else None
    siblings = _items_in(session, room, section_id)
    item = RoomItem(
        org_id=room.org_id,
        room_id=pk(room),
        document_id=pk(document),
        section_id=section_id,
        position=(siblings[-1].position + 1) if siblings else 1,
        stages=document.stages,
        roles=document.roles,
        created_by_id=user.id if user is not None else None,
    )
    session.add(item)
    session.flush()
    room.updated_at = utcnow()
    return item


def add_file(
    session: Session,
    *,
    storage: Storage,
    room: Room,
    user: User,
    upload: Upload,
    title: str = "",
    section: Section | None = None,
    stages_: object = "",
    roles_: object = "",
    org_public_id: str | None = None,
) -> RoomItem:
    """Upload a file into one room (not the library)."""
    document = create_file_document(
        session,
        storage=storage,
        user=user,
        upload=upload,
        room=room,
        title=title,
        stages_=stages_,
        roles_=roles_,
        org_public_id=org_public_id,
    )
    return place(session, room=room, document=document, user=user, section=section)


def add_link(
    session: Session,
    *,
    room: Room,
    user: User,
    url: str,
    title: str = "",
    section: Section | None = None,
    stages_: object = "",
    roles_: object = "",
) -> RoomItem:
    document = create_link_document(
        session, user=user, url=url, room=room, title=title, stages_=stages_, roles_=roles_
    )
    return place(session, room=room, document=document, user=user, section=section)


def add_from_library(
    session: Session,
    *,
    room: Room,
    user: User,
    document_id: str,
    section_id: str = "",
) -> RoomItem:
    values = validate.gather(
        {
            "document": lambda: _library_field(session, room, document_id),
            "section": lambda: _section_field(session, room, section_id, "section"),
        }
    )
    document = values["document"]
    section = values["section"]
    assert isinstance(document, Document)
    assert section is None or isinstance(section, Section)
    return place(session, room=room, document=document, user=user, section=section)


def _library_field(session: Session, room: Room, document_id: str) -> Document:
    if not str(document_id or "").strip():
        raise InvalidInput(fields={"document": _("Choose a document from the library.")})
    try:
        return get_document(session, org_id=room.org_id, document_id=str(document_id).strip())
    except NotFound:
        raise InvalidInput(fields={"document": _("Choose a document from the library.")}) from None


class _Shown:
    """What pages read of an item, whether it was loaded as ORM rows or as records."""

    __slots__ = ()
    item: RoomItem | ItemRecord
    document: Document | DocumentRecord
    version: DocumentVersion | VersionRecord | None

    @property
    def public_id(self) -> str:
        return self.item.public_id

    @property
    def title(self) -> str:
        return self.document.title

    @property
    def is_link(self) -> bool:
        return self.document.is_link

    @property
    def embed(self) -> embeds.Link | None:
        link = self.document.link
        return link if link is not None and link.embed_url else None

    @property
    def pages(self) -> int | None:
        return self.version.pages if self.version is not None else None


@dataclass
class ItemView(_Shown):
    """One room item as its ORM rows: to change it, or to show a page about it alone."""

    item: RoomItem
    document: Document
    version: DocumentVersion | None
    file: StoredFile | None
    section: Section | None = None


# ---------------------------------------------------------------- a room's content, listed

# Room pages list every item of a room on every view. They read plain records, selected column
# by column, instead of four ORM instances per item: creating, tracking and then discarding
# ~1,000 instances per view cost more than the rest of a big room page's data access, and the
# garbage they leave makes the slowest views slower still. The records carry the models'
# attribute names, so templates and the API read them like the rows. Changes load the ORM
# rows again (get_item).


@dataclass(slots=True)
class SectionRecord:
    id: int
    public_id: str
    title: str
    position: int


@dataclass(slots=True)
class ItemRecord:
    id: int
    public_id: str
    section_id: int | None
    position: int
    allow_download: bool
    stages: str
    roles: str
    created_at: datetime

    @property
    def stage_list(self) -> list[str]:
        return _split(self.stages)

    @property
    def role_list(self) -> list[str]:
        return _split(self.roles)


@dataclass(slots=True)
class DocumentRecord:
    id: int
    public_id: str
    room_id: int | None
    kind: str
    title: str
    url: str
    link_kind: str
    file_kind: str
    current_version: int

    @property
    def in_library(self) -> bool:
        return self.room_id is None

    @property
    def is_link(self) -> bool:
        return self.kind == "link"

    @property
    def link(self) -> embeds.Link | None:
        return _stored_link(self.url) if self.is_link else None


@dataclass(slots=True)
class VersionRecord:
    version: int
    pages: int | None


@dataclass(slots=True)
class FileRecord:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(slots=True)
class ListedItem(_Shown):
    """A room item in a room page's list."""

    item: ItemRecord
    document: DocumentRecord
    version: VersionRecord | None
    file: FileRecord | None
    section: SectionRecord | None = None
    badge: str = ""  # "" | "new" | "updated" (buyers only)


@dataclass(slots=True)
class SectionView:
    section: SectionRecord | None  # None: the unsectioned items
    items: list[ListedItem] = field(default_factory=list)

    @property
    def public_id(self) -> str:
        return self.section.public_id if self.section is not None else ""


@dataclass
class RoomContent:
    sections: list[SectionView]  # unsectioned first, then the sections in order

    @property
    def items(self) -> list[ListedItem]:
        return [view for group in self.sections for view in group.items]

    @property
    def headings(self) -> list[SectionRecord]:
        return [g.section for g in self.sections if g.section is not None]

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def _columns(model: type[SQLModel], record: type) -> list[Any]:
    """The model's columns named like the record's fields, in the fields' order."""
    return [col(getattr(model, f.name)) for f in fields(record)]


def _joined(query: Any) -> Any:
    """RoomItem joined to its document, and to the current version and its file if any."""
    return (
        query.join(Document, col(Document.id) == col(RoomItem.document_id))
        .join(
            DocumentVersion,
            CURRENT_VERSION,
            isouter=True,
        )
        .join(StoredFile, col(StoredFile.id) == col(DocumentVersion.file_id), isouter=True)
    )


# The listing's statements are built once, with bound parameters: composing a select of 30
# columns and four joins costs more than running it.
_SECTIONS = (
    sa_select(*_columns(Section, SectionRecord))
    .where(col(Section.room_id) == bindparam("room_id"))
    .order_by(col(Section.position), col(Section.id))
)
_LISTING = _joined(
    sa_select(
        *_columns(RoomItem, ItemRecord),
        *_columns(Document, DocumentRecord),
        *_columns(DocumentVersion, VersionRecord),
        *_columns(StoredFile, FileRecord),
    )
    .select_from(RoomItem)
    .where(
        col(RoomItem.room_id) == bindparam("room_id"),
        col(Document.org_id) == bindparam("org_id"),
    )
    .order_by(col(RoomItem.position), col(RoomItem.id))
)
# For a buyer, what they have opened joins in, for the badges.
_LISTING_SEEN = _LISTING.add_columns(col(ItemSeen.version_seen)).join(
    ItemSeen,
    (col(ItemSeen.room_item_id) == col(RoomItem.id))
    & (col(ItemSeen.invite_id) == bindparam("invite_id")),
    isouter=True,
)
# Where each record's columns end in a listing row.
_ENDS = tuple(
    itertools.accumulate(
        len(fields(record)) for record in (ItemRecord, DocumentRecord, VersionRecord, FileRecord)
    )
)


def room_content(session: Session, *, room: Room, invite: Invite | None = None) -> RoomContent:
    """The room's items grouped by section, as records; with `invite`, badges for what that
    buyer has not opened ("new") or not opened since a new version ("updated")."""
    # Plain rows through the connection, without the ORM's per-row work; what the ORM would
    # do first is done here: pending changes are flushed, so the list shows them.
    if session.autoflush:
        session.flush()
    connection = session.connection()
    sections = [SectionRecord(*row) for row in connection.execute(_SECTIONS, {"room_id": room.id})]
    groups = [SectionView(None)] + [SectionView(s) for s in sections]
    index: dict[int | None, SectionView] = {None: groups[0]}
    index.update((s.id, g) for s, g in zip(sections, groups[1:], strict=True))
    a, b, c, d = _ENDS
    params = {"room_id": room.id, "org_id": room.org_id}
    if invite is None:
        rows = connection.execute(_LISTING, params)
    else:
        rows = connection.execute(_LISTING_SEEN, {**params, "invite_id": invite.id})
    for row in rows:
        item = ItemRecord(*row[:a])
        document = DocumentRecord(*row[a:b])
        group = index.get(item.section_id, groups[0])
        view = ListedItem(
            item,
            document,
            VersionRecord(*row[b:c]) if row[b] is not None else None,
            FileRecord(*row[c:d]) if row[c] is not None else None,
            group.section,
        )
        if invite is not None:
            opened = row[d]
            if opened is None:
                view.badge = "new"
            elif opened < document.current_version:
                view.badge = "updated"
        group.items.append(view)
    return RoomContent(groups)


def get_item(session: Session, *, room: Room, item_id: str) -> ItemView:
    if not has_prefix(item_id, "item"):
        raise NotFound(_("No such item in this room."))
    query = _joined(select(RoomItem, Document, DocumentVersion, StoredFile))
    row = session.exec(
        query.where(
            RoomItem.room_id == room.id,
            Document.org_id == room.org_id,
            RoomItem.public_id == item_id,
        )
    ).first()
    if row is None:
        raise NotFound(_("No such item in this room."))
    item, document, version, stored = row
    section = session.get(Section, item.section_id) if item.section_id else None
    return ItemView(item, document, version, stored, section)


def update_item(
    session: Session, *, room: Room, view: ItemView, data: dict[str, object]
) -> RoomItem:
    """Section and room tags of an item; the title too for a document uploaded into this room
    (a library document's title is changed in the library, for every room at once)."""
    item = view.item
    checks: dict[str, Any] = {
        "section": lambda: _section_field(session, room, data.get("section"), "section"),
        "stages": lambda: stages(data.get("stages")),
        "roles": lambda: roles(data.get("roles")),
    }
    if not view.document.in_library:
        checks["title"] = lambda: _title(data.get("title"))
    values = validate.gather({k: check for k, check in checks.items() if k in data})
    old_section_id = item.section_id
    if "section" in values:
        section = values.pop("section")
        assert section is None or isinstance(section, Section)
        new_id_ = section.id if section is not None else None
        if new_id_ != item.section_id:
            item.section_id = new_id_
            item.position = len(_items_in(session, room, new_id_)) + 1
    if "title" in values:
        view.document.title = str(values.pop("title"))
        view.document.updated_at = utcnow()
    for key, value in values.items():
        setattr(item, key, value)
    session.flush()
    for section_id in {old_section_id, item.section_id}:
        _renumber(_items_in(session, room, section_id))
    return item


def set_download(session: Session, *, item: RoomItem, allowed: bool) -> RoomItem:
    item.allow_download = allowed
    return item


def remove_item(session: Session, *, room: Room, view: ItemView) -> None:
    """Take the item out of the room. A document uploaded into this room only is archived with
    it; stored files are kept (older versions, an export or the audit trail may refer to them)."""
    item = view.item
    for seen in session.exec(select(ItemSeen).where(ItemSeen.room_item_id == item.id)):
        session.delete(seen)
    if not view.document.in_library:
        archive_document(session, document=view.document)
    section_id = item.section_id
    session.delete(item)
    session.flush()
    _renumber(_items_in(session, room, section_id))


def _items_in(session: Session, room: Room, section_id: int | None) -> list[RoomItem]:
    query = select(RoomItem).where(RoomItem.room_id == room.id)
    if section_id is None:
        query = query.where(col(RoomItem.section_id).is_(None))
    else:
        query = query.where(RoomItem.section_id == section_id)
    return list(session.exec(query.order_by(col(RoomItem.position), col(RoomItem.id))))


def _renumber(rows: Sequence[RoomItem | Section]) -> None:
    for position, row in enumerate(rows, start=1):
        if row.position != position:
            row.position = position


def _swap(rows: list[Any], index: int, direction: str) -> None:
    direction = validate.choice(
        direction, "direction", label=_("Direction"), options=("up", "down")
    )
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    _renumber(rows)


def move_item(session: Session, *, room: Room, item: RoomItem, direction: str) -> None:
    """One step up or down within its section (the keyboard and no-JS way to reorder)."""
    rows = _items_in(session, room, item.section_id)
    _swap(rows, [r.id for r in rows].index(item.id), direction)


def arrange(
    session: Session,
    *,
    room: Room,
    sections: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
) -> None:
    """Apply a whole new order (drag and drop).

    `sections` lists every section id of the room in the new order. `items` lists every item as
    "sec_…:item_…" (or ":item_…" for unsectioned) in the new order. A list that does not match
    the room exactly (someone else changed it meanwhile) is refused; nothing is half applied.
    """
    stale = InvalidInput(
        _("The content of this room changed meanwhile. Reload the page and try again.")
    )
    all_sections = list_sections(session, room=room)
    section_by_public = {s.public_id: s for s in all_sections}
    if sections is not None:
        if sorted(sections) != sorted(section_by_public):
            raise stale
        _renumber([section_by_public[s] for s in sections])
    if items is None:
        return
    room_items = {
        i.public_id: i for i in session.exec(select(RoomItem).where(RoomItem.room_id == room.id))
    }
    placed: list[tuple[int | None, RoomItem]] = []
    for entry in items:
        section_public, _colon, item_public = str(entry).rpartition(":")
        if item_public not in room_items or (
            section_public and section_public not in section_by_public
        ):
            raise stale
        section = section_by_public.get(section_public)
        placed.append((section.id if section is not None else None, room_items[item_public]))
    if sorted(i.public_id for _s, i in placed) != sorted(room_items):
        raise stale
    counters: dict[int | None, int] = {}
    for section_id, item in placed:
        counters[section_id] = counters.get(section_id, 0) + 1
        item.section_id, item.position = section_id, counters[section_id]


# ---------------------------------------------------------------- buyers


def mark_seen(session: Session, *, invite: Invite, view: ItemView) -> None:
    """Remember that this buyer opened the item's current version (clears its badge)."""
    version = view.document.current_version
    seen = session.exec(
        select(ItemSeen).where(
            ItemSeen.invite_id == invite.id, ItemSeen.room_item_id == view.item.id
        )
    ).first()
    if seen is not None:
        if seen.version_seen < version:
            seen.version_seen, seen.seen_at = version, utcnow()
        return
    try:
        # Two tabs opening the same item at once: the second insert loses, which is fine.
        with session.begin_nested():
            session.add(
                ItemSeen(invite_id=pk(invite), room_item_id=pk(view.item), version_seen=version)
            )
    except IntegrityError:
        pass


# ---------------------------------------------------------------- buyer logo

LOGO_MAX_BYTES = 2 * 1024 * 1024


def set_logo(session: Session, *, storage: Storage, room: Room, upload: Upload) -> StoredFile:
    """The buyer's logo on the room page: an image of at most 2 MB."""
    if upload.size > LOGO_MAX_BYTES:
        raise InvalidInput(fields={"buyer_logo": _("The logo must be at most 2 MB.")})
    try:
        stored, kind, _pages = store_upload(
            session, storage=storage, org_id=room.org_id, upload=upload
        )
    except InvalidInput as exc:
        raise InvalidInput(
            fields={"buyer_logo": next(iter(exc.fields.values()), exc.message)}
        ) from None
    if kind != "image":
        raise InvalidInput(
            fields={"buyer_logo": _("The logo must be an image (PNG, JPEG, GIF or WebP).")}
        )
    room.buyer_logo_file_id = pk(stored)
    return stored


def remove_logo(session: Session, *, room: Room) -> None:
    # The stored object stays: it is referenced by nothing else, and files are never deleted
    # outside a rolled-back upload (see _discard_on_rollback).
    room.buyer_logo_file_id = None


def room_logo(session: Session, *, room: Room) -> StoredFile:
    if room.buyer_logo_file_id is None:
        raise NotFound(_("This room has no logo."))
    stored = session.get(StoredFile, room.buyer_logo_file_id)
    if stored is None or stored.org_id != room.org_id:
        raise NotFound(_("This room has no logo."))
    return stored
