"""The audit log read back: filters (action, person, dates), pages, names, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dealroom import audit, spreadsheet
from dealroom.audit import AuditEvent, Filters
from dealroom.errors import InvalidInput
from tests import factories


@pytest.fixture
def org(session, services):
    admin = factories.seller(session, org="Audit Org")
    rep = factories.seller(session, org="Audit Org", role="rep")
    room = factories.room(session, admin)
    buyer = factories.invite(session, services, room, admin, email="Kato@Acme.example", name="Kato")
    other = factories.seller(session, org="Other Org")
    session.flush()
    return admin, rep, room, buyer, other


def _event(session, org_id, actor, action, when, **detail):
    session.add(
        AuditEvent(
            org_id=org_id,
            actor=actor,
            action=action,
            target="room_x",
            created_at=when,
            detail=audit.json.dumps(detail),
        )
    )


def test_filters_by_action_family_person_and_dates(session, org):
    admin, rep, _room, buyer, other = org
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    _event(session, admin.org_id, admin.public_id, "room.updated", start)
    _event(session, admin.org_id, rep.public_id, "room.archived", start + timedelta(days=1))
    _event(session, admin.org_id, buyer.public_id, "content.downloaded", start + timedelta(days=2))
    _event(session, admin.org_id, "x@else.example", "access_request.created", start)
    _event(session, other.org_id, other.public_id, "room.updated", start)  # another org
    session.flush()
    org_id = admin.org_id

    def found(**kw):
        page = audit.search(session, org_id=org_id, filters=Filters(zone=UTC, **kw))
        return sorted(e.event.action for e in page.entries if e.event.created_at >= start)

    assert found(action="room.updated") == ["room.updated"]
    assert found(action="room") == ["room.archived", "room.updated"]
    assert found(action="room.") == ["room.archived", "room.updated"]
    assert found(action="roo") == []  # a family is a whole noun
    assert found(actor=rep.public_id) == ["room.archived"]
    assert found(actor=rep.email.upper()) == ["room.archived"]  # by email, any case
    assert found(actor="kato@acme.example") == ["content.downloaded"]  # a buyer by email
    assert found(actor="x@else.example") == ["access_request.created"]
    assert found(actor=other.public_id) == []  # never another organisation's events
    assert found(since=date(2026, 3, 2), until=date(2026, 3, 2)) == ["room.archived"]
    # Days are the reader's days: 2 March 20:00 UTC is already 3 March 05:00 in Tokyo.
    _event(session, org_id, admin.public_id, "late.night", datetime(2026, 3, 2, 20, tzinfo=UTC))
    session.flush()
    tokyo = ZoneInfo("Asia/Tokyo")

    def late(day, zone):
        filters = Filters(action="late", since=day, until=day, zone=zone)
        return len(audit.search(session, org_id=org_id, filters=filters).entries)

    assert (late(date(2026, 3, 2), UTC), late(date(2026, 3, 2), tokyo)) == (1, 0)
    assert late(date(2026, 3, 3), tokyo) == 1
    names = {
        e.event.action: e.actor_name
        for e in audit.search(session, org_id=org_id, filters=Filters(zone=UTC)).entries
    }
    assert names["room.updated"] == f"{admin.name} <{admin.email}>"
    assert names["content.downloaded"] == "Kato <kato@acme.example>"
    assert names["access_request.created"] == "x@else.example"
    assert "room.updated" in audit.actions(session, org_id=org_id)


def test_pages_of_fifty_newest_first(session, org):
    admin = org[0]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(120):
        _event(
            session, admin.org_id, admin.public_id, "test.paged", start + timedelta(minutes=n), n=n
        )
    session.flush()
    filters = Filters(action="test.paged", zone=UTC)
    pages = [audit.search(session, org_id=admin.org_id, filters=filters, page=n) for n in (1, 2, 3)]
    assert [len(p.entries) for p in pages] == [50, 50, 20]
    assert [p.has_more for p in pages] == [True, True, False]
    numbers = [e.detail["n"] for p in pages for e in p.entries]
    assert numbers == list(range(119, -1, -1))
    assert audit.search(session, org_id=admin.org_id, filters=filters, page=0).number == 1


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"actor": "a\x00b"}, "actor"),
    ],
)
def test_bad_filters_name_the_field(raw, field):
    with pytest.raises(InvalidInput) as caught:
        audit.parse_filters(raw, zone=UTC)
    assert field in caught.value.fields


def test_filters_round_trip_through_the_query_string():
    filters = audit.parse_filters(
        {"action": "invite", "actor": "a@b.example", "from": "2026-03-01", "to": ""}, zone=UTC
    )
    assert filters.query() == {"action": "invite", "actor": "a@b.example", "from": "2026-03-01"}
    assert filters.active and not Filters().active


def test_csv_has_a_bom_and_no_formulas(session, org):
    admin = org[0]
    _event(
        session,
        admin.org_id,
        '=HYPERLINK("http://evil.example")',
        "access_request.created",
        datetime(2026, 3, 1, tzinfo=UTC),
        note="+1 @SUM(A1)",
    )
    session.flush()
    text, count = audit.export_csv(session, org_id=admin.org_id, filters=Filters(zone=UTC))
    assert text.startswith("\ufeff") and count >= 1
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    row = next(r for r in rows[1:] if r[3] == "access_request.created")
    assert row[1].startswith("'=") and row[2].startswith("'=")
    assert row[0] == "2026-03-01T00:00:00+00:00"
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert spreadsheet.safe_cell("-2") == "'-2" and spreadsheet.safe_cell("a=b") == "a=b"
