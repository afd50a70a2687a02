"""Analytics helpers the seller's pages use: heat strips, a viewer's company, who read an item,
the chart CSVs and the API view (tracking itself is tested in test_tracking.py)."""

from __future__ import annotations

import csv
import io

import pytest

from dealroom import analytics, content, tracking
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from dealroom.tracking import Beat, DropCounter, ItemTime
from tests import factories

T0 = 1_800_000_000.0
PDF = simple_pdf([["p"]] * 4)


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user, allowed_domains="acme.example")
    kato = factories.invite(session, services, room, user, name="Kato", email="kato@acme.example")
    mei = factories.invite(session, services, room, user, name="Mei", email="mei@partner.example")
    for invite in (kato, mei):
        tracking.show_notice(invite)
    pdf = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=user,
        upload=Upload("deck.pdf", io.BytesIO(PDF), len(PDF)),
        title="=Deck",
    )
    session.flush()
    return {"room": room, "kato": kato, "mei": mei, "pdf": pdf}


def read(session, world, invite, page, seconds, *, stream):
    beat = Beat(
        received_at=T0,
        room=world["room"].public_id,
        invite=invite.public_id,
        stream=stream,
        issued_at=T0 - 60,
        seq=1,
        events=(ItemTime(world["pdf"].public_id, seconds, page=page),),
        inputs=1,
    )
    tracking.apply_beats(session, [beat], drops=DropCounter())
    session.flush()


def test_heat_strip_levels_rise_with_the_share_of_the_top_page():
    assert analytics.heat_strip({1: 40, 2: 10, 4: 1}, 5) == [
        (1, 40, 4),
        (2, 10, 1),
        (3, 0, 0),
        (4, 1, 1),
        (5, 0, 0),
    ]
    assert analytics.heat_strip({}, 2) == [(1, 0, 0), (2, 0, 0)]
    assert analytics.heat_strip({1: 5}, None) == []


def test_company_is_the_buyer_company_on_the_rooms_domains_else_the_address_domain(world):
    room = world["room"]
    assert analytics.company(room, world["kato"]) == "Acme Corp"
    assert analytics.company(room, world["mei"]) == "partner.example"
    room.allowed_domains = ""
    assert analytics.company(room, world["mei"]) == "Acme Corp"


def test_readers_of_an_item_and_each_viewers_heat(session, world):
    read(session, world, world["kato"], 1, 30, stream="a")
    read(session, world, world["mei"], 2, 50, stream="b")

    engagement = analytics.room_engagement(session, room=world["room"])

    readers = engagement.readers(world["pdf"].public_id)
    assert [(v.invite.name, item.active_seconds) for v, item in readers] == [
        ("Mei", 50),
        ("Kato", 30),
    ]
    kato_item = readers[1][1]
    assert kato_item.heat == [(1, 30, 4), (2, 0, 0), (3, 0, 0), (4, 0, 0)]
    assert engagement.readers("item_nope") == []


def test_chart_csvs(session, world):
    read(session, world, world["kato"], 1, 30, stream="a")
    today = tracking._aware(T0).date()

    daily = "".join(analytics.daily_csv(session, room=world["room"], days=3, today=today))
    items = "".join(analytics.items_csv(session, room=world["room"]))

    rows = list(csv.reader(io.StringIO(daily.removeprefix("\ufeff"))))
    assert rows[0] == ["day_utc", "active_seconds"]
    assert [int(seconds) for _day, seconds in rows[1:]] == [0, 0, 30]
    assert rows[-1][0] == today.isoformat()
    assert items.startswith("\ufeffitem_id,item,kind,active_seconds,viewers,completion")
    assert f"{world['pdf'].public_id},'=Deck,pdf,30,1,0.25" in items


def test_api_view_gives_null_for_no_role(session, world):
    read(session, world, world["kato"], 1, 30, stream="a")

    view = analytics.api_view(analytics.room_engagement(session, room=world["room"]))

    kato = next(v for v in view["viewers"] if v["name"] == "Kato")
    assert kato["role"] is None
    assert kato["items"][0]["pages"] == {"1": 30}
