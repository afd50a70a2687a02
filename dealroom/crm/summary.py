"""The deal summary: what happened in a room, in the seller's language, for every export target.

    summary = build_summary(session, room=room, user=seller, links=links, intro="...")
    summary.html        # sanitized HTML (CRM notes)
    summary.markdown    # Markdown (copy to clipboard, the Markdown file)
    summary_json(summary)  # the canonical JSON form (webhook, JSON file), "schema_version": "1"

Where each part comes from, so a seller can tell why something is (or is not) listed:

- committee: every invite of the room that is not revoked, most engaged first, with time, visits
  and the items each person spent most time on (`dealroom.analytics.room_engagement`);
- meeting notes: notes shared with the buyer (never internal ones) written or changed since the
  room's previous successful export, to any target; all shared notes on the first export;
- plan: every task of the mutual action plan with its status, owner and due date (open, done,
  overdue as the plan panel shows them);
- open questions: buyer messages in the chat (never internal notes) ending with "?" or "？" that no
  seller message came after;
- next steps and the introduction: free text the seller writes in the preview.

HTML is rendered by the autoescaping template `exports/_summary.html` (notes through
`dealroom.markdown.render`, which sanitizes); Markdown by `exports/_summary.txt`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import jinja2
from babel import dates as babel_dates
from sqlmodel import Session, col, select

from .. import i18n, markdown, notes, tasks
from ..accounts import User
from ..chat import Message
from ..db import utcnow
from ..i18n import N_, _
from ..invites import Invite
from ..links import Links
from ..rooms import Room
from ..settings import PROJECT_ROOT
from .base import ItemEngagement, NoteSummary, PersonSummary, Summary, TaskSummary

SCHEMA_VERSION = "1"
TOP_ITEMS = 5  # items listed per person
MAX_QUESTIONS = 20
QUESTION_LENGTH = 500  # characters of a question quoted in the summary
QUESTION_MARKS = ("?", "？")

TASK_STATUS_LABELS = {
    "todo": N_("To do"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
    "blocked": N_("Blocked"),
}


# ---------------------------------------------------------------- building


def build_summary(
    session: Session,
    *,
    room: Room,
    user: User,
    links: Links,
    intro: str = "",
    next_steps: str = "",
    language: str | None = None,
    crm_record_id: str = "",
    since: datetime | None | Literal["previous"] = "previous",
) -> Summary:
    """The room's summary in `language` (default: the seller's own). `since` starts the period
    of meeting notes (None: all of them); by default it is the end of the room's previous
    successful export."""
    language = i18n.normalize_locale(language) or i18n.normalize_locale(user.locale) or "en"
    if since == "previous":
        from ..exports import last_success  # the exports module builds on this one

        since = last_success(session, room=room)
    assert not isinstance(since, str)
    with i18n.using(language, user.timezone):
        generated = utcnow()
        summary = Summary(
            room_id=room.public_id,
            room_name=room.name,
            buyer_company=room.buyer_company,
            stage=room.stage,
            stage_label=i18n.label(room.stage, "stage"),
            room_url=links.seller_room(room),
            language=language,
            generated_at=generated,
            crm_record_id=crm_record_id,
            committee=_committee(session, room),
            notes=_notes(session, room, since),
            tasks=_tasks(session, room),
            questions=open_questions(session, room=room),
            intro=intro.strip(),
            next_steps=next_steps.strip(),
        )
        summary.title = _(
            "Dealroom summary: %(room)s (%(date)s)",
            room=room.name,
            date=i18n.format_date(generated),
        )
        context = {"s": summary, "since": since, "lang": language}
        summary.html = _environment().get_template("exports/_summary.html").render(context)
        summary.markdown = _environment().get_template("exports/_summary.txt").render(context)
    return summary


def _committee(session: Session, room: Room) -> list[PersonSummary]:
    from .. import analytics

    engagement = analytics.room_engagement(session, room=room)
    people = []
    for viewer in engagement.viewers:
        invite: Invite = viewer.invite
        if invite.revoked:
            continue
        items = tuple(
            ItemEngagement(
                title=item.title,
                active_seconds=int(item.active_seconds),
                completion=item.completion,
                pages=tuple(page for page, _s in sorted(item.pages.items(), key=_most_time)),
            )
            for item in viewer.items[:TOP_ITEMS]
            if item.active_seconds > 0
        )
        people.append(
            PersonSummary(
                name=invite.display_name,
                email=invite.email,
                role=invite.role,
                role_label=i18n.label(invite.role, "buyer_role") if invite.role else "",
                active_seconds=int(viewer.active_seconds),
                visits=int(viewer.visits),
                last_seen=viewer.last_seen,
                tracking_paused=bool(viewer.tracking_paused),
                top_items=items,
            )
        )
    return people


def _most_time(entry: tuple[int, int]) -> tuple[int, int]:
    page, seconds = entry
    return (-seconds, page)


def _notes(session: Session, room: Room, since: datetime | None) -> list[NoteSummary]:
    shared = notes.list_notes(session, room=room, shared_only=True)
    if since is not None:
        shared = [n for n in shared if _aware(n.updated_at) > since]
    shared.sort(key=lambda n: (n.meeting_date, _aware(n.created_at)))
    return [
        NoteSummary(title=n.title, meeting_date=n.meeting_date, body_markdown=n.body)
        for n in shared
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _tasks(session: Session, room: Room) -> list[TaskSummary]:
    plan = tasks.load_plan(session, room=room, actor=None)
    emails = _owner_emails(session, room)
    found = []
    for milestone in plan.milestones:
        for item in milestone.tasks:
            task, owner = item.task, item.owner
            found.append(
                TaskSummary(
                    id=task.public_id,
                    title=task.title,
                    milestone=milestone.milestone.title,
                    status=task.status,
                    status_label=_(TASK_STATUS_LABELS.get(task.status, task.status)),
                    owner_name=owner.name if owner else "",
                    owner_email=emails.get(owner.id, "") if owner else "",
                    owner_side=owner.side if owner else "",
                    due_date=task.due_date,
                    overdue=item.overdue,
                )
            )
    return found


def _owner_emails(session: Session, room: Room) -> dict[str, str]:
    sellers = session.exec(select(User.public_id, User.email).where(User.org_id == room.org_id))
    buyers = session.exec(select(Invite.public_id, Invite.email).where(Invite.room_id == room.id))
    return {**dict(sellers.all()), **dict(buyers.all())}


def open_questions(session: Session, *, room: Room) -> list[str]:
    """Buyer chat messages ending with a question mark that no seller message came after."""
    query = (
        select(Message)
        .where(Message.room_id == room.id, col(Message.internal).is_(False))
        .order_by(col(Message.created_at), col(Message.id))
    )
    pending: list[str] = []
    for message in session.exec(query):
        if message.author_user_id is not None:
            pending = []  # a seller spoke after them: taken as answered
            continue
        text = " ".join(message.body.split())
        if text.endswith(QUESTION_MARKS):
            pending.append(text[:QUESTION_LENGTH])
    return pending[-MAX_QUESTIONS:]


# ---------------------------------------------------------------- rendering


@functools.cache
def _environment() -> jinja2.Environment:
    """Templates for the summary (the web layer's environment is out of a domain module's reach;
    this one renders the same files with the same gettext and filters)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROJECT_ROOT / "templates")),
        autoescape=jinja2.select_autoescape(("html", "xml")),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.jinja_gettext, i18n.jinja_ngettext, newstyle=True
    )
    env.filters.update(
        date=i18n.format_date,
        datetime=i18n.format_datetime,
        duration=duration,
        percent=percent,
        md=md_escape,
        markdown=markdown.render,
    )
    return env


def duration(seconds: int) -> str:
    """`12 min`, `1 hr`, `45 sec` in the current language."""
    if seconds <= 0:
        return _("none")
    return babel_dates.format_timedelta(
        timedelta(seconds=seconds), threshold=1.1, format="short", locale=i18n.current_locale()
    )


def percent(value: float | None) -> str:
    return "" if value is None else f"{round(value * 100)}%"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!~])")


def md_escape(value: object) -> str:
    """Names and titles inside Markdown: their characters are shown, never read as markup."""
    text = " ".join(str(value or "").split())
    return _MD_SPECIAL.sub(r"\\\1", text)


# ---------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def summary_json(summary: Summary) -> dict[str, Any]:
    """The canonical, versioned JSON form (the webhook's `data` and the JSON file)."""
    body = _jsonable(asdict(summary))
    body.pop("html", None)
    body.pop("markdown", None)
    return {
        "schema_version": SCHEMA_VERSION,
        **body,
        "marker": summary.marker,
        "html": summary.html,
        "markdown": summary.markdown,
    }
