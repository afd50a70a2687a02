"""The deal summary every export target writes, and the small base class of the targets.

    target = HubSpot(config=connection_config, client=httpx.Client(...), save_config=...)
    result = target.export(summary, previous=run.remote_ids, checkpoint=remember)

`previous` holds what earlier exports of the same room created remotely (stored remote ids,
e.g. {"note": "8123", "task:task_ab12": "9001"}); an adapter updates those objects instead of
creating new ones. `checkpoint(ids)` is called as soon as a remote object exists, so the
bookkeeping survives a crash mid-run; when an id is still missing after a crash, the adapter
first searches for its marker (`summary.marker`, `Summary.task_marker(...)`) before creating.

ExportError                      the run stops or retries with `message` (shown to the seller)
 ├── RetryableError              429, 5xx, timeouts: retried with backoff (retry_after honoured)
 └── PermanentError              bad credentials, deleted deal, bad mapping: stops; `fix` says how
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

import httpx


class ExportError(Exception):
    permanent = False

    def __init__(self, message: str, *, retry_after: float | None = None, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.fix = fix  # what the seller or admin can do about it, in plain words


class RetryableError(ExportError):
    permanent = False


class PermanentError(ExportError):
    permanent = True


@dataclass(frozen=True)
class ItemEngagement:
    title: str
    active_seconds: int
    completion: float | None  # 0..1 for paged documents and videos, else None
    pages: tuple[int, ...] = ()  # 1-based pages that drew time, most time first


@dataclass(frozen=True)
class PersonSummary:
    name: str
    email: str
    role: str  # invites.BUYER_ROLES key
    role_label: str  # in the summary's language
    active_seconds: int
    visits: int
    last_seen: datetime | None
    tracking_paused: bool
    top_items: tuple[ItemEngagement, ...] = ()


@dataclass(frozen=True)
class NoteSummary:
    title: str
    meeting_date: date | None
    body_markdown: str


@dataclass(frozen=True)
class TaskSummary:
    id: str  # our public id (task_…), the key of the remote task
    title: str
    milestone: str
    status: str  # todo | in_progress | done | blocked
    status_label: str
    owner_name: str
    owner_email: str
    owner_side: str  # seller | buyer | "" (nobody)
    due_date: date | None
    overdue: bool


@dataclass
class Summary:
    """One deal summary, in the seller's language. Built by dealroom.crm.summary."""

    room_id: str  # room_…
    room_name: str
    buyer_company: str
    stage: str
    stage_label: str
    room_url: str
    language: str  # en | ja
    generated_at: datetime
    crm_record_id: str  # the deal / opportunity / record this room is linked to ("" if none)
    committee: list[PersonSummary] = field(default_factory=list)
    notes: list[NoteSummary] = field(default_factory=list)
    tasks: list[TaskSummary] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)  # open questions from the chat
    intro: str = ""  # free text the seller edited in the preview
    next_steps: str = ""  # free text the seller edited in the preview
    title: str = ""  # e.g. "Dealroom summary: Acme rollout (2026-11-22)"
    html: str = ""  # the rendered summary (CRM notes); sanitized
    markdown: str = ""

    @property
    def marker(self) -> str:
        """Written into every remote object we create, so a re-export finds it."""
        return f"[dealroom:{self.room_id}]"

    @staticmethod
    def task_marker(task_id: str) -> str:
        return f"[dealroom:{task_id}]"

    @property
    def open_tasks(self) -> list[TaskSummary]:
        return [t for t in self.tasks if t.status != "done"]


@dataclass
class ExportResult:
    remote_ids: dict[str, str] = field(default_factory=dict)
    url: str = ""  # where the seller can see the result (CRM record), if anywhere
    # File targets: the produced file (stored by the export worker; download link on the run).
    content: bytes | None = None
    filename: str = ""
    content_type: str = ""


Checkpoint = Callable[[dict[str, str]], None]


class Target(ABC):
    """One export destination, configured per organisation."""

    kind: ClassVar[str]  # hubspot | salesforce | kintone | webhook | csv | json | markdown
    # Connection fields: name -> is it a secret (encrypted at rest, never shown back)?
    fields: ClassVar[dict[str, bool]] = {}

    def __init__(
        self,
        *,
        config: Mapping[str, str],
        client: httpx.Client | None = None,
        save_config: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self.config = dict(config)
        self.client = client  # injected so tests can point it at a fake
        # Called with the changed keys when the adapter refreshes an OAuth token.
        self.save_config = save_config or (lambda changes: None)

    @abstractmethod
    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult: ...

    def test_connection(self) -> str:
        """Check the credentials; return a short description ("HubSpot portal 1234")."""
        return ""
