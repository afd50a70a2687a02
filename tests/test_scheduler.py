"""The scheduler's leader: only the lease holder runs an APScheduler; a leader that loses the
lease stops at once and its runs are refused; the stored schedule is kept across leaders.

Steps are driven by hand with a moved clock (`step(now=...)`); each leader gets an in-memory job
store (the database job store and real processes are tested in test_scheduler_failover.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from sqlalchemy.exc import OperationalError

from dealroom import lease, scheduler
from dealroom.db import utcnow
from dealroom.scheduler import JobSpec, Leader

TTL = timedelta(seconds=15)


class KeptJobStore(MemoryJobStore):
    """In memory, but kept when its scheduler shuts down (as a database table is)."""

    def shutdown(self):
        pass


@pytest.fixture
def ran():
    return []


@pytest.fixture
def specs(ran):
    return {
        "report": JobSpec(
            "report", lambda: ran.append("report") or "done", "interval", {"hours": 1}
        )
    }


@pytest.fixture
def leaders(db, specs):
    made = []

    def make(holder, store=None, job_specs=None):
        store = store or KeptJobStore()
        leader = Leader(
            db, job_specs or specs, lease_for=TTL, holder=holder, jobstore=lambda: store
        )
        made.append(leader)
        return leader

    yield make
    for leader in made:
        leader._stop_scheduler(wait=False)


def test_only_the_lease_holder_runs_a_scheduler(leaders):
    now = utcnow()
    a, b = leaders("a"), leaders("b")

    assert a.step(now) is True
    assert b.step(now) is False
    assert a.leading and a.scheduler is not None and a.scheduler.running
    assert not b.leading and b.scheduler is None
    (job,) = a.scheduler.get_jobs()
    # Stored by text reference and job id, never a bound method: the store outlives processes.
    assert (job.id, job.func_ref, job.args) == ("report", "dealroom.scheduler:run_job", ("report",))
    assert a.step(now + timedelta(seconds=5)) is True  # renewing changes nothing
    assert a.scheduler.running


def test_a_leader_that_lost_the_lease_stops_and_its_runs_are_refused(leaders, ran):
    now = utcnow()
    a, b = leaders("a"), leaders("b")
    a.step(now)
    old_scheduler = a.scheduler
    # a stalls past its lease; b takes over under the next token.
    assert b.step(now + TTL) is True and b.token == a.token + 1

    assert a.run("report") is None  # a wakes up before its next step: fenced off
    assert b.run("report") == "done"
    assert ran == ["report"]
    assert a.step(now + TTL + timedelta(seconds=1)) is False
    assert not a.leading and a.scheduler is None and not old_scheduler.running


def test_a_leader_whose_database_fails_stops_leading(leaders, monkeypatch):
    a = leaders("a")
    a.step(utcnow())

    def unreachable(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(lease, "acquire", unreachable)
    assert a.step(utcnow()) is False
    assert a.scheduler is None


def test_the_stored_schedule_outlives_its_leader(leaders, db, specs):
    store = KeptJobStore()
    now = utcnow()
    first = leaders("a", store)
    first.step(now)
    next_run = first.scheduler.get_job("report").next_run_time
    first.stop()  # a clean stop releases the lease at once
    with db.session() as session:
        assert lease.current(session, name=scheduler.LEASE_NAME).expires_at <= utcnow()

    second = leaders("b", store)
    assert second.step(utcnow()) is True
    assert second.scheduler.get_job("report").next_run_time == next_run  # unchanged: kept
    second._stop_scheduler(wait=False)

    changed = {
        "report": JobSpec("report", specs["report"].func, "interval", {"minutes": 10}),
        "later": JobSpec("later", specs["report"].func, "interval", {"hours": 6}, timedelta(0)),
    }
    third = leaders("b", store, changed)
    third.token = None  # a new term of the same process (as after a stall)
    assert third.step(utcnow()) is True
    jobs = {job.id: job for job in third.scheduler.get_jobs()}
    assert str(jobs["report"].trigger) == "interval[0:10:00]"  # redefined: replaced
    assert jobs["report"].next_run_time != next_run
    assert jobs["later"].next_run_time <= utcnow() + timedelta(seconds=1)  # first_run=0


def test_a_job_no_longer_defined_leaves_the_store(leaders, specs):
    store = KeptJobStore()
    extra = {**specs, "old": JobSpec("old", lambda: None, "cron", {"hour": 3})}
    first = leaders("a", store, extra)
    first.step(utcnow())
    assert {job.id for job in first.scheduler.get_jobs()} == {"report", "old"}
    first.stop()

    second = leaders("b", store)
    second.step(utcnow())
    assert [job.id for job in second.scheduler.get_jobs()] == ["report"]


def test_run_job_runs_on_this_process_leader_only(leaders, monkeypatch, ran):
    monkeypatch.setattr(scheduler, "_current", None)
    assert scheduler.run_job("report") is None

    a = leaders("a")
    a.step(utcnow())
    monkeypatch.setattr(scheduler, "_current", a)
    assert scheduler.run_job("report") == "done"
    assert scheduler.run_job("unknown") is None
    assert ran == ["report"]


class FailingOnceJobStore(KeptJobStore):
    """Its first next-run-time update fails as APScheduler does not expect: the scheduler's
    thread dies there."""

    failed = False

    def update_job(self, job):
        if not self.failed:
            self.failed = True
            raise RuntimeError("the job store went away")
        super().update_job(job)


# The death of APScheduler's thread is what this test is about.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_leader_whose_scheduler_thread_died_starts_it_again(leaders, ran):
    fast = {"tick": JobSpec("tick", lambda: ran.append("tick"), "interval", {"seconds": 1})}
    store = FailingOnceJobStore()
    a = leaders("a", store=store, job_specs=fast)
    now = utcnow()
    a.step(now)
    dead = a.scheduler
    a.scheduler.wakeup()  # the tick falls due within a second; its update then fails
    deadline = time.monotonic() + 10
    while scheduler._scheduler_alive(dead) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.failed and not scheduler._scheduler_alive(dead)

    assert a.step(now + timedelta(seconds=5)) is True
    assert a.scheduler is not dead and scheduler._scheduler_alive(a.scheduler)


def test_the_database_job_store_waits_out_a_busy_database(monkeypatch):
    calls = []

    def busy_then_fine(self, job):
        calls.append(job)
        if len(calls) < 3:
            raise OperationalError("UPDATE apscheduler_jobs", {}, Exception("database is locked"))

    monkeypatch.setattr(scheduler.SQLAlchemyJobStore, "update_job", busy_then_fine)
    monkeypatch.setattr(scheduler.time, "sleep", lambda seconds: None)
    store = scheduler.PatientJobStore(url="sqlite://")
    store.update_job("job")
    assert calls == ["job", "job", "job"]

    calls.clear()
    monkeypatch.setattr(scheduler.PatientJobStore, "ATTEMPTS", 2)
    with pytest.raises(OperationalError):
        store.update_job("job")
