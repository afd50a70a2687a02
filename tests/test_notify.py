"""Mail outbox: delivery over real SMTP, retries with backoff, no double sending, dev printing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from dealroom.db import Database
from dealroom.notify import (
    MAX_ATTEMPTS,
    MailRenderer,
    OutboxMail,
    SmtpConfig,
    deliver_pending,
    queue_mail,
)
from dealroom.web.render import make_environment


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request: pytest.FixtureRequest) -> Database:
    # Delivery commits per mail, so these tests use the engine, not a rolled-back transaction.
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return Database(engine)


@pytest.fixture
def renderer() -> MailRenderer:
    return MailRenderer(make_environment())


def _queue(db: Database, renderer: MailRenderer, to: str) -> int:
    with db.session() as session:
        mail = queue_mail(
            session,
            renderer=renderer,
            to=to,
            template="verify_code",
            context={"code": "123456", "minutes": 10},
        )
        return mail.id


def _cleanup(db: Database, ids: list[int]) -> None:
    with db.session() as session:
        for mail_id in ids:
            row = session.get(OutboxMail, mail_id)
            if row is not None:
                session.delete(row)


def test_mail_is_delivered_over_smtp_once(engine_db, renderer, smtp):
    db = engine_db
    smtp.clear()
    mail_id = _queue(db, renderer, "kato@acme.example")
    try:
        config = SmtpConfig(
            smtp.host, smtp.port, starttls=False, sender="Dealroom <noreply@dealroom.test>"
        )
        assert deliver_pending(db, config) >= 1
        assert deliver_pending(db, config) == 0  # nothing left: never sent twice
        [message] = smtp.wait_for(1)
        assert message["To"] == "kato@acme.example"
        assert "123456" in message["Subject"]
        assert "123456" in message.get_body(preferencelist=("plain",)).get_content()
        assert message.get_body(preferencelist=("html",)) is not None
        with db.session() as session:
            row = session.get(OutboxMail, mail_id)
            assert row.status == "sent" and row.sent_at is not None
    finally:
        _cleanup(db, [mail_id])


def test_unreachable_smtp_is_retried_with_backoff_then_failed(engine_db, renderer):
    db = engine_db
    mail_id = _queue(db, renderer, "retry@acme.example")
    try:
        dead = SmtpConfig("127.0.0.1", 9, starttls=False)  # discard port: nothing listens
        assert deliver_pending(db, dead) == 0
        with db.session() as session:
            row = session.get(OutboxMail, mail_id)
            assert (row.status, row.attempts) == ("queued", 1)
            assert row.last_error
            first_retry = row.next_attempt_at
        assert deliver_pending(db, dead) == 0  # not due yet: no second attempt
        with db.session() as session:
            assert session.get(OutboxMail, mail_id).attempts == 1
            row = session.get(OutboxMail, mail_id)
            row.attempts = MAX_ATTEMPTS - 1
            row.next_attempt_at = first_retry.replace(year=2000)
        deliver_pending(db, dead)
        with db.session() as session:
            assert session.get(OutboxMail, mail_id).status == "failed"
    finally:
        _cleanup(db, [mail_id])


def test_development_mode_prints_instead_of_sending(engine_db, renderer, capsys):
    db = engine_db
    mail_id = _queue(db, renderer, "dev@acme.example")
    try:
        deliver_pending(db, None)
        assert "dev@acme.example" in capsys.readouterr().out
        with db.session() as session:
            assert session.get(OutboxMail, mail_id).status == "printed"
    finally:
        _cleanup(db, [mail_id])


def test_queued_mail_is_part_of_the_callers_transaction(session, services):
    queue_mail(
        session,
        renderer=services.mail,
        to="a@acme.example",
        template="verify_code",
        context={"code": "1", "minutes": 1},
    )
    session.rollback()
    assert session.exec(select(OutboxMail)).all() == []
