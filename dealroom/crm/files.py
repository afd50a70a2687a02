"""File targets: the summary as a CSV, JSON or Markdown download.

Nothing leaves the app: `export` returns the file's bytes, and the export worker stores them
(dealroom.storage) and offers a download on the run.

CSV layout (UTF-8 with a byte order mark, so Excel in a Japanese locale does not read it as
Shift_JIS; RFC 4180 quoting). One table, one header row, a `record` column saying what each row
is, so it filters and pivots well in a spreadsheet:

    record       deal   company  stage  person  email  role  item  active_seconds  visits  ...
    deal         one row: the room, its stage, the link back and the seller's next steps
    person       one per committee member: time in the room, visits, last seen
    engagement   one per committee member x item they spent time on (completion, top pages)
    task         one per plan task: milestone, status, owner, due date, overdue
    note         one per shared meeting note of the period (title, date, markdown body)
    question     one per open question from the chat

Formula injection (OWASP "CSV injection"): a cell that starts with = + - @, a tab or a carriage
return gets a leading single quote, so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .. import spreadsheet
from .base import Checkpoint, ExportResult, Summary, Target
from .summary import summary_json

CSV_COLUMNS = (
    "record",
    "deal",
    "company",
    "stage",
    "person",
    "email",
    "role",
    "item",
    "active_seconds",
    "visits",
    "completion",
    "pages",
    "last_seen",
    "milestone",
    "task",
    "status",
    "owner",
    "owner_email",
    "due_date",
    "overdue",
    "title",
    "date",
    "text",
    "url",
)
safe_cell = spreadsheet.safe_cell


def csv_rows(summary: Summary) -> list[dict[str, object]]:
    deal = {"deal": summary.room_name, "company": summary.buyer_company, "stage": summary.stage}
    rows: list[dict[str, object]] = [
        {
            "record": "deal",
            **deal,
            "title": summary.title,
            "date": summary.generated_at.date().isoformat(),
            "text": summary.next_steps,
            "url": summary.room_url,
        }
    ]
    for person in summary.committee:
        who = {"person": person.name, "email": person.email, "role": person.role}
        rows.append(
            {
                "record": "person",
                **deal,
                **who,
                "active_seconds": person.active_seconds,
                "visits": person.visits,
                "last_seen": person.last_seen.isoformat() if person.last_seen else "",
            }
        )
        for item in person.top_items:
            rows.append(
                {
                    "record": "engagement",
                    **deal,
                    **who,
                    "item": item.title,
                    "active_seconds": item.active_seconds,
                    "completion": "" if item.completion is None else round(item.completion, 3),
                    "pages": " ".join(str(p) for p in item.pages),
                }
            )
    for task in summary.tasks:
        rows.append(
            {
                "record": "task",
                **deal,
                "milestone": task.milestone,
                "task": task.title,
                "status": task.status,
                "owner": task.owner_name,
                "owner_email": task.owner_email,
                "due_date": task.due_date.isoformat() if task.due_date else "",
                "overdue": task.overdue,
            }
        )
    for note in summary.notes:
        rows.append(
            {
                "record": "note",
                **deal,
                "title": note.title,
                "date": note.meeting_date.isoformat() if note.meeting_date else "",
                "text": note.body_markdown,
            }
        )
    for question in summary.questions:
        rows.append({"record": "question", **deal, "text": question})
    return rows


def render_csv(summary: Summary) -> bytes:
    rows = ([row.get(column) for column in CSV_COLUMNS] for row in csv_rows(summary))
    return spreadsheet.text(CSV_COLUMNS, rows).encode("utf-8")  # starts with the BOM


def file_stem(summary: Summary) -> str:
    """`acme-rollout-2026-11-22`: the deal's name in safe characters, then the day."""
    name = re.sub(r"[^\w]+", "-", summary.room_name, flags=re.UNICODE).strip("-_").lower()
    return f"{name[:60] or 'deal'}-{summary.generated_at.date().isoformat()}"


class _FileTarget(Target):
    extension: str
    content_type: str

    def render(self, summary: Summary) -> bytes:
        raise NotImplementedError

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        return ExportResult(
            content=self.render(summary),
            filename=f"{file_stem(summary)}.{self.extension}",
            content_type=self.content_type,
        )


class CsvTarget(_FileTarget):
    kind = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def render(self, summary: Summary) -> bytes:
        return render_csv(summary)


class JsonTarget(_FileTarget):
    kind = "json"
    extension = "json"
    content_type = "application/json"

    def render(self, summary: Summary) -> bytes:
        body: dict[str, Any] = summary_json(summary)
        return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")


class MarkdownTarget(_FileTarget):
    kind = "markdown"
    extension = "md"
    content_type = "text/markdown; charset=utf-8"

    def render(self, summary: Summary) -> bytes:
        return summary.markdown.encode("utf-8")
