"""Background jobs: each one calls through to its domain function in a transaction of its own,
and survives a failing run (the domain behaviour itself is tested with each domain module)."""

from __future__ import annotations

import logging

import pytest

from dealroom import tracking
from dealroom.jobs import Jobs


def test_tracking_retention_is_scheduled_and_purges_in_a_transaction(db, monkeypatch):
    calls = []

    def purge_expired(session):
        calls.append(session)
        return 7

    monkeypatch.setattr(tracking, "purge_expired", purge_expired)
    jobs = Jobs(db, None)

    assert jobs.scheduler.get_job("tracking-retention") is not None
    assert jobs.purge_tracking() == 7
    assert len(calls) == 1


def test_a_failing_retention_run_is_logged_and_the_job_survives(db, monkeypatch, caplog):
    def purge_expired(session):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tracking, "purge_expired", purge_expired)

    with caplog.at_level(logging.ERROR, logger="dealroom.jobs"):
        assert Jobs(db, None).purge_tracking() == 0
    assert "tracking retention failed" in caplog.text


@pytest.mark.parametrize("deleted", [0, 3])
def test_retention_logs_how_many_events_went(db, monkeypatch, caplog, deleted):
    monkeypatch.setattr(tracking, "purge_expired", lambda session: deleted)

    with caplog.at_level(logging.INFO, logger="dealroom.jobs"):
        Jobs(db, None).purge_tracking()
    assert f"tracking retention: {deleted} raw events" in caplog.text
