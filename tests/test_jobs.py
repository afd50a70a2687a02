"""Background jobs: each one calls through to its domain function in a transaction of its own,
and survives a failing run (the domain behaviour itself is tested with each domain module)."""

from __future__ import annotations

import logging
import threading

import pytest

from dealroom import tracking
from dealroom.jobs import Jobs


def test_tracking_retention_is_scheduled_and_purges_in_chunks(db, monkeypatch):
    calls = []

    def purge_expired_in_chunks(database):
        calls.append(database)
        return 7

    monkeypatch.setattr(tracking, "purge_expired_in_chunks", purge_expired_in_chunks)
    jobs = Jobs(db, None)

    assert "tracking-retention" in jobs.specs
    assert jobs.purge_tracking() == 7
    assert calls == [db]  # the Database: the purge makes its own short transactions


def test_a_failing_retention_run_is_logged_and_the_job_survives(db, monkeypatch, caplog):
    def purge_expired_in_chunks(database):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tracking, "purge_expired_in_chunks", purge_expired_in_chunks)

    with caplog.at_level(logging.ERROR, logger="dealroom.jobs"):
        assert Jobs(db, None).purge_tracking() == 0
    assert "tracking retention failed" in caplog.text


def test_a_retention_run_that_failed_for_some_rooms_reports_what_it_deleted(
    db, monkeypatch, caplog
):
    def purge_expired_in_chunks(database):
        raise tracking.PurgeIncomplete(12, [4, 9]) from OSError("disk I/O error")

    monkeypatch.setattr(tracking, "purge_expired_in_chunks", purge_expired_in_chunks)

    with caplog.at_level(logging.ERROR, logger="dealroom.jobs"):
        assert Jobs(db, None).purge_tracking() == 12
    assert "failed for room(s) 4, 9" in caplog.text
    assert "12 raw events of the others deleted" in caplog.text
    assert "disk I/O error" in caplog.text  # the cause's traceback


@pytest.mark.parametrize("deleted", [0, 3])
def test_retention_logs_how_many_events_went(db, monkeypatch, caplog, deleted):
    monkeypatch.setattr(tracking, "purge_expired_in_chunks", lambda database: deleted)

    with caplog.at_level(logging.INFO, logger="dealroom.jobs"):
        Jobs(db, None).purge_tracking()
    assert f"tracking retention: {deleted} raw events" in caplog.text


def test_kicks_work_at_once_in_the_calling_process_and_coalesce(db):
    jobs = Jobs(db, None)
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    runs = []

    def deliver():
        runs.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        if len(runs) == 2:
            done.set()

    jobs.deliver_mail = deliver
    jobs.kick_mail()  # not started: a no-op, never an error
    assert runs == []

    jobs.start()  # leader or not, this process may deliver what its requests queued
    try:
        jobs.kick_mail()
        assert started.wait(10)
        jobs.kick_mail()  # while one runs: they make one more run, not two
        jobs.kick_mail()
        release.set()
        assert done.wait(10)
    finally:
        jobs.stop()
    assert runs == ["dealroom-kick-mail"] * 2


def test_every_job_is_registered_by_name_for_the_stored_schedule(db, services):
    everything = Jobs(
        db,
        None,
        mail=services.mail,
        links=services.links,
        storage=services.storage,
        secret_key=services.settings.secret_key,
    )
    assert {
        "mail",
        "housekeeping",
        "tracking-retention",
        "chat-digests",
        "invite-reminders",
        "exports",
    } <= set(everything.specs)
    for job_id, spec in everything.specs.items():
        assert spec.id == job_id and callable(spec.func)
        spec.make_trigger()  # a valid APScheduler trigger


def test_metrics_say_whether_this_process_leads(db, services):
    from dealroom import metrics

    assert "dealroom_scheduler_leader 0" in metrics.render(services)
    services.jobs = Jobs(db, None)
    services.jobs.leader.token = 3  # as after a won election
    assert "dealroom_scheduler_leader 1" in metrics.render(services)
