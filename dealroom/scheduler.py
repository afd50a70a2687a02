"""Exactly one process runs the scheduled jobs: the one that holds the scheduler's lease.

Every app process with `run_jobs` keeps a `Leader`: a thread that, every `renew` seconds, tries
to take or renew the lease (dealroom/lease.py). The process that holds it starts an APScheduler
whose jobs live in the database (`apscheduler_jobs`, a persistent job store), so the next
leader continues the same schedule: a job's next run time survives restarts and failovers, and
the runs a dead leader missed are caught up once (coalesced), never once per missed slot.

    process A  ── lease held ──> APScheduler(SQLAlchemyJobStore) ──> run_job("mail") ──> Jobs
    process B  ── lease refused: retries every `renew` seconds
    A dies     ── its lease expires after at most `lease` seconds ──> B takes over (token + 1)

Safety against a job running twice:
- a leader that fails to renew (the lease was taken, or the database did not answer) stops
  its scheduler at once, without waiting for a running job;
- every run first checks, in the database, that this process still holds the lease under the
  token it started with (`Leader.confirm`), so a leader that stalled past its lease (paused,
  swapped out) and wakes up is refused instead of running a slot its successor already ran;
- APScheduler writes a job's next run time before running it, so the successor starts at the
  slot after the last one the dead leader began.
Jobs are still written to be safe when run twice (work is claimed row by row in the database):
a process killed between handing a job to its thread pool and recording the next run time
would otherwise leave that one slot to its successor again. The opposite edge: a stalled leader
that wakes up may advance a due job's next run time in the shared store before its fencing
check refuses the run, so that slot is skipped (never doubled); every job here runs often or
looks for due work itself (digests, reminders), so the next slot catches up.

Stored jobs name their function by an importable text reference (`dealroom.scheduler:run_job`
with the job id as argument), never a bound method: the store outlives the process that wrote
it. `run_job` finds the process's jobs through the module-level `_current` leader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError

from . import lease
from .db import Database, utcnow

log = logging.getLogger("dealroom.scheduler")

LEASE_NAME = "scheduler"
JOB_FUNCTION = "dealroom.scheduler:run_job"
TRIGGERS: dict[str, type[BaseTrigger]] = {
    "interval": IntervalTrigger,
    "cron": CronTrigger,
    "date": DateTrigger,
}


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what runs (a callable of this process) and when."""

    id: str
    func: Callable[[], object]
    trigger: str  # "interval", "cron" or "date"
    trigger_args: Mapping[str, Any] = field(default_factory=dict)
    # When the job is first stored: its first run this long after, instead of one interval.
    first_run: timedelta | None = None

    def make_trigger(self) -> BaseTrigger:
        return TRIGGERS[self.trigger](timezone=UTC, **self.trigger_args)


_current: Leader | None = None


def run_job(job_id: str) -> object:
    """What every stored job calls (by its text reference): run `job_id` on this process's
    leader, if it still leads. Returns the job's result (None when it did not run)."""
    leader = _current
    if leader is None:
        log.warning("scheduled job %s fired with no leader in this process", job_id)
        return None
    return leader.run(job_id)


class PatientJobStore(SQLAlchemyJobStore):
    """APScheduler's database job store, waiting out a busy database. APScheduler records a
    job's next run time outside any error handling: one "database is locked" from SQLite under a
    burst of writes would end its thread for good, and with it every scheduled job of the
    process that still renews the lease. Writes are retried a few times, with backoff."""

    ATTEMPTS = 5

    def _patiently(self, call: Callable[..., Any], *args: Any) -> Any:
        for attempt in range(self.ATTEMPTS):
            try:
                return call(*args)
            except OperationalError:
                if attempt == self.ATTEMPTS - 1:
                    raise
                log.warning("job store busy; retrying")
                time.sleep(0.2 * 2**attempt)
        return None

    def add_job(self, job: Any) -> None:
        self._patiently(super().add_job, job)

    def update_job(self, job: Any) -> None:
        self._patiently(super().update_job, job)

    def remove_job(self, job_id: str) -> None:
        self._patiently(super().remove_job, job_id)

    def get_due_jobs(self, now: datetime) -> list[Any]:
        return list(self._patiently(super().get_due_jobs, now))


def _scheduler_alive(scheduler: BackgroundScheduler) -> bool:
    thread = getattr(scheduler, "_thread", None)
    return scheduler.running and (thread is None or thread.is_alive())


class Leader:
    """Competes for the scheduler's lease; runs the APScheduler while it holds it."""

    def __init__(
        self,
        db: Database,
        specs: Mapping[str, JobSpec],
        *,
        lease_for: timedelta = timedelta(seconds=15),
        renew_every: timedelta = timedelta(seconds=5),
        holder: str | None = None,
        jobstore: Callable[[], BaseJobStore] | None = None,
    ) -> None:
        self.db = db
        self.specs = specs
        self.lease_for = lease_for
        self.renew_every = renew_every
        self.holder = holder or lease.new_holder()
        self.token: int | None = None
        self.scheduler: BackgroundScheduler | None = None
        self._jobstore = jobstore or (lambda: PatientJobStore(engine=db.engine))
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        return self.token is not None

    # ------------------------------------------------------------ the election loop

    def start(self) -> None:
        global _current
        _current = self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="dealroom-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop competing; if leading, let the running job finish, then give the lease up so
        another process takes over at once instead of after the lease expires."""
        global _current
        self._stopping.set()
        if self._thread is not None:
            # A round in progress ends within the database's timeouts; don't hang a shutdown.
            self._thread.join(timeout=30)
            self._thread = None
        with self._lock:
            self._stop_scheduler(wait=True)
            token, self.token = self.token, None
        if token is not None:
            try:
                with self.db.session() as session:
                    lease.release(
                        session, name=LEASE_NAME, holder=self.holder, token=token, now=utcnow()
                    )
                log.info("scheduler lease released by %s", self.holder)
            except Exception:  # noqa: BLE001 - it then simply expires
                log.exception("could not release the scheduler lease")
        if _current is self:
            _current = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.step()
            self._stopping.wait(self.renew_every.total_seconds())

    def step(self, now: datetime | None = None) -> bool:
        """One round: take or renew the lease, then start or stop the scheduler to match.
        Returns whether this process leads."""
        try:
            with self.db.session() as session:
                token = lease.acquire(
                    session,
                    name=LEASE_NAME,
                    holder=self.holder,
                    ttl=self.lease_for,
                    now=now or utcnow(),
                )
        except Exception:  # noqa: BLE001 - cannot tell whether we still lead: stop leading
            log.exception("scheduler lease: the database did not answer")
            token = None
        with self._lock:
            if token == self.token:
                if (
                    token is not None
                    and self.scheduler is not None
                    and not _scheduler_alive(self.scheduler)
                    and not self._stopping.is_set()
                ):
                    # Its thread died (an error APScheduler does not catch): still the leader,
                    # so start a scheduler again rather than hold the lease and run nothing.
                    log.error("the scheduler thread of %s stopped; starting it again", self.holder)
                    self._stop_scheduler(wait=False)
                    try:
                        self._start_scheduler()
                    except Exception:  # noqa: BLE001 - the next round retries
                        log.exception("scheduler could not start")
                return token is not None
            if self.token is not None:
                # Lost (or re-taken under a new token after stalling): stop at once.
                log.warning("scheduler lease lost by %s (token %s)", self.holder, self.token)
                self._stop_scheduler(wait=False)
                self.token = None
            if token is not None:
                self.token = token  # even when stopping: stop() then releases it
                log.info("scheduler lease taken by %s (token %s)", self.holder, token)
                if self._stopping.is_set():
                    return True
                try:
                    self._start_scheduler()
                except Exception:  # noqa: BLE001 - the next round retries
                    log.exception("scheduler could not start")
                    self._stop_scheduler(wait=False)
                    self.token = None
            return self.token is not None

    def confirm(self, now: datetime | None = None) -> bool:
        """The fencing check before a run: does this process still hold the lease under the
        token its scheduler was started with?"""
        token = self.token
        if token is None:
            return False
        with self.db.session(write=False) as session:
            return lease.holds(
                session, name=LEASE_NAME, holder=self.holder, token=token, now=now or utcnow()
            )

    def run(self, job_id: str) -> object:
        spec = self.specs.get(job_id)
        if spec is None:
            log.warning("scheduled job %s is not known to this process", job_id)
            return None
        try:
            confirmed = self.confirm()
        except Exception:  # noqa: BLE001
            log.exception("scheduled job %s: could not check the lease", job_id)
            return None
        if not confirmed:
            log.warning(
                "scheduled job %s skipped: %s no longer holds the lease", job_id, self.holder
            )
            return None
        return spec.func()

    # ------------------------------------------------------------ the scheduler of a term

    def _start_scheduler(self) -> None:
        # A fresh scheduler for each term: one that was shut down is not reused.
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": self._jobstore()},
            # One run per job at a time; after a gap (a failover, a restart), the missed runs
            # are made up by one run, whatever their age.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.start(paused=True)
        self.scheduler = scheduler
        self._reconcile(scheduler)
        scheduler.resume()

    def _reconcile(self, scheduler: BackgroundScheduler) -> None:
        """Make the stored jobs match this process's: keep a job whose definition is unchanged
        (and with it its next run time), replace a changed one, remove one no longer defined."""
        stored = {job.id: job for job in scheduler.get_jobs()}
        for job_id in stored:
            if job_id not in self.specs:
                scheduler.remove_job(job_id)
        now = datetime.now(UTC)
        for spec in self.specs.values():
            trigger = spec.make_trigger()
            job = stored.get(spec.id)
            if (
                job is not None
                and job.func_ref == JOB_FUNCTION
                and tuple(job.args) == (spec.id,)
                and str(job.trigger) == str(trigger)
            ):
                continue
            options: dict[str, Any] = {}
            if spec.first_run is not None:
                options["next_run_time"] = now + spec.first_run
            scheduler.add_job(
                JOB_FUNCTION,
                trigger,
                args=[spec.id],
                id=spec.id,
                name=spec.id,
                replace_existing=True,
                **options,
            )

    def _stop_scheduler(self, *, wait: bool) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=wait)
