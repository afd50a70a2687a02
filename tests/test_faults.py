"""Faults (issue 8): the app loses nothing it acknowledged and never answers an outage with a
500 stack.

Real processes (`python -m dealroom serve` in a subprocess, stopped with SIGKILL):
- killed during heavy tracking ingest: after a restart, every beat answered 204 is in the
  database except those acknowledged in the last flush window before the kill;
- killed while a HubSpot export is writing its note: after the lease expires the restarted app
  takes the run over and finishes it, with exactly one note at the (fake) CRM;
- PostgreSQL stopped for a while: /readyz, pages and the API answer 503 "temporarily
  unavailable", and the same process recovers by itself once the database is back.

In process: S3 unreachable and a full disk make an upload fail with a clear 503, with neither a
row nor an object (nor a temporary file) left behind; a file export waits for the storage to
come back instead of failing; and on SQLite a GET that also writes, refused the write lock under
load, runs again as a writer instead of answering 503 (found by bench/load.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select

from dealroom import accounts, content, exports
from dealroom.app import build_services
from dealroom.content import Document, StoredFile
from dealroom.db import Database, utcnow
from dealroom.migrate import upgrade
from dealroom.pdfgen import simple_pdf
from dealroom.rooms import Room
from dealroom.security import Signer
from dealroom.seed import seed_demo
from dealroom.settings import PROJECT_ROOT, load_settings
from dealroom.storage.s3 import S3Storage
from e2e.server import SECRET_KEY, _tail, _wait_until_up, app_env
from tests import factories
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import serve_app
from tests.harness.ports import free_port
from tests.harness.postgres import _Runner, find_pg_bindir, postgres_cluster

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
PDF = simple_pdf([["Proposal"], ["Pricing"]])


# ---------------------------------------------------------------- a server we can kill


@dataclass
class App:
    """`python -m dealroom serve` on a fixed port and working directory, restartable."""

    workdir: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.workdir / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dealroom", "serve", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_until_up(self.base_url, self.process, log)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        return "\n".join(_tail(log, 2000) for log in self.logs)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A migrated SQLite database with the demo workspace (and its files), made once: each test
    copies it rather than migrating again. Returns the directory and the buyer link's path."""
    workdir = tmp_path_factory.mktemp("faults-seed")
    env = app_env(workdir, 8000, None)
    _token, link = seed(env)
    return workdir, link


def seed(env: dict[str, str]) -> tuple[str, str]:
    """Migrate and seed the demo workspace in this process (cheaper than `python -m dealroom
    migrate` and `seed-demo`); the demo seller's API token and the buyer link's path."""
    settings = load_settings(environ=env, dotenv=None)
    Path(settings.storage_dir).mkdir(parents=True, exist_ok=True)
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    try:
        with services.db.session() as session:
            demo = seed_demo(
                session, storage=services.storage, links=services.links, renderer=services.mail
            )
            user = accounts.find_user_by_email(session, demo.email)
            assert user is not None
            token = accounts.create_api_token(session, user=user, name="ops")[1]
    finally:
        services.db.dispose()
    return token, demo.buyer_link.removeprefix(settings.base_url)


@contextlib.contextmanager
def sqlite_app(seeded: tuple[Path, str], tmp_path: Path, **extra: str) -> Iterator[App]:
    template, _link = seeded
    workdir = tmp_path / "app"
    shutil.copytree(template, workdir)
    port = free_port()
    env = {**app_env(workdir, port, None), "DEALROOM_LOG_FORMAT": "json", **extra}
    app = App(workdir, env, port)
    try:
        yield app
    finally:
        app.stop()


def enter_room(client: httpx.Client, link: str) -> tuple[str, str]:
    """A buyer opens their personal link and enters: (room id, the page's stream token)."""
    welcome = client.get(link)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', welcome.text)
    assert csrf is not None, welcome.text[:500]
    entered = client.post(link, data={"csrf_token": csrf.group(1)}, follow_redirects=True)
    assert entered.status_code == 200
    room = re.search(r"/r/(room_[A-Za-z0-9_-]+)", str(entered.url))
    assert room is not None
    return room.group(1), stream_token(client, room.group(1))


def stream_token(client: httpx.Client, room: str) -> str:
    page = client.get(f"/r/{room}")
    token = re.search(r'data-token="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


# Tests that do not track start faster without the tracking writer's child process (spawned:
# it imports the app once more).
NO_WRITER_PROCESS = {"DEALROOM_TRACK_WRITER_PROCESS": "false"}


# ---------------------------------------------------------------- kill -9 during ingest


FLUSH_MS = 100


def test_kill_during_tracking_ingest_loses_only_the_last_flush_window(seeded, tmp_path):
    """Beats answered 204 are durable except those acknowledged in the last flush window (the
    buffer the kill took with it, plus the batch being written): README, "Load and faults"."""
    senders = 4
    with sqlite_app(seeded, tmp_path, DEALROOM_TRACK_FLUSH_MS=str(FLUSH_MS)) as app:
        app.start()
        client = httpx.Client(base_url=app.base_url, headers={"User-Agent": HUMAN})
        room, _token = enter_room(client, seeded[1])
        # One stream (page load) per sender: sequence numbers only grow within a stream.
        tokens = [stream_token(client, room) for _ in range(senders)]
        cookies = dict(client.cookies)
        client.close()
        acked: list[list[float]] = [[] for _ in range(senders)]  # ack time per seq (1-based)
        stop = threading.Event()

        def send(index: int) -> None:
            # "f" (the page's final flush) is exempt from the one-beat-a-second rule, so one
            # stream can carry many beats; each is one "room" event.
            with httpx.Client(
                base_url=app.base_url, headers={"User-Agent": HUMAN}, cookies=cookies
            ) as beacon:
                seq = 0
                while not stop.is_set():
                    seq += 1
                    body = {"t": tokens[index], "seq": seq, "i": 1, "f": True}
                    body["ev"] = [{"k": "room", "s": 1}]
                    try:
                        answer = beacon.post(f"/r/{room}/t", content=json.dumps(body))
                    except httpx.TransportError:
                        return  # the server is gone
                    assert answer.status_code == 204, answer.text
                    acked[index].append(time.monotonic())

        threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for thread in threads:
            thread.start()
        # Heavy enough to mean something on a fast or a busy machine: 400 beats, 1.5 s at least.
        started, deadline = time.monotonic(), time.monotonic() + 10
        while time.monotonic() < deadline and (
            sum(len(times) for times in acked) < 400 or time.monotonic() - started < 1.5
        ):
            time.sleep(0.05)
        killed_at = time.monotonic()
        app.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        total = sum(len(times) for times in acked)
        assert total >= 200, f"only {total} beats acknowledged in 10 s: the server is too slow"

        app.start()  # the restarted app serves from the same database
        assert httpx.get(app.base_url + "/readyz").status_code == 200
        signer = Signer(SECRET_KEY)
        keys = [signer.unsign("track", token, max_age=None)["s"] for token in tokens]
        engine = create_engine(f"sqlite:///{app.workdir / 'e2e.db'}")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT key, last_seq FROM track_stream")).all()
            written = {key: seq for key, seq in rows}
            durable = connection.execute(
                text("SELECT count(*) FROM track_event WHERE kind = 'room'")
            ).scalar_one()
        engine.dispose()
    # A stream's events and its last sequence number are written in one transaction, in order:
    # what a stream lost is the suffix after `last_seq`.
    last = [written.get(key, 0) for key in keys]
    assert sum(last) == durable
    lost = [max(0, len(times) - seq) for times, seq in zip(acked, last, strict=True)]
    # How long before the kill the first lost beat of each stream had been acknowledged.
    windows = [
        killed_at - times[seq] for times, seq in zip(acked, last, strict=True) if seq < len(times)
    ]
    window = max(windows, default=0.0)
    print(
        f"\nacknowledged {total} beats in {killed_at - started:.1f} s, durable {durable}, "
        f"lost {sum(lost)}, "
        f"the oldest lost acknowledged {max(0.0, window) * 1000:.0f} ms before the kill"
    )
    assert window <= FLUSH_WINDOW_S, (
        f"a beat acknowledged {window:.3f}s before the kill was lost; the documented window is "
        f"{FLUSH_WINDOW_S}s"
    )


# The documented loss window for a kill -9 (README, "Intent tracking"): beats not yet handed to
# the writer, at most DEALROOM_TRACK_FLUSH_MS (100 ms) of them; the margin is for a busy 2-core
# CI machine, where the sender thread waits for the CPU (measured: 30-70 ms at load 6).
FLUSH_WINDOW_S = 0.5


# ---------------------------------------------------------------- kill -9 during an export


class HoldFirstNote:
    """Wraps the HubSpot fake: the first note is created, then its answer is held back (until
    `release`), so the app can be killed between HubSpot's write and learning the note's id."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.written = threading.Event()
        self.release = threading.Event()
        self._held = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        is_note = scope["type"] == "http" and (scope["method"], scope["path"]) == (
            "POST",
            "/crm/v3/objects/notes",
        )
        if not is_note or self._held:
            await self.app(scope, receive, send)
            return
        self._held = True
        answer: list[Any] = []

        async def keep(message: Any) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        self.written.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):  # the client was killed: nobody to answer
            for message in answer:
                await send(message)


def export_state(db: Database, public_id: str) -> exports.ExportRun:
    with db.session(write=False) as session:
        run = session.exec(
            select(exports.ExportRun).where(exports.ExportRun.public_id == public_id)
        ).one()
        session.expunge(run)
        return run


def test_kill_during_an_export_is_taken_over_after_the_lease_and_runs_once(seeded, tmp_path):
    fake = HubSpotFake()
    held = HoldFirstNote(fake.app)
    crm_url, stop_crm = serve_app(held)
    deal_id = fake.add_deal("Acme rollout")
    try:
        # A restarted process waits for the dead one's scheduler lease before it runs jobs:
        # shortened here from 15 s (its takeover has its own tests).
        short_lease = {
            "DEALROOM_SCHEDULER_LEASE_SECONDS": "2",
            "DEALROOM_SCHEDULER_RENEW_SECONDS": "0.5",
        }
        with sqlite_app(seeded, tmp_path, **short_lease, **NO_WRITER_PROCESS) as app:
            db = Database.from_url(f"sqlite:///{app.workdir / 'e2e.db'}")
            try:
                with db.session() as session:
                    user = accounts.find_user_by_email(session, "demo@dealroom.local")
                    assert user is not None
                    room = session.exec(select(Room).where(Room.org_id == user.org_id)).first()
                    assert room is not None
                    exports.save_connection(
                        session,
                        user=user,
                        kind="hubspot",
                        data={
                            "access_token": next(iter(fake.private_tokens)),
                            "portal_id": str(fake.portal_id),
                            "api_base": crm_url,
                        },
                        vault=exports.Vault(SECRET_KEY),
                    )
                    exports.link_record(
                        session, room=room, user=user, kind="hubspot", record_id=deal_id
                    )
                    run_id = exports.request_export(
                        session, room=room, user=user, kind="hubspot"
                    ).public_id
                app.start()  # its export worker claims the run within a tick (2 s)
                assert held.written.wait(30), app.log_tail()
                app.kill()  # HubSpot has the note; the app never learnt its id
                run = export_state(db, run_id)
                assert (run.status, run.attempts) == ("running", 1)
                assert "note" not in run.ids

                app.start()
                # The run's lease still holds (60 s): the new process, leader within ~2 s and
                # then catching up on the exports job at once, leaves the run alone ...
                time.sleep(3.0)
                assert export_state(db, run_id).attempts == 1
                # ... until it has expired (we move it back rather than wait a minute).
                with db.session() as session:
                    session.exec(
                        update(exports.ExportRun)
                        .where(col(exports.ExportRun.public_id) == run_id)
                        .values(lease_until=utcnow() - timedelta(seconds=1))
                    )
                deadline = time.monotonic() + 30
                while (run := export_state(db, run_id)).status == "running":
                    assert time.monotonic() < deadline, app.log_tail()
                    time.sleep(0.2)
                with db.session(write=False) as session:
                    active = session.exec(
                        select(func.count())
                        .select_from(exports.ExportRun)
                        .where(col(exports.ExportRun.status).in_(exports.ACTIVE))
                    ).one()
            finally:
                db.dispose()
    finally:
        held.release.set()
        stop_crm()
    assert (run.status, run.attempts, run.error) == ("done", 2, "")
    assert active == 0  # nothing left queued or running
    notes = fake.live("notes")
    assert len(notes) == 1, notes  # found by its marker and updated, not created twice
    assert run.ids["note"] in notes
    assert fake.associated("notes", run.ids["note"], "deals") == {deal_id}


# ---------------------------------------------------------------- PostgreSQL stops for a while


@dataclass
class Cluster:
    url: str
    runner: _Runner
    datadir: str

    def pg_ctl(self, *args: str) -> None:
        result = self.runner.run("pg_ctl", *args, "-D", self.datadir, "-w", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def own_postgres() -> Iterator[Cluster]:
    """A cluster of our own: stopping the suite's shared one would fail other tests."""
    with postgres_cluster() as url:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            datadir = connection.execute(text("SHOW data_directory")).scalar_one()
            # `pg_ctl start` without the harness's -o options must come back on the same port.
            for name in ("port", "listen_addresses", "unix_socket_directories"):
                value = connection.execute(text(f"SHOW {name}")).scalar_one()
                connection.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
        engine.dispose()
        runner = _Runner(find_pg_bindir(), Path(datadir).parent)
        yield Cluster(url, runner, datadir)


def test_postgres_outage_answers_503_and_the_app_recovers_by_itself(own_postgres, tmp_path):
    port = free_port()
    env = {
        **app_env(tmp_path, port, None),
        "DEALROOM_DATABASE_URL": own_postgres.url,
        "DEALROOM_RUN_JOBS": "false",  # only the requests below touch the database
        **NO_WRITER_PROCESS,
    }
    token, link = seed(env)
    app = App(tmp_path, env, port)
    api = {"Authorization": f"Bearer {token}"}
    try:
        app.start()
        with httpx.Client(base_url=app.base_url, headers={"User-Agent": HUMAN}) as client:
            assert client.get("/readyz").status_code == 200
            assert client.get(link).status_code == 200
            assert client.get("/api/v1/rooms", headers=api).status_code == 200

            own_postgres.pg_ctl("stop", "-m", "fast")
            stopped_at = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("error")
            page = client.get(link)
            assert page.status_code == 503, page.text
            assert "Temporarily unavailable" in page.text
            assert "Traceback" not in page.text
            assert int(page.headers["retry-after"]) > 0
            listed = client.get("/api/v1/rooms", headers=api)
            assert listed.status_code == 503
            assert listed.json()["error"]["code"] == "unavailable"
            time.sleep(max(0.0, 5.0 - (time.monotonic() - stopped_at)))  # ~5 s of outage
            assert client.get("/readyz").status_code == 503

            own_postgres.pg_ctl("start", "-l", str(Path(own_postgres.datadir).parent / "2.log"))
            # The same process, not restarted, answers again: stale pooled connections are
            # noticed (pool_pre_ping) and replaced.
            assert client.get("/readyz").status_code == 200
            assert client.get(link).status_code == 200
            assert client.get("/api/v1/rooms", headers=api).status_code == 200
        assert app.process is not None and app.process.poll() is None
        log = app.log_tail()
        assert "unavailable: OperationalError" in log
    finally:
        app.stop()


# ---------------------------------------------------------------- storage down or full


@pytest.fixture
def seller_room(session, services, client):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    return seller, room


def unreachable_s3() -> S3Storage:
    """An S3 endpoint nobody listens on: what the app sees when MinIO or S3 is down."""
    return S3Storage.from_settings(
        SimpleNamespace(
            s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
            s3_region="us-east-1",
            s3_access_key="test",
            s3_secret_key="test",  # noqa: S106 - nothing listens there
            s3_bucket="dealroom",
            s3_prefix="",
        )
    )


def upload_pdf(client, room: Room) -> httpx.Response:
    return client.post(
        f"/rooms/{room.public_id}/content?csrf_token={client.csrf}",
        files={"file": ("proposal.pdf", PDF, "application/pdf")},
        data={"title": "Proposal"},
        follow_redirects=False,
    )


def stored_rows(session, org_id: int) -> tuple[int, int]:
    files = session.exec(
        select(func.count()).select_from(StoredFile).where(StoredFile.org_id == org_id)
    ).one()
    documents = session.exec(
        select(func.count()).select_from(Document).where(Document.org_id == org_id)
    ).one()
    return files, documents


def test_upload_while_s3_is_unreachable_is_a_clear_503_and_stores_nothing(
    session, services, client, seller_room
):
    seller, room = seller_room
    services.storage = unreachable_s3()
    answer = upload_pdf(client, room)
    assert answer.status_code == 503
    assert answer.template.name == "errors/page.html"
    assert "not reachable" in answer.context["error"].message
    assert "Temporarily unavailable" in answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert stored_rows(session, seller.org_id) == (0, 0)

    # The API says the same in JSON.
    token = accounts.create_api_token(session, user=seller, name="ci")[1]
    session.flush()
    api = client.post(
        f"/api/v1/rooms/{room.public_id}/content",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("proposal.pdf", PDF, "application/pdf")},
    )
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "unavailable"
    assert stored_rows(session, seller.org_id) == (0, 0)

    # Readiness names the storage; a read of the storage elsewhere is a 503, not a 500.
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"].startswith("error")


def test_upload_onto_a_full_disk_is_a_clear_503_and_leaves_no_file(
    session, services, client, seller_room, monkeypatch
):
    seller, room = seller_room
    root = services.storage.root  # LocalStorage

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # The bytes went to a temporary file; the disk fills up when they are flushed to it.
    monkeypatch.setattr("dealroom.storage.local.os.fsync", no_space)
    answer = upload_pdf(client, room)
    assert answer.status_code == 503
    assert answer.template.name == "errors/page.html"
    assert "no space left" in answer.context["error"].message
    assert "proposal.pdf" in answer.context["error"].message
    assert stored_rows(session, seller.org_id) == (0, 0)
    assert not [path for path in root.rglob("*") if path.is_file()]  # no half-written file


# ---------------------------------------------------------------- SQLite: a GET that writes


def test_a_read_that_cannot_upgrade_to_a_write_on_sqlite_is_retried_as_a_writer(
    services,
):
    """Under load (bench/load.py: 300 buyers entering at once) a GET that also writes lost the
    race for SQLite's write lock and failed at once with "database is locked"; it now runs
    again as a writer. On PostgreSQL nothing is retried (row locks wait by themselves)."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from dealroom.web import handler as web_handler

    calls: list[int] = []
    locked = OperationalError(
        "UPDATE invite ...", {}, sqlite3.OperationalError("database is locked")
    )

    def view(req):
        calls.append(1)
        if len(calls) == 1:
            raise locked
        return PlainTextResponse("ok")

    request = Request(
        {"type": "http", "method": "GET", "path": "/r/x", "headers": [], "query_string": b""}
    )
    if services.db.is_sqlite:
        assert web_handler._run(view, request, services, None, None).body == b"ok"
        assert len(calls) == 2
    else:
        with pytest.raises(OperationalError):
            web_handler._run(view, request, services, None, None)
        assert len(calls) == 1


# ---------------------------------------------------------------- a file export, storage down


def test_a_file_export_while_the_storage_is_down_is_retried_later(session, services):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    run = exports.request_export(session, room=room, user=seller, kind="csv")
    session.flush()
    down = unreachable_s3()
    done = exports.run_due(
        services.db, storage=down, links=services.links, vault=exports.Vault(SECRET_KEY)
    )
    assert done is not None and done.public_id == run.public_id
    assert (done.status, done.file_id) == ("queued", None)  # not failed: it will try again
    assert "file storage" in done.error
    assert (
        session.exec(
            select(func.count()).select_from(StoredFile).where(StoredFile.org_id == seller.org_id)
        ).one()
        == 0
    )


def test_a_file_whose_object_is_gone_is_a_404_not_a_500(session, services, client, seller_room):
    seller, room = seller_room
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=content.Upload(filename="proposal.pdf", file=io.BytesIO(PDF), size=len(PDF)),
        title="Proposal",
    )
    session.flush()
    for stored in session.exec(select(StoredFile).where(StoredFile.org_id == seller.org_id)):
        services.storage.delete(stored.key)  # e.g. restored from an older backup of the files
    answer = client.get(f"/rooms/{room.public_id}/content/{item.public_id}/file")
    assert answer.status_code == 404
    assert answer.context["error"].message == "This file is missing from the storage."


def test_only_an_unreachable_or_busy_database_is_an_outage():
    from dealroom.web.errors import _is_outage

    def sqlite_error(message: str) -> OperationalError:
        return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    assert _is_outage(sqlite_error("database is locked"))
    assert not _is_outage(sqlite_error("no such column: room.colour"))  # a bug: a 500, logged
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert _is_outage(refused)  # PostgreSQL: its OperationalError means the server
