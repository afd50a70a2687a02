"""The dashboards' reads: sparklines, the heatmap in the reader's time zone, stages, cold deals,
content effectiveness with won/lost counts, the live feed, filters and the CSVs."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from dealroom import content, dashboard, rooms, scores, tracking
from dealroom.content import Upload
from dealroom.db import pk
from dealroom.errors import InvalidInput
from dealroom.pdfgen import simple_pdf
from dealroom.tracking import Beat, DropCounter, ItemDay, ItemTime, TrackEvent, ViewerItemStat
from tests import factories
from tests.dbwork import insert_events, work_on_events

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PDF = simple_pdf([["p"]] * 4)


def hour(session, room, at, seconds):
    tracking.add_room_activity(session, org_id=room.org_id, room_id=room.id, at=at, seconds=seconds)


def test_sparklines_sum_each_rooms_utc_days_with_zeros(session):
    user = factories.seller(session)
    a = factories.room(session, user, name="A")
    b = factories.room(session, user, name="B")
    session.flush()
    hour(session, a, datetime(2026, 11, 20, 1, tzinfo=UTC), 60)
    hour(session, a, datetime(2026, 11, 20, 23, tzinfo=UTC), 30)
    hour(session, a, datetime(2026, 11, 18, 0, tzinfo=UTC), 10)
    hour(session, a, datetime(2026, 11, 10, 0, tzinfo=UTC), 999)  # before the range
    hour(session, b, datetime(2026, 11, 19, 12, tzinfo=UTC), 5)
    session.flush()
    lines = dashboard.sparklines(
        session, org_id=user.org_id, room_ids=[a.id, b.id], days=7, today=TODAY
    )
    assert lines == {a.id: [0, 0, 0, 0, 10, 0, 90], b.id: [0, 0, 0, 0, 0, 5, 0]}
    assert dashboard.sparklines(session, org_id=user.org_id, room_ids=[], days=7, today=TODAY) == {}


def test_the_heatmap_is_in_the_readers_time_zone(session):
    user = factories.seller(session)
    room = factories.room(session, user)
    session.flush()
    # Friday 20 Nov 2026, 15:00 UTC is Saturday 00:00 in Tokyo.
    hour(session, room, datetime(2026, 11, 20, 15, tzinfo=UTC), 120)
    hour(session, room, datetime(2026, 11, 16, 9, tzinfo=UTC), 60)  # Monday
    session.flush()
    utc = dashboard.heatmap(
        session, org_id=user.org_id, room_ids=[room.id], days=30, today=TODAY, zone=UTC
    )
    assert utc[4][15] == 120 and utc[0][9] == 60
    tokyo = dashboard.heatmap(
        session,
        org_id=user.org_id,
        room_ids=[room.id],
        days=30,
        today=TODAY,
        zone=ZoneInfo("Asia/Tokyo"),
    )
    assert tokyo[5][0] == 120 and tokyo[0][18] == 60
    assert sum(map(sum, tokyo)) == 180


def test_stage_counts_list_every_stage():
    made = [
        rooms.Room(org_id=1, owner_id=1, name="x", buyer_company="y", stage=s)
        for s in ("discovery", "discovery", "closed-won")
    ]
    assert dashboard.stage_counts(made) == [
        ("discovery", 2),
        ("evaluation", 0),
        ("decision", 0),
        ("closed-won", 1),
        ("closed-lost", 0),
    ]


def _scored(name, health, silent, stage="discovery"):
    room = rooms.Room(org_id=1, owner_id=1, name=name, buyer_company="y", stage=stage)
    return scores.RoomScore(room, None, 0, {}, health, [], scores.RoomFacts(), silent)


def test_cold_deals_are_open_rooms_going_cold_longest_silence_first():
    rows = [
        _scored("A", "going_cold", 15),
        _scored("B", "going_cold", 40),
        _scored("C", "at_risk", 9),
        _scored("D", "going_cold", 90, stage="closed-lost"),
    ]
    assert [s.room.name for s in dashboard.cold_deals(rows)] == ["B", "A"]


def test_pages_of_rooms():
    rows = [_scored(f"r{n}", "on_track", n) for n in range(5)]
    second = dashboard.page_of(rows, 2, size=2)
    assert [s.room.name for s in second.rows] == ["r2", "r3"]
    assert (second.number, second.count, second.first, second.last, second.total) == (2, 3, 3, 4, 5)
    last = dashboard.page_of(rows, 7, size=2)  # past the end: the last page
    assert (last.number, [s.room.name for s in last.rows]) == (3, ["r4"])
    empty = dashboard.page_of([], 1, size=2)
    assert (empty.rows, empty.count, empty.first, empty.last) == ([], 1, 0, 0)
    assert dashboard.Filters(page=2).query() == {"sort": "attention", "page": "2"}
    assert dashboard.Filters(page=2).query(page=1) == {"sort": "attention"}


def test_filters_are_validated_and_sorting_applies():
    filters = dashboard.parse_filters({}, reps=[])
    assert filters == dashboard.Filters()
    with pytest.raises(InvalidInput) as caught:
        dashboard.parse_filters(
            {
                "days": "5",
                "rep": "usr_x",
                "stage": "won",
                "health": "meh",
                "sort": "x",
                "dir": "up",
                "page": "0",
            },
            reps=["usr_a"],
        )
    assert set(caught.value.fields) == {"days", "rep", "stage", "health", "sort", "dir", "page"}
    rows = [_scored("b", "on_track", 1), _scored("a", "going_cold", 20), _scored("c", "at_risk", 8)]
    by_name = dashboard.apply_filters(rows, dashboard.Filters(sort="name"))
    assert [s.room.name for s in by_name] == ["a", "b", "c"]
    cold = dashboard.apply_filters(rows, dashboard.Filters(health="going_cold"))
    assert [s.room.name for s in cold] == ["a"]
    attention = dashboard.apply_filters(rows, dashboard.Filters())
    assert [s.room.name for s in attention] == ["a", "c", "b"]
    reverse = dashboard.apply_filters(rows, dashboard.Filters(sort="name", desc=True))
    assert [s.room.name for s in reverse] == ["c", "b", "a"]
    assert dashboard.Filters(days=7, sort="score", desc=True).query() == {
        "days": "7",
        "sort": "score",
        "dir": "desc",
    }


@pytest.fixture
def library(session, services):
    user = factories.seller(session)
    doc = content.create_link_document(
        session, user=user, url="https://acme.example/case", title="=Case study"
    )
    unused = content.create_link_document(
        session, user=user, url="https://acme.example/unused", title="Unused"
    )
    made = {}
    for name, stage in (
        ("Won", "closed-won"),
        ("Won 2", "closed-won"),
        ("Lost", "closed-lost"),
        ("Open", "evaluation"),
    ):
        room = factories.room(session, user, name=name, stage=stage)
        session.flush()
        item = content.place(session, room=room, document=doc, user=user)
        made[name] = (room, item)
    session.flush()
    return {"user": user, "doc": doc, "unused": unused, "rooms": made}


def _read(session, room, item, invite_id, seconds, doc_id):
    session.add(
        ViewerItemStat(
            org_id=room.org_id,
            room_id=room.id,
            invite_id=invite_id,
            room_item_id=item.id,
            active_seconds=seconds,
            opens=1,
        )
    )
    session.add(
        ItemDay(
            org_id=room.org_id,
            room_id=room.id,
            room_item_id=item.id,
            document_id=doc_id,
            day=TODAY,
            active_seconds=seconds,
        )
    )


def test_content_effectiveness_counts_won_and_lost_rooms(session, services, library):
    user = library["user"]
    doc = library["doc"]
    for name, seconds in (("Won", 300), ("Lost", 100), ("Open", 200)):
        room, item = library["rooms"][name]
        buyer = factories.invite(session, services, room, user, email=f"{name[0]}@acme.example")
        _read(session, room, item, buyer.id, seconds, doc.id)
    session.flush()
    ids = [room.id for room, _item in library["rooms"].values()]
    [row] = dashboard.content_effectiveness(
        session, org_id=user.org_id, room_ids=ids, days=30, today=TODAY
    )
    assert row.document_id == doc.public_id and row.title == "=Case study"
    assert (row.rooms, row.viewers, row.avg_active_seconds) == (4, 3, 200)
    assert (row.opened_won, row.won_rooms, row.opened_lost, row.lost_rooms) == (1, 2, 1, 1)
    assert row.active_seconds_in_range == 600 and row.completion is None
    # Only the rooms asked about count (a rep's own rooms, a filter).
    open_room = library["rooms"]["Open"][0]
    [only] = dashboard.content_effectiveness(
        session, org_id=user.org_id, room_ids=[open_room.id], days=30, today=TODAY
    )
    assert (only.rooms, only.viewers, only.won_rooms) == (1, 1, 0)
    [api] = dashboard.content_api([row])
    assert api["closed_won"] == {"opened": 1, "rooms": 2}
    lines = list(dashboard.content_csv([row]))
    assert lines[0].startswith("\ufeffdocument_id,")
    parsed = list(csv.reader(io.StringIO("".join(lines).lstrip("\ufeff"))))
    assert parsed[1][1] == "'=Case study"  # formula-safe
    assert (
        dashboard.content_effectiveness(
            session, org_id=user.org_id, room_ids=[], days=30, today=TODAY
        )
        == []
    )


def test_pdf_completion_is_pages_done_over_pages(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    session.flush()
    doc = content.create_file_document(
        session,
        storage=services.storage,
        user=user,
        upload=Upload("deck.pdf", io.BytesIO(PDF), len(PDF)),
        title="Deck",
    )
    item = content.place(session, room=room, document=doc, user=user)
    buyer = factories.invite(session, services, room, user)
    session.flush()
    session.add(
        ViewerItemStat(
            org_id=room.org_id,
            room_id=room.id,
            invite_id=buyer.id,
            room_item_id=item.id,
            active_seconds=40,
            pages_done=3,
        )
    )
    session.flush()
    [row] = dashboard.content_effectiveness(
        session, org_id=user.org_id, room_ids=[room.id], days=30, today=TODAY
    )
    assert row.kind == "pdf" and row.completion == 0.75


def test_the_feed_merges_a_readers_run_and_names_the_room(session, services):
    user = factories.seller(session)
    room = factories.room(session, user, name="Acme rollout")
    kato = factories.invite(session, services, room, user, name="Kato")
    tracking.show_notice(kato)
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=user,
        upload=Upload("pricing.pdf", io.BytesIO(PDF), len(PDF)),
        title="Pricing",
    )
    session.flush()
    t0 = NOW.timestamp()
    for seq, page in enumerate((2, 3, 4), start=1):
        beat = Beat(
            received_at=t0 + seq * 80,
            room=room.public_id,
            invite=kato.public_id,
            stream="s",
            issued_at=t0 - 60,
            seq=seq,
            events=(ItemTime(item.public_id, 80, page=page),),
            inputs=1,
        )
        tracking.apply_beats(session, [beat], drops=DropCounter())
    session.flush()
    [line] = dashboard.feed(session, org_id=user.org_id, rooms=[room])
    assert line.room == room
    assert (line.moment.invite.display_name, line.moment.title) == ("Kato", "Pricing")
    assert line.moment.page_span == "2–4" and line.moment.seconds == 240
    other = factories.room(session, user, name="Other")
    session.flush()
    assert dashboard.feed(session, org_id=user.org_id, rooms=[other]) == []
    assert dashboard.feed(session, org_id=user.org_id, rooms=[]) == []


def test_rooms_csv_and_api_have_the_issues_fields(session, services):
    user = factories.seller(session)
    room = factories.room(session, user, name="+Acme")
    session.flush()
    scored = scores.score_rooms(session, org_id=user.org_id, rooms=[room], now=NOW)
    [api] = dashboard.rooms_api(scored)
    assert set(api) == {
        "room_id",
        "name",
        "owner",
        "stage",
        "score",
        "components",
        "health",
        "reasons",
        "stakeholders_engaged",
        "stakeholders_invited",
        "last_buyer_activity",
    }
    assert set(api["components"]) == set(scores.COMPONENTS)
    assert api["owner"] == user.email and api["last_buyer_activity"] is None
    text = "".join(dashboard.rooms_csv(scored))
    assert text.startswith("\ufeffroom_id,room,rep,")
    assert ",'+Acme," in text
    lines = dashboard.sparklines_csv(scored, {room.id: [1, 2]}, 2, TODAY)
    assert "".join(lines).splitlines()[0] == "\ufeffroom_id,room,2026-11-19,2026-11-20"
    heat = "".join(dashboard.heatmap_csv([[0] * 24] * 7, ["Mon"] * 7)).splitlines()
    assert heat[0].startswith("\ufeffweekday,00:00,01:00") and len(heat) == 8
    assert "".join(dashboard.stages_csv([("discovery", 2)])).splitlines()[1] == "discovery,2"


def _feed_world(session, services):
    user = factories.seller(session)
    mine = [factories.room(session, user, name=f"Mine {n}") for n in range(3)]
    theirs = factories.room(session, user, name="Not in the feed")  # a colleague's, say
    session.flush()
    people = {
        pk(room): pk(factories.invite(session, services, room, user, email=f"b{n}@acme.example"))
        for n, room in enumerate([*mine, theirs])
    }
    session.flush()
    return user, mine, theirs, people


def _events(session, org_id, room_id, invite_id, times_and_kinds):
    insert_events(
        session,
        [(NOW + timedelta(seconds=at), kind) for at, kind in times_and_kinds],
        org_id=org_id,
        room_id=room_id,
        invite_id=invite_id,
        seconds=1,
    )


def test_the_feeds_newest_events_are_those_of_one_sort_over_the_asked_rooms(session, services):
    user, mine, theirs, people = _feed_world(session, services)
    rng = random.Random(7)
    # Interleaved times, many shared (ties are broken by id), one room older; inserted so that
    # the rooms read last (lower room ids, when their latest events tie) have the higher ids.
    for room in [theirs, *reversed(mine)]:
        spread = 40 if room is not mine[1] else 30
        _events(
            session,
            user.org_id,
            pk(room),
            people[pk(room)],
            [(rng.randrange(spread), rng.choice(["view", "view", "section"])) for _ in range(80)],
        )
    asked = {pk(room) for room in mine}
    every = session.exec(
        select(TrackEvent.id, TrackEvent.at, TrackEvent.room_id, TrackEvent.kind)
    ).all()
    expected = [
        row.id
        for row in sorted(every, key=lambda row: (row.at, row.id), reverse=True)
        if row.room_id in asked and row.kind != "section"
    ]
    for count in (1, 3, 7, 20, 60, 150, 1000):
        got = dashboard._newest_events(
            session, org_id=user.org_id, room_ids=sorted(asked), count=count
        )
        assert [row[-1] for row in got] == expected[:count], count
    # Another organisation's id finds nothing, even for these rooms.
    assert dashboard._newest_events(session, org_id=-1, room_ids=sorted(asked), count=5) == []


def test_the_feeds_reading_does_not_grow_with_a_colleagues_events(session, services):
    """The rep's feed used to be one query over all their rooms, which SQLite answered by reading
    every event of the organisation and sorting them (seconds at millions of events, on every
    poll). It must read along its own rooms only."""
    user, mine, theirs, people = _feed_world(session, services)
    for room in mine:
        _events(session, user.org_id, pk(room), people[pk(room)], [(n, "view") for n in range(50)])

    def work() -> int:
        return work_on_events(
            session, lambda: dashboard.feed(session, org_id=user.org_id, rooms=mine)
        )

    colleague = [(n, "view") for n in range(100, 4100)]  # newer than anything of mine
    _events(session, user.org_id, pk(theirs), people[pk(theirs)], colleague[:400])
    few = work()
    _events(session, user.org_id, pk(theirs), people[pk(theirs)], colleague[400:])
    many = work()
    # Reading the colleague's room would cost at least one step for each of its 3,600 new events.
    assert many - few < 3600, (few, many)
