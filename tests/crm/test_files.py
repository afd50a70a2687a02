"""File targets: CSV (UTF-8 with BOM, formula-safe, one documented table), JSON and Markdown."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from dealroom.crm.base import ItemEngagement, NoteSummary, PersonSummary, Summary, TaskSummary
from dealroom.crm.files import (
    CSV_COLUMNS,
    CsvTarget,
    JsonTarget,
    MarkdownTarget,
    file_stem,
    safe_cell,
)

EVIL = '=HYPERLINK("http://evil.example","click")'


def make_summary() -> Summary:
    return Summary(
        room_id="room_abc",
        room_name="Acme 導入 / rollout",
        buyer_company="+Acme Corp",
        stage="evaluation",
        stage_label="Evaluation",
        room_url="https://dealroom.example/rooms/room_abc",
        language="en",
        generated_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        crm_record_id="",
        committee=[
            PersonSummary(
                name=EVIL,
                email="kato@acme.example",
                role="champion",
                role_label="Champion",
                active_seconds=600,
                visits=3,
                last_seen=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
                tracking_paused=False,
                top_items=(ItemEngagement("-Pricing", 420, 0.75, (3, 1)),),
            )
        ],
        notes=[NoteSummary("@Kick-off", date(2026, 11, 1), "Line one\nline two")],
        tasks=[
            TaskSummary(
                id="task_1",
                title="\tSecurity review",
                milestone="Validation",
                status="todo",
                status_label="To do",
                owner_name="Kato",
                owner_email="kato@acme.example",
                owner_side="buyer",
                due_date=date(2026, 11, 20),
                overdue=True,
            )
        ],
        questions=["\rWhat about SSO?"],
        next_steps="Sign",
        title="Dealroom summary: Acme",
        markdown="## Dealroom summary: Acme\n",
    )


def export(target_cls):
    target = target_cls(config={})
    return target.export(make_summary(), previous={}, checkpoint=lambda ids: None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+81 3 1234", "'+81 3 1234"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (42, "42"),
        (True, "yes"),
        (None, ""),
    ],
)
def test_formula_cells_are_neutralised(value, expected):
    assert safe_cell(value) == expected


def test_csv_has_a_bom_a_header_and_one_row_per_record():
    result = export(CsvTarget)
    assert result.content.startswith(b"\xef\xbb\xbf")
    assert result.content_type == "text/csv; charset=utf-8"
    assert result.filename == "acme-導入-rollout-2026-11-22.csv"
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["record"] for r in rows] == [
        "deal",
        "person",
        "engagement",
        "task",
        "note",
        "question",
    ]
    person, engagement, task = rows[1], rows[2], rows[3]
    assert person["person"] == "'" + EVIL and person["company"] == "'+Acme Corp"
    assert engagement["item"] == "'-Pricing" and engagement["completion"] == "0.75"
    assert engagement["pages"] == "3 1"
    assert task["task"] == "'\tSecurity review" and task["overdue"] == "yes"
    assert rows[4]["text"] == "Line one\nline two" and rows[4]["title"] == "'@Kick-off"
    assert rows[5]["text"] == "'\rWhat about SSO?"
    # No cell anywhere starts with a formula character.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_json_file_is_the_versioned_summary():
    result = export(JsonTarget)
    body = json.loads(result.content)
    assert result.filename.endswith(".json") and result.content_type == "application/json"
    assert body["schema_version"] == "1"
    assert body["room_name"] == "Acme 導入 / rollout"
    assert body["tasks"][0]["due_date"] == "2026-11-20"
    assert body["generated_at"] == "2026-11-22T09:30:00+00:00"


def test_markdown_file_is_the_summary_markdown():
    result = export(MarkdownTarget)
    assert result.content == b"## Dealroom summary: Acme\n"
    assert result.filename.endswith(".md")


def test_file_stem_of_an_unusual_name():
    summary = make_summary()
    summary.room_name = "../../etc/passwd"
    assert file_stem(summary) == "etc-passwd-2026-11-22"
    summary.room_name = "///"
    assert file_stem(summary) == "deal-2026-11-22"
