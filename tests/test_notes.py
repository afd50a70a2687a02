"""Meeting notes: validation, history rows, visibility, soft delete and organisation scoping."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from dealroom import notes
from dealroom.audit import AuditEvent
from dealroom.db import utcnow
from dealroom.errors import Conflict, InvalidInput, NotFound
from dealroom.notes import Note, NoteRevision
from tests import factories

NOTE = {
    "title": "Discovery call",
    "meeting_date": "2026-03-02",
    "attendees": "Kato, Sato; Mei\nKATO",
    "body": "We discussed **pricing**.",
    "visibility": "internal",
}


@pytest.fixture
def seller(session):
    return factories.seller(session, org="Northwind")


@pytest.fixture
def room(session, seller):
    return factories.room(session, seller)


def create(session, room, user, **fields):
    return notes.create_note(session, room=room, user=user, data={**NOTE, **fields})


def test_create_keeps_the_fields_and_a_first_revision(session, room, seller):
    note = create(session, room, seller)

    assert note.public_id.startswith("note_")
    assert (note.title, note.meeting_date, note.visibility) == (
        "Discovery call",
        date(2026, 3, 2),
        "internal",
    )
    assert note.attendee_list == ["Kato", "Sato", "Mei"]  # duplicates dropped, ignoring case
    assert (note.org_id, note.room_id, note.created_by_id) == (room.org_id, room.id, seller.id)
    [revision] = notes.revisions(session, note=note)
    assert (revision.number, revision.title, revision.body, revision.edited_by_id) == (
        1,
        "Discovery call",
        "We discussed **pricing**.",
        seller.id,
    )
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.target == note.public_id))
    assert list(actions) == ["note.created"]


def test_visibility_defaults_to_internal(session, room, seller):
    note = create(session, room, seller, visibility="")

    assert note.visibility == "internal" and not note.shared


def test_attendees_may_be_a_list(session, room, seller):
    note = create(session, room, seller, attendees=["  Kato   Ken ", "Sato", "", "sato"])

    assert note.attendees == "Kato Ken, Sato"


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"title": "   "}, "title"),
        ({"title": "T" * 201}, "title"),
        ({"body": " \n "}, "body"),
        ({"body": "x" * (notes.MAX_BODY + 1)}, "body"),
        ({"body": "nul\x00byte"}, "body"),
        ({"meeting_date": ""}, "meeting_date"),
        ({"meeting_date": "yesterday"}, "meeting_date"),
        ({"meeting_date": "2026-02-30"}, "meeting_date"),
        ({"meeting_date": "20260302"}, "meeting_date"),
        ({"meeting_date": "1999-12-31"}, "meeting_date"),
        ({"meeting_date": "9999-01-01"}, "meeting_date"),
        ({"attendees": "A" * 101}, "attendees"),
        ({"attendees": ", ".join(f"Person {n}" for n in range(51))}, "attendees"),
        ({"attendees": [1, 2]}, "attendees"),
        ({"visibility": "public"}, "visibility"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(session, room, seller, fields, field_name):
    with pytest.raises(InvalidInput) as caught:
        create(session, room, seller, **fields)

    assert field_name in caught.value.fields
    assert session.exec(select(Note)).all() == []
    assert session.exec(select(NoteRevision)).all() == []


def test_every_failing_field_is_reported_at_once(session, room, seller):
    with pytest.raises(InvalidInput) as caught:
        create(session, room, seller, title="", body="", meeting_date="soon")

    assert set(caught.value.fields) == {"title", "body", "meeting_date"}


def test_a_body_at_the_limit_is_accepted(session, room, seller):
    note = create(session, room, seller, body="x" * notes.MAX_BODY)

    assert len(note.body) == notes.MAX_BODY


def test_the_meeting_date_may_be_ahead_but_not_decades_ahead(session, room, seller):
    soon = utcnow().date() + timedelta(days=30)
    assert create(session, room, seller, meeting_date=soon.isoformat()).meeting_date == soon
    with pytest.raises(InvalidInput) as caught:
        create(session, room, seller, meeting_date=date(2090, 1, 1).isoformat())
    assert "between 2000-01-01 and" in caught.value.fields["meeting_date"]


def test_each_edit_adds_a_revision_with_who_and_what(session, room, seller):
    editor = factories.seller(session, org="Northwind", role="rep")
    note = create(session, room, seller)

    notes.update_note(
        session,
        note=note,
        user=editor,
        data={**NOTE, "body": "We discussed **pricing** and legal.", "attendees": "Kato"},
        base_revision=1,
    )

    assert note.revision == 2
    assert note.body == "We discussed **pricing** and legal."
    newest, first = notes.history(session, note=note)
    assert (newest.revision.number, newest.editor.id) == (2, editor.id)
    assert newest.changed == ["attendees", "body"]
    assert ("add", "We discussed **pricing** and legal.") in newest.diff
    assert ("del", "We discussed **pricing**.") in newest.diff
    assert first.created and first.revision.body == "We discussed **pricing**."
    assert first.revision.attendee_list == ["Kato", "Sato", "Mei"]


def test_saving_unchanged_fields_adds_no_revision(session, room, seller):
    note = create(session, room, seller)

    notes.update_note(session, note=note, user=seller, data=NOTE, base_revision=1)

    assert note.revision == 1
    assert len(notes.revisions(session, note=note)) == 1


def test_an_invalid_edit_changes_nothing(session, room, seller):
    note = create(session, room, seller)

    with pytest.raises(InvalidInput):
        notes.update_note(session, note=note, user=seller, data={**NOTE, "title": ""})

    assert note.title == "Discovery call" and note.revision == 1
    assert len(notes.revisions(session, note=note)) == 1


def test_an_edit_based_on_an_old_version_is_a_conflict(session, room, seller):
    other = factories.seller(session, org="Northwind")
    note = create(session, room, seller)
    notes.update_note(
        session, note=note, user=other, data={**NOTE, "title": "Renamed"}, base_revision=1
    )

    with pytest.raises(Conflict) as caught:
        notes.update_note(
            session, note=note, user=seller, data={**NOTE, "body": "Mine"}, base_revision=1
        )

    assert other.display_name in caught.value.message
    assert note.body == NOTE["body"] and note.revision == 2


def test_a_concurrent_save_is_a_conflict_not_a_duplicate_revision(session, room, seller):
    note = create(session, room, seller)
    session.flush()
    # Another transaction moved the note on since this one loaded it.
    session.connection().exec_driver_sql(
        f"UPDATE note SET revision = 2 WHERE id = {note.id}"  # noqa: S608 - an int id
    )

    with pytest.raises(Conflict):
        notes.update_note(session, note=note, user=seller, data={**NOTE, "title": "Mine"})

    assert note.revision == 2  # refreshed
    assert len(notes.revisions(session, note=note)) == 1


def test_visibility_changes_are_revisions_too(session, room, seller):
    note = create(session, room, seller)

    notes.set_visibility(session, note=note, user=seller, visibility="shared")
    notes.set_visibility(session, note=note, user=seller, visibility="shared")  # no change

    assert note.shared and note.revision == 2
    newest = notes.history(session, note=note)[0]
    assert newest.changed == ["visibility"]
    assert (newest.previous.visibility, newest.revision.visibility) == ("internal", "shared")
    with pytest.raises(InvalidInput):
        notes.set_visibility(session, note=note, user=seller, visibility="everyone")


def test_buyers_lists_hold_shared_notes_only(session, room, seller):
    internal = create(session, room, seller, title="Internal", visibility="internal")
    shared = create(session, room, seller, title="Shared", visibility="shared")

    assert notes.list_notes(session, room=room, shared_only=True) == [shared]
    everything = notes.list_notes(session, room=room, shared_only=False)
    assert {n.public_id for n in everything} == {internal.public_id, shared.public_id}
    with pytest.raises(NotFound):
        notes.get_note(session, room=room, note_id=internal.public_id, shared_only=True)
    assert notes.get_note(session, room=room, note_id=shared.public_id, shared_only=True) == shared


def test_newest_meeting_first(session, room, seller):
    old = create(session, room, seller, title="Old", meeting_date="2025-01-10")
    new = create(session, room, seller, title="New", meeting_date="2026-01-10")
    middle = create(session, room, seller, title="Middle", meeting_date="2025-06-10")

    assert notes.list_notes(session, room=room, shared_only=False) == [new, middle, old]


def test_soft_delete_hides_the_note_and_keeps_its_history(session, room, seller):
    note = create(session, room, seller, visibility="shared")

    notes.delete_note(session, note=note, user=seller)
    session.flush()

    assert note.deleted_at is not None
    assert notes.list_notes(session, room=room, shared_only=False) == []
    for shared_only in (True, False):
        with pytest.raises(NotFound):
            notes.get_note(session, room=room, note_id=note.public_id, shared_only=shared_only)
    assert session.get(Note, note.id) is not None
    assert len(notes.revisions(session, note=note)) == 1


def test_notes_are_scoped_to_their_room_and_organisation(session, room, seller):
    note = create(session, room, seller, visibility="shared")
    other_room = factories.room(session, seller, name="Other deal")
    rival = factories.seller(session, org="Contoso")
    rival_room = factories.room(session, rival)

    for elsewhere in (other_room, rival_room):
        assert notes.list_notes(session, room=elsewhere, shared_only=False) == []
        with pytest.raises(NotFound):
            notes.get_note(session, room=elsewhere, note_id=note.public_id, shared_only=False)
    assert notes.people(session, org_id=rival.org_id, user_ids={seller.id}) == {}


@pytest.mark.parametrize("note_id", ["", "123", "room_abc", "note_" + "a" * 100, "note_nope"])
def test_garbage_ids_are_not_found(session, room, note_id):
    with pytest.raises(NotFound):
        notes.get_note(session, room=room, note_id=note_id, shared_only=False)


def test_a_long_diff_is_cut(session, room, seller):
    note = create(session, room, seller, body="\n".join(f"line {n}" for n in range(600)))

    notes.update_note(
        session,
        note=note,
        user=seller,
        data={**NOTE, "body": "\n".join(f"changed {n}" for n in range(600))},
    )

    newest = notes.history(session, note=note)[0]
    assert len(newest.diff) == notes.DIFF_LINES and newest.diff_truncated
