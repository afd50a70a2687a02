"""'Since your last visit': the per-invite marker (visits, reloads, dismissal) and what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dealroom import chat, content, notes, since, tasks
from dealroom.db import pk, utcnow
from dealroom.tracking import Visit
from tests import factories


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    kato = factories.invite(session, services, room, user, name="Kato")
    mori = factories.invite(session, services, room, user, email="mori@acme.example", name="Mori")
    session.flush()
    return {"user": user, "room": room, "kato": kato, "mori": mori}


def _age(*rows, by):
    """Move rows' timestamps back, as if they were written `by` ago."""
    for row in rows:
        for name in ("created_at", "updated_at"):
            if hasattr(row, name):
                setattr(row, name, getattr(row, name) - by)


# ---------------------------------------------------------------- the marker


def test_a_first_visit_has_no_baseline_and_reloads_keep_the_visits_baseline(session, world):
    room, kato = world["room"], world["kato"]
    t0 = utcnow()
    first = since.open_room(session, room=room, invite=kato, now=t0)
    assert first.since_at is None
    assert since.banner(session, room=room, invite=kato, now=t0) is None

    # A reload a minute later: same visit, no write of last_seen_at (TOUCH).
    again = since.open_room(session, room=room, invite=kato, now=t0 + timedelta(minutes=1))
    assert again.last_seen_at == t0 and again.since_at is None
    later = t0 + since.TOUCH + timedelta(seconds=1)
    assert since.open_room(session, room=room, invite=kato, now=later).last_seen_at == later

    # Back the next day: a new visit whose baseline is the end of the previous one.
    tomorrow = t0 + timedelta(days=1)
    mark = since.open_room(session, room=room, invite=kato, now=tomorrow)
    assert mark.since_at == later and mark.visit_started_at == tomorrow
    # ... and reloads within it keep that baseline.
    mark = since.open_room(session, room=room, invite=kato, now=tomorrow + timedelta(minutes=20))
    assert mark.since_at == later


def test_without_a_marker_the_last_tracked_visit_is_the_baseline(session, world):
    room, kato = world["room"], world["kato"]
    ended = utcnow() - timedelta(days=2)
    session.add(
        Visit(
            org_id=room.org_id,
            room_id=pk(room),
            invite_id=pk(kato),
            started_at=ended - timedelta(minutes=10),
            last_seen_at=ended,
        )
    )
    mark = since.open_room(session, room=room, invite=kato)
    assert mark.since_at == ended


def test_dismissing_hides_the_banner_until_the_next_visit(session, world):
    room, kato, user = world["room"], world["kato"], world["user"]
    t0 = utcnow() - timedelta(days=1)
    since.open_room(session, room=room, invite=kato, now=t0)
    chat.post_message(session, room=room, author=user, body="Pricing is attached")
    now = utcnow()
    assert since.banner(session, room=room, invite=kato, now=now).messages == 1
    since.dismiss(session, invite=kato, now=now)
    assert since.banner(session, room=room, invite=kato, now=now + timedelta(minutes=2)) is None
    # The next visit starts from the end of this one: the old message is no longer new.
    chat.post_message(session, room=room, author=user, body="And the contract draft")
    back = now + timedelta(hours=2)
    banner = since.banner(session, room=room, invite=kato, now=back)
    assert banner is not None and banner.messages == 1


# ---------------------------------------------------------------- what changed


def test_documents_new_and_updated_but_not_what_they_already_opened(session, world):
    room, kato, user = world["room"], world["kato"], world["user"]
    hour = timedelta(hours=1)
    old = content.add_link(session, room=room, user=user, url="https://a.example/", title="Old")
    seen = content.add_link(session, room=room, user=user, url="https://b.example/", title="Seen")
    session.flush()
    _age(old, seen, by=2 * hour)
    for item in (old, seen):
        _age(session.get(content.Document, item.document_id), by=2 * hour)
    baseline = utcnow() - hour
    fresh = content.add_link(session, room=room, user=user, url="https://c.example/", title="Fresh")
    # A new address for both old links; Kato already opened the new one of "Seen".
    for item in (old, seen):
        document = session.get(content.Document, item.document_id)
        content.update_document(session, document=document, data={"url": document.url + "v2"})
    content.mark_seen(
        session, invite=kato, view=content.get_item(session, room=room, item_id=seen.public_id)
    )
    session.flush()

    found = since.changes_since(session, room=room, invite=kato, since=baseline)
    assert [(d.public_id, d.kind) for d in found.documents] == [
        (old.public_id, "updated"),
        (fresh.public_id, "new"),
    ]
    # Someone else has not opened anything: both are listed for them too, Seen as well.
    other = since.changes_since(session, room=room, invite=world["mori"], since=baseline)
    assert {d.title for d in other.documents} == {"Old", "Seen", "Fresh"}


def test_messages_count_only_what_the_buyer_may_read_and_did_not_write(session, world):
    room, kato, mori, user = world["room"], world["kato"], world["mori"], world["user"]
    baseline = utcnow() - timedelta(minutes=5)
    chat.post_message(session, room=room, author=user, body="Hello")
    chat.post_message(session, room=room, author=mori, body="Looks good")
    chat.post_message(session, room=room, author=mori, body="One more question")
    chat.post_message(session, room=room, author=kato, body="My own")
    chat.post_message(session, room=room, author=user, body="floor price 10k", internal=True)
    session.flush()
    found = since.changes_since(session, room=room, invite=kato, since=baseline)
    assert found.messages == 3
    assert found.message_authors == ["Mori", user.display_name]
    # The names also come from lists a page already loaded.
    again = since.changes_since(
        session, room=room, invite=kato, since=baseline, users=[user], invites=[kato, mori]
    )
    assert again.message_authors == found.message_authors


def test_tasks_assigned_since_or_due_soon_and_not_done(session, world):
    room, kato, user = world["room"], world["kato"], world["user"]
    seller = tasks.Actor(user=user)
    ms = tasks.add_milestone(session, room=room, actor=seller, data={"title": "Rollout"})
    today = utcnow().date()

    def task(title, *, owner=kato, due=None, actor=seller, status="todo"):
        data = {"milestone_id": ms.public_id, "title": title, "owner_id": owner.public_id}
        if due is not None:
            data["due_date"] = (today + timedelta(days=due)).isoformat()
        made = tasks.add_task(session, room=room, actor=actor, data=data)
        if status != "todo":
            tasks.set_status(session, room=room, actor=seller, task=made, status=status)
        return made

    old_due = task("Sign NDA", due=2)
    old_far = task("Security review", due=30)
    task("Done already", status="done", due=1)
    task("Not mine", owner=world["mori"])
    session.flush()
    _age(old_due, old_far, by=timedelta(days=3))
    baseline = utcnow() - timedelta(days=1)
    assigned = task("Invite IT", due=10)
    task("I added this", actor=tasks.Actor(invite=kato))
    task("Overdue", due=-2)
    session.flush()

    found = since.changes_since(session, room=room, invite=kato, since=baseline, today=today)
    listed = {t.title: (t.assigned, t.due_soon) for t in found.tasks}
    assert listed == {
        "Sign NDA": (False, True),
        "Invite IT": (True, False),
        "Overdue": (True, False),
    }
    # By due date, soonest first.
    assert [t.title for t in found.tasks] == ["Overdue", "Sign NDA", "Invite IT"]
    assert found.tasks[1].public_id == old_due.public_id
    assert found.tasks[2].public_id == assigned.public_id


def test_shared_notes_new_or_updated_never_internal(session, world):
    room, kato, user = world["room"], world["kato"], world["user"]
    fields = {"meeting_date": "2026-03-02", "body": "Recap"}
    before = notes.create_note(
        session, room=room, user=user, data={**fields, "title": "Kickoff", "visibility": "shared"}
    )
    hidden_then = notes.create_note(session, room=room, user=user, data={**fields, "title": "Demo"})
    session.flush()
    for note in (before, hidden_then):
        _age(note, *notes.revisions(session, note=note), by=timedelta(days=2))
    baseline = utcnow() - timedelta(days=1)
    notes.update_note(
        session,
        note=before,
        user=user,
        data={**fields, "title": "Kickoff", "body": "More", "visibility": "shared"},
    )
    notes.set_visibility(session, note=hidden_then, user=user, visibility="shared")
    notes.create_note(session, room=room, user=user, data={**fields, "title": "Internal"})
    notes.create_note(
        session,
        room=room,
        user=user,
        data={**fields, "title": "Pricing call", "visibility": "shared"},
    )
    session.flush()
    found = since.changes_since(session, room=room, invite=kato, since=baseline)
    listed = {n.title: n.new for n in found.notes}
    # "Demo" was internal at the baseline: shared since, it is new to the buyer.
    assert listed == {"Kickoff": False, "Demo": True, "Pricing call": True}


def test_nothing_changed_means_no_banner(session, world):
    room, kato = world["room"], world["kato"]
    t0 = utcnow() - timedelta(days=1)
    since.open_room(session, room=room, invite=kato, now=t0)
    assert since.banner(session, room=room, invite=kato) is None


def test_a_busy_chat_is_counted_up_to_a_cap_and_names_a_few_authors(session, world, monkeypatch):
    monkeypatch.setattr(since, "MAX_MESSAGES", 2)
    monkeypatch.setattr(since, "MAX_AUTHORS", 1)
    room, kato, mori, user = world["room"], world["kato"], world["mori"], world["user"]
    baseline = utcnow() - timedelta(minutes=5)
    for author in (user, mori, mori, user):
        chat.post_message(session, room=room, author=author, body="Update")
    session.flush()
    found = since.changes_since(session, room=room, invite=kato, since=baseline)
    assert found.messages == 3  # "more than 2"
    assert len(found.authors_named) == 1 and found.more_authors


def test_a_buyer_tracked_in_the_room_all_along_is_still_in_the_same_visit(session, world):
    room, kato = world["room"], world["kato"]
    t0 = utcnow() - timedelta(hours=2)
    since.open_room(session, room=room, invite=kato, now=t0)
    # Reading a document since then, without coming back to the room page.
    session.add(
        Visit(
            org_id=room.org_id,
            room_id=pk(room),
            invite_id=pk(kato),
            started_at=t0 + timedelta(minutes=1),
            last_seen_at=utcnow() - timedelta(minutes=2),
        )
    )
    mark = since.open_room(session, room=room, invite=kato)
    assert mark.since_at is None and mark.visit_started_at == t0
