"""Export runs: queueing, the worker's claim and lease, retries, crash recovery, re-exports that
update instead of duplicating, file exports, CRM links and connection secrets at rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import delete, text
from sqlmodel import select

from dealroom import accounts, audit, exports, rooms
from dealroom.crm.base import (
    Checkpoint,
    ExportResult,
    PermanentError,
    RetryableError,
    Summary,
    Target,
)
from dealroom.db import Database, utcnow
from dealroom.errors import InvalidInput, NotFound, PermissionDenied
from tests import factories
from tests.conftest import TEST_SECRET


class FakeCrm(Target):
    """A CRM in memory: one note per room, updated in place when its id is known."""

    kind = "fakecrm"
    fields: ClassVar[dict[str, bool]] = {"token": True, "account": False}
    notes: ClassVar[dict[str, str]] = {}  # remote id -> body
    calls: ClassVar[list[str]] = []  # room ids, one per export call
    script: ClassVar[list[str]] = []  # per call: "ok", "retry", "crash_after_write", "fail", "bug"
    seen: ClassVar[list[Summary]] = []
    lock = threading.Lock()
    delay = 0.0

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        with self.lock:
            self.calls.append(summary.room_id)
            self.seen.append(summary)
            step = self.script.pop(0) if self.script else "ok"
        time.sleep(self.delay)
        if step == "retry":
            raise RetryableError("CRM busy", retry_after=30)
        if step == "fail":
            raise PermanentError("The deal was deleted.", fix="Link the room to another deal.")
        if step == "bug":
            raise KeyError("oops")
        note_id = previous.get("note")
        with self.lock:
            if note_id is None or note_id not in self.notes:
                note_id = f"n{len(self.notes) + 1}"
            self.notes[note_id] = summary.markdown
        checkpoint({"note": note_id})
        if step == "crash_after_write":
            raise RetryableError("connection reset after the write", retry_after=30)
        return ExportResult(
            remote_ids={"note": note_id}, url=f"https://crm.example/notes/{note_id}"
        )

    def test_connection(self) -> str:
        if self.config.get("token") != "good":
            raise PermanentError("Bad token.", fix="Paste a new token.")
        return "Fake CRM account " + self.config.get("account", "")


@pytest.fixture(autouse=True)
def fake_crm(monkeypatch):
    monkeypatch.setitem(exports.EXTRA_TARGETS, "fakecrm", FakeCrm)
    monkeypatch.setattr(FakeCrm, "notes", {})
    monkeypatch.setattr(FakeCrm, "calls", [])
    monkeypatch.setattr(FakeCrm, "script", [])
    monkeypatch.setattr(FakeCrm, "seen", [])
    return FakeCrm


@pytest.fixture
def vault():
    return exports.Vault(TEST_SECRET)


@pytest.fixture
def deal(session, vault):
    admin = factories.seller(session)
    rep = factories.seller(session, org=accounts.get_org(session, admin.org_id).name, role="rep")
    room = factories.room(session, admin)
    exports.save_connection(
        session,
        user=admin,
        kind="fakecrm",
        data={"token": "good", "account": "acme-portal"},
        vault=vault,
    )
    session.flush()
    return {"admin": admin, "rep": rep, "room": room}


def work(services, vault, **kwargs):
    return exports.run_due(
        services.db, storage=services.storage, links=services.links, vault=vault, **kwargs
    )


# ---------------------------------------------------------------- queueing


def test_request_queues_one_run_per_room_and_target(session, deal):
    run = exports.request_export(
        session, room=deal["room"], user=deal["rep"], kind="fakecrm", intro="Hi", next_steps="Sign"
    )
    again = exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    csv_run = exports.request_export(session, room=deal["room"], user=deal["rep"], kind="csv")

    assert run.public_id.startswith("exp_") and run.status == "queued"
    assert again.id == run.id
    assert csv_run.id != run.id
    assert run.texts["intro"] == "Hi" and run.texts["next_steps"] == "Sign"
    events = [e.action for e in audit.recent(session, org_id=deal["room"].org_id)]
    assert events.count("export.requested") == 2


@pytest.mark.parametrize(
    ("kind", "message"),
    [("nosuch", "Unknown export target"), ("webhook", "is not connected"), ("", "Unknown")],
)
def test_request_refuses_unknown_or_unconfigured_targets(session, deal, kind, message):
    with pytest.raises(InvalidInput) as refused:
        exports.request_export(session, room=deal["room"], user=deal["rep"], kind=kind)
    assert message in refused.value.fields["target"]


def test_request_checks_the_free_text(session, deal):
    with pytest.raises(InvalidInput) as refused:
        exports.request_export(
            session,
            room=deal["room"],
            user=deal["rep"],
            kind="csv",
            intro="x" * 5001,
            next_steps="a\x00b",
        )
    assert set(refused.value.fields) == {"intro", "next_steps"}


def test_another_orgs_seller_cannot_export_the_room(session, deal):
    outsider = factories.seller(session)
    with pytest.raises(NotFound):
        exports.request_export(session, room=deal["room"], user=outsider, kind="csv")


# ---------------------------------------------------------------- the worker


def test_a_run_goes_from_queued_to_done(session, services, deal, vault, fake_crm):
    exports.link_record(session, room=deal["room"], user=deal["rep"], kind="hubspot", record_id="1")
    run = exports.request_export(
        session, room=deal["room"], user=deal["rep"], kind="fakecrm", next_steps="Sign"
    )
    session.flush()

    done = work(services, vault)

    assert done.public_id == run.public_id
    assert (done.status, done.attempts, done.error) == ("done", 1, "")
    assert done.ids == {"note": "n1"} and done.url == "https://crm.example/notes/n1"
    assert done.active_key is None and done.lease_until is None
    assert done.started_at is not None and done.finished_at is not None
    assert fake_crm.seen[0].next_steps == "Sign"
    assert "Sign" in fake_crm.notes["n1"]
    assert work(services, vault) is None  # nothing else is due
    actions = [e.action for e in audit.recent(session, org_id=deal["room"].org_id)]
    assert "export.done" in actions


def test_re_export_updates_what_the_first_one_created(session, services, deal, vault, fake_crm):
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    first = work(services, vault)
    second = exports.request_export(
        session, room=deal["room"], user=deal["rep"], kind="fakecrm", intro="Week 2"
    )
    session.flush()
    assert second.ids == {"note": "n1"}  # starts from what exists remotely
    done = work(services, vault)

    assert first.status == done.status == "done"
    assert list(fake_crm.notes) == ["n1"]  # updated, never duplicated
    assert "Week 2" in fake_crm.notes["n1"]


def test_a_crash_after_the_remote_write_keeps_the_id(session, services, deal, vault, fake_crm):
    fake_crm.script = ["crash_after_write", "ok"]
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    retried = work(services, vault)
    assert retried.status == "queued" and retried.ids == {"note": "n1"}  # the checkpoint held
    assert retried.error == "connection reset after the write"
    # Retry-After (30 s) is honoured: not due before.
    assert retried.next_attempt_at >= utcnow() + timedelta(seconds=29)
    done = work(services, vault, now=retried.next_attempt_at)
    assert done.status == "done" and list(fake_crm.notes) == ["n1"]


def test_a_failed_run_with_ids_is_the_base_of_the_next_export(
    session, services, deal, vault, fake_crm
):
    fake_crm.script = ["crash_after_write"] * exports.MAX_ATTEMPTS
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    run = work(services, vault)
    while run.status == "queued":
        run = work(services, vault, now=run.next_attempt_at)
    assert run.status == "failed" and run.ids == {"note": "n1"}
    assert run.error.startswith(f"Gave up after {exports.MAX_ATTEMPTS} attempts.")
    again = exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    assert work(services, vault).status == "done"
    assert again.ids == {"note": "n1"} and list(fake_crm.notes) == ["n1"]


def test_permanent_errors_stop_with_a_fix(session, services, deal, vault, fake_crm):
    fake_crm.script = ["fail"]
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    run = work(services, vault)
    assert (run.status, run.attempts) == ("failed", 1)
    assert run.error == "The deal was deleted." and run.fix == "Link the room to another deal."


def test_a_bug_in_a_target_fails_the_run_not_the_worker(session, services, deal, vault, fake_crm):
    fake_crm.script = ["bug"]
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    run = work(services, vault)
    assert run.status == "failed" and "unexpected error" in run.error


def test_a_removed_connection_fails_the_run(session, services, deal, vault):
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    exports.disconnect(session, user=deal["admin"], kind="fakecrm")
    session.flush()
    run = work(services, vault)
    assert run.status == "failed" and run.error == "fakecrm is not connected."
    assert "Integrations" in run.fix


def test_a_dead_workers_run_is_reclaimed_after_its_lease(session, services, deal, vault, fake_crm):
    run = exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    claimed = exports.claim_next(services.db)  # ... and then the worker dies
    assert claimed is not None and claimed[0] == run.id
    # The lease holds: nobody else takes it.
    assert work(services, vault) is None
    later = utcnow() + exports.LEASE + timedelta(seconds=1)
    done = work(services, vault, now=later)
    assert done.public_id == run.public_id
    assert (done.status, done.attempts) == ("done", 2)
    # The dead worker, were it to come back, cannot overwrite the outcome.
    stale = exports._finish(services.db, claimed[0], claimed[1], error=PermanentError("late"))
    assert stale is None
    session.expire_all()
    assert session.get(exports.ExportRun, run.id).status == "done"


def test_a_file_export_stores_the_file(session, services, deal, vault):
    run = exports.request_export(session, room=deal["room"], user=deal["rep"], kind="csv")
    session.flush()
    done = work(services, vault)
    assert done.status == "done" and done.file_id is not None
    session.expire_all()
    stored = exports.run_file(session, run=session.get(exports.ExportRun, run.id))
    assert stored.filename.endswith(".csv") and stored.content_type.startswith("text/csv")
    data = b"".join(services.storage.open(stored.key))
    assert data.startswith(b"\xef\xbb\xbf") and len(data) == stored.size


def test_history_and_last_success(session, services, deal, vault):
    assert exports.last_success(session, room=deal["room"]) is None
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="markdown")
    session.flush()
    done = work(services, vault)
    session.expire_all()
    assert exports.last_success(session, room=deal["room"]) == done.finished_at
    assert [r.public_id for r in exports.room_history(session, room=deal["room"])] == [
        done.public_id
    ]


def test_backoff_grows_with_jitter_and_honours_retry_after():
    delays = [exports.retry_delay(n) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        base = min(exports.BACKOFF_CAP, exports.BACKOFF_BASE * 2 ** (n - 1))
        assert base / 2 <= delay <= base
    assert exports.retry_delay(1, retry_after=120) >= timedelta(seconds=120)
    assert exports.retry_delay(1, retry_after=10**9) == exports.MAX_RETRY_AFTER


# ---------------------------------------------------------------- connections and links


def test_secrets_are_encrypted_at_rest_and_never_shown(session, deal, vault):
    row = exports.get_connection(session, org_id=deal["admin"].org_id, kind="fakecrm")
    raw = session.execute(
        text("SELECT settings, secrets FROM crm_connection WHERE id = :id"), {"id": row.id}
    ).one()
    assert "good" not in raw.secrets and "good" not in raw.settings
    assert "acme-portal" in raw.settings
    assert exports.target_config(
        session, org_id=deal["admin"].org_id, kind="fakecrm", vault=vault
    ) == {"token": "good", "account": "acme-portal"}
    (view,) = [
        c
        for c in exports.connections(session, org_id=deal["admin"].org_id, vault=vault)
        if c.kind == "fakecrm"
    ]
    token = next(f for f in view.fields if f.name == "token")
    assert (token.secret, token.is_set, token.value) == (True, True, "")

    # A blank secret keeps the stored one; a new value replaces it.
    exports.save_connection(
        session, user=deal["admin"], kind="fakecrm", data={"token": "", "account": "x"}, vault=vault
    )
    assert exports.target_config(
        session, org_id=deal["admin"].org_id, kind="fakecrm", vault=vault
    ) == {"token": "good", "account": "x"}


def test_secrets_under_another_key_are_unreadable_not_leaked(session, deal):
    other = exports.Vault("another-secret-key-0123456789-abcdefghijklmnop")
    with pytest.raises(PermanentError, match="cannot be read"):
        exports.target_config(session, org_id=deal["admin"].org_id, kind="fakecrm", vault=other)
    (view,) = [
        c
        for c in exports.connections(session, org_id=deal["admin"].org_id, vault=other)
        if c.kind == "fakecrm"
    ]
    assert view.unreadable


def test_only_admins_change_connections(session, deal, vault):
    with pytest.raises(PermissionDenied):
        exports.save_connection(session, user=deal["rep"], kind="fakecrm", data={}, vault=vault)
    with pytest.raises(PermissionDenied):
        exports.set_allow_private_webhooks(session, user=deal["rep"], allow=True)
    with pytest.raises(NotFound):
        exports.save_connection(session, user=deal["admin"], kind="csv", data={}, vault=vault)


def test_test_connection_reports_success_and_errors(session, deal, vault):
    import httpx

    with httpx.Client() as client:
        ok = exports.test_connection(
            session, user=deal["admin"], kind="fakecrm", vault=vault, client=client
        )
        assert ok.ok and ok.message == "Fake CRM account acme-portal"
        exports.save_connection(
            session, user=deal["admin"], kind="fakecrm", data={"token": "bad"}, vault=vault
        )
        bad = exports.test_connection(
            session, user=deal["admin"], kind="fakecrm", vault=vault, client=client
        )
    assert (bad.ok, bad.message, bad.fix) == (False, "Bad token.", "Paste a new token.")


def test_room_links_to_a_crm_record(session, deal):
    room, rep = deal["room"], deal["rep"]
    exports.link_record(session, room=room, user=rep, kind="hubspot", record_id=" 8123 ")
    exports.link_record(session, room=room, user=rep, kind="kintone", record_id="42")
    exports.link_record(session, room=room, user=rep, kind="hubspot", record_id="9001")
    assert exports.room_links(session, room=room) == {"hubspot": "9001", "kintone": "42"}
    exports.link_record(session, room=room, user=rep, kind="kintone", record_id="")
    assert exports.room_links(session, room=room) == {"hubspot": "9001"}
    with pytest.raises(InvalidInput):
        exports.link_record(session, room=room, user=rep, kind="csv", record_id="1")
    with pytest.raises(InvalidInput):
        exports.link_record(session, room=room, user=rep, kind="hubspot", record_id="x" * 201)


# ---------------------------------------------------------------- two workers, one run


@pytest.fixture(params=["sqlite", "postgresql"])
def real_db(request):
    """A Database on the engine itself (not the test's rolled-back connection), so threads get
    their own connections; what the test commits is deleted afterwards."""
    engine = request.getfixturevalue(f"{request.param}_engine")
    db = Database(engine)
    made: dict[str, list[int]] = {"org": []}
    yield db, made
    with db.session() as session:
        for org_id in made["org"]:
            session.exec(delete(exports.ExportRun).where(exports.ExportRun.org_id == org_id))
            session.exec(
                delete(exports.CrmConnection).where(exports.CrmConnection.org_id == org_id)
            )
            session.exec(delete(audit.AuditEvent).where(audit.AuditEvent.org_id == org_id))
            session.exec(delete(rooms.Room).where(rooms.Room.org_id == org_id))
            session.exec(delete(accounts.User).where(accounts.User.org_id == org_id))
            session.exec(delete(accounts.Org).where(accounts.Org.id == org_id))


def test_two_workers_never_run_the_same_run(real_db, services, vault, fake_crm, monkeypatch):
    db, made = real_db
    monkeypatch.setattr(FakeCrm, "delay", 0.05)
    with db.session() as session:
        admin = factories.seller(session)
        made["org"].append(admin.org_id)
        exports.save_connection(
            session, user=admin, kind="fakecrm", data={"token": "good"}, vault=vault
        )
        room_ids = []
        for n in range(8):
            room = factories.room(session, admin, name=f"Race {n}")
            exports.request_export(session, room=room, user=admin, kind="fakecrm")
            room_ids.append(room.public_id)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            while (
                exports.run_due(db, storage=services.storage, links=services.links, vault=vault)
                is not None
            ):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(fake_crm.calls) == sorted(room_ids)  # each run exactly once
    with db.session(write=False) as session:
        runs = session.exec(
            select(exports.ExportRun).where(exports.ExportRun.org_id == admin.org_id)
        ).all()
    assert {(r.status, r.attempts) for r in runs} == {("done", 1)}


def test_a_summary_that_cannot_be_built_fails_the_run(session, services, deal, vault, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("analytics are down")

    monkeypatch.setattr(exports, "_summary", broken)
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    run = work(services, vault)
    assert run.status == "failed" and "unexpected error" in run.error


def test_the_scheduler_runs_exports(session, services, deal, vault, fake_crm):
    from dealroom.jobs import Jobs

    jobs = Jobs(
        services.db,
        None,
        links=services.links,
        storage=services.storage,
        secret_key=TEST_SECRET,
    )
    assert "exports" in jobs.specs
    jobs.kick_exports()  # not running: a no-op, never an error
    exports.request_export(session, room=deal["room"], user=deal["rep"], kind="fakecrm")
    session.flush()
    jobs.run_exports()
    assert fake_crm.calls == [deal["room"].public_id]
    assert exports.room_history(session, room=deal["room"])[0].status == "done"
