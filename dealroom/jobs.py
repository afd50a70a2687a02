"""Background jobs on APScheduler. Each job is safe to run in several processes at once
(work is claimed in the database), so every app process may run its own scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from . import chat, exports, notify, ratelimit, tracking
from .db import Database
from .links import Links
from .storage import Storage

log = logging.getLogger("dealroom.jobs")


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
    ) -> None:
        self.db = db
        self.smtp = smtp
        self.mail = mail
        self.links = links
        self.storage = storage
        self.vault = exports.Vault(secret_key) if secret_key else None
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        self.scheduler.add_job(self.deliver_mail, "interval", seconds=5, id="mail")
        self.scheduler.add_job(self.housekeeping, "interval", minutes=30, id="housekeeping")
        # Raw tracking events past each room's retention go every 6 hours, the first time soon
        # after start (a process restarted daily would never reach a 24-hour interval).
        self.scheduler.add_job(
            self.purge_tracking,
            "interval",
            hours=6,
            id="tracking-retention",
            next_run_time=datetime.now(UTC) + timedelta(minutes=5),
        )
        if mail is not None and links is not None:
            self.scheduler.add_job(self.chat_digests, "interval", seconds=30, id="chat-digests")
        if links is not None and storage is not None and self.vault is not None:
            self.scheduler.add_job(self.run_exports, "interval", seconds=2, id="exports")

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def kick_mail(self) -> None:
        """Deliver now rather than at the next tick (invite mails should feel instant)."""
        if self.scheduler.running:
            self.scheduler.modify_job("mail", next_run_time=datetime.now(self.scheduler.timezone))

    def kick_exports(self) -> None:
        """Start a queued export now rather than at the next tick."""
        if self.scheduler.running and self.scheduler.get_job("exports") is not None:
            self.scheduler.modify_job(
                "exports", next_run_time=datetime.now(self.scheduler.timezone)
            )

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

    def purge_tracking(self) -> int:
        """Delete raw tracking events older than each room's retention (rollups stay)."""
        try:
            with self.db.session() as session:
                deleted = tracking.purge_expired(session)
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
