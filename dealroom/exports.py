"""Exports: the deal summary written to a CRM, a signed webhook or a file, exactly once, visibly.

    run = request_export(session, room=room, user=seller, kind="hubspot", intro="", next_steps="")
    # committed by the request; the worker (jobs.Jobs.run_exports: every 2 s, and kicked at once)
    run_due(db, storage=storage, links=links, vault=Vault(secret_key))

An export is a durable run in the database, never a request's thread:

    queued ──claim──> running ──> done
       ^                 │ └────> failed      (PermanentError, or retries used up; `fix` says how)
       └── retry later ──┘                    (RetryableError: backoff with jitter, Retry-After)

Claiming takes ONE due run atomically (PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED; SQLite: a
conditional UPDATE whose rowcount tells who won) and sets a lease that a heartbeat renews while
the target runs. A worker that dies mid-run stops renewing: once the lease has expired the run is
due again and another worker reclaims it. Every later write checks the claim token, so a worker
that lost its lease cannot overwrite the run's outcome.

Exactly once, remotely: the run starts from the remote ids of the room's previous export to the
same target (`previous`), so adapters update what exists instead of creating twins; `checkpoint`
commits each new remote id in its own small transaction as soon as it exists, so a crash between
the remote write and our bookkeeping keeps it (and adapters search for their marker when an id
is still missing).

Connection settings are per organisation; secret fields are encrypted at rest with Fernet under
a key derived (HKDF-SHA256) from the app's secret key, and are never shown back.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import io
import json
import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, Index, UniqueConstraint, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit, i18n, validate
from .accounts import User, get_org
from .content import StoredFile
from .crm.base import ExportError, ExportResult, PermanentError, RetryableError, Summary, Target
from .db import Database, get_by_public_id, pk, utcnow
from .errors import InvalidInput, NotFound, PermissionDenied
from .i18n import N_, _
from .ids import new_id
from .links import Links
from .rooms import Room
from .storage import Storage, StorageError

log = logging.getLogger("dealroom.exports")

CRM_KINDS = ("hubspot", "salesforce", "kintone")
FILE_KINDS = ("csv", "json", "markdown")
KINDS = (*CRM_KINDS, "webhook", *FILE_KINDS)
STATUSES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")

TARGET_LABELS = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "kintone": "kintone",
    "webhook": N_("Webhook"),
    "csv": "CSV",
    "json": "JSON",
    "markdown": "Markdown",
}
STATUS_LABELS = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "failed": N_("Failed"),
}
# What the seller links a room to, per CRM.
RECORD_LABELS = {
    "hubspot": N_("HubSpot deal id"),
    "salesforce": N_("Salesforce opportunity id"),
    "kintone": N_("kintone record id"),
}

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=10)  # first retry after 5-10 s, then doubling ...
BACKOFF_CAP = timedelta(minutes=30)  # ... up to half an hour
MAX_RETRY_AFTER = timedelta(hours=6)  # a vendor's Retry-After is honoured up to this
LEASE = timedelta(seconds=60)  # a claim lasts this long without a heartbeat
HEARTBEAT_SECONDS = 15.0
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TEXT_LIMIT = 5000  # intro and next steps
FIELD_LIMIT = 2000  # one connection setting
RECORD_ID_LIMIT = 200
RUN_LOOP_LIMIT = 20  # runs one tick of the job works through before yielding

# Targets registered at run time (tests register fakes here): kind -> class.
EXTRA_TARGETS: dict[str, type[Target]] = {}


# ---------------------------------------------------------------- tables


class ExportRun(SQLModel, table=True):
    __tablename__ = "export_run"
    __table_args__ = (
        Index("ix_export_run_due", "status", "next_attempt_at"),
        Index("ix_export_run_room_target", "room_id", "target", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("exp"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id")
    user_id: int = Field(foreign_key="user_account.id")
    target: str = Field(max_length=20)
    status: str = Field(default="queued", max_length=20)
    # "<room id>:<target>" while queued or running, NULL after: the unique constraint keeps one
    # active run per room and target even when two requests race.
    active_key: str | None = Field(default=None, unique=True, max_length=100)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    claim: str = Field(default="", max_length=40)  # token of the worker holding the lease
    error: str = Field(default="", max_length=2000)
    fix: str = Field(default="", max_length=1000)
    remote_ids: str = "{}"  # JSON object: what exists remotely for this room and target
    url: str = Field(default="", max_length=2000)
    file_id: int | None = Field(default=None, foreign_key="stored_file.id")
    # JSON: what the seller wrote in the preview, and the language to write the summary in.
    snapshot: str = "{}"
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ids(self) -> dict[str, str]:
        return _loads(self.remote_ids)

    @property
    def texts(self) -> dict[str, str]:
        return _loads(self.snapshot)

    @property
    def target_label(self) -> str:
        return target_label(self.target)

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def retrying(self) -> bool:
        return self.status == "queued" and self.attempts > 0


class CrmConnection(SQLModel, table=True):
    __tablename__ = "crm_connection"
    __table_args__ = (UniqueConstraint("org_id", "kind", name="uq_crm_connection_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("crm"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    kind: str = Field(max_length=20)
    settings: str = "{}"  # JSON: the non-secret fields
    secrets: str = ""  # Fernet token of a JSON object: the secret fields (see Vault)
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RoomCrmLink(SQLModel, table=True):
    """The CRM record (deal, opportunity, kintone record) a room writes to."""

    __tablename__ = "room_crm_link"
    __table_args__ = (UniqueConstraint("room_id", "kind", name="uq_room_crm_link_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    room_id: int = Field(foreign_key="room.id", index=True)
    kind: str = Field(max_length=20)
    record_id: str = Field(max_length=RECORD_ID_LIMIT)
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)


class IntegrationSettings(SQLModel, table=True):
    """Organisation-wide integration policy, set by an admin."""

    __tablename__ = "integration_settings"
    org_id: int = Field(foreign_key="org.id", primary_key=True)
    # Webhooks to loopback / private / link-local addresses (an on-premises receiver, tests).
    allow_private_webhooks: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


def _loads(raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _dumps(value: Mapping[str, object]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)


# ---------------------------------------------------------------- secrets at rest


class SecretsUnreadable(Exception):
    """Stored secrets that the current key cannot decrypt (the app's secret key changed)."""


class Vault:
    """Encrypts connection secrets with a key derived from the app's secret key (HKDF-SHA256,
    its own `info`, so the key is never the one that signs cookies)."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"dealroom",
            info=b"dealroom crm connection secrets v1",
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, values: Mapping[str, str]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(_dumps(values).encode("utf-8")).decode("ascii")

    def open(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        try:
            return _loads(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable() from exc


# ---------------------------------------------------------------- targets


def registry() -> dict[str, type[Target]]:
    """Every target class by kind. Adapters are imported here, on first use, so a missing
    optional module leaves its kind out instead of breaking the app."""
    found: dict[str, type[Target]] = {}
    for module, name in (
        ("hubspot", "HubSpot"),
        ("salesforce", "Salesforce"),
        ("kintone", "Kintone"),
        ("webhook", "WebhookTarget"),
        ("files", "CsvTarget"),
        ("files", "JsonTarget"),
        ("files", "MarkdownTarget"),
    ):
        cls = _target_class(module, name)
        if cls is not None:
            found[cls.kind] = cls
    found.update(EXTRA_TARGETS)
    return found


@functools.cache
def _target_class(module: str, name: str) -> type[Target] | None:
    try:
        loaded = importlib.import_module(f"dealroom.crm.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"dealroom.crm.{module}":
            raise  # the module exists but imports something missing: a real error
        log.warning("export target module dealroom.crm.%s is missing", module)
        return None
    cls = getattr(loaded, name, None)
    if cls is None:  # the class is named differently: find the Target subclass in the module
        candidates = [
            v
            for v in vars(loaded).values()
            if isinstance(v, type)
            and issubclass(v, Target)
            and v is not Target
            and getattr(v, "kind", None) == module
        ]
        cls = candidates[0] if candidates else None
    return cls


def target_label(kind: str) -> str:
    label = TARGET_LABELS.get(kind, kind)
    return _(label) if kind == "webhook" else label


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return _(label) if label else status


def record_label(kind: str) -> str:
    label = RECORD_LABELS.get(kind)
    return _(label) if label else kind


def needs_connection(cls: type[Target]) -> bool:
    return bool(cls.fields)


def _target_class_for(kind: str) -> type[Target]:
    cls = registry().get(kind)
    if cls is None:
        raise InvalidInput(
            fields={
                "target": _(
                    "Unknown export target “%(kind)s”. Choose one of: %(kinds)s.",
                    kind=str(kind)[:40],
                    kinds=", ".join(registry()),
                )
            }
        )
    return cls


# ---------------------------------------------------------------- connections (admin)


@dataclass(frozen=True)
class FieldView:
    name: str
    secret: bool
    value: str  # never a secret's value
    is_set: bool


@dataclass(frozen=True)
class ConnectionView:
    kind: str
    label: str
    connected: bool
    fields: list[FieldView]
    unreadable: bool  # stored secrets the current key cannot decrypt: re-enter them
    updated_at: datetime | None


def get_connection(session: Session, *, org_id: int, kind: str) -> CrmConnection | None:
    query = select(CrmConnection).where(CrmConnection.org_id == org_id, CrmConnection.kind == kind)
    return session.exec(query).first()


def connection_kinds() -> list[str]:
    return [kind for kind, cls in registry().items() if needs_connection(cls)]


def connections(session: Session, *, org_id: int, vault: Vault) -> list[ConnectionView]:
    views = []
    for kind in connection_kinds():
        cls = registry()[kind]
        row = get_connection(session, org_id=org_id, kind=kind)
        values = _loads(row.settings) if row else {}
        unreadable = False
        try:
            stored = vault.open(row.secrets) if row else {}
        except SecretsUnreadable:
            stored, unreadable = {}, True
        fields = [
            FieldView(
                name=name,
                secret=secret,
                value="" if secret else values.get(name, ""),
                is_set=bool(stored.get(name) if secret else values.get(name)),
            )
            for name, secret in cls.fields.items()
        ]
        views.append(
            ConnectionView(
                kind=kind,
                label=target_label(kind),
                connected=row is not None,
                fields=fields,
                unreadable=unreadable,
                updated_at=row.updated_at if row else None,
            )
        )
    return views


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied(_("Only admins of your organisation can do this."))


def _connectable(kind: str) -> type[Target]:
    cls = registry().get(kind)
    if cls is None or not needs_connection(cls):
        raise NotFound(_("There is no integration of that kind."))
    return cls


def save_connection(
    session: Session, *, user: User, kind: str, data: Mapping[str, object], vault: Vault
) -> CrmConnection:
    """Set a connection's fields. A secret left blank keeps its stored value (forms never show
    secrets back); any other field is set to what was sent."""
    _require_admin(user)
    cls = _connectable(kind)
    row = get_connection(session, org_id=user.org_id, kind=kind)
    values = _loads(row.settings) if row else {}
    try:
        stored = vault.open(row.secrets) if row else {}
    except SecretsUnreadable:
        stored = {}  # unreadable: whatever is entered now replaces it
    errors: dict[str, str] = {}
    changed = []
    for name, secret in cls.fields.items():
        try:
            value = validate.storable(data.get(name, ""), name).strip()
        except InvalidInput as exc:
            errors.update(exc.fields)
            continue
        if len(value) > FIELD_LIMIT:
            errors[name] = _("At most %(max)s characters.", max=FIELD_LIMIT)
            continue
        if secret:
            if value and value != stored.get(name):
                stored[name] = value
                changed.append(name)
        elif value != values.get(name, ""):
            values[name] = value
            changed.append(name)
    checker = getattr(cls, "check_config", None)
    if not errors and callable(checker):
        errors.update(checker({**values, **stored}))
    if errors:
        raise InvalidInput(fields=errors)
    now = utcnow()
    if row is None:
        row = CrmConnection(org_id=user.org_id, kind=kind, created_at=now)
    row.settings = _dumps(values)
    row.secrets = vault.seal(stored)
    row.updated_by_id, row.updated_at = pk(user), now
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="integration.saved",
        target=row.public_id,
        kind=kind,
        changed=sorted(changed),  # names only, never values
    )
    return row


def disconnect(session: Session, *, user: User, kind: str) -> None:
    _require_admin(user)
    _connectable(kind)
    row = get_connection(session, org_id=user.org_id, kind=kind)
    if row is None:
        return
    session.delete(row)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="integration.disconnected",
        target=row.public_id,
        kind=kind,
    )


def integration_settings(session: Session, *, org_id: int) -> IntegrationSettings:
    row = session.get(IntegrationSettings, org_id)
    return row if row is not None else IntegrationSettings(org_id=org_id)


def set_allow_private_webhooks(session: Session, *, user: User, allow: bool) -> None:
    _require_admin(user)
    row = session.get(IntegrationSettings, user.org_id) or IntegrationSettings(org_id=user.org_id)
    row.allow_private_webhooks, row.updated_at = allow, utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="integration.private_webhooks",
        allow=allow,
    )


def target_config(session: Session, *, org_id: int, kind: str, vault: Vault) -> dict[str, str]:
    """The decrypted settings a target is built with; PermanentError when unusable."""
    cls = _target_class_for(kind)
    if not needs_connection(cls):
        return {}
    row = get_connection(session, org_id=org_id, kind=kind)
    label = target_label(kind)
    if row is None:
        raise PermanentError(
            _("%(target)s is not connected.", target=label),
            fix=_("An admin can connect it under Integrations."),
        )
    try:
        config = {**_loads(row.settings), **vault.open(row.secrets)}
    except SecretsUnreadable:
        raise PermanentError(
            _("The stored %(target)s credentials cannot be read.", target=label),
            fix=_(
                "The server's secret key changed. An admin can enter the credentials again under Integrations."
            ),
        ) from None
    if kind == "webhook":
        allow = integration_settings(session, org_id=org_id).allow_private_webhooks
        config["allow_private"] = "1" if allow else ""
    return config


def _config_saver(db: Database, *, org_id: int, kind: str, vault: Vault) -> Callable[..., None]:
    """For adapters that refresh an OAuth token mid-run: save the changed keys at once."""

    def save(changes: dict[str, str]) -> None:
        cls = registry()[kind]
        with db.session() as session:
            row = get_connection(session, org_id=org_id, kind=kind)
            if row is None:
                return
            values, stored = _loads(row.settings), vault.open(row.secrets)
            for name, value in changes.items():
                (stored if cls.fields.get(name) else values)[name] = str(value)
            row.settings, row.secrets, row.updated_at = _dumps(values), vault.seal(stored), utcnow()

    return save


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    fix: str = ""


def test_connection(
    session: Session, *, user: User, kind: str, vault: Vault, client: httpx.Client
) -> TestResult:
    """Check the saved credentials of one connection (an HTTP call to the vendor)."""
    _require_admin(user)
    cls = _connectable(kind)
    try:
        config = target_config(session, org_id=user.org_id, kind=kind, vault=vault)
        row = get_connection(session, org_id=user.org_id, kind=kind)

        def save(changes: dict[str, str]) -> None:
            if row is not None:
                values, stored = _loads(row.settings), vault.open(row.secrets)
                for name, value in changes.items():
                    (stored if cls.fields.get(name) else values)[name] = str(value)
                row.settings, row.secrets = _dumps(values), vault.seal(stored)

        target = cls(config=config, client=client, save_config=save)
        message = target.test_connection() or _("The connection works.")
        result = TestResult(True, message)
    except ExportError as exc:
        result = TestResult(False, exc.message, exc.fix)
    except httpx.HTTPError as exc:
        result = TestResult(False, _("Could not reach the service: %(error)s", error=str(exc)))
    audit.record(
        session,
        org_id=user.org_id,
        actor=user.public_id,
        action="integration.tested",
        kind=kind,
        ok=result.ok,
    )
    return result


# ---------------------------------------------------------------- rooms and CRM records


def room_links(session: Session, *, room: Room) -> dict[str, str]:
    query = select(RoomCrmLink).where(RoomCrmLink.room_id == room.id)
    return {link.kind: link.record_id for link in session.exec(query)}


def link_record(session: Session, *, room: Room, user: User, kind: str, record_id: str) -> None:
    """Point the room at a CRM record; an empty id removes the link."""
    if kind not in CRM_KINDS:
        raise InvalidInput(fields={"kind": _("Choose HubSpot, Salesforce or kintone.")})
    value = validate.text(
        record_id,
        "record_id",
        label=_("Record id"),
        max_length=RECORD_ID_LIMIT,
        required=False,
    )
    query = select(RoomCrmLink).where(RoomCrmLink.room_id == room.id, RoomCrmLink.kind == kind)
    link = session.exec(query).first()
    if not value:
        if link is not None:
            session.delete(link)
    else:
        link = link or RoomCrmLink(org_id=room.org_id, room_id=pk(room), kind=kind, record_id="")
        link.record_id, link.updated_by_id, link.updated_at = value, pk(user), utcnow()
        session.add(link)
    session.flush()
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="room.crm_linked",
        target=room.public_id,
        kind=kind,
        record_id=value,
    )


# ---------------------------------------------------------------- requesting and reading runs


def available_targets(session: Session, *, org_id: int) -> list[str]:
    """The kinds a seller of this organisation can export to now, in display order."""
    kinds = []
    for kind, cls in registry().items():
        if not needs_connection(cls) or get_connection(session, org_id=org_id, kind=kind):
            kinds.append(kind)
    order = {kind: n for n, kind in enumerate(KINDS)}
    return sorted(kinds, key=lambda k: order.get(k, len(order)))


def request_export(
    session: Session,
    *,
    room: Room,
    user: User,
    kind: str,
    intro: str = "",
    next_steps: str = "",
) -> ExportRun:
    """Queue an export of the room. While one to the same target is queued or running, that
    one is returned instead of a second."""
    if user.org_id != room.org_id:
        raise NotFound(_("Room not found."))
    kind = str(kind or "").strip()
    cls = _target_class_for(kind)
    if needs_connection(cls) and get_connection(session, org_id=room.org_id, kind=kind) is None:
        raise InvalidInput(
            fields={
                "target": _(
                    "%(target)s is not connected. An admin can connect it under Integrations.",
                    target=target_label(kind),
                )
            }
        )
    texts = validate.gather(
        {
            "intro": lambda: validate.long_text(
                intro, "intro", label=_("Introduction"), max_length=TEXT_LIMIT
            ),
            "next_steps": lambda: validate.long_text(
                next_steps, "next_steps", label=_("Next steps"), max_length=TEXT_LIMIT
            ),
        }
    )
    active = active_run(session, room=room, kind=kind)
    if active is not None:
        return active
    previous = previous_run(session, room=room, kind=kind)
    run = ExportRun(
        org_id=room.org_id,
        room_id=pk(room),
        user_id=pk(user),
        target=kind,
        active_key=f"{pk(room)}:{kind}",
        # Start from what the previous export created: this one updates it, never duplicates.
        remote_ids=previous.remote_ids if previous is not None else "{}",
        snapshot=_dumps(
            {**texts, "language": user.locale or "en", "timezone": user.timezone or "UTC"}
        ),
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        # Another request queued the same export a moment ago: that one it is.
        active = active_run(session, room=room, kind=kind)
        if active is None:
            raise
        return active
    audit.record(
        session,
        org_id=room.org_id,
        actor=user.public_id,
        action="export.requested",
        target=run.public_id,
        room=room.public_id,
        kind=kind,
    )
    return run


def active_run(session: Session, *, room: Room, kind: str) -> ExportRun | None:
    query = select(ExportRun).where(ExportRun.active_key == f"{pk(room)}:{kind}")
    return session.exec(query).first()


def previous_run(session: Session, *, room: Room, kind: str) -> ExportRun | None:
    """The latest finished run of the room to this target that left remote ids (done, or failed
    after creating something)."""
    query = (
        select(ExportRun)
        .where(
            ExportRun.room_id == room.id,
            ExportRun.target == kind,
            col(ExportRun.status).in_(("done", "failed")),
        )
        .order_by(col(ExportRun.created_at).desc(), col(ExportRun.id).desc())
    )
    for run in session.exec(query.limit(20)):
        if run.status == "done" or run.ids:
            return run
    return None


def last_success(session: Session, *, room: Room) -> datetime | None:
    """When the room's latest successful export (to any target) finished."""
    query = (
        select(ExportRun.finished_at)
        .where(ExportRun.room_id == room.id, ExportRun.status == "done")
        .order_by(col(ExportRun.finished_at).desc())
    )
    value = session.exec(query.limit(1)).first()
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def get_run(session: Session, *, org_id: int, export_id: str) -> ExportRun:
    return get_by_public_id(
        session, ExportRun, export_id, prefix="exp", missing=_("Export not found."), org_id=org_id
    )


def get_room_run(session: Session, *, room: Room, export_id: str) -> ExportRun:
    return get_by_public_id(
        session, ExportRun, export_id, prefix="exp", missing=_("Export not found."), room_id=room.id
    )


def room_history(session: Session, *, room: Room, limit: int = 20) -> list[ExportRun]:
    query = select(ExportRun).where(ExportRun.room_id == room.id)
    query = query.order_by(col(ExportRun.created_at).desc(), col(ExportRun.id).desc())
    return list(session.exec(query.limit(limit)))


def run_file(session: Session, *, run: ExportRun) -> StoredFile:
    stored = session.get(StoredFile, run.file_id) if run.file_id is not None else None
    if stored is None or stored.org_id != run.org_id:
        raise NotFound(_("This export has no file."))
    return stored


# ---------------------------------------------------------------- the worker


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter (half fixed, half random), never sooner than the
    vendor's Retry-After."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    delay = base / 2 + base / 2 * random.random()
    if retry_after:
        delay = max(delay, min(MAX_RETRY_AFTER, timedelta(seconds=retry_after)))
    return delay


def _due(now: datetime) -> Any:
    """Queued and due, or running with an expired lease (its worker died)."""
    return or_(
        and_(col(ExportRun.status) == "queued", col(ExportRun.next_attempt_at) <= now),
        and_(col(ExportRun.status) == "running", col(ExportRun.lease_until) < now),
    )


def claim_next(db: Database, *, now: datetime | None = None) -> tuple[int, str] | None:
    """Take ONE due run: (its id, our claim token), or None when nothing is due or another
    worker took it first."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    with db.session() as session:
        query = (
            select(ExportRun.id)
            .where(_due(now))
            .order_by(col(ExportRun.next_attempt_at), col(ExportRun.id))
            .limit(1)
        )
        if not db.is_sqlite:
            # Rows another worker is claiming are skipped, not waited for.
            query = query.with_for_update(skip_locked=True)
        run_id = session.exec(query).first()
        if run_id is None:
            return None
        # Conditional: on SQLite (no row locks) the rowcount says whether we won the race.
        claimed = session.exec(
            update(ExportRun)
            .where(col(ExportRun.id) == run_id, _due(now))
            .values(
                status="running",
                claim=token,
                lease_until=now + LEASE,
                attempts=col(ExportRun.attempts) + 1,
            )
        ).rowcount
        if claimed != 1:
            return None
        run = session.get(ExportRun, run_id)
        assert run is not None
        if run.started_at is None:
            run.started_at = now
    return run_id, token


@contextmanager
def _heartbeat(db: Database, run_id: int, token: str) -> Iterator[None]:
    """Renew the lease while the target runs, so only a dead worker's run is reclaimed."""
    if not isinstance(db.bind, Engine):
        # Bound to one connection (tests): a second thread must not use it at the same time.
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with db.session() as session:
                    session.exec(
                        update(ExportRun)
                        .where(col(ExportRun.id) == run_id, col(ExportRun.claim) == token)
                        .values(lease_until=utcnow() + LEASE)
                    )
            except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                log.warning("export lease renewal failed", exc_info=True)

    thread = threading.Thread(target=beat, name="export-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _checkpoint(db: Database, run_id: int, token: str) -> Callable[[dict[str, str]], None]:
    """Commit new remote ids at once, in their own transaction (they are facts about the CRM:
    kept even if this worker has lost its lease)."""

    def remember(ids: dict[str, str]) -> None:
        with db.session() as session:
            query = select(ExportRun).where(ExportRun.id == run_id)
            row = session.exec(query.with_for_update()).one()
            row.remote_ids = _dumps({**row.ids, **{str(k): str(v) for k, v in ids.items()}})
            if row.claim == token:
                row.lease_until = utcnow() + LEASE

    return remember


@dataclass
class _Job:
    run: ExportRun
    room: Room
    user: User
    org_public_id: str
    summary: Summary | None
    config: dict[str, str]
    language: str
    timezone: str


def _prepare(db: Database, run_id: int, *, links: Links, vault: Vault) -> tuple[_Job, Any]:
    """Read everything the target needs (one read transaction); a PermanentError as the second
    value when the run cannot start (connection removed, secrets unreadable)."""
    with db.session(write=False) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        room = session.get(Room, run.room_id)
        user = session.get(User, run.user_id)
        assert room is not None and user is not None
        texts = run.texts
        language = texts.get("language") or user.locale or "en"
        timezone = texts.get("timezone") or user.timezone or "UTC"
        job = _Job(
            run, room, user, get_org(session, room.org_id).public_id, None, {}, language, timezone
        )
        with i18n.using(language, timezone):
            try:
                job.config = target_config(
                    session, org_id=room.org_id, kind=run.target, vault=vault
                )
                job.config["delivery_id"] = run.public_id
            except (ExportError, InvalidInput) as exc:
                return job, exc
            job.summary = _summary(session, run=run, room=room, user=user, links=links)
    return job, None


def _summary(session: Session, *, run: ExportRun, room: Room, user: User, links: Links) -> Summary:
    from .crm.summary import build_summary

    texts = run.texts
    record = room_links(session, room=room).get(run.target, "")
    return build_summary(
        session,
        room=room,
        user=user,
        links=links,
        intro=texts.get("intro", ""),
        next_steps=texts.get("next_steps", ""),
        language=texts.get("language"),
        crm_record_id=record,
    )


def _store_file(db: Database, storage: Storage, job: _Job, result: ExportResult) -> int | None:
    if result.content is None:
        return None
    with db.session() as session:
        row = StoredFile(
            org_id=job.room.org_id,
            backend=storage.name,
            key="",
            size=len(result.content),
            sha256="",
            content_type=result.content_type or "application/octet-stream",
            filename=result.filename or f"{job.run.public_id}.bin",
        )
        row.key = f"{job.org_public_id}/{row.public_id}"
        row.sha256 = hashlib.sha256(result.content).hexdigest()
        storage.put(row.key, io.BytesIO(result.content), content_type=row.content_type)
        session.add(row)
        session.flush()
        return pk(row)


def _finish(
    db: Database,
    run_id: int,
    token: str,
    *,
    now: datetime | None = None,
    result: ExportResult | None = None,
    file_id: int | None = None,
    error: ExportError | None = None,
) -> ExportRun | None:
    """Record the outcome, unless another worker has claimed the run since (then it is theirs)."""
    with db.session() as session:
        query = select(ExportRun).where(ExportRun.id == run_id)
        run = session.exec(query.with_for_update()).one()
        if run.claim != token or run.status != "running":
            log.warning(
                "export %s: lost the lease before finishing; outcome dropped", run.public_id
            )
            return None
        now = now or utcnow()
        run.lease_until, run.claim = None, ""
        if result is not None:
            run.status, run.error, run.fix = "done", "", ""
            run.remote_ids = _dumps({**run.ids, **result.remote_ids})
            run.url, run.file_id = result.url[:2000], file_id
        elif error is not None and not error.permanent and run.attempts < MAX_ATTEMPTS:
            run.status = "queued"
            run.error, run.fix = error.message[:2000], error.fix[:1000]
            run.next_attempt_at = now + retry_delay(run.attempts, error.retry_after)
            log.info("export %s will be retried: %s", run.public_id, error.message)
            return run
        else:
            assert error is not None
            message = error.message
            if not error.permanent:
                message = _(
                    "Gave up after %(num)s attempts. The last error: %(error)s",
                    num=run.attempts,
                    error=error.message,
                )
            run.status, run.error = "failed", message[:2000]
            run.fix = (error.fix or _("Try the export again later."))[:1000]
        run.active_key, run.finished_at = None, now
        audit.record(
            session,
            org_id=run.org_id,
            actor="system",
            action=f"export.{run.status}",
            target=run.public_id,
            kind=run.target,
            error=run.error,
        )
        return run


def run_due(
    db: Database,
    *,
    storage: Storage,
    links: Links,
    vault: Vault,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> ExportRun | None:
    """Claim one due run and execute it; the finished (or rescheduled) run, or None when nothing
    was due. Safe in several threads and processes at once."""
    claimed = claim_next(db, now=now)
    if claimed is None:
        return None
    run_id, token = claimed
    try:
        job, problem = _prepare(db, run_id, links=links, vault=vault)
    except Exception:  # noqa: BLE001 - e.g. a summary that cannot be built: fail the run
        log.exception("export run %s could not be prepared", run_id)
        error: ExportError = PermanentError(
            _("The export stopped on an unexpected error. It has been logged."),
            fix=_("Try again; if it happens again, contact your Dealroom administrator."),
        )
        return _finish(db, run_id, token, now=now, error=error)
    with i18n.using(job.language, job.timezone):
        if job.run.attempts > MAX_ATTEMPTS:  # reclaimed after crashes, over and over
            problem = RetryableError(_("The export was interrupted too many times."))
        if problem is not None:
            error = (
                problem
                if isinstance(problem, ExportError)
                else PermanentError(problem.message, fix=_("Check the export's settings."))
            )
            return _finish(db, run_id, token, now=now, error=error) or job.run
        assert job.summary is not None
        cls = registry()[job.run.target]
        try:
            with _heartbeat(db, run_id, token), _client(client) as http:
                target = cls(
                    config=job.config,
                    client=http,
                    save_config=_config_saver(
                        db, org_id=job.room.org_id, kind=job.run.target, vault=vault
                    ),
                )
                result = target.export(
                    job.summary, previous=job.run.ids, checkpoint=_checkpoint(db, run_id, token)
                )
            file_id = _store_file(db, storage, job, result)
        except ExportError as exc:
            error = exc
        except httpx.TimeoutException:
            error = RetryableError(_("The service did not answer in time."))
        except httpx.TransportError as exc:
            error = RetryableError(
                _("Could not reach the service: %(error)s", error=type(exc).__name__)
            )
        except StorageError:
            # A file export whose storage is down (or full): kept and retried, not failed.
            log.warning("export %s: storage unavailable", job.run.public_id, exc_info=True)
            error = RetryableError(_("The file storage is not reachable; the export will retry."))
        except Exception:  # noqa: BLE001 - a bug in a target must fail its run, not the worker
            log.exception("export %s failed unexpectedly", job.run.public_id)
            error = PermanentError(
                _("The export stopped on an unexpected error. It has been logged."),
                fix=_("Try again; if it happens again, contact your Dealroom administrator."),
            )
        else:
            return _finish(db, run_id, token, now=now, result=result, file_id=file_id) or job.run
        return _finish(db, run_id, token, now=now, error=error) or job.run


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as made:
        yield made


def run_pending(
    db: Database,
    *,
    storage: Storage,
    links: Links,
    vault: Vault,
    limit: int = RUN_LOOP_LIMIT,
) -> int:
    """Work through due runs (at most `limit`); returns how many were executed."""
    done = 0
    while done < limit and run_due(db, storage=storage, links=links, vault=vault) is not None:
        done += 1
    return done
