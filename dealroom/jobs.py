"""Background jobs. With several app processes exactly one runs them: the holder of the
scheduler's lease (dealroom/scheduler.py), on APScheduler with its jobs stored in the database.

Adding a job: write a method on `Jobs` that opens its own transaction(s) through `self.db`,
catches and logs its exceptions (the next run retries), and register it in `__init__`:

    self.add_job(self.send_reminders, "interval", minutes=10, id="reminders")
    self.add_job(self.weekly_summary, "cron", day_of_week="mon", hour=7, id="weekly")

`add_job(func, trigger, *, id, first_run=None, **trigger_args)` takes APScheduler's trigger
names ("interval", "cron", "date") and arguments, in UTC. The id names the job in the database
(`apscheduler_jobs`); keep it stable, since changing a job's trigger replaces its stored
schedule and removing a job from `__init__` removes it from the store when the next leader
starts. `first_run` delays the first run of a newly stored job (by default, one interval).

Each job must stay safe to run twice (claim work in the database with a conditional UPDATE):
a kick (below) may run alongside the scheduled run, and a failover can repeat one slot.

Kicks: `kick_mail` and `kick_exports` do the work at once in a short-lived thread of the calling
process (leader or not), so an invite's mail or a requested export need not wait for the next
tick; several kicks while one runs make one more run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from . import chat, exports, invites, metrics, notifications, notify, ratelimit, tracking
from .db import Database
from .links import Links
from .scheduler import JobSpec, Leader
from .storage import Storage

log = logging.getLogger("dealroom.jobs")

# More jobs from outside the app (a plugin, a test's server process): each is called with the
# `Jobs` being built and may `add_job` to it.
EXTRA: list[Callable[[Jobs], None]] = []


class Jobs:
    def __init__(
        self,
        db: Database,
        smtp: notify.SmtpConfig | None,
        *,
        mail: notify.MailRenderer | None = None,
        links: Links | None = None,
        storage: Storage | None = None,
        secret_key: str | None = None,
        lease_seconds: float = 15,
        renew_seconds: float = 5,
        invite_reminder_days: int = 3,
        notify_merge_minutes: int = 3,
    ) -> None:
        self.db = db
        self.smtp = smtp
        self.mail = mail
        self.links = links
        self.storage = storage
        self.vault = exports.Vault(secret_key) if secret_key else None
        self.invite_reminder_days = invite_reminder_days
        self.notify_merge = timedelta(minutes=notify_merge_minutes)
        self.specs: dict[str, JobSpec] = {}
        self.leader = Leader(
            db,
            self.specs,
            lease_for=timedelta(seconds=lease_seconds),
            renew_every=timedelta(seconds=renew_seconds),
        )
        self.running = False
        self._kick_lock = threading.Lock()
        self._kicks: dict[str, threading.Thread] = {}
        self._kick_again: set[str] = set()

        self.add_job(self.deliver_mail, "interval", seconds=5, id="mail")
        self.add_job(self.housekeeping, "interval", minutes=30, id="housekeeping")
        # Raw tracking events past each room's retention go every 6 hours; the first time soon
        # after the job is first stored.
        self.add_job(
            self.purge_tracking,
            "interval",
            hours=6,
            id="tracking-retention",
            first_run=timedelta(minutes=5),
        )
        if mail is not None and links is not None:
            self.add_job(self.chat_digests, "interval", seconds=30, id="chat-digests")
            self.add_job(self.notify_owners, "interval", seconds=30, id="notifications")
            self.add_job(
                self.notification_digests, "interval", minutes=5, id="notification-digests"
            )
            if invite_reminder_days > 0:
                self.add_job(
                    self.invite_reminders,
                    "interval",
                    hours=1,
                    id="invite-reminders",
                    first_run=timedelta(minutes=2),
                )
        if links is not None and storage is not None and self.vault is not None:
            self.add_job(self.run_exports, "interval", seconds=2, id="exports")
        for extra in EXTRA:
            extra(self)

    def add_job(
        self,
        func: Callable[[], object],
        trigger: str,
        *,
        id: str,  # noqa: A002 - APScheduler's name for it
        first_run: timedelta | None = None,
        **trigger_args: Any,
    ) -> None:
        self.specs[id] = JobSpec(id, func, trigger, trigger_args, first_run)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Compete for the lease (the leader runs the scheduler). A Database bound to one
        connection (the test suite's rolled-back transaction) is not shared with threads: its
        tests call the job methods directly."""
        self.running = True
        if isinstance(self.db.bind, Engine):
            self.leader.start()

    def stop(self) -> None:
        """Wait for the running job and any kick, then hand the lease over."""
        self.running = False
        self.leader.stop()
        with self._kick_lock:
            threads = list(self._kicks.values())
        for thread in threads:
            thread.join(timeout=30)

    @property
    def leading(self) -> bool:
        return self.leader.leading

    # ------------------------------------------------------------ kicks

    def kick_mail(self) -> None:
        """Deliver now rather than at the next tick (invite mails should feel instant)."""
        self._kick("mail", self.deliver_mail)

    def kick_exports(self) -> None:
        """Start a queued export now rather than at the next tick."""
        if "exports" in self.specs:
            self._kick("exports", self.run_exports)

    def _kick(self, name: str, work: Callable[[], object]) -> None:
        if not self.running:
            return
        with self._kick_lock:
            if name in self._kicks:  # running: it goes round once more when done
                self._kick_again.add(name)
                return
            thread = threading.Thread(
                target=self._kicked, args=(name, work), name=f"dealroom-kick-{name}", daemon=True
            )
            self._kicks[name] = thread
        thread.start()

    def _kicked(self, name: str, work: Callable[[], object]) -> None:
        while True:
            try:
                work()
            except Exception:  # noqa: BLE001 - the jobs log their own failures; belt and braces
                log.exception("kicked %s failed", name)
            with self._kick_lock:
                if name not in self._kick_again or not self.running:
                    del self._kicks[name]
                    self._kick_again.discard(name)
                    return
                self._kick_again.discard(name)

    # ------------------------------------------------------------ the jobs

    def run_exports(self) -> None:
        """CRM, webhook and file exports: claimed one run at a time (see dealroom.exports)."""
        if self.links is None or self.storage is None or self.vault is None:
            return
        try:
            exports.run_pending(self.db, storage=self.storage, links=self.links, vault=self.vault)
        except Exception:  # noqa: BLE001
            log.exception("exports failed")

    def deliver_mail(self) -> None:
        try:
            notify.deliver_pending(self.db, self.smtp)
        except Exception:  # noqa: BLE001 - a job must survive a bad tick; the next one retries
            log.exception("mail delivery failed")

    def chat_digests(self) -> None:
        """Grouped chat notification mails (at most one per person per chat.DIGEST_WINDOW)."""
        if self.mail is None or self.links is None:
            return
        try:
            if chat.send_digests(self.db, renderer=self.mail, links=self.links):
                self.kick_mail()
        except Exception:  # noqa: BLE001
            log.exception("chat digests failed")

    def notify_owners(self) -> int:
        """Owners' merged activity notifications (and their Slack copies), see
        dealroom.notifications."""
        if self.mail is None or self.links is None:
            return 0
        try:
            sent = notifications.run(
                self.db, renderer=self.mail, links=self.links, delay=self.notify_merge
            )
            notifications.deliver_slack(self.db)
        except Exception:  # noqa: BLE001
            log.exception("notifications failed")
            return 0
        if sent:
            self.kick_mail()
        return sent

    def notification_digests(self) -> int:
        """Daily digests at 8:00 local time and the Monday team summary (once per day each)."""
        if self.mail is None or self.links is None:
            return 0
        try:
            sent = notifications.send_daily_digests(self.db, renderer=self.mail, links=self.links)
            sent += notifications.send_weekly_summaries(
                self.db, renderer=self.mail, links=self.links
            )
            with self.db.session() as session:
                notifications.purge(session)
        except Exception:  # noqa: BLE001
            log.exception("notification digests failed")
            return 0
        if sent:
            self.kick_mail()
        return sent

    def invite_reminders(self) -> int:
        """Tell room owners about unopened invite links that expire soon (once per link)."""
        if self.mail is None or self.links is None:
            return 0
        try:
            with self.db.session() as session:
                reminded = invites.remind_expiring_links(
                    session,
                    renderer=self.mail,
                    links=self.links,
                    before=timedelta(days=self.invite_reminder_days),
                )
        except Exception:  # noqa: BLE001
            log.exception("invite expiry reminders failed")
            return 0
        if reminded:
            log.info("invite expiry reminders: %d unopened links about to expire", reminded)
            self.kick_mail()
        return reminded

    def purge_tracking(self) -> int:
        """Delete raw tracking events older than each room's retention (rollups stay)."""
        try:
            deleted = tracking.purge_expired_in_chunks(self.db)
        except tracking.PurgeIncomplete as incomplete:
            log.error(
                "tracking retention failed for room(s) %s (the next run tries again); "
                "%d raw events of the others deleted",
                ", ".join(map(str, incomplete.failed)),
                incomplete.deleted,
                exc_info=incomplete.__cause__,
            )
            return incomplete.deleted
        except Exception:  # noqa: BLE001
            log.exception("tracking retention failed")
            return 0
        log.info("tracking retention: %d raw events past their room's retention deleted", deleted)
        return deleted

    def housekeeping(self) -> None:
        try:
            with self.db.session() as session:
                ratelimit.purge(session, older_than=timedelta(days=1))
        except Exception:  # noqa: BLE001
            log.exception("housekeeping failed")


# Which process leads shows on each process's /metrics (sum over processes: 1, or 0 briefly
# during a failover).
metrics.collect(
    "dealroom_scheduler_leader",
    "1 if this process holds the scheduler lease and runs the scheduled jobs, else 0.",
    lambda services: int(services.jobs is not None and services.jobs.leading),
)
