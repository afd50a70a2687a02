"""Stored files and the content items of a room (documents for now; links and versions later)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from . import validate
from .accounts import User
from .db import pk, utcnow
from .errors import InvalidInput, NotFound
from .filetypes import UnsupportedFile, pdf_page_count, sniff
from .ids import has_prefix, new_id
from .rooms import Room
from .storage import Storage


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


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_item"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("doc"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    kind: str = Field(default="file", max_length=20)  # file | link
    file_kind: str = Field(default="", max_length=20)  # pdf | image | video | office | text
    title: str = Field(max_length=200)
    file_id: int | None = Field(default=None, foreign_key="stored_file.id")
    pages: int | None = None
    allow_download: bool = True
    position: int = 0
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


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


def store_upload(
    session: Session, *, storage: Storage, org_public_id: str, org_id: int, upload: Upload
) -> tuple[StoredFile, str, int | None]:
    """Sniff, store and record an upload. Returns the file row, its kind and a PDF's page count."""
    if upload.size == 0:
        raise InvalidInput(fields={"file": "The file is empty."})
    filename = safe_filename(upload.filename)
    upload.file.seek(0)
    head = upload.file.read(8192)
    try:
        filetype = sniff(head, filename)
    except UnsupportedFile as exc:
        raise InvalidInput(fields={"file": str(exc)}) from None
    pages = None
    if filetype.kind == "pdf":
        upload.file.seek(0)
        # Best effort: PDFs whose page tree sits in compressed object streams report None.
        pages = pdf_page_count(upload.file)
    if "." not in filename:
        filename = f"{filename}.{filetype.extension}"
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
    stored = storage.put(row.key, upload.file, content_type=filetype.mime)
    row.size, row.sha256 = stored.size, stored.sha256
    session.add(row)
    session.flush()
    return row, filetype.kind, pages


def add_file(
    session: Session,
    *,
    storage: Storage,
    room: Room,
    user: User,
    org_public_id: str,
    upload: Upload,
    title: str = "",
) -> ContentItem:
    title = validate.text(title or upload.filename, "title", label="Title")
    stored, kind, pages = store_upload(
        session, storage=storage, org_public_id=org_public_id, org_id=room.org_id, upload=upload
    )
    last = session.exec(
        select(func.max(ContentItem.position)).where(ContentItem.room_id == room.id)
    ).one()
    item = ContentItem(
        org_id=room.org_id,
        room_id=pk(room),
        kind="file",
        file_kind=kind,
        title=title,
        file_id=stored.id,
        pages=pages,
        position=(last or 0) + 1,
        created_by_id=user.id,
    )
    session.add(item)
    session.flush()
    return item


def list_items(session: Session, *, room: Room) -> list[tuple[ContentItem, StoredFile | None]]:
    query = (
        select(ContentItem, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(ContentItem.file_id), isouter=True)
        .where(ContentItem.room_id == room.id)
        .order_by(col(ContentItem.position), col(ContentItem.id))
    )
    return [(item, stored) for item, stored in session.exec(query)]


def get_item(
    session: Session, *, room: Room, item_id: str
) -> tuple[ContentItem, StoredFile | None]:
    if not has_prefix(item_id, "doc"):
        raise NotFound("No such item in this room.")
    row = session.exec(
        select(ContentItem, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(ContentItem.file_id), isouter=True)
        .where(ContentItem.room_id == room.id, ContentItem.public_id == item_id)
    ).first()
    if row is None:
        raise NotFound("No such item in this room.")
    return row[0], row[1]


def set_download(session: Session, *, item: ContentItem, allowed: bool) -> ContentItem:
    item.allow_download = allowed
    return item


def remove_item(session: Session, *, item: ContentItem) -> None:
    # The stored object is kept: other versions or an export may still refer to it.
    session.delete(item)
