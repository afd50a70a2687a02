"""Server-side render time of a big buyer room page, against the template alone.

The room: 200 content items in 10 sections, 60 tasks in 6 milestones, 2,000 chat messages and
30 invitees. Two figures, measured in the same run on the same machine:

    full page     GET /r/{room} through the app, as a buyer, timed on the server around the
                  request's handler (auth, queries, template rendering; not the test client)
    baseline      the same template rendered from pre-built plain values (no database)

The ratio full / baseline is the cost of our data access; the target is <= 2 at p95. The SQL
statements of one view are counted too (outside the timed runs): a panel that adds queries
shows up there first.

    .venv/bin/python bench/room_render.py [runs]
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from markupsafe import Markup  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from dealroom import accounts, chat, content, invites, rooms, tasks  # noqa: E402
from dealroom.app import build_services, create_app, tune_gc  # noqa: E402
from dealroom.db import Database, pk, utcnow  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402
from dealroom.settings import load_settings  # noqa: E402
from dealroom.web import handler  # noqa: E402

SECTIONS, ITEMS, MILESTONES, TASKS, MESSAGES, INVITEES = 10, 200, 6, 60, 2000, 30


def build(db: Database, services: Any) -> tuple[str, str]:
    """The big room; returns its public id and one buyer's personal link."""
    with db.session() as session:
        user = accounts.create_user(
            session,
            email="bench@northwind.example",
            password="bench-password-1",
            org_name="Bench",
            name="Dana",
        )
        room = rooms.create_room(
            session, user=user, data={"name": "Acme rollout", "buyer_company": "Acme Corp"}
        )
        people = [
            invites.create_invite(
                session,
                room=room,
                seller=user,
                email=f"buyer{n}@acme.example",
                name=f"Buyer {n}",
                role=invites.BUYER_ROLES[n % len(invites.BUYER_ROLES)],
                links=services.links,
                renderer=services.mail,
                send=False,
            )
            for n in range(INVITEES)
        ]
        sections = [
            content.add_section(session, room=room, title=f"Section {n}") for n in range(SECTIONS)
        ]
        for n in range(ITEMS):
            content.add_link(
                session,
                room=room,
                user=user,
                url=f"https://example.com/doc/{n}",
                title=f"Document {n}",
                section=sections[n % SECTIONS],
                stages_="evaluation",
                roles_="technical_evaluator",
            )
        actor = tasks.Actor(user=user)
        milestones = [
            tasks.add_milestone(session, room=room, actor=actor, data={"title": f"Milestone {n}"})
            for n in range(MILESTONES)
        ]
        for n in range(TASKS):
            tasks.add_task(
                session,
                room=room,
                actor=actor,
                data={
                    "milestone_id": milestones[n % MILESTONES].public_id,
                    "title": f"Task {n}",
                    "owner_id": people[n % INVITEES].public_id,
                    "due_date": (date.today() + timedelta(days=n - 20)).isoformat(),
                },
            )
        # Messages are inserted directly: post_message rate-limits one author, as it should.
        start = utcnow() - timedelta(days=30)
        for n in range(MESSAGES):
            buyer = people[n % INVITEES]
            session.add(
                chat.Message(
                    org_id=room.org_id,
                    room_id=pk(room),
                    author_invite_id=pk(buyer) if n % 2 else None,
                    author_user_id=None if n % 2 else pk(user),
                    body=f"Message **{n}** about the rollout",
                    created_at=start + timedelta(minutes=n),
                )
            )
        return room.public_id, services.links.invite(people[0])


def freeze(value: Any, depth: int = 0) -> Any:
    """Plain values with the same attributes, computed once: what a template would get from a
    cache or a denormalised read model."""
    if (
        depth > 6
        or value is None
        or isinstance(value, str | int | float | bool | date | datetime | Markup)
    ):
        return value
    if isinstance(value, dict):
        return {k: freeze(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [freeze(v, depth + 1) for v in value]
    if isinstance(value, SQLModel) or dataclasses.is_dataclass(value):
        fields = {}
        for name in dir(value):
            if name.startswith("_") or name in (
                "metadata",
                "model_config",
                "model_fields",
                "model_computed_fields",
            ):
                continue
            try:
                attr = getattr(value, name)
            except Exception:  # noqa: BLE001 - a property that cannot be computed is just absent
                continue
            if callable(attr):
                # View objects' helper methods (e.g. plan.error) work on plain data: keep them.
                if dataclasses.is_dataclass(value) and not isinstance(attr, type):
                    fields[name] = attr
                continue
            fields[name] = freeze(attr, depth + 1)
        return SimpleNamespace(**fields)
    return value


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_services() -> tuple[Path, Any]:
    """A throwaway directory with a migrated SQLite database, and the app's services on it."""
    tmp = Path(tempfile.mkdtemp(prefix="dealroom-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    settings = load_settings(
        environ={},
        dotenv=None,
        secret_key="bench-secret-0123456789-abcdefghijklmnop",
        base_url="http://testserver",
        storage_dir=str(tmp / "files"),
        run_jobs=False,
    )
    return tmp, build_services(settings, db=Database.from_url(url))


def time_handlers() -> list[float]:
    """From now on, each request's server-side time (the handler's thread-pool run, from the
    session's start to the rendered response) is appended to the list returned."""
    server_times: list[float] = []
    original = handler._run

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            server_times.append(time.perf_counter() - t0)

    handler._run = timed  # type: ignore[assignment]
    return server_times


def main(runs: int = 60) -> None:
    tmp, services = bench_services()
    room_id, link = build(services.db, services)
    app = create_app(services=services)
    server_times = time_handlers()
    tune_gc()  # as `python -m dealroom serve` does
    with TestClient(app, base_url="http://testserver") as buyer:
        page = buyer.get(link)
        csrf = page.context["csrf_token"]
        buyer.post(link, data={"csrf_token": csrf}, follow_redirects=False)
        first = buyer.get(f"/r/{room_id}")
        assert first.status_code == 200, first.status_code
        template = first.template
        frozen = freeze(dict(first.context))
        frozen["request"] = first.context["request"]
        for _ in range(5):  # warm caches on both sides
            buyer.get(f"/r/{room_id}")
            template.render(frozen)
        statements: list[str] = []  # one view's SQL, counted outside the timed runs

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            statements.append(statement)

        event.listen(services.db.engine, "before_cursor_execute", count)
        buyer.get(f"/r/{room_id}")
        event.remove(services.db.engine, "before_cursor_execute", count)
        full, baseline = [], []
        for _ in range(runs):
            server_times.clear()
            response = buyer.get(f"/r/{room_id}")
            full.append(server_times[-1])
            assert response.status_code == 200
            t0 = time.perf_counter()
            template.render(frozen)
            baseline.append(time.perf_counter() - t0)
    services.db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    size = len(first.content)
    print(
        f"buyer room page: {ITEMS} items / {SECTIONS} sections, {TASKS} tasks, {MESSAGES} messages, {INVITEES} invitees"
    )
    print(
        f"page size {size / 1024:.0f} KiB, {len(statements)} SQL statements per view, "
        f"{runs} runs, SQLite"
    )
    print(f"{'':14}{'p50 ms':>10}{'p95 ms':>10}")
    for name, samples in (("full page", full), ("baseline", baseline)):
        print(
            f"{name:14}{statistics.median(samples) * 1000:>10.1f}{percentile(samples, 0.95) * 1000:>10.1f}"
        )
    ratio = percentile(full, 0.95) / percentile(baseline, 0.95)
    print(f"ratio full/baseline at p95: {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
