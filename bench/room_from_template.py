"""How long creating a room from a template takes, next to creating a blank room.

The template has 10 sections, 40 library documents and a plan of 20 tasks (in 5 milestones).
Each room is created in its own committed transaction, as a request would, and the figures are
the p50 and p95 of many runs, measured in the same process against the same database:

    blank room          rooms.create_room (the baseline)
    sections + items    a template without its plan: the batched inserts alone
    full template       10 sections, 40 documents, 20 tasks

SQLite runs in a temporary file. Set DEALROOM_BENCH_POSTGRES_URL to a PostgreSQL server
(a user allowed to CREATE DATABASE) to measure PostgreSQL too: a scratch database is created,
migrated, measured and dropped.

    .venv/bin/python bench/room_from_template.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from dealroom import accounts, content, rooms, roomtemplates  # noqa: E402
from dealroom.accounts import User  # noqa: E402
from dealroom.db import Database  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402

SECTIONS, DOCUMENTS, TASKS, MILESTONES = 10, 40, 20, 5
ROOM: dict[str, object] = {"name": "Acme rollout", "buyer_company": "Acme Corp"}


def setup(db: Database) -> tuple[int, str, str]:
    """An organisation with a library and two templates; returns (user id, template ids)."""
    with db.session() as session:
        user = accounts.create_user(
            session,
            email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
            password="bench-password-123",
            org_name="Bench",
            role="admin",
            name="Bench",
        )
        documents = [
            content.create_link_document(
                session, user=user, url=f"https://example.com/doc-{n}", title=f"Document {n}"
            )
            for n in range(DOCUMENTS)
        ]
        ids = []
        for name, with_plan in (("Sections and items", False), ("Full", True)):
            template = roomtemplates.create_template(session, user=user, data={"name": name})
            sections = [
                roomtemplates.add_section(session, template=template, title=f"Section {n}")
                for n in range(SECTIONS)
            ]
            for n, document in enumerate(documents):
                roomtemplates.add_item(
                    session,
                    template=template,
                    document_id=document.public_id,
                    section_id=sections[n % SECTIONS].public_id,
                )
            for n in range(TASKS if with_plan else 0):
                roomtemplates.add_task(
                    session,
                    template=template,
                    data={
                        "milestone": f"Milestone {n % MILESTONES}",
                        "title": f"Task {n}",
                        "owner": ("seller", "buyer", "")[n % 3],
                        "due": f"+{n + 1} days",
                    },
                )
            ids.append(template.public_id)
        assert user.id is not None
        return user.id, ids[0], ids[1]


def timed(db: Database, work: Callable[..., object], user_id: int) -> float:
    started = time.perf_counter()
    with db.session() as session:
        user = accounts.get_user(session, user_id)
        assert user is not None
        work(session, user)
    return (time.perf_counter() - started) * 1000


def blank(session: Session, user: User) -> object:
    return rooms.create_room(session, user=user, data=ROOM)


def from_template(template_id: str) -> Callable[..., object]:
    def work(session: Session, user: User) -> object:
        template = roomtemplates.get_template(session, org_id=user.org_id, template_id=template_id)
        return roomtemplates.create_room_from_template(
            session, user=user, template=template, data=ROOM
        )

    return work


def measure(label: str, url: str, runs: int) -> None:
    upgrade(url)
    db = Database.from_url(url)
    try:
        user_id, items_only, full = setup(db)
        cases = {
            "blank room": blank,
            f"sections + items ({SECTIONS}/{DOCUMENTS})": from_template(items_only),
            f"full template ({SECTIONS}/{DOCUMENTS}/{TASKS} tasks)": from_template(full),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(3):  # warm up connections, caches and compiled statements
            for work in cases.values():
                timed(db, work, user_id)
        for _ in range(runs):  # interleaved, so drift hits every case alike
            for name, work in cases.items():
                samples[name].append(timed(db, work, user_id))
    finally:
        db.dispose()
    baseline = statistics.median(samples["blank room"])
    print(f"{label}: {runs} runs each, milliseconds")
    print(f"  {'case':<36} {'p50':>8} {'p95':>8} {'p50 / blank':>12}")
    for name, values in samples.items():
        p50 = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"  {name:<36} {p50:8.1f} {p95:8.1f} {p50 / baseline:11.1f}x")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory() as tmp:
        measure("SQLite (temporary file, WAL)", f"sqlite:///{tmp}/bench.db", runs)
    server = os.environ.get("DEALROOM_BENCH_POSTGRES_URL", "")
    if not server:
        print("PostgreSQL: skipped (set DEALROOM_BENCH_POSTGRES_URL to measure it)")
        return
    from tests.harness.postgres import create_database, drop_database

    name = f"dealroom_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        measure("PostgreSQL (scratch database)", url, runs)
    finally:
        drop_database(server, name)


if __name__ == "__main__":
    main()
