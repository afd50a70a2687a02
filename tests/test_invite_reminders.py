"""Invite-expiry reminders: a room's owner hears, a few days ahead, about people who never opened
their personal link before it expires; once per link sent, never for opened, revoked or
archived ones (invites.remind_expiring_links, run hourly by the "invite-reminders" job)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dealroom import invites, rooms
from dealroom.db import utcnow
from dealroom.jobs import Jobs
from dealroom.notify import OutboxMail
from tests import factories

BEFORE = timedelta(days=3)


@pytest.fixture
def owner(session):
    return factories.seller(session, email="owner@northwind.example")


@pytest.fixture
def room(session, owner):
    return factories.room(session, owner, name="Acme rollout")  # links live 30 days


def sent(session, services, room, owner, email, days_ago, **fields):
    invite = factories.invite(session, services, room, owner, email=email, name=email[:4])
    invite.last_sent_at = utcnow() - timedelta(days=days_ago)
    for key, value in fields.items():
        setattr(invite, key, value)
    session.flush()
    return invite


def reminders(session):
    query = select(OutboxMail).where(OutboxMail.kind == "invite_expiry")
    return list(session.exec(query))


def remind(session, services, now=None):
    return invites.remind_expiring_links(
        session, renderer=services.mail, links=services.links, before=BEFORE, now=now
    )


def test_the_owner_hears_once_about_unopened_links_about_to_expire(session, services, room, owner):
    due = sent(session, services, room, owner, "kato@acme.example", days_ago=28)
    also = sent(session, services, room, owner, "mori@acme.example", days_ago=27.5)
    sent(session, services, room, owner, "sato@acme.example", days_ago=20)  # not yet
    sent(session, services, room, owner, "ueda@acme.example", days_ago=31)  # expired already
    sent(session, services, room, owner, "ito@acme.example", days_ago=28, first_opened_at=utcnow())
    sent(session, services, room, owner, "abe@acme.example", days_ago=28, revoked_at=utcnow())

    assert remind(session, services) == 2
    (mail,) = reminders(session)
    assert mail.to_addr == "owner@northwind.example"
    assert mail.subject == "2 invitations expire soon without being opened"
    assert "kato" in mail.text_body and "mori" in mail.text_body
    assert "sato" not in mail.text_body and "ito@" not in mail.text_body
    assert services.links.seller_room(room) in mail.text_body
    assert due.expiry_reminded_at is not None and also.expiry_reminded_at is not None

    assert remind(session, services, now=utcnow() + timedelta(hours=1)) == 0  # once only
    assert len(reminders(session)) == 1


def test_a_resent_link_can_be_reminded_about_again(session, services, room, owner):
    invite = sent(session, services, room, owner, "kato@acme.example", days_ago=28)
    assert remind(session, services) == 1
    invite.last_sent_at = utcnow()  # "Resend": a fresh 30-day link
    session.flush()
    assert remind(session, services) == 0
    assert remind(session, services, now=utcnow() + timedelta(days=28)) == 1
    assert len(reminders(session)) == 2


def test_short_links_wait_for_half_their_lifetime(session, services, owner):
    short = factories.room(session, owner, name="Quick look", invite_expiry_days="2")
    sent(session, services, short, owner, "kato@acme.example", days_ago=0.1)
    assert remind(session, services) == 0
    assert remind(session, services, now=utcnow() + timedelta(days=1)) == 1


def test_archived_rooms_and_disabled_owners_get_no_reminder(session, services, room, owner):
    sent(session, services, room, owner, "kato@acme.example", days_ago=28)
    rooms.archive_room(session, room=room)
    assert remind(session, services) == 0

    other = factories.seller(session)
    kept = factories.room(session, other)
    sent(session, services, kept, other, "mori@acme.example", days_ago=28)
    other.disabled_at = utcnow()
    session.flush()
    remind(session, services)
    assert reminders(session) == []


def test_the_reminder_speaks_the_owner_language(session, services, room, owner):
    owner.locale = "ja"
    sent(session, services, room, owner, "kato@acme.example", days_ago=28)
    remind(session, services)
    (mail,) = reminders(session)
    assert "招待" in mail.subject


def test_the_job_reminds_in_its_own_transaction(db, session, services, room, owner):
    sent(session, services, room, owner, "kato@acme.example", days_ago=28)
    session.commit()  # a savepoint of the test's rolled-back transaction
    jobs = Jobs(db, None, mail=services.mail, links=services.links, invite_reminder_days=3)
    assert "invite-reminders" in jobs.specs
    off = Jobs(db, None, mail=services.mail, links=services.links, invite_reminder_days=0)
    assert "invite-reminders" not in off.specs
    assert jobs.invite_reminders() == 1
    assert jobs.invite_reminders() == 0
