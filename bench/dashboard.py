"""The manager dashboard for an organisation with 500 rooms, 5,000 viewers and 10 million events.

The database is filled directly: rooms, invites, library documents placed in rooms, a mutual
plan per room, and the rollups tracking leaves behind (ViewerStat, ViewerItemStat, 90 days of
ActivityHour, RoomDay and ItemDay), plus the raw `track_event` rows generated inside the database
(a recursive CTE on SQLite, generate_series on PostgreSQL), which the team dashboard never reads
but which make the database its real size (the rep's feed reads them). Then three things are timed:

  read   the domain read behind GET /dashboard/team (scores and health of every room, the
         heatmap, stages, cold deals, content effectiveness and the suggestions' lift over all
         500; the sparklines of the table's first page);
  page   the whole GET /dashboard/team through the app (auth, read, Jinja render: the charts
         and cards over 500 rooms, the rooms table's first page of 50 rows);
  feed   the rep dashboard's live feed (GET /dashboard/feed's read, polled every 15 s) over 5, 25
         and all 500 rooms: it reads the raw events, newest first, room by room.

Target: p95 < 200 ms, on SQLite and on PostgreSQL.

    .venv/bin/python bench/dashboard.py [events] [--postgres]   (default 10,000,000 events)
    .venv/bin/python bench/dashboard.py --url=sqlite:///path/bench.db
    (an existing database: filled on the first run, only measured on the next ones)
"""

from __future__ import annotations

import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from dealroom import accounts, dashboard, scores, suggestions, tracking  # noqa: E402
from dealroom.content import Document, RoomItem  # noqa: E402
from dealroom.db import Database, pk  # noqa: E402
from dealroom.invites import Invite  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402
from dealroom.rooms import STAGES, Room  # noqa: E402
from dealroom.tasks import Milestone, Task  # noqa: E402

ROOMS, VIEWERS_PER_ROOM, REPS, DOCS, ITEMS_PER_ROOM, DAYS = 500, 10, 10, 60, 10, 90
TASKS_PER_ROOM = 5


def build(db: Database) -> tuple[int, int, list[int]]:
    """The organisation: an admin, reps, rooms, invites, library documents placed in rooms,
    a plan per room. Returns (admin id, org id, room ids)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    with db.session() as session:
        admin = accounts.create_user(
            session,
            email="bench-admin@northwind.example",
            password="bench-password-1",
            org_name="Bench",
            role="admin",
        )
        org_id = admin.org_id
        reps = [
            accounts.User(org_id=org_id, email=f"rep{n}@northwind.example", name=f"Rep {n}")
            for n in range(REPS)
        ]
        session.add_all(reps)
        session.flush()
        docs = [
            Document(org_id=org_id, kind="link", title=f"Library doc {n}", url="https://x.example/")
            for n in range(DOCS)
        ]
        session.add_all(docs)
        rooms = [
            Room(
                org_id=org_id,
                owner_id=pk(reps[n % REPS]),
                name=f"Deal {n:03d}",
                buyer_company=f"Buyer {n}",
                stage=STAGES[n % len(STAGES)],
                created_at=now - timedelta(days=120),
            )
            for n in range(ROOMS)
        ]
        session.add_all(rooms)
        session.flush()
        roles = ("champion", "economic_buyer", "technical_evaluator", "end_user", "")
        for room in rooms:
            session.add_all(
                Invite(
                    org_id=org_id,
                    room_id=pk(room),
                    email=f"b{v}.{pk(room)}@buyer.example",
                    name=f"Buyer {v}",
                    role=roles[v % len(roles)],
                )
                for v in range(VIEWERS_PER_ROOM)
            )
            for position, doc in enumerate(rng.sample(docs, ITEMS_PER_ROOM)):
                session.add(
                    RoomItem(
                        org_id=org_id, room_id=pk(room), document_id=pk(doc), position=position
                    )
                )
            milestone = Milestone(org_id=org_id, room_id=pk(room), title="Plan", position=1)
            session.add(milestone)
            session.flush()
            for t in range(TASKS_PER_ROOM):
                session.add(
                    Task(
                        org_id=org_id,
                        room_id=pk(room),
                        milestone_id=pk(milestone),
                        title=f"Task {t}",
                        status="done" if rng.random() < 0.4 else "todo",
                        due_date=(now + timedelta(days=rng.randint(-10, 20))).date(),
                        position=t,
                    )
                )
        session.flush()
        return pk(admin), org_id, [pk(r) for r in rooms]


def fill_rollups(db: Database, org_id: int) -> dict[str, int]:
    """The rollups the ingest writer would have left: per viewer, per viewer and item, per room
    and hour (90 days), per item and day."""
    rng = random.Random(11)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    counts = dict.fromkeys(
        ("viewer_stat", "viewer_item_stat", "activity_hour", "room_day", "item_day"), 0
    )
    with db.session() as session:
        invites_by_room: dict[int, list[int]] = {}
        for invite_id, room_id in session.execute(
            text("SELECT id, room_id FROM invite WHERE org_id=:o"), {"o": org_id}
        ):
            invites_by_room.setdefault(room_id, []).append(invite_id)
        items_by_room: dict[int, list[tuple[int, int]]] = {}
        for item_id, room_id, doc_id in session.execute(
            text("SELECT id, room_id, document_id FROM room_item WHERE org_id=:o"), {"o": org_id}
        ):
            items_by_room.setdefault(room_id, []).append((item_id, doc_id))
    viewer_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    hour_rows: list[dict[str, Any]] = []
    day_rows: list[dict[str, Any]] = []
    for room_id, people in invites_by_room.items():
        quiet_for = rng.choice((0, 0, 1, 3, 8, 20, 40))  # some rooms go cold
        active_days = sorted(rng.sample(range(quiet_for, DAYS), 25))
        for invite_id in people:
            if rng.random() < 0.3:
                continue  # never came
            last = now - timedelta(days=quiet_for, hours=rng.randint(0, 23))
            viewer_rows.append(
                {
                    "org_id": org_id,
                    "room_id": room_id,
                    "invite_id": invite_id,
                    "active_seconds": rng.randint(60, 7200),
                    "visits": rng.randint(1, 12),
                    "messages": rng.randint(0, 4),
                    "task_updates": rng.randint(0, 3),
                    "first_seen": now - timedelta(days=DAYS),
                    "last_seen": last,
                }
            )
            for item_id, _doc in rng.sample(items_by_room[room_id], 5):
                item_rows.append(
                    {
                        "org_id": org_id,
                        "room_id": room_id,
                        "invite_id": invite_id,
                        "room_item_id": item_id,
                        "active_seconds": rng.randint(10, 900),
                        "opens": rng.randint(1, 4),
                        "visits_opened": 1,
                        "downloads": 0,
                        "clicks": 0,
                        "video_seconds": 0,
                        "duration": 0,
                        "pages_done": 0,
                        "first_at": now - timedelta(days=DAYS),
                        "last_at": last,
                    }
                )
        for day in active_days:
            for hour in rng.sample(range(24), 8):
                hour_rows.append(
                    {
                        "org_id": org_id,
                        "room_id": room_id,
                        "hour": now.replace(hour=hour) - timedelta(days=day),
                        "active_seconds": rng.randint(30, 1800),
                        "events": rng.randint(3, 180),
                    }
                )
            for item_id, doc_id in rng.sample(items_by_room[room_id], 4):
                day_rows.append(
                    {
                        "org_id": org_id,
                        "room_id": room_id,
                        "room_item_id": item_id,
                        "document_id": doc_id,
                        "day": (now - timedelta(days=day)).date(),
                        "active_seconds": rng.randint(30, 900),
                    }
                )
    with db.session() as session:
        for table, rows in (
            (tracking.ViewerStat, viewer_rows),
            (tracking.ViewerItemStat, item_rows),
            (tracking.ActivityHour, hour_rows),
            (tracking.RoomDay, tracking.room_days(hour_rows)),  # as the writer keeps them
            (tracking.ItemDay, day_rows),
        ):
            for start in range(0, len(rows), 20_000):
                session.execute(table.__table__.insert(), rows[start : start + 20_000])  # type: ignore[attr-defined]
            counts[table.__tablename__] = len(rows)  # type: ignore[attr-defined]
    return counts


def fill_events(db: Database, org_id: int, events: int, postgres: bool) -> None:
    """Raw events generated in the database: one view of 10 s every ~0.8 s over 90 days, spread
    over the organisation's invites."""
    with db.session() as session:
        low, high = session.execute(
            text("SELECT min(id), max(id) FROM invite WHERE org_id=:o"), {"o": org_id}
        ).one()
        span = high - low + 1
        start = datetime.now(UTC) - timedelta(days=DAYS)
        step = DAYS * 86400 / max(events, 1)
        if postgres:
            session.execute(
                text(
                    "INSERT INTO track_event (org_id, room_id, invite_id, at, kind, seconds, ref) "
                    "SELECT :o, i.room_id, i.id, :s + make_interval(secs => g * :step), 'view', 10, '' "
                    "FROM generate_series(0, :n - 1) AS g JOIN invite i ON i.id = :low + (g % :span)"
                ),
                {"o": org_id, "s": start, "step": step, "n": events, "low": low, "span": span},
            )
        else:
            session.execute(
                text(
                    "INSERT INTO track_event (org_id, room_id, invite_id, at, kind, seconds, ref) "
                    "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < :n - 1) "
                    "SELECT :o, i.room_id, i.id, "
                    "strftime('%Y-%m-%d %H:%M:%f', :epoch + n * :step, 'unixepoch'), 'view', 10, '' "
                    "FROM g JOIN invite i ON i.id = :low + (n % :span)"
                ),
                {
                    "o": org_id,
                    "epoch": start.timestamp(),
                    "step": step,
                    "n": events,
                    "low": low,
                    "span": span,
                },
            )


def read_feed(db: Database, org_id: int, rooms: int) -> float:
    """The rep dashboard's live feed (polled every 15 s) over the org's first `rooms` rooms."""
    t0 = time.perf_counter()
    with db.session(write=False) as session:
        mine = scores.org_rooms(session, org_id=org_id)[:rooms]
        lines = dashboard.feed(session, org_id=org_id, rooms=mine)
        assert lines
    return time.perf_counter() - t0


def read_dashboard(db: Database, org_id: int) -> float:
    """The domain read of GET /dashboard/team with the default filters (30 days, everyone)."""
    t0 = time.perf_counter()
    with db.session(write=False) as session:
        filters = dashboard.Filters()
        rooms = scores.org_rooms(session, org_id=org_id)
        scored = scores.score_rooms(session, org_id=org_id, rooms=rooms)
        rows = dashboard.apply_filters(scored, filters)
        ids = [pk(s.room) for s in rows]
        page = dashboard.page_of(rows, filters.page)
        today = date.today()
        dashboard.activity(
            session,
            org_id=org_id,
            room_ids=ids,
            days=30,
            today=today,
            zone=UTC,
            line_ids=[pk(s.room) for s in page.rows],
        )
        dashboard.stage_counts([s.room for s in rows])
        dashboard.cold_deals(rows)
        dashboard.content_effectiveness(session, org_id=org_id, room_ids=ids, days=30, today=today)
        suggestions.lift(session, org_id=org_id, room_ids=ids)
        assert len(rows) == ROOMS
    return time.perf_counter() - t0


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[int(round(0.95 * (len(ordered) - 1)))]


def main(events: int, postgres: bool, url: str = "") -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dealroom-bench-"))
    stack = contextlib.ExitStack()
    try:
        if url:
            postgres = url.startswith("postgresql")
        elif postgres:
            from tests.harness.postgres import postgres_cluster

            url = stack.enter_context(postgres_cluster())
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        db = Database.from_url(url)
        t0 = time.perf_counter()
        with db.session() as session:
            # --url names a database a previous run filled: measure it again, without filling.
            known = session.execute(
                text("SELECT id, org_id FROM user_account WHERE email = :e"),
                {"e": "bench-admin@northwind.example"},
            ).first()
        if known is not None:
            admin_id, org_id = known
            with db.session() as session:
                counts = {
                    table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
                    for table in (
                        "viewer_stat",
                        "viewer_item_stat",
                        "activity_hour",
                        "room_day",
                        "item_day",
                    )
                }
            print("  already filled: measuring only", flush=True)
        else:
            admin_id, org_id, _rooms = build(db)
            print(f"  organisation built ({time.perf_counter() - t0:.0f} s)", flush=True)
            counts = fill_rollups(db, org_id)
            print(f"  rollups filled ({time.perf_counter() - t0:.0f} s): {counts}", flush=True)
            fill_events(db, org_id, events, postgres)
            print(f"  raw events filled ({time.perf_counter() - t0:.0f} s)", flush=True)
        with db.session() as session:
            total = session.execute(text("SELECT count(*) FROM track_event")).scalar_one()
            viewers = session.execute(text("SELECT count(*) FROM invite")).scalar_one()
            if postgres:
                session.execute(text("ANALYZE"))
        if not postgres:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")

        # As the server does at start (dealroom.app.tune_gc), once the fill's garbage is gone.
        from dealroom.app import tune_gc

        tune_gc()
        for _ in range(3):
            read_dashboard(db, org_id)
        reads = [read_dashboard(db, org_id) for _ in range(30)]

        from starlette.testclient import TestClient

        from dealroom.app import build_services, create_app
        from dealroom.settings import load_settings
        from dealroom.web.auth import SESSION_COOKIE

        settings = load_settings(
            environ={},
            dotenv=None,
            secret_key="bench-secret-0123456789-abcdefghijklmnop",
            storage_dir=str(tmp / "files"),
            database_url=url,
            run_jobs=False,
            track_writer_process=False,
        )
        services = build_services(settings, db=db)
        app = create_app(settings, services=services)
        pages = []
        with TestClient(app, base_url="http://localhost") as client:
            cookie = services.signer.sign("seller-session", {"u": admin_id, "e": 0})
            client.cookies.set(SESSION_COOKIE, cookie)
            for n in range(33):
                t1 = time.perf_counter()
                response = client.get("/dashboard/team")
                elapsed = time.perf_counter() - t1
                assert response.status_code == 200 and "Team dashboard" in response.text
                assert response.text.count('class="spark"') == dashboard.PAGE_SIZE
                assert f"of {ROOMS}" in response.text  # "Rooms 1–50 of 500"
                if n >= 3:
                    pages.append(elapsed)
        feeds = {n: [read_feed(db, org_id, n) for _ in range(20)] for n in (5, 25, ROOMS)}
        engine = "PostgreSQL" if postgres else "SQLite"
        print(
            f"manager dashboard ({engine}): {ROOMS} rooms, {viewers:,} viewers, "
            f"{total:,} raw events, rollups {counts}"
        )
        print(
            f"read: p50 {statistics.median(reads) * 1000:.1f} ms, p95 {p95(reads) * 1000:.1f} ms; "
            f"page (GET /dashboard/team, rendered): p50 {statistics.median(pages) * 1000:.1f} ms, "
            f"p95 {p95(pages) * 1000:.1f} ms (target p95 < 200 ms)"
        )
        print(
            "rep feed (dashboard.feed, newest 400 events of the rooms): "
            + "; ".join(
                f"{n} rooms p50 {statistics.median(t) * 1000:.1f} ms, p95 {p95(t) * 1000:.1f} ms"
                for n, t in feeds.items()
            )
        )
        db.dispose()
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    urls = [a.removeprefix("--url=") for a in sys.argv[1:] if a.startswith("--url=")]
    main(int(args[0]) if args else 10_000_000, "--postgres" in sys.argv, urls[0] if urls else "")
