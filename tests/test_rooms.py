"""Rooms in the domain: validation, tenant scoping, search."""

from __future__ import annotations

import pytest

from dealroom import rooms
from dealroom.errors import InvalidInput, NotFound
from tests import factories


def test_rooms_of_another_org_are_not_found(session):
    mine = factories.seller(session)
    theirs = factories.seller(session)
    room = factories.room(session, theirs)
    session.flush()
    with pytest.raises(NotFound):
        rooms.get_room(session, org_id=mine.org_id, room_id=room.public_id)
    assert rooms.list_rooms(session, org_id=mine.org_id) == []


def test_search_treats_like_wildcards_as_text(session):
    user = factories.seller(session)
    factories.room(session, user, name="Acme 50% discount")
    factories.room(session, user, name="Globex pilot")
    session.flush()
    assert [r.name for r in rooms.list_rooms(session, org_id=user.org_id, search="50%")] == [
        "Acme 50% discount"
    ]
    assert [r.name for r in rooms.list_rooms(session, org_id=user.org_id, search="%")] == [
        "Acme 50% discount"
    ]
    assert rooms.list_rooms(session, org_id=user.org_id, search="_") == []


def test_all_field_errors_are_reported_together(session):
    user = factories.seller(session)
    with pytest.raises(InvalidInput) as caught:
        rooms.create_room(
            session,
            user=user,
            data={"name": "", "buyer_company": "", "stage": "won", "invite_expiry_days": "0"},
        )
    assert set(caught.value.fields) == {"name", "buyer_company", "stage", "invite_expiry_days"}


@pytest.mark.parametrize("bad", ["Acme\x00", "Acme \ud800"])
def test_text_no_database_can_store_is_invalid(session, bad):
    user = factories.seller(session)
    with pytest.raises(InvalidInput) as caught:
        rooms.create_room(session, user=user, data={"name": bad, "buyer_company": "Acme"})
    assert set(caught.value.fields) == {"name"}


def test_allowed_domains_fit_their_column(session):
    user = factories.seller(session)
    many = ",".join(f"d{i}-long-subdomain.example.com" for i in range(100))
    with pytest.raises(InvalidInput) as caught:
        rooms.create_room(
            session, user=user, data={"name": "A", "buyer_company": "B", "allowed_domains": many}
        )
    assert "allowed_domains" in caught.value.fields


def test_new_rooms_take_the_configured_tracking_retention(session):
    user = factories.seller(session)
    room = rooms.create_room(
        session,
        user=user,
        data={"name": "Acme", "buyer_company": "Acme"},
        default_retention_days=90,
    )
    assert room.retention_days == 90
