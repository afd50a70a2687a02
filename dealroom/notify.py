"""Outgoing mail through a durable outbox.

A mail is written to `outbox_mail` in the same transaction as the change that caused it, so an
invite is never saved without its mail nor mailed without being saved. Delivery happens after
commit (kicked right away, and retried by the scheduler), claimed row by row with a conditional
UPDATE so two app processes never send the same mail twice. Without an SMTP host (development),
mails are printed and stay readable on the outbox page.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import jinja2
from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, col, select

from . import i18n
from .db import Database, utcnow

log = logging.getLogger("dealroom.mail")

MAX_ATTEMPTS = 6


class OutboxMail(SQLModel, table=True):
    __tablename__ = "outbox_mail"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None, foreign_key="org.id", index=True)
    kind: str = Field(default="", max_length=60)
    to_addr: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text_body: str
    html_body: str = ""
    status: str = Field(
        default="queued", max_length=20, index=True
    )  # queued|sending|sent|printed|failed
    attempts: int = 0
    last_error: str = Field(default="", max_length=1000)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None


class MailRenderer:
    """Renders `emails/<name>.subject.txt`, `.txt` and `.html` templates in the recipient's
    language and time zone (not the language of whoever caused the mail)."""

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env

    def render(
        self,
        template: str,
        context: Mapping[str, Any],
        *,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> tuple[str, str, str]:
        with i18n.using(locale or i18n.DEFAULT_LOCALE, timezone or i18n.DEFAULT_TIMEZONE):
            context = {**context, "lang": i18n.current_locale()}
            subject = self.env.get_template(f"emails/{template}.subject.txt").render(context)
            text = self.env.get_template(f"emails/{template}.txt").render(context)
            html = self.env.get_template(f"emails/{template}.html").render(context)
        return " ".join(subject.split()), text, html


def recipient_preferences(
    session: Session, *, to: str, org_id: int | None
) -> tuple[str | None, str | None]:
    """(locale, time zone) of a mail recipient nobody named one for: a seller's own settings;
    else, for a buyer of the organisation, the language they last used in one of its rooms, or
    that room owner's; else nothing known (English)."""
    from .accounts import User
    from .invites import Invite, mail_locale
    from .rooms import Room

    address = to.strip().lower()
    user = session.exec(select(User).where(User.email == address)).first()
    if user is not None:
        return user.locale, user.timezone
    if org_id is None:
        return None, None
    query = select(Invite).where(Invite.org_id == org_id, Invite.email == address)
    query = query.order_by(col(Invite.last_seen_at).desc().nulls_last(), col(Invite.id).desc())
    buyer = session.exec(query).first()
    room = session.get(Room, buyer.room_id) if buyer is not None else None
    if buyer is None or room is None:
        return None, None
    return mail_locale(session, invite=buyer, room=room), None


def queue_mail(
    session: Session,
    *,
    renderer: MailRenderer,
    to: str,
    template: str,
    context: Mapping[str, Any],
    org_id: int | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> OutboxMail:
    """Render and store a mail. Pass the recipient's `locale` (and `timezone`) when known
    (`invites.mail_locale` for a buyer); otherwise they are looked up from the address."""
    if locale is None:
        locale, found_zone = recipient_preferences(session, to=to, org_id=org_id)
        timezone = timezone or found_zone
    subject, text, html = renderer.render(template, context, locale=locale, timezone=timezone)
    mail = OutboxMail(
        org_id=org_id, kind=template, to_addr=to, subject=subject, text_body=text, html_body=html
    )
    session.add(mail)
    session.flush()
    # Tells whoever owns the transaction to kick delivery once it has committed.
    session.info["mail_queued"] = True
    return mail


def outbox(session: Session, *, org_id: int, limit: int = 100) -> list[OutboxMail]:
    query = select(OutboxMail).where(OutboxMail.org_id == org_id)
    query = query.order_by(col(OutboxMail.created_at).desc(), col(OutboxMail.id).desc())
    return list(session.exec(query.limit(limit)))


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = True
    sender: str = "Dealroom <no-reply@dealroom.local>"

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig | None:
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.mail_from,
        )


def _message(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_addr
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="dealroom")
    message.set_content(mail.text_body)
    if mail.html_body:
        message.add_alternative(mail.html_body, subtype="html")
    return message


def _send_smtp(config: SmtpConfig, mail: OutboxMail) -> None:
    with smtplib.SMTP(config.host, config.port, timeout=15) as smtp:
        smtp.ehlo()
        if config.starttls and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(_message(mail, config.sender))


def _claim(db: Database, mail_id: int) -> OutboxMail | None:
    now = utcnow()
    with db.session() as session:
        claimed = session.exec(
            update(OutboxMail)
            .where(col(OutboxMail.id) == mail_id, col(OutboxMail.status) == "queued")
            .values(status="sending", claimed_at=now, attempts=col(OutboxMail.attempts) + 1)
        ).rowcount
        return session.get(OutboxMail, mail_id) if claimed == 1 else None


def deliver_pending(db: Database, smtp: SmtpConfig | None, *, limit: int = 50) -> int:
    """Send due mails; returns how many went out. Safe to run in several processes at once."""
    now = utcnow()
    with db.session(write=True) as session:
        # A mail stuck in "sending" for 10 minutes belongs to a process that died mid-send.
        session.exec(
            update(OutboxMail)
            .where(
                col(OutboxMail.status) == "sending",
                col(OutboxMail.claimed_at) < now - timedelta(minutes=10),
            )
            .values(status="queued")
        )
        due = session.exec(
            select(OutboxMail.id)
            .where(OutboxMail.status == "queued", OutboxMail.next_attempt_at <= now)
            .order_by(col(OutboxMail.id))
            .limit(limit)
        ).all()
    sent = 0
    for mail_id in due:
        assert mail_id is not None  # read from the table, where a primary key is never NULL
        mail = _claim(db, mail_id)
        if mail is None:
            continue
        error = ""
        try:
            if smtp is None:
                log.info(
                    "mail (development, not sent) to=%s subject=%s\n%s",
                    mail.to_addr,
                    mail.subject,
                    mail.text_body,
                )
                print(
                    f"\n--- mail to {mail.to_addr}: {mail.subject}\n{mail.text_body}\n---",
                    flush=True,
                )
            else:
                _send_smtp(smtp, mail)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        with db.session() as session:
            row = session.get(OutboxMail, mail.id)
            assert row is not None
            if not error:
                row.status, row.sent_at, row.last_error = (
                    ("printed" if smtp is None else "sent"),
                    utcnow(),
                    "",
                )
                sent += 1
            elif row.attempts >= MAX_ATTEMPTS:
                row.status, row.last_error = "failed", error
                log.error("mail %s to %s failed for good: %s", row.id, row.to_addr, error)
            else:
                # Exponential backoff: 30 s, 1 min, 2 min, 4 min, ...
                row.status, row.last_error = "queued", error
                row.next_attempt_at = utcnow() + timedelta(seconds=30 * 2 ** (row.attempts - 1))
                log.warning("mail %s to %s will be retried: %s", row.id, row.to_addr, error)
    return sent
