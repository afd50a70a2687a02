"""What "since your last visit" and the champion view add to the buyer room page.

The room of bench/room_render.py (200 items / 10 sections, 60 tasks, 2,000 messages, 30
invitees). The buyer's previous visit is put 31 days back, so everything in the room is new to
them: the worst case for the banner (every item and message matches; lists are capped, the chat
is counted per author). Figures, server-side, interleaved run by run so a busy machine loads
both sides alike:

    page with / without   GET /r/{room} with the banner and the champion notice computed, and
                          with both replaced by nothing (the difference is their cost)
    changes_since         the four queries alone, worst case
    champion_view         the champion's page data: 29 colleagues told, each opened 100 items

    .venv/bin/python bench/since_banner.py [runs]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from bench.room_render import bench_services, build, percentile, time_handlers  # noqa: E402
from dealroom import accounts, champion, content, invites, rooms, since  # noqa: E402
from dealroom.app import create_app, tune_gc  # noqa: E402
from dealroom.db import pk  # noqa: E402
from dealroom.tracking import ViewerItemStat  # noqa: E402
from dealroom.web import buyer as buyer_web  # noqa: E402


def _back(services: Any, room_id: str, days: int = 31) -> None:
    """Put the buyer's previous visit `days` back and open the banner again."""
    with services.db.session() as session:
        for mark in session.exec(select(since.RoomMark)):
            mark.last_seen_at -= timedelta(days=days)
            mark.visit_started_at -= timedelta(days=days)
            mark.since_at = mark.last_seen_at
            mark.dismissed_at = None


def _champion_world(services: Any, room_id: str) -> None:
    with services.db.session() as session:
        room = rooms.get_room_by_public_id(session, room_id)
        assert room is not None
        owner = accounts.get_user(session, room.owner_id)
        assert owner is not None
        people = invites.list_invites(session, room=room)
        people[1].role = "champion"
        champion.set_enabled(session, room=room, user=owner, enabled=True)
        for person in people:
            champion.notice(session, room=room, invite=person)
        items = content.room_content(session, room=room).items
        for n, person in enumerate(people):
            for item in items[n % 2 :: 2]:
                session.add(
                    ViewerItemStat(
                        org_id=room.org_id,
                        room_id=pk(room),
                        invite_id=pk(person),
                        room_item_id=item.item.id,
                        opens=1,
                    )
                )


def main(runs: int = 40) -> None:
    tmp, services = bench_services()
    room_id, link = build(services.db, services)
    _champion_world(services, room_id)
    app = create_app(services=services)
    server_times = time_handlers()
    tune_gc()
    # What the room page calls for the banner and the notice (web/buyer.py, in page_marks).
    real_banner, real_notice = since.banner, buyer_web.champion_notice
    with_ms, without_ms, changes_ms, view_ms = [], [], [], []
    with TestClient(app, base_url="http://testserver") as client:
        page = client.get(link)
        client.post(link, data={"csrf_token": page.context["csrf_token"]}, follow_redirects=False)
        client.get(f"/r/{room_id}")
        _back(services, room_id)
        shown = client.get(f"/r/{room_id}").context["since_changes"]
        assert shown is not None and shown.messages > since.MAX_MESSAGES, shown
        for _ in range(5):
            client.get(f"/r/{room_id}")
        for _ in range(runs):
            since.banner, buyer_web.champion_notice = real_banner, real_notice
            server_times.clear()
            client.get(f"/r/{room_id}")
            with_ms.append(server_times[-1])
            since.banner = lambda *a, **k: None  # type: ignore[assignment]
            buyer_web.champion_notice = lambda *a, **k: champion.Notice(False, False)  # type: ignore[assignment]
            server_times.clear()
            client.get(f"/r/{room_id}")
            without_ms.append(server_times[-1])
        since.banner, buyer_web.champion_notice = real_banner, real_notice
    with services.db.session() as session:
        room = rooms.get_room_by_public_id(session, room_id)
        assert room is not None
        people = invites.list_invites(session, room=room)
        mark = session.exec(select(since.RoomMark)).one()
        reader = next(p for p in people if p.id == mark.invite_id)
        champ = next(p for p in people if p.role == "champion")
        for _ in range(runs):
            t0 = time.perf_counter()
            since.changes_since(session, room=room, invite=reader, since=mark.since_at)
            changes_ms.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            view = champion.champion_view(session, room=room, viewer=champ)
            view_ms.append(time.perf_counter() - t0)
        assert len(view.colleagues) == 29, len(view.colleagues)
    services.db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"since banner + champion notice, worst case, {runs} runs, SQLite")
    print(f"{'':22}{'p50 ms':>10}{'p95 ms':>10}")
    for name, samples in (
        ("page with", with_ms),
        ("page without", without_ms),
        ("changes_since", changes_ms),
        ("champion_view", view_ms),
    ):
        print(
            f"{name:22}{statistics.median(samples) * 1000:>10.1f}"
            f"{percentile(samples, 0.95) * 1000:>10.1f}"
        )
    added = [w - wo for w, wo in zip(with_ms, without_ms, strict=True)]
    print(f"added to the page (paired), median: {statistics.median(added) * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
