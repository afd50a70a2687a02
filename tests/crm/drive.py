"""Building summaries and driving exports the way the export worker does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from dealroom.crm.base import (
    ExportResult,
    ItemEngagement,
    PersonSummary,
    RetryableError,
    Summary,
    Target,
    TaskSummary,
)


def task(
    task_id: str,
    title: str,
    *,
    status: str = "todo",
    owner_email: str = "",
    owner_side: str = "",
    due: date | None = None,
    overdue: bool = False,
) -> TaskSummary:
    return TaskSummary(
        id=task_id,
        title=title,
        milestone="Security review",
        status=status,
        status_label={
            "todo": "To do",
            "in_progress": "In progress",
            "done": "Done",
            "blocked": "Blocked",
        }[status],
        owner_name="Hana Sato" if owner_email else "",
        owner_email=owner_email,
        owner_side=owner_side,
        due_date=due,
        overdue=overdue,
    )


def person(name: str, email: str, role: str = "champion") -> PersonSummary:
    return PersonSummary(
        name=name,
        email=email,
        role=role,
        role_label=role.replace("_", " ").title(),
        active_seconds=1260,
        visits=3,
        last_seen=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        tracking_paused=False,
        top_items=(
            ItemEngagement(title="Pricing.pdf", active_seconds=600, completion=0.8, pages=(2, 3)),
        ),
    )


def summary(**changes: Any) -> Summary:
    base = Summary(
        room_id="room_acme42",
        room_name="Acme rollout",
        buyer_company="Acme KK",
        stage="evaluation",
        stage_label="Evaluation",
        room_url="https://dealroom.example/rooms/room_acme42",
        language="en",
        generated_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        crm_record_id="",
        committee=[
            person("Hana Sato", "hana@acme.example"),
            person("Ken Ito", "KEN@acme.example", "economic_buyer"),
            person("Nobody Known", "ghost@elsewhere.example", "end_user"),
        ],
        tasks=[
            task(
                "task_sec1",
                "Send the security questionnaire",
                owner_email="hana@acme.example",
                owner_side="buyer",
                due=date(2026, 12, 1),
            ),
            task(
                "task_leg2",
                "Legal review of the MSA",
                status="in_progress",
                due=date(2026, 11, 15),
                overdue=True,
            ),
            task("task_kick3", "Kick-off call", status="done"),
        ],
        questions=["Can we pay annually?"],
        intro="Good momentum this week.",
        next_steps="Security review call on Dec 1",
        title="Dealroom summary: Acme rollout (2026-11-22)",
        html="<h2>Acme rollout</h2><p>Good momentum this week.</p><p>[dealroom:room_acme42]</p>",
        markdown="## Acme rollout\n\nGood momentum this week.\n\n[dealroom:room_acme42]",
    )
    return replace(base, **changes)


def run(
    target: Target, summary: Summary, saved: dict[str, str], *, attempts: int = 10
) -> tuple[ExportResult, list[RetryableError]]:
    """Export until it succeeds, as the worker does: after a RetryableError, run again with
    `previous` = what the checkpoints saved. A PermanentError propagates."""
    errors: list[RetryableError] = []
    for _ in range(attempts):
        try:
            result = target.export(summary, previous=dict(saved), checkpoint=saved.update)
        except RetryableError as error:
            errors.append(error)
            continue
        saved.update(result.remote_ids)
        return result, errors
    raise AssertionError(f"no success after {attempts} attempts: {[e.message for e in errors]}")
