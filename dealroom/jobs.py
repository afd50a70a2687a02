"""Background jobs on APScheduler. Each job is safe to run in several processes at once
(work is claimed in the database), so every app process may run its own scheduler."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from . import chat, notify, ratelimit
from .db import Database
from .links import Links

log = logging.getLogger("dealroom.jobs")


class Jobs:
    def __init__(
        self,
        db: Database,
        smtp: notify.SmtpConfig | None,
        *,
        mail: notify.MailRenderer | None = None,
        links: Links | None = None,
    ) -> None:
        self.db = db
        self.smtp = smtp
        self.mail = mail
        self.links = links
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        self.scheduler.add_job(self.deliver_mail, "interval", seconds=5, id="mail")
        self.scheduler.add_job(self.housekeeping, "interval", minutes=30, id="housekeeping")
        if mail is not None and links is not None:
            self.scheduler.add_job(self.chat_digests, "interval", seconds=30, id="chat-digests")

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def kick_mail(self) -> None:
        """Deliver now rather than at the next tick (invite mails should feel instant)."""
        if self.scheduler.running:
            self.scheduler.modify_job("mail", next_run_time=datetime.now(self.scheduler.timezone))

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

    def housekeeping(self) -> None:
        try:
            with self.db.session() as session:
                ratelimit.purge(session, older_than=timedelta(days=1))
        except Exception:  # noqa: BLE001
            log.exception("housekeeping failed")
