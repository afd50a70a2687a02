"""The room analytics read, for a room with 1 million events in an organisation with 10 million.

The database is filled directly (raw events with COPY on PostgreSQL / executemany on SQLite,
and the rollups those same events produce, computed while generating them: the state the
ingest writer leaves behind). Then the read behind the seller's analytics page (per-viewer and
per-item engagement with pages, the timeline, the signals, 30 days of activity) is timed.
Target: p95 < 50 ms, on SQLite and on PostgreSQL.

    .venv/bin/python bench/analytics_query.py [events_per_room] [rooms] [--postgres]
    (defaults: 1,000,000 events per room, 10 rooms)
    .venv/bin/python bench/analytics_query.py --url=sqlite:///path/bench.db
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
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from dealroom import accounts, analytics, content, invites, rooms, tracking  # noqa: E402
from dealroom.db import Database, pk  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402

VIEWERS, ITEMS, PDFS, PAGES = 40, 150, 60, 24
EVENT_COLUMNS = tracking.EVENT_COLUMNS  # the raw event row, as the writer inserts it


def build_room(
    db: Database, org_name: str, user: Any | None, services: Any
) -> tuple[Any, Any, list[Any], list[Any]]:
    with db.session() as session:
        if user is None:
            user = accounts.create_user(
                session,
                email="bench@northwind.example",
                password="bench-password-1",
                org_name=org_name,
            )
        else:
            user = session.merge(user)
        room = rooms.create_room(session, user=user, data={"name": "Acme", "buyer_company": "Acme"})
        people = []
        for n in range(VIEWERS):
            invite = invites.create_invite(
                session,
                room=room,
                seller=user,
                email=f"b{n}@acme.example",
                links=services.links,
                renderer=services.mail,
                send=False,
            )
            tracking.show_notice(invite)
            people.append(invite)
        items = []
        for n in range(ITEMS):
            items.append(
                content.add_link(
                    session, room=room, user=user, url=f"https://example.com/{n}", title=f"Doc {n}"
                )
            )
        session.flush()
        # The first PDFS items stand for PDFs: give their documents a page count.
        for item in items[:PDFS]:
            session.execute(
                text("UPDATE document SET kind='file', file_kind='pdf' WHERE id=:d"),
                {"d": item.document_id},
            )
        session.flush()
        ids = (pk(user), user.org_id, pk(room), [pk(p) for p in people], [pk(i) for i in items])
        docs = [i.document_id for i in items[:PDFS]]
    return ids, user, docs, []


def fill(
    db: Database,
    org_id: int,
    room_id: int,
    people: list[int],
    items: list[int],
    events: int,
    postgres: bool,
) -> None:
    rng = random.Random(room_id)
    start = datetime.now(UTC) - timedelta(days=200)
    viewer = defaultdict(lambda: [0, 0])  # invite -> [seconds, events]
    item_stat: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    page_stat: dict[tuple[int, int, int], int] = defaultdict(int)
    hours: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    # Each viewer reads a subset of the items; most events are 10 s page views.
    reads = {p: rng.sample(items, ITEMS // 2) for p in people}
    rows = []
    with db.session() as session:
        visit_ids = {}
        for p in people:
            visit_ids[p] = session.execute(
                text(
                    "INSERT INTO visit (public_id, org_id, room_id, invite_id, started_at, last_seen_at, active_seconds, device, country) "
                    "VALUES (:pid, :o, :r, :i, :s, :s, 0, 'desktop', '') RETURNING id"
                ),
                {"pid": f"vis_b{room_id}_{p}", "o": org_id, "r": room_id, "i": p, "s": start},
            ).scalar_one()

    def flush_rows() -> None:
        if not rows:
            return
        with db.session() as session:
            if postgres:
                raw = session.connection().connection.dbapi_connection
                with raw.cursor().copy(
                    f"COPY track_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                session.execute(
                    text(
                        f"INSERT INTO track_event ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)})"
                    ),
                    [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows],
                )
        rows.clear()

    pdfs = set(items[:PDFS])
    for n in range(events):
        p = people[n % len(people)]
        item = rng.choice(reads[p])
        page = rng.randint(1, PAGES) if item in pdfs else None
        seconds = 10
        at = start + timedelta(seconds=n * 17)
        rows.append(
            (org_id, room_id, p, visit_ids[p], at, "view", item, page, seconds, None, None, "")
        )
        viewer[p][0] += seconds
        viewer[p][1] += 1
        item_stat[(p, item)][0] += seconds
        item_stat[(p, item)][1] = int(at.timestamp())
        if page:
            page_stat[(p, item, page)] += seconds
        hour = at.replace(minute=0, second=0, microsecond=0)
        hours[hour][0] += seconds
        hours[hour][1] += 1
        if len(rows) >= 50_000:
            flush_rows()
    flush_rows()
    now = datetime.now(UTC)
    per_item: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for (p, i, g), seconds in page_stat.items():
        per_item[(p, i)][g] = seconds
    page_bytes, pages_done = {}, {}
    for key, added in per_item.items():
        page_bytes[key], pages_done[key] = tracking.add_page_seconds(None, added)
    with db.session() as session:
        session.execute(
            tracking.ViewerStat.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "org_id": org_id,
                    "room_id": room_id,
                    "invite_id": p,
                    "active_seconds": s,
                    "visits": 3,
                    "messages": 0,
                    "task_updates": 0,
                    "first_seen": start,
                    "last_seen": now,
                }
                for p, (s, _n) in viewer.items()
            ],
        )
        session.execute(
            tracking.ViewerItemStat.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "page_seconds": page_bytes.get((p, i)),
                    "pages_done": pages_done.get((p, i), 0),
                    "org_id": org_id,
                    "room_id": room_id,
                    "invite_id": p,
                    "room_item_id": i,
                    "active_seconds": s,
                    "opens": 2,
                    "visits_opened": 2,
                    "downloads": 0,
                    "clicks": 0,
                    "video_seconds": 0,
                    "duration": 0,
                    "first_at": start,
                    "last_at": datetime.fromtimestamp(t, UTC),
                }
                for (p, i), (s, t) in item_stat.items()
            ],
        )
        hour_rows = [
            {"org_id": org_id, "room_id": room_id, "hour": h, "active_seconds": s, "events": e}
            for h, (s, e) in hours.items()
        ]
        session.execute(tracking.ActivityHour.__table__.insert(), hour_rows)  # type: ignore[attr-defined]
        session.execute(tracking.RoomDay.__table__.insert(), tracking.room_days(hour_rows))  # type: ignore[attr-defined]


def read_page(db: Database, room_id: int) -> float:
    t0 = time.perf_counter()
    with db.session(write=False) as session:
        room = session.get(rooms.Room, room_id)
        assert room is not None
        engagement = analytics.room_engagement(session, room=room)
        names = analytics.room_names(session, room=room)  # as the analytics page does
        analytics.timeline(session, room=room, names=names)
        analytics.signals(session, room=room, names=names)
        analytics.daily_activity(session, room=room)
        assert engagement.viewers
    return time.perf_counter() - t0


def main(events: int, room_count: int, postgres: bool, url: str = "") -> None:
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
        from dealroom.app import build_services
        from dealroom.settings import load_settings

        services = build_services(
            load_settings(
                environ={},
                dotenv=None,
                secret_key="bench-secret-0123456789-abcdefghijklmnop",
                storage_dir=str(tmp / "files"),
                run_jobs=False,
            ),
            db=db,
        )
        t0 = time.perf_counter()
        user = None
        measured_room = 0
        with db.session() as session:
            # --url names a database a previous run filled: measure it again, without filling.
            filled = session.execute(text("SELECT min(room_id) FROM track_event")).scalar()
        if filled is not None:
            measured_room, room_count = int(filled), 0
            print("  already filled: measuring only", flush=True)
        for n in range(room_count):
            (user_id, org_id, room_id, people, items), user, _docs, _ = build_room(
                db, "Bench", user, services
            )
            with db.session() as session:
                for d in _docs:
                    session.execute(
                        text(
                            "INSERT INTO stored_file (public_id, org_id, backend, key, size, sha256, content_type, filename, created_at) "
                            "VALUES (:p, :o, 'local', :k, 1, '', 'application/pdf', 'x.pdf', :c)"
                        ),
                        {"p": f"file_b{d}", "o": org_id, "k": f"k{d}", "c": datetime.now(UTC)},
                    )
                    fid = session.execute(
                        text("SELECT id FROM stored_file WHERE public_id=:p"), {"p": f"file_b{d}"}
                    ).scalar_one()
                    session.execute(
                        text(
                            "INSERT INTO document_version (document_id, version, file_id, pages, created_at) VALUES (:d, 1, :f, :n, :c)"
                        ),
                        {"d": d, "f": fid, "n": PAGES, "c": datetime.now(UTC)},
                    )
            fill(db, org_id, room_id, people, items, events, postgres)
            measured_room = measured_room or room_id
            print(
                f"  room {n + 1}/{room_count} filled ({time.perf_counter() - t0:.0f} s)", flush=True
            )
        with db.session() as session:
            total = session.execute(text("SELECT count(*) FROM track_event")).scalar_one()
            in_room = session.execute(
                text("SELECT count(*) FROM track_event WHERE room_id=:r"), {"r": measured_room}
            ).scalar_one()
            if postgres:
                session.execute(text("ANALYZE"))
        if not postgres:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        # The server tunes the garbage collector at start (dealroom.app.tune_gc); so does this
        # process, once its fill is done, so the read is timed as the server would run it.
        from dealroom.app import tune_gc

        tune_gc()
        for _ in range(5):
            read_page(db, measured_room)
        samples = [read_page(db, measured_room) for _ in range(50)]
        ordered = sorted(samples)
        p95 = ordered[int(round(0.95 * (len(ordered) - 1)))]
        print(
            f"room analytics read ({'PostgreSQL' if postgres else 'SQLite'}): room {in_room:,} events, "
            f"organisation {total:,} events, {VIEWERS} viewers x {ITEMS} items"
        )
        print(
            f"p50 {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (target p95 < 50 ms)"
        )
        db.dispose()
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    urls = [a.removeprefix("--url=") for a in sys.argv[1:] if a.startswith("--url=")]
    main(
        int(args[0]) if args else 1_000_000,
        int(args[1]) if len(args) > 1 else 10,
        "--postgres" in sys.argv,
        urls[0] if urls else "",
    )
